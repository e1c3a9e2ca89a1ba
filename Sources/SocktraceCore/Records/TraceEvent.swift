import CSocktrace

/// One record from the kernel, decoded. Each case wraps the C record as the
/// BPF program wrote it (`socktrace.h`) and reads fields on demand.
public enum TraceEvent {
  case socket(SocketEvent)
  case release(ReleaseEvent)
  case fork(ForkEvent)
  /// Boxed: an exec record is four times a socket's size, and every event
  /// would otherwise be that large (each copy on the hot path moving it).
  indirect case exec(ExecEvent)
  case exit(ExitEvent)
  case socketCall(SocketCallEvent)
  case connectResult(ConnectResultEvent)

  /// The record's kind, as the kernel numbered it.
  public var kind: RecordKind {
    switch self {
    case .socket(let event): return event.source.kind
    case .release: return .release
    case .fork: return .fork
    case .exec: return .exec
    case .exit: return .exit
    case .socketCall(let event): return event.call.kind
    case .connectResult: return .connectResult
    }
  }

  public var header: EventHeader {
    switch self {
    case .socketCall(let event): return event.header
    case .connectResult(let event): return event.header
    case .socket(let event): return event.header
    case .release(let event): return event.header
    case .fork(let event): return event.header
    case .exec(let event): return event.header
    case .exit(let event): return event.header
    }
  }
}

/// Who did it and when: the fields every record starts with.
public struct EventHeader {
  var raw: st_header

  public init(raw: st_header) { self.raw = raw }

  /// `bpf_ktime_get_boot_ns()` when the record was written.
  public var bootTimeNanoseconds: UInt64 { raw.ts_ns }
  public var cpu: UInt32 { raw.cpu }
  /// The thread group id: what user space calls the pid.
  public var pid: UInt32 { raw.pid }
  public var tid: UInt32 { raw.tid }
  public var ppid: UInt32 { raw.ppid }
  public var uid: UInt32 { raw.uid }
  public var gid: UInt32 { raw.gid }
  public var networkNamespace: UInt32 { raw.netns }
  public var cgroupID: UInt64 { raw.cgroup_id }

  /// The task's comm, raw bytes up to the first NUL: any bytes a process chose.
  public var comm: [UInt8] {
    withUnsafeBytes(of: raw.comm) { bytes in
      Array(bytes.prefix { $0 != 0 })
    }
  }
}

extension Rung {
  /// The rung a record's `probe` byte names (`enum st_probe`), if known.
  public init?(probeNumber: UInt8) {
    switch UInt32(probeNumber) {
    case ST_PROBE_TRACEPOINT.rawValue: self = .tracepoint
    case ST_PROBE_KPROBE.rawValue: self = .kprobe
    case ST_PROBE_FENTRY.rawValue: self = .fentry
    default: return nil
    }
  }

  /// `enum st_probe`: how the BPF program names this rung in a record.
  public var probeNumber: UInt8 {
    switch self {
    case .tracepoint: return UInt8(ST_PROBE_TRACEPOINT.rawValue)
    case .kprobe: return UInt8(ST_PROBE_KPROBE.rawValue)
    case .fentry: return UInt8(ST_PROBE_FENTRY.rawValue)
    }
  }
}

/// How a socket was asked for: the entry into the kernel (`enum st_via`); the
/// raw value is its name in records (`via`).
public enum Via: String, Sendable, CaseIterable {
  case syscall
  case ia32
  case socketcall
  case ioUring = "io_uring"
  case kernel
  /// Open when tracing began: a record the tracer made from /proc (issue 21).
  case snapshot

  /// The entry a record's `via` byte names; nil for 0 and unknown numbers.
  public init?(number: UInt8) {
    switch UInt32(number) {
    case ST_VIA_SYSCALL.rawValue: self = .syscall
    case ST_VIA_IA32.rawValue: self = .ia32
    case ST_VIA_SOCKETCALL.rawValue: self = .socketcall
    case ST_VIA_IO_URING.rawValue: self = .ioUring
    case ST_VIA_KERNEL.rawValue: self = .kernel
    case ST_VIA_SNAPSHOT.rawValue: self = .snapshot
    default: return nil
    }
  }
}

/// The stage of `__sys_socket` where a failed call failed (`enum st_stage`);
/// the raw value is its name in records.
public enum Stage: String, Sendable, CaseIterable {
  case sysSocket = "sys_socket"
  case sockCreate = "sock_create"
  case sockMapFD = "sock_map_fd"

