import CSocktrace
import Testing

@testable import SocktraceCore

/// Issue 19: the table fits a narrow width by shortening names, never by
/// cutting the outcome, an errno name, an address or its port away.
@Suite struct TextTableFitTests {
  let clock = BootClock(offsetNanoseconds: 0)

  func call(
    _ kind: UInt32 = ST_KIND_CONNECT.rawValue, address: [UInt8], ret: Int32, comm: String = "curl", family: Int32 = 2
  ) -> TraceEvent {
    var op = st_sockop()
    op.h = Fixtures.header(kind: kind, size: MemoryLayout<st_sockop>.size, comm: Array(comm.utf8))
    op.fd = 3
    op.inode = 77
    op.family = family
    op.type = 1
    op.ret = ret
    op.duration_ns = 5_000
    op.bits = UInt32(ST_OP_HAS_ADDR)
    op.addr_len = UInt32(address.count)
    withUnsafeMutableBytes(of: &op.addr) { bytes in
      for (index, byte) in address.enumerated() where index < bytes.count { bytes[index] = byte }
    }
    return .socketCall(SocketCallEvent(raw: op))
  }

  /// sockaddr_in for 127.0.0.1:`port`.
  func inet(_ port: UInt16) -> [UInt8] {
    [2, 0, UInt8(port >> 8), UInt8(port & 0xff), 127, 0, 0, 1] + [UInt8](repeating: 0, count: 8)
  }

  /// sockaddr_in6 for 2001:db8:1234:5678:9abc:def0:1234:5678 port `port`.
  func inet6(_ port: UInt16) -> [UInt8] {
    [10, 0, UInt8(port >> 8), UInt8(port & 0xff), 0, 0, 0, 0]
      + [0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78] + [0, 0, 0, 0]
  }

  func unix(_ path: String) -> [UInt8] { [1, 0] + Array(path.utf8) + [0] }

  static let hostileComm = "\u{1b}[2J\u{1b}[2Jaaaaaaaaaa"

  @Test(arguments: [40, 60, 80, 100, 200])
  func aRefusedConnectKeepsItsPortAndErrnoAtAnyWidth(width: Int) throws {
    let table = TextTable(clock: clock, width: width)
    let line = try #require(table.line(for: call(address: inet(12345), ret: -111, comm: Self.hostileComm)))
    #expect(line.hasSuffix("127.0.0.1:12345 ECONNREFUSED\n"), "\(line)")
    #expect(!line.contains("ECONNREFU~") && !line.contains(":1~"))
    if width >= 80 { #expect(line.count - 1 <= width, "\(line.count - 1) > \(width): \(line)") }
  }

  @Test func aLongIPv6AddressIsNeverCutEvenWhenTheLineMustOverflow() throws {
    let table = TextTable(clock: clock, width: 80)
    let line = try #require(table.line(for: call(address: inet6(443), ret: -101, family: 10)))
    #expect(line.hasSuffix("[2001:db8:1234:5678:9abc:def0:1234:5678]:443 ENETUNREACH\n"), "\(line)")
  }

  @Test func aLongUnixPathLosesItsMiddleNotItsNameOrOutcome() throws {
    let path = "/run/user/1000/some/very/long/directory/of/sockets/app.sock"
    let table = TextTable(clock: clock, width: 80)
    let line = try #require(table.line(for: call(address: unix(path), ret: -2, family: 1)))
    #expect(line.count - 1 <= 80, "\(line)")
    #expect(line.hasSuffix("app.sock ENOENT\n"), "\(line)")
    #expect(line.contains("fd 3 /run"))
    #expect(line.contains("~"))
    // Wide enough: the whole path.
    let wide = try #require(
      TextTable(clock: clock, width: 200).line(for: call(address: unix(path), ret: -2, family: 1)))
    #expect(wide.contains(path + " ENOENT"))
  }

  @Test func onlyTheCommIsCutAndTheOtherColumnsStayAligned() throws {
    let table = TextTable(clock: clock, width: 100)
    let short = try #require(table.line(for: call(address: inet(80), ret: 0)))
    // Six escape bytes print as 24 characters: cut to the column.
    let long = try #require(
      table.line(for: call(address: inet(80), ret: 0, comm: "\u{1b}\u{1b}\u{1b}\u{1b}\u{1b}\u{1b}")))
    // Same columns: RESULT starts at the same place.
    #expect(
      short.firstRange(of: "fd 3")?.lowerBound.utf16Offset(in: short)
        == long.firstRange(of: "fd 3")?.lowerBound.utf16Offset(in: long))
    #expect(long.contains(#"\x1b\x1b\x1b\x~ connect"#), "\(long)")
    #expect(long.hasSuffix("fd 3 127.0.0.1:80 ok\n"))
  }

  @Test func columnsComesFromTheEnvironmentWhenItIsANumber() {
    #expect(TextTable.width(columns: nil) == 80)
    #expect(TextTable.width(columns: "200") == 200)
    #expect(TextTable.width(columns: "wide") == 80)
    #expect(TextTable.width(columns: "0") == 80)
    #expect(TextTable.width(columns: "-5") == 80)
  }
}
