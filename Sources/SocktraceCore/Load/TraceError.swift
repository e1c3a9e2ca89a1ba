import Glibc

/// Every failure the tracer reports to its user: one line, no libbpf dump.
public enum TraceError: Error, CustomStringConvertible, Equatable {
  /// Missing capabilities the tracer needs here (not root), each with why.
  case missingPrivileges(missing: [MissingCapability])
  /// The kernel exposes no BTF (`/sys/kernel/btf/vmlinux`): CO-RE cannot relocate.
  case noBTF(errno: Int32)
  /// A pid given with `-p` names no running process.
  case noSuchProcess(Int32)
  /// The output path cannot be opened for writing.
  case unwritableOutput(path: String, errno: Int32)
  /// The output path is a symlink another user may have planted.
  case unsafeOutput(path: String, reason: String)
  /// A libbpf step failed: the step, the object it acted on, and errno.
  case libbpf(step: String, object: String, errno: Int32, detail: String)
  /// `--attach RUNG` asked for a rung this kernel cannot provide.
  case rungUnavailable(rung: String, reason: String)
  /// tracefs is not mounted and could not be mounted.
  case tracefsUnavailable(errno: Int32)
  /// tracefs is mounted but this process cannot read it (no root).
  case tracefsUnreadable(path: String, errno: Int32)
  /// A write to the output failed while tracing.
  case writeFailed(path: String, errno: Int32)
  /// A filter names nothing that exists (a cgroup, a container), or too much.
  case badFilter(String)
  /// The tracer's PID namespace cannot be known, or /proc is another one's.
  case pidNamespace(String)

  public var description: String {
    switch self {
    case .missingPrivileges(let missing):
      return "tracing needs root or the capabilities "
        + missing.map(\.description).joined(separator: ", ")
        + "; run it with sudo, or see PRIVILEGES in socktrace(8) for setcap"
    case .noBTF(let errno):
      return "this kernel has no BTF (/sys/kernel/btf/vmlinux: \(errnoText(errno))); "
        + "socktrace needs a kernel built with CONFIG_DEBUG_INFO_BTF=y"
    case .noSuchProcess(let pid):
      return "no process with pid \(pid)"
    case .unwritableOutput(let path, let errno):
      return "cannot write \(path): \(errnoText(errno))"
    case .unsafeOutput(let path, let reason):
      return "not writing \(path): \(reason)"
    case .libbpf(let step, let object, let errno, let detail):
      let suffix = detail.isEmpty ? "" : " (\(detail))"
      return "\(step) \(object) failed: \(errnoText(errno))\(suffix)"
    case .rungUnavailable(let rung, let reason):
      return "--attach \(rung) is not available on this kernel: \(reason)"
    case .tracefsUnavailable(let errno):
      return "tracefs is not mounted at /sys/kernel/tracing and mounting it failed: "
        + errnoText(errno)
    case .tracefsUnreadable(let path, let errno):
      return "tracefs is mounted at \(path) but not readable here (\(errnoText(errno))): "
        + "the syscall tracepoints' ids are read there; run as root"
    case .writeFailed(let path, let errno):
      return "writing \(path) failed: \(errnoText(errno))"
    case .badFilter(let message):
      return message
    case .pidNamespace(let message):
      return message
    }
  }
}

/// `strerror` plus the symbolic name: "Operation not permitted (EPERM)".
public func errnoText(_ errno: Int32) -> String {
  let message = String(cString: strerror(errno))
  if let name = ErrnoNames.name(errno) { return "\(message) (\(name))" }
  return message
}
