import Glibc

/// What the kernel reports of one socket in /proc/PID/net/{tcp,tcp6,udp,udp6,
/// unix,netlink} (proc_net_tcp(7), the same tables `netstat` reads): its
/// kind, its own address, its peer and its state, by inode. The tables are
/// per network namespace: /proc/PID/net shows PID's.
public struct ProcNetSocket: Equatable, Sendable {
  public var family: Int32
  public var type: Int32
  public var `protocol`: Int32
  /// The own address as a `struct sockaddr` (what getsockname(2) gives).
  public var local: [UInt8]
  /// inet: the peer's family (0 when not connected), port (host order) and
  /// 16 address bytes (IPv4 in the first 4), the layout of `st_socket.peer_*`.
  public var peerFamily: UInt16 = 0
  public var peerPort: UInt16 = 0
  public var peerAddress: [UInt8] = Array(repeating: 0, count: 16)
  /// TCP: the state (1 ESTABLISHED … 10 LISTEN …); unix: 10 for a listener,
  /// 1 for a connected socket; else 0.
  public var state: UInt8 = 0
}

public enum ProcNetTables {
  static let tcpListen: UInt8 = 10

  /// Every socket the tables of PID's network namespace list, by inode.
  public static func read(pid: Int32) -> [UInt64: ProcNetSocket] {
    var sockets: [UInt64: ProcNetSocket] = [:]
    let base = "/proc/\(pid)/net/"
    for (file, family, type, proto) in [
      ("tcp", Int32(2), Int32(1), Int32(6)), ("tcp6", 10, 1, 6), ("udp", 2, 2, 17), ("udp6", 10, 2, 17),
    ] {
      parseInet(readSmallFileBytes(base + file) ?? [], family: family, type: type, protocol: proto, into: &sockets)
    }
    parseUnix(readSmallFileBytes(base + "unix") ?? [], into: &sockets)
    parseNetlink(readSmallFileBytes(base + "netlink") ?? [], into: &sockets)
    return sockets
  }

