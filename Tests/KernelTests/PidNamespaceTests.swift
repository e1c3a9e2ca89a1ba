import Foundation
import Glibc
import SchemaValidation
import Testing

extension KernelTests {
  /// Issue 14, item 2: a tracer inside a PID namespace (any container) filters
  /// and reports pids as its namespace numbers them, while BPF sees the init
  /// namespace's. Each test runs the real binary under `unshare --pid --fork
  /// --mount-proc` (a fresh namespace, its own /proc) and compares the records
  /// with what the workload, also inside, says its pids are.
  @Suite(.timeLimit(.minutes(3)))
  struct PidNamespaceTests {
    /// `unshare --pid --fork --mount-proc`, bounded: a tracer that never
    /// stops (as before the fix: it waited for a pid that never left `traced`)
    /// fails the test instead of hanging it (--kill-child: the namespace's
    /// pid 1 dies with unshare, and every process in it with pid 1).
    static let inNamespace = "timeout -s KILL 60 unshare --pid --fork --mount-proc --kill-child"

    /// The workload's own reports (pid, tid, inode per call), its gate line left out.
    func reports(_ text: String) throws -> [[String: Any]] {
      try jsonLines(text).filter { $0["op"] as? String != "ready" }
    }

    func records(_ records: [[String: Any]], _ event: String) -> [[String: Any]] {
      records.filter { $0["event"] as? String == event && $0["via"] as? String != "snapshot" }
    }

    func inode(_ object: [String: Any]) -> Int? {
      (object["inode"] as? Int) ?? object.u64("inode")
    }

    /// `socktrace -- CMD` in the namespace: the command, its thread and its
    /// forked child are traced, every record once, with the pids and tids they
    /// have there; the start record names the namespace.
    @Test func runningACommandInAPidNamespaceRecordsItsPids() throws {
      let output = temporaryPath("pidns-run")
      defer { unlink(output) }
      let run = try runShell(
        "\(Self.inNamespace) sh -c 'stat -L -c %i /proc/self/ns/pid >&2; "
          + "exec \"$SOCKTRACE\" --json -o \(output) -- \"$WORKLOAD\" inet-stream thread fork socketpair'")
      #expect(run.status == 0, "\(run.stderr)")
      let truth = try reports(run.stdout)
      let sockets = truth.filter { $0["op"] as? String == "socket" }
      #expect(sockets.count == 3, "inet-stream, its thread's, the child's: \(run.stdout)")
      let recorded = try jsonLines(path: output)
      let births = records(recorded, "socket")
      #expect(births.count == sockets.count, "one record per socket(): \(births.count) of \(sockets.count)")
      #expect(records(recorded, "socketpair").count == 1)
      for call in sockets {
        let record = births.first { inode($0) == inode(call) }
        #expect(record?["pid"] as? Int == call["pid"] as? Int, "pid of \(call)")
        #expect(record?["tid"] as? Int == call["tid"] as? Int, "tid of \(call)")
      }
      // The command, its thread and its child, as the namespace numbers them.
      let root = try #require(truth.first?["pid"] as? Int)
      let child = try #require(sockets.map { $0["pid"] as? Int }.first { $0 != root } ?? nil)
      let thread = try #require(sockets.map { $0["tid"] as? Int }.first { $0 != root && $0 != child } ?? nil)
      #expect(root < 10 && child < 10 && thread < 10, "namespace-local pids: \(root), \(child), \(thread)")
      let exec = records(recorded, "exec").first { $0["pid"] as? Int == root }
      #expect(exec != nil, "the command's exec, as pid \(root)")
      let fork = records(recorded, "fork").first { $0["child_pid"] as? Int == child }
      #expect(fork?["pid"] as? Int == root, "the fork of \(child) by \(root)")
      let childBirth = births.first { $0["pid"] as? Int == child }
      #expect(childBirth?["ppid"] as? Int == root, "the child's ppid")
      #expect(Set(records(recorded, "exit").compactMap { $0["pid"] as? Int }) == [root, child])
      let start = try #require(recorded.first)
      let namespace = try #require(start["pid_namespace"] as? [String: Any], "\(start)")
      let inodeText = run.stderr.split(separator: "\n").first.map(String.init) ?? ""
      #expect(namespace["inode"] as? Int == Int(inodeText), "\(namespace) vs \(inodeText)")
      #expect(namespace["level"] as? Int == 1)
      #expect(start["pids"] as? [Int] == [root])
      let schema = try validateAgainstSchema(output)
      #expect(schema.failed == 0, "\(schema.output)")
    }

