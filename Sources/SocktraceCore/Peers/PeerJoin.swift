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
/// `release` (fentry, kprobe rungs) or replaced by a later bind of the same
/// address; a `close` (tracepoint rung) may leave another holder of the fd,
/// so it forgets nothing.
public final class PeerJoin {
  struct Holder {
    var pid: UInt32
    var comm: (UInt64, UInt64)
  }

  /// One end of an inet socket: namespace, type (stream, dgram), the
  /// address as 16 bytes (IPv4 as ::ffff:a.b.c.d), the port.
  struct Endpoint: Hashable {
    var netns: UInt32
    var type: Int32
    var address: [UInt8]
    var port: UInt16
  }

  private var owners: [UInt64: Holder] = [:]
  private var bound: [Endpoint: Holder] = [:]
  private var connected: [Endpoint: Holder] = [:]
  /// inode -> its endpoints in `bound` and `connected`, to forget them at release.
  private var endpoints: [UInt64: [Endpoint]] = [:]
  /// This host's addresses (every interface's), normalized; loopback is always local.
  private let localAddresses: Set<[UInt8]>
  /// The tracer's network namespace: interface addresses are its.
  private let netns: UInt32

  public init() {
    localAddresses = Self.interfaceAddresses()
    netns = UInt32(truncatingIfNeeded: ProcContext.netnsInode(pid: getpid()) ?? 0)
  }

  /// Learns from a record and fills what it can of its peer fields.
  public func resolve(_ event: inout TraceEvent) {
    switch event {
    case .socket(var socket):
      guard socket.succeeded else { return }
      if let inode = socket.inode { owners[inode] = holder(socket.raw.h) }
      if socket.via == .snapshot {
        learnBound(socket)
        return
      }
      guard socket.source == .accept, socket.raw.peer_pid == 0 else { return }
      if let inode = socket.peerInode, let owner = owners[inode] {
        set(&socket.raw.peer_pid, &socket.raw.peer_comm, owner)
      } else if let found = acceptPeer(socket) {
        set(&socket.raw.peer_pid, &socket.raw.peer_comm, found)
      } else {
        return
      }
      event = .socket(socket)
    case .socketCall(var call):
      guard call.succeeded || call.errno == EINPROGRESS, let inode = call.inode else { return }
      let type = call.type ?? 0
      if let local = call.localAddress, let end = endpoint(local, type: type, netns: call.raw.h.netns) {
        let owner = owners[inode] ?? holder(call.raw.h)
        switch call.call {
        case .bind, .listen: remember(end, owner, inode: inode, in: \.bound)
        case .connect: remember(end, owner, inode: inode, in: \.connected)
        case .shutdown: break
        }
      }
      guard call.call == .connect, call.raw.peer_pid == 0 else { return }
      if let peer = call.peerInode, let owner = owners[peer] {
        set(&call.raw.peer_pid, &call.raw.peer_comm, owner)
      } else if let target = call.address, let end = endpoint(target, type: type, netns: call.raw.h.netns),
        isLocal(end), let owner = listener(for: end)
      {
        set(&call.raw.peer_pid, &call.raw.peer_comm, owner)
      } else {
        return
      }
      event = .socketCall(call)
    case .release(let release):
      // close(2) (the tracepoint rung) ends an fd, not the socket: a forked
      // child closing its copy of the listener leaves the parent listening.
      guard release.how == .release else { return }
      owners[release.inode] = nil
      for end in endpoints.removeValue(forKey: release.inode) ?? [] {
        bound[end] = nil
        connected[end] = nil
      }
    default:
      return
    }
  }

  private func remember(
    _ end: Endpoint, _ owner: Holder, inode: UInt64, in map: ReferenceWritableKeyPath<PeerJoin, [Endpoint: Holder]>
  ) {
    self[keyPath: map][end] = owner
    endpoints[inode, default: []].append(end)
  }

  /// A snapshot socket bound to a port: a TCP listener, or a bound UDP socket.
  private func learnBound(_ socket: SocketEvent) {
    guard let local = socket.localAddress, let inode = socket.inode,
      let end = endpoint(local, type: socket.type, netns: socket.raw.h.netns), end.port != 0
    else { return }
    let owner = holder(socket.raw.h)
    if socket.type == streamType && socket.tcpState == 10 {
      remember(end, owner, inode: inode, in: \.bound)
    } else if socket.type == streamType && socket.tcpState == 1 {
      remember(end, owner, inode: inode, in: \.connected)
    } else if socket.type == datagramType {
      remember(end, owner, inode: inode, in: \.bound)
    }
  }

