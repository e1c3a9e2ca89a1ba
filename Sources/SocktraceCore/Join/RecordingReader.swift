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
    var parser = RecordingParser(source: source)
    var chunk = [UInt8](repeating: 0, count: chunkSize)
    while true {
      let count = chunk.withUnsafeMutableBytes { buffer in Glibc.read(fd, buffer.baseAddress, buffer.count) }
      if count < 0 {
        if errno == EINTR && stopReading() { break }
        if errno == EINTR { continue }
        throw .unreadable(source: source, errno: errno)
      }
      if count == 0 { break }
      try parser.feed(chunk[0..<count])
    }
    return try parser.finish()
  }

  /// Parses a recording held in memory (the live tracer's own JSON lines).
  public static func parse(_ bytes: [UInt8], source: String = "recording") throws(RecordingError) -> Recording {
    var parser = RecordingParser(source: source)
    try parser.feed(bytes)
    return try parser.finish()
  }
}

/// The reader's engine, fed bytes as they come: splits lines, parses each
/// into a record, and at `finish` sorts them by `ts_ns` (stable: records with
/// the same timestamp keep their order in the file).
public struct RecordingParser {
  public let source: String
  /// Bytes after the last newline seen: the start of a line not yet complete.
  private var partial: [UInt8] = []
  private var lineNumber = 0
  private var entries: [(timestamp: UInt64, sequence: Int, record: RecordedEvent)] = []
  private var unknown: [[UInt8]: Int] = [:]
  private var objectLines = 0
  /// A hash of every record line seen: a line seen twice (a recording
  /// concatenated with itself) is kept once and counted.
  private var seenLines = Set<UInt64>()
  private var duplicates = 0
  /// What `lost` records reported (known even without an `end` record).
  private var lostReported: UInt64 = 0
  /// A line that ended inside a value: fine if it turns out to be the last line.
  private var cutOff: (line: Int, error: JSONSyntaxError)?

  public init(source: String) { self.source = source }

  public mutating func feed<Bytes: Collection>(_ bytes: Bytes) throws(RecordingError) where Bytes.Element == UInt8 {
    var index = partial.count  // what came before has no newline
    partial.append(contentsOf: bytes)
    var consumed = 0
    while index < partial.count {
      if partial[index] == UInt8(ascii: "\n") {
        try parseLine(partial, range: consumed..<index)
        consumed = index + 1
      } else if index - consumed >= RecordingReader.maxLineBytes {
        throw malformed(lineNumber + 1, "line longer than \(RecordingReader.maxLineBytes >> 20) MiB: not a recording")
      }
      index += 1
    }
    if consumed > 0 { partial.removeFirst(consumed) }
  }

  /// Parses what is left (a last line without a newline) and returns the
  /// records in time order, with the warnings.
  public mutating func finish() throws(RecordingError) -> Recording {
    if !partial.isEmpty {
      let last = partial
      partial = []
      try parseLine(last, range: 0..<last.count)
    }
    var warnings: [RecordingWarning] = []
    if let cutOff { warnings.append(.cutOffLastLine(line: cutOff.line)) }
    guard objectLines > 0 else { throw .empty(source: source) }

    entries.sort { ($0.timestamp, $0.sequence) < ($1.timestamp, $1.sequence) }
    let recording = Recording(records: entries.map(\.record))
    if !unknown.isEmpty {
      let kinds = unknown.map { RecordingWarning.UnknownKind(name: $0.key, count: $0.value) }
        .sorted { $0.name.lexicographicallyPrecedes($1.name) }
      warnings.append(.unknownKinds(kinds))
    }
    if duplicates > 0 { warnings.append(.duplicates(duplicates)) }
    if let end = recording.end {
      if end.lost > 0 || end.decodeErrors > 0 {
        warnings.append(.incomplete(lost: end.lost, decodeErrors: end.decodeErrors))
      }
    } else {
      if cutOff == nil { warnings.append(.noEndRecord) }
      if lostReported > 0 { warnings.append(.incomplete(lost: lostReported, decodeErrors: 0)) }
    }
    return Recording(records: recording.records, warnings: warnings)
  }

  private mutating func parseLine(_ bytes: [UInt8], range: Range<Int>) throws(RecordingError) {
    lineNumber += 1
    var first = range.lowerBound
    while first < range.upperBound, [0x20, 0x09, 0x0d].contains(bytes[first]) { first += 1 }
    guard first < range.upperBound else { return }  // blank
    // Only the last non-blank line may be cut off: this one follows it.
    if let cutOff { throw malformed(cutOff.line, cutOff.error.description) }
    guard bytes[first] == UInt8(ascii: "{") else { throw malformed(lineNumber, "not a JSON object") }

    let value: JSONValue
    do {
      value = try JSONParser.parse(bytes, in: range)
    } catch {
      if error.atEnd {
        cutOff = (lineNumber, error)
        return
      }
      throw malformed(lineNumber, error.description)
    }
    guard case .object(let object) = value else { throw malformed(lineNumber, "not a JSON object") }
    objectLines += 1
    // FNV-1a over the line: byte-identical records are one record seen twice.
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for index in first..<range.upperBound { hash = (hash ^ UInt64(bytes[index])) &* 0x100_0000_01b3 }
    if !seenLines.insert(hash).inserted {
      duplicates += 1
      return
    }
    if RecordDecoder.kindName(object) == Array("lost".utf8) {
      // Losses reported live; the end record repeats the total.
      if case .number(let number)? = object["lost"], let count = number.uint64 { lostReported &+= count }
      return
    }
    do {
      if let record = try RecordDecoder.decode(object, line: lineNumber) {
        entries.append((record.timestamp, entries.count, record))
      } else {
        unknown[RecordDecoder.kindName(object) ?? [], default: 0] += 1
      }
    } catch {
      throw malformed(lineNumber, error.reason)
    }
  }

  private func malformed(_ line: Int, _ reason: String) -> RecordingError {
    .malformed(source: source, line: line, reason: reason)
  }
}
