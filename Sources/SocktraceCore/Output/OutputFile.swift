import CSocktrace
import Glibc

/// Where records go: a file opened before anything is attached, or stdout.
/// Writes whole buffers with write(2), retrying short writes and EINTR.
///
/// With a `Rotation`, the file never grows past `maxBytes` with whole lines:
/// a buffer is cut at its last newline that fits, FILE becomes FILE.1 (FILE.1
/// FILE.2, …, up to FILE.keep; the oldest goes), and a new FILE is opened.
/// `reopen()` (SIGHUP in rotation and service mode) closes FILE and opens the
/// path again, appending: what logrotate expects after it renamed the file.
///
/// Opening checks that the path can be written without changing it: an
/// existing file is emptied only by `begin()`, once tracing has started, and
/// a file created here is removed by `abandon()` if it never does, so
/// `-o previous.jsonl -p 999999` leaves previous.jsonl as it was. New files
/// are 0600 by default (records carry every traced command line). In a
/// sticky directory (/tmp) a symlink owned by someone other than the caller
/// or the directory's owner is refused, as fs.protected_symlinks=1 would, and
/// a plain file is opened O_NOFOLLOW so it cannot be swapped for one.
public final class OutputFile {
  /// Size-based rotation: Tetragon's defaults are 10 MB and 5 files. With
  /// `compress`, a file rotated away is gzipped (FILE.1 -> FILE.1.gz, zlib
  /// level 1) by a thread of its own, so the reader never waits for it
  /// unless the next rotation comes before it is done.
  public struct Rotation: Sendable, Equatable {
    public var maxBytes: Int
    public var keep: Int
    public var compress: Bool

    public static let defaultMaxBytes = 10_000_000
    public static let defaultKeep = 5

    public init(maxBytes: Int = defaultMaxBytes, keep: Int = defaultKeep, compress: Bool = false) {
      self.maxBytes = maxBytes
      self.keep = keep
      self.compress = compress
    }
  }

  public let path: String
  public private(set) var fd: Int32
  private let owned: Bool
  private let rotation: Rotation?
  private let mode: mode_t
  /// Bytes in the file now (rotation mode).
  private var size = 0
  /// Files rotated away (FILE -> FILE.1) and opened again on request (SIGHUP).
  public private(set) var rotations: UInt64 = 0
  public private(set) var reopens: UInt64 = 0
  /// This open created the file: abandon() removes it.
  private var created = false
  /// Truncate at begin(): an existing file opened without O_TRUNC.
  private var truncateAtBegin = false
  private var begun = false
  /// Asked when a write is interrupted by a signal: true gives up (a forced
  /// stop) instead of retrying.
  public var giveUpOnInterrupt: () -> Bool = { false }
  /// Bytes of the last `write` that reached the file before it failed.
  public private(set) var lastWriteCount = 0

  /// Opens (creates or truncates) `path`; "-" is stdout. Throws before any
  /// probe is attached, so a bad path costs nothing. With `rotation`, or when
  /// `append` is set (a service restarting), an existing file is appended to.
  public init(path: String, rotation: Rotation? = nil, append: Bool = false, mode: mode_t = 0o600)
    throws(TraceError)
  {
    self.path = path
    self.rotation = rotation
    self.mode = mode
    if path == "-" {
      fd = STDOUT_FILENO
      owned = false
      return
    }
    owned = true
    fd = -1
    let keepContent = append || rotation != nil
    (fd, created) = try Self.open(path, flags: keepContent ? O_APPEND : 0, mode: mode)
    truncateAtBegin = !keepContent && !created
    size = keepContent ? Self.fileSize(fd) : 0
  }

  /// Tracing has started: empty an existing file (not in append or rotation mode).
  public func begin() throws(TraceError) {
    guard owned, !begun else { return }
    begun = true
    if truncateAtBegin && ftruncate(fd, 0) != 0 {
      // A FIFO, a terminal or /dev/null cannot be truncated, and need not be.
      var info = stat()
      if fstat(fd, &info) == 0 && info.st_mode & S_IFMT == S_IFREG {
        throw .unwritableOutput(path: path, errno: errno)
      }
    }
  }

