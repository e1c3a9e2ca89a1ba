import Foundation
import Glibc
import Testing

extension KernelTests {
  /// `socktrace -- CMD`: the command and its whole tree, traced from the first
  /// instruction, and nothing else; its exit status passed through.
  @Suite(.timeLimit(.minutes(3)))
  struct RunCommandTests {
    func record(_ command: [String]) throws -> (status: Int32, stdout: String, records: [[String: Any]]) {
      let output = NSTemporaryDirectory() + "socktrace-run-\(UUID().uuidString).jsonl"
      defer { unlink(output) }
      let result = try runSocktraceFully(["--json", "-o", output, "--"] + command)
      let lines = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
      let records = try lines.split(separator: "\n").map { line in
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      }
      return (result.status, result.stdout, records)
    }

    @Test func traceACommandTreeAndPassItsExitStatusThrough() throws {
      let scenarios = ["fork", "thread", "socketpair", "accept", "inet6-dgram", "bad-family", "no-such-scenario"]
      let (status, stdout, records) = try record([Binaries.workload] + scenarios)
      #expect(status == 2, "the workload exits 2 on an unknown scenario; socktrace must too")

      // The command's own report passes through our stdout untouched.
      let truth = try stdout.split(separator: "\n").map { line in
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      }
      let calls = truth.filter { ["socket", "socketpair", "accept"].contains($0["op"] as? String) }
      #expect(calls.count == 8)  // accept makes two sockets before accepting

      let start = try #require(records.first)
      #expect(start["event"] as? String == "start")
      #expect(start["command"] as? [String] == [Binaries.workload] + scenarios)
      #expect(records.last?["event"] as? String == "end")

      // The tree: the command (its exec first of all its records) and the child it forked.
      let exec = try #require(records.first { $0["event"] as? String == "exec" })
      let root = try #require(exec["pid"] as? Int)
      #expect(exec["argv"] as? [String] == [Binaries.workload] + scenarios)
      let fork = try #require(records.first { $0["event"] as? String == "fork" })
      #expect(fork["pid"] as? Int == root)
      let child = try #require(fork["child_pid"] as? Int)
      let tree: Set<Int> = [root, child]

      // Nothing from outside the tree, and every call of the tree recorded once.
      let births = records.filter { ["socket", "socketpair", "accept"].contains($0["event"] as? String) }
      #expect(Set(births.compactMap { $0["pid"] as? Int }).isSubset(of: tree))
      #expect(Set(records.compactMap { $0["pid"] as? Int }).isSubset(of: tree))
      #expect(births.count == calls.count)
      for call in calls {
        let inode = (call["inode"] as? Int).flatMap { $0 == 0 ? nil : $0 }
        let matching = births.filter {
          $0["pid"] as? Int == call["pid"] as? Int && $0["tid"] as? Int == call["tid"] as? Int
            && $0.u64("inode") == inode && $0["errno"] as? Int == call["errno"] as? Int
        }
        #expect(matching.count == 1, "\(call)")
      }

      // Every socket that was born and closed has its release; socketpair both.
      let released = Set(records.filter { $0["event"] as? String == "release" }.compactMap { $0.u64("inode") })
      for call in calls where call["errno"] as? Int == 0 {
        for key in ["inode", "inode2"] where call["op"] as? String != "accept" || key == "inode" {
          if let inode = call[key] as? Int, inode != 0 { #expect(released.contains(inode), "\(key) of \(call)") }
        }
      }

      // Both processes end with their codes.
      let exits = Dictionary(
        uniqueKeysWithValues: records.filter { $0["event"] as? String == "exit" }.compactMap { record in
          (record["pid"] as? Int).map { ($0, record["exit_code"] as? Int) }
        })
      #expect(exits[root] == 2)
      #expect(exits[child] == 0)
    }

    /// A recording made by the real tracer renders as timelines and as a
    /// Chrome trace: the parent once, its child indented under it.
    @Test func recordingRendersAsTimelines() throws {
      let path = NSTemporaryDirectory() + "socktrace-timeline-\(UUID().uuidString).jsonl"
      defer { unlink(path) }
      let recorded = try runSocktrace(["--json", "-o", path, "--", Binaries.workload, "fork", "inet-stream"])
      #expect(recorded.status == 0, "\(recorded.stderr)")
      let text = try runSocktraceOutput(["timeline", path])
      #expect(text.status == 0)
      let headers = text.stdout.split(separator: "\n").filter { $0.contains("ppid") }
      #expect(headers.count == 2)
      #expect(headers.first?.hasPrefix("pid ") == true)
      #expect(headers.last?.hasPrefix("  pid ") == true, "the child is indented under its parent")
      #expect(text.stdout.components(separatedBy: "socket      AF_INET SOCK_STREAM IPPROTO_TCP").count == 3)

      let chrome = try runSocktraceOutput(["timeline", path, "--format", "chrome"])
      #expect(chrome.status == 0)
      let trace = try #require(try JSONSerialization.jsonObject(with: Data(chrome.stdout.utf8)) as? [String: Any])
      let events = try #require(trace["traceEvents"] as? [[String: Any]])
      #expect(
        events.filter { $0["ph"] as? String == "X" && ($0["name"] as? String)?.hasPrefix("socket") == true }.count == 2)
      #expect(Set(events.compactMap { $0["pid"] as? Int }).count == 2)
    }

    @Test func commandNotFoundExits127() throws {
      let result = try runSocktrace(["--", "no-such-command-socktrace"])
      #expect(result.status == 127)
      #expect(result.stderr.contains("no-such-command-socktrace: command not found"))
      #expect(!result.stderr.contains("Tracing"))
    }

    @Test func runsAsTheSudoUser() throws {
      setenv("SUDO_UID", "65534", 1)
      setenv("SUDO_GID", "65534", 1)
      defer {
        unsetenv("SUDO_UID")
        unsetenv("SUDO_GID")
      }
      let (status, _, records) = try record([Binaries.workload, "inet-stream"])
      #expect(status == 0)
      let socket = try #require(records.first { $0["event"] as? String == "socket" })
      #expect(socket["uid"] as? Int == 65534)
      #expect(socket["gid"] as? Int == 65534)
      // The gate makes no socket of its own before exec.
      #expect(records.filter { $0["event"] as? String == "socket" }.count == 1)
    }
  }
}
