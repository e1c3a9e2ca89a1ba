import SocktraceCore

/// Counts for the end record and the summary printed on stop.
struct Summary {
  var events: UInt64 = 0
  var sockets: UInt64 = 0
  var failed: UInt64 = 0
  var lost: UInt64 = 0
  var decodeErrors: UInt64 = 0
  var seconds = 0.0
  /// Socket births per process: pid -> (comm, count).
  var perProcess: [UInt32: (comm: [UInt8], count: UInt64)] = [:]

  mutating func count(_ event: TraceEvent) {
    events += 1
    guard case .socket(let socket) = event else { return }
    sockets += 1
    if !socket.succeeded { failed += 1 }
    let pid = socket.header.pid
    if let entry = perProcess[pid] {
      perProcess[pid] = (entry.comm, entry.count + 1)
    } else {
      perProcess[pid] = (socket.header.comm, 1)
    }
  }

  /// Two or three lines for standard error.
  func text(top: Int = 5) -> String {
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
