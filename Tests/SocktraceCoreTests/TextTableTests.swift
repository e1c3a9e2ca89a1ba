import Testing

@testable import SocktraceCore

@Suite struct TextTableTests {
  let clock = BootClock(offsetNanoseconds: 0)

  @Test func printableEscapesEverythingATerminalWouldObey() {
    #expect(TextTable.printable(Array("curl".utf8)) == "curl")
    #expect(TextTable.printable([0x1b, 0x5b, 0x32, 0x4a]) == "\\x1b[2J")
    #expect(TextTable.printable([0x0a, 0xff, 0x5c]) == "\\x0a\\xff\\x5c")
  }

  /// Lines a table writes for a few records: successes, failures, long comms.
  func lines(_ table: TextTable) throws -> [String] {
    let records = [
      Fixtures.socket(comm: Array("a-fifteen-chars".utf8)),
      Fixtures.socket(comm: [0x1b, 0x5b, 0x32, 0x4a, 0x0a, 0xff, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b]),
      Fixtures.socket(family: 10, type: 5 | SocketNames.nonblock | SocketNames.cloexec),
      Fixtures.socket(family: 255, ret: -97, resolvedProtocol: -1, inode: 0),
      Fixtures.socket(ret: -93, inode: 0, bits: 8, probe: .fentry, failedStage: 2),
      Fixtures.socket(family: 16, type: 3, ret: 2_147_483_647, inode: 18_446_744_073_709_551_615),
    ]
    return try [table.header] + records.map { try #require(table.line(for: .socket(SocketEvent(raw: $0)))) }
  }

  /// Not a terminal: 80 columns, every line; a wider terminal gets more columns.
  @Test(arguments: [80, 100, 132])
  func theDefaultTableFitsTheWidth(width: Int) throws {
    let table = TextTable(clock: clock, width: width)
    for line in try lines(table) {
      #expect(line.count - 1 <= width, "\(line.count - 1) > \(width): \(line)")
    }
    #expect(table.header.hasPrefix("TIME"))
    #expect(table.header.contains("RESULT"))
    #expect(table.header.contains("PROTO") == (width >= 100))
    #expect(table.header.contains("INODE") == (width >= 132))
  }

  @Test func defaultNamesAreShortWideNamesAreFull() throws {
    let narrow = try lines(TextTable(clock: clock))
    #expect(narrow[1].contains(" INET ") && narrow[1].contains(" STREAM ") && narrow[1].hasSuffix("fd 3\n"))
    #expect(narrow[3].contains(" INET6 ") && narrow[3].contains(" SEQPKT "))
    // The cause follows the errno; a result is never cut, even past the width.
    #expect(narrow[4].contains(" AF_255 ") && narrow[4].hasSuffix("EAFNOSUPPORT family_out_of_range\n"), "\(narrow[4])")
    #expect(try lines(TextTable(clock: clock, width: 132))[4].hasSuffix("EAFNOSUPPORT family_out_of_range\n"))
    let wide = try lines(TextTable(clock: clock, width: 80, wide: true))
    for column in ["UID", "PPID", "FLAGS", "INODE", "TID", "LAT(us)"] { #expect(wide[0].contains(column)) }
    #expect(wide[1].contains("AF_INET ") && wide[1].contains("IPPROTO_TCP"))
    #expect(wide[3].contains("SOCK_NONBLOCK|SOCK_CLOEXEC"))
    #expect(wide[5].hasSuffix("EPROTONOSUPPORT: protocol unsupported in sock_create\n"))
  }

  @Test func timeChoices() throws {
    let start: UInt64 = 5_000_000_000 - 1_234_567_000  // the fixtures' ts_ns is 5 s
    let wall = try lines(TextTable(clock: clock))[1]
    #expect(wall.hasPrefix("00:00:05.000 "))
    let relative = try lines(TextTable(clock: clock, time: .relative, startBootNanoseconds: start))[1]
    #expect(relative.hasPrefix("+1.234567 "))
    let boot = try lines(TextTable(clock: clock, time: .boot))[1]
    #expect(boot.hasPrefix("5000000000 "))
  }
}
