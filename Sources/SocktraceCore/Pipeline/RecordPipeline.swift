import CSocktrace

/// What the tracer does with every ring-buffer record: decode it, count it,
/// encode it (a JSON line or a table row) into one reused buffer, and write
/// the buffer out as it fills, so memory stays flat whatever the rate.
///
/// The tracer and `socktrace-pipeline-bench` both run this type, so the
/// benchmark measures the shipped loop, not a copy of it.
public final class RecordPipeline {
  /// `none`: records go only to the per-record hook (--metrics, --otlp).
  public enum Format: Sendable { case table, jsonLines, none }

  /// What `consume` does with a record; the run moves through them in order
  /// (`tracing`, then `draining`), and to `counting` from either.
  public enum Mode: Equatable, Sendable {
    /// Write every record; pause the read after a full batch, so a flood
    /// cannot keep the caller from checking for a stop.
    case tracing
    /// Detached, reading what is still queued: write every record, pause for
    /// nothing but a write error.
    case draining
    /// Write nothing, count every record as lost for this cause: after a
    /// failed write (`outputFailed`), or when a second stop signal cuts the
    /// drain short (`stopForced`). It never pauses.
    case counting(LossCause)
  }

  /// Write to the output once this much is buffered (and after every read).
  public static let flushBytes = 256 << 10
  /// How many records one read may take before `consume` pauses it, so a
  /// flood cannot keep the caller from checking for a stop.
  public static let recordsPerBatch = 65536

