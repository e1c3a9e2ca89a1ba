import Foundation
import Glibc
import Testing

extension KernelTests {
  /// strace's habits: -p ends with its processes, --help shows the tracing
  /// options, a command without -- gets a hint, the table fits 80 columns.
  @Suite(.timeLimit(.minutes(3)))
  struct ConventionTests {
    /// Waits (up to a minute, not a timing assertion) for the tracer to exit by itself.
    func exitsByItself(_ tracer: Tracer) -> Bool {
      for _ in 0..<600 where tracer.process.isRunning { usleep(100_000) }
      return !tracer.process.isRunning
    }

    @Test func pidEndsWhenItsProcessDoes() throws {
      let workload = try Workload(["inet-stream"])
      let tracer = try Tracer(["-p", "\(workload.pid)"])
      _ = try workload.run()
      #expect(exitsByItself(tracer), "socktrace -p kept running after its process exited")
      let (status, stderr, records) = try tracer.stop(signal: 0)
      #expect(status == 0, "\(stderr)")
      #expect(records.contains { $0["event"] as? String == "exit" && $0["pid"] as? Int32 == workload.pid })
      #expect(records.last?["event"] as? String == "end")
    }

    /// With -f it waits for the last descendant: the parent exits first, the
    /// child it left behind later, and the child's exit is in the recording.
    @Test func pidWithFollowEndsWithTheLastDescendant() throws {
      let shell = Process()
      let input = Pipe()
      shell.executableURL = URL(fileURLWithPath: "/bin/sh")
      shell.arguments = ["-c", "read go; sleep 1 & exit 0"]
      shell.standardInput = input
      try shell.run()
      defer { if shell.isRunning { kill(shell.processIdentifier, SIGKILL) } }
      let tracer = try Tracer(["-p", "\(shell.processIdentifier)", "-f"])
      input.fileHandleForWriting.write(Data("go\n".utf8))
      shell.waitUntilExit()
      #expect(exitsByItself(tracer))
      let (status, stderr, records) = try tracer.stop(signal: 0)
      #expect(status == 0, "\(stderr)")
      let fork = try #require(records.first { $0["event"] as? String == "fork" })
      let child = try #require(fork["child_pid"] as? Int32)
      let exits = records.filter { $0["event"] as? String == "exit" }.compactMap { $0["pid"] as? Int32 }
      #expect(exits.contains(shell.processIdentifier))
      #expect(exits.contains(child), "the tracer stopped before the child exited: \(exits)")
      #expect(exits.last == child)
    }

    @Test func helpShowsTheTracingOptions() throws {
      let help = try runSocktraceOutput(["--help"])
      #expect(help.status == 0)
      for option in [
        "--pid", "--follow", "--json", "--comm", "--container", "--family", "--failed", "--wide", "timeline",
      ] {
        #expect(help.stdout.contains(option), "\(option) not in socktrace --help")
      }
    }

    @Test func aCommandWithoutDoubleDashGetsAHint() throws {
      let result = try runSocktrace(["--json", "curl", "-s", "http://127.0.0.1/a b"])
      #expect(result.status == 64)
      #expect(
        result.stderr.contains("did you mean: socktrace --json -- curl -s 'http://127.0.0.1/a b'"), "\(result.stderr)")
    }

    /// Standard output is no terminal here: 80 columns.
    @Test func theTableFits80ColumnsWhenNotATerminal() throws {
      let result = try runSocktraceFully([
        "-d", "1", "--", Binaries.workload, "inet6-dgram", "bad-protocol", "hostile-comm",
      ])
      #expect(result.status == 0, "\(result.stderr)")
      // The workload's own report (JSON) shares standard output: the table's lines are the rest.
      let lines = result.stdout.split(separator: "\n").filter { !$0.hasPrefix("{") }
      #expect(lines.count >= 3)
      #expect(lines.allSatisfy { $0.count <= 80 }, "\(lines.filter { $0.count > 80 })")
      let wide = try runSocktraceFully(["--wide", "--time", "relative", "--", Binaries.workload, "inet6-dgram"])
      let wideLines = wide.stdout.split(separator: "\n").filter { !$0.hasPrefix("{") }
      #expect(wideLines.first?.contains("PPID") == true)
      #expect(wideLines.count >= 2 && wideLines.dropFirst().allSatisfy { $0.hasPrefix("+") })
    }
  }
}
