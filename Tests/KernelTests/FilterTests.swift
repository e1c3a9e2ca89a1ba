import Foundation
import Glibc
import SchemaValidation
import SocktraceCore
import Testing

extension KernelTests {
  /// Each in-kernel filter, system-wide: a wanted and a filtered-out workload
  /// make the same sockets at the same time; every call of the wanted one is
  /// recorded, none of the filtered-out one's.
  @Suite(.timeLimit(.minutes(5)))
  struct FilterTests {
    static let scenarios = ["inet-stream", "inet6-dgram", "unix-nonblock-cloexec", "bad-family", "fork", "socketpair"]
    static let births: Set<String> = ["socket", "socketpair", "accept"]

    struct Run {
      var records: [[String: Any]]
      var want: [[String: Any]]
      var skip: [[String: Any]]
      var start: [String: Any]
      /// Sockets the processes held when tracing began: their releases are recorded too.
      var snapshotInodes: Set<Int> = []

      /// Socket calls a workload reported (its forked child's included).
      static func calls(_ truth: [[String: Any]]) -> [[String: Any]] {
        truth.filter { FilterTests.births.contains($0["op"] as? String ?? "") }
      }
      func records(of truth: [[String: Any]]) -> [[String: Any]] {
        let pids = Set(truth.compactMap { $0["pid"] as? Int })
        return records.filter { pids.contains($0["pid"] as? Int ?? -1) }
      }
      func births(of truth: [[String: Any]]) -> [[String: Any]] {
        records(of: truth).filter { FilterTests.births.contains($0["event"] as? String ?? "") }
      }
    }

    /// Starts the tracer with `arguments`, and beside it `socktrace serve`
    /// with the same filters, lets both workloads go at once. Both see the
    /// same calls: every filter must mean the same in both modes, so the
    /// service's recording of the two workloads is the record mode's.
    func trace(_ arguments: [String], want: Workload, skip: Workload) throws -> Run {
      let tracer = try Tracer(arguments)
      let service = try Tracer(arguments, serve: true)
      want.go()
      skip.go()
      let wantTruth = try want.finish()
      let skipTruth = try skip.finish()
      let (status, stderr, records) = try tracer.stop()
      #expect(status == 0, "tracer: \(stderr)")
      let (serviceStatus, serviceStderr, serviceRecords) = try service.stop(signal: SIGTERM)
      #expect(serviceStatus == 0, "serve: \(serviceStderr)")
      let start = try #require(records.first)
      let result = try validateAgainstSchema(tracer.outputPath)
      #expect(result.failed == 0, "\(result.output)")
      let serviceStart = try #require(serviceRecords.first)
      #expect(
        (serviceStart["filters"] as? NSDictionary) == (start["filters"] as? NSDictionary),
        "serve's start.filters differ from record mode's")
      let pids = Set((wantTruth + skipTruth).compactMap { $0["pid"] as? Int })
      func calls(_ records: [[String: Any]]) -> [String] {
        records.filter { pids.contains($0["pid"] as? Int ?? -1) }.map { record in
          ["event", "pid", "tid", "inode", "child_pid", "ret", "how"].map { "\(record[$0] ?? "-")" }
            .joined(separator: " ")
        }.sorted()
      }
      #expect(calls(serviceRecords) == calls(records), "serve recorded other calls than record mode")
      let snapshot = try tracer.records(snapshot: true).filter { $0["via"] as? String == "snapshot" }
      return Run(
        records: records, want: wantTruth, skip: skipTruth, start: start,
        snapshotInodes: Set(snapshot.compactMap { $0.u64("inode") }))
    }

    /// A process filter: everything of `want` (births, exec/fork/exit), nothing of `skip`.
    func expectProcessFiltered(_ run: Run) {
      let calls = Run.calls(run.want)
      #expect(calls.count == 6, "the workload's own report: \(calls.count) calls")
      #expect(run.births(of: run.want).count == calls.count, "wanted births \(run.births(of: run.want).count)")
      #expect(run.records(of: run.want).contains { $0["event"] as? String == "fork" })
      #expect(run.records(of: run.skip).isEmpty, "filtered-out records: \(run.records(of: run.skip).prefix(2))")
    }

