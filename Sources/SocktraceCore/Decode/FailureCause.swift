import CSocktrace
import Glibc

/// Why a socket-creating call failed: the kernel check that refused it
/// (issue 22). The raw value is the name in every output (JSON `cause`, the
/// table, the timeline, the `cause` label of metrics, OTLP); `check` is the
/// kernel check it stands for (docs/schema.md and the man page list both).
///
/// Decided here, in user space, from what every rung sees (the arguments and
/// the errno) and the few figures only the kernel has, gathered in BPF
/// (`bpf/lib/cause.bpf.h`: capabilities, RLIMIT_NOFILE and the open fds,
/// the module `request_module` was asked for, the security module that
/// refused, a call seccomp answered).
public enum FailureCause: String, CaseIterable, Sendable {
  case badFlags = "bad_flags"
  case badType = "bad_type"
  case familyOutOfRange = "family_out_of_range"
  case familyUnavailable = "family_unavailable"
  case protocolUnsupported = "protocol_unsupported"
  case permission
  case lsm
  case seccomp
  case fdLimit = "fd_limit"
  case fileLimit = "file_limit"
  case noMemory = "no_memory"
  case badFD = "bad_fd"
  case notListening = "not_listening"
  case wouldBlock = "would_block"
  case interrupted
  case connectionAborted = "connection_aborted"
  case badAddress = "bad_address"
  case unknown

  public var name: String { rawValue }

  /// The kernel check this cause stands for, with its errno.
  public var check: String {
    switch self {
    case .badFlags:
      return "EINVAL: __sys_socket/__sys_socketpair/__sys_accept4: a flag bit other than SOCK_NONBLOCK|SOCK_CLOEXEC"
    case .badType: return "EINVAL: __sock_create: type (flags removed) >= SOCK_MAX"
    case .familyOutOfRange: return "EAFNOSUPPORT: __sock_create: family < 0 or >= NPROTO (AF_MAX of this kernel)"
    case .familyUnavailable:
      return "EAFNOSUPPORT: __sock_create: no net_families[family] after request_module(\"net-pf-N\"), "
        + "or its module could not be held"
    case .protocolUnsupported:
      return "EPROTONOSUPPORT, ESOCKTNOSUPPORT, EPROTOTYPE: the family's create() has no such type/protocol; "
        + "EOPNOTSUPP for socketpair: the family has no socketpair"
    case .permission:
      return "EPERM, EACCES: a capability check in the family's create(): CAP_NET_RAW for raw inet, packet "
        + "and Bluetooth raw sockets, CAP_NET_ADMIN for AF_KEY (the task's effective set, read in BPF)"
    case .lsm:
      return "EPERM, EACCES (or any): security_socket_create or security_socket_post_create refused "
        + "(`lsm` names the module where the rung sees the modules' own hooks)"
    case .seccomp: return "any: a seccomp filter answered the call before it ran (SECCOMP_RET_ERRNO, USER_NOTIF)"
    case .fdLimit: return "EMFILE: get_unused_fd_flags: no fd below RLIMIT_NOFILE (`fd_limit`, `open_fds`)"
    case .fileLimit:
      return "ENFILE: alloc_empty_file: fs.file-max reached (or sock_alloc found no inode); "
        + "`files_open`/`file_max` are /proc/sys/fs/file-nr when the record was decoded"
    case .noMemory: return "ENOMEM, ENOBUFS: an allocation failed"
    case .badFD: return "EBADF, ENOTSOCK: accept on an fd that is no socket"
    case .notListening: return "EINVAL: accept on a socket that is not listening"
    case .wouldBlock: return "EAGAIN: a non-blocking accept found no connection"
    case .interrupted: return "EINTR, ERESTART*: a signal interrupted the call"
    case .connectionAborted: return "ECONNABORTED: the connection went away before accept took it"
    case .badAddress: return "EFAULT: a user pointer (socketpair's fds, accept's address) was not writable"
    case .unknown: return "any other errno, or one the rung cannot attribute"
    }
  }
}

/// A failure's cause and the figures that explain it.
public struct FailureExplanation: Equatable, Sendable {
  public var cause: FailureCause
  /// fd_limit: RLIMIT_NOFILE's soft limit, and the fds open, when the call failed.
  public var fdLimit: Int32?
  public var openFDs: Int32?
  /// open_fds counted only the first `ST_FD_WORDS` words: at least that many.
  public var openFDsAtLeast = false
  /// The module `request_module` was asked for during the call (`net-pf-12`).
  public var module: String?
  /// lsm: the security module that refused, where the rung names it.
  public var lsm: String?
  /// permission: the capability the family's create() checks (CAP_NET_RAW).
  public var capability: String?
  /// file_limit: /proc/sys/fs/file-nr when decoded (files open, fs.file-max).
  public var filesOpen: Int64?
  public var fileMax: Int64?

