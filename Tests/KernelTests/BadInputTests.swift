import Foundation
import Glibc
import Testing

extension KernelTests {
  /// Bad input gets one clear line and a non-zero exit, before anything is attached.
  @Suite(.timeLimit(.minutes(3)))
  struct BadInputTests {
    func expectOneLineError(_ result: (status: Int32, stderr: String), containing text: String) {
      #expect(result.status != 0)
      let lines = result.stderr.split(separator: "\n")
      #expect(lines.count == 1, "expected one line, got: \(result.stderr)")
      #expect(result.stderr.contains(text), "\(result.stderr)")
      #expect(!result.stderr.contains("Tracing"))
      #expect(!result.stderr.contains("libbpf"))
    }

    @Test func unknownPid() throws {
      expectOneLineError(try runSocktrace(["-p", "2147483647"]), containing: "no process with pid 2147483647")
    }

    @Test func unwritableOutputIsRefusedBeforeAttaching() throws {
      expectOneLineError(
        try runSocktrace(["--json", "-o", "/proc/no-such-dir/events.jsonl"]),
        containing: "cannot write /proc/no-such-dir/events.jsonl")
    }

    @Test func withoutPrivilegesSaysWhich() throws {
      expectOneLineError(
        try runSocktrace(["--json", "-o", "/dev/null"], asUser: 65534),
        containing: "needs root or the capabilities CAP_BPF (to load BPF programs and maps), CAP_PERFMON (")
      #expect(!(try runSocktrace(["-o", "/dev/null"], asUser: 65534).stderr.contains("socktrace: socktrace")))
    }

    @Test func unavailableRungIsExplained() throws {
      // This machine's kernel forbids fentry; a distribution kernel allows it.
      let result = try runSocktrace(["--attach", "fentry", "-d", "0.1", "-o", "/dev/null"])
      if result.status != 0 {
        expectOneLineError(result, containing: "--attach fentry is not available on this kernel")
      } else {
        #expect(result.stderr.contains("probe: fentry"))
      }
    }

    @Test(arguments: [
      ["-p", "not-a-pid"], ["--address", "10.0.0.0/33"], ["--address", "relative/path"],
      ["--port", "65536"], ["--births-only", "--port", "80"],
    ])
    func usageErrorsExitWith64(arguments: [String]) throws {
      let result = try runSocktrace(arguments)
      #expect(result.status == 64, "\(arguments): \(result.stderr)")
      #expect(result.stderr.contains("Error:"))
    }

    /// A fresh machine has no tracefs mounted: the tracer mounts it itself.
    /// In a private mount namespace, so tracers running beside the test (other
    /// suites, other checkouts) keep theirs.
    @Test func mountsTracefsWhenMissing() throws {
      let script = """
        while umount /sys/kernel/tracing 2>/dev/null; do :; done
        while umount /sys/kernel/debug/tracing 2>/dev/null; do :; done
        [ -e /sys/kernel/tracing/events ] && { echo "tracefs still mounted (busy?)"; exit 90; }
        "$0" --attach tracepoint -d 0.1 -o /dev/null || exit $?
        [ -e /sys/kernel/tracing/events/syscalls ] || { echo "tracefs not mounted by the tracer"; exit 91; }
        """
      let process = Process()
      let output = Pipe()
      process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
      process.arguments = ["--mount", "--propagation", "private", "sh", "-c", script, Binaries.socktrace]
      process.standardOutput = output
      process.standardError = output
      try process.run()
      let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      process.waitUntilExit()
      #expect(process.terminationStatus == 0, "\(text)")
    }
  }
}
