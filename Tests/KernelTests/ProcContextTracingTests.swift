import Foundation
import Glibc
import Testing

extension KernelTests {
  /// `-p` of a process started before tracing: the `exec` record made from
  /// /proc has its real parent (not its process group) and its real start
  /// (not days in the future), so its timeline starts where it did.
  @Suite(.timeLimit(.minutes(2)))
  struct ProcContextTracingTests {
    @Test func aProcessStartedBeforeTracingGetsItsRealContext() throws {
      let before = clockNanoseconds(CLOCK_BOOTTIME)
      let child = Process()
      child.executableURL = URL(fileURLWithPath: "/bin/sh")
      // Its parent is this test process; its process group is the runner's.
      child.arguments = ["-c", "exec sleep 30"]
      try child.run()
      defer {
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
      }
      usleep(300_000)
      let started = clockNanoseconds(CLOCK_BOOTTIME)

      let tracer = try Tracer(["-p", "\(child.processIdentifier)"])
      let (status, stderr, records) = try tracer.stop()
      #expect(status == 0, "tracer: \(stderr)")
      let exec = try #require(
        records.first { $0["event"] as? String == "exec" && $0["pid"] as? Int32 == child.processIdentifier })
      #expect(exec["from_proc"] as? Bool == true)
      #expect(exec["ppid"] as? Int32 == getpid())
      #expect(exec["comm"] as? String == "sleep")
      #expect(exec["argv"] as? [String] == ["sleep", "30"])
      let tick = UInt64(1_000_000_000 / max(sysconf(Int32(_SC_CLK_TCK)), 1))
      let start = try #require(exec.u64("ts_ns").map(UInt64.init))
      #expect(start + tick >= before && start <= started, "start \(start) not in [\(before), \(started)]")
      // The wall-clock time agrees with the start record's clock.
      let first = try #require(records.first)
      let offset = try #require(first.u64("boot_offset_ns").map(UInt64.init))
      let wall = Double(start + offset) / 1e9
      #expect(abs(wall - Date().timeIntervalSince1970) < 60)
    }
  }
}

func clockNanoseconds(_ clock: clockid_t) -> UInt64 {
  var time = timespec()
  clock_gettime(clock, &time)
  return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}
