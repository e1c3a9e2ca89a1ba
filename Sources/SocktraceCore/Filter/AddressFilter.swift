import CSocktrace
import Glibc

/// `--address`: an IP address or prefix (`127.0.0.1`, `10.0.0.0/8`, `::1`,
/// `fe80::/10`), or a unix socket name (`/run/x.sock`, `@abstract`). Matched in
/// the kernel against the addresses sockets bind and connect to, and the peers
/// they accept.
public enum AddressFilter: Equatable, Sendable, CustomStringConvertible {
  case network(family: Int32, bytes: [UInt8], prefixLength: Int)
  case unix(path: [UInt8])

  /// Parses one `--address` value; nil if it is none of the forms above.
  public init?(_ text: String) {
    if text.hasPrefix("/") || text.hasPrefix("@") {
      var path = Array(text.utf8)
      if path.first == UInt8(ascii: "@") { path[0] = 0 }  // the abstract namespace
      guard path.count <= Int(ST_UNIX_PATH_LEN), path.count > 1 else { return nil }
      self = .unix(path: path)
      return
    }
    let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
    let host = String(parts[0])
    for (family, size) in [(AF_INET, 4), (AF_INET6, 16)] {
      var bytes = [UInt8](repeating: 0, count: size)
      guard inet_pton(family, host, &bytes) == 1 else { continue }
      var prefix = size * 8
      if parts.count == 2 {
        guard let length = Int(parts[1]), (0...size * 8).contains(length) else { return nil }
        prefix = length
      }
      self = .network(family: family, bytes: bytes, prefixLength: prefix)
      return
    }
    return nil
  }

  public var description: String {
    switch self {
    case .network(let family, let bytes, let prefixLength):
      var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
      _ = inet_ntop(family, bytes, &text, socklen_t(text.count))
      let host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
      return prefixLength == bytes.count * 8 ? host : "\(host)/\(prefixLength)"
    case .unix(let path):
      var shown = path
      if shown.first == 0 { shown[0] = UInt8(ascii: "@") }
      return String(decoding: shown, as: UTF8.self)
    }
  }

  /// The key of the BPF `filter_nets` trie: a family tag byte, then the address.
  var netKey: st_net_key? {
    guard case .network(let family, let bytes, let prefixLength) = self else { return nil }
    var key = st_net_key()
    key.prefixlen = UInt32(8 + prefixLength)
    withUnsafeMutableBytes(of: &key.data) { data in
      data[0] = family == AF_INET ? 4 : 6
      for (index, byte) in bytes.enumerated() { data[1 + index] = byte }
    }
    return key
  }

  /// The key of the BPF `filter_paths` hash: the name, zero-padded.
  var pathKey: st_path_key? {
    guard case .unix(let path) = self else { return nil }
    var key = st_path_key()
    withUnsafeMutableBytes(of: &key.path) { data in
      for (index, byte) in path.enumerated() { data[index] = byte }
    }
    return key
  }
}
