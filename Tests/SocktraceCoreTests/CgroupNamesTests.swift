import Testing

@testable import SocktraceCore

/// Container and pod context from cgroup v2 paths, in each runtime's naming.
@Suite struct CgroupNamesTests {
  static let hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  static let uid = "5b9a1f4e-2c3d-4e5f-8a9b-0c1d2e3f4a5b"
  static var uidUnderscored: String { String(uid.map { $0 == "-" ? "_" : $0 }) }

  static let cases: [(String, ContainerRuntime?, String?, String?)] = [
    ("/system.slice/docker-\(hex).scope", .docker, hex, nil),
    ("/docker/\(hex)", .docker, hex, nil),
    ("/docker/\(hex)/nested", .docker, hex, nil),
    (
      "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(uidUnderscored).slice/cri-containerd-\(hex).scope",
      .containerd, hex, uid
    ),
    (
      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidUnderscored).slice/crio-\(hex).scope",
      .crio, hex, uid
    ),
    ("/kubepods.slice/kubepods-pod\(uidUnderscored).slice/crio-conmon-\(hex).scope", nil, nil, uid),
    ("/kubepods/besteffort/pod\(uid)/\(hex)", .containerd, hex, uid),
    ("/kubepods/pod\(uid)", nil, nil, uid),
    ("/machine.slice/libpod-\(hex).scope", .podman, hex, nil),
    ("/machine.slice/libpod-\(hex).scope/container", .podman, hex, nil),
    ("/machine.slice/libpod-conmon-\(hex).scope", nil, nil, nil),
    ("/libpod_parent/libpod-\(hex)", .podman, hex, nil),
    ("/machine.slice/machine-web\\x2d1.scope", .nspawn, "web-1", nil),
    ("/machine.slice/machine-web\\x2d1.scope/payload", .nspawn, "web-1", nil),
    ("/lxc.payload.c1", .lxc, "c1", nil),
    ("/lxc.payload.c1/init.scope", .lxc, "c1", nil),
    ("/lxc/old", .lxc, "old", nil),
    ("/lxc.monitor.c1", nil, nil, nil),
    ("/", nil, nil, nil),
    ("/user.slice/user-1000.slice/session-2.scope", nil, nil, nil),
    ("/system.slice/docker.service", nil, nil, nil),
    ("/system.slice/docker-abc.scope", nil, nil, nil),
  ]

  @Test(arguments: cases)
  func containerAndPodFromThePath(path: String, runtime: ContainerRuntime?, id: String?, pod: String?) {
    let container = CgroupNames.container(inPath: path)
    #expect(container?.runtime == runtime)
    #expect(container?.id == id)
    #expect(CgroupNames.podUID(inPath: path) == pod)
  }

  @Test func theV2MountOfHybridAndUnifiedHosts() {
    let hybrid = """
      31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
      40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
      41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
      """
    #expect(CgroupResolver.v2MountPoint(mountinfo: hybrid) == "/sys/fs/cgroup/unified")
    let unified = "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
    #expect(CgroupResolver.v2MountPoint(mountinfo: unified) == "/sys/fs/cgroup")
    #expect(CgroupResolver.v2MountPoint(mountinfo: "1 0 0:1 / /my\\040cg rw - cgroup2 none rw") == "/my cg")
    #expect(CgroupResolver.v2MountPoint(mountinfo: "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw") == nil)
  }
}
