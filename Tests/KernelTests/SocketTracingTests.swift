import Foundation
import Glibc
import Testing

extension KernelTests {
  /// The real tracer, loaded into the running kernel, against real syscalls.
  /// Serialized: each test attaches system-wide probes and filters on its own
  /// workload's pid.
  @Suite(.timeLimit(.minutes(3)))
  struct SocketTracingTests {
    static let scenarios = [
      "inet-stream", "inet6-dgram", "unix-nonblock-cloexec", "raw-icmp", "netlink", "bad-family",
      "bad-flags", "bad-protocol", "emfile", "socketpair", "accept", "thread", "hostile-comm",
    ]

    /// Every call the workload makes is recorded exactly once, with the pid,
    /// tid, fd, errno, flags and the inode /proc/PID/fd/N showed.
    @Test func everySocketCallIsRecordedExactlyOnce() throws {
      let workload = try Workload(Self.scenarios)
      let tracer = try Tracer(["-p", "\(workload.pid)"])
      let truth = try workload.run()
      let (status, stderr, records) = try tracer.stop()
      #expect(status == 0, "tracer: \(stderr)")

      #expect(records.first?["event"] as? String == "start")
      let end = try #require(records.last)
      #expect(end["event"] as? String == "end")
      #expect(end["lost"] as? Int == 0)
      #expect(stderr.contains("0 lost"))

      let births = records.filter { ["socket", "socketpair", "accept"].contains($0["event"] as? String) }
      #expect(births.allSatisfy { $0["pid"] as? Int32 == workload.pid }, "the pid filter let another process in")
      let calls = truth.filter { ["socket", "socketpair", "accept"].contains($0["op"] as? String) }
      #expect(births.count == calls.count)

      for call in calls {
        let op = try #require(call["op"] as? String)
        let ret = try #require(call["ret"] as? Int)
        let type = try #require(call["type"] as? Int32)
        let matches = births.filter { record in
          record["event"] as? String == op && record["tid"] as? Int == call["tid"] as? Int
            && record["family_num"] as? Int == call["family"] as? Int
            && record["type_num"] as? Int32 == type & 0xf
            && (op == "socketpair"
              ? record["fd"] as? Int == call["fd"] as? Int
              : record["ret"] as? Int == (ret < 0 ? -(call["errno"] as? Int ?? 0) : ret))
            && record.u64("inode") == ((call["inode"] as? Int).flatMap { $0 == 0 ? nil : $0 })
        }
        #expect(matches.count == 1, "\(call) matched \(matches.count) records")
        guard let record = matches.first else { continue }
        let errno = call["errno"] as? Int ?? -1
        #expect(record["pid"] as? Int == call["pid"] as? Int)
        #expect(record["errno"] as? Int == errno)
        #expect(record["kernel"] as? Bool == false)
        if errno == 0 {
          #expect(record["error"] is NSNull)
          #expect(record["failed_stage"] is NSNull)
          #expect((record.u64("inode") ?? 0) > 0)
        } else {
          #expect(record["fd"] is NSNull)
          #expect(record["inode"] is NSNull)
          #expect(record["error"] as? String != nil)
        }
        var flags: [String] = []
        if type & 0o4000 != 0 { flags.append("SOCK_NONBLOCK") }
        if type & 0o2_000_000 != 0 { flags.append("SOCK_CLOEXEC") }
        if type & 0x400_0000 != 0 { flags.append("0x4000000") }
        #expect(record["flags"] as? [String] == flags)
        if op == "socketpair" {
          #expect(record["ret"] as? Int == 0)
          #expect(record["peer_fd"] as? Int == call["fd2"] as? Int)
          #expect(record.u64("peer_inode") == call["inode2"] as? Int)
        }
        if op == "accept" {
          #expect(record["listen_fd"] as? Int == call["fd2"] as? Int)
          #expect(record.u64("listen_inode") == call["inode2"] as? Int)
        }
        let probe = try #require(record["probe"] as? String)
        #expect(["fentry", "kprobe", "tracepoint"].contains(probe))
      }

      // Failures by name, and the protocol the kernel resolved for protocol 0.
      let byErrno = Dictionary(grouping: births, by: { $0["error"] as? String ?? "" })
      #expect(byErrno["EAFNOSUPPORT"]?.count == 1)
      #expect(byErrno["EINVAL"]?.count == 1)
      #expect(byErrno["EPROTONOSUPPORT"]?.count == 1)
      #expect(byErrno["EMFILE"]?.count == 1)
      #expect(births.contains { $0["family"] as? String == "AF_INET6" && $0["protocol"] as? String == "IPPROTO_UDP" })
      #expect(
        births.contains {
          $0["family"] as? String == "AF_INET" && $0["type"] as? String == "SOCK_RAW"
            && $0["protocol"] as? String == "IPPROTO_ICMP"
        })

