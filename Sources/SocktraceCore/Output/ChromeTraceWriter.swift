/// A `Timeline` as Chrome Trace Event Format JSON, for Perfetto
/// (ui.perfetto.dev) and chrome://tracing:
///
/// - `process_name`, `process_sort_index` and `thread_name` metadata (`"ph":"M"`):
///   one process track per pid (a reused pid shares it), one thread track per tid,
///   processes in tree order.
/// - each socket birth a complete slice (`"ph":"X"`) on its thread, from the
///   call's entry to its return, with its stages nested inside (`sock_create`,
///   then `sock_map_fd`) when the rung saw them; a failure is in the name
///   (`socket AF_INET ✗ EAFNOSUPPORT`) and colored (`"cname":"terrible"`).
/// - each socket's lifetime an async span (`"ph":"b"`/`"e"`, `"cat":"socket"`,
///   `"id"` = inode) from birth to release, process exit, or the end.
/// - forks and execs as thread instants, exits as process instants (`"ph":"i"`).
/// - the two ends of a local connection joined by a flow arrow (`"ph":"s"` at
///   the client's connect, `"ph":"f"` at the server's accept, `"cat":"peer"`,
///   `"id"` = the accepted socket's inode): unix ends by the peer inode, inet
///   ends by the accept's peer address = the connect's own address.
///
/// Events are written as the timeline builder completes them (a socket when
/// its story ends), so a recording of any length streams through in bounded
/// memory; the track metadata comes last, once the tree is known.
///
/// `ts` and `dur` are microseconds since the recording's first record, written
/// exactly from nanoseconds (`12.345`). Every string from the recording goes
/// through `JSONBuffer.appendString`: the output is valid JSON whatever bytes
/// comm or exe hold.
public enum ChromeTraceWriter {
  /// A whole timeline, built already (its processes chosen already).
  public static func render(_ timeline: Timeline) -> [UInt8] {
    var bytes: [UInt8] = []
    let stream = ChromeTraceStream(all: true)
    for index in timeline.processes.indices {
      let process = timeline.processes[index]
      stream.processStarted(index, pid: process.pid, parent: nil)
      for event in process.events {
        stream.event(event, process: index, pid: process.pid, origin: timeline.firstTimestamp)
      }
      if let exit = process.exit {
        stream.exited(index, pid: process.pid, exit: exit, origin: timeline.firstTimestamp)
      }
    }
    stream.finish(timeline)
    stream.drain { bytes.append(contentsOf: $0) }
    return bytes
  }
}

/// The Chrome trace written as a `TimelineBuilder` hands it events: slices,
/// spans and instants at once, the metadata (process and thread names, the
/// tracks' order) at `finish`. The caller takes the bytes with `drain`
/// whenever `bufferedBytes` grows past what it wants to hold.
///
/// Which processes it shows is decided as events come, as `socktrace
/// timeline` decides for the text: `pid` (with `tree`, its descendants), and
/// unless `all`, only processes that touched a socket and their ancestors.
/// A process's forks, execs and exit wait (up to `maxPendingEvents` of them)
/// until it or a descendant touches a socket; those of a process that never
/// does are dropped at the end, as the text view hides it.
public final class ChromeTraceStream: TimelineSink {
  public static let maxPendingEvents = 1000

  private var emitter: Emitter
  private let pid: UInt32?
  private let tree: Bool
  private let all: Bool
  private var parents: [Int?] = []
  private var selected: [Bool] = []
  private var shown: [Bool] = []
  /// Instants of processes not shown yet, as written JSON.
  private var pending: [Int: [UInt8]] = [:]
  private var pendingCounts: [Int: Int] = [:]
  /// Instants that did not fit in `pending`.
  public private(set) var droppedInstants = 0

  public init(pid: UInt32? = nil, tree: Bool = false, all: Bool = false) {
    self.pid = pid
    self.tree = tree
    self.all = all
    emitter = Emitter(out: JSONBuffer(capacity: 1 << 20 + 65_536))
    emitter.out.appendRaw("{\"traceEvents\":[")
  }