    /// A directory holding the workload under another name: another comm.
    func renamedWorkload(_ name: String, in directory: String) throws -> String {
      let path = directory + "/" + name
      try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: Binaries.workload)
      return path
    }

    func temporaryDirectory() throws -> String {
      let directory = NSTemporaryDirectory() + "socktrace-filter-\(UUID().uuidString.prefix(8))"
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
      return directory
    }

    @Test func commSelectsProcessesByName() throws {
      let directory = try temporaryDirectory()
      defer { try? FileManager.default.removeItem(atPath: directory) }
      let want = try Workload(Self.scenarios, executable: try renamedWorkload("st-want-comm", in: directory))
      let skip = try Workload(Self.scenarios, executable: try renamedWorkload("st-skip-comm", in: directory))
      let run = try trace(["--comm", "st-want-comm", "--comm", "st-no-such"], want: want, skip: skip)
      expectProcessFiltered(run)
      #expect(
        run.records.allSatisfy {
          $0["event"] as? String == "start" || $0["event"] as? String == "end"
            || $0["comm"] as? String == "st-want-comm"
        })
      let filters = try #require(run.start["filters"] as? [String: Any])
      #expect(filters["comm"] as? [String] == ["st-want-comm", "st-no-such"])
    }

    @Test func uidSelectsProcessesByUser() throws {
      let launcher = ["/usr/bin/setpriv", "--reuid=4242", "--regid=4242", "--clear-groups", "--"]
      let want = try Workload(Self.scenarios, launcher: launcher)
      let skip = try Workload(Self.scenarios)
      let run = try trace(["--uid", "4242"], want: want, skip: skip)
      expectProcessFiltered(run)
      #expect(run.records(of: run.want).allSatisfy { $0["uid"] as? Int == 4242 })
    }

    @Test func cgroupSelectsADirectoryAndEverythingBelowIt() throws {
      let cgroups = try TestCgroups()
      let wanted = try cgroups.make("/team/app/worker")
      let other = try cgroups.make("/elsewhere")
      let want = try Workload(Self.scenarios)
      let skip = try Workload(Self.scenarios)
      try cgroups.move(want.pid, into: wanted)
      try cgroups.move(skip.pid, into: other)
      // The filter names the grandparent, as a path in the mount.
      let run = try trace(["--cgroup", cgroups.mount + cgroups.root + "/team"], want: want, skip: skip)
      expectProcessFiltered(run)
      let filters = try #require(run.start["filters"] as? [String: Any])
      #expect(filters["cgroup"] as? [String] == [cgroups.root + "/team"])
    }

    @Test func containerSelectsByIdPrefixAsDockerPsShowsIt() throws {
      let cgroups = try TestCgroups()
      let idA = "aaaa1111bbbb" + String(repeating: "0", count: 51) + "1"
      let idB = "aaaa1111cccc" + String(repeating: "0", count: 51) + "2"
      let wanted = try cgroups.make("/system.slice/docker-\(idA).scope")
      let other = try cgroups.make("/system.slice/docker-\(idB).scope")
      let want = try Workload(Self.scenarios)
      let skip = try Workload(Self.scenarios)
      try cgroups.move(want.pid, into: wanted)
      try cgroups.move(skip.pid, into: other)
      let run = try trace(["--container", "aaaa1111bbbb"], want: want, skip: skip)
      expectProcessFiltered(run)
      #expect(run.records(of: run.want).allSatisfy { $0["container_id"] as? String == idA })
      let filters = try #require(run.start["filters"] as? [String: Any])
      #expect(filters["container"] as? [String] == [idA])
      // A prefix both share is ambiguous: an error before anything is attached.
      let ambiguous = try runSocktrace(["--container", "aaaa1111", "-d", "1"])
      #expect(ambiguous.status == 1)
      #expect(ambiguous.stderr.contains("ambiguous"), "\(ambiguous.stderr)")
    }

    @Test func netnsSelectsANetworkNamespace() throws {
      let want = try Workload(Self.scenarios, launcher: ["/usr/bin/unshare", "-n", "--"])
      let skip = try Workload(Self.scenarios)
      let run = try trace(["--netns", "/proc/\(want.pid)/ns/net"], want: want, skip: skip)
      expectProcessFiltered(run)
      var info = stat()
      #expect(stat("/proc/self/ns/net", &info) == 0)
      #expect(run.records(of: run.want).allSatisfy { $0["netns"] as? Int != Int(info.st_ino) })
    }

    /// Socket filters: both processes are traced, only the matching sockets kept.
    @Test(arguments: [
      (["--family", "inet6", "--family", "unix"], "family_num", [10, 1]),
      (["--type", "dgram"], "type_num", [2]),
    ])
    func familyAndTypeSelectSockets(arguments: [String], field: String, values: [Int]) throws {
      let want = try Workload(Self.scenarios)
      let skip = try Workload(Self.scenarios)
      let run = try trace(arguments, want: want, skip: skip)
      for truth in [run.want, run.skip] {
        let births = run.births(of: truth)
        let truthField = field == "family_num" ? "family" : "type"
        let matching = Run.calls(truth).filter {
          values.contains(($0[truthField] as? Int ?? -1) & (field == "type_num" ? 0xf : -1))
        }
        #expect(
          !matching.isEmpty && births.count == matching.count, "\(births.count) births for \(matching.count) calls")
        #expect(births.allSatisfy { values.contains($0[field] as? Int ?? -1) })
        // Nothing of an excluded socket: no bind, connect, listen or release of
        // one, and nothing of a kept one said to be born before tracing.
        let ofSockets = run.records(of: truth).filter { $0[field] is Int }
        #expect(
          ofSockets.allSatisfy { values.contains($0[field] as? Int ?? -1) }, "\(ofSockets.map { $0["event"] ?? "" })")
        #expect(run.records(of: truth).allSatisfy { $0["born_before_trace"] as? Bool != true })
        // Releases only for sockets whose birth was recorded.
        let inodes = Set(births.flatMap { [$0.u64("inode"), $0.u64("peer_inode")].compactMap { $0 } })
        let releases = run.records(of: truth).filter { $0["event"] as? String == "release" }
        #expect(
          releases.allSatisfy {
            inodes.contains($0.u64("inode") ?? -1) || run.snapshotInodes.contains($0.u64("inode") ?? -1)
          })
      }
    }

    @Test func failedKeepsOnlyFailedCalls() throws {
      let want = try Workload(Self.scenarios + ["bad-flags", "emfile"])
      let skip = try Workload(["inet-stream"])
      let run = try trace(["--failed"], want: want, skip: skip)
      let failed = Run.calls(run.want).filter { ($0["errno"] as? Int ?? 0) != 0 }
      let births = run.births(of: run.want)
      #expect(failed.count >= 3 && births.count == failed.count, "\(births.count) births, \(failed.count) failed")
      #expect(births.allSatisfy { ($0["errno"] as? Int ?? 0) != 0 && $0["error"] is String })
      #expect(run.births(of: run.skip).isEmpty)
      // Every socket that exists was born fine: none of its calls or its end is kept.
      let ofSockets = ["bind", "connect", "listen", "shutdown", "connect_result", "release"]
      #expect(run.records(of: run.want).allSatisfy { !ofSockets.contains($0["event"] as? String ?? "") })
    }

    /// AND across kinds: the right name and the right family.
    @Test func filtersCombineWithAnd() throws {
      let directory = try temporaryDirectory()
      defer { try? FileManager.default.removeItem(atPath: directory) }
      let want = try Workload(Self.scenarios, executable: try renamedWorkload("st-and-want", in: directory))
      let skip = try Workload(Self.scenarios, executable: try renamedWorkload("st-and-skip", in: directory))
      let run = try trace(["--comm", "st-and-want", "--family", "inet6"], want: want, skip: skip)
      let births = run.births(of: run.want)
      #expect(births.count == 1 && births.allSatisfy { $0["family"] as? String == "AF_INET6" })
      #expect(run.records(of: run.skip).isEmpty)
    }

    /// With -p and -f: the pid set, then the filter.
    @Test func filtersApplyWithPidAndFollow() throws {
      let want = try Workload(Self.scenarios)
      let skip = try Workload(Self.scenarios)
      let run = try trace(["-p", "\(want.pid)", "-f", "--family", "inet"], want: want, skip: skip)
      let births = run.births(of: run.want)
      let inet = Run.calls(run.want).filter { $0["family"] as? Int == 2 }
      #expect(inet.count == 2 && births.count == inet.count)  // the parent's and the forked child's
      #expect(Set(births.compactMap { $0["pid"] as? Int }).count == 2)
      #expect(run.records(of: run.skip).isEmpty)
    }

    /// Running a command: its tree, then the filter.
    @Test func filtersApplyToACommand() throws {
      let output = NSTemporaryDirectory() + "socktrace-filter-\(UUID().uuidString).jsonl"
      defer { unlink(output) }
      let result = try runSocktraceFully(
        ["--json", "-o", output, "--type", "dgram", "--failed", "--", Binaries.workload] + Self.scenarios + [
          "bad-protocol"
        ])
      #expect(result.status == 0, "\(result.stderr)")
      let records = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").map {
        try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
      }
      let births = records.filter { Self.births.contains($0["event"] as? String ?? "") }
      // No call fails with SOCK_DGRAM here: --failed AND --type dgram keeps nothing.
      #expect(births.isEmpty, "\(births)")
      #expect(records.contains { $0["event"] as? String == "exec" })
      let unfiltered = try runSocktraceFully([
        "--json", "-o", output, "--failed", "--", Binaries.workload, "bad-family",
      ])
      #expect(unfiltered.status == 0)
      let kept = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").filter {
        $0.contains("\"event\":\"socket\"")
      }
      #expect(kept.count == 1 && kept[0].contains("\"error\":\"EAFNOSUPPORT\""))
    }
  }
}
