/// What the tracer does with every ring-buffer record: decode it, count it,
/// encode it (a JSON line or a table row) into one reused buffer, and write
/// the buffer out as it fills, so memory stays flat whatever the rate.
///
/// The tracer and `socktrace-pipeline-bench` both run this type, so the
/// benchmark measures the shipped loop, not a copy of it.
public final class RecordPipeline {
  public enum Format: Sendable { case table, jsonLines }

  /// Write to the output once this much is buffered (and after every read).
  public static let flushBytes = 256 << 10
  /// How many records one read may take before `consume` pauses it, so a
  /// flood cannot keep the caller from checking for a stop.
  public static let recordsPerBatch = 65536

  public let format: Format
  private let encoder: JSONLinesEncoder
  private let table: TextTable
  private let output: OutputFile
  /// Every record as JSON, kept only for --timeline.
  private let keepRecording: Bool
  private var buffer = JSONBuffer(capacity: flushBytes + 4096)
  public private(set) var recording = JSONBuffer(capacity: 0)
  public var summary = Summary()
  /// A failed write to the output: `consume` pauses and the caller raises it.
  public private(set) var writeFailure: TraceError?
  /// Records taken since the last pause for a batch.
  private var readSinceBatch = 0
  /// The last read paused after a full batch: records are waiting.
  public private(set) var pausedForBatch = false
  /// Set once detached: read to the end, pause for nothing but a write error.
  public var finalDrain = false

  public init(format: Format, encoder: JSONLinesEncoder, table: TextTable, output: OutputFile, keepRecording: Bool) {
    self.format = format
    self.encoder = encoder
    self.table = table
    self.output = output
    self.keepRecording = keepRecording
  }

  /// One ring-buffer record. Returns false to end the read early (a batch is
  /// done, or a write failed); the record given counts as read.
  public func consume(_ bytes: UnsafeRawBufferPointer) -> Bool {
    do {
      let event = try EventDecoder.decode(bytes)
      summary.count(event)
      switch format {
      case .jsonLines:
        let start = buffer.count
        encoder.encode(event, into: &buffer)
        // --timeline keeps the same line: copied, not encoded a second time.
        if keepRecording {
          buffer.withUnsafeBytes { recording.append(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        }
      case .table:
        if keepRecording { encoder.encode(event, into: &recording) }
        if let line = table.line(for: event) { buffer.appendRaw(line) }
      }
    } catch {
      summary.decodeErrors += 1
    }
    if buffer.count >= Self.flushBytes {
      do { try flush() } catch { writeFailure = error }
    }
    if finalDrain { return writeFailure == nil }
    readSinceBatch += 1
    if readSinceBatch >= Self.recordsPerBatch {
      readSinceBatch = 0
      pausedForBatch = true
      return false
    }
    return writeFailure == nil
  }

  /// Called before each read: whether the last one paused after a full batch.
  public func takePause() -> Bool {
    defer { pausedForBatch = false }
    return pausedForBatch
  }

  /// The tracer's own records (start, /proc context, end), encoded by the
  /// caller: to the output in JSON mode, and to the --timeline copy in either.
  public func appendOwn(_ records: borrowing JSONBuffer) {
    records.withUnsafeBytes { bytes in
      if format == .jsonLines { buffer.append(bytes) }
      if keepRecording { recording.append(bytes) }
    }
  }

  /// The table's header line (table mode).
  public func appendRaw(_ text: String) { buffer.appendRaw(text) }

  /// Writes what is buffered.
  public func flush() throws(TraceError) {
    guard buffer.count > 0 else { return }
    try output.write(buffer)
    bytesWritten += UInt64(buffer.count)
    buffer.removeAll()
  }

  /// Bytes written to the output so far.
  public private(set) var bytesWritten: UInt64 = 0

  /// Bytes buffered and not yet written.
  public var buffered: Int { buffer.count }
}
