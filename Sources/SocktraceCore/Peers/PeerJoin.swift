import CSocktrace
import Glibc

/// Who holds the other end of a local TCP or UDP connection: the kernel keeps
/// no pointer from one end to the other (unix sockets have one, read in BPF:
/// bpf/lib/peer.bpf.h), so the join is the 4-tuple, done here from the
/// records the tracer has seen and the start snapshot:
///
/// - `connect` to A:P: the process holding a socket bound to A:P (or to the
///   wildcard address on P) of the same type in the same network namespace,
///   when A is an address of this host (loopback, or one of its interfaces);
///   learnt from successful `bind`/`listen` records and the snapshot's bound
///   sockets.
/// - `accept` from A:P that the kernel did not name (bpf/lib/peer.bpf.h
///   names the client of a connect it saw): the process whose `connect` got
///   A:P as its source address; if that record has not come yet (on loopback the server's
///   accept can return before the client's connect does), the socket with
///   that 4-tuple is looked up in /proc/PID/net/tcp (the kernel's table) and
///   its inode joined to the process that made it.
/// - unix `connect`/`accept` whose peer credentials the kernel did not keep
///   (a datagram connect): the peer inode, joined to the process holding it.
///
/// Never a guess: no match leaves peer_pid null. Records are amended in
/// place before they are written. An endpoint is forgotten at its socket's
/// `release` (the last reference, on every rung) or replaced by a later bind
/// of the same address.
public final class PeerJoin {
  struct Holder {
    var pid: UInt32
    var comm: (UInt64, UInt64)
  }

  /// An inet address as 16 bytes (IPv4 as ::ffff:a.b.c.d) in two words:
  /// hashed and compared as integers, never as text (every record of a busy
  /// server comes through here).
  struct Address: Hashable {
    var high: UInt64
    var low: UInt64

    init(high: UInt64, low: UInt64) {
      self.high = high
      self.low = low
    }

    /// 4 bytes (IPv4) or 16 (IPv6) from `bytes` at `offset`.
    init(_ bytes: UnsafeRawBufferPointer, at offset: Int, v4: Bool) {
      if v4 {
        high = 0
        low = Self.v4Marker | UInt64(bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) << 32
      } else {
        high = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        low = bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
      }
    }

    /// Bytes 8–11 of ::ffff:a.b.c.d (0, 0, 0xff, 0xff), as the low word holds them.
    static let v4Marker: UInt64 = 0xffff_0000
    var isV4: Bool { high == 0 && low & 0xffff_ffff == Self.v4Marker }
    var isLoopback: Bool {
      (isV4 && (low >> 32) & 0xff == 127) || (high == 0 && low == 1 << 56)
    }
    /// The wildcard of this address's family: 0.0.0.0 or [::].
    var wildcard: Address { isV4 ? Address(high: 0, low: Self.v4Marker) : Address(high: 0, low: 0) }

    /// The 16 bytes, for the rare lookup in /proc's tables.
    var bytes: [UInt8] { withUnsafeBytes(of: (high, low)) { Array($0) } }
  }

  /// One end of an inet socket: namespace, type (stream, dgram), address, port.
  struct Endpoint: Hashable {
    var netns: UInt32
    var type: Int32
    var address: Address
    var port: UInt16
  }

  /// The endpoints an inode was remembered under (a bind and a listen repeat
  /// one): two inline, so most sockets cost no array.
  struct Remembered {
    var first: Endpoint
    var second: Endpoint?
    var more: [Endpoint] = []

    var all: [Endpoint] { [first] + (second.map { [$0] } ?? []) + more }

    mutating func add(_ end: Endpoint) {
      if end == first || end == second { return }
      if second == nil { second = end } else if !more.contains(end) { more.append(end) }
    }
  }

  // Touched by every record, from the one thread that reads the ring: not
  // checked for exclusive access at run time (swift_beginAccess was ~5% of
  // the tracer under nginx).
  @exclusivity(unchecked) private var owners: [UInt64: Holder] = [:]
  @exclusivity(unchecked) private var bound: [Endpoint: Holder] = [:]
  @exclusivity(unchecked) private var connected: [Endpoint: Holder] = [:]
  /// inode -> its endpoints in `bound` and `connected`, to forget them at release.
  @exclusivity(unchecked) private var endpoints: [UInt64: Remembered] = [:]
  /// This host's addresses (every interface's), normalized; loopback is always local.
  private let localAddresses: Set<Address>
  /// The tracer's network namespace: interface addresses are its.
  private let netns: UInt32

  /// Reads of /proc/PID/net/tcp for an accept whose client's connect has not
  /// come: each is the whole table of a network namespace (a busy server's
  /// is megabytes), so they are budgeted, `procReadsPerSecond` a second; past
  /// it the peer stays null (unknown, never guessed) and is counted.
  private let procReadsPerSecond: Int
  private var procReadsLeft: Int
  private var procBudgetSecond: UInt64 = 0
  /// Accepts whose peer was left unknown because the budget was spent.
  public private(set) var procReadsSkipped: UInt64 = 0
  private let clock: () -> UInt64

