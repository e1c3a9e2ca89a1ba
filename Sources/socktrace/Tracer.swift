import Glibc
import SocktraceCore
import SocktraceExport

/// Runs the pipeline: open the output, start the session (load, attach),
/// read the ring buffer, decode, export; on stop drain, detach, write the end
/// record and print the summary.
final class Tracer {
  typealias Format = RecordPipeline.Format

  let options: TraceOptions
  let format: Format
  let outputPath: String
  let duration: Double?
  /// Print per-process timelines at stop (from a copy of the JSON records).
  let timeline: Bool
  /// The longest a poll waits with nothing woken: a fallback, since a record
  /// that lands in an empty ring wakes the reader at once.
  static let pollIntervalMilliseconds: Int32 = 100

  private let clock: BootClock
  /// The tracer's own records (start, /proc context, end), handed to the pipeline.
  private var buffer = JSONBuffer(capacity: 4096)
  /// Decode, count, encode, write: set up by `run`.
  private var pipeline: RecordPipeline?
  private var summary: Summary {
    get { pipeline?.summary ?? Summary() }
    set { pipeline?.summary = newValue }
  }
  /// The command being run, for the start record.
  private var commandLine: [String]?
  /// --metrics and --otlp.
  private let exporters: Exporters
  /// How the output file is opened: rotation, and whether SIGHUP reopens it.
  private let fileMode: FileMode

  /// -o FILE for a service: rotated, appended to, 0600, reopened on SIGHUP.
  struct FileMode {
    var rotation: OutputFile.Rotation?
    var reopenOnHangup = false
    var append = false
    var permissions: mode_t = 0o644
  }

  init(
    options: TraceOptions, format: Format, outputPath: String, duration: Double?, timeline: Bool,
    exporters: Exporters = Exporters(), fileMode: FileMode = FileMode(), clock: BootClock = .measure()
  ) {
    self.options = options
    self.format = format
    self.outputPath = outputPath
    self.duration = duration
    self.timeline = timeline
    self.exporters = exporters
    self.fileMode = fileMode
    self.clock = clock
  }

  /// Traces until stopped, or until `command` ends; returns the exit code:
  /// the command's when there is one.
  func run(command: CommandRunner? = nil) throws(TraceError) -> Int32 {
    // Before attaching: a bad path costs nothing.
    let output = try OutputFile(
      path: outputPath, rotation: fileMode.rotation, append: fileMode.append, mode: fileMode.permissions)
    Signals.installStopHandlers()
    if fileMode.reopenOnHangup { Signals.installReopenHandler() }
    defer { exporters.close() }
    var options = self.options
    if let command {
      commandLine = command.command
      options.pids = [command.pid]
      options.follow = true
    }
    let encoder = JSONLinesEncoder(clock: clock, cgroups: CgroupResolver())
    let pipeline = RecordPipeline(
      format: format, encoder: encoder,
      table: TextTable(clock: clock, utcOffsetSeconds: localUTCOffset()), output: output,
      keepRecording: timeline)
    self.pipeline = pipeline
    if exporters.enabled {
      let exporters = self.exporters
      pipeline.onRecord = { event, bytes in exporters.record(event, bytes: bytes) }
    }

    // A read pauses after a batch (the pipeline) or for a stop, not while draining.
    let session = try TraceSession(options: options) { bytes in
      pipeline.consume(bytes) && (pipeline.finalDrain || !Signals.stopRequested)
    }
    exporters.started(session: session)
    let started = BootClock.now(CLOCK_MONOTONIC)
    if format == .table { pipeline.appendRaw(TextTable.header) }
    writeOwnRecords {
      writeStart(session: session, options: options, encoder: encoder)
      // Processes traced by pid were running already: /proc gives their context.
      for pid in self.options.pids {
        if let process = ProcContext(pid: pid) { encoder.encode(process, into: &buffer) }
      }
    }
    try pipeline.flush()
    printError(tracingLine(session, options: options, command: command))
    command?.release()

    let deadline = duration.map { started + UInt64($0 * 1e9) }
    while !Signals.stopRequested && pipeline.writeFailure == nil {
      if let deadline, BootClock.now(CLOCK_MONOTONIC) >= deadline { break }
      if let command, command.hasExited() { break }
      if pipeline.takePause() {
        try session.drain()  // more is queued: read on without waiting
      } else if try session.poll(interval: Self.pollIntervalMilliseconds) > 0 {
        try pipeline.flush()  // what was woken goes out now
        if !pipeline.pausedForBatch { RingBufferReader.coalesce() }  // then let a storm gather
      }
      try pipeline.flush()
      if Signals.takeReopenRequest() { try output.reopen() }  // flushed: between whole lines
      if exporters.enabled { tickExporters(session, pipeline) }
    }

    if let failure = pipeline.writeFailure { throw failure }
    // Nothing recorded is lost: detach, then read everything still queued.
    session.detach()
    pipeline.finalDrain = true
    while try session.drain() > 0 {}
    if let failure = pipeline.writeFailure { throw failure }
    summary.lost = session.lostEvents
    if exporters.enabled {
      try pipeline.flush()
      tickExporters(session, pipeline, force: true)
      exporters.finish()  // what is still queued for the collector, for a bounded time
    }
    summary.seconds = Double(BootClock.now(CLOCK_MONOTONIC) - started) / 1e9
    writeOwnRecords { writeEnd(encoder: encoder, output: output) }
    try pipeline.flush()
    output.sync()
    if exporters.enabled { tickExporters(session, pipeline, force: true) }
    printError(summary.text() + exporters.summary + fileSummary(output))
    if timeline { printTimelines() }
    if let command {
      _ = command.hasExited()
      return command.exitCode
    }
    return 0
  }

