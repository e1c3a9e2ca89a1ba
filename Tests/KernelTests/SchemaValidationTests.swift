import Foundation
import Glibc
import Testing

/// Runs scripts/validate-schema.py on a recording: every record against
/// docs/schema.json. Returns (records passed, records failed, its output).
func validateAgainstSchema(_ path: String) throws -> (passed: Int, failed: Int, output: String) {
  let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  let process = Process()
  let pipe = Pipe()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  process.arguments = ["python3", repository.appendingPathComponent("scripts/validate-schema.py").path, path]
  process.standardOutput = pipe
  process.standardError = pipe
  try process.run()
  let data = pipe.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  let output = String(decoding: data, as: UTF8.self)
  let last = output.split(separator: "\n").last.map(String.init) ?? ""
  let numbers = last.split(separator: " ").compactMap { Int($0) }
  guard last.hasSuffix(" failed"), numbers.count == 2 else { return (0, 1, output) }
  return (numbers[0], numbers[1], output)
}

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
      let (status, stderr, records) = try tracer.stop()
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
