import CSocktrace
import Testing

@testable import SocktraceCore

@Suite struct EventDecoderTests {
  @Test func decodesASocketRecord() throws {
    let bytes = Fixtures.bytes(of: Fixtures.socket(type: 1 | SocketNames.cloexec))
    let event = try bytes.withUnsafeBytes { try EventDecoder.decode($0) }
    guard case .socket(let socket) = event else {
      Issue.record("expected a socket event, got \(event)")
      return
    }
    #expect(socket.source == .socket)
    #expect(socket.header.pid == 100)
    #expect(socket.header.tid == 101)
    #expect(socket.header.comm == Array("curl".utf8))
    #expect(socket.family == 2)
    #expect(socket.type == 1)
    #expect(socket.requestedType == 1 | SocketNames.cloexec)
    #expect(socket.protocol == 6)
    #expect(socket.requestedProtocol == 0)
    #expect(socket.fd == 3)
    #expect(socket.inode == 4242)
    #expect(socket.errno == 0)
    #expect(socket.failedStage == nil)
    #expect(socket.stages == nil)
    #expect(socket.probe == .tracepoint)
  }

  @Test func failedCallHasNoFDOrInodeButKeepsItsStage() throws {
    let record = Fixtures.socket(
      ret: -97, resolvedProtocol: -1, inode: 0,
      bits: UInt32(ST_BIT_HAS_STAGE_INFO | ST_BIT_HAS_STAGES), probe: .fentry,
      failedStage: UInt8(ST_STAGE_SOCK_CREATE.rawValue))
    let event = try Fixtures.bytes(of: record).withUnsafeBytes { try EventDecoder.decode($0) }
    guard case .socket(let socket) = event else {
      Issue.record("expected a socket event")
      return
    }
    #expect(socket.fd == nil)
    #expect(socket.inode == nil)
    #expect(socket.errno == 97)
    #expect(socket.failedStage == .sockCreate)
    #expect(socket.protocol == 0)
    #expect(socket.stages != nil)
  }

  @Test func kernelSocketHasNoFD() throws {
    let record = Fixtures.socket(ret: 0, bits: UInt32(ST_BIT_KERNEL | ST_BIT_HAS_INODE))
    let event = try Fixtures.bytes(of: record).withUnsafeBytes { try EventDecoder.decode($0) }
    guard case .socket(let socket) = event else {
      Issue.record("expected a socket event")
      return
    }
    #expect(socket.isKernel)
    #expect(socket.fd == nil)
    #expect(socket.inode == 4242)
  }

  @Test func decodesExecArguments() throws {
    var record = st_exec()
    record.h = Fixtures.header(kind: ST_KIND_EXEC.rawValue, size: MemoryLayout<st_exec>.size)
    let args = Array("curl\0-s\0http://x\0".utf8)
    withUnsafeMutableBytes(of: &record.args) { bytes in
      for (index, byte) in args.enumerated() { bytes[index] = byte }
    }
    record.args_len = UInt32(args.count)
    withUnsafeMutableBytes(of: &record.filename) { bytes in
      for (index, byte) in "/usr/bin/curl".utf8.enumerated() { bytes[index] = byte }
    }
    let event = try Fixtures.bytes(of: record).withUnsafeBytes { try EventDecoder.decode($0) }
    guard case .exec(let exec) = event else {
      Issue.record("expected an exec event")
      return
    }
    #expect(exec.filename == Array("/usr/bin/curl".utf8))
    #expect(exec.arguments == [Array("curl".utf8), Array("-s".utf8), Array("http://x".utf8)])
  }

  @Test func rejectsShortRecords() {
    let bytes = [UInt8](repeating: 0, count: 10)
    #expect(throws: DecodeError.tooShort(size: 10)) {
      try bytes.withUnsafeBytes { try EventDecoder.decode($0) }
    }
  }

  @Test func rejectsUnknownKinds() {
    var header = Fixtures.header(kind: 99, size: 64)
    header.kind = 99
    let bytes = Fixtures.bytes(of: header)
    #expect(throws: DecodeError.unknownKind(99)) {
      try bytes.withUnsafeBytes { try EventDecoder.decode($0) }
    }
  }

  @Test func rejectsASizeThatDisagreesWithTheKind() {
    var record = Fixtures.socket()
    record.h.size = 80
    let bytes = Fixtures.bytes(of: record)
    #expect(throws: DecodeError.self) {
      try bytes.withUnsafeBytes { try EventDecoder.decode($0) }
    }
    let truncated = Array(Fixtures.bytes(of: Fixtures.socket()).prefix(100))
    #expect(throws: DecodeError.self) {
      try truncated.withUnsafeBytes { try EventDecoder.decode($0) }
    }
  }

  /// Hostile bytes of every length and kind, at an odd alignment: decode
  /// throws exactly the error the header earns, or succeeds; it never traps.
  @Test(arguments: [0, 1, 63, 64, 65, 72, 80, 88, 143, 167, 168, 169, 239, 240, 584, 600])
  func survivesArbitraryBytes(length: Int) {
    let socket = MemoryLayout<st_socket>.size
    let call = MemoryLayout<st_sockop>.size
    let sizes: [UInt16: Int] = [
      1: socket, 2: socket, 3: socket, 4: MemoryLayout<st_release>.size, 5: MemoryLayout<st_fork>.size,
      6: MemoryLayout<st_exec>.size, 7: MemoryLayout<st_exit>.size, 8: call, 9: call, 10: call, 11: call,
      12: MemoryLayout<st_connected>.size,
    ]
    var generator = SplitMix64(seed: UInt64(length))
    for kind: UInt16 in Array(0...13) + [0xffff] {
      var bytes = (0..<(length + 1)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
      // Half the time declare the right size for the kind, else a random one.
      let declared = generator.next() % 2 == 0 ? UInt16(sizes[kind] ?? 0) : UInt16(truncatingIfNeeded: generator.next())
      if length >= 4 {
        bytes[1] = UInt8(kind & 0xff)
        bytes[2] = UInt8(kind >> 8)
        bytes[3] = UInt8(declared & 0xff)
        bytes[4] = UInt8(declared >> 8)
      }
      let result = bytes.withUnsafeBytes { raw in
        Result { () throws(DecodeError) in try EventDecoder.decode(UnsafeRawBufferPointer(rebasing: raw[1...])) }
      }
      if length < 64 {
        #expect(throws: DecodeError.tooShort(size: length)) { try result.get() }
      } else if let expected = sizes[kind] {
        if Int(declared) == expected && length >= expected {
          #expect(throws: Never.self) { try result.get() }
        } else {
          #expect(
            throws: DecodeError.sizeMismatch(kind: kind, declared: Int(declared), expected: expected, available: length)
          ) {
            try result.get()
          }
        }
      } else {
        #expect(throws: DecodeError.unknownKind(kind)) { try result.get() }
      }
    }
  }
}

/// A small deterministic generator for test inputs.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