  /// Tracing never started: remove the file if this open created it.
  public func abandon() {
    if owned && created && !begun { unlink(path) }
  }

  /// Writes from now on fail with EAGAIN rather than block (a forced stop
  /// must not hang on a reader that stopped reading).
  public func makeNonBlocking() {
    let flags = fcntl(fd, F_GETFL)
    if flags >= 0 { _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
  }

  deinit {
    if owned && fd >= 0 { close(fd) }
    _ = finishCompressing()
  }

  /// Opens `path` for writing, never truncating: a new file with O_EXCL
  /// (which follows no symlink), else the existing one, checked. Returns the
  /// fd and whether it was created.
  private static func open(_ path: String, flags: Int32, mode: mode_t) throws(TraceError) -> (Int32, Bool) {
    let created = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | flags, mode)
    if created >= 0 { return (created, true) }
    guard errno == EEXIST else { throw .unwritableOutput(path: path, errno: errno) }
    let (extra, refusal) = existingFileFlags(path)
    if let refusal { throw .unsafeOutput(path: path, reason: refusal) }
    let opened = Glibc.open(path, O_WRONLY | O_CLOEXEC | flags | extra)
    if opened < 0 && errno == ELOOP {
      throw .unsafeOutput(path: path, reason: "it became a symlink in a sticky directory")
    }
    guard opened >= 0 else { throw .unwritableOutput(path: path, errno: errno) }
    return (opened, false)
  }

  /// How to open an existing `path`: O_NOFOLLOW in a sticky directory, or a
  /// reason to refuse (a symlink there owned by another user).
  static func existingFileFlags(_ path: String) -> (flags: Int32, refusal: String?) {
    let directory = path.lastIndex(of: "/").map { path[..<$0].isEmpty ? "/" : String(path[..<$0]) } ?? "."
    var dir = stat()
    guard stat(directory, &dir) == 0, dir.st_mode & S_ISVTX != 0 else { return (0, nil) }
    var link = stat()
    guard lstat(path, &link) == 0, link.st_mode & S_IFMT == S_IFLNK else { return (O_NOFOLLOW, nil) }
    if link.st_uid == geteuid() || link.st_uid == dir.st_uid { return (0, nil) }
    return (
      0,
      "it is a symlink owned by uid \(link.st_uid) in the sticky directory \(directory); "
        + "refusing to follow it (as fs.protected_symlinks does)"
    )
  }

  private static func fileSize(_ fd: Int32) -> Int {
    var info = stat()
    return fstat(fd, &info) == 0 ? Int(info.st_size) : 0
  }

  /// Whether the output is a terminal (the human table's default).
  public var isTerminal: Bool { isatty(fd) == 1 }

  public func write(_ bytes: [UInt8]) throws(TraceError) {
    let failure = bytes.withUnsafeBytes { raw in Self.catching { () throws(TraceError) in try write(raw) } }
    if let failure { throw failure }
  }

  /// Writes what `buffer` holds, without copying it.
  public func write(_ buffer: borrowing JSONBuffer) throws(TraceError) {
    let failure = buffer.withUnsafeBytes { raw in Self.catching { () throws(TraceError) in try write(raw) } }
    if let failure { throw failure }
  }

  private static func catching(_ body: () throws(TraceError) -> Void) -> TraceError? {
    do { try body() } catch { return error }
    return nil
  }