  /// Everything `consume` changes, in one struct, used from the one thread
  /// that reads the ring: not checked for exclusive access at run time.
  @exclusivity(unchecked) private var state: State

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
  /// Every record as JSON, kept only for --timeline (in memory unless `spill` is set).
  public var recordingBytes: [UInt8] { state.recording.bytes }
  /// Where --timeline keeps its copy instead of memory: an unlinked temp file.
  public var spill: TimelineSpill? {
    get { state.spill }
    set { state.spill = newValue }
  }
  /// Records read but not written, by cause and kind: after a failed write
  /// (output_failed) or when a forced stop cuts the drain short (stop_forced).
  public var losses: LossCounts { state.losses }
  /// Tracing, draining, or counting records as lost: set by the caller as
  /// the run moves on, and to `counting(.outputFailed)` by a failed write.
  public var mode: Mode {
    get { state.mode }
    set { state.mode = newValue }
  }
  /// A failed write to the output: `consume` pauses and the caller raises it.
  public var writeFailure: TraceError? { state.writeFailure }
  /// The last read paused after a full batch: records are waiting.
  public var pausedForBatch: Bool { state.pausedForBatch }
  /// Bytes written to the output so far.
  public var bytesWritten: UInt64 { state.bytesWritten }
  /// Records written to the output so far (not the tracer's own).
  public var recordsWritten: UInt64 { state.recordsWritten }
  /// Also given every decoded record and its raw bytes (--metrics, --otlp).
  public var onRecord: ((TraceEvent, UnsafeRawBufferPointer) -> Void)? {
    get { state.onRecord }
    set { state.onRecord = newValue }
  }
  /// Joins the two ends of local TCP/UDP connections (and unix ones the
  /// kernel kept no credentials for): fills peer_pid before a record is written.
  public var peers: PeerJoin? {
    get { state.peers }
    set { state.peers = newValue }
  }

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
      if state.keepRecording { state.keep(bytes) }
    }
  }

  /// The table's header line (table mode).
  public func appendRaw(_ text: String) { state.buffer.appendRaw(text) }

  /// Writes what is buffered. A failed write counts the lines not written as
  /// lost (output_failed), turns the pipeline to counting only, and throws.
  public func flush() throws(TraceError) { try state.flush() }

  private struct State: ~Copyable {
    let format: Format
    let encoder: JSONLinesEncoder
    let table: TextTable
    let output: OutputFile
    let keepRecording: Bool
    var buffer = JSONBuffer(capacity: RecordPipeline.flushBytes + 4096)
    var recording = JSONBuffer(capacity: 0)
    var spill: TimelineSpill?
    var losses = LossCounts()
    var mode = Mode.tracing
    var summary = Summary()
    var writeFailure: TraceError?
    /// Records taken since the last pause for a batch.
    var readSinceBatch = 0
    var pausedForBatch = false
    var bytesWritten: UInt64 = 0
    var onRecord: ((TraceEvent, UnsafeRawBufferPointer) -> Void)?
    var peers: PeerJoin?
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
      if case .counting(let cause) = mode {
        losses[cause, bytes.count >= 2 ? Int(bytes.load(as: UInt16.self)) : 0] += 1
        return true
      }
      do {
        var decoded = try EventDecoder.decode(bytes)
        peers?.resolve(&decoded)
        // A constant from here on: passed by reference, where the variable
        // was copied (385 bytes) into every call it was passed to.
        let event = decoded
        summary.count(event)
        onRecord?(event, bytes)
        switch format {
        case .jsonLines:
          let start = buffer.count
          encoder.encode(event, into: &buffer)
          recordsBuffered &+= 1
          // --timeline keeps the same line: copied, not encoded a second time.
          if keepRecording {
            if let spill {
              buffer.withUnsafeBytes { spill.append(UnsafeRawBufferPointer(rebasing: $0[start...])) }
            } else {
              buffer.withUnsafeBytes { recording.append(UnsafeRawBufferPointer(rebasing: $0[start...])) }
            }
          }
        case .table:
          if keepRecording { keepEncoded(event) }
          if let line = table.line(for: event) {
            buffer.appendRaw(line)
            recordsBuffered &+= 1
          }
        case .none:
          if keepRecording { keepEncoded(event) }
        }
      } catch {
        summary.decodeErrors += 1
      }
      if buffer.count >= RecordPipeline.flushBytes {
        do { try flush() } catch { writeFailure = error }
      }
      if case .draining = mode { return writeFailure == nil }
      readSinceBatch += 1
      if readSinceBatch >= RecordPipeline.recordsPerBatch {
        readSinceBatch = 0
        pausedForBatch = true
        return false
      }
      return writeFailure == nil
    }

    mutating func keep(_ bytes: UnsafeRawBufferPointer) {
      if let spill { spill.append(bytes) } else { recording.append(bytes) }
    }

    /// --timeline's copy of a record not written as JSON (table, no output).
    mutating func keepEncoded(_ event: TraceEvent) {
      guard let spill else {
        encoder.encode(event, into: &recording)
        return
      }
      let start = buffer.count
      encoder.encode(event, into: &buffer)
      buffer.withUnsafeBytes { spill.append(UnsafeRawBufferPointer(rebasing: $0[start...])) }
      buffer.truncate(to: start)
    }

    mutating func flush() throws(TraceError) {
      guard buffer.count > 0 else { return }
      if mode == .counting(.outputFailed) {
        buffer.removeAll()
        return
      }
      do {
        try output.write(buffer)
      } catch {
        writeFailure = writeFailure ?? error
        mode = .counting(.outputFailed)
        countUnwritten(from: output.lastWriteCount)
        buffer.removeAll()
        recordsBuffered = 0
        throw error
      }
      bytesWritten += UInt64(buffer.count)
      buffer.removeAll()
      recordsWritten &+= recordsBuffered
      recordsBuffered = 0
    }

    /// Counts the lines of the buffer from byte `written` on (a line cut by
    /// a short write included) as lost to the output, by their kind.
    mutating func countUnwritten(from written: Int) {
      let table = format == .table
      var counted = LossCounts()
      buffer.withUnsafeBytes { bytes in
        var lineStart = 0
        for index in bytes.indices where bytes[index] == UInt8(ascii: "\n") {
          if index >= written {
            let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<index])
            counted[.outputFailed, table ? Int(ST_KIND_SOCKET.rawValue) : Self.kind(ofLine: line)] += 1
          }
          lineStart = index + 1
        }
      }
      losses = losses.adding(counted)
    }

    /// The st_kind of a JSON line from its leading `{"event":"NAME"`, 0 if none.
    static func kind(ofLine line: UnsafeRawBufferPointer) -> Int {
      let prefix = Array("{\"event\":\"".utf8)
      guard line.count > prefix.count, line.prefix(prefix.count).elementsEqual(prefix) else { return 0 }
      let name = line.dropFirst(prefix.count).prefix { $0 != UInt8(ascii: "\"") }
      return LossCounts.kind(named: name)
    }
  }
}
