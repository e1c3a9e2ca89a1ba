import Glibc
import SocktraceCore

/// Runs the pipeline: open the output, start the session (load, attach),
/// read the ring buffer, decode, export; on stop drain, detach, write the end
/// record and print the summary.
final class Tracer {
  enum Format { case table, jsonLines }

  let options: TraceOptions
  let format: Format
  let outputPath: String
  let duration: Double?
  /// Print per-process timelines at stop (from a copy of the JSON records).
  let timeline: Bool
  /// How long a poll may wait: live output lags by at most this.
  static let pollIntervalMilliseconds: Int32 = 100
  /// Flush to the output once this much is buffered, or at every poll.
  static let flushBytes = 256 << 10

  private let clock = BootClock.measure()
  private var buffer = JSONBuffer(capacity: flushBytes + 4096)
  private var summary = Summary()
  /// Records read since the loop last checked for a stop.
  private var readSinceCheck = 0
  /// How many records a read may take before the loop checks again.
  static let recordsPerCheck = 65536
  /// The last read paused after a full batch: records are waiting.
  private var pausedForBatch = false
  /// Set once detached: read to the end, pause for nothing but a write error.
  private var finalDrain = false
  /// A failed write to the output, raised by the loop.
  private var writeFailure: TraceError?
  /// Every record as JSON, kept only for --timeline.
  private var recording = JSONBuffer(capacity: 0)
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
    let keepRecording = timeline
    let encoder = JSONLinesEncoder(clock: clock)
    let table = TextTable(clock: clock, utcOffsetSeconds: localUTCOffset())
    let format = self.format

    let session = try TraceSession(options: options) { [unowned self] bytes in
      self.handle(bytes, encoder: encoder, table: table, keepRecording: keepRecording, output: output)
    }
    let started = BootClock.now(CLOCK_MONOTONIC)
    if format == .table { buffer.appendRaw(TextTable.header) }
    writeOwnRecords {
      writeStart(session: session, options: options)
      // Processes traced by pid were running already: /proc gives their context.
      for pid in self.options.pids {
        ProcContext(pid: pid)?.encode(clock: clock, into: &buffer)
      }
    }
    try flush(output)
    printError(tracingLine(session, options: options, command: command))
    command?.release()

    let deadline = duration.map { started + UInt64($0 * 1e9) }
    while !Signals.stopRequested && writeFailure == nil {
      if let deadline, BootClock.now(CLOCK_MONOTONIC) >= deadline { break }
      if let command, command.hasExited() { break }
      if pausedForBatch {
        pausedForBatch = false
        try session.drain()  // more is queued: read on without waiting
      } else {
        try session.poll(interval: Self.pollIntervalMilliseconds)
      }
      if buffer.count > 0 { try flush(output) }
    }

    if let failure = writeFailure { throw failure }
    // Nothing recorded is lost: detach, then read everything still queued.
    session.detach()
    finalDrain = true
    while try session.drain() > 0 {}
    if let failure = writeFailure { throw failure }
    summary.lost = session.lostEvents
    summary.seconds = Double(BootClock.now(CLOCK_MONOTONIC) - started) / 1e9
    writeOwnRecords { writeEnd() }
    try flush(output)
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
      printError(try TimelineText.render(recording: recording.bytes, source: "this run"))
    } catch {
      printError("socktrace: timeline: \(error)")
    }
  }

  /// One ring-buffer record: decode, count, export. Returns false to pause
  /// the read (a stop was asked for, or a batch is done) so a flood cannot keep
  /// the loop from checking; the buffer is flushed as it fills, so memory stays
  /// flat whatever the rate.
  private func handle(
    _ bytes: UnsafeRawBufferPointer, encoder: JSONLinesEncoder, table: TextTable, keepRecording: Bool,
    output: OutputFile
  ) -> Bool {
    do {
      let event = try EventDecoder.decode(bytes)
      summary.count(event)
      switch format {
      case .jsonLines:
        let start = buffer.count
        encoder.encode(event, into: &buffer)
        // --timeline keeps the same line: copied, not encoded a second time.
        if keepRecording {
          buffer.withUnsafeBytes { recording.append(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        }
      case .table:
        if keepRecording { encoder.encode(event, into: &recording) }
        if let line = table.line(for: event) { buffer.appendRaw(line) }
      }
    } catch {
      summary.decodeErrors += 1
    }
    if buffer.count >= Self.flushBytes {
      do { try flush(output) } catch { writeFailure = error }
    }
    readSinceCheck += 1
    guard !finalDrain else { return writeFailure == nil }
    if readSinceCheck >= Self.recordsPerCheck || Signals.stopRequested || writeFailure != nil {
      pausedForBatch = readSinceCheck >= Self.recordsPerCheck
      readSinceCheck = 0
      return false
    }
    return true
  }

  private func flush(_ output: OutputFile) throws(TraceError) {
    guard buffer.count > 0 else { return }
    try output.write(buffer)
    buffer.removeAll()
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
    let start = buffer.count
    write()
    if timeline {
      buffer.withUnsafeBytes { recording.append(UnsafeRawBufferPointer(rebasing: $0[start...])) }
    }
    if format == .table { buffer.truncate(to: start) }
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