  /// Writes all of `bytes` (a buffer lent without copying): whole lines, in
  /// rotation mode, split across files at newlines.
  public func write(_ bytes: UnsafeRawBufferPointer) throws(TraceError) {
    lastWriteCount = 0
    guard let rotation else {
      let status = writeAll(bytes)
      if status != 0 { throw .writeFailed(path: displayPath, errno: status) }
      return
    }
    var rest = bytes
    while !rest.isEmpty {
      let room = rotation.maxBytes - size
      if rest.count <= room {
        try writeCounted(rest)
        return
      }
      if let cut = Self.lastNewline(in: rest, before: max(room, 0)) {
        try writeCounted(UnsafeRawBufferPointer(rebasing: rest[..<(cut + 1)]))
        rest = UnsafeRawBufferPointer(rebasing: rest[(cut + 1)...])
        try rotate()
      } else if size > 0 {
        try rotate()  // not even one line fits: it starts the next file
      } else {
        // One line longer than a whole file: it goes alone, whole.
        let end = rest.firstIndex(of: UInt8(ascii: "\n")) ?? (rest.count - 1)
        try writeCounted(UnsafeRawBufferPointer(rebasing: rest[...end]))
        rest = UnsafeRawBufferPointer(rebasing: rest[(end + 1)...])
        if !rest.isEmpty { try rotate() }
      }
    }
  }

  /// The index of the last newline among the first `limit` bytes.
  private static func lastNewline(in bytes: UnsafeRawBufferPointer, before limit: Int) -> Int? {
    var index = min(limit, bytes.count) - 1
    while index >= 0 {
      if bytes[index] == UInt8(ascii: "\n") { return index }
      index -= 1
    }
    return nil
  }

  private func writeCounted(_ bytes: UnsafeRawBufferPointer) throws(TraceError) {
    let before = lastWriteCount
    let status = writeAll(bytes)
    lastWriteCount += before
    if status != 0 { throw .writeFailed(path: displayPath, errno: status) }
    size += bytes.count
  }

  /// FILE.(keep-1) -> FILE.keep, …, FILE -> FILE.1, then a new FILE (and,
  /// compressing, FILE.1 -> FILE.1.gz on the compressor's thread).
  private func rotate() throws(TraceError) {
    guard let rotation, owned else { return }
    close(fd)
    fd = -1
    if rotation.keep > 0 {
      // The previous FILE.1 must be FILE.1.gz before the names move on (if
      // it could not be, it stays uncompressed, counted in compressFailures).
      finishCompressing()
      unlink("\(path).\(rotation.keep)")
      unlink("\(path).\(rotation.keep).gz")
      var index = rotation.keep - 1
      while index >= 1 {
        // Both names: a FILE.N left uncompressed by a run that was killed keeps its lines.
        rename("\(path).\(index)", "\(path).\(index + 1)")
        rename("\(path).\(index).gz", "\(path).\(index + 1).gz")
        index -= 1
      }
      // ENOENT: someone (logrotate) moved FILE away already; it keeps its lines.
      if rename(path, "\(path).1") != 0 && errno != ENOENT {
        throw .writeFailed(path: path, errno: errno)
      }
    }
    fd = try Self.open(path, flags: 0, mode: mode).0
    _ = ftruncate(fd, 0)
    size = 0
    rotations += 1
    if rotation.compress && rotation.keep > 0 { startCompressing("\(path).1") }
  }

  /// The compressor thread of the last rotation, if one is running.
  private var compressor: Compressor?

  /// Gzips `source` to `source.gz` on a thread of its own (signals blocked:
  /// they are the reader's), then removes `source`.
  private func startCompressing(_ source: String) {
    let job = Compressor(source: source, mode: mode)
    let context = Unmanaged.passRetained(job).toOpaque()
    var signals = sigset_t()
    var previous = sigset_t()
    sigfillset(&signals)
    pthread_sigmask(SIG_SETMASK, &signals, &previous)
    var thread = pthread_t()
    let status = pthread_create(
      &thread, nil,
      { context in
        guard let context else { return nil }
        let job = Unmanaged<Compressor>.fromOpaque(context).takeRetainedValue()
        job.run()
        return nil
      }, context)
    pthread_sigmask(SIG_SETMASK, &previous, nil)
    if status == 0 {
      job.thread = thread
      compressor = job
    } else {
      Unmanaged<Compressor>.fromOpaque(context).release()
      job.run()  // no thread: compress here rather than not at all
      if job.failure != 0 { compressFailures += 1 }
    }
  }