  /// The stage a record's `failed_stage` byte names; nil for 0 (the rung
  /// cannot tell) and unknown numbers.
  public init?(number: UInt8) {
    switch UInt32(number) {
    case ST_STAGE_SYS_SOCKET.rawValue: self = .sysSocket
    case ST_STAGE_SOCK_CREATE.rawValue: self = .sockCreate
    case ST_STAGE_SOCK_MAP_FD.rawValue: self = .sockMapFD
    default: return nil
    }
  }

  public var name: String { rawValue }
}

/// How a socket's end was seen (`enum st_release_how`); the raw value is its
/// name in records (`how`).
public enum ReleaseKind: String, Sendable, CaseIterable {
  /// `__sock_release`: the kernel freed the socket (fentry, kprobe rungs).
  case release
  /// Tracepoint rung: the last reference left its last fd table by close(2),
  case close
  /// dup2/dup3 over the fd,
  case dup
  /// close_range(2),
  case closeRange = "close_range"
  /// execve closing a close-on-exec fd,
  case exec
  /// or the exit of the process holding it.
  case exit

  public init?(number: UInt32) {
    switch number {
    case ST_RELEASE_SOCK.rawValue: self = .release
    case ST_RELEASE_CLOSE.rawValue: self = .close
    case ST_RELEASE_DUP.rawValue: self = .dup
    case ST_RELEASE_CLOSE_RANGE.rawValue: self = .closeRange
    case ST_RELEASE_EXEC.rawValue: self = .exec
    case ST_RELEASE_EXIT.rawValue: self = .exit
    default: return nil
    }
  }
}

/// One socket birth — socket(), socketpair() or accept() — joined in the kernel.
public struct SocketEvent {
  var raw: st_socket

  public init(raw: st_socket) { self.raw = raw }

  public var header: EventHeader { EventHeader(raw: raw.h) }

  public var source: SocketSource { SocketSource(rawValue: Int(raw.h.kind)) ?? .socket }

  public var family: Int32 { raw.family }
  /// The type argument as passed, flags included.
  public var requestedType: Int32 { raw.type }
  /// The type without SOCK_NONBLOCK/SOCK_CLOEXEC.
  public var type: Int32 { raw.type & SocketNames.typeMask }
  public var requestedProtocol: Int32 { raw.protocol }
  /// The protocol the socket got (resolved when 0 was asked), if it was read.
  /// Read only for sockets that exist: a call that failed after __sock_create
  /// (EMFILE) reports the protocol as asked.
  public var resolvedProtocol: Int32? {
    raw.ret >= 0 && raw.resolved_protocol >= 0 ? raw.resolved_protocol : nil
  }
  /// The protocol to show: the resolved one when known, else what was asked.
  public var `protocol`: Int32 { resolvedProtocol ?? raw.protocol }
  public var isKernel: Bool { raw.bits & UInt32(ST_BIT_KERNEL) != 0 }
  /// The syscall's return value: an fd, 0 for socketpair (and kernel sockets), or -errno.
  public var returnValue: Int32 { raw.ret }
  public var errno: Int32 { raw.ret < 0 ? -raw.ret : 0 }
  public var succeeded: Bool { raw.ret >= 0 }

  /// The new fd; for socketpair, the first of the two. Nil on failure and for kernel sockets.
  public var fd: Int32? { raw.ret >= 0 && !isKernel && raw.fd >= 0 ? raw.fd : nil }
  /// socketpair: the second fd. accept: the listening fd.
  public var secondFD: Int32? { raw.fd2 >= 0 ? raw.fd2 : nil }
  public var inode: UInt64? {
    raw.ret >= 0 && raw.bits & UInt32(ST_BIT_HAS_INODE) != 0 ? raw.inode : nil
  }
  /// socketpair: the second socket's inode. accept: the listening socket's.
  public var secondInode: UInt64? { raw.inode2 != 0 ? raw.inode2 : nil }

