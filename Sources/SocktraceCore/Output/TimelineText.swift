/// The human view of a `Timeline`: one block per process, children indented
/// under their parents.
///
///     recording: probe fentry, kernel 6.18.0, host vm, 2.521s; 2 processes, 3 socket births (1 failed)
///     pid 8549  ppid 8543  comm curl  exe /usr/bin/curl  start 2026-11-22T03:35:54.505419830Z (exec)  end +4.334ms  exit 0
///       argv: curl -s http://example.com
///          +2.555ms  socket      AF_INET SOCK_STREAM IPPROTO_TCP  fd 3  inode 1148662  took 17.473us  ...
///
/// Times on event lines are from the process's start, at the call's return.
/// Every byte that came from the recording (comm, exe, argv, and names)
/// goes through `TextTable.printable`, so a hostile name cannot move the
/// cursor or forge a line.
public enum TimelineText {
  /// Renders in-memory JSON lines as the text view, every process shown
  /// and no cap hit (tests). `socktrace timeline` and the live `--timeline`
  /// go through `TimelineRendering`, which streams and hides socketless
  /// processes.
  ///
  /// Throws `RecordingError` if a line is not a record; a cut-off last line
  /// and unknown kinds are skipped.
  public static func render(recording bytes: [UInt8], source: String = "recording") throws(RecordingError)
    -> String
  {
    render(TimelineBuilder.build(try RecordingReader.parse(bytes, source: source)))
  }

  /// The whole text view: a summary line, then each root process and its descendants.
  public static func render(_ timeline: Timeline) -> String {
    var text = summary(timeline) + "\n"
    var visited = Set<Int>()
    for root in timeline.roots {
      renderProcess(root, depth: 0, in: timeline, visited: &visited, into: &text)
    }
    return text
  }

  static func summary(_ timeline: Timeline) -> String {
    var parts: [String] = []
    if let start = timeline.start {
      if let probe = start.probe { parts.append("probe " + probe.rawValue) }
      if let kernel = start.kernel { parts.append("kernel " + clean(kernel)) }
      if let host = start.host { parts.append("host " + clean(host)) }
    }
    parts.append(duration(timeline.lastTimestamp &- timeline.firstTimestamp))
    let processes = timeline.processes.count
    let sockets = timeline.socketCount
    var counts = "\(processes) process\(processes == 1 ? "" : "es"), \(sockets) socket birth\(sockets == 1 ? "" : "s")"
    counts += " (\(timeline.failedCount) failed)"
    if let end = timeline.end, end.lost > 0 { counts += ", \(end.lost) records lost" }
    return "recording: " + parts.joined(separator: ", ") + "; " + counts
  }

  private static func renderProcess(
    _ index: Int, depth: Int, in timeline: Timeline, visited: inout Set<Int>, into text: inout String
  ) {
    guard visited.insert(index).inserted else { return }
    let process = timeline.processes[index]
    let indent = String(repeating: "  ", count: depth)
    text += indent + header(process, in: timeline) + "\n"
    if let argv = process.argv {
      text += indent + "  argv: " + argv.map(argument).joined(separator: " ")
      text += process.argvTruncated ? " …(truncated)\n" : "\n"
    }
    for event in process.events where !process.isStartingExec(event) {
      text += indent + "  " + padLeft(relative(process.offset(event.timestamp)), 11) + "  "
      switch event {
      case .socket(let socket): text += socketLine(socket, in: process)
      case .fork(let fork):
        text += "fork        child pid \(fork.childPID)"
        if fork.tid != process.pid { text += "  tid \(fork.tid)" }
      case .exec(let exec):
        text += "exec        " + printable(exec.exe)
        if !exec.argv.isEmpty { text += "  argv: " + exec.argv.map(argument).joined(separator: " ") }
      case .call(let call):
        text += padRight(call.kind.name, 10) + "  " + callText(call, named: false)
        if let fd = call.fd { text += "  fd \(fd)" }
        if let inode = call.inode { text += "  inode \(inode)" }
        if call.bornBeforeTrace { text += "  (socket born before tracing)" }
      case .inheritedCall(let call, let owner):
        text += padRight(call.kind.name, 10) + "  " + callText(call, named: false)
        if let fd = call.fd { text += "  fd \(fd)" }
        if let inode = call.inode { text += "  inode \(inode)" }
        text += "  (socket of pid \(owner))"
      }
      text += "\n"
    }
    if process.hidden.total > 0 {
      text += indent + "  " + padLeft("…", 11) + "  " + hiddenText(process.hidden) + "\n"
    }
    for child in process.children {
      renderProcess(child, depth: depth + 1, in: timeline, visited: &visited, into: &text)
    }
  }