  /// The holder of what a connect to `end` reached: bound to the address, or to the wildcard.
  private func listener(for end: Endpoint) -> Holder? {
    if let exact = bound[end] { return exact }
    var wildcard = end
    let isV4 = end.address.starts(with: Self.v4Prefix)
    wildcard.address = isV4 ? Self.v4Prefix + [0, 0, 0, 0] : [UInt8](repeating: 0, count: 16)
    if let any = bound[wildcard] { return any }
    if isV4 {  // a dual-stack [::] listener takes IPv4 too (bindv6only off)
      wildcard.address = [UInt8](repeating: 0, count: 16)
      return bound[wildcard]
    }
    return nil
  }

  /// An accepted inet connection's client: its connect's source, or the kernel's table.
  private func acceptPeer(_ socket: SocketEvent) -> Holder? {
    guard let peer = socket.peer, let remote = endpoint(peer, type: socket.type, netns: socket.raw.h.netns),
      isLocal(remote)
    else { return nil }
    if let client = connected[remote] { return client }
    guard let local = socket.localAddress, let own = endpoint(local, type: socket.type, netns: remote.netns),
      let inode = ProcNetTables.inode(
        pid: Int32(bitPattern: socket.raw.h.pid), type: socket.type, local: (remote.address, remote.port),
        remote: (own.address, own.port))
    else { return nil }
    return owners[inode]
  }

  private func isLocal(_ end: Endpoint) -> Bool {
    if end.address.starts(with: Self.v4Prefix + [127]) || end.address == Self.v6Loopback { return true }
    return end.netns == netns && localAddresses.contains(end.address)
  }

  private func endpoint(_ address: SocketAddress, type: Int32, netns: UInt32) -> Endpoint? {
    guard let port = address.port, address.family == 2 || address.family == 10,
      let bytes = Self.addressBytes(address)
    else { return nil }
    return Endpoint(netns: netns, type: type, address: Self.normalize(bytes), port: UInt16(truncatingIfNeeded: port))
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
  static let v6Loopback: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]

  /// 16 bytes: IPv4 (4 bytes) as ::ffff:a.b.c.d, IPv6 as is.
  static func normalize(_ address: [UInt8]) -> [UInt8] {
    address.count == 4 ? v4Prefix + address : address
  }

  /// The address bytes of an inet SocketAddress, from its text form.
  static func addressBytes(_ address: SocketAddress) -> [UInt8]? {
    var text = String(decoding: address.text, as: UTF8.self)
    guard let colon = text.lastIndex(of: ":") else { return nil }
    text = String(text[..<colon])
    if address.family == 10 {
      text = String(text.dropFirst().dropLast())  // [addr]
      if let percent = text.firstIndex(of: "%") { text = String(text[..<percent]) }
      var raw = in6_addr()
      guard inet_pton(AF_INET6, text, &raw) == 1 else { return nil }
      return withUnsafeBytes(of: raw) { Array($0) }
    }
    var raw = in_addr()
    guard inet_pton(AF_INET, text, &raw) == 1 else { return nil }
    return withUnsafeBytes(of: raw) { Array($0) }
  }

  /// Every address of this host's interfaces (getifaddrs), normalized.
  static func interfaceAddresses() -> Set<[UInt8]> {
    var list: UnsafeMutablePointer<ifaddrs>?
    guard getifaddrs(&list) == 0, let first = list else { return [] }
    defer { freeifaddrs(list) }
    var addresses = Set<[UInt8]>()
    var walk: UnsafeMutablePointer<ifaddrs>? = first
    while let entry = walk {
      if let address = entry.pointee.ifa_addr {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
          _ = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
            addresses.insert(normalize(withUnsafeBytes(of: sin.pointee.sin_addr) { Array($0) }))
          }
        case AF_INET6:
          _ = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
            addresses.insert(withUnsafeBytes(of: sin6.pointee.sin6_addr) { Array($0) })
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