      // A thread's socket carries its own tid.
      let threaded = calls.filter { $0["tid"] as? Int != $0["pid"] as? Int }
      #expect(threaded.count == 1)

      // Hostile process names still give valid JSON, with the bytes preserved.
      let hostile = births.filter { ($0["comm"] as? String)?.hasPrefix("q\"b\\\n\u{01}") == true }
      #expect(hostile.count == 1)
      #expect(hostile.first?["comm"] as? String == "q\"b\\\n\u{01}\u{FFFD}")

      // Each socket that succeeded and was closed has its end recorded.
      let releases = Set(records.filter { $0["event"] as? String == "release" }.compactMap { $0.u64("inode") })
      for call in calls where (call["errno"] as? Int) == 0 {
        if let inode = call["inode"] as? Int { #expect(releases.contains(inode), "no release for \(call)") }
      }
    }

    /// `-p` is filtered in the kernel: a concurrent process is absent.
    @Test func pidFilterExcludesAConcurrentProcess() throws {
      let traced = try Workload(["inet-stream"])
      let other = try Workload(["inet-stream", "inet6-dgram"])
      let tracer = try Tracer(["-p", "\(traced.pid)"])
      _ = try other.run()
      _ = try traced.run()
      let (status, _, records) = try tracer.stop()
      #expect(status == 0)
      let pids = Set(records.compactMap { $0["pid"] as? Int32 })
      #expect(pids == [traced.pid])
      #expect(records.filter { $0["event"] as? String == "socket" }.count == 1)
    }

    /// `-f` adds children forked later, in the kernel; without it they are absent.
    @Test(arguments: [true, false])
    func followIncludesForkedChildren(follow: Bool) throws {
      let workload = try Workload(["fork"])
      let tracer = try Tracer(["-p", "\(workload.pid)"] + (follow ? ["-f"] : []))
      let truth = try workload.run()
      let (status, _, records) = try tracer.stop()
      #expect(status == 0)
      let childCall = try #require(truth.first { $0["op"] as? String == "socket" })
      let childPID = try #require(childCall["pid"] as? Int)
      #expect(childPID != Int(workload.pid))
      let childSockets = records.filter { $0["event"] as? String == "socket" && $0["pid"] as? Int == childPID }
      #expect(childSockets.count == (follow ? 1 : 0))
      if follow {
        #expect(childSockets.first?["ppid"] as? Int32 == workload.pid)
        #expect(childSockets.first?.u64("inode") == childCall["inode"] as? Int)
      }
      let forks = records.filter { $0["event"] as? String == "fork" }
      #expect(forks.count == 1)
      #expect(forks.first?["child_pid"] as? Int == childPID)
    }

    /// SIGTERM stops cleanly: drained, detached, end record, summary.
    @Test func sigtermWritesTheEndRecordAndSummary() throws {
      let workload = try Workload(["inet-stream"])
      let tracer = try Tracer(["-p", "\(workload.pid)"])
      _ = try workload.run()
      let (status, stderr, records) = try tracer.stop(signal: SIGTERM)
      #expect(status == 0)
      #expect(records.last?["event"] as? String == "end")
      #expect(records.last?["sockets"] as? Int == 1)
      #expect(stderr.contains("socktrace: "))
      #expect(stderr.contains("1 socket births"))
    }

    /// The process lifecycle around the sockets: exec, exit with its code.
    @Test func execAndExitAreRecorded() throws {
      let tracer = try Tracer([])
      let process = Process()
      process.executableURL = URL(fileURLWithPath: Binaries.workload)
      process.arguments = ["inet-stream", "no-such-scenario"]
      process.standardOutput = FileHandle.nullDevice
      process.standardError = FileHandle.nullDevice
      try process.run()
      process.waitUntilExit()
      let (status, _, records) = try tracer.stop()
      #expect(status == 0)
      let pid = Int(process.processIdentifier)
      let mine = records.filter { $0["pid"] as? Int == pid }
      let exec = try #require(mine.first { $0["event"] as? String == "exec" })
      #expect(exec["exe"] as? String == Binaries.workload)
      #expect(exec["argv"] as? [String] == [Binaries.workload, "inet-stream", "no-such-scenario"])
      let exit = try #require(mine.first { $0["event"] as? String == "exit" })
      #expect(exit["exit_code"] as? Int == 2)
      #expect(mine.filter { $0["event"] as? String == "socket" }.count == 1)
    }

    @Test func durationStopsTheTracerByItself() throws {
      let started = Date()
      let (status, stderr) = try runSocktrace(["-d", "0.3", "-o", "/dev/null", "--json"])
      #expect(status == 0, "\(stderr)")
      #expect(stderr.contains("Tracing"))
      #expect(stderr.contains("lost"))
      #expect(Date().timeIntervalSince(started) < 30)
    }
  }
}
