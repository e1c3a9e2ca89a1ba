import Glibc

/// Reads a JSON Lines recording (docs/schema.md) into typed records.
///
///     let recording = try RecordingReader.read(path: "events.jsonl")   // "-" is stdin
///     let recording = try RecordingReader.parse(bytes, source: "events.jsonl")
///
/// A line that is not a record fails the whole read with an error naming the
/// line (`events.jsonl:17: not a JSON object`). The exceptions: blank lines
/// are skipped; a last line cut off mid-record (a killed tracer) is dropped
/// with a warning; records of kinds the schema does not define are dropped
/// and counted in a warning.
public enum RecordingReader {
  static let chunkSize = 1 << 20
  /// The longest line read: a record is a few KiB, so a line past this is
  /// not a recording (`timeline /dev/zero` fails at line 1, at once).
  public static let maxLineBytes = 1 << 20

  /// Reads a file, or standard input for "-", a chunk at a time.
  public static func read(path: String, stopReading: () -> Bool = { false }) throws(RecordingError) -> Recording {
    let source = path == "-" ? "stdin" : path
    let fd: Int32
    if path == "-" {
      fd = STDIN_FILENO
    } else {
      fd = open(path, O_RDONLY | O_CLOEXEC)
      guard fd >= 0 else { throw .unreadable(source: source, errno: errno) }
    }
    defer { if path != "-" { close(fd) } }
    return try read(fd: fd, source: source, stopReading: stopReading)
  }

  /// Reads an open file from its current offset to its end.
  /// `stopReading` is asked when a read is interrupted by a signal: true
  /// ends the input there (what was read is rendered).
  public static func read(fd: Int32, source: String, stopReading: () -> Bool = { false }) throws(RecordingError)
    -> Recording
  {
    var records: [RecordedEvent] = []
    let warnings = try stream(fd: fd, source: source, stopReading: stopReading) { records.append($0) }
    return Recording(records: records, warnings: warnings)
  }

  /// Reads an open file from its current offset to its end, handing each
  /// record to `emit` in time order as the reorder window lets it go; memory
  /// stays bounded whatever the file's length. Returns the warnings.
  public static func stream(
    fd: Int32, source: String, window: ReorderLimits = .standard,
    stopReading: () -> Bool = { false }, emit: (RecordedEvent) -> Void
  ) throws(RecordingError) -> [RecordingWarning] {
    var parser = RecordingParser(source: source, window: window)
    var chunk = [UInt8](repeating: 0, count: chunkSize)
    while true {
      let count = chunk.withUnsafeMutableBytes { buffer in Glibc.read(fd, buffer.baseAddress, buffer.count) }
      if count < 0 {
        if errno == EINTR && stopReading() { break }
        if errno == EINTR { continue }
        throw .unreadable(source: source, errno: errno)
      }
      if count == 0 { break }
      try parser.feed(chunk[0..<count], emit: emit)
    }
    return try parser.finish(emit: emit)
  }

  /// Parses a recording held in memory (the live tracer's own JSON lines).
  public static func parse(_ bytes: [UInt8], source: String = "recording") throws(RecordingError) -> Recording {
    var parser = RecordingParser(source: source)
    try parser.feed(bytes)
    return try parser.finish()
  }
}

/// The reader's engine, fed bytes as they come: splits lines, parses each
/// into a record and hands the records on in `ts_ns` order through a
/// bounded `ReorderWindow` (records with the same timestamp keep their order
/// in the file). Memory stays bounded whatever the recording's length: a
/// partial line, the window, and the hashes of the last lines (duplicates).
public struct RecordingParser {
  public let source: String
  /// Bytes after the last newline seen: the start of a line not yet complete.
  private var partial: [UInt8] = []
  private var lineNumber = 0
  private var window: ReorderWindow<Line>
  /// `feed`/`finish` without a handler collect here (`Recording`).
  private var collected: [RecordedEvent] = []
  private var unknown: [[UInt8]: Int] = [:]
  private var objectLines = 0
  /// Lines seen again, byte for byte (a recording concatenated with itself,
  /// a line written twice): kept once and counted. A copy is found while
  /// its first is still in the reorder window (it has the same `ts_ns`);
  /// a copy that comes later than that is a late record (`outOfOrder`).
  private var duplicates = 0
  /// What `lost` records reported (known even without an `end` record).
  private var lostReported: UInt64 = 0
  /// A line that ended inside a value: fine if it turns out to be the last line.
  private var cutOff: (line: Int, error: JSONSyntaxError)?
  /// The latest `end` record.
  private var lastEnd: RecordedEnd?

  /// A record in the window, with its line's hash.
  private struct Line {
    var record: RecordedEvent
    var hash: UInt64
  }

  public init(source: String, window: ReorderLimits = .standard) {
    self.source = source
    self.window = ReorderWindow(limits: window)
  }

  /// Feeds bytes, collecting the records (see `finish()`).
  public mutating func feed<Bytes: Collection>(_ bytes: Bytes) throws(RecordingError) where Bytes.Element == UInt8 {
    var records: [RecordedEvent] = []
    try feed(bytes) { records.append($0) }
    collected.append(contentsOf: records)
  }

