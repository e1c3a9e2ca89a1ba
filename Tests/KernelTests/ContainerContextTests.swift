import Foundation
import Glibc
import SchemaValidation
import SocktraceCore
import Testing

/// Real cgroups in the v2 hierarchy (/sys/fs/cgroup/unified on this hybrid
/// host), named as each runtime names its containers, with a real process
/// moved into each (its pid written to cgroup.procs). Removed afterwards.
final class TestCgroups {
  let mount: String
  let root: String
  private(set) var made: [String] = []

  init() throws {
    mount = try #require(CgroupResolver.v2MountPoint(), "no cgroup2 mount")
    root = "/socktrace-test-\(UUID().uuidString.prefix(8))"
    try make(root)
  }

  /// Creates `root + path` and its parents.
  @discardableResult
  func make(_ path: String) throws -> String {
    var current = ""
    for part in path.split(separator: "/") {
      current += "/" + part
      let full = mount + (current.hasPrefix(root) ? current : root + current)
      if mkdir(full, 0o755) == 0 {
        made.append(full)
      } else if errno != EEXIST {
        throw HarnessError.exited(errno, "mkdir \(full): \(String(cString: strerror(errno)))")
      }
    }
    return path.hasPrefix(root) ? path : root + path
  }

  /// Moves a process into the cgroup at `path` (relative to the v2 mount).
  func move(_ pid: Int32, into path: String) throws {
    let procs = mount + path + "/cgroup.procs"
    let fd = open(procs, O_WRONLY)
    guard fd >= 0 else { throw HarnessError.exited(errno, "open \(procs)") }
    defer { close(fd) }
    let text = "\(pid)\n"
    guard write(fd, text, text.utf8.count) == text.utf8.count else {
      throw HarnessError.exited(errno, "write \(procs): \(String(cString: strerror(errno)))")
    }
  }

  /// Removes every directory made, deepest first (their processes have exited).
  deinit {
    for directory in made.reversed() {
      for _ in 0..<50 where rmdir(directory) != 0 && errno == EBUSY { usleep(20_000) }
    }
  }
}

extension KernelTests {
  @Suite(.timeLimit(.minutes(3)))
  struct ContainerContextTests {
    static let hex = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee01"
    static let uid = "5b9a1f4e-2c3d-4e5f-8a9b-0c1d2e3f4a5b"
    static var uidUnderscored: String { String(uid.map { $0 == "-" ? "_" : $0 }) }

    /// (path under the test root, runtime, container id, pod uid)
    static let layouts: [(String, String?, String?, String?)] = [
      ("/system.slice/docker-\(hex).scope", "docker", hex, nil),
      ("/docker/\(hex)", "docker", hex, nil),
      (
        "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(uidUnderscored).slice/cri-containerd-\(hex).scope",
        "containerd", hex, uid
      ),
      ("/kubepods.slice/kubepods-burstable-pod\(uidUnderscored).slice/crio-\(hex).scope", "cri-o", hex, uid),
      ("/kubepods/besteffort/pod\(uid)/\(hex)", "containerd", hex, uid),
      ("/machine.slice/libpod-\(hex).scope", "podman", hex, nil),
      ("/machine.slice/machine-web\\x2d1.scope", "systemd-nspawn", "web-1", nil),
      ("/lxc.payload.c1", "lxc", "c1", nil),
      ("/plain.slice", nil, nil, nil),
    ]

    /// Each process's records carry its cgroup's v2 path and the container
    /// and pod that path names; the exec made from /proc carries them too.
    @Test func recordsCarryTheCgroupPathAndContainerOfEachRuntimesNaming() throws {
      let cgroups = try TestCgroups()
      var workloads: [(Workload, String, (String, String?, String?, String?))] = []
      for layout in Self.layouts {
        let path = try cgroups.make(layout.0)
        let workload = try Workload(["inet-stream", "fork"])
        try cgroups.move(workload.pid, into: path)
        workloads.append((workload, path, layout))
      }
      let pids = workloads.map { "\($0.0.pid)" }.joined(separator: ",")
      let tracer = try Tracer(["-p", pids, "-f"])
      for (workload, _, _) in workloads { _ = try workload.run() }
      let (status, stderr, records) = try tracer.stop()
      #expect(status == 0, "tracer: \(stderr)")

      for (workload, path, layout) in workloads {
        let own = records.filter { $0["pid"] as? Int32 == workload.pid }
        let kinds = Set(own.compactMap { $0["event"] as? String })
        #expect(kinds.isSuperset(of: ["exec", "socket", "fork", "exit"]), "\(layout.0): \(kinds)")
        let cgroupID = try #require(CgroupResolver.id(ofDirectory: cgroups.mount + path))
        for record in own {
          let what = "\(record["event"] ?? "?") in \(layout.0)"
          #expect(record.u64("cgroup_id") == Int(cgroupID), "\(what)")
          #expect(record["cgroup_path"] as? String == path, "\(what)")
          #expect(record["container_runtime"] as? String == layout.1, "\(what)")
          #expect(record["container_id"] as? String == layout.2, "\(what)")
          #expect(record["pod_uid"] as? String == layout.3, "\(what)")
          if layout.1 == nil { #expect(record["container_id"] is NSNull, "\(what)") }
        }
        // The forked child inherited the cgroup: its records say so too.
        let child = try #require(own.first { $0["event"] as? String == "fork" }?["child_pid"] as? Int32)
        let childSockets = records.filter { $0["pid"] as? Int32 == child && $0["event"] as? String == "socket" }
        #expect(!childSockets.isEmpty && childSockets.allSatisfy { $0["cgroup_path"] as? String == path })
      }
      let result = try validateAgainstSchema(tracer.outputPath)
      #expect(result.failed == 0, "\(result.output)")

      // The timeline names each process's container as `docker ps` would.
      let timeline = try runSocktraceOutput(["timeline", tracer.outputPath])
      #expect(timeline.status == 0)
      for needle in [
        "container docker c0ffee00c0ff", "container cri-o c0ffee00c0ff", "container podman c0ffee00c0ff",
        "container systemd-nspawn web-1", "container lxc c1", "pod \(Self.uid)",
      ] {
        #expect(timeline.stdout.contains(needle), "\(needle) not in the timeline")
      }
    }
  }
}
