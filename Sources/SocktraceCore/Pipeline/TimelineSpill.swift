import Glibc

/// The JSON lines `--timeline` renders at stop, kept in an unlinked temp
/// file rather than in memory: a long run's memory stays flat, the disk
/// holds the records (what `-o` would), and nothing is left behind.
public final class TimelineSpill {
  private let fd: Int32
  private var pending = JSONBuffer(capacity: RecordPipeline.flushBytes + 4096)
  /// A write failed: the timeline is incomplete, said at stop.
  private var failed: Int32 = 0

  public init() throws(TraceError) {
    let directory = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    // A named file (0600, O_EXCL), removed at once: only the fd holds it.
    var template = Array("\(directory)/socktrace-timeline-XXXXXX".utf8CString)
    let opened = template.withUnsafeMutableBufferPointer { name in name.baseAddress.map { mkstemp($0) } ?? -1 }
    if opened >= 0 {
      _ = fcntl(opened, F_SETFD, FD_CLOEXEC)
      template.withUnsafeBufferPointer { name in _ = name.baseAddress.map { unlink($0) } }
    }
    guard opened >= 0 else { throw .unwritableOutput(path: "a --timeline temp file in \(directory)", errno: errno) }
    fd = opened
  }

  deinit { close(fd) }

  /// Copies whole JSON lines.
  public func append(_ bytes: UnsafeRawBufferPointer) {
    pending.append(bytes)
    if pending.count >= RecordPipeline.flushBytes { flush() }
  }

  private func flush() {
    pending.withUnsafeBytes { bytes in
      var offset = 0
      while offset < bytes.count && failed == 0, let base = bytes.baseAddress {
        let written = write(fd, base + offset, bytes.count - offset)
        if written < 0 {
          if errno != EINTR { failed = errno }
          continue
        }
        offset += written
      }
    }
    pending.removeAll()
  }

  /// Everything appended, read back as a recording.
  public func read(source: String) throws(RecordingError) -> Recording {
    try RecordingReader.read(fd: try rewound(), source: source)
  }

  /// Everything appended is in the file; returns its fd at offset 0, to be
  /// read (`TimelineRendering.render(fd:)`) as `socktrace timeline` reads a file.
  public func rewound() throws(RecordingError) -> Int32 {
    flush()
    if failed != 0 { throw .unreadable(source: "the --timeline temp file", errno: failed) }
    lseek(fd, 0, SEEK_SET)
    return fd
  }
}
