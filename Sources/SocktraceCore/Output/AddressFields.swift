/// The two fields a socket address makes in a record (`"address"` and
/// `"port"`, or `"local_address"` and `"local_port"`), written straight from
/// the kernel's bytes: an IPv4 address, the common case on a busy server, is
/// formatted here digit by digit with no `SocketAddress` and no `String`.
/// Every other family goes through `SocketAddress` (the one owner of the
/// text forms), so both paths write the same text: tests compare them.
extension JSONBuffer {
  /// A `struct sockaddr` of `length` bytes (at most what was copied).
  mutating func appendAddressFields(
    _ addressKey: StaticString, _ portKey: StaticString, sockaddr: UnsafeRawBufferPointer, length: Int
  ) {
    let count = min(max(length, 0), sockaddr.count)
    if count >= 8, sockaddr.loadUnaligned(as: UInt16.self) == UInt16(SocketAddress.inet) {
      let port = SocketAddress.bigEndianPort(sockaddr)
      appendIPv4Fields(addressKey, portKey, sockaddr, at: 4, port: port)
      return
    }
    appendFields(addressKey, portKey, SocketAddress.parse(sockaddr, length: length))
  }

  /// An accepted socket's peer as the record holds it: family, port in host
  /// order, 16 address bytes (IPv4 in the first four).
  mutating func appendPeerAddressFields(
    _ addressKey: StaticString, _ portKey: StaticString, family: Int32, port: UInt16, bytes: UnsafeRawBufferPointer
  ) {
    if family == SocketAddress.inet {
      appendIPv4Fields(addressKey, portKey, bytes, at: 0, port: port)
      return
    }
    appendFields(addressKey, portKey, SocketAddress.peer(family: family, port: port, bytes: bytes))
  }

  /// The fields of an address already parsed (or none: both null).
  mutating func appendFields(_ addressKey: StaticString, _ portKey: StaticString, _ address: SocketAddress?) {
    appendRaw(addressKey)
    if let address { appendString(address.text) } else { appendNull() }
    appendRaw(portKey)
    if let port = address?.port { appendInt(Int64(Int32(bitPattern: port))) } else { appendNull() }
  }

  private mutating func appendIPv4Fields(
    _ addressKey: StaticString, _ portKey: StaticString, _ bytes: UnsafeRawBufferPointer, at offset: Int,
    port: UInt16
  ) {
    appendRaw(addressKey)
    append(UInt8(ascii: "\""))
    for index in 0..<4 {
      if index > 0 { append(UInt8(ascii: ".")) }
      appendUInt(UInt64(bytes[offset + index]))
    }
    append(UInt8(ascii: ":"))
    appendUInt(UInt64(port))
    append(UInt8(ascii: "\""))
    appendRaw(portKey)
    appendUInt(UInt64(port))
  }
}