  private func printTimelines() {
    do {
      printError(try TimelineText.render(recording: pipeline?.recordingBytes ?? [], source: "this run"))
    } catch {
      printError("socktrace: timeline: \(error)")
    }
  }

  private func tracingLine(_ session: TraceSession, options: TraceOptions, command: CommandRunner?) -> String {
    var line = "Tracing socket creation (probe: \(session.plan.rung.rawValue)"
    if let command {
      line += "; running \(command.command.joined(separator: " ")) as pid \(command.pid) and children"
    } else if !options.pids.isEmpty {
      line += "; pid \(options.pids.map(String.init).joined(separator: ","))"
      if options.follow { line += " and children" }
    }
    line += ")"
    if outputPath != "-" && format != .none { line += " into \(outputPath)" }
    line += exporters.description
    return line + "... Hit Ctrl-C to end."
  }

  /// The tracer's own records (start, /proc context, end) go to the output in
  /// JSON mode, and to the --timeline copy in either mode, so its timelines
  /// have wall-clock times and the end counts.
  private func writeOwnRecords(_ write: () -> Void) {
    write()
    pipeline?.appendOwn(buffer)
    buffer.removeAll()
  }

  private func writeStart(session: TraceSession, options: TraceOptions, encoder: JSONLinesEncoder) {
    var start = StartRecord(
      epochNanoseconds: BootClock.now(CLOCK_REALTIME), bootNanoseconds: BootClock.now(CLOCK_BOOTTIME),
      version: Socktrace.version, kernel: KernelProbes.kernelRelease, host: KernelProbes.hostName,
      rung: session.plan.rung, hooks: session.plan.hooks, pids: options.pids, follow: options.follow,
      command: commandLine)
    start.filters = session.filters
    encoder.encode(start, into: &buffer)
  }

  private func writeEnd(encoder: JSONLinesEncoder, output: OutputFile) {
    var end = EndRecord(
      epochNanoseconds: BootClock.now(CLOCK_REALTIME), bootNanoseconds: BootClock.now(CLOCK_BOOTTIME),
      events: summary.events, sockets: summary.sockets, failed: summary.failed, lost: summary.lost,
      decodeErrors: summary.decodeErrors, durationNanoseconds: UInt64(summary.seconds * 1e9))
    end.otlp = exporters.otlpCounts
    if fileMode.rotation != nil || fileMode.reopenOnHangup { end.file = (output.rotations, output.reopens) }
    encoder.encode(end, into: &buffer)
  }

  /// Hands the reader's counts to --metrics and staged records to --otlp.
  private func tickExporters(_ session: TraceSession, _ pipeline: RecordPipeline, force: Bool = false) {
    exporters.tick(
      lost: exporters.metrics != nil ? session.lostEvents : 0, written: pipeline.recordsWritten,
      decodeErrors: pipeline.summary.decodeErrors, force: force)
  }

  /// "; output rotated N times, reopened M times" for the summary.
  private func fileSummary(_ output: OutputFile) -> String {
    guard fileMode.rotation != nil || fileMode.reopenOnHangup, format != .none else { return "" }
    return "\noutput: \(outputPath) rotated \(output.rotations)x, reopened \(output.reopens)x"
  }
}

/// Seconds east of UTC here, for the table's local TIME column.
func localUTCOffset() -> Int64 {
  var now = time(nil)
  var local = tm()
  localtime_r(&now, &local)
  return Int64(local.tm_gmtoff)
}