  /// Waits for the compressor, if any: nil, or the errno it failed with
  /// (the uncompressed file is then kept as it was).
  @discardableResult
  public func finishCompressing() -> Int32? {
    guard let job = compressor else { return nil }
    compressor = nil
    if let thread = job.thread { pthread_join(thread, nil) }
    if job.failure != 0 {
      compressFailures += 1
      return job.failure
    }
    return nil
  }

  /// Rotated files that could not be compressed (kept uncompressed).
  public private(set) var compressFailures: UInt64 = 0

  /// Closes the file and opens its path again, appending (SIGHUP): after
  /// logrotate renamed it, new records go to a new file of the same name.
  /// Call between whole lines.
  public func reopen() throws(TraceError) {
    guard owned else { return }
    if fd >= 0 { close(fd) }
    fd = -1
    fd = try Self.open(path, flags: O_APPEND, mode: mode).0
    size = Self.fileSize(fd)
    reopens += 1
  }

  /// write(2) until done, retrying short writes and EINTR: 0 or an errno.
  private func writeAll(_ bytes: UnsafeRawBufferPointer) -> Int32 {
    guard let base = bytes.baseAddress else { return 0 }
    var offset = 0
    while offset < bytes.count {
      let written = Glibc.write(fd, base + offset, bytes.count - offset)
      if written < 0 {
        let error = errno
        if error == EINTR && !giveUpOnInterrupt() { continue }
        lastWriteCount = offset - cutBackToLineStart(written: UnsafeRawBufferPointer(start: base, count: offset))
        return error
      }
      offset += written
    }
    lastWriteCount = offset
    return 0
  }

  /// A write failed after `written` bytes (a full disk): a regular file is
  /// cut back to the end of its last whole line, so it never ends in half a
  /// record. Returns the bytes taken back (the cut line is then counted lost).
  private func cutBackToLineStart(written: UnsafeRawBufferPointer) -> Int {
    var info = stat()
    guard owned, !written.isEmpty, fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return 0 }
    let partial = written.count - ((Self.lastNewline(in: written, before: written.count) ?? -1) + 1)
    guard partial > 0 else { return 0 }
    let end = lseek(fd, 0, SEEK_CUR)
    guard end >= partial, ftruncate(fd, end - off_t(partial)) == 0 else { return 0 }
    _ = lseek(fd, end - off_t(partial), SEEK_SET)
    size -= min(size, partial)
    return partial
  }

  private var displayPath: String { path == "-" ? "standard output" : path }

  public func sync() { if owned && fd >= 0 { fsync(fd) } }
}

/// One rotated file gzipped: SOURCE -> SOURCE.gz.tmp -> SOURCE.gz, then SOURCE
/// removed; on any failure the temporary file goes and SOURCE stays.
final class Compressor: @unchecked Sendable {
  let source: String
  let mode: mode_t
  var thread: pthread_t?
  /// 0, or the errno of the step that failed (set by the thread, read after join).
  var failure: Int32 = 0

  init(source: String, mode: mode_t) {
    self.source = source
    self.mode = mode
  }

  func run() {
    let temporary = source + ".gz.tmp"
    let input = open(source, O_RDONLY | O_CLOEXEC)
    guard input >= 0 else {
      failure = errno
      return
    }
    defer { close(input) }
    let output = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)
    guard output >= 0 else {
      failure = errno
      return
    }
    // st_gzip_fd takes the output fd (zlib's gzclose closes it).
    var status = st_gzip_fd(input, output)
    if status == 0 && rename(temporary, source + ".gz") != 0 { status = errno }
    if status != 0 {
      unlink(temporary)
      failure = status
      return
    }
    unlink(source)
  }
}
