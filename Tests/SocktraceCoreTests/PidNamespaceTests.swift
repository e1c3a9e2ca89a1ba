import Foundation
import Glibc
import Testing

@testable import SocktraceCore

@Suite struct PidNamespaceTests {
  @Test func thisProcessNamespaceIsReadFromProc() throws {
    let namespace = try PidNamespace.current()
    var info = stat()
    #expect(stat("/proc/self/ns/pid", &info) == 0)
    #expect(namespace.inode == UInt32(info.st_ino))
    #expect(namespace.level == 0, "the level is the BPF side's to find")
  }

  /// A /proc whose `self` is not getpid() (mounted for another namespace) is refused.
  @Test func aProcOfAnotherNamespaceIsRefused() throws {
    let proc = NSTemporaryDirectory() + "socktrace-fake-proc-\(UUID().uuidString)"
    defer { _ = try? FileManager.default.removeItem(atPath: proc) }
    let other = getpid() + 100_000
    try FileManager.default.createDirectory(atPath: "\(proc)/\(other)/ns", withIntermediateDirectories: true)
    #expect(FileManager.default.createFile(atPath: "\(proc)/\(other)/ns/pid", contents: nil))
    #expect(symlink("\(other)", "\(proc)/self") == 0)
    #expect(throws: TraceError.self) { try PidNamespace.current(proc: proc) }
    do {
      _ = try PidNamespace.current(proc: proc)
    } catch {
      #expect("\(error)".contains("belongs to another PID namespace"), "\(error)")
      #expect("\(error)".contains("socktrace \(other), getpid() says \(getpid())"), "\(error)")
    }
  }

  @Test func initialNamespaceIsKnownByItsFixedInode() {
    #expect(PidNamespace(inode: 0xEFFF_FFFC, level: 0).isInitial)
    #expect(!PidNamespace(inode: 4_026_532_179, level: 1).isInitial)
  }
}