  public init(cause: FailureCause) { self.cause = cause }

  /// `fd limit 16 reached (16 open)`, `module net-pf-12 asked for`, ...: the
  /// words after the errno in the table and the timeline.
  public var text: String {
    switch cause {
    case .fdLimit:
      guard let fdLimit else { return "fd limit reached" }
      let open = openFDs.map { " (\(openFDsAtLeast ? "at least " : "")\($0) open)" } ?? ""
      return "fd limit \(fdLimit) reached" + open
    case .fileLimit:
      if let filesOpen, let fileMax { return "system file limit (now \(filesOpen) of \(fileMax) open)" }
      return "system file limit"
    case .familyUnavailable:
      return "family unavailable" + (module.map { " (\($0) requested)" } ?? "")
    case .familyOutOfRange: return "family out of range"
    case .badFlags: return "bad flags"
    case .badType: return "bad type"
    case .protocolUnsupported: return "protocol unsupported" + (module.map { " (\($0) requested)" } ?? "")
    case .permission: return "permission" + (capability.map { " (no \($0))" } ?? "")
    case .lsm: return "refused by " + (lsm.map { "LSM \($0)" } ?? "an LSM")
    case .seccomp: return "refused by seccomp"
    case .noMemory: return "no memory"
    case .badFD: return "not a socket"
    case .notListening: return "not listening"
    case .wouldBlock: return "would block"
    case .interrupted: return "interrupted"
    case .connectionAborted: return "connection aborted"
    case .badAddress: return "bad address"
    case .unknown: return "cause unknown"
    }
  }
}

/// Security modules a record's `lsm` byte names (`enum st_lsm`).
public enum SecurityModule {
  public static func name(_ number: UInt8) -> String? {
    switch UInt32(number) {
    case ST_LSM_APPARMOR.rawValue: return "apparmor"
    case ST_LSM_SELINUX.rawValue: return "selinux"
    case ST_LSM_BPF.rawValue: return "bpf"
    case ST_LSM_SMACK.rawValue: return "smack"
    default: return nil
    }
  }
}

extension FailureCause {
  /// What a rung sees of a failed call, for `decide`.
  public struct Facts: Sendable {
    public var source: SocketSource
    public var family: Int32
    /// The type argument as passed, flags included.
    public var requestedType: Int32
    public var errno: Int32
    /// `ST_CAUSE_*`.
    public var bits: UInt32 = 0
    public var capEffective: UInt64 = 0
    /// `enum st_lsm`.
    public var lsm: UInt8 = 0
    public var module: String?
    public var fdLimit: Int32 = -1
    public var openFDs: Int32 = -1

    public init(source: SocketSource, family: Int32, requestedType: Int32, errno: Int32) {
      self.source = source
      self.family = family
      self.requestedType = requestedType
      self.errno = errno
    }
  }

  static let capNetAdmin = 12
  static let capNetRaw = 13
  /// SOCK_MAX: types 0 ..< 11 pass __sock_create's range check.
  static let typeLimit: Int32 = 11
  static let validFlags: Int32 = 0o4000 | 0o2_000_000  // SOCK_NONBLOCK | SOCK_CLOEXEC

  /// NPROTO (AF_MAX) of a kernel release: AF_MCTP (45) is 5.15+, AF_XDP (44) 4.18+.
  public static func familyLimit(release: String) -> Int32 {
    let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
    guard numbers.count == 2 else { return 46 }
    let version = numbers[0] * 1000 + numbers[1]
    if version >= 5015 { return 46 }
    if version >= 4018 { return 45 }
    return 44
  }

  /// The running kernel's NPROTO.
  public static let runningFamilyLimit = familyLimit(release: KernelProbes.kernelRelease)

  /// The capability the family's create() checks for this socket, if any.
  static func capabilityNeeded(family: Int32, type: Int32) -> Int? {
    switch (family, type) {
    case (2, 3), (10, 3): return capNetRaw  // inet/inet6 SOCK_RAW: inet_create
    case (2, 10): return capNetRaw  // AF_INET SOCK_PACKET: made an AF_PACKET socket
    case (17, _): return capNetRaw  // AF_PACKET: packet_create
    case (31, 3): return capNetRaw  // Bluetooth raw (HCI) sockets
    case (15, _): return capNetAdmin  // AF_KEY: pfkey_create
    default: return nil
    }
  }

