/// How the table's TIME column reads (strace's -t, -r, -ttt habits).
public enum TableTime: String, CaseIterable, Sendable {
  /// Local wall clock, `HH:MM:SS.mmm` (the default).
  case wall
  /// Seconds since tracing started, `+1.234567`.
  case relative
  /// The kernel's boot-clock nanoseconds: the `ts_ns` of the JSON records.
  case boot
}

/// The human view: one line per socket birth, bind, connect, listen,
/// shutdown and non-blocking connect outcome, columns like BCC's tools.
/// It fits the width it is given (the terminal's, or 80 when the output is
/// no terminal): optional columns are dropped, lowest priority first, and
/// names lose their `AF_`/`SOCK_`/`IPPROTO_` prefixes. `wide` shows every
/// column (UID, PPID, FLAGS too) with full names, whatever the width.
public struct TextTable {
  enum Column: CaseIterable {
    case time, pid, tid, ppid, uid, comm, event, family, type, proto, flags, fd, inode, latency, result
  }

  public let clock: BootClock
  /// Seconds east of UTC for the TIME column (local time, like BCC).
  public let utcOffsetSeconds: Int64
  public let wide: Bool
  public let time: TableTime
  /// The boot clock when tracing started (`--time relative`).
  public let startBootNanoseconds: UInt64
  /// The columns shown, in order; RESULT last.
  let columns: [Column]
  /// The width every line fits in (the default layout); nil in wide mode.
  let limit: Int?

  /// The narrowest RESULT the default layout keeps: `EPROTONOSUPPORT`.
  static let resultWidth = 15

  public init(
    clock: BootClock, utcOffsetSeconds: Int64 = 0, width: Int = 80, wide: Bool = false, time: TableTime = .wall,
    startBootNanoseconds: UInt64 = 0
  ) {
    self.clock = clock
    self.utcOffsetSeconds = utcOffsetSeconds
    self.wide = wide
    self.time = time
    self.startBootNanoseconds = startBootNanoseconds
    limit = wide ? nil : max(width, 40)
    if wide {
      columns = Column.allCases
    } else {
      // Always these; then, while they fit, the optional ones by priority.
      var chosen: Set<Column> = [.time, .pid, .comm, .event, .family, .type, .result]
      var used = ([.time, .pid, .comm, .event, .family, .type] as [Column]).reduce(0) {
        $0 + Self.width($1, wide: false, time: time) + 1
      }
      // No FD column: RESULT says `fd 3`.
      for optional: Column in [.proto, .latency, .tid, .inode] {
        let extra = Self.width(optional, wide: false, time: time) + 1
        if used + extra + Self.resultWidth <= width {
          chosen.insert(optional)
          used += extra
        }
      }
      columns = Column.allCases.filter { chosen.contains($0) }
    }
  }

  /// The width when the output is no terminal: `COLUMNS` when it is a
  /// number (as `ls` and `ps` read it), else 80.
  public static func width(columns: String?) -> Int {
    guard let columns, let value = Int(columns), value > 0 else { return 80 }
    return min(value, 4096)
  }

  static func width(_ column: Column, wide: Bool, time: TableTime) -> Int {
    switch column {
    case .time:
      switch time {
      case .wall: return 12
      case .relative: return 11
      case .boot: return 16
      }
    case .pid, .tid, .ppid: return 7
    case .uid: return 6
    case .comm: return wide ? 16 : 15
    case .event: return 10
    case .family: return wide ? 10 : 7
    case .type: return wide ? 14 : 6
    case .proto: return wide ? 14 : 6
    case .flags: return 26
    case .fd: return 4
    case .inode: return 10
    case .latency: return 8
    case .result: return 0
    }
  }

  static func title(_ column: Column) -> String {
    switch column {
    case .time: return "TIME"
    case .pid: return "PID"
    case .tid: return "TID"
    case .ppid: return "PPID"
    case .uid: return "UID"
    case .comm: return "COMM"
    case .event: return "EVENT"
    case .family: return "FAMILY"
    case .type: return "TYPE"
    case .proto: return "PROTO"
    case .flags: return "FLAGS"
    case .fd: return "FD"
    case .inode: return "INODE"
    case .latency: return "LAT(us)"
    case .result: return "RESULT"
    }
  }

  public var header: String { row(Self.title) }

