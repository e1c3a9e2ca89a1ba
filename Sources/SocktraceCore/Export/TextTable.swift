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

  /// A line for a socket birth or a call on a socket (bind, connect, listen,
  /// shutdown, a non-blocking connect's outcome); nil for events the table
  /// does not show.
  public func line(for event: TraceEvent) -> String? {
    switch event {
    case .socket(let socket): return socketLine(socket)
    case .socketCall(let call): return callLine(call)
    case .connectResult(let result):
      let outcome =
        result.established ? "established" : "failed " + (ErrnoNames.name(result.errno) ?? "errno \(result.errno)")
      return Self.row([
        time(result.header), "\(result.header.pid)", "\(result.header.tid)", Self.printable(result.header.comm),
        "handshake", "-", "-", "-", "-", "\(result.inode)", microseconds(result.durationNanoseconds), outcome,
      ])
    default: return nil
    }
  }

  private func socketLine(_ socket: SocketEvent) -> String {
    let header = socket.header
    let result: String
    if socket.succeeded {
      result = socket.isKernel ? "kernel socket" : "ok" + (socket.peer.map { " from " + Self.printable($0.text) } ?? "")
    } else {
      let name = ErrnoNames.name(socket.errno) ?? "errno \(socket.errno)"
      result = name + (socket.failedStage.map { " in \($0.name)" } ?? "")
    }
    return Self.row([
      time(header), "\(header.pid)", "\(header.tid)", Self.printable(header.comm), socket.source.eventName,
      SocketNames.family(socket.family) ?? "\(socket.family)",
      SocketNames.type(socket.type) ?? "\(socket.type)",
      SocketNames.protocol(socket.protocol, family: socket.family) ?? "\(socket.protocol)",
      socket.fd.map { "\($0)" } ?? "-", socket.inode.map { "\($0)" } ?? "-",
      microseconds(socket.durationNanoseconds), result,
    ])
  }

  /// `connect  AF_INET  SOCK_STREAM  -  4  558755  66.7  127.0.0.1:8765 ok`.
  private func callLine(_ call: SocketCallEvent) -> String {
    let header = call.header
    var what: String
    switch call.call {
    case .bind, .connect: what = call.address.map { Self.printable($0.text) } ?? "(unnamed)"
    case .listen: what = "backlog \(call.raw.arg)"
    case .shutdown:
      what = [0: "SHUT_RD", 1: "SHUT_WR", 2: "SHUT_RDWR"][call.raw.arg] ?? "how \(call.raw.arg)"
    }
    what += call.succeeded ? " ok" : " " + (ErrnoNames.name(call.errno) ?? "errno \(call.errno)")
    return Self.row([
      time(header), "\(header.pid)", "\(header.tid)", Self.printable(header.comm), call.call.eventName,
      call.family.map { SocketNames.family($0) ?? "\($0)" } ?? "-",
      call.type.map { SocketNames.type($0) ?? "\($0)" } ?? "-", "-", "\(call.fd)",
      call.inode.map { "\($0)" } ?? "-", microseconds(call.durationNanoseconds), what,
    ])
  }

  /// Local wall-clock time of day, to the millisecond.
  private func time(_ header: EventHeader) -> String {
    let epoch = clock.epochNanoseconds(boot: header.bootTimeNanoseconds)
    let local = Int64(epoch / 1_000_000) + utcOffsetSeconds * 1000
    let millisOfDay = ((local % 86_400_000) + 86_400_000) % 86_400_000
    return pad(millisOfDay / 3_600_000, 2) + ":" + pad(millisOfDay / 60_000 % 60, 2) + ":"
      + pad(millisOfDay / 1000 % 60, 2) + "." + pad(millisOfDay % 1000, 3)
  }

  private func microseconds(_ nanoseconds: UInt64) -> String {
    let tenths = nanoseconds / 100
    return "\(tenths / 10).\(tenths % 10)"
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
