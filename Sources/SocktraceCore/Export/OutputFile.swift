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
    var offset = 0
    while offset < bytes.count {
      let written = bytes.withUnsafeBytes { buffer -> Int in
        guard let base = buffer.baseAddress else { return 0 }
        return Glibc.write(fd, base + offset, buffer.count - offset)
      }
      if written < 0 {
        if errno == EINTR { continue }
        throw .writeFailed(path: path == "-" ? "standard output" : path, errno: errno)
      }
      offset += written
    }
  }

  public func write(_ text: String) throws(TraceError) {
    try write(Array(text.utf8))
  }

  public func sync() { if owned { fsync(fd) } }
}
