import Foundation
import Glibc
import Testing

extension KernelTests {
  /// io_uring and the 32-bit syscall ABI on this machine's kernel: every
  /// socket the workload makes by these paths is recorded exactly once, with
  /// the fd and the inode /proc/PID/fd showed, and says how it was made.
  @Suite(.timeLimit(.minutes(3)))
  struct OtherPathsTracingTests {
    static let scenarios = [
      "io-uring-socket", "io-uring-bad-family", "io-uring-accept", "io-uring-accept-multishot",
      "ia32-socket", "ia32-socketcall", "ia32-socketpair", "ia32-accept4",
    ]

    @Test func everyPathIsRecordedOnceWithItsVia() throws {
      let workload = try Workload(Self.scenarios)
      let tracer = try Tracer(["-p", "\(workload.pid)", "--ia32", "on"])
      let truth = try workload.run()
      let (status, stderr, records) = try tracer.stop()
      #expect(status == 0, "tracer: \(stderr)")
      #expect(records.last?["lost"] as? Int == 0)
      // This kernel (6.18) has every path: nothing the workload tried is unsupported.
      #expect(truth.filter { $0["op"] as? String == "unsupported" }.isEmpty, "\(truth)")
      let start = try #require(records.first)
      let blind = (start["blind_spots"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }
      // (io_uring's connect, bind and listen are calls on sockets, declared on every kernel with io_uring)
      let onSockets = ["io_uring_connect", "io_uring_bind", "io_uring_listen"]
      #expect(
        !blind.contains { ($0.hasPrefix("io_uring") && !onSockets.contains($0)) || $0.hasPrefix("ia32") },
        "blind_spots \(blind)")

      let births = records.filter { ["socket", "socketpair", "accept"].contains($0["event"] as? String) }
      let calls = truth.filter { ["socket", "socketpair", "accept"].contains($0["op"] as? String) }
      #expect(births.count == calls.count, "\(births.count) records for \(calls.count) calls")
      var vias: Set<String> = []
      for call in calls {
        let op = try #require(call["op"] as? String)
        let via = try #require(call["via"] as? String)
        let ret = try #require(call["ret"] as? Int)
        let fd = op == "socketpair" ? call["fd"] as? Int : (ret >= 0 ? ret : nil)
        let inode = (call["inode"] as? Int).flatMap { $0 == 0 ? nil : $0 }
        let matches = births.filter { record in
          record["event"] as? String == op && record["via"] as? String == via
            && record["pid"] as? Int == call["pid"] as? Int
            && (record["fd"] as? Int) == fd && record.u64("inode") == inode
            && record["errno"] as? Int == call["errno"] as? Int
        }
        #expect(matches.count == 1, "\(call) matched \(matches.count) records")
        guard let record = matches.first else { continue }
        vias.insert(via)
        if ret >= 0 { #expect((record.u64("inode") ?? 0) > 0, "\(record)") }
        if op == "socketpair" {
          #expect(record["peer_fd"] as? Int == call["fd2"] as? Int)
          #expect(record.u64("peer_inode") == call["inode2"] as? Int)
        }
        if op == "accept" {
          #expect(record.u64("listen_inode") == call["inode2"] as? Int)
          // accept4's SOCK_CLOEXEC is the new fd's; the cancelled multishot made none
          if ret >= 0 { #expect(record["flags"] as? [String] == ["SOCK_CLOEXEC"], "\(record)") }
        }
      }
      #expect(vias == ["io_uring", "ia32", "socketcall", "syscall"])
    }

    /// With the ia32 hook off the 32-bit socketpair and accept4 are not
    /// recorded, and the start record says so rather than staying silent.
    @Test func ia32OffIsABlindSpotNamedInTheStartRecord() throws {
      let workload = try Workload(["ia32-socketpair", "ia32-accept4"])
      let tracer = try Tracer(["-p", "\(workload.pid)", "--ia32", "off"])
      let truth = try workload.run()
      let (status, stderr, records) = try tracer.stop()
      #expect(status == 0, "tracer: \(stderr)")
      let start = try #require(records.first)
      let blind = (start["blind_spots"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }
      #expect(blind.contains("ia32_socketpair") && blind.contains("ia32_accept"), "\(blind)")
      let made = truth.filter {
        ["socketpair", "accept"].contains($0["op"] as? String) && $0["via"] as? String == "ia32"
      }
      #expect(made.count == 2, "\(truth)")
      let seen = records.filter { $0["via"] as? String == "ia32" }
      #expect(seen.isEmpty, "\(seen)")
    }
  }
}
