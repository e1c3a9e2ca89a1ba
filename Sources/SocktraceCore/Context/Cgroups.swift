import Glibc

/// The container runtime a cgroup path names, by its naming convention.
public enum ContainerRuntime: String, Sendable, CaseIterable {
  /// `docker-<64 hex>.scope` (systemd driver), `/docker/<64 hex>` (cgroupfs).
  case docker
  /// `cri-containerd-<id>.scope`; a bare 64-hex directory under a Kubernetes pod.
  case containerd
  /// `crio-<id>.scope` (not `crio-conmon-…`, the monitor).
  case crio = "cri-o"
  /// `libpod-<id>.scope`, `/libpod_parent/libpod-<id>` (not `libpod-conmon-…`).
  case podman
  /// `machine-<name>.scope` (systemd-nspawn, machinectl; name unescaped).
  case nspawn = "systemd-nspawn"
  /// `lxc.payload.<name>` (LXC 4+), `/lxc/<name>` (older).
  case lxc
}

/// Who a cgroup belongs to, read from its v2 path.
public struct ContainerContext: Equatable, Sendable {
  public var runtime: ContainerRuntime
  /// The full id as the runtime names it (64 hex for docker, containerd, CRI-O
  /// and podman; `docker ps` shows the first 12), or the machine or container
  /// name for systemd-nspawn and LXC.
  public var id: String
}

/// Container and pod names in cgroup v2 paths: pure functions of the path.
public enum CgroupNames {
  /// The innermost container a path names, or nil.
  public static func container(inPath path: String) -> ContainerContext? {
    let parts = path.split(separator: "/").map(String.init)
    for index in parts.indices.reversed() {
      let part = parts[index]
      let parent = index > 0 ? parts[index - 1] : ""
      if let id = between(part, "docker-", ".scope"), isHex64(id) { return ContainerContext(runtime: .docker, id: id) }
      if parent == "docker", isHex64(part) { return ContainerContext(runtime: .docker, id: part) }
      if let id = between(part, "cri-containerd-", ".scope"), isID(id) {
        return ContainerContext(runtime: .containerd, id: id)
      }
      if let id = between(part, "crio-", ".scope"), !id.hasPrefix("conmon-"), isID(id) {
        return ContainerContext(runtime: .crio, id: id)
      }
      if let id = between(part, "libpod-", ".scope"), !id.hasPrefix("conmon-"), isID(id) {
        return ContainerContext(runtime: .podman, id: id)
      }
      if parent == "libpod_parent", let id = between(part, "libpod-", ""), !id.hasPrefix("conmon-"), isID(id) {
        return ContainerContext(runtime: .podman, id: id)
      }
      if let name = between(part, "machine-", ".scope"), !name.isEmpty {
        return ContainerContext(runtime: .nspawn, id: unescapeUnitName(name))
      }
      if let name = between(part, "lxc.payload.", ""), !name.isEmpty {
        return ContainerContext(runtime: .lxc, id: name)
      }
      if parent == "lxc", !part.isEmpty, !part.hasPrefix("lxc.monitor") {
        return ContainerContext(runtime: .lxc, id: part)
      }
      // Kubernetes with the cgroupfs driver: /kubepods/<qos>/pod<uid>/<64 hex>.
      if parent.hasPrefix("pod"), podUID(inPath: parent) != nil, isHex64(part) {
        return ContainerContext(runtime: .containerd, id: part)
      }
    }
    return nil
  }

  /// The Kubernetes pod UID a path carries: `kubepods-burstable-pod<uid>.slice`
  /// (systemd driver, `-` in the UID written `_`) or `/kubepods/…/pod<uid>`.
  public static func podUID(inPath path: String) -> String? {
    guard path.contains("kubepods") || path.hasPrefix("pod") else { return nil }
    for part in path.split(separator: "/").reversed() {
      var name = Array(part.utf8)
      if name.count > 6, name.suffix(6) == Array(".slice".utf8) { name.removeLast(6) }
      // "…pod" then the 36-character UID.
      guard name.count >= 39, name[(name.count - 39)..<(name.count - 36)] == Array("pod".utf8)[...] else { continue }
      let uid = String(
        decoding: name.suffix(36).map { $0 == UInt8(ascii: "_") ? UInt8(ascii: "-") : $0 }, as: UTF8.self)
      if isUUID(uid) { return uid }
    }
    return nil
  }

  /// `part` without `prefix` and `suffix`, if it has both.
  static func between(_ part: String, _ prefix: String, _ suffix: String) -> String? {
    guard part.hasPrefix(prefix), part.hasSuffix(suffix), part.count >= prefix.count + suffix.count else { return nil }
    return String(part.dropFirst(prefix.count).dropLast(suffix.count))
  }

  static func isHex64(_ text: String) -> Bool {
    text.utf8.count == 64 && text.utf8.allSatisfy { isHexDigit($0) }
  }

