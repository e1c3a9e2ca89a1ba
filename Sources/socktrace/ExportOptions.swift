import ArgumentParser
import SocktraceCore
import SocktraceExport

/// --metrics, --otlp and file rotation: for `record` and `serve`.
struct ExportOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "Serve Prometheus metrics at http://HOST:PORT/metrics (with any other output, or none).",
      valueName: "host:port"))
  var metrics: String?

  @Option(
    help: ArgumentHelp(
      "Commands with their own comm label in the metrics (the busiest; the rest are \"other\").", valueName: "N"))
  var metricsCommLimit = 20

  @Option(
    help: ArgumentHelp(
      "Send each record as an OTLP log record to this OTLP/HTTP endpoint (protobuf; /v1/logs by default).",
      valueName: "url"))
  var otlp: String?

  @Option(
    help: ArgumentHelp(
      "Records the OTLP exporter may queue before it drops (and counts) new ones.", valueName: "records"))
  var otlpQueue = 65536

  @Option(
    help: ArgumentHelp(
      "Rotate the -o file before it passes this size (bytes, or with K, M, G: binary units). Default with rotation: 10M (serve: 64M).",
      valueName: "size"))
  var rotateSize: ByteSize?

  @Option(
    help: ArgumentHelp(
      "Rotated files to keep: FILE.1 … FILE.N (default with rotation: 5; serve: 60, gzipped).", valueName: "N"))
  var rotateKeep: Int?

  /// Rotation, if either rotation option was given (or `serve` writes a file).
  func rotation(defaultOn: Bool) -> OutputFile.Rotation? {
    guard defaultOn || rotateSize != nil || rotateKeep != nil else { return nil }
    return OutputFile.Rotation(
      maxBytes: rotateSize?.bytes ?? OutputFile.Rotation.defaultMaxBytes,
      keep: rotateKeep ?? OutputFile.Rotation.defaultKeep)
  }

  func validate(output: String?) throws {
    if rotateSize != nil || rotateKeep != nil {
      guard let output, output != "-" else { throw ValidationError("--rotate-size and --rotate-keep need -o FILE") }
    }
    if let rotateKeep, rotateKeep < 1 { throw ValidationError("--rotate-keep must be at least 1") }
    if metricsCommLimit < 0 { throw ValidationError("--metrics-comm-limit must be 0 or more") }
    if otlpQueue < 1 { throw ValidationError("--otlp-queue must be at least 1") }
    do {
      if let metrics { _ = try HostPort(parsing: metrics, option: "--metrics") }
    } catch {
      throw ValidationError("\(error)")
    }
  }

  var any: Bool { metrics != nil || otlp != nil }
}

/// `10M`, `512K`, `1G` (binary units, an optional B or iB) or plain bytes.
struct ByteSize: ExpressibleByArgument {
  var bytes: Int

  init?(argument: String) {
    var text = Substring(argument.uppercased())
    if text.hasSuffix("IB") { text = text.dropLast(2) } else if text.hasSuffix("B") { text = text.dropLast() }
    var scale = 1
    switch text.last {
    case "K": scale = 1 << 10
    case "M": scale = 1 << 20
    case "G": scale = 1 << 30
    default: break
    }
    if scale > 1 { text = text.dropLast() }
    guard let value = Int(text), value > 0, value <= Int.max / scale else { return nil }
    bytes = value * scale
  }
}
