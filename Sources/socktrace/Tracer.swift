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
  /// The table's layout: --wide, --time.
  var tableWide = false
  var tableTime = TableTime.wall
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
    var permissions: mode_t = 0o600
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

  /// Where a run is. It only moves forward: starting, tracing, then either
  /// straight to draining or through commandExited or stopping (a run with a
  /// command), then draining. `run` is one function per phase.
  enum Phase: Equatable {
    /// Opening the output, loading and attaching, writing the start record.
    case starting
    /// Reading records until a stop (a signal, -d, a failed write), the
    /// command's end, or the end of every -p process.
    case tracing
    /// The command ended; the processes it left running are still traced
    /// until they end too, or a stop.
    case commandExited
    /// A stop came with the command still running: it was asked to end and
    /// is traced while it does, at full speed, until `killAt` or a second stop
    /// signal, when it is killed.
    case stopping(killAt: UInt64, killed: Bool)
    /// Detached: reading what is still queued, then the end record.
    case draining
  }
  private(set) var phase = Phase.starting
  /// What the last `lost` record reported, so the next says what is new.
  private var reportedLosses = LossCounts()
  /// The sum of every loss counter when `reportedLosses` was taken.
  private var reportedLossSum: UInt64 = 0
  /// How long a command may take to end once asked to; a second stop signal cuts it short.
  static let commandStopSeconds: UInt64 = 10

  /// Traces until stopped, or until `command` and every descendant it left
  /// running have ended; returns the exit code: the command's when there is one.
  ///
  /// On a stop (a signal, -d, a failed write) with the command still
  /// running, the command is sent the signal (SIGTERM for -d or a failed
  /// write; not a Ctrl-C from the terminal, which reached it already) and
  /// traced while it shuts down, for up to 10 s; then, or at a second stop
  /// signal, it is killed (SIGKILL).
  func run(command: CommandRunner? = nil) throws(TraceError) -> Int32 {
    phase = .starting
    // Checked before attaching (a bad path costs nothing), emptied only once tracing starts.
    let output = try OutputFile(
      path: outputPath, rotation: fileMode.rotation, append: fileMode.append, mode: fileMode.permissions)
    output.giveUpOnInterrupt = { Signals.forced }
    var spill: TimelineSpill?
    if timeline {
      do { spill = try TimelineSpill() } catch {
        output.abandon()
        throw error
      }
    }
    // SIGHUP reopens the file in a service's modes, else it stops like the others.
    Signals.installStopHandlers(hangupStops: !fileMode.reopenOnHangup)
    if fileMode.reopenOnHangup { Signals.installReopenHandler() }
    defer { exporters.close() }
    let options = sessionOptions(command: command)
    let encoder = JSONLinesEncoder(clock: clock, cgroups: CgroupResolver())
    let table = TextTable(
      clock: clock, utcOffsetSeconds: localUTCOffset(), width: tableWidth(outputPath), wide: tableWide,
      time: tableTime, startBootNanoseconds: BootClock.now(CLOCK_BOOTTIME))
    let pipeline = RecordPipeline(
      format: format, encoder: encoder,
      table: table, output: output,
      keepRecording: timeline)
    pipeline.spill = spill
    // --births-only makes no connect record: the client of a TCP accept could
    // only be found in /proc's table, a read per accept; left null there.
    pipeline.peers = PeerJoin(procReadsPerSecond: options.lifecycle ? 50 : 0)
    self.pipeline = pipeline
    if exporters.enabled {
      let exporters = self.exporters
      pipeline.onRecord = { event, bytes in exporters.record(event, bytes: bytes) }
    }

    let session: TraceSession
    do {
      session = try TraceSession(options: options) { [unowned self] bytes in
        pipeline.consume(bytes) && self.readsOn()
      }
      try output.begin()
    } catch {
      output.abandon()
      throw error
    }
    exporters.started(session: session)
    let started = BootClock.now(CLOCK_MONOTONIC)
    writeOpening(session: session, options: options, encoder: encoder, table: table, pipeline: pipeline)
    printError(tracingLine(session, options: options, command: command))
    command?.release()

    phase = .tracing
    let deadline = duration.map { started + UInt64($0 * 1e9) }
    while true {
      phase = nextPhase(command: command, session: session, pipeline: pipeline, stopAt: deadline)
      if phase == .draining { break }
      try readOnce(session: session, pipeline: pipeline, output: output, encoder: encoder, command: command)
    }
    try drain(session: session, pipeline: pipeline, encoder: encoder)
    return finish(
      session: session, pipeline: pipeline, output: output, encoder: encoder, started: started,
      command: command, spill: spill)
  }

  /// The options the session is started with: a command is traced by its
  /// pid, with its children.
  private func sessionOptions(command: CommandRunner?) -> TraceOptions {
    var options = self.options
    if let command {
      commandLine = command.command
      options.pids = [command.pid]
      options.follow = true
      options.snapshot = false  // all it holds now is inherited from socktrace
    }
    // --metrics and nothing else that needs records: the kernel counts, the
    // ring buffer carries nothing (bpf/lib/kmetrics.bpf.h), one page is enough.
    if format == .none && !timeline && exporters.metrics != nil && exporters.otlp == nil {
      options.metricsOnly = true
      if options.countsInKernel { options.ringBufferBytes = UInt32(sysconf(Int32(_SC_PAGESIZE))) }
    }
    return options
  }

  /// Whether a read goes on after a record. It pauses for a stop, so the
  /// loop sees it; not while draining (everything queued is read), nor while
  /// a stopping command is traced at full speed (pausing per batch only).
  private func readsOn() -> Bool {
    switch phase {
    case .draining: return true
    case .stopping: return !Signals.forced
    case .starting, .tracing, .commandExited: return !Signals.stopRequested && !Signals.forced
    }
  }

  /// The starting phase's records: the table header, the `start` record,
  /// `exec` records from /proc for -p processes, and the sockets open at start.
  private func writeOpening(
    session: TraceSession, options: TraceOptions, encoder: JSONLinesEncoder, table: TextTable,
    pipeline: RecordPipeline
  ) {
    if format == .table { pipeline.appendRaw(table.header) }
    writeOwnRecords {
      writeStart(session: session, options: options, encoder: encoder)
      // Processes traced by pid were running already: /proc gives their context.
      for pid in self.options.pids {
        if let process = ProcContext(pid: pid) { encoder.encode(process, into: &buffer) }
      }
    }
    // The sockets open at start (via "snapshot"): through the pipeline like
    // the kernel's records, so they are counted, joined and exported alike.
    // Metrics only, nothing goes out: they are births in the kernel all the same,
    // so their later calls and releases count as with records.
    for var record in session.snapshot.records where !options.countsInKernel {
      _ = withUnsafeBytes(of: &record) { pipeline.consume($0) }
    }
    try? pipeline.flush()
  }

  /// The phase after one more look at what can end tracing: a stop (a
  /// signal, -d, a failed write), the command, the -p processes.
  private func nextPhase(
    command: CommandRunner?, session: TraceSession, pipeline: RecordPipeline, stopAt deadline: UInt64?
  ) -> Phase {
    let now = BootClock.now(CLOCK_MONOTONIC)
    // Each of these stays true once true: a stop is never taken back.
    let stopAsked = Signals.stopRequested || pipeline.writeFailure != nil || deadline.map { now >= $0 } == true
    switch phase {
    case .starting, .draining:
      return phase
    case .tracing:
      guard let command else {
        // -p: like strace, once every traced process (with -f, descendant) is
        // gone; a /metrics endpoint stays up (its last counts still to be scraped).
        let tracedGone = !options.pids.isEmpty && exporters.metrics == nil && !tracedAlive(session)
        return stopAsked || tracedGone ? .draining : .tracing
      }
      if command.hasExited() { return commandEnded(command, session: session, stopAsked: stopAsked) }
      return stopAsked ? stop(command, now: now) : .tracing
    case .commandExited:
      return stopAsked || session.tracedProcessCount() == 0 ? .draining : .commandExited
    case .stopping(let killAt, let killed):
      guard let command, !command.hasExited() else { return .draining }
      if !killed && (Signals.forced || now >= killAt) {
        command.signal(SIGKILL)
        return .stopping(killAt: killAt, killed: true)
      }
      return phase
    }
  }

  /// The command ended: tracing ends too, unless it left processes running
  /// (the whole tree is traced until the last traced descendant is gone).
  private func commandEnded(_ command: CommandRunner, session: TraceSession, stopAsked: Bool) -> Phase {
    if stopAsked || session.tracedProcessCount() == 0 { return .draining }
    printError(
      "socktrace: \(command.command[0]) exited (\(command.exitCode)); still tracing the "
        + "\(session.tracedProcessCount()) process(es) it left running until they exit (Ctrl-C to stop)")
    return .commandExited
  }

  /// A stop with the command still running: ask it to end, and trace it while
  /// it does. -d or a failed write sends SIGTERM; a stop signal sent to
  /// socktrace alone (kill) is passed on; a Ctrl-C from the terminal reached
  /// the command already.
  private func stop(_ command: CommandRunner, now: UInt64) -> Phase {
    if !Signals.stopRequested {
      command.signal(SIGTERM)
    } else if Signals.stopWasSent {
      command.signal(Signals.signalNumber)
    }
    return .stopping(killAt: now + Self.commandStopSeconds * 1_000_000_000, killed: false)
  }

  /// One read of the ring buffer (or of what a full batch left queued), then
  /// what follows every read: write out, report new losses, reopen the file
  /// if SIGHUP asked, tick the exporters. A failed read kills the command.
  private func readOnce(
    session: TraceSession, pipeline: RecordPipeline, output: OutputFile, encoder: JSONLinesEncoder,
    command: CommandRunner?
  ) throws(TraceError) {
    do {
      if pipeline.takePause() {
        try session.drain()  // more is queued: read on without waiting
      } else if case let read = try session.poll(interval: Self.pollIntervalMilliseconds), read > 0 {
        try? pipeline.flush()  // what was woken goes out now
        if !pipeline.pausedForBatch { RingBufferReader.coalesce(afterReading: read) }  // then let a storm gather
      }
      reportLosses(session, encoder: encoder)
      try? pipeline.flush()
      if Signals.takeReopenRequest() { try output.reopen() }  // flushed: between whole lines
    } catch {
      command?.signal(SIGKILL)
      throw error
    }
    if exporters.enabled { tickExporters(session, pipeline) }
  }

  /// The draining phase: nothing recorded is lost. Detach, then read
  /// everything still queued (a second stop signal counts what is left as
  /// lost instead of writing it), and report the last losses.
  private func drain(session: TraceSession, pipeline: RecordPipeline, encoder: JSONLinesEncoder) throws(TraceError) {
    phase = .draining
    session.detach()
    if pipeline.mode == .tracing { pipeline.mode = .draining }  // a failed write keeps counting
    while try session.drain() > 0 {
      if Signals.forced && pipeline.mode == .draining { pipeline.mode = .counting(.stopForced) }
    }
    try? pipeline.flush()
    reportLosses(session, encoder: encoder)
  }

  /// After the drain: the last exports, the `end` record, the summary, the
  /// timelines; the exit code (the command's when there is one).
  private func finish(
    session: TraceSession, pipeline: RecordPipeline, output: OutputFile, encoder: JSONLinesEncoder,
    started: UInt64, command: CommandRunner?, spill: TimelineSpill?
  ) -> Int32 {
    summary.losses = pipeline.losses.withKernelCounts(from: session.kernelLosses)
    summary.lost = summary.losses.total
    if exporters.enabled {
      try? pipeline.flush()
      tickExporters(session, pipeline, force: true)
      exporters.finish()  // what is still queued for the collector, for a bounded time
    }
    summary.seconds = Double(BootClock.now(CLOCK_MONOTONIC) - started) / 1e9
    summary.peersUnknown = pipeline.peers?.procReadsSkipped ?? 0
    if pipeline.writeFailure == nil {
      if Signals.forced { output.makeNonBlocking() }
      writeOwnRecords { writeEnd(encoder: encoder, output: output) }
      try? pipeline.flush()
    }
    output.sync()
    if exporters.enabled { tickExporters(session, pipeline, force: true) }
    printError(summary.text() + kernelSummary(session) + exporters.summary + fileSummary(output))
    if timeline { printTimelines(spill) }
    if let failure = pipeline.writeFailure {
      printError(
        "socktrace: \(failure); \(summary.losses.total(.outputFailed)) records not written "
          + "(counted as lost), no end record")
      return 1
    }
    if let command {
      _ = command.hasExited()
      return command.exitCode
    }
    return 0
  }

  /// Reports losses as soon as they are seen: a `lost` record (JSON) or a
  /// LOST line (table) with what was counted since the last report.
  private func reportLosses(_ session: TraceSession, encoder: JSONLinesEncoder) {
    guard let pipeline else { return }
    // Nothing new (the rule): two sums of counters in memory, no copy, no syscall.
    let sum = session.kernelLossSum &+ pipeline.losses.total
    guard sum != reportedLossSum else { return }
    reportedLossSum = sum
    let now = pipeline.losses.withKernelCounts(from: session.kernelLosses)
    let delta = now.since(reportedLosses)
    guard delta.total > 0 && pipeline.mode != .counting(.outputFailed) else { return }
    reportedLosses = now
    writeOwnRecords {
      encoder.encode(
        LostRecord(
          epochNanoseconds: BootClock.now(CLOCK_REALTIME), bootNanoseconds: BootClock.now(CLOCK_BOOTTIME),
          losses: delta, total: now.total),
        into: &buffer)
    }
    if format == .table {
      pipeline.appendRaw("LOST         \(delta.total) records (\(delta.text)); \(now.total) in all\n")
    }
  }

  /// Whether a `-p` process (or, with -f, a descendant) still runs; asked at
  /// most every 200 ms.
  private var lastAliveCheck: UInt64 = 0
  private func tracedAlive(_ session: TraceSession) -> Bool {
    let now = BootClock.now(CLOCK_MONOTONIC)
    guard now &- lastAliveCheck >= 200_000_000 else { return true }
    lastAliveCheck = now
    return session.tracedProcessesAlive()
  }

  /// The timelines at stop: the run's copy of its records, read exactly as
  /// `socktrace timeline FILE` reads a recording (`TimelineRendering`), to stderr.
  private func printTimelines(_ spill: TimelineSpill?) {
    let options = TimelineRendering.Options()
    let notes = { (lines: [String]) in for line in lines { printError(line) } }
    let write = { (bytes: UnsafeRawBufferPointer) in printError(String(decoding: bytes, as: UTF8.self)) }
    do {
      if let spill {
        _ = try TimelineRendering.render(
          fd: try spill.rewound(), source: "this run", options: options, notes: notes, write: write)
      } else {
        _ = try TimelineRendering.render(
          bytes: pipeline?.recordingBytes ?? [], source: "this run", options: options, notes: notes, write: write)
      }
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
      rung: session.plan.rung, hooks: session.plan.hooks, blindSpots: session.plan.allBlindSpots,
      pids: options.pids, follow: options.follow,
      command: commandLine)
    start.filters = session.filters
    start.pidNamespace = session.pidNamespace
    encoder.encode(start, into: &buffer)
  }

  private func writeEnd(encoder: JSONLinesEncoder, output: OutputFile) {
    var end = EndRecord(
      epochNanoseconds: BootClock.now(CLOCK_REALTIME), bootNanoseconds: BootClock.now(CLOCK_BOOTTIME),
      events: summary.events, sockets: summary.sockets, failed: summary.failed, lost: summary.lost,
      decodeErrors: summary.decodeErrors, durationNanoseconds: UInt64(summary.seconds * 1e9))
    end.losses = summary.losses
    end.otlp = exporters.otlpCounts
    if fileMode.rotation != nil || fileMode.reopenOnHangup { end.file = (output.rotations, output.reopens) }
    encoder.encode(end, into: &buffer)
  }

  /// Hands the reader's counts to --metrics and staged records to --otlp.
  private func tickExporters(_ session: TraceSession, _ pipeline: RecordPipeline, force: Bool = false) {
    var lost: [(cause: String, count: UInt64)] = []
    if exporters.metrics != nil {
      let losses = pipeline.losses.withKernelCounts(from: session.kernelLosses)
      lost = LossCause.allCases.map { ($0.name, losses.total($0)) }
    }
    exporters.tick(
      lost: lost, written: pipeline.recordsWritten, decodeErrors: pipeline.summary.decodeErrors, force: force)
  }

  /// A metrics-only run: what the kernel counted, none of it sent.
  private func kernelSummary(_ session: TraceSession) -> String {
    guard let counts = session.kernelCounters?.read() else { return "" }
    return "\nmetrics only: \(counts.recordsTotal) records counted in the kernel (\(counts.birthsTotal) socket births, "
      + "\(counts.failedTotal) failed), none sent to user space"
  }

  /// "; output rotated N times, reopened M times" for the summary.
  private func fileSummary(_ output: OutputFile) -> String {
    guard fileMode.rotation != nil || fileMode.reopenOnHangup, format != .none else { return "" }
    return "\noutput: \(outputPath) rotated \(output.rotations)x, reopened \(output.reopens)x"
  }
}

/// The table's width: the terminal's when it goes to one, else `COLUMNS`, else 80.
func tableWidth(_ outputPath: String) -> Int {
  var size = winsize()
  guard outputPath == "-", isatty(1) == 1, ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else {
    return TextTable.width(columns: getenv("COLUMNS").map { String(cString: $0) })
  }
  return Int(size.ws_col)
}

/// Seconds east of UTC here, for the table's local TIME column.
func localUTCOffset() -> Int64 {
  var now = time(nil)
  var local = tm()
  localtime_r(&now, &local)
  return Int64(local.tm_gmtoff)
}
