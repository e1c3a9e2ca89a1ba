/// Per-process socket timelines joined from a recording (`TimelineBuilder`):
/// for each process, when it was born, the sockets it created in order with
/// their stages, errors and lifetimes, its children, and when it ended.
///
/// Processes are values in `processes`; `parent`, `children` and fork events
/// refer to them by index. All times are boot-clock nanoseconds (`ts_ns`).
public struct Timeline: Sendable {
  /// In the order they were first seen.
  public var processes: [ProcessTimeline]
  /// Processes whose parent is not in the timeline, by start time.
  public var roots: [Int]
  public var start: RecordedStart?
  public var end: RecordedEnd?
  /// The earliest `ts_ns` in the recording: the origin of the Chrome trace.
  public var firstTimestamp: UInt64
  /// The `end` record's `ts_ns`, else the latest record's: where "open at end" stops.
  public var lastTimestamp: UInt64
  /// `release` records for sockets born before tracing began (nothing to end).
  public var unmatchedReleases: Int

  public init(
    processes: [ProcessTimeline], roots: [Int], start: RecordedStart?, end: RecordedEnd?,
    firstTimestamp: UInt64, lastTimestamp: UInt64, unmatchedReleases: Int = 0
  ) {
    self.processes = processes
    self.roots = roots
    self.start = start
    self.end = end
    self.firstTimestamp = firstTimestamp
    self.lastTimestamp = lastTimestamp
    self.unmatchedReleases = unmatchedReleases
  }

  /// Socket births in all processes (shown or not), and how many of them failed.
  public var socketCount: Int { processes.reduce(0) { $0 + $1.socketCount } }
  public var failedCount: Int { processes.reduce(0) { $0 + $1.failedCount } }

  /// Unix-epoch nanoseconds for a `ts_ns`, when the `start` record gave the offset.
  public func epochNanoseconds(_ timestamp: UInt64) -> UInt64? {
    start?.bootOffset.map { timestamp &+ $0 }
  }

  /// The processes with this pid (a reused pid is several processes) and,
  /// with `descendants`, everything they started. The chosen processes become
  /// roots; nothing else is kept.
  public func selecting(pid: UInt32, descendants: Bool) -> Timeline {
    var keep = Set<Int>()
    var queue = processes.indices.filter { processes[$0].pid == pid }
    while let index = queue.popLast() {
      guard keep.insert(index).inserted else { continue }
      if descendants { queue.append(contentsOf: processes[index].children) }
    }
    return keeping(keep)
  }

  /// Only the processes that touched a socket (made one, or called bind,
  /// connect, listen, shutdown on one, inherited sockets included), and
  /// their ancestors (so the tree still reads): a shell's 40 shims that made
  /// none go. Returns how many went.
  public func withoutSocketlessProcesses() -> (timeline: Timeline, hidden: Int) {
    var keep = Set<Int>()
    for index in processes.indices where processes[index].touchesSockets {
      var walk: Int? = index
      while let at = walk, keep.insert(at).inserted { walk = processes[at].parent }
    }
    return (keeping(keep), processes.count - keep.count)
  }

  /// The processes in `keep`, reindexed; those whose parent went become roots.
  func keeping(_ keep: Set<Int>) -> Timeline {
    let kept = processes.indices.filter { keep.contains($0) }
    var newIndex: [Int: Int] = [:]
    for (position, old) in kept.enumerated() { newIndex[old] = position }

    var selected: [ProcessTimeline] = []
    for old in kept {
      var process = processes[old]
      process.parent = process.parent.flatMap { newIndex[$0] }
      process.children = process.children.compactMap { newIndex[$0] }
      process.events = process.events.map { event in
        guard case .fork(var fork) = event else { return event }
        fork.child = fork.child.flatMap { newIndex[$0] }
        return .fork(fork)
      }
      selected.append(process)
    }
    let roots = selected.indices.filter { selected[$0].parent == nil }
      .sorted { (selected[$0].start, $0) < (selected[$1].start, $1) }
    return Timeline(
      processes: selected, roots: roots, start: start, end: end, firstTimestamp: firstTimestamp,
      lastTimestamp: lastTimestamp, unmatchedReleases: unmatchedReleases)
  }
}

/// One process: a pid from its start (fork, exec or first record) to its exit.
public struct ProcessTimeline: Sendable {
  public var pid: UInt32
  /// The parent's pid as first seen (fork records make it the forker).
  public var ppid: UInt32
  /// The main thread's latest command name (raw bytes, attacker-controlled).
  public var comm: [UInt8]
  /// The container (and Kubernetes pod) its cgroup names, as last seen.
  public var container: ContainerContext?
  public var podUID: String?
  /// From the latest exec, if one was seen.
  public var exe: [UInt8]?
  public var argv: [[UInt8]]?
  public var argvTruncated: Bool
  public var start: UInt64
  public var startedBy: ProcessStart
  public var exit: ProcessExit?
  /// Index of the parent process in the timeline.
  public var parent: Int?
  /// Indexes of child processes, by start time.
  public var children: [Int]
  /// Sockets, forks, execs (the one that started the process included) and
  /// calls, in time order: the first `TimelineBuilder.maxEventsPerProcess`.
  public var events: [TimelineEvent]
  /// The events past the cap, counted by kind.
  public var hidden = HiddenEvents()
  /// Socket births (kept in `events` or not), the failed ones, and calls on sockets.
  public var socketCount = 0
  public var failedCount = 0
  public var callCount = 0
  /// Each thread seen (the main thread included) with its latest comm, in first-seen order.
  public var threads: [ThreadName]