  public func processStarted(_ index: Int, pid: UInt32, parent: Int?) {
    while parents.count <= index {
      parents.append(nil)
      selected.append(false)
      shown.append(all)
    }
    parents[index] = parent
    selected[index] = self.pid == nil || self.pid == pid || (tree && parent.map { selected[$0] } == true)
  }

  public func linked(_ child: Int, to parent: Int) {
    guard child < parents.count, parent < parents.count else { return }
    parents[child] = parent
    if tree && selected[parent] { selected[child] = true }
    if shown[child] { markShown(parent) }
  }

  public func event(_ event: TimelineEvent, process index: Int, pid: UInt32, origin: UInt64) {
    guard index < selected.count, selected[index] else { return }
    emitter.origin = origin
    switch event {
    case .socket(let socket):
      markShown(index)
      emitter.writeSocket(socket)
    case .call(let call):
      markShown(index)
      emitter.writeCall(call)
    case .inheritedCall:
      markShown(index)  // written with the socket it was made on
    case .fork(let fork):
      instant(of: index) { $0.writeFork(fork, pid: pid) }
    case .exec(let exec):
      instant(of: index) { $0.writeExec(exec, pid: pid) }
    }
  }

  public func exited(_ index: Int, pid: UInt32, exit: ProcessExit, origin: UInt64) {
    guard index < selected.count, selected[index] else { return }
    emitter.origin = origin
    instant(of: index) { $0.writeExit(exit, pid: pid) }
  }

  /// Writes the metadata of `timeline`'s processes (those shown: chosen
  /// already by pid and hiding) and closes the JSON.
  public func finish(_ timeline: Timeline) {
    emitter.writeMetadata(timeline)
    emitter.out.appendRaw("\n],\"displayTimeUnit\":\"ns\"}\n")
  }

  /// The bytes written and not taken yet.
  public var bufferedBytes: Int { emitter.out.count }

  /// Hands over the bytes written so far.
  public func drain(_ body: (UnsafeRawBufferPointer) -> Void) {
    emitter.out.withUnsafeBytes(body)
    emitter.out.removeAll()
  }

  /// A process instant: at once for a process shown, else kept until it is.
  private func instant(of index: Int, _ body: (inout Emitter) -> Void) {
    if shown[index] {
      body(&emitter)
      return
    }
    guard pendingCounts[index, default: 0] < Self.maxPendingEvents else {
      droppedInstants += 1
      return
    }
    pendingCounts[index, default: 0] += 1
    let mark = emitter.out.count
    let wasFirst = emitter.first
    emitter.first = false  // each kept instant starts with ",\n"
    body(&emitter)
    emitter.out.withUnsafeBytes { bytes in pending[index, default: []].append(contentsOf: bytes[mark...]) }
    emitter.out.truncate(to: mark)
    emitter.first = wasFirst
  }

  /// The process touched a socket: it and its ancestors are shown, their
  /// waiting instants written.
  private func markShown(_ index: Int) {
    var walk: Int? = index
    var steps = 0
    while let at = walk, at < shown.count, !shown[at], steps <= shown.count {
      shown[at] = true
      if let bytes = pending.removeValue(forKey: at) {
        // Each kept instant starts with ",\n": the first event of all has no comma.
        let rest = emitter.first ? bytes.dropFirst() : bytes[...]
        emitter.first = false
        rest.withUnsafeBytes { emitter.out.append($0) }
      }
      pendingCounts[at] = nil
      walk = parents[at]
      steps += 1
    }
  }
}

private struct Emitter: ~Copyable {
  var out: JSONBuffer
  var first = true
  /// Nanoseconds at ts 0 (the recording's first record): anything earlier is clamped to it.
  var origin: UInt64 = 0
  /// Flow arrows between the two ends of a local connection: whichever end
  /// is written first waits here for the other (by the connect's inode or
  /// own address, and the accept's peer inode or peer address).
  var connectsByInode: [UInt64: RecordedCall] = [:]
  var connectsByLocal: [[UInt8]: RecordedCall] = [:]
  var acceptsByPeerInode: [UInt64: RecordedSocket] = [:]
  var acceptsByPeer: [[UInt8]: RecordedSocket] = [:]

