import ArgumentParser
import CSocktrace
import SocktraceCore

/// Which processes to trace.
struct FilterOptions: ParsableArguments {
  @Option(
    name: [.short, .customLong("pid")],
    parsing: .singleValue,
    help: ArgumentHelp(
      "Trace only this process (repeatable, or a comma list). Filtered in the kernel.",
      valueName: "pid"))
  var pidLists: [PIDList] = []

  @Flag(name: [.short, .long], help: "Also trace processes forked from the traced ones later.")
  var follow = false

  var pids: [Int32] { pidLists.flatMap(\.pids) }

  @Option(
    name: .customLong("port"),
    help: ArgumentHelp(
      "Only sockets that bind or connect to this port, or accept from it (repeatable). In the kernel.",
      valueName: "port"))
  var ports: [UInt16] = []

  @Option(
    name: .customLong("address"),
    help: ArgumentHelp(
      "Only sockets bound or connected to this address: an IP, a CIDR prefix, a unix path or @name "
        + "(repeatable). In the kernel.",
      valueName: "address"))
  var addresses: [AddressFilter] = []

  @Option(
    name: .customLong("comm"),
    help: ArgumentHelp(
      "Only processes with this name (its first 15 bytes; repeatable). In the kernel.", valueName: "name"))
  var comms: [String] = []

  @Option(
    name: .customLong("uid"),
    help: ArgumentHelp("Only processes of this user: a uid or a name (repeatable).", valueName: "user"))
  var uids: [UIDArgument] = []

  @Option(
    name: .customLong("cgroup"),
    help: ArgumentHelp(
      "Only processes in this cgroup v2 directory or below it: a path under the cgroup2 mount (repeatable).",
      valueName: "path"))
  var cgroups: [String] = []

  @Option(
    name: .customLong("container"),
    help: ArgumentHelp(
      "Only processes of this running container: an id or a prefix, as docker ps shows it (repeatable). "
        + "Containers started after socktrace are not traced.",
      valueName: "id"))
  var containers: [String] = []

  @Option(
    name: .customLong("netns"),
    help: ArgumentHelp(
      "Only processes in this network namespace: an inode, or a path such as /proc/PID/ns/net (repeatable).",
      valueName: "inum"))
  var netns: [NetnsArgument] = []

  @Option(
    name: .customLong("family"),
    help: ArgumentHelp(
      "Only sockets of this family: inet, inet6, unix, netlink, packet, vsock, … or a number (repeatable).",
      valueName: "family"))
  var families: [FamilyArgument] = []

  @Option(
    name: .customLong("type"),
    help: ArgumentHelp("Only sockets of this type: stream, dgram, raw, seqpacket, … (repeatable).", valueName: "type"))
  var types: [TypeArgument] = []

  @Flag(name: .customLong("failed"), help: "Only socket births that failed.")
  var failedOnly = false

  /// What the kernel filters on besides pids and addresses.
  var selection: SelectionFilters {
    var selection = SelectionFilters()
    selection.comms = comms
    selection.uids = uids.map(\.uid)
    selection.cgroups = cgroups
    selection.containers = containers
    selection.netns = netns.map(\.inode)
    selection.families = families.map(\.number)
    selection.types = types.map(\.number)
    selection.failedOnly = failedOnly
    return selection
  }

  func validateSelection() throws {
    if let comm = comms.first(where: { $0.isEmpty }) {
      throw ValidationError("--comm needs a name, got \"\(comm)\"")
    }
    if let prefix = containers.first(where: { $0.isEmpty }) {
      throw ValidationError("--container needs an id, got \"\(prefix)\"")
    }
    let limit = Int(ST_MAX_FILTER)
    for (name, count) in [("--comm", comms.count), ("--uid", uids.count), ("--netns", netns.count)] where count > limit
    {
      throw ValidationError("\(name) given \(count) times; at most \(limit)")
    }
  }
}

/// `--uid 1000` or `--uid alice`.
struct UIDArgument: ExpressibleByArgument {
  var uid: UInt32
  init?(argument: String) {
    guard let uid = FilterValues.uid(argument) else { return nil }
    self.uid = uid
  }
}

/// `--netns 4026531840` or `--netns /proc/1/ns/net`.
struct NetnsArgument: ExpressibleByArgument {
  var inode: UInt32
  init?(argument: String) {
    guard let inode = FilterValues.netns(argument) else { return nil }
    self.inode = inode
  }
}

/// `--family inet6`, `--family AF_UNIX`, `--family 40`.
struct FamilyArgument: ExpressibleByArgument {
  var number: Int32
  init?(argument: String) {
    guard let number = FilterValues.family(argument) else { return nil }
    self.number = number
  }
}

/// `--type dgram`, `--type SOCK_SEQPACKET`.
struct TypeArgument: ExpressibleByArgument {
  var number: Int32
  init?(argument: String) {
    guard let number = FilterValues.type(argument) else { return nil }
    self.number = number
  }
}

/// `-p 12,34`: one or more positive pids.
struct PIDList: ExpressibleByArgument {
  var pids: [Int32]

  init?(argument: String) {
    var pids: [Int32] = []
    for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
      guard let pid = Int32(part.trimmingCharacters(in: " ")), pid > 0 else { return nil }
      pids.append(pid)
    }
    guard !pids.isEmpty else { return nil }
    self.pids = pids
  }
}

extension Substring {
  func trimmingCharacters(in set: Character) -> Substring {
    var result = self
    while result.first == set { result.removeFirst() }
    while result.last == set { result.removeLast() }
    return result
  }
}

extension RungChoice: ExpressibleByArgument {}

extension TableTime: ExpressibleByArgument {}

extension AddressFilter: ExpressibleByArgument {
  public init?(argument: String) { self.init(argument) }
}

/// An on/off option value.
enum Switch: String, CaseIterable, ExpressibleByArgument {
  case on, off
}
