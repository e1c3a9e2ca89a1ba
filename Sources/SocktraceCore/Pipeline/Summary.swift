import CSocktrace

/// Counts for the end record and the summary printed on stop.
public struct Summary {
  public var events: UInt64 = 0
  public var sockets: UInt64 = 0
  public var failed: UInt64 = 0
  public var lost: UInt64 = 0
  /// Every loss by cause and kind (`lost` is their total).
  public var losses = LossCounts()
  public var decodeErrors: UInt64 = 0
  public var seconds = 0.0
  /// TCP accepts whose client was left unknown (peer_pid null): their
  /// connect had not come and the /proc table read budget was spent.
  public var peersUnknown: UInt64 = 0
  /// Socket births per process.
  private var births = BirthsPerProcess()

  public init() {}

  public mutating func count(_ event: TraceEvent) {
    events += 1
    // A snapshot record (a socket open at start) is no birth.
    guard case .socket(let socket) = event, socket.raw.via != UInt8(ST_VIA_SNAPSHOT.rawValue) else { return }
    sockets += 1
    if !socket.succeeded { failed += 1 }
    births.count(socket.raw.h)
  }

  /// Socket births per process: pid -> (comm, count).
  public var perProcess: [UInt32: (comm: [UInt8], count: UInt64)] { births.all }

  /// Two or three lines for standard error.
  public func text(top: Int = 5) -> String {
    var text =
      "socktrace: \(events) events (\(sockets) socket births, \(failed) failed), "
      + "\(lost) lost, in \(String(format1: seconds)) s"
    if decodeErrors > 0 { text += ", \(decodeErrors) undecodable" }
    if lost > 0 { text += "\nlost: \(losses.text)" }
    if peersUnknown > 0 {
      text +=
        "\npeers: \(peersUnknown) accepts' clients left unknown (their connect not yet seen, /proc read budget spent)"
    }
    let busiest = perProcess.sorted {
      $0.value.count > $1.value.count || ($0.value.count == $1.value.count && $0.key < $1.key)
    }
    .prefix(top)
    if !busiest.isEmpty {
      text += "\ntop processes: "
      text += busiest.map { "\(TextTable.printable($0.value.comm)) (\($0.key)) \($0.value.count)" }
        .joined(separator: ", ")
    }
    return text
  }
}

extension String {
  /// One decimal place, without Foundation.
  init(format1 value: Double) {
    let tenths = Int((value * 10).rounded())
    self = "\(tenths / 10).\(abs(tenths % 10))"
  }
}

/// Births per pid in an open-addressing table (multiplicative hash, linear
/// probing): a lookup per socket record costs a multiply and a compare or
/// two, with no `Hasher` and no reference counting. The comm is copied once,
/// when a pid is first seen.
struct BirthsPerProcess {
  /// Slot i holds pid + 1 (0: empty), so pid 0 needs no special case.
  private var keys = [UInt32](repeating: 0, count: 64)
  private var counts = [UInt64](repeating: 0, count: 64)
  private var comms = [[UInt8]](repeating: [], count: 64)
  private var used = 0

  mutating func count(_ header: st_header) {
    let key = header.pid &+ 1
    let mask = keys.count - 1
    var slot = Int(truncatingIfNeeded: (key &* 0x9E37_79B1) >> 8) & mask
    while true {
      let found = keys[slot]
      if found == key {
        counts[slot] &+= 1
        return
      }
      if found == 0 { break }
      slot = (slot + 1) & mask
    }
    keys[slot] = key
    counts[slot] = 1
    comms[slot] = EventHeader(raw: header).comm
    used += 1
    if used * 2 > keys.count { grow() }
  }

  private mutating func grow() {
    let old = (keys, counts, comms)
    keys = [UInt32](repeating: 0, count: old.0.count * 2)
    counts = [UInt64](repeating: 0, count: old.0.count * 2)
    comms = [[UInt8]](repeating: [], count: old.0.count * 2)
    let mask = keys.count - 1
    for index in old.0.indices where old.0[index] != 0 {
      var slot = Int(truncatingIfNeeded: (old.0[index] &* 0x9E37_79B1) >> 8) & mask
      while keys[slot] != 0 { slot = (slot + 1) & mask }
      keys[slot] = old.0[index]
      counts[slot] = old.1[index]
      comms[slot] = old.2[index]
    }
  }

  var all: [UInt32: (comm: [UInt8], count: UInt64)] {
    var all: [UInt32: (comm: [UInt8], count: UInt64)] = [:]
    for index in keys.indices where keys[index] != 0 {
      all[keys[index] &- 1] = (comms[index], counts[index])
    }
    return all
  }
}
