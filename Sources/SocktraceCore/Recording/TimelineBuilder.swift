/// Joins a recording's records, fed one by one in time order, into
/// per-process timelines.
///
/// - A process is a pid from its start to its `exit`: a record for the pid
///   after its exit starts a new process (pids are reused). A process starts
///   at its `fork` record (made by its parent), else its `exec`, else its
///   first record.
/// - The tree: a `fork` record links parent and child; otherwise the child's
///   `ppid`, to the process with that pid alive when the child started.
/// - A socket lives from its birth to the `release` of its inode, whoever
///   releases it; with none, to its process's exit; with neither, it is open
///   at the end. A socketpair's two sockets have a lifetime each.
/// - `bind`, `connect`, `connect_result`, `listen`, `shutdown` records join
///   the socket of their inode, alive then; made by another process (one
///   that inherited the socket, or received it), they are also an event of
///   that process (`inheritedCall`). One whose socket was born before the
///   recording is an event of its process of its own. An `accept` counts on
///   its listener.
/// - `release` records only end sockets: they never start a process.
///
/// Memory is bounded by what is alive, not by the recording's length: a
/// process keeps its first `maxEventsPerProcess` events (the rest are
/// counted in `ProcessTimeline.hidden`), and a socket is held from its birth
/// until its story ends. With a `sink` every event is also handed on as soon
/// as it is complete (a socket at its end), which is how the Chrome trace
/// streams every event of any recording.
public struct TimelineBuilder {
  /// Events kept per process for the text view; `socktrace timeline --max-events` changes it.
  public static let defaultMaxEvents = 1000
  /// Thread names kept per process (the Chrome trace's thread tracks); a
  /// thread past them still has its events, on a track named by its tid.
  public static let maxThreadsPerProcess = 4096

  public let maxEventsPerProcess: Int
  public var sink: (any TimelineSink)?

  private var processes: [ProcessTimeline] = []
  /// pid -> the process now holding it (not yet exited).
  private var current: [UInt32: Int] = [:]
  /// Sockets whose story is not over, by id.
  private var live: [Int: LiveSocket] = [:]
  private var nextSocket = 0
  /// inode -> the live socket now holding it.
  private var open: [UInt64: SocketPart] = [:]
  /// (process, tid) -> the thread's index in the process's `threads`.
  private var threadSlots: [ThreadKey: Int] = [:]
  private var unmatchedReleases = 0
  private var start: RecordedStart?
  private var end: RecordedEnd?
  private var firstTimestamp: UInt64?
  private var lastTimestamp: UInt64 = 0

  private struct SocketPart {
    var socket: Int
    var isPeer: Bool
  }

  private struct ThreadKey: Hashable {
    var process: Int
    var tid: UInt32
  }

  private struct LiveSocket {
    var process: Int
    var socket: TimelineSocket
    /// Where it sits in its process's events, when kept there.
    var slot: Int?
    /// Inodes not yet ended (2 for a socketpair).
    var openParts: Int
  }

  public init(maxEventsPerProcess: Int = defaultMaxEvents, sink: (any TimelineSink)? = nil) {
    self.maxEventsPerProcess = max(0, maxEventsPerProcess)
    self.sink = sink
  }

  /// A recording read whole (tests, small files).
  public static func build(_ recording: Recording, maxEventsPerProcess: Int = defaultMaxEvents) -> Timeline {
    var builder = TimelineBuilder(maxEventsPerProcess: maxEventsPerProcess)
    for record in recording.records { builder.add(record) }
    return builder.finish()
  }

  /// The time every Chrome trace `ts` counts from: the first record's.
  public var origin: UInt64 { firstTimestamp ?? 0 }

  public mutating func add(_ record: RecordedEvent) {
    let timestamp = record.timestamp
    if firstTimestamp == nil { firstTimestamp = timestamp }
    lastTimestamp = max(lastTimestamp, timestamp)
    switch record {
    case .start(let start): if self.start == nil { self.start = start }
    case .end(let end): self.end = end
    case .socket(let socket): addSocket(socket)
    case .release(let release): addRelease(release)
    case .call(let call): addCall(call)
    case .fork(let fork): addFork(fork)
    case .exec(let exec):
      let index = process(for: exec.header, startedBy: .exec)
      processes[index].exe = exec.exe
      processes[index].argv = exec.argv
      processes[index].argvTruncated = exec.argvTruncated
      processes[index].comm = exec.header.comm  // exec renames the task
      append(.exec(exec), to: index)
    case .exit(let exit):
      let index = process(for: exit.header, startedBy: .firstRecord)
      let ended = ProcessExit(
        timestamp: exit.header.timestamp, tid: exit.header.tid, exitCode: exit.exitCode, signal: exit.signal)
      processes[index].exit = ended
      current[exit.header.pid] = nil
      sink?.exited(index, pid: processes[index].pid, exit: ended, origin: origin)
    }
  }