  public init(pid: UInt32, ppid: UInt32, comm: [UInt8], start: UInt64, startedBy: ProcessStart) {
    self.pid = pid
    self.ppid = ppid
    self.comm = comm
    self.argvTruncated = false
    self.start = start
    self.startedBy = startedBy
    self.children = []
    self.events = []
    self.threads = []
  }

  /// Whether this is the exec that started the process (the header shows it).
  public func isStartingExec(_ event: TimelineEvent) -> Bool {
    guard startedBy == .exec, case .exec(let exec) = event else { return false }
    return exec.header.timestamp == start
  }

  /// Whether it made a socket or called anything on one.
  public var touchesSockets: Bool { socketCount > 0 || callCount > 0 }

  /// The socket births kept in `events`, in order.
  public var sockets: [TimelineSocket] {
    events.compactMap { event in
      if case .socket(let socket) = event { return socket }
      return nil
    }
  }

  /// Nanoseconds since the process started (negative for a record before it).
  public func offset(_ timestamp: UInt64) -> Int64 {
    timestamp >= start ? Int64(clamping: timestamp - start) : -Int64(clamping: start - timestamp)
  }
}

/// Events a process had past the timeline's cap: counted, not kept.
public struct HiddenEvents: Equatable, Sendable {
  public var sockets = 0
  public var failed = 0
  public var calls = 0
  public var forks = 0
  public var execs = 0

  public init() {}

  public var total: Int { sockets + calls + forks + execs }

  mutating func count(_ event: TimelineEvent) {
    switch event {
    case .socket(let socket):
      sockets += 1
      if !socket.record.succeeded { failed += 1 }
    case .fork: forks += 1
    case .exec: execs += 1
    case .call, .inheritedCall: calls += 1
    }
  }
}

/// How a process's start was seen.
public enum ProcessStart: Equatable, Sendable {
  /// A traced parent forked it: the start is the fork.
  case fork
  /// Its first record was an exec (it was forked before tracing, or by an untraced parent).
  case exec
  /// Running before tracing began: the start is its first record.
  case firstRecord
}

/// How and when a process ended.
public struct ProcessExit: Equatable, Sendable {
  public var timestamp: UInt64
  /// The thread whose exit ended the thread group.
  public var tid: UInt32
  public var exitCode: Int64
  /// The terminating signal, or 0.
  public var signal: Int64
}

public struct ThreadName: Equatable, Sendable {
  public var tid: UInt32
  public var comm: [UInt8]
}

/// Something that happened in a process, in time order.
public indirect enum TimelineEvent: Sendable {
  case socket(TimelineSocket)
  case fork(TimelineFork)
  /// An exec: the one that started the process (`startedBy == .exec`, at
  /// `start`), or a later one.
  case exec(RecordedExec)
  /// A call on a socket whose birth is not in the recording (made before tracing).
  case call(RecordedCall)
  /// A call on a socket another process made (`owner`): inherited across a
  /// fork, or received. The call is in that socket's story too.
  case inheritedCall(RecordedCall, owner: UInt32)

  public var timestamp: UInt64 {
    switch self {
    case .inheritedCall(let call, _): return call.header.timestamp
    case .socket(let socket): return socket.record.header.timestamp
    case .fork(let fork): return fork.timestamp
    case .exec(let exec): return exec.header.timestamp
    case .call(let call): return call.header.timestamp
    }
  }
}

/// A socket birth and how long its socket (or sockets, for a socketpair) lived.
public struct TimelineSocket: Sendable {
  public var record: RecordedSocket
  /// The socket's lifetime; nil when the call failed or no inode was seen.
  public var lifetime: SocketLifetime?
  /// socketpair: the second socket's lifetime.
  public var peerLifetime: SocketLifetime?
  /// What it became, in order: bind, connect (and its result), listen, shutdown.
  public var calls: [RecordedCall] = []
  /// A listener: the connections accepted from it.
  public var accepted = 0

  /// The call's return: when the socket exists.
  public var timestamp: UInt64 { record.header.timestamp }
  /// When the call was entered (`ts_ns - duration_ns`).
  public var callStart: UInt64 {
    record.header.timestamp >= record.duration ? record.header.timestamp - record.duration : 0
  }
}

/// The process forked a child.
public struct TimelineFork: Sendable {
  public var timestamp: UInt64
  /// The forking thread.
  public var tid: UInt32
  public var childPID: UInt32
  /// The child's index in the timeline.
  public var child: Int?
}

/// From a socket's birth to its end.
public struct SocketLifetime: Equatable, Sendable {
  public var inode: UInt64
  public var birth: UInt64
  public var end: UInt64
  public var ending: Ending

  public enum Ending: Equatable, Sendable {
    /// A `release` record: how it was seen, and `pid`, who did it.
    case released(how: ReleaseKind, pid: UInt32)
    /// No release seen; the owning process exited.
    case processExit
    /// No release seen; a later socket got the same inode, so it was gone by then.
    case inodeReused
    /// Still open when the recording stopped.
    case openAtEnd
  }

  public var duration: UInt64 { end >= birth ? end - birth : 0 }
}
