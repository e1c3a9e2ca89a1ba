import Glibc

/// Whether this process may load and attach tracing BPF programs.
public enum Privileges {
  static let capSysAdmin = 21
  static let capPerfmon = 38
  static let capBPF = 39

  /// The capabilities that are missing, by name; empty when tracing may go on.
  /// Root (or CAP_SYS_ADMIN) suffices; otherwise CAP_BPF and CAP_PERFMON.
  public static func missing() -> [String] {
    let effective = effectiveCapabilities()
    func has(_ bit: Int) -> Bool { effective & (1 << UInt64(bit)) != 0 }
    if has(capSysAdmin) { return [] }
    var missing: [String] = []
    if !has(capBPF) { missing.append("CAP_BPF") }
    if !has(capPerfmon) { missing.append("CAP_PERFMON") }
    return missing
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
