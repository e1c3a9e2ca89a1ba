import SocktraceCore
import SocktraceExport

/// What --metrics and --otlp set up, before anything is attached (a bad
/// address is one line and exit 1), and the reader thread's hooks into them.
final class Exporters {
  let metrics: TracerMetrics?
  let server: MetricsServer?
  let otlp: OTLPExporter?

  init(options: ExportOptions, clock: BootClock) throws(ExportError) {
    var endpoint: OTLPEndpoint?
    if let url = options.otlp { endpoint = try OTLPEndpoint(parsing: url) }
    if let address = options.metrics {
      let listen = try HostPort(parsing: address, option: "--metrics")
      let metrics = TracerMetrics(commLimit: options.metricsCommLimit)
      self.metrics = metrics
      server = try MetricsServer(listen: listen, render: { metrics.scrape() })
    } else {
      metrics = nil
      server = nil
    }
    if let endpoint {
      var configuration = OTLPExporter.Configuration()
      configuration.capacity = options.otlpQueue
      let otlp = OTLPExporter(
        endpoint: endpoint, clock: clock, serviceVersion: Socktrace.version,
        configuration: configuration)
      if let metrics { otlp.register(with: metrics) }
      self.otlp = otlp
    } else {
      otlp = nil
    }
  }

  /// Nothing: --metrics and --otlp both off.
  init() {
    metrics = nil
    server = nil
    otlp = nil
  }

  var enabled: Bool { metrics != nil || otlp != nil }

  func started(session: TraceSession) {
    metrics?.started(session: session, version: Socktrace.version)
    if let counters = session.kernelCounters { metrics?.countInKernel(counters) }
    otlp?.start()
  }

  /// One record (reader thread).
  @inline(__always)
  func record(_ event: TraceEvent, bytes: UnsafeRawBufferPointer) {
    metrics?.count(event)
    otlp?.enqueue(bytes)
  }

  /// Between reads (reader thread).
  func tick(lost: [(cause: String, count: UInt64)], written: UInt64, decodeErrors: UInt64, force: Bool = false) {
    otlp?.tick()
    metrics?.publish(lost: lost, written: written, decodeErrors: decodeErrors, force: force)
  }

  /// After the final drain: send what is left (bounded), then stop serving.
  func finish() {
    otlp?.finish()
  }

  func close() { server?.close() }

  /// The end record's OTLP counts.
  var otlpCounts: OTLPCounts? { otlp?.snapshot }

  /// "\notlp: N sent, M unsent (causes), R requests, T retries" for the summary.
  var summary: String {
    guard let otlp else { return "" }
    let counts = otlp.snapshot
    var text = "\notlp: \(counts.sent) sent, \(counts.unsent) unsent"
    let causes = counts.unsentByCause.filter { $0.count > 0 }.map { "\($0.cause) \($0.count)" }
    if !causes.isEmpty { text += " (" + causes.joined(separator: ", ") + ")" }
    text += ", \(counts.requests) requests, \(counts.retries) retries"
    if counts.unsent > 0, let failure = otlp.lastFailure { text += "; last error: \(failure)" }
    return text
  }

  /// "; metrics at URL; OTLP to URL" for the Tracing line.
  var description: String {
    var text = ""
    if let server { text += "; metrics at \(server.url)" }
    if let otlp { text += "; OTLP logs to \(otlp.endpoint.url)" }
    return text
  }
}
