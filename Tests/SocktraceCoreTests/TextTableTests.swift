import Testing

@testable import SocktraceCore

@Suite struct TextTableTests {
  @Test func printableEscapesEverythingATerminalWouldObey() {
    #expect(TextTable.printable(Array("curl".utf8)) == "curl")
    #expect(TextTable.printable([0x1b, 0x5b, 0x32, 0x4a]) == "\\x1b[2J")
    #expect(TextTable.printable([0x0a, 0xff, 0x5c]) == "\\x0a\\xff\\x5c")
  }

  @Test func aLineHasOneCellPerColumn() throws {
    let table = TextTable(clock: BootClock(offsetNanoseconds: 0))
    let line = try #require(table.line(for: .socket(SocketEvent(raw: Fixtures.socket()))))
    #expect(line.hasSuffix("ok\n"))
    #expect(line.contains("AF_INET"))
    #expect(line.contains("IPPROTO_TCP"))
    #expect(line.contains(" 4242 "))
    #expect(TextTable.header.hasPrefix("TIME"))
  }

  @Test func failuresNameTheErrorAndStage() throws {
    let table = TextTable(clock: BootClock(offsetNanoseconds: 0))
    let record = Fixtures.socket(ret: -24, inode: 0, bits: 8, probe: .fentry, failedStage: 3)
    let line = try #require(table.line(for: .socket(SocketEvent(raw: record))))
    #expect(line.hasSuffix("EMFILE in sock_map_fd\n"))
  }
}