  public var durationNanoseconds: UInt64 { raw.duration_ns }
  /// Per-stage durations, where the rung sees inside `__sys_socket`.
  public var stages: (sockCreate: UInt64, sockMapFD: UInt64)? {
    guard raw.bits & UInt32(ST_BIT_HAS_STAGES) != 0 else { return nil }
    return (raw.sock_create_ns, raw.sock_map_fd_ns)
  }
  public var probe: Rung? { Rung(probeNumber: raw.probe) }
  /// The entry into the kernel: native syscall, 32-bit syscall, socketcall, io_uring.
  public var via: Via? { Via(number: raw.via) }
  /// An io_uring direct descriptor: the socket sits in a fixed-file slot, no fd.
  public var isDirectDescriptor: Bool { raw.bits & UInt32(ST_BIT_DIRECT) != 0 }
  /// Where a failed call failed; nil on success or when the rung cannot tell.
  public var failedStage: Stage? { succeeded ? nil : Stage(number: raw.failed_stage) }
}

extension SocketEvent {
  /// The socket's own address as the kernel left it (accept: the server's
  /// address the connection came in on; snapshot: its bound address).
  public var localAddress: SocketAddress? {
    readAddress(raw.local, length: raw.local_len)
  }
  /// accept: the process at the other end (the one that connected), if known.
  public var peerPID: UInt32? { raw.peer_pid != 0 ? raw.peer_pid : nil }
  /// peerPID's command name, when it was read with it.
  public var peerComm: [UInt8]? { readPeerComm(raw.peer_comm, pid: raw.peer_pid) }
  /// accept (unix): the connecting socket's inode.
  public var peerInode: UInt64? { raw.peer_inode != 0 ? raw.peer_inode : nil }
  /// snapshot: the TCP state (1 ESTABLISHED … 10 LISTEN …), else nil.
  public var tcpState: Int32? { raw.state != 0 ? Int32(raw.state) : nil }

  /// accept: the peer, as the kernel holds it (inet and inet6), else nil.
  public var peer: SocketAddress? {
    withUnsafeBytes(of: raw.peer_addr) { bytes in
      SocketAddress.peer(family: Int32(raw.peer_family), port: raw.peer_port, bytes: bytes)
    }
  }
}

/// bind(2), connect(2), listen(2) or shutdown(2) on a socket, keyed by its
/// inode (the join key to its birth record).
public struct SocketCallEvent {
  var raw: st_sockop

  public init(raw: st_sockop) { self.raw = raw }
  public var header: EventHeader { EventHeader(raw: raw.h) }

  public var call: SocketCall { SocketCall(rawValue: Int(raw.h.kind)) ?? .shutdown }

  public var fd: Int32 { raw.fd }
  /// The socket's inode; nil when the fd held no socket (ENOTSOCK, EBADF).
  public var inode: UInt64? { raw.inode != 0 ? raw.inode : nil }
  /// The socket's family and type from the kernel; nil when fd held no socket.
  public var family: Int32? { raw.family >= 0 ? raw.family : nil }
  public var type: Int32? { raw.type >= 0 ? raw.type & SocketNames.typeMask : nil }
  public var returnValue: Int32 { raw.ret }
  public var errno: Int32 { raw.ret < 0 ? -raw.ret : 0 }
  public var succeeded: Bool { raw.ret >= 0 }
  public var durationNanoseconds: UInt64 { raw.duration_ns }
  /// The socket was made before tracing started (or its birth was not seen).
  public var bornBeforeTracing: Bool { raw.bits & UInt32(ST_OP_UNTRACED_BIRTH) != 0 }
  /// listen: the backlog asked for.
  public var backlog: Int32? { call == .listen ? raw.arg : nil }
  /// shutdown: SHUT_RD (0), SHUT_WR (1) or SHUT_RDWR (2).
  public var how: Int32? { call == .shutdown ? raw.arg : nil }
  /// The addrlen argument of bind/connect.
  public var addressLength: UInt32 { raw.addr_len }
  /// bind/connect: the address as passed; nil for an unnamed one.
  public var address: SocketAddress? {
    guard raw.bits & UInt32(ST_OP_HAS_ADDR) != 0 else { return nil }
    return withUnsafeBytes(of: raw.addr) { SocketAddress.parse($0, length: Int(raw.addr_len)) }
  }
  /// bind/connect/listen: the socket's own address after the call (the port
  /// bind(0) got, a connect's source); nil for a failed call or none.
  public var localAddress: SocketAddress? {
    readAddress(raw.local, length: raw.local_len)
  }
  /// connect: the process holding the other end, if known (unix: the
  /// kernel's peer credentials; TCP/UDP: joined by address in user space).
  public var peerPID: UInt32? { raw.peer_pid != 0 ? raw.peer_pid : nil }
  public var peerComm: [UInt8]? { readPeerComm(raw.peer_comm, pid: raw.peer_pid) }
  /// connect: the inode of the socket reached, if known.
  public var peerInode: UInt64? { raw.peer_inode != 0 ? raw.peer_inode : nil }
}

