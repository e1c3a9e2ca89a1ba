import Glibc
import Testing

@testable import SocktraceCore

/// The encoder writes IPv4 addresses digit by digit from the kernel's bytes;
/// every other family goes through `SocketAddress`. Both must write exactly
/// what `SocketAddress` says.
@Suite struct AddressFieldsTests {
  static func sockaddrIn(_ octets: [UInt8], port: UInt16) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: 28)
    bytes[0] = UInt8(AF_INET)
    bytes[2] = UInt8(port >> 8)
    bytes[3] = UInt8(port & 0xff)
    bytes.replaceSubrange(4..<8, with: octets)
    return bytes
  }

  static func written(_ body: (inout JSONBuffer) -> Void) -> String {
    var out = JSONBuffer()
    body(&out)
    return String(decoding: out.bytes, as: UTF8.self)
  }

  static func expected(_ address: SocketAddress?) -> String {
    written { $0.appendFields(",\"address\":", ",\"port\":", address) }
  }

  @Test(
    arguments: [
      ([0, 0, 0, 0], 0), ([127, 0, 0, 1], 8080), ([255, 255, 255, 255], 65535), ([10, 9, 100, 1], 1),
      ([192, 168, 0, 99], 443),
    ] as [([UInt8], UInt16)])
  func ipv4IsWhatSocketAddressSays(octets: [UInt8], port: UInt16) {
    let bytes = Self.sockaddrIn(octets, port: port)
    let fast = bytes.withUnsafeBytes { raw in
      Self.written { $0.appendAddressFields(",\"address\":", ",\"port\":", sockaddr: raw, length: 16) }
    }
    let slow = bytes.withUnsafeBytes { Self.expected(SocketAddress.parse($0, length: 16)) }
    #expect(fast == slow)
    #expect(fast == ",\"address\":\"\(octets.map(String.init).joined(separator: ".")):\(port)\",\"port\":\(port)")
    // An accepted socket's peer: the same text from the record's fields.
    let peer = octets.withUnsafeBytes { raw in
      Self.written {
        $0.appendPeerAddressFields(",\"address\":", ",\"port\":", family: AF_INET, port: port, bytes: raw)
      }
    }
    #expect(peer == fast)
  }

  @Test func otherFamiliesAndShortAddressesGoThroughSocketAddress() {
    var v6 = [UInt8](repeating: 0, count: 28)
    v6[0] = UInt8(AF_INET6)
    v6[3] = 80
    v6[23] = 1
    var unix = [UInt8](repeating: 0, count: 20)
    unix[0] = UInt8(AF_UNIX)
    unix.replaceSubrange(2..<8, with: Array("/run/x".utf8))
    let short = Self.sockaddrIn([127, 0, 0, 1], port: 9)
    for (bytes, length) in [(v6, 28), (unix, 8), (short, 7), (short, 0)] {
      let fast = bytes.withUnsafeBytes { raw in
        Self.written { $0.appendAddressFields(",\"address\":", ",\"port\":", sockaddr: raw, length: length) }
      }
      #expect(fast == bytes.withUnsafeBytes { Self.expected(SocketAddress.parse($0, length: length)) })
    }
    #expect(Self.expected(nil) == ",\"address\":null,\"port\":null")
  }
}