  init(out: consuming JSONBuffer) {
    self.out = out
  }

  mutating func writeFork(_ fork: TimelineFork, pid: UInt32) {
    begin("i", name: Array("fork → pid \(fork.childPID)".utf8), pid: pid, tid: fork.tid)
    appendTime("ts", fork.timestamp)
    out.appendRaw(",\"s\":\"t\",\"cat\":\"process\"")
    out.appendKey("args")
    out.appendKey("child_pid", first: true)
    out.appendUInt(UInt64(fork.childPID))
    out.appendRaw("}}")
  }

  mutating func writeExit(_ exit: ProcessExit, pid: UInt32) {
    let name = exit.signal != 0 ? "killed by " + TimelineText.signalName(exit.signal) : "exit \(exit.exitCode)"
    begin("i", name: Array(name.utf8), pid: pid, tid: exit.tid)
    appendTime("ts", exit.timestamp)
    out.appendRaw(",\"s\":\"p\",\"cat\":\"process\"")
    out.appendKey("args")
    out.appendKey("exit_code", first: true)
    out.appendInt(exit.exitCode)
    out.appendKey("signal")
    out.appendInt(exit.signal)
    out.appendRaw("}}")
  }

  // MARK: events

  /// Starts an event object: `{"ph":"X","name":...,"pid":N,"tid":N`. The caller adds the rest and `}`.
  mutating func begin(_ phase: StaticString, name: [UInt8], pid: UInt32, tid: UInt32) {
    out.appendRaw(first ? "\n" : ",\n")
    first = false
    out.appendKey("ph", first: true)
    out.append(UInt8(ascii: "\""))
    out.appendRaw(phase)
    out.append(UInt8(ascii: "\""))
    out.appendKey("name")
    out.appendString(name)
    out.appendKey("pid")
    out.appendUInt(UInt64(pid))
    out.appendKey("tid")
    out.appendUInt(UInt64(tid))
  }

  mutating func writeMetadata(_ timeline: Timeline) {
    // Tree order (parents before children) for the process tracks.
    var order: [Int] = []
    var seen = Set<Int>()
    var stack = timeline.roots.reversed().map { $0 }
    while let index = stack.popLast() {
      guard seen.insert(index).inserted else { continue }
      order.append(index)
      stack.append(contentsOf: timeline.processes[index].children.reversed())
    }
    order += timeline.processes.indices.filter { !seen.contains($0) }

    var pids: [UInt32] = []
    var names: [UInt32: [UInt8]] = [:]
    var threads: [UInt32: [ThreadName]] = [:]
    for index in order {
      let process = timeline.processes[index]
      if var name = names[process.pid] {
        // A reused pid: every process that held it, in order.
        name += Array(" → ".utf8) + process.comm
        names[process.pid] = name
      } else {
        pids.append(process.pid)
        names[process.pid] = process.comm
      }
      for thread in process.threads {
        var list = threads[process.pid] ?? []
        if let at = list.firstIndex(where: { $0.tid == thread.tid }) {
          list[at] = thread
        } else {
          list.append(thread)
        }
        threads[process.pid] = list
      }
    }
    for (sortIndex, pid) in pids.enumerated() {
      begin("M", name: Array("process_name".utf8), pid: pid, tid: pid)
      out.appendKey("args")
      out.appendKey("name", first: true)
      out.appendString(names[pid] ?? [])
      out.appendRaw("}}")
      begin("M", name: Array("process_sort_index".utf8), pid: pid, tid: pid)
      out.appendKey("args")
      out.appendKey("sort_index", first: true)
      out.appendUInt(UInt64(sortIndex))
      out.appendRaw("}}")
      for thread in threads[pid] ?? [] {
        begin("M", name: Array("thread_name".utf8), pid: pid, tid: thread.tid)
        out.appendKey("args")
        out.appendKey("name", first: true)
        out.appendString(thread.comm)
        out.appendRaw("}}")
      }
    }
  }

