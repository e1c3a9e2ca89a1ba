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
    guard let statBytes = readSmallFileBytes("/proc/\(pid)/stat"), let stat = ProcStat(statBytes) else {
      return nil
    }
    self.pid = pid
    ppid = stat.ppid
    comm = stat.comm
    startBootNanoseconds = stat.startBootNanoseconds(ticksPerSecond: UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1)))
    exe = Self.readLink("/proc/\(pid)/exe")
    let cmdline = readSmallFileBytes("/proc/\(pid)/cmdline") ?? []
    argv = cmdline.split(separator: 0, omittingEmptySubsequences: false).map(Array.init)
    if argv.last?.isEmpty == true { argv.removeLast() }
    let link = String(decoding: Self.readLink("/proc/\(pid)/ns/net"), as: UTF8.self)
    netns = link.split(whereSeparator: { $0 == "[" || $0 == "]" }).dropFirst().first.flatMap { UInt64($0) }
    if let mount = CgroupResolver.v2MountPoint(), let path = CgroupResolver.path(ofPID: pid) {
      cgroupID = CgroupResolver.id(ofDirectory: path == "/" ? mount : mount + path)
    }
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

/// The fields socktrace needs from one /proc/PID/stat line (proc(5)):
/// `pid (comm) state ppid pgrp session … starttime …`. comm is whatever
/// the process named itself — spaces, parentheses, any byte but NUL — so it
/// runs from the first '(' to the LAST ')', and the numbered fields after it
/// are split on spaces: state is field 3, ppid field 4, starttime field 22.
public struct ProcStat: Equatable, Sendable {
  public var pid: Int32
  public var comm: [UInt8]
  public var ppid: Int32
  /// When the process started, in clock ticks (`sysconf(_SC_CLK_TCK)`)
  /// since boot, on the boot clock (suspend included).
  public var startTicks: UInt64

  public init?(_ line: [UInt8]) {
    guard let open = line.firstIndex(of: UInt8(ascii: "(")), let close = line.lastIndex(of: UInt8(ascii: ")")),
      open < close, let pid = Int32(String(decoding: line[..<open], as: UTF8.self).trimmingTrailingWhitespace())
    else { return nil }
    // Fields 3, 4, … after the comm.
    let fields = line[(close + 1)...].split(separator: UInt8(ascii: " ")).map {
      String(decoding: $0, as: UTF8.self).trimmingTrailingWhitespace()
    }
    guard fields.count >= 20, let ppid = Int32(fields[4 - 3]), let ticks = UInt64(fields[22 - 3]) else { return nil }
    self.pid = pid
    comm = Array(line[(open + 1)..<close])
    self.ppid = ppid
    startTicks = ticks
  }

  /// The start as boot-clock nanoseconds: what `ts_ns` counts.
  public func startBootNanoseconds(ticksPerSecond: UInt64) -> UInt64 {
    let hertz = max(ticksPerSecond, 1)
    let product = startTicks.multipliedFullWidth(by: 1_000_000_000)
    guard product.high < hertz else { return UInt64.max }  // past 584 years: saturate, never trap
    return hertz.dividingFullWidth(product).quotient
  }
}
