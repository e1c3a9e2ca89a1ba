import Glibc
import Testing

@testable import SocktraceCore

/// When the resolver walks the hierarchy again: at once for a cgroup created
/// since (a container that just started), at most once a second for an id
/// that already missed. A plain directory tree stands for the cgroup2 mount:
/// ids are directory inodes, as in the kernel.
@Suite struct CgroupResolverTests {
  private static func makeRoot() -> String {
    let root = "/tmp/socktrace-cgroups-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    #expect(mkdir(root, 0o700) == 0)
    return root
  }

  private static func make(_ path: String) -> UInt64 {
    #expect(mkdir(path, 0o755) == 0)
    return CgroupResolver.id(ofDirectory: path) ?? 0
  }

  private static func pause(milliseconds: UInt32) { usleep(milliseconds * 1000) }

  @Test func aCgroupCreatedRightAfterAnotherMissIsResolved() {
    let root = Self.makeRoot()
    defer {
      for name in ["libpod-b", "libpod-a"] { rmdir("\(root)/\(name)") }
      rmdir(root)
    }
    let resolver = CgroupResolver(mountPoint: root)
    Self.pause(milliseconds: 150)
    let first = Self.make("\(root)/libpod-a")
    #expect(resolver.path(for: first) == "/libpod-a")
    // A second container 150 ms later: found by a walk of its own (one limit
    // for every id used to hide it for a whole second).
    Self.pause(milliseconds: 150)
    let second = Self.make("\(root)/libpod-b")
    #expect(resolver.path(for: second) == "/libpod-b")
  }

  @Test func anIdThatMissedWalksAtMostOnceASecond() {
    let root = Self.makeRoot()
    defer { rmdir(root) }
    let resolver = CgroupResolver(mountPoint: root)
    Self.pause(milliseconds: 150)
    let gone: UInt64 = 0xdead_beef
    #expect(resolver.path(for: gone) == nil)
    let walks = resolver.walks
    Self.pause(milliseconds: 150)
    for _ in 0..<100 { #expect(resolver.path(for: gone) == nil) }
    #expect(resolver.walks == walks)
  }
}
