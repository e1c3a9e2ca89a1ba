/// What the tracer does with every ring-buffer record: decode it, count it,
/// encode it (a JSON line or a table row) into one reused buffer, and write
/// the buffer out as it fills, so memory stays flat whatever the rate.
///
/// The tracer and `socktrace-pipeline-bench` both run this type, so the
/// benchmark measures the shipped loop, not a copy of it.
public final class RecordPipeline {
  /// `none`: records go only to the per-record hook (--metrics, --otlp).
  public enum Format: Sendable { case table, jsonLines, none }

  /// Write to the output once this much is buffered (and after every read).
  public static let flushBytes = 256 << 10
  /// How many records one read may take before `consume` pauses it, so a
  /// flood cannot keep the caller from checking for a stop.
  public static let recordsPerBatch = 65536

  /// Everything `consume` changes, in one struct: one exclusive access of
  /// the class's storage per record, not one per field.
  private var state: State

  public init(format: Format, encoder: JSONLinesEncoder, table: TextTable, output: OutputFile, keepRecording: Bool) {
    state = State(format: format, encoder: encoder, table: table, output: output, keepRecording: keepRecording)
  }

  /// One ring-buffer record. Returns false to end the read early (a batch is
  /// done, or a write failed); the record given counts as read.
  public func consume(_ bytes: UnsafeRawBufferPointer) -> Bool { state.consume(bytes) }

  public var format: Format { state.format }
  public var summary: Summary {
    get { state.summary }
    set { state.summary = newValue }
  }
  /// Every record as JSON, kept only for --timeline.
  public var recordingBytes: [UInt8] { state.recording.bytes }
  /// A failed write to the output: `consume` pauses and the caller raises it.
  public var writeFailure: TraceError? { state.writeFailure }
  /// The last read paused after a full batch: records are waiting.
  public var pausedForBatch: Bool { state.pausedForBatch }
  /// Set once detached: read to the end, pause for nothing but a write error.
  public var finalDrain: Bool {
    get { state.finalDrain }
    set { state.finalDrain = newValue }
  }
  /// Bytes written to the output so far.
  public var bytesWritten: UInt64 { state.bytesWritten }
  /// Records written to the output so far (not the tracer's own).
  public var recordsWritten: UInt64 { state.recordsWritten }
  /// Also given every decoded record and its raw bytes (--metrics, --otlp).
  public var onRecord: ((TraceEvent, UnsafeRawBufferPointer) -> Void)? {
    get { state.onRecord }
    set { state.onRecord = newValue }
  }
  /// Bytes buffered and not yet written.
  public var buffered: Int { state.buffer.count }

  /// Called before each read: whether the last one paused after a full batch.
  public func takePause() -> Bool {
    defer { state.pausedForBatch = false }
    return state.pausedForBatch
  }

  /// The tracer's own records (start, /proc context, end), encoded by the
  /// caller: to the output in JSON mode, and to the --timeline copy in either.
  public func appendOwn(_ records: borrowing JSONBuffer) {
    records.withUnsafeBytes { bytes in
      if state.format == .jsonLines { state.buffer.append(bytes) }
      if state.keepRecording { state.recording.append(bytes) }
    }
  }

  /// The table's header line (table mode).
  public func appendRaw(_ text: String) { state.buffer.appendRaw(text) }

  /// Writes what is buffered.
  public func flush() throws(TraceError) { try state.flush() }

  private struct State: ~Copyable {
    let format: Format
    let encoder: JSONLinesEncoder
    let table: TextTable
    let output: OutputFile
    let keepRecording: Bool
    var buffer = JSONBuffer(capacity: RecordPipeline.flushBytes + 4096)
    var recording = JSONBuffer(capacity: 0)
    var summary = Summary()
    var writeFailure: TraceError?
    /// Records taken since the last pause for a batch.
    var readSinceBatch = 0
    var pausedForBatch = false
    var finalDrain = false
    var bytesWritten: UInt64 = 0
    var onRecord: ((TraceEvent, UnsafeRawBufferPointer) -> Void)?
    /// Records encoded into the buffer and not yet written; records written.
    var recordsBuffered: UInt64 = 0
    var recordsWritten: UInt64 = 0

    init(format: Format, encoder: JSONLinesEncoder, table: TextTable, output: OutputFile, keepRecording: Bool) {
      self.format = format
      self.encoder = encoder
      self.table = table
      self.output = output
      self.keepRecording = keepRecording
    }

    mutating func consume(_ bytes: UnsafeRawBufferPointer) -> Bool {
      do {
        let event = try EventDecoder.decode(bytes)
        summary.count(event)
        onRecord?(event, bytes)
        switch format {
        case .jsonLines:
          let start = buffer.count
          encoder.encode(event, into: &buffer)
          recordsBuffered &+= 1
          // --timeline keeps the same line: copied, not encoded a second time.
          if keepRecording {
            buffer.withUnsafeBytes { recording.append(UnsafeRawBufferPointer(rebasing: $0[start...])) }
          }
        case .table:
          if keepRecording { encoder.encode(event, into: &recording) }
          if let line = table.line(for: event) {
            buffer.appendRaw(line)
            recordsBuffered &+= 1
          }
        case .none:
          if keepRecording { encoder.encode(event, into: &recording) }
        }
      } catch {
        summary.decodeErrors += 1
      }
      if buffer.count >= RecordPipeline.flushBytes {
        do { try flush() } catch { writeFailure = error }
      }
      if finalDrain { return writeFailure == nil }
      readSinceBatch += 1
      if readSinceBatch >= RecordPipeline.recordsPerBatch {
        readSinceBatch = 0
        pausedForBatch = true
        return false
      }
      return writeFailure == nil
    }

    mutating func flush() throws(TraceError) {
      guard buffer.count > 0 else { return }
      try output.write(buffer)
      bytesWritten += UInt64(buffer.count)
      buffer.removeAll()
      recordsWritten &+= recordsBuffered
      recordsBuffered = 0
    }
  }
}