  mutating func writeExec(_ exec: RecordedExec, pid: UInt32) {
    begin("i", name: Array("exec ".utf8) + exec.exe, pid: pid, tid: exec.header.tid)
    appendTime("ts", exec.header.timestamp)
    out.appendRaw(",\"s\":\"t\",\"cat\":\"process\"")
    out.appendKey("args")
    out.appendKey("exe", first: true)
    out.appendString(exec.exe)
    out.appendKey("argv")
    out.appendStringArray(exec.argv)
    out.appendRaw("}}")
  }

  mutating func writeSocket(_ socket: TimelineSocket) {
    let record = socket.record
    let pid = record.header.pid
    let tid = record.header.tid
    var name = Array(record.source.kind.name.utf8) + Array(" ".utf8) + Array(record.family.utf8)
    if let error = record.error {
      name += Array(" ✗ ".utf8) + Array(error.utf8)
    } else {
      name += Array(" ".utf8) + Array(record.type.utf8)
    }
    let end = record.header.timestamp
    let start = min(max(socket.callStart, origin), end)
    begin("X", name: name, pid: pid, tid: tid)
    out.appendRaw(",\"cat\":\"socket\"")
    appendTime("ts", start)
    appendDuration(end - start)
    if !record.succeeded { out.appendRaw(",\"cname\":\"terrible\"") }
    appendSocketArgs(record)
    out.append(UInt8(ascii: "}"))

    if let stages = record.stages {
      // sock_map_fd ends at the call's return; sock_create ends where sock_map_fd begins.
      let mapStart = max(start, end &- min(stages.sockMapFD, end))
      let createStart = max(start, mapStart &- min(stages.sockCreate, mapStart))
      writeStage("sock_create", from: createStart, to: mapStart, record: record, pid: pid, tid: tid)
      if record.failedStage != .sockCreate && record.failedStage != .sysSocket {
        writeStage("sock_map_fd", from: mapStart, to: end, record: record, pid: pid, tid: tid)
      }
    }

    for call in socket.calls { writeCall(call) }
    if record.source == .accept, record.succeeded, record.inode != nil, record.peerPID != nil {
      if let connect = record.peerInode.flatMap({ connectsByInode.removeValue(forKey: $0) })
        ?? record.peerAddress.flatMap({ connectsByLocal.removeValue(forKey: $0) })
      {
        writeFlow(from: connect, to: record)
      } else if let peer = record.peerInode {
        acceptsByPeerInode[peer] = record  // its connect is still to come
      } else if let peer = record.peerAddress {
        acceptsByPeer[peer] = record
      }
    }
    // The span is named by what the socket talked to: its peer, where it
    // connected, else where it was bound.
    let address =
      record.peerAddress ?? socket.calls.first { $0.kind == .connect && $0.address != nil }?.address
      ?? socket.calls.first { $0.kind == .bind && $0.address != nil }?.address
    for (lifetime, fd, isPeer) in [(socket.lifetime, record.fd, false), (socket.peerLifetime, record.peerFD, true)] {
      if let lifetime {
        writeLifetime(lifetime, record: record, fd: fd, isPeer: isPeer, address: isPeer ? nil : address)
      }
    }
  }

