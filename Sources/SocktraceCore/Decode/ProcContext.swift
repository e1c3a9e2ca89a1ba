import Glibc

/// What /proc knows of a process that was already running when tracing
/// started: its timeline gets the context an exec record would have given.
public struct ProcContext {
  public var pid: Int32
  public var ppid: Int32
  public var uid: UInt32
  public var gid: UInt32
  public var comm: [UInt8]
  public var exe: [UInt8]
  public var argv: [[UInt8]]
  public var netns: UInt64?
  /// The cgroup v2 id (the inode of its directory), if it could be read.
  public var cgroupID: UInt64?
  /// When the process started, on the boot clock (ns), from /proc/PID/stat.
  public var startBootNanoseconds: UInt64

  /// Reads /proc/PID; nil if the process is gone.
  public init?(pid: Int32) {
    guard let stat = readSmallFile("/proc/\(pid)/stat") else { return nil }
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so
    // the fields after it start at the last ')'.
    guard let close = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 20, let ppid = Int32(fields[2]), let ticks = UInt64(fields[20]) else { return nil }
    self.pid = pid
    self.ppid = ppid
    let hertz = UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
    startBootNanoseconds = ticks * (1_000_000_000 / hertz)
    comm = Array((readSmallFile("/proc/\(pid)/comm") ?? "").utf8.prefix { $0 != 10 })
    exe = Self.readLink("/proc/\(pid)/exe")
    let cmdline = Array((readSmallFile("/proc/\(pid)/cmdline") ?? "").utf8)
    argv = cmdline.split(separator: 0, omittingEmptySubsequences: false).map(Array.init)
    if argv.last?.isEmpty == true { argv.removeLast() }
    let link = String(decoding: Self.readLink("/proc/\(pid)/ns/net"), as: UTF8.self)
    netns = link.split(whereSeparator: { $0 == "[" || $0 == "]" }).dropFirst().first.flatMap { UInt64($0) }
    uid = 0
    gid = 0
    for line in (readSmallFile("/proc/\(pid)/status") ?? "").split(separator: "\n") {
      let parts = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
      if parts.first == "Uid:", parts.count > 1 { uid = UInt32(parts[1]) ?? 0 }
      if parts.first == "Gid:", parts.count > 1 { gid = UInt32(parts[1]) ?? 0 }
    }
  }

  static func readLink(_ path: String) -> [UInt8] {
    var buffer = [CChar](repeating: 0, count: 4096)
    let length = readlink(path, &buffer, buffer.count)
    guard length > 0 else { return [] }
    return buffer[0..<length].map { UInt8(bitPattern: $0) }
  }
}
