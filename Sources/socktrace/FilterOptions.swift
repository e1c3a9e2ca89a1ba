import ArgumentParser
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

extension AddressFilter: ExpressibleByArgument {
  public init?(argument: String) { self.init(argument) }
}