  /// bind, connect, listen, shutdown as slices on the calling thread; how a
  /// non-blocking connect ended as an instant.
  mutating func writeCall(_ call: RecordedCall) {
    if call.kind == .connect, call.peerPID != nil {
      if let accept = call.inode.flatMap({ acceptsByPeerInode.removeValue(forKey: $0) })
        ?? call.localAddress.flatMap({ acceptsByPeer.removeValue(forKey: $0) })
      {
        writeFlow(from: call, to: accept)
      } else {
        if let inode = call.inode { connectsByInode[inode] = call }
        if let local = call.localAddress { connectsByLocal[local] = call }
      }
    }
    var name = Array(call.kind.name.utf8)
    if let address = call.address { name += Array(" ".utf8) + address }
    if let error = call.error { name += Array(" ✗ ".utf8) + Array(error.utf8) }
    let end = call.header.timestamp
    if call.kind == .connectResult {
      name = Array((call.established == true ? "connect established" : "connect failed").utf8)
      if let error = call.error { name += Array(" ".utf8) + Array(error.utf8) }
      begin("i", name: name, pid: call.header.pid, tid: call.header.tid)
      out.appendRaw(",\"s\":\"t\",\"cat\":\"call\"")
      appendTime("ts", end)
    } else {
      begin("X", name: name, pid: call.header.pid, tid: call.header.tid)
      out.appendRaw(",\"cat\":\"call\"")
      let start = min(max(end >= call.duration ? end - call.duration : 0, origin), end)
      appendTime("ts", start)
      appendDuration(end - start)
      if !call.succeeded && call.error != "EINPROGRESS" { out.appendRaw(",\"cname\":\"terrible\"") }
    }
    out.appendKey("args")
    out.appendKey("inode", first: true)
    appendOptional(call.inode)
    out.appendKey("fd")
    appendOptional(call.fd)
    if let port = call.port {
      out.appendKey("port")
      out.appendInt(port)
    }
    if call.kind == .connectResult {
      out.appendKey("duration_ns")
      out.appendUInt(call.duration)
    }
    out.appendRaw("}}")
  }

  /// A flow arrow from the client's connect to the server's accept.
  mutating func writeFlow(from connect: RecordedCall, to accept: RecordedSocket) {
    let id = accept.inode ?? 0
    let name = Array("connection".utf8)
    begin("s", name: name, pid: connect.header.pid, tid: connect.header.tid)
    out.appendRaw(",\"cat\":\"peer\"")
    out.appendKey("id")
    out.appendUInt(id)
    appendTime("ts", connect.header.timestamp >= connect.duration ? connect.header.timestamp - connect.duration : 0)
    out.append(UInt8(ascii: "}"))
    begin("f", name: name, pid: accept.header.pid, tid: accept.header.tid)
    out.appendRaw(",\"cat\":\"peer\",\"bp\":\"e\"")
    out.appendKey("id")
    out.appendUInt(id)
    appendTime("ts", accept.header.timestamp)
    out.append(UInt8(ascii: "}"))
  }

  mutating func writeStage(
    _ stage: StaticString, from start: UInt64, to end: UInt64, record: RecordedSocket, pid: UInt32, tid: UInt32
  ) {
    var stageName: [UInt8] = []
    stage.withUTF8Buffer { stageName.append(contentsOf: $0) }
    let failed = record.failedStage.map { Array($0.rawValue.utf8) == stageName } ?? false
    begin("X", name: stageName, pid: pid, tid: tid)
    out.appendRaw(",\"cat\":\"stage\"")
    appendTime("ts", start)
    appendDuration(end - start)
    if failed {
      out.appendRaw(",\"cname\":\"terrible\"")
      out.appendKey("args")
      out.appendKey("error", first: true)
      out.appendString(Array((record.error ?? "").utf8))
      out.append(UInt8(ascii: "}"))
    }
    out.append(UInt8(ascii: "}"))
  }

