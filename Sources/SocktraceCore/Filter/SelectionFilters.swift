import CSocktrace
import Glibc

/// `--comm`, `--uid`, `--netns`, `--cgroup`, `--container`, `--family`,
/// `--type`, `--failed`: which processes and which socket births to record,
/// checked in the kernel (`process_wanted`, `socket_wanted` in
/// socktrace.bpf.c). AND across kinds, OR within one; an empty list is off.
public struct SelectionFilters: Equatable, Sendable {
  /// Task names: the kernel keeps 15 bytes, so longer names match on those.
  public var comms: [String] = []
  public var uids: [UInt32] = []
  /// Network namespace inodes (`/proc/PID/ns/net` → `net:[N]`).
  public var netns: [UInt32] = []
  /// cgroup v2 directories (a path under the cgroup2 mount, or the mount's
  /// own path to it): each with everything below it.
  public var cgroups: [String] = []
  /// Container id prefixes, as `docker ps` shows them.
  public var containers: [String] = []
  public var families: [Int32] = []
  public var types: [Int32] = []
  public var failedOnly = false

  public init() {}

  public var isEmpty: Bool {
    comms.isEmpty && uids.isEmpty && netns.isEmpty && cgroups.isEmpty && containers.isEmpty && families.isEmpty
      && types.isEmpty && !failedOnly
  }

  /// The comm as the kernel stores it: at most 15 bytes, NUL-padded to 16.
  static func commKey(_ comm: String) -> [UInt8] {
    var key = Array(comm.utf8.prefix(Int(ST_COMM_LEN) - 1))
    key += [UInt8](repeating: 0, count: Int(ST_COMM_LEN) - key.count)
    return key
  }

  /// The cgroup directories to filter on, with the v2 path each stands for:
  /// `--cgroup` paths checked, `--container` prefixes resolved to their
  /// containers' cgroups. Containers started later are not included.
  public func resolveCgroups(_ resolver: @autoclosure () -> CgroupResolver) throws(TraceError) -> [ResolvedCgroup] {
    guard !cgroups.isEmpty || !containers.isEmpty else { return [] }
    let resolver = resolver()
    guard let mount = resolver.mountPoint else {
      throw .badFilter("--cgroup/--container need cgroup v2, and no cgroup2 file system is mounted")
    }
    var result: [ResolvedCgroup] = []
    for given in cgroups {
      var path = given
      if path.hasPrefix(mount + "/") || path == mount { path = String(path.dropFirst(mount.count)) }
      if path.isEmpty || !path.hasPrefix("/") { path = "/" + path }
      while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
      let directory = path == "/" ? mount : mount + path
      guard CgroupResolver.id(ofDirectory: directory) != nil else {
        throw .badFilter("--cgroup \(given): no such cgroup v2 directory (\(directory))")
      }
      result.append(ResolvedCgroup(path: path, directory: directory, container: nil))
    }
    for prefix in containers {
      let matches = resolver.cgroups(ofContainer: prefix)
      let ids = Set(matches.compactMap { CgroupNames.container(inPath: $0.path)?.id })
      guard !matches.isEmpty else { throw .badFilter("--container \(prefix): no running container has this id") }
      guard ids.count == 1, let id = ids.first else {
        throw .badFilter("--container \(prefix): ambiguous, \(ids.count) containers have ids starting with it")
      }
      for match in matches {
        result.append(ResolvedCgroup(path: match.path, directory: mount + match.path, container: id))
      }
    }
    guard result.count <= Int(ST_MAX_FILTER) else {
      throw .badFilter("--cgroup/--container: \(result.count) cgroups, at most \(ST_MAX_FILTER)")
    }
    return result
  }

  /// What the filters select, for the `start` record.
  public func active(cgroups resolved: [ResolvedCgroup], ports: [UInt16], addresses: [AddressFilter]) -> ActiveFilters {
    ActiveFilters(
      comms: comms.map { String(decoding: Array($0.utf8.prefix(Int(ST_COMM_LEN) - 1)), as: UTF8.self) },
      uids: uids, netns: netns, cgroups: resolved.map(\.path),
      containers: Array(Set(resolved.compactMap(\.container))).sorted(),
      families: families.map(SocketNames.familyLabel), types: types.map(SocketNames.typeLabel),
      failedOnly: failedOnly, ports: ports, addresses: addresses.map(\.description))
  }
}

/// A cgroup v2 directory the kernel filters on.
public struct ResolvedCgroup: Equatable, Sendable {
  /// Its v2 path (`/system.slice/docker-….scope`).
  public var path: String
  /// Its directory in the cgroup2 mount.
  public var directory: String
  /// The full id of the container it was resolved from, if any.
  public var container: String?
}

/// The filters in force, as the `start` record lists them (`filters`).
public struct ActiveFilters: Equatable, Sendable {
  public var comms: [String] = []
  public var uids: [UInt32] = []
  public var netns: [UInt32] = []
  public var cgroups: [String] = []
  public var containers: [String] = []
  public var families: [String] = []
  public var types: [String] = []
  public var failedOnly = false
  public var ports: [UInt16] = []
  public var addresses: [String] = []

  public init(
    comms: [String] = [], uids: [UInt32] = [], netns: [UInt32] = [], cgroups: [String] = [],
    containers: [String] = [], families: [String] = [], types: [String] = [], failedOnly: Bool = false,
    ports: [UInt16] = [], addresses: [String] = []
  ) {
    self.comms = comms
    self.uids = uids
    self.netns = netns
    self.cgroups = cgroups
    self.containers = containers
    self.families = families
    self.types = types
    self.failedOnly = failedOnly
    self.ports = ports
    self.addresses = addresses
  }
}

/// Command-line spellings of the filter values.
public enum FilterValues {
  /// `inet`, `AF_INET`, `af_inet`, `unix` (`local`), or a number 0–63.
  public static func family(_ text: String) -> Int32? {
    if let number = Int32(text) { return (0...63).contains(number) ? number : nil }
    var name = text.uppercased()
    if name == "LOCAL" { name = "UNIX" }
    if !name.hasPrefix("AF_") { name = "AF_" + name }
    return (0...63).first { SocketNames.family(Int32($0))?.uppercased() == name }.map(Int32.init)
  }

  /// `stream`, `SOCK_STREAM`, `dgram`, `raw`, `seqpacket`, … or a number 1–15.
  public static func type(_ text: String) -> Int32? {
    if let number = Int32(text) { return (1...15).contains(number) ? number : nil }
    var name = text.uppercased()
    if !name.hasPrefix("SOCK_") { name = "SOCK_" + name }
    return (1...15).first { SocketNames.type(Int32($0)) == name }.map(Int32.init)
  }

  /// A uid, or a user name from the password database.
  public static func uid(_ text: String) -> UInt32? {
    if let number = UInt32(text) { return number }
    guard let entry = getpwnam(text) else { return nil }
    return entry.pointee.pw_uid
  }

  /// A network namespace inode, or a path to one (`/proc/PID/ns/net`,
  /// `/run/netns/NAME`): its inode.
  public static func netns(_ text: String) -> UInt32? {
    if let number = UInt32(text) { return number }
    var info = stat()
    guard stat(text, &info) == 0, let inode = UInt32(exactly: info.st_ino) else { return nil }
    return inode
  }
}
