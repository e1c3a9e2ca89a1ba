/// One line of a JSON Lines recording (docs/schema.md), typed. The offline
/// counterpart of `TraceEvent`: what the tracer wrote, read back.
public indirect enum RecordedEvent: Equatable, Sendable {
  case start(RecordedStart)
  case socket(RecordedSocket)
  case release(RecordedRelease)
  case fork(RecordedFork)
  case exec(RecordedExec)
  case exit(RecordedExit)
  case call(RecordedCall)
  case end(RecordedEnd)

  /// `ts_ns`: the boot clock when the record was written.
  public var timestamp: UInt64 {
    switch self {
    case .start(let record): return record.timestamp
    case .socket(let record): return record.header.timestamp
    case .release(let record): return record.header.timestamp
    case .fork(let record): return record.header.timestamp
    case .exec(let record): return record.header.timestamp
    case .exit(let record): return record.header.timestamp
    case .call(let record): return record.header.timestamp
    case .end(let record): return record.timestamp
    }
  }
}

/// The fields every process record carries.
public struct RecordedHeader: Equatable, Sendable {
  /// The 1-based line of the recording this record came from.
  public var line: Int
  public var timestamp: UInt64
  public var pid: UInt32
  public var tid: UInt32
  public var ppid: UInt32
  /// The task's command name: raw bytes, attacker-controlled.
  public var comm: [UInt8]
  /// The container its cgroup path names (schema 2), if any.
  public var container: ContainerContext?
  public var podUID: String?

  public init(
    line: Int, timestamp: UInt64, pid: UInt32, tid: UInt32, ppid: UInt32, comm: [UInt8],
    container: ContainerContext? = nil, podUID: String? = nil
  ) {
    self.line = line
    self.timestamp = timestamp
    self.pid = pid
    self.tid = tid
    self.ppid = ppid
    self.comm = comm
    self.container = container
    self.podUID = podUID
  }
}

/// A socket birth: `socket`, `socketpair` or `accept`.
public struct RecordedSocket: Equatable, Sendable {
  public var header: RecordedHeader
  public var source: SocketSource
  /// `family`, `type`, `protocol` as written: the name, or the bare number as text.
  public var family: String
  public var type: String
  public var `protocol`: String
  public var flags: [String]
  public var isKernel: Bool
  /// The new fd (the first of a socketpair); nil on failure and for kernel sockets.
  public var fd: Int64?
  public var inode: UInt64?
  /// socketpair: the second socket.
  public var peerFD: Int64?
  public var peerInode: UInt64?
  /// accept: the listening socket.
  public var listenFD: Int64?
  public var listenInode: UInt64?
  /// accept: the peer (inet and inet6), raw bytes as written; snapshot: the
  /// peer of a connected inet socket.
  public var peerAddress: [UInt8]?
  /// accept, snapshot: the socket's own address (issue 21).
  public var localAddress: [UInt8]?
  /// accept: the process at the other end (the one that connected).
  public var peerPID: UInt32?
  public var peerComm: [UInt8]?
  /// `"via":"snapshot"`: open when tracing began, read from /proc.
  public var openAtStart = false
  /// snapshot: the TCP state (`LISTEN`, `ESTABLISHED`, …).
  public var state: String?
  public var errno: Int64
  /// The error's name (or number as text); nil on success.
  public var error: String?
  /// Where a failed call failed; nil on success or when the rung cannot tell.
  public var failedStage: Stage?
  /// Why a failed call failed, with its figures (`cause`, `fd_limit`, ...);
  /// nil on success and in recordings made before causes were recorded.
  public var failure: FailureExplanation?
  /// The whole call, entry to return. The call returned at `header.timestamp`.
  public var duration: UInt64
  public var stages: RecordedStages?
  /// The rung that saw it.
  public var probe: Rung?

  public var succeeded: Bool { error == nil && errno == 0 }

  public init(header: RecordedHeader, source: SocketSource, family: String, type: String, protocol: String) {
    self.header = header
    self.source = source
    self.family = family
    self.type = type
    self.protocol = `protocol`
    self.flags = []
    self.isKernel = false
    self.errno = 0
    self.duration = 0
  }
}

/// What a socket became: `bind`, `connect`, `listen`, `shutdown`, and how a
/// non-blocking connect ended (`connect_result`). Joined to the socket's birth
/// by `inode`.
public struct RecordedCall: Equatable, Sendable {
  public enum Kind: CaseIterable, Sendable {
    case bind, connect, listen, shutdown, connectResult