  /// The process a record belongs to, started by this record if none holds its pid.
  private mutating func process(for header: RecordedHeader, startedBy: ProcessStart) -> Int {
    let index: Int
    if let existing = current[header.pid] {
      index = existing
      if header.tid == header.pid { processes[index].comm = header.comm }
    } else {
      index = processes.count
      processes.append(
        ProcessTimeline(
          pid: header.pid, ppid: header.ppid, comm: header.comm, start: header.timestamp, startedBy: startedBy))
      current[header.pid] = index
      // No fork record placed it (yet): its parent is the process holding its ppid now.
      let parent = header.ppid != header.pid ? current[header.ppid] : nil
      sink?.processStarted(index, pid: header.pid, parent: nil)
      if let parent { link(child: index, to: parent) }
    }
    nameThread(index, tid: header.tid, comm: header.comm)
    if header.container != nil { processes[index].container = header.container }
    if header.podUID != nil { processes[index].podUID = header.podUID }
    return index
  }

  private mutating func nameThread(_ index: Int, tid: UInt32, comm: [UInt8]) {
    let key = ThreadKey(process: index, tid: tid)
    if let thread = threadSlots[key] {
      if processes[index].threads[thread].comm != comm { processes[index].threads[thread].comm = comm }
    } else if processes[index].threads.count < Self.maxThreadsPerProcess {
      threadSlots[key] = processes[index].threads.count
      processes[index].threads.append(ThreadName(tid: tid, comm: comm))
    }
  }

  /// Keeps an event in its process while there is room, else counts it;
  /// hands it to the sink either way. Returns where it was kept.
  @discardableResult
  private mutating func append(_ event: TimelineEvent, to index: Int, handOn: Bool = true) -> Int? {
    var slot: Int?
    if processes[index].events.count < maxEventsPerProcess {
      slot = processes[index].events.count
      processes[index].events.append(event)
    } else {
      processes[index].hidden.count(event)
    }
    if handOn { sink?.event(event, process: index, pid: processes[index].pid, origin: origin) }
    return slot
  }

  private mutating func addFork(_ fork: RecordedFork) {
    let parent = process(for: fork.header, startedBy: .firstRecord)
    let child: Int
    if let existing = current[fork.childPID], processes[existing].startedBy == .firstRecord,
      processes[existing].parent == nil || processes[existing].parent == parent,
      processes[existing].ppid == fork.header.pid
    {
      // The child's own records came before its fork record: the same process.
      child = existing
      processes[child].startedBy = .fork
      processes[child].start = min(processes[child].start, fork.header.timestamp)
    } else {
      child = processes.count
      processes.append(
        ProcessTimeline(
          pid: fork.childPID, ppid: fork.header.pid, comm: processes[parent].comm, start: fork.header.timestamp,
          startedBy: .fork))
      current[fork.childPID] = child
      sink?.processStarted(child, pid: fork.childPID, parent: nil)
      nameThread(child, tid: fork.childTID, comm: processes[parent].comm)
    }
    link(child: child, to: parent)
    append(
      .fork(
        TimelineFork(timestamp: fork.header.timestamp, tid: fork.header.tid, childPID: fork.childPID, child: child)),
      to: parent)
  }

  private mutating func addSocket(_ record: RecordedSocket) {
    let index = process(for: record.header, startedBy: .firstRecord)
    processes[index].socketCount += 1
    if !record.succeeded { processes[index].failedCount += 1 }
    if record.succeeded, record.source == .accept, let listener = record.listenInode { countAccept(listener: listener) }
    let socket = TimelineSocket(record: record)
    var inodes: [(UInt64, Bool)] = []
    if record.succeeded {
      if let inode = record.inode, inode != 0 { inodes.append((inode, false)) }
      if record.source == .socketpair, let inode = record.peerInode, inode != 0 { inodes.append((inode, true)) }
    }
    guard !inodes.isEmpty else {
      // Failed, or no inode seen: its story is whole already.
      append(.socket(socket), to: index)
      return
    }
    let slot = append(.socket(socket), to: index, handOn: false)
    let id = nextSocket
    nextSocket += 1
    live[id] = LiveSocket(process: index, socket: socket, slot: slot, openParts: inodes.count)
    for (inode, isPeer) in inodes {
      born(inode, as: SocketPart(socket: id, isPeer: isPeer), time: record.header.timestamp)
    }
  }

  private mutating func addCall(_ call: RecordedCall) {
    let index = process(for: call.header, startedBy: .firstRecord)
    processes[index].callCount += 1
    guard let inode = call.inode, let part = open[inode], var socket = live[part.socket] else {
      append(.call(call), to: index)
      return
    }
    // In the order the calls were made: a handshake that ended inside its
    // connect(2) has the earlier ts_ns, but it follows the connect.
    let key = { (call: RecordedCall) in (call.callStart, call.kind == .connectResult ? 1 : 0) }
    let position = socket.socket.calls.firstIndex { key($0) > key(call) } ?? socket.socket.calls.endIndex
    socket.socket.calls.insert(call, at: position)
    live[part.socket] = socket
    if socket.process != index {
      // A socket it inherited or received: the call is part of its own story too.
      append(.inheritedCall(call, owner: processes[socket.process].pid), to: index)
    }
  }