  /// Feeds bytes; `emit` gets each record that leaves the reorder window, in order.
  public mutating func feed<Bytes: Collection>(_ bytes: Bytes, emit: (RecordedEvent) -> Void) throws(RecordingError)
  where Bytes.Element == UInt8 {
    var index = partial.count  // what came before has no newline
    partial.append(contentsOf: bytes)
    var consumed = 0
    let count = partial.count
    while index < count {
      let newline = partial.withUnsafeBufferPointer { buffer -> Int? in
        guard let base = buffer.baseAddress,
          let found = memchr(base + index, Int32(UInt8(ascii: "\n")), count - index)
        else { return nil }
        return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
      }
      guard let newline else {
        if count - consumed > RecordingReader.maxLineBytes {
          throw malformed(lineNumber + 1, "line longer than \(RecordingReader.maxLineBytes >> 20) MiB: not a recording")
        }
        break
      }
      if newline - consumed > RecordingReader.maxLineBytes {
        throw malformed(lineNumber + 1, "line longer than \(RecordingReader.maxLineBytes >> 20) MiB: not a recording")
      }
      try parseLine(partial, range: consumed..<newline, emit: emit)
      consumed = newline + 1
      index = consumed
    }
    if consumed > 0 { partial.removeFirst(consumed) }
  }

  /// Parses what is left and returns every record collected, in time order, with the warnings.
  public mutating func finish() throws(RecordingError) -> Recording {
    var records = collected
    collected = []
    let warnings = try finish { records.append($0) }
    return Recording(records: records, warnings: warnings)
  }

  /// Parses what is left (a last line without a newline), lets the window
  /// go, and returns the warnings.
  public mutating func finish(emit: (RecordedEvent) -> Void) throws(RecordingError) -> [RecordingWarning] {
    if !partial.isEmpty {
      let last = partial
      partial = []
      try parseLine(last, range: 0..<last.count, emit: emit)
    }
    guard objectLines > 0 else { throw .empty(source: source) }
    window.drain { emit($0.record) }

    var warnings: [RecordingWarning] = []
    if let cutOff { warnings.append(.cutOffLastLine(line: cutOff.line)) }
    if !unknown.isEmpty {
      let kinds = unknown.map { RecordingWarning.UnknownKind(name: $0.key, count: $0.value) }
        .sorted { $0.name.lexicographicallyPrecedes($1.name) }
      warnings.append(.unknownKinds(kinds))
    }
    if duplicates > 0 { warnings.append(.duplicates(duplicates)) }
    if window.late > 0 { warnings.append(.outOfOrder(count: window.late, byNanoseconds: window.latestBy)) }
    if let end = lastEnd {
      if end.lost > 0 || end.decodeErrors > 0 {
        warnings.append(.incomplete(lost: end.lost, decodeErrors: end.decodeErrors))
      }
    } else {
      if cutOff == nil { warnings.append(.noEndRecord) }
      if lostReported > 0 { warnings.append(.incomplete(lost: lostReported, decodeErrors: 0)) }
    }
    return warnings
  }

  private mutating func parseLine(_ bytes: [UInt8], range: Range<Int>, emit: (RecordedEvent) -> Void)
    throws(RecordingError)
  {
    lineNumber += 1
    var first = range.lowerBound
    while first < range.upperBound, bytes[first] == 0x20 || bytes[first] == 0x09 || bytes[first] == 0x0d {
      first += 1
    }
    guard first < range.upperBound else { return }  // blank
    // Only the last non-blank line may be cut off: this one follows it.
    if let cutOff { throw malformed(cutOff.line, cutOff.error.description) }
    guard bytes[first] == UInt8(ascii: "{") else { throw malformed(lineNumber, "not a JSON object") }

    let parsed: FlatObject?
    do {
      parsed = try JSONParser.parseFlat(bytes, in: range)
    } catch {
      if error.atEnd {
        cutOff = (lineNumber, error)
        return
      }
      throw malformed(lineNumber, error.description)
    }
    guard let object = parsed else { throw malformed(lineNumber, "not a JSON object") }
    objectLines += 1
    if RecordDecoder.isLost(object) {
      // Losses reported live; the end record repeats the total.
      if let count = RecordDecoder.lostCount(object) { lostReported &+= count }
      return
    }
    let record: RecordedEvent?
    do {
      record = try RecordDecoder.decode(flat: object, line: lineNumber)
    } catch {
      throw malformed(lineNumber, error.reason)
    }
    guard let record else {
      unknown[RecordDecoder.kindName(object) ?? [], default: 0] += 1
      return
    }
    // Byte-identical records are one record seen twice: the first has the same ts_ns.
    let timestamp = record.timestamp
    let hash = Self.hash(bytes, first..<range.upperBound)
    if timestamp <= window.newest && window.contains(timestamp: timestamp, where: { $0.hash == hash }) {
      duplicates += 1
      return
    }
    if case .end(let end) = record, lastEnd.map({ $0.timestamp <= end.timestamp }) ?? true { lastEnd = end }
    window.insert(Line(record: record, hash: hash), timestamp: timestamp) { emit($0.record) }
  }

  /// A 64-bit hash of a line, eight bytes at a time.
  static func hash(_ bytes: [UInt8], _ range: Range<Int>) -> UInt64 {
    bytes.withUnsafeBufferPointer { buffer -> UInt64 in
      guard let base = buffer.baseAddress else { return 0 }
      var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(range.count)
      var index = range.lowerBound
      while index + 8 <= range.upperBound {
        let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
        hash = (hash ^ word) &* 0x100_0000_01b3
        hash ^= hash >> 29
        index += 8
      }
      while index < range.upperBound {
        hash = (hash ^ UInt64(base[index])) &* 0x100_0000_01b3
        index += 1
      }
      hash ^= hash >> 32
      return hash &* 0x9e37_79b9_7f4a_7c15
    }
  }

  private func malformed(_ line: Int, _ reason: String) -> RecordingError {
    .malformed(source: source, line: line, reason: reason)
  }
}
