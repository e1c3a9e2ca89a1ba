import Foundation
import Glibc
import Testing

extension KernelTests {
  /// Issue 22 on this machine's kernel (the tracepoint rung here): one failing
  /// call per cause the rung can name, made by the workload, which reports
  /// each call's errno and the cause it meant (the ground truth).
  @Suite(.timeLimit(.minutes(3)))
  struct FailureCauseTracingTests {
    @Test func everyCauseTheRungCanNameIsNamed() throws {
      let workload = try Workload(["causes"])
      let tracer = try Tracer(["-p", "\(workload.pid)"])
      let truth = try workload.run()
      let (status, stderr, records) = try tracer.stop()
      #expect(status == 0, "tracer: \(stderr)")

      let calls = truth.filter { $0["scenario"] as? String == "causes" }
      let meant = calls.compactMap { $0["cause"] as? String }
      // The VM suite's BPF LSM program is not loaded here: protocol 254 is
      // EPROTONOSUPPORT (a BPF LSM on this machine would make it lsm).
      #expect(
        meant == [
          "bad_flags", "bad_type", "family_out_of_range", "family_unavailable", "protocol_unsupported", "fd_limit",
          "permission", "protocol_unsupported", "seccomp", "seccomp",
        ], "the workload made other calls than meant: \(calls)")
      let births = records.filter { ["socket", "socketpair"].contains($0["event"] as? String) }
      for call in calls {
        let cause = try #require(call["cause"] as? String)
        let errno = try #require(call["errno"] as? Int)
        #expect(errno != 0, "\(cause): the call succeeded: \(call)")
        let found = births.filter {
          $0["event"] as? String == call["op"] as? String && $0["tid"] as? Int == call["tid"] as? Int
            && $0["errno"] as? Int == errno && $0["family_num"] as? Int == call["family"] as? Int
            && $0["type_num"] as? Int == (call["type"] as? Int ?? -1) & 0xf
        }
        guard found.count == 1, let record = found.first else {
          Issue.record("\(cause): \(found.count) records for \(call)")
          continue
        }
        #expect(record["cause"] as? String == cause, "\(record)")
        #expect(record["ret"] as? Int == -errno)
        switch cause {
        case "fd_limit":
          #expect(record["fd_limit"] as? Int == 16, "\(record)")
          #expect(record["open_fds"] as? Int == call["open_fds"] as? Int, "\(record)")
          #expect((call["open_fds"] as? Int ?? 0) >= 16)
        case "permission":
          #expect(record["capability"] as? String == "CAP_NET_RAW", "\(record)")
        case "seccomp":
          // seccomp answers before the call runs: seen at sys_exit, with the
          // arguments from the saved registers (this kernel is 5.15+).
          #expect(record["probe"] as? String == "tracepoint")
          #expect(record["type_num"] as? Int == (call["type"] as? Int ?? -1) & 0xf, "\(record)")
        case "family_unavailable":
          // Where the kernel has modules, __sock_create asked for net-pf-19.
          let modules = access("/proc/sys/kernel/modprobe", F_OK) == 0
          #expect((record["module"] as? String) == (modules ? "net-pf-19" : nil), "\(record)")
        default:
          #expect(record["module"] == nil && record["fd_limit"] == nil, "\(record)")
        }
      }
      // Successes carry cause null.
      let start = try #require(records.first)
      let spots = (start["blind_spots"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }
      if start["probe"] as? String == "tracepoint" {
        #expect(spots.contains("cause:lsm"), "\(spots)")
      }
      let end = try #require(records.last)
      #expect(end["lost"] as? Int == 0)

      // The timeline says it in words.
      let timeline = try runSocktraceOutput(["timeline", tracer.outputPath])
      #expect(timeline.status == 0)
      #expect(timeline.stdout.contains("FAILED EMFILE: fd limit 16 reached ("), "\(timeline.stdout)")
      #expect(timeline.stdout.contains("FAILED EPERM: refused by seccomp"), "\(timeline.stdout)")
      #expect(timeline.stdout.contains("FAILED EPERM: permission (no CAP_NET_RAW)"), "\(timeline.stdout)")
    }

    /// A success has cause null; the plain scenarios' failures get theirs too.
    @Test func successesHaveNoCause() throws {
      let workload = try Workload(["inet-stream", "bad-family"])
      let tracer = try Tracer(["-p", "\(workload.pid)"])
      _ = try workload.run()
      let (status, _, records) = try tracer.stop()
      #expect(status == 0)
      let sockets = records.filter { $0["event"] as? String == "socket" }
      #expect(sockets.count == 2)
      for record in sockets {
        if record["errno"] as? Int == 0 {
          #expect(record["cause"] is NSNull, "\(record)")
        } else {
          #expect(record["cause"] as? String == "family_out_of_range", "\(record)")
        }
      }
    }
  }
}
