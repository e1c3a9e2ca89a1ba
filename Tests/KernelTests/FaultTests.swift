import Foundation
import Glibc
import Testing

/// Runs `/bin/sh -c script` to completion: status, stdout, stderr (through
/// files, so neither can block it).
func runShell(_ script: String, environment: [String: String] = [:]) throws -> (
  status: Int32, stdout: String, stderr: String
) {
  let process = Process()
  let base = NSTemporaryDirectory() + "socktrace-sh-\(UUID().uuidString)"
  FileManager.default.createFile(atPath: base + ".out", contents: nil)
  FileManager.default.createFile(atPath: base + ".err", contents: nil)
  defer {
    unlink(base + ".out")
    unlink(base + ".err")
  }
  process.executableURL = URL(fileURLWithPath: "/bin/sh")
  process.arguments = ["-c", script]
  var env = ProcessInfo.processInfo.environment
  env["SOCKTRACE"] = Binaries.socktrace
  env["WORKLOAD"] = Binaries.workload
  for (key, value) in environment { env[key] = value }
  process.environment = env
  process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".out"))
  process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".err"))
  try process.run()
  process.waitUntilExit()
  let status =
    process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
  return (
    status, (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "",
    (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
  )
}

/// Parses JSON lines.
func jsonLines(_ text: String) throws -> [[String: Any]] {
  try text.split(separator: "\n").map { line in
    try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
  }
}

func jsonLines(path: String) throws -> [[String: Any]] {
  try jsonLines(try String(contentsOfFile: path, encoding: .utf8))
}

/// Polls `condition` every 50 ms for up to `seconds`.
func waitFor(seconds: Double, _ condition: () -> Bool) -> Bool {
  let deadline = Date().addingTimeInterval(seconds)
  while Date() < deadline {
    if condition() { return true }
    usleep(50_000)
  }
  return condition()
}

func temporaryPath(_ name: String) -> String {
  NSTemporaryDirectory() + "socktrace-\(name)-\(UUID().uuidString)"
}

/// The `lost_by_cause` of an `end` record, cause -> count.
func lostByCause(_ records: [[String: Any]]) -> [String: Int] {
  let end = records.last { $0["event"] as? String == "end" }
  return (end?["lost_by_cause"] as? [String: Int]) ?? [:]
}

extension KernelTests {
  /// Issue 14: signals, closed fds, unsafe outputs, map overflows, pipes.
  @Suite(.timeLimit(.minutes(5)))
  struct FaultTests {
    // MARK: 1. stopping forwards the signal to the command and waits for it

    @Test func stopForwardsTheSignalAndWaitsForTheCommand() throws {
      let done = temporaryPath("done")
      defer { unlink(done) }
      // The command ignores the signal, finishes its work, makes a socket, exits 3.
      let tracer = try Tracer([
        "--", "/bin/sh", "-c",
        "trap '' INT TERM; sleep 1; \(Binaries.workload) inet-stream >/dev/null; touch \(done); exit 3",
      ])
      let stopped = try tracer.stop(signal: SIGTERM)
      #expect(stopped.status == 3, "the command's status: \(stopped.stderr)")
      #expect(access(done, F_OK) == 0, "the command was killed before it finished")
      #expect(stopped.records.contains { $0["event"] as? String == "socket" }, "its last socket is recorded")
      #expect(stopped.records.last?["event"] as? String == "end")
    }

    @Test func secondStopSignalKillsTheCommand() throws {
      let tracer = try Tracer(["--", "/bin/sh", "-c", "trap '' INT TERM; exec sleep 60"])
      kill(tracer.process.processIdentifier, SIGTERM)
      usleep(300_000)
      let stopped = try tracer.stop(signal: SIGTERM)
      #expect(stopped.status == 128 + SIGKILL, "\(stopped.stderr)")
      #expect(stopped.records.last?["event"] as? String == "end")
    }

    // MARK: 3. every loss counted by cause and kind, live

    /// Sums the `by_cause` of every `lost` record: cause -> kind -> count.
    func liveLosses(_ records: [[String: Any]]) -> [String: [String: Int]] {
      var sum: [String: [String: Int]] = [:]
      for record in records where record["event"] as? String == "lost" {
        for (cause, kinds) in (record["by_cause"] as? [String: [String: Int]]) ?? [:] {
          for (kind, count) in kinds { sum[cause, default: [:]][kind, default: 0] += count }
        }
      }
      return sum
    }

    func count(_ records: [[String: Any]], _ event: String, pid: Int? = nil) -> Int {
      records.filter { $0["event"] as? String == event && (pid == nil || $0["pid"] as? Int == pid) }.count
    }

    /// A stopped reader under a 1 MiB ring: a `lost` record arrives while the
    /// tracer runs, and records + every counted loss == the calls made.
    @Test func stoppedReaderGetsALostRecordMidRun() throws {
      let calls = 20000
      let workload = try Workload(["burst=\(calls)"])
      let tracer = try Tracer(["-p", "\(workload.pid)", "--ring-buffer", "1"])
      kill(tracer.process.processIdentifier, SIGSTOP)
      let truth = try workload.run()
      kill(tracer.process.processIdentifier, SIGCONT)
      let ok = try #require(truth.first?["ok"] as? Int)
      #expect(ok == calls)
      let live = waitFor(seconds: 30) {
        ((try? String(contentsOfFile: tracer.outputPath, encoding: .utf8)) ?? "").contains(#""event":"lost""#)
      }
      #expect(live, "no lost record while the tracer ran")
      let stopped = try tracer.stop()
      let records = stopped.records
      let lost = liveLosses(records)
      let end = try #require(records.last)
      #expect(end["event"] as? String == "end")
      let liveTotal = records.filter { $0["event"] as? String == "lost" }.compactMap { $0["lost"] as? Int }.reduce(0, +)
      #expect(liveTotal == end["lost"] as? Int, "the lost records add up to the end's")
      #expect(lostByCause(records)["ring_full"] ?? 0 > 0)
      let pid = Int(workload.pid)
      let births = count(records, "socket", pid: pid) + (lost["ring_full"]?["socket"] ?? 0)
      #expect(births == calls, "socket records + sockets lost == calls: \(lost)")
      // Sockets it held when tracing began (inherited) are released too: not among the calls.
      let held = Set(
        try tracer.records(snapshot: true).filter { $0["via"] as? String == "snapshot" }.compactMap { $0.u64("inode") })
      let released = records.filter {
        $0["event"] as? String == "release" && $0["pid"] as? Int == pid && !held.contains($0.u64("inode") ?? -1)
      }
      let releases =
        released.count + (lost["ring_full"]?["release"] ?? 0) + (lost["release_of_lost_birth"]?["release"] ?? 0)
      // A lost record carries no inode: a lost release of an inherited socket
      // (born before tracing, in the snapshot) is among the ring_full ones.
      #expect(
        releases >= ok && releases <= ok + held.count,
        "release records + releases lost == sockets closed (+ at most the \(held.count) inherited): \(lost)")
      #expect((lost["release_of_lost_birth"]?["release"] ?? 0) > 0, "a lost birth's release is counted")
      #expect(stopped.stderr.contains("ring_full"), "the summary says why")
    }

    /// More live followed processes than the `traced` map holds (8,192).
    @Test func moreFollowedProcessesThanTheTracedMapAreCounted() throws {
      let output = temporaryPath("procs")
      defer { unlink(output) }
      let result = try runSocktraceFully([
        "--json", "-o", output, "--ring-buffer", "64", "--", Binaries.workload, "hold-processes=8300",
      ])
      #expect(result.status == 0, "\(result.stderr)")
      let truth = try jsonLines(result.stdout)
      let forked = try #require(truth.first { $0["op"] as? String == "hold-processes" }?["forked"] as? Int)
      #expect(forked == 8300)
      let records = try jsonLines(path: output)
      let root = try #require(records.first { $0["event"] as? String == "exec" }?["pid"] as? Int)
      let childSockets = records.filter { $0["event"] as? String == "socket" && $0["pid"] as? Int != root }.count
      let lost = liveLosses(records)
      let notFollowed = lost["traced_full"]?["fork"] ?? 0
      #expect(notFollowed > 0, "children past 8,192 are counted, not silently lost")
      #expect(lostByCause(records)["traced_full"] == notFollowed)
      #expect(childSockets + notFollowed + (lost["ring_full"]?["socket"] ?? 0) == forked, "\(lost)")
    }

    /// More open traced sockets than the `births` map holds (--max-sockets 65536).
    @Test func moreOpenSocketsThanTheBirthsMapAreCounted() throws {
      let output = temporaryPath("sockets")
      defer { unlink(output) }
      let result = try runSocktraceFully([
        "--json", "-o", output, "--ring-buffer", "64", "--max-sockets", "65536", "--", Binaries.workload,
        "hold-sockets=66000",
      ])
      #expect(result.status == 0, "\(result.stderr)")
      let truth = try jsonLines(result.stdout)
      let opened = try #require(truth.first { $0["op"] as? String == "hold-sockets" }?["opened"] as? Int)
      #expect(opened == 66000)
      let records = try jsonLines(path: output)
      let lost = liveLosses(records)
      let unremembered = lost["births_full"]?["release"] ?? 0
      #expect(unremembered > 0, "releases past 65,536 open sockets are counted")
      let releases =
        count(records, "release") + unremembered + (lost["ring_full"]?["release"] ?? 0)
        + (lost["release_of_lost_birth"]?["release"] ?? 0)
      #expect(releases == opened, "\(lost)")
      let timeline = try runSocktraceFully(["timeline", output])
      #expect(timeline.stderr.contains("lost"), "the timeline warns: \(timeline.stderr)")
    }

    // MARK: 4. nothing touches -o FILE before everything is validated

    @Test func refusedRunLeavesTheOutputAlone() throws {
      let previous = temporaryPath("previous")
      defer { unlink(previous) }
      try "previous recording\n".write(toFile: previous, atomically: false, encoding: .utf8)
      let result = try runSocktrace(["--json", "-o", previous, "-p", "2147483647"])
      #expect(result.status != 0)
      #expect(try String(contentsOfFile: previous, encoding: .utf8) == "previous recording\n")
      let fresh = temporaryPath("fresh")
      #expect(try runSocktrace(["--json", "-o", fresh, "-p", "2147483647"]).status != 0)
      #expect(access(fresh, F_OK) != 0, "a file created for a refused run is removed")
    }

    // MARK: 5. the whole tree, after the command exits

    @Test func backgroundChildIsTracedAfterTheParentExits() throws {
      let output = temporaryPath("tree")
      defer { unlink(output) }
      let result = try runSocktrace([
        "--json", "-o", output, "--", "/bin/sh", "-c",
        "(sleep 1; \(Binaries.workload) inet-stream >/dev/null 2>&1) >/dev/null 2>&1 & exit 0",
      ])
      #expect(result.status == 0, "\(result.stderr)")
      #expect(result.stderr.contains("still tracing"), "\(result.stderr)")
      let records = try jsonLines(path: output)
      #expect(records.filter { $0["event"] as? String == "socket" }.count == 1, "the background child's socket")
    }

    // MARK: 6. closed standard fds

    @Test func closedStandardFDsNeverReceiveTheRecording() throws {
      let output = temporaryPath("closed")
      defer { unlink(output) }
      let result = try runShell("\"$SOCKTRACE\" --json -o \(output) -d 0.3 <&- >&- 2>&-")
      #expect(result.status == 0)
      let text = try String(contentsOfFile: output, encoding: .utf8)
      #expect(!text.contains("Tracing"), "the Tracing line went into the recording")
      #expect(!text.contains("socktrace:"), "the summary went into the recording")
      let records = try jsonLines(text)
      #expect(records.first?["event"] as? String == "start")
      #expect(records.last?["event"] as? String == "end")
    }

    // MARK: 7. SIGHUP, SIGQUIT, a second Ctrl-C during a long drain

    @Test(arguments: [SIGHUP, SIGQUIT])
    func hangupAndQuitStopCleanly(signal: Int32) throws {
      let tracer = try Tracer(["-d", "30"])
      let stopped = try tracer.stop(signal: signal)
      #expect(stopped.status == 0, "\(stopped.stderr)")
      #expect(stopped.records.last?["event"] as? String == "end")
      #expect(!stopped.stderr.contains("crashed"), "\(stopped.stderr)")
      #expect(stopped.stderr.contains("lost"), "the summary")
    }

    /// The output is a pipe nobody reads: the tracer blocks writing until a
    /// second SIGINT, which must end it with the losses counted.
    @Test func secondInterruptEndsABlockedDrain() throws {
      let errors = temporaryPath("err")
      defer { unlink(errors) }
      FileManager.default.createFile(atPath: errors, contents: nil)
      let unread = Pipe()
      let tracer = Process()
      tracer.executableURL = URL(fileURLWithPath: Binaries.socktrace)
      tracer.arguments = ["--json", "--", Binaries.workload, "burst=20000", "sleep-ms=30000"]
      tracer.standardOutput = unread
      tracer.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errors))
      try tracer.run()
      defer { if tracer.isRunning { kill(tracer.processIdentifier, SIGKILL) } }
      #expect(
        waitFor(seconds: 60) { ((try? String(contentsOfFile: errors, encoding: .utf8)) ?? "").contains("Tracing") })
      sleep(2)  // the burst fills the pipe: the tracer is blocked writing
      kill(tracer.processIdentifier, SIGINT)
      sleep(1)
      kill(tracer.processIdentifier, SIGINT)
      #expect(waitFor(seconds: 30) { !tracer.isRunning }, "a second SIGINT did not end the blocked tracer")
      let text = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
      #expect(text.contains("output_failed") || text.contains("stop_forced"), "\(text)")
      #expect(text.contains("lost"), "\(text)")
    }

    // MARK: 8. pipes: `socktrace --json | socktrace timeline -` and a closed pipe

    /// Ctrl-C in a terminal signals every process of the pipeline: the reader
    /// must wait for the tracer's last records and render them.
    @Test func pipelineToTimelineSurvivesCtrlC() throws {
      let errors = temporaryPath("err")
      let rendered = temporaryPath("timeline")
      defer {
        unlink(errors)
        unlink(rendered)
      }
      FileManager.default.createFile(atPath: errors, contents: nil)
      FileManager.default.createFile(atPath: rendered, contents: nil)
      let pipe = Pipe()
      let tracer = Process()
      tracer.executableURL = URL(fileURLWithPath: Binaries.socktrace)
      // The command's own stdout stays out of the pipe: only records go in.
      tracer.arguments = [
        "--json", "--", "/bin/sh", "-c", "\(Binaries.workload) inet-stream >/dev/null; exec sleep 30",
      ]
      tracer.standardOutput = pipe
      tracer.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errors))
      let reader = Process()
      reader.executableURL = URL(fileURLWithPath: Binaries.socktrace)
      reader.arguments = ["timeline", "-"]
      reader.standardInput = pipe
      reader.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: rendered))
      try tracer.run()
      try reader.run()
      defer {
        if tracer.isRunning { kill(tracer.processIdentifier, SIGKILL) }
        if reader.isRunning { kill(reader.processIdentifier, SIGKILL) }
      }
      #expect(
        waitFor(seconds: 60) { ((try? String(contentsOfFile: errors, encoding: .utf8)) ?? "").contains("Tracing") })
      sleep(1)
      kill(reader.processIdentifier, SIGINT)
      kill(tracer.processIdentifier, SIGINT)
      #expect(waitFor(seconds: 30) { !tracer.isRunning && !reader.isRunning })
      let text = (try? String(contentsOfFile: rendered, encoding: .utf8)) ?? ""
      #expect(text.contains("socket      AF_INET SOCK_STREAM"), "\(text)")
      #expect(reader.terminationReason == .exit && reader.terminationStatus == 0)
    }

    @Test func closedPipeIsAnOutputFailure() throws {
      let piped = try runShell(
        "(env --default-signal=PIPE \"$SOCKTRACE\" --json -- \"$WORKLOAD\" sleep-ms=300 burst=100; echo \"rc=$?\" >&2) | true"
      )
      #expect(piped.stderr.contains("rc=1"), "died of SIGPIPE instead of reporting: \(piped.stderr)")
      #expect(piped.stderr.contains("EPIPE"), "\(piped.stderr)")
      #expect(piped.stderr.contains("output_failed"), "\(piped.stderr)")
    }

    // MARK: 10. bounded input

    @Test func timelineOfDevZeroFailsAtLineOne() throws {
      let result = try runSocktrace(["timeline", "/dev/zero"])
      #expect(result.status == 1)
      #expect(result.stderr.contains("/dev/zero:1: line longer than 1 MiB"), "\(result.stderr)")
    }

    // MARK: 11. threads, non-executables, messages

    @Test func threadIDResolvesToItsProcess() throws {
      let me = getpid()
      let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").compactMap(Int32.init)
      let thread = try #require(tasks.first { $0 != me }, "the test runner has threads")
      let output = temporaryPath("tid")
      defer { unlink(output) }
      let result = try runSocktrace(["--json", "-o", output, "-p", "\(thread)", "-d", "0.2"])
      #expect(result.status == 0, "\(result.stderr)")
      #expect(result.stderr.contains("\(thread) is a thread of process \(me)"), "\(result.stderr)")
      let start = try #require(try jsonLines(path: output).first)
      #expect(start["pids"] as? [Int] == [Int(me)])
    }

    @Test func notExecutableExits126() throws {
      let path = temporaryPath("not-executable")
      defer { unlink(path) }
      try "#!/bin/sh\nexit 0\n".write(toFile: path, atomically: false, encoding: .utf8)
      chmod(path, 0o644)
      let result = try runSocktrace(["-o", "/dev/null", "--", path])
      #expect(result.status == 126, "\(result.stderr)")
      #expect(result.stderr.contains("Permission denied"), "\(result.stderr)")
    }

    /// tracefs only under debugfs (older systems): used, not misdiagnosed.
    /// In a private mount namespace, so unmounting tracefs never races the
    /// tracers of tests running beside this one.
    @Test func tracefsUnderDebugfsIsUsed() throws {
      let result = try runShell(
        """
        exec unshare --mount --propagation private sh -c '
          while umount /sys/kernel/tracing 2>/dev/null; do :; done
          [ -e /sys/kernel/debug/tracing ] || mount -t debugfs debugfs /sys/kernel/debug || exit 90
          [ -e /sys/kernel/tracing/events ] && { echo "tracefs still mounted"; exit 91; }
          [ -e /sys/kernel/debug/tracing/events/syscalls ] || { echo "debugfs shows no tracefs"; exit 92; }
          "$SOCKTRACE" --attach tracepoint -d 0.1 -o /dev/null || exit $?
          [ -e /sys/kernel/tracing/events ] && { echo "it mounted tracefs instead of using debugfs"; exit 93; }
          exit 0'
        """)
      #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
      #expect(!result.stderr.contains("CONFIG_FTRACE_SYSCALLS"))
    }

    /// CAP_BPF and CAP_PERFMON without root: tracefs is mounted, only not readable.
    @Test func capabilitiesWithoutRootDoNotClaimTracefsIsUnmounted() throws {
      _ = mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nil)
      let caps = "--inh-caps=+bpf,+perfmon --ambient-caps=+bpf,+perfmon"
      for arguments in ["-d 0.1 -o /dev/null", "doctor"] {
        let result = try runShell(
          "setpriv --reuid=65534 --regid=65534 --clear-groups \(caps) -- \"$SOCKTRACE\" \(arguments)")
        let text = result.stdout + result.stderr
        #expect(!text.contains("not mounted"), "\(arguments): \(text)")
        #expect(!text.contains("CONFIG_FTRACE_SYSCALLS"), "\(arguments): \(text)")
        #expect(!text.contains("socktrace: socktrace"), "\(arguments): \(text)")
      }
    }

    // MARK: 12. 0600, and no following another user's symlink in /tmp

    @Test func outputIsCreatedOwnerOnly() throws {
      let output = temporaryPath("mode")
      defer { unlink(output) }
      #expect(try runSocktrace(["--json", "-o", output, "-d", "0.1"]).status == 0)
      var info = stat()
      #expect(stat(output, &info) == 0)
      #expect(info.st_mode & 0o777 == 0o600)
    }

    @Test func symlinkPlantedByAnotherUserInTmpIsNotFollowed() throws {
      let victim = "/tmp/socktrace-victim-\(UUID().uuidString)"
      let link = "/tmp/socktrace-planted-\(UUID().uuidString).jsonl"
      defer {
        unlink(victim)
        unlink(link)
      }
      try "precious\n".write(toFile: victim, atomically: false, encoding: .utf8)
      #expect(symlink(victim, link) == 0)
      #expect(lchown(link, 65534, 65534) == 0, "the link belongs to nobody")
      let result = try runSocktrace(["--json", "-o", link, "-d", "0.1"])
      #expect(result.status != 0)
      #expect(result.stderr.contains("symlink owned by uid 65534"), "\(result.stderr)")
      #expect(result.stderr.split(separator: "\n").count == 1)
      #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
    }
  }
}
