import Foundation
import Glibc
import Testing

extension KernelTests {
  /// Least privilege: a copy of the tracer with file capabilities (setcap),
  /// run as nobody, traces for real with exactly CAP_BPF, CAP_PERFMON and
  /// CAP_DAC_READ_SEARCH, and without any one of them refuses in one line
  /// that names it.
  @Suite(.timeLimit(.minutes(3)))
  struct CapabilityTests {
    static let nobody: UInt32 = 65534
    static let needed = ["cap_bpf", "cap_perfmon", "cap_dac_read_search"]

    /// A directory nobody can enter, holding copies of the tracer and the
    /// workload (setcap must not touch the build's own binary) and the output.
    final class Sandbox {
      let directory: String
      var socktrace: String { directory + "/socktrace" }
      var workload: String { directory + "/socktrace-workload" }

      init() throws {
        var template = Array((NSTemporaryDirectory() + "socktrace-caps-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError.exited(errno, "mkdtemp") }
        directory = String(cString: made)
        chmod(directory, 0o1777)
        for (source, target) in [(Binaries.socktrace, socktrace), (Binaries.workload, workload)] {
          try FileManager.default.copyItem(atPath: source, toPath: target)
          chmod(target, 0o755)
        }
      }

      deinit { try? FileManager.default.removeItem(atPath: directory) }

      /// `setcap CAPS+ep` on the copy (`CAPS` empty: none).
      func setCapabilities(_ capabilities: [String]) throws {
        let arguments =
          capabilities.isEmpty ? ["-r", socktrace] : [capabilities.joined(separator: ",") + "+ep", socktrace]
        let status = try run("/usr/sbin/setcap", arguments)
        try #require(status == 0, "setcap \(arguments) failed")
      }

      /// Runs the copy as nobody (no groups, no inherited capabilities);
      /// `withoutTracefs`: in a mount namespace of its own where tracefs is
      /// unmounted, as on a fresh machine, without touching anyone else's.
      func runAsNobody(_ arguments: [String], withoutTracefs: Bool = false) throws -> (
        status: Int32, stdout: String, stderr: String
      ) {
        let process = Process()
        let output = Pipe()
        let errors = Pipe()
        let asNobody =
          ["/usr/bin/setpriv", "--reuid=\(nobody)", "--regid=\(nobody)", "--clear-groups", "--inh-caps=-all", "--"]
          + [socktrace] + arguments
        if withoutTracefs {
          process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
          process.arguments =
            [
              "--mount", "--propagation", "private", "/bin/sh", "-c",
              "while umount /sys/kernel/tracing 2>/dev/null; do :; done; exec \"$@\"", "sh",
            ] + asNobody
        } else {
          process.executableURL = URL(fileURLWithPath: asNobody[0])
          process.arguments = Array(asNobody.dropFirst())
        }
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        var stdout = Data()
        var stderr = Data()
        _ = read(errors.fileHandleForReading, into: &stderr, timeout: 60) { _ in false }
        stdout = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (
          process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self)
        )
      }

      func run(_ executable: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
      }
    }

    /// Another test unmounts tracefs; mounting it needs CAP_SYS_ADMIN, which
    /// these runs do not have (a test of its own below), so mount it first.
    func mountTracefs() {
      if access("/sys/kernel/tracing/events", F_OK) != 0 {
        _ = mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nil)
      }
    }

    @Test func tracesAsNobodyWithTheThreeCapabilities() throws {
      mountTracefs()
      let sandbox = try Sandbox()
      try sandbox.setCapabilities(Self.needed)
      let output = sandbox.directory + "/out.jsonl"
      let result = try sandbox.runAsNobody([
        "--json", "-o", output, "--", sandbox.workload, "inet-stream", "bad-family",
      ])
      #expect(result.status == 0, "\(result.stderr)")
      #expect(result.stderr.contains("Tracing socket creation"), "\(result.stderr)")
      // The workload's own report: one line per call, with its pid and inode.
      let truth = result.stdout.split(separator: "\n").compactMap {
        try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
      }
      try #require(truth.count == 2, "workload said: \(result.stdout)")
      let text = try String(contentsOfFile: output, encoding: .utf8)
      let records = text.split(separator: "\n").compactMap {
        try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
      }
      let sockets = records.filter {
        $0["event"] as? String == "socket" && $0["pid"] as? Int == truth[0]["pid"] as? Int
      }
      try #require(sockets.count == 2, "records: \(text)")
      #expect(sockets[0]["uid"] as? Int == Int(Self.nobody))
      #expect(sockets[0]["family"] as? String == "AF_INET")
      #expect(sockets[0].u64("inode") == truth[0]["inode"] as? Int)
      #expect(sockets[1]["error"] as? String == "EAFNOSUPPORT")
      #expect(records.last?["event"] as? String == "end")
    }

    @Test(arguments: needed)
    func eachMissingCapabilityIsNamed(dropped: String) throws {
      mountTracefs()
      let sandbox = try Sandbox()
      try sandbox.setCapabilities(Self.needed.filter { $0 != dropped })
      let result = try sandbox.runAsNobody(["--json", "-o", "/dev/null", "-d", "1"])
      #expect(result.status != 0)
      #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
      #expect(result.stderr.contains("capabilities \(dropped.uppercased()) ("), "\(result.stderr)")
      for other in Self.needed where other != dropped {
        #expect(!result.stderr.contains(other.uppercased() + " "), "\(result.stderr)")
      }
      #expect(!result.stderr.contains("Tracing"))
    }

    /// A fresh machine has no tracefs: mounting it needs CAP_SYS_ADMIN.
    @Test func unmountedTracefsNamesSysAdmin() throws {
      let sandbox = try Sandbox()
      try sandbox.setCapabilities(Self.needed)
      let result = try sandbox.runAsNobody(["-o", "/dev/null", "-d", "1"], withoutTracefs: true)
      #expect(result.status != 0)
      #expect(
        result.stderr.contains("CAP_SYS_ADMIN (to mount tracefs at /sys/kernel/tracing)"), "\(result.stderr)")
    }

    @Test func runningACommandAsAnotherUserNamesSetuid() throws {
      mountTracefs()
      let sandbox = try Sandbox()
      try sandbox.setCapabilities(Self.needed)
      let result = try sandbox.runAsNobody(["-o", "/dev/null", "-u", "root", "--", sandbox.workload, "inet-stream"])
      #expect(result.status != 0)
      #expect(result.stderr.contains("needs root or CAP_SETUID and CAP_SETGID"), "\(result.stderr)")
      #expect(!result.stderr.contains("Tracing"))
    }

    @Test func doctorReportsPrivilegesOkWithTheCapabilities() throws {
      mountTracefs()
      let sandbox = try Sandbox()
      try sandbox.setCapabilities(Self.needed)
      let result = try sandbox.runAsNobody(["doctor"])
      #expect(result.status == 0, "\(result.stderr)")
      #expect(result.stdout.contains("privileges:  ok (uid \(Self.nobody))"), "\(result.stdout)")
      #expect(result.stdout.contains("tracepoint   available"), "\(result.stdout)")
    }
  }
}