  /// A runtime's container id: hex, 12 to 64 digits.
  static func isID(_ text: String) -> Bool {
    (12...64).contains(text.utf8.count) && text.utf8.allSatisfy { isHexDigit($0) }
  }

  static func isUUID(_ text: String) -> Bool {
    let bytes = Array(text.utf8)
    guard bytes.count == 36 else { return false }
    for (index, byte) in bytes.enumerated() {
      if [8, 13, 18, 23].contains(index) {
        if byte != UInt8(ascii: "-") { return false }
      } else if !isHexDigit(byte) {
        return false
      }
    }
    return true
  }

  static func isHexDigit(_ byte: UInt8) -> Bool {
    (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) || (0x41...0x46).contains(byte)
  }

  /// systemd unit-name escaping undone: `\x2d` → `-`.
  static func unescapeUnitName(_ name: String) -> String {
    var bytes: [UInt8] = []
    let source = Array(name.utf8)
    var index = 0
    while index < source.count {
      if source[index] == UInt8(ascii: "\\"), index + 3 < source.count, source[index + 1] == UInt8(ascii: "x"),
        let value = UInt8(String(decoding: source[(index + 2)...(index + 3)], as: UTF8.self), radix: 16)
      {
        bytes.append(value)
        index += 4
      } else {
        bytes.append(source[index])
        index += 1
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}

/// Turns the cgroup ids records carry (`bpf_get_current_cgroup_id`: the
/// inode number of the cgroup's directory in the v2 hierarchy) into v2 paths
/// and container context, in user space. The hierarchy is walked once at
/// start and again on a miss (a cgroup created since): at once for an id not
/// seen before (a container that just started; walks at least 100 ms apart),
/// at most once a second for an id that already missed, so a gone cgroup
/// cannot make every record walk.
public final class CgroupResolver {
  /// Where cgroup2 is mounted: /sys/fs/cgroup on unified hosts,
  /// /sys/fs/cgroup/unified on hybrid ones; nil without cgroup v2.
  public let mountPoint: String?
  private var paths: [UInt64: String] = [:]
  /// Each id's fields, encoded once: `,"cgroup_path":…,"pod_uid":…`.
  private var fragments: [UInt64: [UInt8]] = [:]
  /// Bumped whenever a fragment is learnt: what was written for an id before may differ now.
  public private(set) var generation: UInt64 = 0
  // Read for every record, from the one thread that encodes: not checked
  // for exclusive access at run time.
  @exclusivity(unchecked) private var lastID: UInt64 = .max
  @exclusivity(unchecked) private var lastFragment: [UInt8] = []
  private var lastWalk: UInt64 = 0
  /// How often an id still unknown may cause a new walk.
  static let missInterval: UInt64 = 1_000_000_000
  /// The least time between two walks, whatever the ids (a storm of new cgroups).
  static let walkGap: UInt64 = 100_000_000
  /// Ids looked up and not found, and when they last caused a walk. One
  /// global once-a-second limit made a container started within a second of
  /// any other miss (or of the start) lose its identity if it lived less
  /// than that second: every id has its own limit now.
  private var misses: [UInt64: UInt64] = [:]
  /// Walks of the hierarchy so far (the start's included).
  public private(set) var walks = 0

  public init(mountPoint: String? = CgroupResolver.v2MountPoint()) {
    self.mountPoint = mountPoint
    refresh()
  }

  /// The first cgroup2 mount in /proc/self/mountinfo.
  public static func v2MountPoint() -> String? {
    v2MountPoint(mountinfo: readSmallFile("/proc/self/mountinfo") ?? "")
  }

  /// The same, from a mountinfo text.
  public static func v2MountPoint(mountinfo: String) -> String? {
    for line in mountinfo.split(separator: "\n") {
      // "id parent major:minor root mountpoint options [optional...] - fstype source super"
      let halves = line.split(separator: " - ", maxSplits: 1)
      guard halves.count == 2, halves[1].split(separator: " ").first == "cgroup2" else { continue }
      let fields = halves[0].split(separator: " ")
      if fields.count > 4 { return unescapeMountPath(String(fields[4])) }
    }
    return nil
  }

  /// mountinfo writes space, tab, newline and backslash as `\ooo` (octal).
  static func unescapeMountPath(_ path: String) -> String {
    let source = Array(path.utf8)
    var bytes: [UInt8] = []
    var index = 0
    while index < source.count {
      if source[index] == UInt8(ascii: "\\"), index + 3 < source.count,
        let value = UInt8(String(decoding: source[(index + 1)...(index + 3)], as: UTF8.self), radix: 8)
      {
        bytes.append(value)
        index += 4
      } else {
        bytes.append(source[index])
        index += 1
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// The v2 path (`/system.slice/docker-….scope`, `/` for the root) of an id.
  public func path(for id: UInt64) -> String? {
    if let path = paths[id] { return path }
    let now = BootClock.now(CLOCK_MONOTONIC)
    if let missed = misses[id], now &- missed < Self.missInterval { return nil }
    guard now &- lastWalk >= Self.walkGap || walks == 0 else { return nil }
    refresh()
    if let path = paths[id] {
      misses[id] = nil
      return path
    }
    if misses.count >= 65_536 { misses.removeAll(keepingCapacity: true) }
    misses[id] = now
    return nil
  }

  /// The id of a v2 directory: its inode number.
  public static func id(ofDirectory path: String) -> UInt64? {
    var info = stat()
    guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { return nil }
    return UInt64(info.st_ino)
  }

  /// A process's v2 cgroup path, from the `0::` line of /proc/PID/cgroup.
  public static func path(ofPID pid: Int32) -> String? {
    for line in (readSmallFile("/proc/\(pid)/cgroup") ?? "").split(separator: "\n") where line.hasPrefix("0::") {
      return String(line.dropFirst(3))
    }
    return nil
  }

  /// A process's v2 cgroup id, or nil when it cannot be read.
  public func id(ofPID pid: Int32) -> UInt64? {
    guard let mountPoint, let path = Self.path(ofPID: pid) else { return nil }
    return Self.id(ofDirectory: path == "/" ? mountPoint : mountPoint + path)
  }

  /// Every v2 directory whose container id starts with `prefix`
  /// (`docker ps` shows 12 hex digits), from a fresh walk.
  public func cgroups(ofContainer prefix: String) -> [(id: UInt64, path: String)] {
    refresh()
    return paths.compactMap { id, path in
      guard let container = CgroupNames.container(inPath: path), container.id.hasPrefix(prefix) else { return nil }
      // The container's own directory, not its sub-cgroups (the filter takes descendants).
      if let parent = parentPath(path), CgroupNames.container(inPath: parent)?.id == container.id { return nil }
      return (id, path)
    }.sorted { $0.path < $1.path }
  }

  private func parentPath(_ path: String) -> String? {
    guard let slash = path.lastIndex(of: "/"), path != "/" else { return nil }
    return slash == path.startIndex ? "/" : String(path[..<slash])
  }

  /// Rewalks the hierarchy: every directory's inode → its path.
  public func refresh() {
    walks += 1
    lastWalk = BootClock.now(CLOCK_MONOTONIC)
    guard let mountPoint, let rootID = Self.id(ofDirectory: mountPoint) else { return }
    var found: [UInt64: String] = [rootID: "/"]
    var stack: [String] = [""]
    while let relative = stack.popLast(), found.count < 1_000_000 {
      guard let directory = opendir(mountPoint + relative) else { continue }
      defer { closedir(directory) }
      while let entry = readdir(directory) {
        guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
        let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
          String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name == "." || name == ".." { continue }
        let child = relative + "/" + name
        found[UInt64(entry.pointee.d_ino)] = child
        stack.append(child)
      }
    }
    paths = found
    fragments = [:]
    lastID = .max
  }

  /// The JSON fields this id adds to a record (schema v2):
  /// `,"cgroup_path":S|null,"container_id":S|null,"container_runtime":S|null,"pod_uid":S|null`.
  @inline(__always)
  public func appendFields(for id: UInt64, into out: inout JSONBuffer) {
    if id != lastID {
      lastFragment = fragment(for: id)
      lastID = id
    }
    lastFragment.withUnsafeBytes { out.append($0) }
  }

  /// The same for an id that may be unknown (exec from /proc).
  public func appendFields(for id: UInt64?, into out: inout JSONBuffer) {
    if let id {
      appendFields(for: id, into: &out)
    } else {
      out.appendRaw(",\"cgroup_path\":null,\"container_id\":null,\"container_runtime\":null,\"pod_uid\":null")
    }
  }

  private func fragment(for id: UInt64) -> [UInt8] {
    if let cached = fragments[id] { return cached }
    var out = JSONBuffer(capacity: 512)
    let path = self.path(for: id)
    out.appendRaw(",\"cgroup_path\":")
    if let path { out.appendString(Array(path.utf8)) } else { out.appendNull() }
    let container = path.flatMap(CgroupNames.container(inPath:))
    out.appendRaw(",\"container_id\":")
    if let container { out.appendString(Array(container.id.utf8)) } else { out.appendNull() }
    out.appendRaw(",\"container_runtime\":")
    if let container { out.appendString(Array(container.runtime.rawValue.utf8)) } else { out.appendNull() }
    out.appendRaw(",\"pod_uid\":")
    if let pod = path.flatMap(CgroupNames.podUID(inPath:)) {
      out.appendString(Array(pod.utf8))
    } else {
      out.appendNull()
    }
    let bytes = out.bytes
    if path != nil {  // unknown ids are asked again (after the miss interval)
      fragments[id] = bytes
      generation &+= 1
    }
    return bytes
  }
}
