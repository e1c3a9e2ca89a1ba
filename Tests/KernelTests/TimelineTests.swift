import Foundation
import Glibc
import Testing

extension KernelTests {
  /// Issue 19, "one story": the live `--timeline` and `socktrace timeline
  /// FILE` of the same run print the same thing, and a process whose only
  /// calls are on a socket it inherited is in both.
  @Suite(.timeLimit(.minutes(3)))
  struct TimelineTests {
    @Test func theLiveTimelineIsTheOfflineOneByteForByte() throws {
      let path = NSTemporaryDirectory() + "socktrace-live-\(UUID().uuidString).jsonl"
      defer { unlink(path) }
      let live = try runSocktraceFully(
        ["--timeline", "--json", "-o", path, "--", Binaries.workload, "fork-inherited", "fork", "socketpair"])
      #expect(live.status == 0, "\(live.stderr)")
      // The child's connect on the inherited socket, as the workload saw it.
      let report = try live.stdout.split(separator: "\n").compactMap { line in
        try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
      }
      let connect = try #require(report.first { $0["op"] as? String == "inherited-connect" })
      let child = try #require(connect["pid"] as? Int)
      #expect(connect["errno"] as? Int == Int(ECONNREFUSED))

      let offline = try runSocktraceFully(["timeline", path])
      #expect(offline.status == 0, "\(offline.stderr)")

      // The live run prints its summary first, then the timeline from its
      // `recording:` line to the end: that part is the offline stdout.
      let start = try #require(live.stderr.range(of: "recording: "), "no timeline in: \(live.stderr)")
      let liveTimeline = String(live.stderr[start.lowerBound...])
      #expect(liveTimeline == offline.stdout)
      // The notes (warnings, hidden processes) are the same lines, on stderr both ways.
      for note in offline.stderr.split(separator: "\n") {
        #expect(live.stderr.contains(note), "live run lacks: \(note)")
      }

      // The child that only used its parent's socket is shown, with its call.
      let lines = offline.stdout.split(separator: "\n")
      let header = try #require(lines.first { $0.hasPrefix("  pid \(child) ") }, "\(offline.stdout)")
      #expect(header.contains("(fork)"))
      #expect(lines.contains { $0.contains("connect     127.0.0.1:1 ECONNREFUSED") && $0.contains("(socket of pid ") })
      #expect(offline.stdout.contains("ECONNREFUSED by pid \(child)"))
    }
  }
}
