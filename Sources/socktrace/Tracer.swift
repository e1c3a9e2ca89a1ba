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
  /// How long a poll may wait: live output lags by at most this.
  static let pollIntervalMilliseconds: Int32 = 100
  /// Flush to the output once this much is buffered, or at every poll.
  static let flushBytes = 256 << 10

  private let clock = BootClock.measure()
  private var buffer = JSONBuffer(capacity: flushBytes + 4096)
  private var summary = Summary()

  init(options: TraceOptions, format: Format, outputPath: String, duration: Double?) {
    self.options = options
    self.format = format
    self.outputPath = outputPath
    self.duration = duration
  }

  /// Traces until stopped; returns the process exit code.
  func run() throws(TraceError) -> Int32 {
    let output = try OutputFile(path: outputPath)  // before attaching: a bad path costs nothing
    Signals.installStopHandlers()
    let encoder = JSONLinesEncoder(clock: clock)
    let table = TextTable(clock: clock, utcOffsetSeconds: localUTCOffset())
    let format = self.format

    let session = try TraceSession(options: options) { [unowned self] bytes in
      let event: TraceEvent
      do {
        event = try EventDecoder.decode(bytes)
      } catch {
        self.summary.decodeErrors += 1
        return
      }
      self.summary.count(event)
      switch format {
      case .jsonLines: encoder.encode(event, into: &self.buffer)
      case .table:
        if let line = table.line(for: event) { self.buffer.appendRaw(line) }
      }
    }
    let started = BootClock.now(CLOCK_MONOTONIC)
    switch format {
    case .jsonLines: writeStart(session: session)
    case .table: buffer.appendRaw(TextTable.header)
    }
    try flush(output)
    printError(tracingLine(session))

    let deadline = duration.map { started + UInt64($0 * 1e9) }
    while !Signals.stopRequested {
      if let deadline, BootClock.now(CLOCK_MONOTONIC) >= deadline { break }
      try session.poll(interval: Self.pollIntervalMilliseconds)
      if buffer.count > 0 { try flush(output) }
    }

    // Nothing recorded is lost: read what is queued, detach, read the rest.
    try session.drain()
    session.detach()
    try session.drain()
    summary.lost = session.lostEvents
    summary.seconds = Double(BootClock.now(CLOCK_MONOTONIC) - started) / 1e9
    if format == .jsonLines { writeEnd() }
    try flush(output)
    output.sync()
    printError(summary.text())
    return 0
  }

  private func flush(_ output: OutputFile) throws(TraceError) {
    guard buffer.count > 0 else { return }
    try output.write(buffer.bytes)
    buffer.removeAll()
  }

  private func tracingLine(_ session: TraceSession) -> String {
    var line = "Tracing socket creation (probe: \(session.plan.rung.rawValue)"
    if !options.pids.isEmpty {
      line += "; pid \(options.pids.map(String.init).joined(separator: ","))"
      if options.follow { line += " and children" }
    }
    line += ")"
    if outputPath != "-" { line += " into \(outputPath)" }
    return line + "... Hit Ctrl-C to end."
  }

  private func writeStart(session: TraceSession) {
    buffer.appendKey("event", first: true)
    buffer.appendRaw("\"start\"")
    buffer.appendKey("time")
    buffer.appendTimestamp(epochNanoseconds: BootClock.now(CLOCK_REALTIME))
    buffer.appendKey("ts_ns")
    buffer.appendUInt(BootClock.now(CLOCK_BOOTTIME))
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
    buffer.appendRaw("}\n")
  }

  private func writeEnd() {
    buffer.appendKey("event", first: true)
    buffer.appendRaw("\"end\"")
    buffer.appendKey("time")
    buffer.appendTimestamp(epochNanoseconds: BootClock.now(CLOCK_REALTIME))
    buffer.appendKey("ts_ns")
    buffer.appendUInt(BootClock.now(CLOCK_BOOTTIME))
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