  static func lines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
    Array(bytes.split(separator: UInt8(ascii: "\n")).dropFirst())  // the first is the column names
  }

  static func fields(_ line: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
    line.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
  }

  static func hex(_ text: ArraySlice<UInt8>) -> UInt64? { UInt64(String(decoding: text, as: UTF8.self), radix: 16) }

  /// `0100007F:1F90`: the address as the kernel's u32 words printed %08X in
  /// host order (so their bytes in memory are the address), the port %04X.
  static func inetEndpoint(_ text: ArraySlice<UInt8>) -> (address: [UInt8], port: UInt16)? {
    let parts = text.split(separator: UInt8(ascii: ":"))
    guard parts.count == 2, let port = hex(parts[1]), port <= 0xffff, parts[0].count == 8 || parts[0].count == 32
    else { return nil }
    var address: [UInt8] = []
    var start = parts[0].startIndex
    while start < parts[0].endIndex {
      guard let word = hex(parts[0][start..<start + 8]) else { return nil }
      withUnsafeBytes(of: UInt32(truncatingIfNeeded: word)) { address += $0 }
      start += 8
    }
    return (address, UInt16(port))
  }

  /// A `struct sockaddr_in` or `sockaddr_in6` for an address and port.
  static func sockaddr(family: Int32, address: [UInt8], port: UInt16) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: family == 2 ? 16 : 28)
    bytes[0] = UInt8(family & 0xff)
    bytes[2] = UInt8(port >> 8)
    bytes[3] = UInt8(port & 0xff)
    let at = family == 2 ? 4 : 8
    for (index, byte) in address.prefix(family == 2 ? 4 : 16).enumerated() { bytes[at + index] = byte }
    return bytes
  }

  /// tcp, tcp6, udp, udp6: `sl local rem st tx:rx tr:when retrnsmt uid timeout inode …`.
  static func parseInet(
    _ bytes: [UInt8], family: Int32, type: Int32, protocol proto: Int32, into sockets: inout [UInt64: ProcNetSocket]
  ) {
    for line in lines(bytes) {
      let columns = fields(line)
      guard columns.count > 9, let local = inetEndpoint(columns[1]), let remote = inetEndpoint(columns[2]),
        let state = hex(columns[3]), let inode = UInt64(String(decoding: columns[9], as: UTF8.self)), inode != 0
      else { continue }
      var socket = ProcNetSocket(
        family: family, type: type, protocol: proto,
        local: sockaddr(family: family, address: local.address, port: local.port))
      if remote.port != 0 || remote.address.contains(where: { $0 != 0 }) {
        socket.peerFamily = UInt16(family)
        socket.peerPort = remote.port
        socket.peerAddress = remote.address + [UInt8](repeating: 0, count: 16 - remote.address.count)
      }
      if proto == 6 { socket.state = UInt8(truncatingIfNeeded: state) }
      sockets[inode] = socket
    }
  }

  /// unix: `Num RefCount Protocol Flags Type St Inode [Path]`; Flags 0x10000
  /// is __SO_ACCEPTCON (listening), St 3 SS_CONNECTED. An abstract name is
  /// shown from `@` with its NULs as `@`: the bytes are as the kernel prints them.
  static func parseUnix(_ bytes: [UInt8], into sockets: inout [UInt64: ProcNetSocket]) {
    for line in lines(bytes) {
      let columns = fields(line)
      guard columns.count >= 7, let flags = hex(columns[3]), let type = hex(columns[4]), let st = hex(columns[5]),
        let inode = UInt64(String(decoding: columns[6], as: UTF8.self)), inode != 0
      else { continue }
      var local: [UInt8] = []
      if columns.count > 7 {
        // The path is the rest of the line (it may hold spaces).
        var path = Array(line[columns[7].startIndex...])
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        local = [1, 0] + path.prefix(108)
      }
      var socket = ProcNetSocket(family: 1, type: Int32(type), protocol: 0, local: local)
      if flags & 0x10000 != 0 {
        socket.state = tcpListen
      } else if st == 3 {
        socket.state = 1
      }
      sockets[inode] = socket
    }
  }

  /// netlink: `sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode`.
  static func parseNetlink(_ bytes: [UInt8], into sockets: inout [UInt64: ProcNetSocket]) {
    for line in lines(bytes) {
      let columns = fields(line)
      guard columns.count > 9, let proto = UInt32(String(decoding: columns[1], as: UTF8.self)),
        let portID = UInt32(String(decoding: columns[2], as: UTF8.self)), let groups = hex(columns[3]),
        let inode = UInt64(String(decoding: columns[9], as: UTF8.self)), inode != 0
      else { continue }
      var local: [UInt8] = [16, 0, 0, 0]
      withUnsafeBytes(of: portID) { local += $0 }
      withUnsafeBytes(of: UInt32(truncatingIfNeeded: groups)) { local += $0 }
      sockets[inode] = ProcNetSocket(family: 16, type: 3, protocol: Int32(proto), local: local)
    }
  }

  /// The inode of the inet socket in PID's namespace whose own end is
  /// `local` and whose peer is `remote` (16-byte addresses, IPv4 in the first
  /// 4), from tcp/tcp6 or udp/udp6: how an accept finds the socket that
  /// connected to it when its connect record has not come yet.
  public static func inode(
    pid: Int32, type: Int32, local: (address: [UInt8], port: UInt16), remote: (address: [UInt8], port: UInt16)
  ) -> UInt64? {
    let files = type == 1 ? ["tcp", "tcp6"] : ["udp", "udp6"]
    for file in files {
      for line in lines(readSmallFileBytes("/proc/\(pid)/net/\(file)") ?? []) {
        let columns = fields(line)
        guard columns.count > 9, let own = inetEndpoint(columns[1]), let peer = inetEndpoint(columns[2]),
          own.port == local.port, peer.port == remote.port,
          PeerJoin.normalize(own.address) == PeerJoin.normalize(local.address),
          PeerJoin.normalize(peer.address) == PeerJoin.normalize(remote.address)
        else { continue }
        return UInt64(String(decoding: columns[9], as: UTF8.self))
      }
    }
    return nil
  }
}