  static func header(_ process: ProcessTimeline, in timeline: Timeline) -> String {
    var line = "pid \(process.pid)  ppid \(process.ppid)  comm " + printable(process.comm)
    line += "  exe " + (process.exe.map(printable) ?? "-")
    if let container = process.container {
      // Hex ids as `docker ps` shows them: the first 12 digits.
      let isHex = container.id.utf8.count == 64 && container.id.utf8.allSatisfy { CgroupNames.isHexDigit($0) }
      line +=
        "  container \(container.runtime.rawValue) " + clean(isHex ? String(container.id.prefix(12)) : container.id)
    }
    if let pod = process.podUID { line += "  pod " + clean(pod) }
    line += "  start " + wallClock(process.start, in: timeline)
    switch process.startedBy {
    case .fork: line += " (fork)"
    case .exec: line += " (exec)"
    case .firstRecord: line += " (first seen)"
    }
    if let exit = process.exit {
      line += "  end " + relative(process.offset(exit.timestamp)) + "  "
      if exit.signal != 0 {
        line += "killed by " + signalName(exit.signal)
      } else {
        line += "exit \(exit.exitCode)"
      }
    } else {
      line += "  still running at end"
    }
    return line
  }

  static func socketLine(_ socket: TimelineSocket, in process: ProcessTimeline) -> String {
    let record = socket.record
    let atStart = record.openAtStart
    var line = atStart ? "open at start  " : padRight(record.source.kind.name, 10) + "  "
    line += [record.family, record.type, record.protocol].map(clean).joined(separator: " ")
    if !record.flags.isEmpty { line += "  flags " + record.flags.map(clean).joined(separator: "|") }
    if record.header.tid != process.pid { line += "  tid \(record.header.tid)" }
    if record.isKernel { line += "  kernel" }
    if let fd = record.fd { line += "  fd \(fd)" }
    if let inode = record.inode { line += "  inode \(inode)" }
    if record.source == .accept, record.listenFD != nil || record.listenInode != nil {
      line += "  listener"
      if let fd = record.listenFD { line += " fd \(fd)" }
      if let inode = record.listenInode { line += " inode \(inode)" }
    }
    if atStart {
      // What /proc said of it: its own address, its state, its peer.
      if let local = record.localAddress { line += "  " + printable(local) }
      if let state = record.state { line += (record.localAddress == nil ? "  " : " ") + clean(state) }
      if let peer = record.peerAddress { line += " ↔ " + printable(peer) }
    } else {
      line += "  took " + duration(record.duration)
    }
    if let stages = record.stages {
      line += " (sock_create " + duration(stages.sockCreate)
      if record.failedStage != .sockCreate && record.failedStage != .sysSocket {
        line += ", sock_map_fd " + duration(stages.sockMapFD)
      }
      line += ")"
    }
    if let error = record.error {
      line += "  FAILED " + clean(error)
      if let failure = record.failure { line += ": " + clean(failure.text) }
      if let stage = record.failedStage { line += " in " + stage.rawValue }
      return line
    }
    if record.source == .accept, record.peerAddress != nil || record.peerPID != nil {
      // accept from curl (913) 127.0.0.1:51234
      line += "  from"
      if let pid = record.peerPID { line += " " + peerName(pid: pid, comm: record.peerComm) }
      if let peer = record.peerAddress { line += " " + printable(peer) }
      if let local = record.localAddress { line += " on " + printable(local) }
    }
    // The story: what the socket became, then how it ended.
    for call in socket.calls {
      line += " → " + callText(call, named: true)
      if call.header.pid != process.pid { line += " by pid \(call.header.pid)" }
    }
    if socket.accepted > 0 { line += " → \(socket.accepted) accepted" }
    if let lifetime = socket.lifetime {
      line += (socket.calls.isEmpty && socket.accepted == 0 ? "  " : " → ") + lifetimeText(lifetime, owner: process.pid)
    }
    if record.source == .socketpair {
      line += "  peer"
      if let fd = record.peerFD { line += " fd \(fd)" }
      if let inode = record.peerInode { line += " inode \(inode)" }
      if let lifetime = socket.peerLifetime { line += " " + lifetimeText(lifetime, owner: process.pid) }
    }
    return line
  }

  /// `1499000 more events not shown (1498990 sockets, 3 failed; 10 forks)`.
  static func hiddenText(_ hidden: HiddenEvents) -> String {
    var parts: [String] = []
    if hidden.sockets > 0 {
      parts.append("\(hidden.sockets) socket\(hidden.sockets == 1 ? "" : "s"), \(hidden.failed) failed")
    }
    if hidden.calls > 0 { parts.append("\(hidden.calls) call\(hidden.calls == 1 ? "" : "s")") }
    if hidden.forks > 0 { parts.append("\(hidden.forks) fork\(hidden.forks == 1 ? "" : "s")") }
    if hidden.execs > 0 { parts.append("\(hidden.execs) exec\(hidden.execs == 1 ? "" : "s")") }
    let total = hidden.total
    return "\(total) more event\(total == 1 ? "" : "s") not shown (" + parts.joined(separator: "; ")
      + "); socktrace timeline --max-events N shows more"
  }

