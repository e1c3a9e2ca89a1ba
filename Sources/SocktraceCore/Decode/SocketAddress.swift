import Glibc

/// A socket address as a program passed it to bind(2) or connect(2), or as the
/// kernel holds a connected socket's peer, rendered the way `ss` and
/// `strace -yy` show it: `127.0.0.1:8080`, `[::1]:8080`, `/run/x.sock`,
/// `@abstract`, `netlink:PID`.
///
/// The text is raw bytes: a unix path is whatever bytes a process chose, so
/// every writer escapes it for its own output (JSON, a terminal).
public struct SocketAddress: Equatable, Sendable {
  /// The address family the bytes were read as (`sa_family`).
  public var family: Int32
  public var text: [UInt8]
  /// The port for families that have one (inet, inet6, vsock), else nil.
  public var port: UInt32?

  public init(family: Int32, text: [UInt8], port: UInt32?) {
    self.family = family
    self.text = text
    self.port = port
  }

  static let unix: Int32 = 1
  static let inet: Int32 = 2
  static let inet6: Int32 = 10
  static let netlink: Int32 = 16
  static let packet: Int32 = 17
  static let vsock: Int32 = 40

  /// Parses `length` bytes of a `struct sockaddr` as passed (at most what was
  /// copied). Nil when there is no address: no bytes, or an unnamed unix
  /// address (`addrlen == sizeof(sa_family_t)`, autobind).
  public static func parse(_ bytes: UnsafeRawBufferPointer, length: Int) -> SocketAddress? {
    let count = min(max(length, 0), bytes.count)
    guard count >= 2 else { return nil }
    let view = UnsafeRawBufferPointer(rebasing: bytes[0..<count])
    let family = Int32(view.loadUnaligned(as: UInt16.self))
    switch family {
    case unix: return parseUnix(view)
    case inet where count >= 8:
      let port = bigEndianPort(view)
      return SocketAddress(family: family, text: ipv4(view, at: 4) + Array(":\(port)".utf8), port: UInt32(port))
    case inet6 where count >= 24:
      let port = bigEndianPort(view)
      var host = ipv6(view, at: 8)
      if count >= 28, case let scope = view.loadUnaligned(fromByteOffset: 24, as: UInt32.self), scope != 0 {
        host += Array("%\(scope)".utf8)
      }
      return SocketAddress(family: family, text: Array("[".utf8) + host + Array("]:\(port)".utf8), port: UInt32(port))
    case netlink where count >= 12:
      let pid = view.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
      let groups = view.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
      let text = "netlink:\(pid)" + (groups != 0 ? " groups 0x\(String(groups, radix: 16))" : "")
      return SocketAddress(family: family, text: Array(text.utf8), port: nil)
    case packet where count >= 8:
      let proto = UInt16(bigEndian: view.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
      let index = view.loadUnaligned(fromByteOffset: 4, as: Int32.self)
      let text = "packet:ifindex \(index) proto 0x\(String(proto, radix: 16))"
      return SocketAddress(family: family, text: Array(text.utf8), port: nil)
    case vsock where count >= 12:
      let port = view.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
      let cid = view.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
      return SocketAddress(family: family, text: Array("vsock:\(cid):\(port)".utf8), port: port)
    case 0:
      // connect(AF_UNSPEC) dissolves a datagram socket's association.
      return SocketAddress(family: family, text: Array("unspec".utf8), port: nil)
    default:
      let name = SocketNames.family(family) ?? "AF_\(family)"
      return SocketAddress(family: family, text: Array("\(name):\(count - 2) bytes".utf8), port: nil)
    }
  }

  /// A path (up to its first NUL: sun_path needs no terminator), or `@name`
  /// for the abstract namespace, whose name is every byte given, NULs included.
  private static func parseUnix(_ view: UnsafeRawBufferPointer) -> SocketAddress? {
    let path = view[2...]
    guard let first = path.first else { return nil }
    if first == 0 {
      return SocketAddress(family: unix, text: [UInt8(ascii: "@")] + path.dropFirst(), port: nil)
    }
    return SocketAddress(family: unix, text: Array(path.prefix { $0 != 0 }), port: nil)
  }

  /// The port of a `sockaddr_in`/`sockaddr_in6` (network order at offset 2),
  /// for every reader of the kernel's sockaddr bytes.
  static func bigEndianPort(_ view: UnsafeRawBufferPointer) -> UInt16 {
    UInt16(bigEndian: view.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
  }

  static func ipv4(_ view: UnsafeRawBufferPointer, at offset: Int) -> [UInt8] {
    let octets = (0..<4).map { String(view[offset + $0]) }
    return Array(octets.joined(separator: ".").utf8)
  }

  /// RFC 5952 text, from the C library.
  static func ipv6(_ view: UnsafeRawBufferPointer, at offset: Int) -> [UInt8] {
    var address = in6_addr()
    withUnsafeMutableBytes(of: &address) { raw in
      raw.copyMemory(from: UnsafeRawBufferPointer(rebasing: view[offset..<offset + 16]))
    }
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
    guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else { return Array("?".utf8) }
    return text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
  }

  /// The peer of an accepted socket from the record's fields: family, port
  /// in host order, 16 address bytes (IPv4 in the first four).
  public static func peer(family: Int32, port: UInt16, bytes: UnsafeRawBufferPointer) -> SocketAddress? {
    switch family {
    case inet:
      return SocketAddress(family: family, text: ipv4(bytes, at: 0) + Array(":\(port)".utf8), port: UInt32(port))
    case inet6:
      return SocketAddress(
        family: family, text: Array("[".utf8) + ipv6(bytes, at: 0) + Array("]:\(port)".utf8), port: UInt32(port))
    default:
      return nil
    }
  }
}
