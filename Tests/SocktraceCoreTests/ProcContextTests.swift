import Foundation
import Glibc
import Testing

@testable import SocktraceCore

/// /proc/PID/stat read right: the fields that follow a comm holding spaces
/// and parentheses, ppid (field 4, not the process group), starttime (field
/// 22, not vsize), on fixture lines and on real processes.
@Suite struct ProcContextTests {
  /// A real line (cat, this machine), and the same with hostile comms: every
  /// number after the comm is the same, so only the comm may differ.
  static let tail =
    " R 1323 1320 4946 0 -1 4194304 102 0 0 0 0 0 0 0 20 0 1 0 113955 3133440 394 18446744073709551615 "
    + "94653670055936 94653670075817 140725988658512 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 94653670091824\n"

  @Test(arguments: ["cat", "a b", "x) (y", ") R 9 9 9 (", "((", "))", "", "tab\there"])
  func fieldsAfterAnyCommAreRead(comm: String) throws {
    let line = Array("1326 (\(comm))\(Self.tail)".utf8)
    let stat = try #require(ProcStat(line))
    #expect(stat.pid == 1326)
    #expect(stat.comm == Array(comm.utf8))
    #expect(stat.ppid == 1323)  // field 4; 1320 (field 5) is the process group
    #expect(stat.startTicks == 113_955)  // field 22; 3133440 (field 23) is vsize
    #expect(stat.startBootNanoseconds(ticksPerSecond: 100) == 1_139_550_000_000)
  }

  @Test func invalidUTF8InACommIsKeptAsBytes() throws {
    let line = Array("7 (".utf8) + [0xff, 0x29, 0x20, 0xfe] + Array(")\(Self.tail)".utf8)
    let stat = try #require(ProcStat(line))
    #expect(stat.comm == [0xff, 0x29, 0x20, 0xfe])
    #expect(stat.ppid == 1323)
  }

  @Test(arguments: ["", "1326 cat R 1", "1326 (cat) R", "x (cat)\(tail)", "1326 (cat) R notanumber 1 2"])
  func malformedLinesAreRejected(line: String) {
    #expect(ProcStat(Array(line.utf8)) == nil)
  }

  @Test func ticksConvertWithoutOverflowOrRounding() {
    var stat = ProcStat(Array("1 (x)\(Self.tail)".utf8))
    stat?.startTicks = UInt64.max / 1000
    #expect(stat?.startBootNanoseconds(ticksPerSecond: 100) == UInt64.max)
    stat?.startTicks = 12_345
    #expect(stat?.startBootNanoseconds(ticksPerSecond: 1000) == 12_345_000_000)
    #expect(stat?.startBootNanoseconds(ticksPerSecond: 300) == 41_150_000_000)
  }

  /// A real child, named through a symlink with spaces and parentheses:
  /// its parent is this process, and it started between two clock reads.
  @Test func aRealProcessStartedBeforeIsReadRight() throws {
    let directory = NSTemporaryDirectory() + "socktrace-proc-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let name = "sl) (e p"
    try FileManager.default.createSymbolicLink(atPath: directory + "/" + name, withDestinationPath: "/bin/sleep")

    let before = BootClock.now(CLOCK_BOOTTIME)
    let child = Process()
    child.executableURL = URL(fileURLWithPath: directory + "/" + name)
    child.arguments = ["30"]
    try child.run()
    defer {
      kill(child.processIdentifier, SIGKILL)
      child.waitUntilExit()
    }
    usleep(50_000)  // let it exec
    let after = BootClock.now(CLOCK_BOOTTIME)

    let process = try #require(ProcContext(pid: child.processIdentifier))
    #expect(process.pid == child.processIdentifier)
    #expect(process.ppid == getpid())
    #expect(process.comm == Array(name.utf8))
    #expect(process.argv.map { String(decoding: $0, as: UTF8.self) } == [directory + "/" + name, "30"])
    #expect(String(decoding: process.exe, as: UTF8.self).hasSuffix("sleep"))
    let tick = 1_000_000_000 / UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
    #expect(process.startBootNanoseconds + tick >= before, "started \(before - process.startBootNanoseconds) ns early")
    #expect(process.startBootNanoseconds <= after)
    #expect(process.uid == getuid())
  }
}
