import Foundation
import Glibc
import SchemaValidation
import Testing

extension KernelTests {
  /// Every record of real recordings — a running process traced with -p -f
  /// (its exec from /proc, forks, threads, failures of every stage) and a
  /// command run under the tracer (kernel exec records) — validates against
  /// docs/schema.json: one JSON type per field, whatever the value.
  @Suite(.timeLimit(.minutes(3)))
  struct SchemaValidationTests {
    static let scenarios = SocketTracingTests.scenarios + ["fork", "unshare-net", "lifecycle", "hostile-unix"]

    @Test func aRecordingOfARunningProcessValidates() throws {
      let workload = try Workload(Self.scenarios)
      let tracer = try Tracer(["-p", "\(workload.pid)", "-f"])
      _ = try workload.run()
      let (status, stderr, records) = try tracer.stop(snapshot: true)
      #expect(status == 0, "tracer: \(stderr)")
      let kinds = Set(records.compactMap { $0["event"] as? String })
      #expect(kinds.isSuperset(of: ["start", "exec", "socket", "socketpair", "accept", "fork", "exit", "end"]))
      #expect(records.contains { $0["event"] as? String == "exec" && $0["from_proc"] as? Bool == true })
      let result = try validateAgainstSchema(tracer.outputPath)
      #expect(result.failed == 0, "\(result.output)")
      #expect(result.passed == records.count)
    }

    @Test func aRecordingOfACommandValidates() throws {
      let output = NSTemporaryDirectory() + "socktrace-schema-\(UUID().uuidString).jsonl"
      defer { unlink(output) }
      let run = try runSocktraceFully(["--json", "-o", output, "--", Binaries.workload] + Self.scenarios)
      #expect(run.status == 0, "\(run.stderr)")
      let lines = (try String(contentsOfFile: output, encoding: .utf8)).split(separator: "\n")
      #expect(lines.count > Self.scenarios.count)
      let result = try validateAgainstSchema(output)
      #expect(result.failed == 0, "\(result.output)")
      #expect(result.passed == lines.count)
    }
  }
}
