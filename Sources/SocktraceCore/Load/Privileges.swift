import Glibc

/// A Linux capability socktrace may need (`capabilities(7)`), by its number.
public enum Capability: Int, Sendable, CaseIterable {
  case dacOverride = 1
  case dacReadSearch = 2
  case setgid = 6
  case setuid = 7
  case sysPtrace = 19
  case sysAdmin = 21
  case sysResource = 24
  case perfmon = 38
  case bpf = 39

  /// `CAP_BPF`, as `capabilities(7)` and `setcap` spell it (in upper case).
  public var name: String {
    switch self {
    case .dacOverride: "CAP_DAC_OVERRIDE"
    case .dacReadSearch: "CAP_DAC_READ_SEARCH"
    case .setgid: "CAP_SETGID"
    case .setuid: "CAP_SETUID"
    case .sysPtrace: "CAP_SYS_PTRACE"
    case .sysAdmin: "CAP_SYS_ADMIN"
    case .sysResource: "CAP_SYS_RESOURCE"
    case .perfmon: "CAP_PERFMON"
    case .bpf: "CAP_BPF"
    }
  }
}

/// A capability this process lacks, and what the tracer needs it for here.
public struct MissingCapability: Equatable, Sendable, CustomStringConvertible {
  public var capability: Capability
  public var reason: String
  public var description: String { "\(capability.name) (\(reason))" }
}

/// Whether this process may load and attach the tracer, measured, not
/// assumed from the uid: root passes because it holds every capability, and
/// an unprivileged user with file capabilities (`setcap`) passes when it
/// holds the ones this machine's state calls for.
public enum Privileges {
  /// What the tracer lacks on this machine now; empty when tracing may go on.
  /// - CAP_BPF and CAP_PERFMON: load BPF programs and maps; attach tracing
  ///   programs and read kernel memory from them (CAP_SYS_ADMIN implies both,
  ///   as on kernels before 5.8, where they do not exist).
  /// - CAP_DAC_READ_SEARCH: tracefs is mode 0700, and libbpf reads each
  ///   syscall tracepoint's id from it (every rung uses some); only asked
  ///   when this process cannot read them already.
  /// - CAP_SYS_ADMIN: tracefs is not mounted and must be.
  /// - CAP_SYS_RESOURCE: kernels before 5.11 charge BPF maps to
  ///   RLIMIT_MEMLOCK; asked only when the limit is below `lockedBytes` and
  ///   its hard limit too (the soft one can be raised without privileges).
  public static func missing(lockedBytes: UInt64 = 32 << 20) -> [MissingCapability] {
    let effective = effectiveCapabilities()
    func has(_ capability: Capability) -> Bool { effective & (1 << UInt64(capability.rawValue)) != 0 }
    var missing: [MissingCapability] = []
    if !has(.bpf) && !has(.sysAdmin) {
      missing.append(MissingCapability(capability: .bpf, reason: "to load BPF programs and maps"))
    }
    if !has(.perfmon) && !has(.sysAdmin) {
      missing.append(
        MissingCapability(capability: .perfmon, reason: "to attach tracing programs that read kernel memory"))
    }
    switch tracefsState() {
    case .readable: break
    case .unreadable:
      missing.append(
        MissingCapability(
          capability: .dacReadSearch,
          reason: "to read tracepoint ids in \(KernelProbes.tracefsMount), which is mode 0700"))
    case .notMounted:
      if !has(.sysAdmin) {
        missing.append(
          MissingCapability(capability: .sysAdmin, reason: "to mount tracefs at \(KernelProbes.tracefsMount)"))
      }
    }
    if chargesMemlock(), !has(.sysResource) {
      var limit = rlimit()
      if getrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &limit) == 0,
        UInt64(limit.rlim_max) < lockedBytes
      {
        missing.append(
          MissingCapability(
            capability: .sysResource,
            reason: "to raise RLIMIT_MEMLOCK (\(limit.rlim_max >> 10) KiB) for BPF maps on a kernel before 5.11"))
      }
    }
    return missing
  }

  /// Whether this process holds `capability` in its effective set.
  public static func has(_ capability: Capability) -> Bool {
    effectiveCapabilities() & (1 << UInt64(capability.rawValue)) != 0
  }

  enum TracefsState { case readable, unreadable, notMounted }

  /// Whether the tracepoint ids can be read with this process's effective
  /// ids and capabilities (AT_EACCESS: plain access(2) uses the real uid and
  /// drops the capabilities a setcap binary runs with).
  static func tracefsState() -> TracefsState {
    for directory in [KernelProbes.tracefsMount, KernelProbes.debugfsTracing] {
      if faccessat(AT_FDCWD, "\(directory)/events", X_OK, AT_EACCESS) == 0 { return .readable }
    }
    // /proc/self/mountinfo is readable by all: mounted, but not for us?
    guard let mounts = readSmallFile("/proc/self/mountinfo") else { return .notMounted }
    for line in mounts.split(separator: "\n") {
      let fields = line.split(separator: " ")
      guard let separator = fields.firstIndex(of: "-"), separator + 1 < fields.count, fields.count > 4 else {
        continue
      }
      if fields[separator + 1] == "tracefs" { return .unreadable }
    }
    return .notMounted
  }

  /// Kernels before 5.11 account BPF memory to RLIMIT_MEMLOCK, not to the memory cgroup.
  static func chargesMemlock() -> Bool {
    let parts = KernelProbes.kernelRelease.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
    guard parts.count == 2 else { return false }
    return (parts[0], parts[1]) < (5, 11)
  }

  /// CapEff from /proc/self/status.
  static func effectiveCapabilities() -> UInt64 {
    guard let status = readSmallFile("/proc/self/status") else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
      let hex = line.dropFirst("CapEff:".count).trimmingPrefixWhitespace()
      return UInt64(hex, radix: 16) ?? 0
    }
    return 0
  }

  /// The thread group (process) of a thread id, from /proc/TID/status; nil
  /// if there is no such thread. A tid that is not a leader is not in /proc's
  /// listing but /proc/TID still resolves.
  public static func threadGroup(of tid: Int32) -> Int32? {
    guard let status = readSmallFile("/proc/\(tid)/status") else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("Tgid:") {
      return Int32(line.dropFirst("Tgid:".count).trimmingPrefixWhitespace())
    }
    return nil
  }

  /// Whether a process with this pid exists now.
  public static func processExists(_ pid: Int32) -> Bool {
    kill(pid, 0) == 0 || errno == EPERM
  }
}

extension Substring {
  func trimmingPrefixWhitespace() -> Substring {
    var result = self
    while let first = result.first, first.isWhitespace { result.removeFirst() }
    return result
  }
}
