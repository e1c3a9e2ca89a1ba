import Glibc

/// The tracer's PID namespace. Records, filters (`-p`, the command it runs)
/// and `/proc` all use pids as this namespace numbers them; in a namespace
/// other than the init one the BPF side translates every pid to it, and a
/// process with no pid there (the host's, another container's) is not traced.
public struct PidNamespace: Sendable, Equatable {
  /// The init namespace's inode (PROC_PID_INIT_INO): fixed by the kernel.
  public static let initialInode: UInt32 = 0xEFFF_FFFC
  /// The inode of /proc/self/ns/pid.
  public var inode: UInt32
  /// Levels below the init namespace (0: the init namespace itself); found
  /// by the BPF side (`pidns_probe`), since /proc shows no ancestor's pids.
  public var level: UInt32

  public init(inode: UInt32, level: UInt32) {
    self.inode = inode
    self.level = level
  }

  public var isInitial: Bool { inode == Self.initialInode }

  /// This process's namespace (its level still unknown: 0), after checking
  /// that /proc is this namespace's: a /proc mounted for another one
  /// (`unshare --pid --fork` without `--mount-proc`) numbers processes
  /// differently from getpid(), so `-p`, the `/proc` context and the records
  /// would disagree.
  static func current(proc: String = "/proc") throws(TraceError) -> PidNamespace {
    var info = stat()
    guard stat("\(proc)/self/ns/pid", &info) == 0 else {
      throw .pidNamespace("cannot read \(proc)/self/ns/pid: \(errnoText(errno))")
    }
    var buffer = [CChar](repeating: 0, count: 32)
    let length = readlink("\(proc)/self", &buffer, buffer.count - 1)
    let name = length > 0 ? String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    let procPid = Int32(name)
    guard procPid == getpid() else {
      throw .pidNamespace(
        "\(proc) belongs to another PID namespace (it numbers socktrace \(procPid.map(String.init) ?? "?"), "
          + "getpid() says \(getpid())): mount this namespace's /proc first (unshare --pid --fork --mount-proc)")
    }
    return PidNamespace(inode: UInt32(truncatingIfNeeded: info.st_ino), level: 0)
  }
}
