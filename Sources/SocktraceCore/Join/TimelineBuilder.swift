/// Joins a recording's records into per-process timelines.
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
///   the socket of their inode, alive then; one whose socket was born before
///   the recording is an event of its process of its own. An `accept` counts
///   on its listener.
/// - `release` records only end sockets: they never start a process.
public enum TimelineBuilder {
  public static func build(_ recording: Recording) -> Timeline {
    var builder = Builder()
    for record in recording.records { builder.add(record) }
    return builder.finish(recording)
  }
}

private struct Builder {
  var processes: [ProcessTimeline] = []
  /// pid -> the process now holding it (not yet exited).
  var current: [UInt32: Int] = [:]
  /// inode -> where the birth of the socket now holding it is.
  var open: [UInt64: SocketPlace] = [:]
  var unmatchedReleases = 0

  struct SocketPlace {
    var process: Int
    var event: Int
    var isPeer: Bool
  }

  mutating func add(_ record: RecordedEvent) {
    switch record {
    case .start, .end: break
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
      processes[index].events.append(.exec(exec))
    case .exit(let exit):
      let index = process(for: exit.header, startedBy: .firstRecord)
      processes[index].exit = ProcessExit(
        timestamp: exit.header.timestamp, tid: exit.header.tid, exitCode: exit.exitCode, signal: exit.signal)
      current[exit.header.pid] = nil
    }
  }