  /// Cells padded to their columns. In the default layout a line fits the
  /// limit by giving up, in this order, only what names and alignment are
  /// worth, never what the record says happened:
  ///
  /// 1. COMM is cut to its column (`~` marks the cut: an escaped hostile
  ///    comm is up to four times its bytes); no other cell is ever cut: one
  ///    longer than its column pushes the rest right;
  /// 2. then COMM shrinks further, down to 4 characters and the `~`;
  /// 3. then the padding of the other columns goes, rightmost first, as
  ///    much as needed (this line loses some alignment);
  /// 4. then a path in RESULT (a unix socket's) loses its middle
  ///    (`shortenResult`, given how many bytes RESULT may take);
  /// 5. and if that is still too long, the line is: the outcome, the errno
  ///    name, the address and its port are never cut away.
  ///
  /// `cell` is asked only for the columns shown. Cells are ASCII (names,
  /// numbers, `printable` bytes): widths are counted in UTF-8 bytes.
  func row(_ cell: (Column) -> String, shortenResult: ((Int) -> String?)? = nil) -> String {
    var cells = columns.map { Array(cell($0).utf8) }
    var widths = columns.map { Self.width($0, wide: wide, time: time) }
    let commIndex = columns.firstIndex(of: .comm)
    let resultIndex = columns.firstIndex(of: .result)
    /// What COMM shows at `width`: cut with `~` when longer.
    func comm(_ bytes: [UInt8], _ width: Int) -> [UInt8] {
      bytes.count > width ? Array(bytes.prefix(max(width - 1, 0))) + [UInt8(ascii: "~")] : bytes
    }
    let fullComm = commIndex.map { cells[$0] } ?? []
    if let commIndex, limit != nil { cells[commIndex] = comm(fullComm, widths[commIndex]) }

    func length() -> Int {
      var total = 0
      for index in cells.indices {
        if index == resultIndex || widths[index] == 0 {
          total += cells[index].count
        } else {
          total += max(cells[index].count, widths[index]) + 1
        }
      }
      return total
    }

    if let limit, length() > limit {
      // 2. COMM down to 4 characters and its `~`.
      if let commIndex {
        let excess = length() - limit
        let narrower = max(5, widths[commIndex] - excess)
        if narrower < widths[commIndex] {
          widths[commIndex] = narrower
          cells[commIndex] = comm(fullComm, narrower)
        }
      }
      // 3. Padding goes, from the rightmost column on, only as much as needed.
      for index in widths.indices.reversed() where index != resultIndex && widths[index] > 0 {
        let excess = length() - limit
        if excess <= 0 { break }
        let slack = widths[index] - cells[index].count
        if slack > 0 { widths[index] -= min(slack, excess) }
      }
      // 4. A path in RESULT loses its middle.
      if length() > limit, let resultIndex, let shortenResult {
        let room = cells[resultIndex].count - (length() - limit)
        if let shorter = shortenResult(room) { cells[resultIndex] = Array(shorter.utf8) }
      }
    }

    var line: [UInt8] = []
    line.reserveCapacity(limit ?? 160)
    for index in cells.indices {
      line.append(contentsOf: cells[index])
      if widths[index] > 0 && index != resultIndex {
        line.append(contentsOf: repeatElement(UInt8(ascii: " "), count: max(1, widths[index] - cells[index].count + 1)))
      }
    }
    while let last = line.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { line.removeLast() }
    line.append(UInt8(ascii: "\n"))
    return String(decoding: line, as: UTF8.self)
  }

  /// `prefix + path + suffix` in at most `room` bytes, the path losing its
  /// middle (`/run/us~/app.sock`): its start and its file name stay. Nil
  /// when even that does not fit.
  static func shortened(path: String, prefix: String, suffix: String, room: Int) -> String? {
    let bytes = Array(path.utf8)
    let budget = room - prefix.utf8.count - suffix.utf8.count
    guard bytes.count > budget else { return prefix + path + suffix }
    guard budget >= 8 else { return nil }
    let tail = (budget - 1) * 2 / 3
    let head = budget - 1 - tail
    let text = Array(bytes.prefix(head)) + [UInt8(ascii: "~")] + Array(bytes.suffix(tail))
    return prefix + String(decoding: text, as: UTF8.self) + suffix
  }