/// How a non-blocking TCP connect ended.
public struct ConnectResultEvent {
  var raw: st_connected

  public init(raw: st_connected) { self.raw = raw }
  /// The connecting thread's header, as of its connect(2); ts_ns is the outcome's.
  public var header: EventHeader { EventHeader(raw: raw.h) }
  public var inode: UInt64 { raw.inode }
  /// connect(2) entry to the end of the handshake.
  public var durationNanoseconds: UInt64 { raw.duration_ns }
  public var established: Bool { raw.error == 0 && raw.state == 1 }
  /// The socket's error when the handshake failed (ECONNREFUSED, ETIMEDOUT…).
  public var errno: Int32 { raw.error }
  /// The TCP state reached (1 ESTABLISHED, 7 CLOSE).
  public var state: Int32 { raw.state }
  /// The source address and port the connect got.
  public var localAddress: SocketAddress? {
    readAddress(raw.local, length: raw.local_len)
  }
}

/// A socket born under tracing went away.
public struct ReleaseEvent {
  var raw: st_release

  public init(raw: st_release) { self.raw = raw }
  public var header: EventHeader { EventHeader(raw: raw.h) }
  public var inode: UInt64 { raw.inode }
  public var family: Int32? { raw.family >= 0 ? raw.family : nil }
  /// How its end was seen; nil for a number socktrace.h does not define.
  public var how: ReleaseKind? { ReleaseKind(number: raw.how) }
}

/// A traced process forked a new process.
public struct ForkEvent {
  var raw: st_fork

  public init(raw: st_fork) { self.raw = raw }
  public var header: EventHeader { EventHeader(raw: raw.h) }
  public var childPID: UInt32 { raw.child_pid }
  public var childTID: UInt32 { raw.child_tid }
}

/// A traced process called execve.
public struct ExecEvent {
  var raw: st_exec

  public init(raw: st_exec) { self.raw = raw }
  public var header: EventHeader { EventHeader(raw: raw.h) }

  /// The path execve was given, raw bytes.
  public var filename: [UInt8] {
    withUnsafeBytes(of: raw.filename) { Array($0.prefix { $0 != 0 }) }
  }

  /// argv as the process laid it out, split at NULs, raw bytes.
  public var arguments: [[UInt8]] {
    let length = min(Int(raw.args_len), Int(ST_ARGS_LEN))
    var arguments = withUnsafeBytes(of: raw.args) { bytes in
      bytes.prefix(length).split(separator: 0, omittingEmptySubsequences: false).map(Array.init)
    }
    if arguments.last?.isEmpty == true { arguments.removeLast() }  // argv ends with a NUL
    return arguments
  }

  public var argumentsTruncated: Bool { raw.args_truncated != 0 }
}

/// A traced process (its whole thread group) exited.
public struct ExitEvent {
  var raw: st_exit

  public init(raw: st_exit) { self.raw = raw }
  public var header: EventHeader { EventHeader(raw: raw.h) }
  /// The wait status: exit code in bits 8-15, terminating signal in 0-6.
  public var status: Int32 { raw.exit_code }
  public var exitCode: Int32 { (raw.exit_code >> 8) & 0xff }
  public var signal: Int32 { raw.exit_code & 0x7f }
}

/// A sockaddr the kernel copied into a record's fixed array: its first `length` bytes.
private func readAddress<Bytes>(_ bytes: Bytes, length: UInt16) -> SocketAddress? {
  withUnsafeBytes(of: bytes) { SocketAddress.parse($0, length: Int(length)) }
}

/// A peer's comm up to its NUL; nil when there is no peer (pid 0) or no name.
private func readPeerComm<Bytes>(_ bytes: Bytes, pid: UInt32) -> [UInt8]? {
  guard pid != 0 else { return nil }
  let comm = withUnsafeBytes(of: bytes) { Array($0.prefix { $0 != 0 }) }
  return comm.isEmpty ? nil : comm
}