  /// `procReadsPerSecond`: 0 when no connect record is made (`--births-only`):
  /// every TCP accept would need the table.
  public convenience init(procReadsPerSecond: Int = 50) {
    self.init(procReadsPerSecond: procReadsPerSecond) { BootClock.now(CLOCK_MONOTONIC) }
  }

  /// `clock`: nanoseconds of a monotonic clock (tests pass their own).
  init(procReadsPerSecond: Int, clock: @escaping () -> UInt64) {
    localAddresses = Self.interfaceAddresses()
    netns = UInt32(truncatingIfNeeded: ProcContext.netnsInode(pid: getpid()) ?? 0)
    self.procReadsPerSecond = procReadsPerSecond
    procReadsLeft = procReadsPerSecond
    self.clock = clock
  }

  /// Whether one more /proc table read fits this second's budget.
  private func spendProcRead() -> Bool {
    let second = clock() / 1_000_000_000
    if second != procBudgetSecond {
      procBudgetSecond = second
      procReadsLeft = procReadsPerSecond
    }
    guard procReadsLeft > 0 else {
      procReadsSkipped &+= 1
      return false
    }
    procReadsLeft -= 1
    return true
  }

  /// How many sockets and endpoints it holds (bounded by the live sockets: a
  /// release forgets its socket).
  var occupancy: (owners: Int, bound: Int, connected: Int) { (owners.count, bound.count, connected.count) }

  /// Learns from a record and fills what it can of its peer fields.
  public func resolve(_ event: inout TraceEvent) {
    switch event {
    case .socket(let socket):
      guard socket.succeeded else { return }
      if let inode = socket.inode { owners[inode] = holder(socket.raw.h) }
      if socket.via == .snapshot {
        learnBound(socket)
        return
      }
      // Only an accept the kernel named no peer for is amended (and copied).
      guard socket.source == .accept, socket.raw.peer_pid == 0,
        let owner = socket.peerInode.flatMap({ owners[$0] }) ?? acceptPeer(socket)
      else { return }
      var amended = socket
      set(&amended.raw.peer_pid, &amended.raw.peer_comm, owner)
      event = .socket(amended)
    case .socketCall(var call):
      guard call.succeeded || call.errno == EINPROGRESS, let inode = call.inode else { return }
      let type = call.type ?? 0
      let netns = call.raw.h.netns
      if let end = withUnsafeBytes(of: call.raw.local, { Self.endpoint($0, Int(call.raw.local_len), type, netns) }) {
        let owner = owners[inode] ?? holder(call.raw.h)
        switch call.call {
        case .bind, .listen: remember(end, owner, inode: inode, in: .bound)
        case .connect: remember(end, owner, inode: inode, in: .connected)
        case .shutdown: break
        }
      }
      guard call.call == .connect, call.raw.peer_pid == 0 else { return }
      if let peer = call.peerInode, let owner = owners[peer] {
        set(&call.raw.peer_pid, &call.raw.peer_comm, owner)
      } else if call.raw.bits & UInt32(ST_OP_HAS_ADDR) != 0,
        let end = withUnsafeBytes(of: call.raw.addr, { Self.endpoint($0, Int(call.raw.addr_len), type, netns) }),
        isLocal(end), let owner = listener(for: end)
      {
        set(&call.raw.peer_pid, &call.raw.peer_comm, owner)
      } else {
        return
      }
      event = .socketCall(call)
    case .release(let release):
      // A release is the socket's end on every rung (the tracepoint rung
      // reports the last reference, whatever dropped it: issue 19), so its
      // inode and endpoints are forgotten: a week of `serve` holds what is alive.
      owners[release.inode] = nil
      if let ends = endpoints.removeValue(forKey: release.inode) {
        for end in ends.all {
          bound[end] = nil
          connected[end] = nil
        }
      }
    default:
      return
    }
  }

  private enum Table { case bound, connected }

  private func remember(_ end: Endpoint, _ owner: Holder, inode: UInt64, in table: Table) {
    switch table {
    case .bound: bound[end] = owner
    case .connected: connected[end] = owner
    }
    if endpoints[inode] == nil {
      endpoints[inode] = Remembered(first: end)
    } else {
      endpoints[inode]?.add(end)
    }
  }

  /// A snapshot socket bound to a port: a TCP listener, or a bound UDP socket.
  private func learnBound(_ socket: SocketEvent) {
    guard let inode = socket.inode,
      let end = withUnsafeBytes(
        of: socket.raw.local, { Self.endpoint($0, Int(socket.raw.local_len), socket.type, socket.raw.h.netns) }),
      end.port != 0
    else { return }
    let owner = holder(socket.raw.h)
    if socket.type == streamType && socket.tcpState == 10 {
      remember(end, owner, inode: inode, in: .bound)
    } else if socket.type == streamType && socket.tcpState == 1 {
      remember(end, owner, inode: inode, in: .connected)
    } else if socket.type == datagramType {
      remember(end, owner, inode: inode, in: .bound)
    }
  }