    public var recordKind: RecordKind {
      switch self {
      case .bind: return .bind
      case .connect: return .connect
      case .listen: return .listen
      case .shutdown: return .shutdown
      case .connectResult: return .connectResult
      }
    }

    /// The call a record kind is; nil for a socket birth or a process record.
    public init?(_ kind: RecordKind) {
      guard let call = Self.allCases.first(where: { $0.recordKind == kind }) else { return nil }
      self = call
    }

    /// Its `event` name.
    public var name: String { recordKind.name }
  }

  public var header: RecordedHeader
  public var kind: Kind
  public var fd: Int64?
  public var inode: UInt64?
  /// bind/connect: the address as passed (raw bytes, attacker-controlled).
  public var address: [UInt8]?
  public var port: Int64?
  /// listen: the backlog.
  public var backlog: Int64?
  /// bind, connect, connect_result, listen: the socket's own address after the call.
  public var localAddress: [UInt8]?
  /// connect: the process holding the other end, and the socket reached.
  public var peerPID: UInt32?
  public var peerComm: [UInt8]?
  public var peerInode: UInt64?
  /// shutdown: `SHUT_RD`, `SHUT_WR`, `SHUT_RDWR`.
  public var how: String?
  public var errno: Int64
  /// The error's name; nil on success.
  public var error: String?
  public var duration: UInt64
  /// connect_result: whether the handshake ended established.
  public var established: Bool?
  /// No birth for this socket was recorded: it was made before tracing.
  public var bornBeforeTrace: Bool

  public var succeeded: Bool { error == nil && errno == 0 }
  /// When the call was entered (for connect_result: when its connect was).
  public var callStart: UInt64 { header.timestamp >= duration ? header.timestamp - duration : 0 }

  public init(header: RecordedHeader, kind: Kind) {
    self.header = header
    self.kind = kind
    self.errno = 0
    self.duration = 0
    self.bornBeforeTrace = false
  }
}

/// Time spent in each stage of `__sys_socket`, where the rung could see it.
public struct RecordedStages: Equatable, Sendable {
  /// In `__sock_create`.
  public var sockCreate: UInt64
  /// From `__sock_create`'s return to the call's return (`sock_map_fd`).
  public var sockMapFD: UInt64

  public init(sockCreate: UInt64, sockMapFD: UInt64) {
    self.sockCreate = sockCreate
    self.sockMapFD = sockMapFD
  }
}

/// A socket born under tracing went away.
public struct RecordedRelease: Equatable, Sendable {
  public var header: RecordedHeader
  public var inode: UInt64
  /// The kernel freed it, or close(2) of an fd holding it was seen.
  public var how: ReleaseKind
}

/// A traced process created a new process.
public struct RecordedFork: Equatable, Sendable {
  public var header: RecordedHeader
  public var childPID: UInt32
  public var childTID: UInt32
}

/// A traced process ran execve.
public struct RecordedExec: Equatable, Sendable {
  public var header: RecordedHeader
  public var exe: [UInt8]
  public var argv: [[UInt8]]
  public var argvTruncated: Bool
}

/// A whole thread group exited.
public struct RecordedExit: Equatable, Sendable {
  public var header: RecordedHeader
  public var exitCode: Int64
  /// The terminating signal, or 0.
  public var signal: Int64
}

/// The first record: how the recording was made.
public struct RecordedStart: Equatable, Sendable {
  public var line: Int
  public var timestamp: UInt64
  /// Add to a `ts_ns` for Unix-epoch nanoseconds.
  public var bootOffset: UInt64?
  public var version: String?
  /// The git commit the tracer was built from, or "unknown"; nil in older recordings.
  public var commit: String?
  public var kernel: String?
  public var host: String?
  /// The rung the whole recording was made on.
  public var probe: Rung?
  /// The `schema` number (1 for recordings that predate it).
  public var schema: Int
  public var pids: [UInt32]
  public var follow: Bool
}

/// The last record of a recording that stopped cleanly.
public struct RecordedEnd: Equatable, Sendable {
  public var line: Int
  public var timestamp: UInt64
  public var events: UInt64?
  public var sockets: UInt64?
  public var failed: UInt64?
  /// Records the kernel dropped because the ring buffer was full.
  public var lost: UInt64
  public var decodeErrors: UInt64
  public var duration: UInt64?
}