  mutating func writeLifetime(
    _ lifetime: SocketLifetime, record: RecordedSocket, fd: Int64?, isPeer: Bool, address: [UInt8]?
  ) {
    var name = Array(record.family.utf8) + Array(" ".utf8) + Array(record.type.utf8)
    if let fd { name += Array(" fd \(fd)".utf8) }
    if isPeer { name += Array(" (peer)".utf8) }
    if let address { name += Array(" ↔ ".utf8) + address }
    let pid = record.header.pid
    let tid = record.header.tid

    begin("b", name: name, pid: pid, tid: tid)
    out.appendRaw(",\"cat\":\"socket\"")
    out.appendKey("id")
    out.appendUInt(lifetime.inode)
    appendTime("ts", lifetime.birth)
    out.appendKey("args")
    out.appendKey("inode", first: true)
    out.appendUInt(lifetime.inode)
    out.appendKey("fd")
    appendOptional(fd)
    if let address {
      out.appendKey("address")
      out.appendString(address)
    }
    out.appendRaw("}}")

    begin("e", name: name, pid: pid, tid: tid)
    out.appendRaw(",\"cat\":\"socket\"")
    out.appendKey("id")
    out.appendUInt(lifetime.inode)
    appendTime("ts", max(lifetime.end, lifetime.birth))
    out.appendKey("args")
    out.appendKey("end", first: true)
    switch lifetime.ending {
    case .released(let how, let byPID):
      out.appendString(Array((how == .release ? "released" : "released at \(how.rawValue)").utf8))
      out.appendKey("by_pid")
      out.appendUInt(UInt64(byPID))
    case .processExit: out.appendRaw("\"process exit (no release seen)\"")
    case .inodeReused: out.appendRaw("\"inode reused (no release seen)\"")
    case .openAtEnd: out.appendRaw("\"open at end of recording\"")
    }
    out.appendKey("lifetime_ns")
    out.appendUInt(lifetime.duration)
    out.appendRaw("}}")
  }

  mutating func appendSocketArgs(_ record: RecordedSocket) {
    out.appendKey("args")
    out.appendKey("family", first: true)
    out.appendString(Array(record.family.utf8))
    out.appendKey("type")
    out.appendString(Array(record.type.utf8))
    out.appendKey("protocol")
    out.appendString(Array(record.protocol.utf8))
    if !record.flags.isEmpty {
      out.appendKey("flags")
      out.appendString(Array(record.flags.joined(separator: "|").utf8))
    }
    out.appendKey("fd")
    appendOptional(record.fd)
    out.appendKey("inode")
    appendOptional(record.inode)
    if record.source == .socketpair {
      out.appendKey("peer_fd")
      appendOptional(record.peerFD)
      out.appendKey("peer_inode")
      appendOptional(record.peerInode)
    }
    if record.source == .accept {
      out.appendKey("listen_fd")
      appendOptional(record.listenFD)
      out.appendKey("listen_inode")
      appendOptional(record.listenInode)
    }
    out.appendKey("kernel")
    out.appendBool(record.isKernel)
    out.appendKey("error")
    if let error = record.error { out.appendString(Array(error.utf8)) } else { out.appendNull() }
    out.appendKey("failed_stage")
    if let stage = record.failedStage { out.appendString(Array(stage.rawValue.utf8)) } else { out.appendNull() }
    out.appendKey("duration_ns")
    out.appendUInt(record.duration)
    if let stages = record.stages {
      out.appendKey("sock_create_ns")
      out.appendUInt(stages.sockCreate)
      out.appendKey("sock_map_fd_ns")
      out.appendUInt(stages.sockMapFD)
    }
    out.appendKey("ts_ns")
    out.appendUInt(record.header.timestamp)
    if let probe = record.probe {
      out.appendKey("probe")
      out.appendString(Array(probe.rawValue.utf8))
    }
    out.append(UInt8(ascii: "}"))
  }

  // MARK: numbers

  /// `,"key":12.345`: microseconds since the origin, exact.
  mutating func appendTime(_ key: StaticString, _ timestamp: UInt64) {
    out.appendKey(key)
    appendMicroseconds(timestamp >= origin ? timestamp - origin : 0)
  }

  mutating func appendDuration(_ nanoseconds: UInt64) {
    out.appendKey("dur")
    appendMicroseconds(nanoseconds)
  }

  mutating func appendMicroseconds(_ nanoseconds: UInt64) {
    out.appendUInt(nanoseconds / 1000)
    out.append(UInt8(ascii: "."))
    out.appendDigits(nanoseconds % 1000, width: 3)
  }

  mutating func appendOptional(_ value: Int64?) {
    if let value { out.appendInt(value) } else { out.appendNull() }
  }

  mutating func appendOptional(_ value: UInt64?) {
    if let value { out.appendUInt(value) } else { out.appendNull() }
  }
}
