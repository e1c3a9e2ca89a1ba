import ArgumentParser
import SocktraceCore
import SocktraceExport

/// `socktrace serve`: the long-running service (packaging/socktrace.service).
/// Records go to any of --metrics, --otlp and -o FILE (JSON Lines, rotated at
/// 64 MiB x 60 gzipped files by default, appended to across restarts, 0600,
/// reopened on SIGHUP); SIGINT and SIGTERM stop it cleanly (drain, end
/// record, summary).
struct Serve: ParsableCommand {
  /// What the service keeps by default: the live file up to 64 MiB and 60
  /// rotated files, gzipped (about 12x smaller: ~5.5 MiB each). 61 x 64 MiB
  /// of records is ~2.8 minutes at 24 MB/s (~45,000 records/s of ~550 bytes,
  /// a busy web server), over 20 minutes at 5,000 records/s; ~400 MB on disk.
  static let defaultRotateSize = 64 << 20
  static let defaultRotateKeep = 60

  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Run as a service: Prometheus metrics, OTLP logs and/or a rotated JSON Lines file.",
    discussion: """
      Needs at least one of --metrics, --otlp and -o. Unlike the default command it \
      never writes records to standard output, appends to an existing -o file rather \
      than truncating it, rotates it by default (--rotate-size 64M --rotate-keep 60, \
      rotated files gzipped: FILE.1.gz … FILE.60.gz, ~400 MB on disk holding 3.8 GiB of \
      records: ~2.8 minutes of a busy web server's ~45,000 records/s, over 20 minutes at \
      5,000/s), \
      and reopens it on SIGHUP (logrotate without copytruncate). Progress and the \
      final summary go to standard error (the journal).

      EXAMPLES:
        sudo socktrace serve --metrics 127.0.0.1:9464
        sudo socktrace serve --metrics 127.0.0.1:9464 --otlp http://127.0.0.1:4318 \\
          -o /var/log/socktrace/events.jsonl
      """
  )

  @OptionGroup var filter: FilterOptions

  @OptionGroup(title: "Export") var export: ExportOptions

  @Option(
    name: [.short, .long], help: ArgumentHelp("Append JSON Lines records to this file (rotated).", valueName: "file"))
  var output: String?

  @OptionGroup(title: "Tracing") var tracing: TracingOptions

  @Flag(
    name: .customLong("rotate-compress"), inversion: .prefixedNo,
    help: "Gzip each rotated -o file (FILE.N.gz) on a thread of its own.")
  var rotateCompress = true

  func validate() throws {
    guard export.any || output != nil else {
      throw ValidationError("serve needs somewhere to send records: --metrics, --otlp or -o FILE")
    }
    if output == "-" { throw ValidationError("serve writes records to a file, not standard output") }
    try TraceOptionsBuilder.validate(filter, tracing, command: false)
    try export.validate(output: output)
  }

  func run() throws {
    let options = TraceOptionsBuilder.options(filter, tracing, defaultRingMiB: 16)
    var fileMode = Tracer.FileMode(reopenOnHangup: true, append: true, permissions: 0o600)
    if output != nil {
      fileMode.rotation = OutputFile.Rotation(
        maxBytes: export.rotateSize?.bytes ?? Self.defaultRotateSize,
        keep: export.rotateKeep ?? Self.defaultRotateKeep, compress: rotateCompress)
    }
    do {
      let clock = BootClock.measure()
      let exporters = try Exporters(options: export, clock: clock)
      let tracer = Tracer(
        options: options, format: output == nil ? .none : .jsonLines, outputPath: output ?? "-", duration: nil,
        timeline: false, exporters: exporters, fileMode: fileMode, clock: clock)
      // An output that failed (a full disk, a deleted directory) is a failure
      // of the service: non-zero, so Restart=on-failure restarts it.
      let code = try tracer.run()
      if code != 0 { throw ExitCode(code) }
    } catch {
      throw runFailure(error)
    }
  }
}
