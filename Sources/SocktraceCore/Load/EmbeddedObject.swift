/// The BPF object that the CompileBPF plugin compiled from `bpf/socktrace.bpf.c`.
enum EmbeddedObject {
  /// Decoded once from the base64 the plugin generated (`socktraceBPFObjectBase64`).
  static let bytes: [UInt8] = {
    let text = socktraceBPFObjectBase64.withUTF8Buffer { Array($0) }
    guard let bytes = Base64.decode(text) else {
      fatalError("the embedded BPF object is not valid base64: the build is broken")
    }
    return bytes
  }()
}

/// Standard base64 (RFC 4648) without Foundation.
enum Base64 {
  static func decode(_ text: [UInt8]) -> [UInt8]? {
    var table = [UInt8](repeating: 0xff, count: 256)
    for (index, character) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
      .utf8.enumerated()
    {
      table[Int(character)] = UInt8(index)
    }
    var output: [UInt8] = []
    output.reserveCapacity(text.count / 4 * 3)
    var accumulator: UInt32 = 0
    var bits = 0
    for character in text where character != UInt8(ascii: "=") {
      let value = table[Int(character)]
      guard value != 0xff else { return nil }
      accumulator = accumulator << 6 | UInt32(value)
      bits += 6
      if bits >= 8 {
        bits -= 8
        output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
      }
    }
    return output
  }
}
