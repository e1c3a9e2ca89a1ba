/// Counts for the end record and the summary printed on stop.
public struct Summary {
  public var events: UInt64 = 0
  public var sockets: UInt64 = 0
  public var failed: UInt64 = 0
  public var lost: UInt64 = 0
  public var decodeErrors: UInt64 = 0
  public var seconds = 0.0
  /// Socket births per process: pid -> (comm, count), without the run of
  /// births of `lastPID` still counted in `lastCount`.
  private var counted: [UInt32: (comm: [UInt8], count: UInt64)] = [:]
  /// Births come in runs from one process: they are counted here and moved
  /// into the dictionary when another process makes one (one lookup per run,
  /// not per record).
  private var lastPID: UInt32 = 0
  private var lastCount: UInt64 = 0

  public init() {}

  public mutating func count(_ event: TraceEvent) {
    events += 1
    guard case .socket(let socket) = event else { return }
    sockets += 1
    if !socket.succeeded { failed += 1 }
    let pid = socket.header.pid
    if pid == lastPID && lastCount > 0 {
      lastCount += 1
      return
    }
    settleLast()
    if counted[pid] == nil { counted[pid] = (socket.header.comm, 0) }
    lastPID = pid
    lastCount = 1
  }

  private mutating func settleLast() {
    guard lastCount > 0 else { return }
    counted[lastPID]?.count += lastCount
    lastCount = 0
  }

  /// Socket births per process: pid -> (comm, count).
  public var perProcess: [UInt32: (comm: [UInt8], count: UInt64)] {
    var all = counted
    if lastCount > 0 { all[lastPID]?.count += lastCount }
    return all
  }

  /// Two or three lines for standard error.
  public func text(top: Int = 5) -> String {
    var text =
      "socktrace: \(events) events (\(sockets) socket births, \(failed) failed), "
      + "\(lost) lost, in \(String(format1: seconds)) s"
    if decodeErrors > 0 { text += ", \(decodeErrors) undecodable" }
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