  /// A known name without its prefix in the default layout: `INET6`,
  /// `STREAM`, `TCP`; a number with no name keeps it (`AF_255`).
  func short(_ name: String, _ prefix: String, known: Bool) -> String {
    guard !wide, known, name.hasPrefix(prefix), name.count > prefix.count else { return name }
    let short = String(name.dropFirst(prefix.count))
    return short == "SEQPACKET" ? "SEQPKT" : short
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
      let header = result.header
      return row { column in
        switch column {
        case .event: return "handshake"
        case .family, .type, .proto, .flags, .fd: return "-"
        case .inode: return "\(result.inode)"
        case .latency: return microseconds(result.durationNanoseconds)
        case .result: return outcome
        default: return headerCell(column, header)
        }
      }
    default: return nil
    }
  }

  /// `connect  INET  STREAM  127.0.0.1:8765 ok`.
  private func callLine(_ call: SocketCallEvent) -> String {
    let header = call.header
    var what: String
    var path: String?
    switch call.call {
    case .bind, .connect:
      what = call.address.map { Self.printable($0.text) } ?? "(unnamed)"
      // A unix path or abstract name is a name: it may lose its middle. An IP and its port may not.
      if let first = what.utf8.first, first == UInt8(ascii: "/") || first == UInt8(ascii: "@") { path = what }
    case .listen: what = "backlog \(call.raw.arg)"
    case .shutdown:
      what = ShutdownHow.name(call.raw.arg) ?? "how \(call.raw.arg)"
    }
    let outcome = call.succeeded ? " ok" : " " + (ErrnoNames.name(call.errno) ?? "errno \(call.errno)")
    what += outcome
    let prefix = wide ? "" : "fd \(call.fd) "
    what = prefix + what
    let shorten = path.map { path in
      { (room: Int) in Self.shortened(path: path, prefix: prefix, suffix: outcome, room: room) }
    }
    return row(
      { column in
        switch column {
        case .event: return call.call.kind.name
        case .family:
          return call.family.map { short(SocketNames.familyLabel($0), "AF_", known: SocketNames.family($0) != nil) }
            ?? "-"
        case .type:
          return call.type.map { short(SocketNames.typeLabel($0), "SOCK_", known: SocketNames.type($0) != nil) } ?? "-"
        case .proto, .flags: return "-"
        case .fd: return "\(call.fd)"
        case .inode: return call.inode.map { "\($0)" } ?? "-"
        case .latency: return microseconds(call.durationNanoseconds)
        case .result: return what
        default: return headerCell(column, header)
        }
      }, shortenResult: shorten)
  }

  private func microseconds(_ nanoseconds: UInt64) -> String {
    let tenths = nanoseconds / 100
    return "\(tenths / 10).\(tenths % 10)"
  }

  private func socketLine(_ socket: SocketEvent) -> String {
    let header = socket.header
    var result: String
    if socket.succeeded {
      if socket.isKernel {
        result = wide ? "kernel socket" : "kernel"
      } else if wide {
        result = "ok" + (socket.peer.map { " from " + Self.printable($0.text) } ?? "")
      } else {
        result = socket.fd.map { "fd \($0)" } ?? "ok"
        if socket.source == .socketpair, let peer = socket.secondFD { result += ",\(peer)" }
        if let peer = socket.peer { result += " from " + Self.printable(peer.text) }
      }
    } else {
      result = ErrnoNames.name(socket.errno) ?? "errno \(socket.errno)"
      if let failure = socket.failure {
        result += wide ? ": " + Self.printable(Array(failure.text.utf8)) : " " + failure.cause.name
      }
      if wide, let stage = socket.failedStage { result += " in \(stage.name)" }
    }
    return row { column in
      switch column {
      case .event: return socket.source.kind.name
      case .family:
        return short(SocketNames.familyLabel(socket.family), "AF_", known: SocketNames.family(socket.family) != nil)
      case .type: return short(SocketNames.typeLabel(socket.type), "SOCK_", known: SocketNames.type(socket.type) != nil)
      case .proto:
        var name = SocketNames.protocolLabel(socket.protocol, family: socket.family)
        let known = SocketNames.protocol(socket.protocol, family: socket.family) != nil
        for prefix in ["IPPROTO_", "NETLINK_"] { name = short(name, prefix, known: known) }
        return name
      case .flags:
        let flags = SocketNames.flags(ofType: socket.requestedType)
        return flags.isEmpty ? "-" : flags.joined(separator: "|")
      case .fd: return socket.fd.map { "\($0)" } ?? "-"
      case .inode: return socket.inode.map { "\($0)" } ?? "-"
      case .latency: return microseconds(socket.durationNanoseconds)
      case .result: return result
      default: return headerCell(column, header)
      }
    }
  }

  /// The columns every line takes from its record's header.
  private func headerCell(_ column: Column, _ header: EventHeader) -> String {
    switch column {
    case .time: return timeCell(header.bootTimeNanoseconds)
    case .pid: return "\(header.pid)"
    case .tid: return "\(header.tid)"
    case .ppid: return "\(header.ppid)"
    case .uid: return "\(header.uid)"
    case .comm: return Self.printable(header.comm)
    default: return "-"
    }
  }

  func timeCell(_ boot: UInt64) -> String {
    switch time {
    case .wall:
      let epoch = clock.epochNanoseconds(boot: boot)
      let local = Int64(epoch / 1_000_000) + utcOffsetSeconds * 1000
      let millisOfDay = ((local % 86_400_000) + 86_400_000) % 86_400_000
      return pad(millisOfDay / 3_600_000, 2) + ":" + pad(millisOfDay / 60_000 % 60, 2) + ":"
        + pad(millisOfDay / 1000 % 60, 2) + "." + pad(millisOfDay % 1000, 3)
    case .relative:
      let since = boot >= startBootNanoseconds ? boot - startBootNanoseconds : 0
      return "+\(since / 1_000_000_000)." + pad(Int64(since % 1_000_000_000 / 1000), 6)
    case .boot: return "\(boot)"
    }
  }

  /// Raw bytes for a terminal: printable ASCII as is, anything else as \xNN,
  /// so a hostile name cannot move the cursor or forge a line.
  public static func printable(_ bytes: [UInt8]) -> String {
    let hex = JSONBuffer.hexDigits
    var text: [UInt8] = []
    text.reserveCapacity(bytes.count)
    for byte in bytes {
      if byte >= 0x20 && byte < 0x7f && byte != UInt8(ascii: "\\") {
        text.append(byte)
      } else {
        text.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "x"), hex[Int(byte >> 4)], hex[Int(byte & 0xf)]])
      }
    }
    return String(decoding: text, as: UTF8.self)
  }

  private func pad(_ value: Int64, _ width: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
  }
}