  /// One call of a socket's story: `connect 127.0.0.1:8765 ok 0.31ms`,
  /// `connect 127.0.0.1:9 EINPROGRESS`, `failed ECONNREFUSED after 71us`.
  static func callText(_ call: RecordedCall, named: Bool) -> String {
    var text = named ? call.kind.name + " " : ""
    switch call.kind {
    case .bind:
      text += call.address.map(printable) ?? "(unnamed)"
      // The address the kernel gave, when it is not what was asked (port 0, autobind).
      if let local = call.localAddress, local != call.address { text += " (got " + printable(local) + ")" }
    case .connect:
      // connect 127.0.0.1:8080 from 127.0.0.1:51234 → nginx (812)
      text += call.address.map(printable) ?? "(unnamed)"
      if let local = call.localAddress { text += " from " + printable(local) }
      if let pid = call.peerPID { text += " → " + peerName(pid: pid, comm: call.peerComm) }
    case .listen:
      text += "backlog \(call.backlog ?? 0)"
      if let local = call.localAddress { text += " on " + printable(local) }
    case .shutdown: text += clean(call.how ?? "?")
    case .connectResult:
      let outcome = call.established == true ? "established" : "failed " + clean(call.error ?? "?")
      return outcome + " after " + duration(call.duration)
    }
    if let error = call.error { return text + " " + clean(error) }
    return text + " ok " + duration(call.duration)
  }

  /// `nginx (812)`, or `pid 812` when the name was not read.
  static func peerName(pid: UInt32, comm: [UInt8]?) -> String {
    guard let comm, !comm.isEmpty else { return "pid \(pid)" }
    return printable(comm) + " (\(pid))"
  }

  static func lifetimeText(_ lifetime: SocketLifetime, owner: UInt32) -> String {
    let length = duration(lifetime.duration)
    switch lifetime.ending {
    case .released(let how, let pid):
      let verb = how == .release ? "released" : "released at \(how.rawValue)"
      return "lived \(length) (\(verb)" + (pid == owner ? ")" : " by pid \(pid))")
    case .processExit: return "lived \(length) (until process exit; no release seen)"
    case .inodeReused: return "lived at most \(length) (inode reused; no release seen)"
    case .openAtEnd: return "open at end (\(length) so far)"
    }
  }

  // MARK: formatting

  /// Attacker-controlled bytes for a terminal: `TextTable.printable`.
  static func printable(_ bytes: [UInt8]) -> String { TextTable.printable(bytes) }

  /// A name from the recording (family, error, host...): it came from a file, so escape it too.
  static func clean(_ text: String) -> String { TextTable.printable(Array(text.utf8)) }

  /// An argv element, quoted when it is empty or has spaces or quotes.
  static func argument(_ bytes: [UInt8]) -> String {
    let text = printable(bytes)
    guard text.isEmpty || bytes.contains(UInt8(ascii: " ")) || bytes.contains(UInt8(ascii: "\"")) else {
      return text
    }
    return "\"" + text.replacing("\"", with: "\\x22") + "\""
  }

  /// `+12.345ms`: signed milliseconds, microsecond precision.
  static func relative(_ nanoseconds: Int64) -> String {
    let sign = nanoseconds < 0 ? "-" : "+"
    let micros = nanoseconds.magnitude / 1000
    return sign + String(micros / 1000) + "." + digits(micros % 1000, 3) + "ms"
  }

  /// `0.721us`, `17.473us`, `72.495ms`, `2.521s`: three decimals, truncated.
  static func duration(_ nanoseconds: UInt64) -> String {
    if nanoseconds < 1_000_000 {
      return String(nanoseconds / 1000) + "." + digits(nanoseconds % 1000, 3) + "us"
    }
    if nanoseconds < 1_000_000_000 {
      let micros = nanoseconds / 1000
      return String(micros / 1000) + "." + digits(micros % 1000, 3) + "ms"
    }
    let millis = nanoseconds / 1_000_000
    return String(millis / 1000) + "." + digits(millis % 1000, 3) + "s"
  }

  /// RFC 3339 UTC when the recording has its boot offset, else boot-clock seconds.
  static func wallClock(_ timestamp: UInt64, in timeline: Timeline) -> String {
    guard let epoch = timeline.epochNanoseconds(timestamp) else {
      return "boot+" + String(timestamp / 1_000_000_000) + "." + digits(timestamp % 1_000_000_000, 9) + "s"
    }
    var buffer = JSONBuffer(capacity: 40)
    buffer.appendTimestamp(epochNanoseconds: epoch)
    return String(decoding: buffer.bytes.dropFirst().dropLast(), as: UTF8.self)  // without the quotes
  }

  static func signalName(_ signal: Int64) -> String {
    let names = [
      "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1",
      "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP",
      "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH",
      "SIGIO", "SIGPWR", "SIGSYS",
    ]
    if signal >= 1 && signal <= Int64(names.count) { return names[Int(signal) - 1] }
    return "signal \(signal)"
  }

  private static func digits(_ value: UInt64, _ width: Int) -> String {
    let text = String(value)
    return String(repeating: "0", count: max(0, width - text.count)) + text
  }

  /// Right-aligned in `width` columns (times).
  private static func padLeft(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
  }

  /// Left-aligned in `width` columns (event kinds).
  private static func padRight(_ text: String, _ width: Int) -> String {
    text + String(repeating: " ", count: max(0, width - text.count))
  }
}
