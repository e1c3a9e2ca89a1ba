/// The human view: one line per socket birth, columns like BCC's tools.
/// Column widths come from one table, so the header always lines up.
public struct TextTable {
  struct Column {
    let title: String
    let width: Int
  }

  static let columns = [
    Column(title: "TIME", width: 12), Column(title: "PID", width: 7), Column(title: "TID", width: 7),
    Column(title: "COMM", width: 16), Column(title: "EVENT", width: 10),
    Column(title: "FAMILY", width: 10), Column(title: "TYPE", width: 14),
    Column(title: "PROTO", width: 14), Column(title: "FD", width: 4),
    Column(title: "INODE", width: 10), Column(title: "LAT(us)", width: 9),
    Column(title: "RESULT", width: 0),
  ]

  public let clock: BootClock
  /// Seconds east of UTC for the TIME column (local time, like BCC).
  public let utcOffsetSeconds: Int64

  public init(clock: BootClock, utcOffsetSeconds: Int64 = 0) {
    self.clock = clock
    self.utcOffsetSeconds = utcOffsetSeconds
  }

  public static var header: String {
    row(columns.map(\.title))
  }

  static func row(_ cells: [String]) -> String {
    var line = ""
    for (cell, column) in zip(cells, columns) {
      line += cell
      if column.width > 0 {
        line += String(repeating: " ", count: max(1, column.width - cell.count + 1))
      }
    }
    return line.trimmingTrailingWhitespace() + "\n"
  }

  /// A line for a socket birth, nil for events the table does not show.
  public func line(for event: TraceEvent) -> String? {
    guard case .socket(let socket) = event else { return nil }
    let header = socket.header
    let epoch = clock.epochNanoseconds(boot: header.bootTimeNanoseconds)
    let local = Int64(epoch / 1_000_000) + utcOffsetSeconds * 1000
    let millisOfDay = ((local % 86_400_000) + 86_400_000) % 86_400_000
    let time =
      pad(millisOfDay / 3_600_000, 2) + ":" + pad(millisOfDay / 60_000 % 60, 2) + ":"
      + pad(millisOfDay / 1000 % 60, 2) + "." + pad(millisOfDay % 1000, 3)
    let result: String
    if socket.succeeded {
      result = socket.isKernel ? "kernel socket" : "ok"
    } else {
      let name = ErrnoNames.name(socket.errno) ?? "errno \(socket.errno)"
      result = name + (socket.failedStage.map { " in \($0.name)" } ?? "")
    }
    let latency = Double(socket.durationNanoseconds) / 1000
    return Self.row([
      time, "\(header.pid)", "\(header.tid)", Self.printable(header.comm), socket.source.eventName,
      SocketNames.family(socket.family) ?? "\(socket.family)",
      SocketNames.type(socket.type) ?? "\(socket.type)",
      SocketNames.protocol(socket.protocol, family: socket.family) ?? "\(socket.protocol)",
      socket.fd.map { "\($0)" } ?? "-", socket.inode.map { "\($0)" } ?? "-",
      String(Int(latency * 10) / 10) + "." + String(Int(latency * 10) % 10), result,
    ])
  }

  /// Raw bytes for a terminal: printable ASCII as is, anything else as \xNN,
  /// so a hostile name cannot move the cursor or forge a line.
  public static func printable(_ bytes: [UInt8]) -> String {
    var text = ""
    for byte in bytes {
      if byte >= 0x20 && byte < 0x7f && byte != UInt8(ascii: "\\") {
        text.unicodeScalars.append(Unicode.Scalar(byte))
      } else {
        let hex = String(byte, radix: 16)
        text += "\\x" + (hex.count == 1 ? "0" : "") + hex
      }
    }
    return text
  }

  private func pad(_ value: Int64, _ width: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
  }
}