    /// `-p PID -f` of a process running in the namespace: its sockets and its
    /// child's, and the tracer stops once both are gone.
    @Test func tracingAProcessByPidInAPidNamespace() throws {
      let directory = temporaryPath("pidns-p")
      #expect(mkdir(directory, 0o700) == 0)
      defer { _ = try? FileManager.default.removeItem(atPath: directory) }
      // The shell holds the gate open for writing, so the workload's open of
      // it does not block; it waits for "go" on it after its ready line.
      let script = """
        cd \(directory) && mkfifo gate && exec 3<>gate
        "$WORKLOAD" --gate inet-stream fork <gate >workload.out & w=$!
        until grep -q ready workload.out; do sleep 0.05; done
        "$SOCKTRACE" --json -o rec.jsonl -p $w -f 2>tracer.err & t=$!
        until grep -q Tracing tracer.err || ! kill -0 $t 2>/dev/null; do sleep 0.05; done
        echo go >&3
        wait $w; wait $t; echo "tracer=$?" >&2
        """
      let run = try runShell("\(Self.inNamespace) sh -c '\(script)'")
      let tracerErrors = (try? String(contentsOfFile: directory + "/tracer.err", encoding: .utf8)) ?? ""
      #expect(run.stderr.contains("tracer=0"), "\(run.stderr) \(tracerErrors)")
      let truth = try reports(try String(contentsOfFile: directory + "/workload.out", encoding: .utf8))
      let sockets = truth.filter { $0["op"] as? String == "socket" }
      #expect(sockets.count == 2, "the process's and its child's")
      let births = records(try jsonLines(path: directory + "/rec.jsonl"), "socket")
      #expect(births.count == 2, "\(births.count) socket records of 2: \(tracerErrors)")
      for call in sockets {
        let record = births.first { inode($0) == inode(call) }
        #expect(record?["pid"] as? Int == call["pid"] as? Int, "pid of \(call)")
      }
    }

    /// Tracing the whole machine from inside the namespace: a host process,
    /// which has no pid there, is not traced; a process in the namespace is.
    @Test func tracingTheMachineFromAPidNamespaceLeavesHostProcessesOut() throws {
      let directory = temporaryPath("pidns-all")
      #expect(mkdir(directory, 0o700) == 0)
      defer { _ = try? FileManager.default.removeItem(atPath: directory) }
      // Outside: a host workload, gated on a fifo that the namespace opens.
      // Inside: the tracer; once it traces, the host workload makes its
      // socket, then one inside does, then the tracer is stopped.
      let inside = """
        cd \(directory)
        "$SOCKTRACE" --json -o rec.jsonl 2>tracer.err & t=$!
        until grep -q Tracing tracer.err || ! kill -0 $t 2>/dev/null; do sleep 0.05; done
        echo go >gate
        until grep -q socket host.out; do sleep 0.05; done
        "$WORKLOAD" inet-stream >inside.out
        kill -INT $t; wait $t; echo "tracer=$?" >&2
        """
      let script = """
        cd \(directory) && mkfifo gate
        "$WORKLOAD" --gate inet-stream <gate >host.out & h=$!
        \(Self.inNamespace) sh -c '\(inside)'
        kill $h 2>/dev/null; wait $h; true
        """
      let run = try runShell(script)
      let tracerErrors = (try? String(contentsOfFile: directory + "/tracer.err", encoding: .utf8)) ?? ""
      #expect(run.stderr.contains("tracer=0"), "\(run.stderr) \(tracerErrors)")
      func socketCall(_ file: String) throws -> [String: Any] {
        let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
        return try #require(try reports(text).first { $0["op"] as? String == "socket" }, "\(file): \(text)")
      }
      let host = try socketCall("host.out")
      let mine = try socketCall("inside.out")
      let births = records(try jsonLines(path: directory + "/rec.jsonl"), "socket")
      #expect(!births.contains { inode($0) == inode(host) }, "the host process's socket was recorded")
      let recorded = births.filter { inode($0) == inode(mine) }
      #expect(recorded.count == 1, "the namespace's own process is traced")
      #expect(recorded.first?["pid"] as? Int == mine["pid"] as? Int)
      #expect(births.allSatisfy { $0["pid"] as? Int == mine["pid"] as? Int }, "only the namespace's processes")
    }

    /// A namespace nested below the tracer's is part of its world: traced,
    /// with the pids the tracer's namespace gives it (not the nested ones).
    @Test func aNestedNamespaceIsTracedWithTheTracersPids() throws {
      let output = temporaryPath("pidns-nested")
      defer { unlink(output) }
      let run = try runShell(
        "\(Self.inNamespace) \"$SOCKTRACE\" --json -o \(output) -- "
          + "unshare --pid --fork --mount-proc \"$WORKLOAD\" inet-stream")
      #expect(run.status == 0, "\(run.stderr)")
      let call = try #require(try reports(run.stdout).first { $0["op"] as? String == "socket" })
      #expect(call["pid"] as? Int == 1, "the workload is pid 1 of the nested namespace")
      let recorded = try jsonLines(path: output)
      let birth = try #require(records(recorded, "socket").first { inode($0) == inode(call) }, "not traced")
      let exec = records(recorded, "exec").first { ($0["exe"] as? String)?.hasSuffix("socktrace-workload") == true }
      let pid = try #require(exec?["pid"] as? Int, "the workload's exec")
      #expect(birth["pid"] as? Int == pid)
      #expect(pid != 1, "the tracer's namespace numbers it, not the nested one")
      #expect(records(recorded, "fork").contains { $0["child_pid"] as? Int == pid })
    }

    /// `unshare --pid --fork` without --mount-proc: /proc is the parent
    /// namespace's, so its pids and getpid()'s disagree. Refused in one line,
    /// before anything is attached or written.
    @Test func aProcOfAnotherNamespaceIsRefused() throws {
      let output = temporaryPath("pidns-proc")
      defer { unlink(output) }
      let run = try runShell(
        "timeout -s KILL 60 unshare --pid --fork --kill-child \"$SOCKTRACE\" --json -o \(output) -d 0.1")
      #expect(run.status == 1, "\(run.stderr)")
      #expect(run.stderr.contains("/proc belongs to another PID namespace"), "\(run.stderr)")
      #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
      #expect(access(output, F_OK) != 0, "nothing written")
    }
  }
}
