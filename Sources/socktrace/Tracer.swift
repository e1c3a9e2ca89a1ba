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
    let pipeline = RecordPipeline(
      format: format, encoder: JSONLinesEncoder(clock: clock),
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
      writeStart(session: session, options: options)
      // Processes traced by pid were running already: /proc gives their context.
      for pid in self.options.pids {
        ProcContext(pid: pid)?.encode(clock: clock, into: &buffer)
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
    writeOwnRecords { writeEnd() }
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
      printError(try TimelineText.render(recording: pipeline?.recording.bytes ?? [], source: "this run"))
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

  private func writeStart(session: TraceSession, options: TraceOptions) {
    appendTracerRecordOpening("start")
    buffer.appendKey("version")
    buffer.appendString(Array(Socktrace.version.utf8))
    buffer.appendKey("kernel")
    buffer.appendString(Array(KernelProbes.kernelRelease.utf8))
    buffer.appendKey("host")
    buffer.appendString(Array(KernelProbes.hostName.utf8))
    buffer.appendKey("boot_offset_ns")
    buffer.appendUInt(clock.offsetNanoseconds)
    buffer.appendKey("probe")
    buffer.appendString(Array(session.plan.rung.rawValue.utf8))
    buffer.appendKey("hooks")
    buffer.append(UInt8(ascii: "["))
    for (index, hook) in session.plan.hooks.enumerated() {
      if index > 0 { buffer.append(UInt8(ascii: ",")) }
      buffer.appendKey("hook", first: true)
      buffer.appendString(Array(hook.name.utf8))
      buffer.appendKey("probe")
      if let rung = hook.rung { buffer.appendString(Array(rung.rawValue.utf8)) } else { buffer.appendNull() }
      buffer.appendKey("how")
      buffer.appendString(Array(hook.how.utf8))
      buffer.append(UInt8(ascii: "}"))
    }
    buffer.append(UInt8(ascii: "]"))
    buffer.appendKey("pids")
    buffer.append(UInt8(ascii: "["))
    for (index, pid) in options.pids.enumerated() {
      if index > 0 { buffer.append(UInt8(ascii: ",")) }
      buffer.appendInt(Int64(pid))
    }
    buffer.append(UInt8(ascii: "]"))
    buffer.appendKey("follow")
    buffer.appendBool(options.follow)
    buffer.appendKey("command")
    if let command = commandLine {
      buffer.appendStringArray(command.map { Array($0.utf8) })
    } else {
      buffer.appendNull()
    }
    buffer.appendRaw("}\n")
  }

  /// `{"event":KIND,"time":…,"ts_ns":…` for the tracer's own records, now.
  private func appendTracerRecordOpening(_ kind: StaticString) {
    buffer.appendRaw("{\"event\":\"")
    buffer.appendRaw(kind)
    buffer.appendRaw("\",\"time\":")
    buffer.appendTimestamp(epochNanoseconds: BootClock.now(CLOCK_REALTIME))
    buffer.appendRaw(",\"ts_ns\":")
    buffer.appendUInt(BootClock.now(CLOCK_BOOTTIME))
  }

  private func writeEnd() {
    appendTracerRecordOpening("end")
    buffer.appendKey("events")
    buffer.appendUInt(summary.events)
    buffer.appendKey("sockets")
    buffer.appendUInt(summary.sockets)
    buffer.appendKey("failed")
    buffer.appendUInt(summary.failed)
    buffer.appendKey("lost")
    buffer.appendUInt(summary.lost)
    buffer.appendKey("decode_errors")
    buffer.appendUInt(summary.decodeErrors)
    buffer.appendKey("duration_ns")
    buffer.appendUInt(UInt64(summary.seconds * 1e9))
    buffer.appendRaw("}\n")
  }
}

/// Seconds east of UTC here, for the table's local TIME column.
func localUTCOffset() -> Int64 {
  var now = time(nil)
  var local = tm()
  localtime_r(&now, &local)
  return Int64(local.tm_gmtoff)
}
