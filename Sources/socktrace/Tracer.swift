import Glibc
import SocktraceCore

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

  private let clock = BootClock.measure()
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

  init(options: TraceOptions, format: Format, outputPath: String, duration: Double?, timeline: Bool) {
    self.options = options
    self.format = format
    self.outputPath = outputPath
    self.duration = duration
    self.timeline = timeline
  }

  /// Traces until stopped, or until `command` ends; returns the exit code:
  /// the command's when there is one.
  func run(command: CommandRunner? = nil) throws(TraceError) -> Int32 {
    let output = try OutputFile(path: outputPath)  // before attaching: a bad path costs nothing
    Signals.installStopHandlers()
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

    // A read pauses after a batch (the pipeline) or for a stop, not while draining.
    let session = try TraceSession(options: options) { bytes in
      pipeline.consume(bytes) && (pipeline.finalDrain || !Signals.stopRequested)
    }
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
    }

    if let failure = pipeline.writeFailure { throw failure }
    // Nothing recorded is lost: detach, then read everything still queued.
    session.detach()
    pipeline.finalDrain = true
    while try session.drain() > 0 {}
    if let failure = pipeline.writeFailure { throw failure }
    summary.lost = session.lostEvents
    summary.seconds = Double(BootClock.now(CLOCK_MONOTONIC) - started) / 1e9
    writeOwnRecords { writeEnd(encoder: encoder) }
    try pipeline.flush()
    output.sync()
    printError(summary.text())
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
    if outputPath != "-" { line += " into \(outputPath)" }
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
    let start = StartRecord(
      epochNanoseconds: BootClock.now(CLOCK_REALTIME), bootNanoseconds: BootClock.now(CLOCK_BOOTTIME),
      version: Socktrace.version, kernel: KernelProbes.kernelRelease, host: KernelProbes.hostName,
      rung: session.plan.rung, hooks: session.plan.hooks, pids: options.pids, follow: options.follow,
      command: commandLine)
    encoder.encode(start, into: &buffer)
  }

  private func writeEnd(encoder: JSONLinesEncoder) {
    let end = EndRecord(
      epochNanoseconds: BootClock.now(CLOCK_REALTIME), bootNanoseconds: BootClock.now(CLOCK_BOOTTIME),
      events: summary.events, sockets: summary.sockets, failed: summary.failed, lost: summary.lost,
      decodeErrors: summary.decodeErrors, durationNanoseconds: UInt64(summary.seconds * 1e9))
    encoder.encode(end, into: &buffer)
  }
}

/// Seconds east of UTC here, for the table's local TIME column.
func localUTCOffset() -> Int64 {
  var now = time(nil)
  var local = tm()
  localtime_r(&now, &local)
  return Int64(local.tm_gmtoff)
}
