import Glibc

/// Where records go: a file opened before anything is attached, or stdout.
/// Writes whole buffers with write(2), retrying short writes and EINTR.
public final class OutputFile {
  public let path: String
  public let fd: Int32
  private let owned: Bool

  /// Opens (creates or truncates) `path`; "-" is stdout. Throws before any
  /// probe is attached, so a bad path costs nothing.
  public init(path: String) throws(TraceError) {
    self.path = path
    if path == "-" {
      fd = STDOUT_FILENO
      owned = false
      return
    }
    let opened = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard opened >= 0 else { throw .unwritableOutput(path: path, errno: errno) }
    fd = opened
    owned = true
  }

  deinit { if owned { close(fd) } }

  /// Whether the output is a terminal (the human table's default).
  public var isTerminal: Bool { isatty(fd) == 1 }

  public func write(_ bytes: [UInt8]) throws(TraceError) {
    let status = bytes.withUnsafeBytes { writeAll($0) }
    if status != 0 { throw .writeFailed(path: displayPath, errno: status) }
  }

  /// Writes all of `bytes` (a buffer lent without copying).
  public func write(_ bytes: UnsafeRawBufferPointer) throws(TraceError) {
    let status = writeAll(bytes)
    if status != 0 { throw .writeFailed(path: displayPath, errno: status) }
  }

  /// Writes what `buffer` holds, without copying it.
  public func write(_ buffer: borrowing JSONBuffer) throws(TraceError) {
    let status = buffer.withUnsafeBytes { writeAll($0) }
    if status != 0 { throw .writeFailed(path: displayPath, errno: status) }
  }

  /// write(2) until done, retrying short writes and EINTR: 0 or an errno.
  private func writeAll(_ bytes: UnsafeRawBufferPointer) -> Int32 {
    guard let base = bytes.baseAddress else { return 0 }
    var offset = 0
    while offset < bytes.count {
      let written = Glibc.write(fd, base + offset, bytes.count - offset)
      if written < 0 {
        if errno == EINTR { continue }
        return errno
      }
      offset += written
    }
    return 0
  }

  private var displayPath: String { path == "-" ? "standard output" : path }

  public func write(_ text: String) throws(TraceError) {
    try write(Array(text.utf8))
  }

  public func sync() { if owned { fsync(fd) } }
}