  /// The holder of what a connect to `end` reached: bound to the address, or to the wildcard.
  private func listener(for end: Endpoint) -> Holder? {
    if let exact = bound[end] { return exact }
    var wildcard = end
    wildcard.address = end.address.wildcard
    if let any = bound[wildcard] { return any }
    if end.address.isV4 {  // a dual-stack [::] listener takes IPv4 too (bindv6only off)
      wildcard.address = Address(high: 0, low: 0)
      return bound[wildcard]
    }
    return nil
  }

  /// An accepted inet connection's client: its connect's source, or the kernel's table.
  private func acceptPeer(_ socket: SocketEvent) -> Holder? {
    let family = Int32(socket.raw.peer_family)
    guard family == SocketAddress.inet || family == SocketAddress.inet6 else { return nil }
    let address = withUnsafeBytes(of: socket.raw.peer_addr) { Address($0, at: 0, v4: family == SocketAddress.inet) }
    let remote = Endpoint(netns: socket.raw.h.netns, type: socket.type, address: address, port: socket.raw.peer_port)
    guard isLocal(remote) else { return nil }
    if let client = connected[remote] { return client }
    guard procReadsPerSecond > 0, spendProcRead(),
      let own = withUnsafeBytes(
        of: socket.raw.local, { Self.endpoint($0, Int(socket.raw.local_len), socket.type, remote.netns) }),
      let inode = ProcNetTables.inode(
        pid: Int32(bitPattern: socket.raw.h.pid), type: socket.type, local: (remote.address.bytes, remote.port),
        remote: (own.address.bytes, own.port))
    else { return nil }
    return owners[inode]
  }

  private func isLocal(_ end: Endpoint) -> Bool {
    end.address.isLoopback || (end.netns == netns && localAddresses.contains(end.address))
  }

  /// The endpoint of an inet `struct sockaddr` of `length` bytes, read in place.
  static func endpoint(_ sockaddr: UnsafeRawBufferPointer, _ length: Int, _ type: Int32, _ netns: UInt32)
    -> Endpoint?
  {
    let count = min(max(length, 0), sockaddr.count)
    guard count >= 8 else { return nil }
    let family = Int32(sockaddr.loadUnaligned(as: UInt16.self))
    let port = SocketAddress.bigEndianPort(sockaddr)
    switch family {
    case SocketAddress.inet:
      return Endpoint(netns: netns, type: type, address: Address(sockaddr, at: 4, v4: true), port: port)
    case SocketAddress.inet6 where count >= 24:
      return Endpoint(netns: netns, type: type, address: Address(sockaddr, at: 8, v4: false), port: port)
    default:
      return nil
    }
  }

  private func holder(_ header: st_header) -> Holder {
    Holder(pid: header.pid, comm: withUnsafeBytes(of: header.comm) { $0.loadUnaligned(as: (UInt64, UInt64).self) })
  }

  private func set<Comm>(_ pid: inout UInt32, _ comm: inout Comm, _ owner: Holder) {
    pid = owner.pid
    withUnsafeMutableBytes(of: &comm) { bytes in
      withUnsafeBytes(of: owner.comm) {
        bytes.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(bytes.count)))
      }
    }
  }

  static let v4Prefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]

  /// 16 bytes: IPv4 (4 bytes) as ::ffff:a.b.c.d, IPv6 as is.
  static func normalize(_ address: [UInt8]) -> [UInt8] {
    address.count == 4 ? v4Prefix + address : address
  }

  /// Every address of this host's interfaces (getifaddrs), normalized.
  static func interfaceAddresses() -> Set<Address> {
    var list: UnsafeMutablePointer<ifaddrs>?
    guard getifaddrs(&list) == 0, let first = list else { return [] }
    defer { freeifaddrs(list) }
    var addresses = Set<Address>()
    var walk: UnsafeMutablePointer<ifaddrs>? = first
    while let entry = walk {
      if let address = entry.pointee.ifa_addr {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
          _ = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
            withUnsafeBytes(of: sin.pointee.sin_addr) { addresses.insert(Address($0, at: 0, v4: true)) }
          }
        case AF_INET6:
          _ = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
            withUnsafeBytes(of: sin6.pointee.sin6_addr) { addresses.insert(Address($0, at: 0, v4: false)) }
          }
        default: break
        }
      }
      walk = entry.pointee.ifa_next
    }
    return addresses
  }
}

private let streamType: Int32 = 1
private let datagramType: Int32 = 2

extension ProcContext {
  /// The inode of PID's network namespace (`/proc/PID/ns/net` → `net:[N]`).
  static func netnsInode(pid: Int32) -> UInt64? {
    let link = String(decoding: readLink("/proc/\(pid)/ns/net"), as: UTF8.self)
    return link.split(whereSeparator: { $0 == "[" || $0 == "]" }).dropFirst().first.flatMap { UInt64($0) }
  }
}