  /// An accepted connection counts on its listener, while the listener lives.
  private mutating func countAccept(listener inode: UInt64) {
    guard let part = open[inode], !part.isPeer else { return }
    live[part.socket]?.socket.accepted += 1
  }

  private mutating func born(_ inode: UInt64, as part: SocketPart, time: UInt64) {
    if let previous = open[inode], let owner = live[previous.socket]?.process {
      // Never released, yet the inode is back: the old socket was gone by now.
      let exited = processes[owner].exit.map { $0.timestamp <= time } ?? false
      end(inode, part: previous, ending: exited ? .processExit : .inodeReused, time: time)
    }
    open[inode] = part
  }

  private mutating func addRelease(_ release: RecordedRelease) {
    guard let part = open[release.inode] else {
      unmatchedReleases += 1
      return
    }
    end(
      release.inode, part: part, ending: .released(how: release.how, pid: release.header.pid),
      time: release.header.timestamp)
  }

  /// Sets the lifetime of one inode of a live socket; the socket's story is
  /// complete once each of its inodes ended. For `.processExit` the end is
  /// the exit's time, whatever `time` says.
  private mutating func end(_ inode: UInt64, part: SocketPart, ending: SocketLifetime.Ending, time: UInt64) {
    open[inode] = nil
    guard var socket = live[part.socket] else { return }
    var endTime = time
    if ending == .processExit, let exit = processes[socket.process].exit { endTime = exit.timestamp }
    let lifetime = SocketLifetime(inode: inode, birth: socket.socket.timestamp, end: endTime, ending: ending)
    if part.isPeer {
      socket.socket.peerLifetime = lifetime
    } else {
      socket.socket.lifetime = lifetime
    }
    socket.openParts -= 1
    guard socket.openParts <= 0 else {
      live[part.socket] = socket
      return
    }
    live[part.socket] = nil
    if let slot = socket.slot { processes[socket.process].events[slot] = .socket(socket.socket) }
    sink?.event(
      .socket(socket.socket), process: socket.process, pid: processes[socket.process].pid, origin: origin)
  }

  /// Whether `ancestor` is `index` or above it in the tree.
  private func isAncestor(_ ancestor: Int, of index: Int) -> Bool {
    var walk: Int? = index
    var steps = 0
    while let at = walk, steps <= processes.count {
      if at == ancestor { return true }
      walk = processes[at].parent
      steps += 1
    }
    return false
  }

  private mutating func link(child: Int, to parent: Int) {
    guard processes[child].parent == nil, !isAncestor(child, of: parent) else { return }
    processes[child].parent = parent
    processes[parent].children.append(child)
    sink?.linked(child, to: parent)
  }

  /// Ends what is still open and returns the timelines.
  public mutating func finish() -> Timeline {
    let first = firstTimestamp ?? 0
    let last = end?.timestamp ?? max(lastTimestamp, first)

    // Sockets never released: to their process's exit, or open at the end
    // (in birth order, so a sink writes them the same way every time).
    let remaining = open.sorted {
      ($0.value.socket, $0.value.isPeer ? 1 : 0) < ($1.value.socket, $1.value.isPeer ? 1 : 0)
    }
    for (inode, part) in remaining {
      guard let owner = live[part.socket]?.process else { continue }
      if processes[owner].exit != nil {
        end(inode, part: part, ending: .processExit, time: last)
      } else {
        end(inode, part: part, ending: .openAtEnd, time: max(last, processes[owner].start))
      }
    }
    open = [:]

    let starts = processes.map(\.start)
    let byStart = { (a: Int, b: Int) in (starts[a], a) < (starts[b], b) }
    for index in processes.indices { processes[index].children.sort(by: byStart) }
    let roots = processes.indices.filter { processes[$0].parent == nil }.sorted(by: byStart)
    return Timeline(
      processes: processes, roots: roots, start: start, end: end, firstTimestamp: first,
      lastTimestamp: last, unmatchedReleases: unmatchedReleases)
  }
}

/// Where a `TimelineBuilder` hands each event once it is complete: a socket
/// when its story ends, forks, execs and calls as they come, exits. The
/// Chrome trace writes them as they arrive.
public protocol TimelineSink: AnyObject {
  func processStarted(_ index: Int, pid: UInt32, parent: Int?)
  func linked(_ child: Int, to parent: Int)
  func event(_ event: TimelineEvent, process index: Int, pid: UInt32, origin: UInt64)
  func exited(_ index: Int, pid: UInt32, exit: ProcessExit, origin: UInt64)
}
