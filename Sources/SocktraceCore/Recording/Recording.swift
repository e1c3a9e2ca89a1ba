/// A whole recording, read: its records ordered by `ts_ns`, and what the
/// reader had to say about it.
public struct Recording: Equatable, Sendable {
  /// Every record of a kind the schema defines, `start` and `end` included,
  /// stably sorted by `ts_ns` (the tracer writes them from several CPUs).
  public var records: [RecordedEvent]
  public var warnings: [RecordingWarning]

  public init(records: [RecordedEvent], warnings: [RecordingWarning] = []) {
    self.records = records
    self.warnings = warnings
  }

  public var start: RecordedStart? {
    for case .start(let start) in records { return start }
    return nil
  }

  public var end: RecordedEnd? {
    for case .end(let end) in records.reversed() { return end }
    return nil
  }
}

/// Something worth telling the user that does not stop the timeline.
public enum RecordingWarning: Equatable, Sendable, CustomStringConvertible {
  /// The last line has no newline and is not a whole record: a killed tracer.
  case cutOffLastLine(line: Int)
  /// Records whose `event` the schema does not define, by kind (ascending).
  case unknownKinds([UnknownKind])
  /// The tracer counted records the kernel dropped, or could not decode.
  case incomplete(lost: UInt64, decodeErrors: UInt64)
  /// No `end` record: the tracer did not stop cleanly.
  case noEndRecord
  /// Records that appear more than once, byte for byte: kept once.
  case duplicates(Int)
  /// Records that came after a record later than them had already left the
  /// reorder window: placed where they were read, so their timelines may be off.
  case outOfOrder(count: Int, byNanoseconds: UInt64)

  public struct UnknownKind: Equatable, Sendable {
    /// The `event` value as written (attacker-reachable bytes).
    public var name: [UInt8]
    public var count: Int
  }

  public var description: String {
    switch self {
    case .cutOffLastLine(let line):
      return "last line (\(line)) is cut off; ignored"
    case .unknownKinds(let kinds):
      let total = kinds.reduce(0) { $0 + $1.count }
      let list = kinds.map { "\"\(TextTable.printable($0.name))\" ×\($0.count)" }.joined(separator: ", ")
      return "ignored \(total) record\(total == 1 ? "" : "s") of unknown kind: \(list)"
    case .incomplete(let lost, let decodeErrors):
      var parts: [String] = []
      if lost > 0 { parts.append("lost \(lost) record\(lost == 1 ? "" : "s") (ring buffer full)") }
      if decodeErrors > 0 {
        parts.append("could not decode \(decodeErrors) record\(decodeErrors == 1 ? "" : "s")")
      }
      return "the tracer " + parts.joined(separator: " and ") + "; timelines may miss events"
    case .duplicates(let count):
      return "\(count) record\(count == 1 ? "" : "s") appear\(count == 1 ? "s" : "") twice "
        + "(a recording concatenated with itself?); each kept once"
    case .outOfOrder(let count, let nanoseconds):
      return
        "\(count) record\(count == 1 ? "" : "s") came up to \(TimelineText.duration(nanoseconds)) behind later ones, "
        + "past the reorder window (\(ReorderLimits.standard.maxRecords) records or "
        + "\(ReorderLimits.standard.maxNanoseconds / 1_000_000_000) s); "
        + "placed where they were read, so their timelines may be off"
    case .noEndRecord:
      return "no end record: the tracer did not stop cleanly; sockets still open are shown as open at the last record"
    }
  }
}

/// Why a recording cannot be read. One line each, naming the file and line.
public enum RecordingError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The file cannot be opened or read.
  case unreadable(source: String, errno: Int32)
  /// No records at all: an empty file, or only blank lines.
  case empty(source: String)
  /// A line that is not a record of the schema.
  case malformed(source: String, line: Int, reason: String)

  public var description: String {
    switch self {
    case .unreadable(let source, let errno): return "cannot read \(source): \(errnoText(errno))"
    case .empty(let source): return "\(source): empty recording (no records)"
    case .malformed(let source, let line, let reason): return "\(source):\(line): \(reason)"
    }
  }
}