  /// The process a record belongs to, started by this record if none holds its pid.
  mutating func process(for header: RecordedHeader, startedBy: ProcessStart) -> Int {
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
    }
    nameThread(index, tid: header.tid, comm: header.comm)
    if header.container != nil { processes[index].container = header.container }
    if header.podUID != nil { processes[index].podUID = header.podUID }
    return index
  }

  mutating func nameThread(_ index: Int, tid: UInt32, comm: [UInt8]) {
    if let thread = processes[index].threads.firstIndex(where: { $0.tid == tid }) {
      processes[index].threads[thread].comm = comm
    } else {
      processes[index].threads.append(ThreadName(tid: tid, comm: comm))
    }
  }

  mutating func addFork(_ fork: RecordedFork) {
    let parent = process(for: fork.header, startedBy: .firstRecord)
    let child: Int
    if let existing = current[fork.childPID], processes[existing].startedBy == .firstRecord,
      processes[existing].parent == nil, processes[existing].ppid == fork.header.pid
    {
      // The child's own records sorted before its fork record: the same process.
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
      nameThread(child, tid: fork.childTID, comm: processes[parent].comm)
    }
    link(child: child, to: parent)
    processes[parent].events.append(
      .fork(TimelineFork(timestamp: fork.header.timestamp, tid: fork.header.tid, childPID: fork.childPID, child: child))
    )
  }

  mutating func addSocket(_ record: RecordedSocket) {
    let index = process(for: record.header, startedBy: .firstRecord)
    let event = processes[index].events.count
    processes[index].events.append(.socket(TimelineSocket(record: record)))
    guard record.succeeded else { return }
    if record.source == .accept, let listener = record.listenInode { countAccept(listener: listener) }
    if let inode = record.inode, inode != 0 {
      born(inode, at: SocketPlace(process: index, event: event, isPeer: false), time: record.header.timestamp)
    }
    if record.source == .socketpair, let inode = record.peerInode, inode != 0 {
      born(inode, at: SocketPlace(process: index, event: event, isPeer: true), time: record.header.timestamp)
    }
  }

  mutating func addCall(_ call: RecordedCall) {
    if let inode = call.inode, let place = open[inode],
      case .socket(var socket) = processes[place.process].events[place.event]
    {
      // In the order the calls were made: a handshake that ended inside its
      // connect(2) has the earlier ts_ns, but it follows the connect.
      let key = { (call: RecordedCall) in (call.callStart, call.kind == .connectResult ? 1 : 0) }
      let position = socket.calls.firstIndex { key($0) > key(call) } ?? socket.calls.endIndex
      socket.calls.insert(call, at: position)
      processes[place.process].events[place.event] = .socket(socket)
      return
    }
    let index = process(for: call.header, startedBy: .firstRecord)
    processes[index].events.append(.call(call))
  }

  /// An accepted connection counts on its listener, while the listener lives.
  mutating func countAccept(listener inode: UInt64) {
    guard let place = open[inode], !place.isPeer,
      case .socket(var socket) = processes[place.process].events[place.event]
    else { return }
    socket.accepted += 1
    processes[place.process].events[place.event] = .socket(socket)
  }

  mutating func born(_ inode: UInt64, at place: SocketPlace, time: UInt64) {
    if let previous = open[inode] {
      // Never released, yet the inode is back: the old socket was gone by now.
      let exited = processes[previous.process].exit.map { $0.timestamp <= time } ?? false
      end(inode, at: previous, ending: exited ? .processExit : .inodeReused, time: time)
    }
    open[inode] = place
  }

  mutating func addRelease(_ release: RecordedRelease) {
    guard let place = open.removeValue(forKey: release.inode) else {
      unmatchedReleases += 1
      return
    }
    end(
      release.inode, at: place, ending: .released(how: release.how, pid: release.header.pid),
      time: release.header.timestamp)
  }

  /// Sets the lifetime of the socket at `place`. For `.processExit` the end is
  /// the exit's time, whatever `time` says.
  mutating func end(_ inode: UInt64, at place: SocketPlace, ending: SocketLifetime.Ending, time: UInt64) {
    guard case .socket(var socket) = processes[place.process].events[place.event] else { return }
    var endTime = time
    if ending == .processExit, let exit = processes[place.process].exit { endTime = exit.timestamp }
    let lifetime = SocketLifetime(inode: inode, birth: socket.timestamp, end: endTime, ending: ending)
    if place.isPeer {
      socket.peerLifetime = lifetime
    } else {
      socket.lifetime = lifetime
    }
    processes[place.process].events[place.event] = .socket(socket)
  }

  /// Whether `ancestor` is `index` or above it in the tree.
  func isAncestor(_ ancestor: Int, of index: Int) -> Bool {
    var walk: Int? = index
    var steps = 0
    while let at = walk, steps <= processes.count {
      if at == ancestor { return true }
      walk = processes[at].parent
      steps += 1
    }
    return false
  }

  mutating func link(child: Int, to parent: Int) {
    guard processes[child].parent == nil, !isAncestor(child, of: parent) else { return }
    processes[child].parent = parent
    processes[parent].children.append(child)
  }

  mutating func finish(_ recording: Recording) -> Timeline {
    let records = recording.records
    let first = records.first?.timestamp ?? 0
    let last = recording.end?.timestamp ?? records.last?.timestamp ?? first

    // Sockets never released: to their process's exit, or open at the end.
    for (inode, place) in open {
      if processes[place.process].exit != nil {
        end(inode, at: place, ending: .processExit, time: last)
      } else {
        end(inode, at: place, ending: .openAtEnd, time: max(last, processes[place.process].start))
      }
    }
    open = [:]

    // Parents by ppid for processes no fork record placed.
    var byPID: [UInt32: [Int]] = [:]
    for index in processes.indices { byPID[processes[index].pid, default: []].append(index) }
    for child in processes.indices where processes[child].parent == nil {
      let start = processes[child].start
      let candidates = (byPID[processes[child].ppid] ?? []).filter { candidate in
        candidate != child && processes[candidate].start <= start
          && (processes[candidate].exit.map { $0.timestamp >= start } ?? true)
      }
      if let parent = candidates.max(by: { (processes[$0].start, $0) < (processes[$1].start, $1) }) {
        link(child: child, to: parent)
      }
    }

    let starts = processes.map(\.start)
    let byStart = { (a: Int, b: Int) in (starts[a], a) < (starts[b], b) }
    for index in processes.indices { processes[index].children.sort(by: byStart) }
    let roots = processes.indices.filter { processes[$0].parent == nil }.sorted(by: byStart)
    return Timeline(
      processes: processes, roots: roots, start: recording.start, end: recording.end, firstTimestamp: first,
      lastTimestamp: last, unmatchedReleases: unmatchedReleases)
  }
}