  /// The cause of a failed call, and its figures; nil for a success.
  public static func decide(_ facts: Facts, familyLimit: Int32 = runningFamilyLimit) -> FailureExplanation? {
    guard facts.errno != 0 else { return nil }
    var explanation = FailureExplanation(cause: cause(facts, familyLimit: familyLimit))
    switch explanation.cause {
    case .fdLimit where facts.bits & UInt32(ST_CAUSE_FD_FIGURES) != 0:
      explanation.fdLimit = facts.fdLimit
      explanation.openFDs = facts.openFDs >= 0 ? facts.openFDs : nil
      explanation.openFDsAtLeast = facts.bits & UInt32(ST_CAUSE_FDS_CAPPED) != 0
    case .lsm:
      explanation.lsm = SecurityModule.name(facts.lsm)
    case .permission:
      explanation.capability = capabilityNeeded(family: facts.family, type: facts.requestedType & 0xf).map {
        $0 == capNetRaw ? "CAP_NET_RAW" : "CAP_NET_ADMIN"
      }
    default: break
    }
    explanation.module = facts.module
    return explanation
  }

  static func cause(_ facts: Facts, familyLimit: Int32) -> FailureCause {
    let bits = facts.bits
    if bits & UInt32(ST_CAUSE_SECCOMP) != 0 { return .seccomp }
    if bits & UInt32(ST_CAUSE_LSM_REFUSED) != 0 || facts.lsm != 0 { return .lsm }
    let type = facts.requestedType & 0xf
    let flags = facts.requestedType & ~0xf
    let errno = facts.errno
    switch errno {
    case EINVAL:
      if flags & ~validFlags != 0 { return .badFlags }
      if facts.source == .accept { return .notListening }
      if type >= typeLimit { return .badType }
      return .unknown
    case EAFNOSUPPORT where facts.source != .accept:
      return facts.family < 0 || facts.family >= familyLimit ? .familyOutOfRange : .familyUnavailable
    case EPROTONOSUPPORT, ESOCKTNOSUPPORT, EPROTOTYPE: return .protocolUnsupported
    case EOPNOTSUPP where facts.source == .socketpair: return .protocolUnsupported
    case EMFILE: return .fdLimit
    case ENFILE: return .fileLimit
    case ENOMEM, ENOBUFS: return .noMemory
    case EPERM, EACCES:
      if facts.source == .accept { return .unknown }  // netfilter, security_socket_accept: not told apart
      if let needed = capabilityNeeded(family: facts.family, type: type),
        bits & UInt32(ST_CAUSE_HAS_CAPS) != 0,
        facts.capEffective & (1 << UInt64(needed)) == 0 || bits & UInt32(ST_CAUSE_CAPS_NET_NS) == 0
      {
        return .permission
      }
      // The LSM hooks were watched and none refused: a family's own check.
      if bits & UInt32(ST_CAUSE_LSM_SEEN) != 0 { return .permission }
      // No capability explains it: security_socket_create is the check left.
      return .lsm
    case EBADF, ENOTSOCK: return .badFD
    case EAGAIN where facts.source == .accept: return .wouldBlock
    case EINTR, 512...516: return .interrupted  // ERESTARTSYS .. ERESTART_RESTARTBLOCK
    case ECONNABORTED: return .connectionAborted
    case EFAULT: return .badAddress
    default: return .unknown
    }
  }

  /// /proc/sys/fs/file-nr: files allocated, and fs.file-max.
  public static func systemFiles() -> (open: Int64, max: Int64)? {
    let fd = open("/proc/sys/fs/file-nr", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: 128)
    let count = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
    guard count > 0 else { return nil }
    let fields = bytes.prefix(count).split(whereSeparator: { $0 == 9 || $0 == 32 || $0 == 10 })
      .compactMap { Int64(String(decoding: $0, as: UTF8.self)) }
    guard fields.count == 3 else { return nil }
    return (fields[0] - fields[1], fields[2])
  }
}

extension SocketEvent {
  /// The module request_module was asked for during the call, if any.
  public var requestedModule: String? {
    withUnsafeBytes(of: raw.module) { bytes in
      let name = bytes.prefix { $0 != 0 }
      return name.isEmpty ? nil : String(decoding: name, as: UTF8.self)
    }
  }

  /// Why the call failed, with its figures; nil for a success.
  public var failure: FailureExplanation? {
    guard !succeeded else { return nil }
    var facts = FailureCause.Facts(source: source, family: family, requestedType: requestedType, errno: errno)
    facts.bits = UInt32(raw.cause_bits)
    facts.capEffective = raw.cap_effective
    facts.lsm = raw.lsm
    facts.module = requestedModule
    facts.fdLimit = raw.fd_limit
    facts.openFDs = raw.open_fds
    guard var explanation = FailureCause.decide(facts) else { return nil }
    if explanation.cause == .fileLimit, let files = FailureCause.systemFiles() {
      explanation.filesOpen = files.open
      explanation.fileMax = files.max
    }
    return explanation
  }
}
