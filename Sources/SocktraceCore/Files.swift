// Whole-file reads of small /proc and /sys entries, for every part of SocktraceCore that reads them.
import Glibc

/// Reads a small text file (a /proc or /sys entry) whole, or nil.
func readSmallFile(_ path: String) -> String? {
  readSmallFileBytes(path).map { String(decoding: $0, as: UTF8.self) }
}

/// The same, as raw bytes (for names a process chose: no UTF-8 repair).
func readSmallFileBytes(_ path: String) -> [UInt8]? {
  let fd = open(path, O_RDONLY | O_CLOEXEC)
  guard fd >= 0 else { return nil }
  defer { close(fd) }
  var bytes: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 4096)
  while true {
    let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    if count < 0 && errno == EINTR { continue }
    guard count > 0 else { break }
    bytes.append(contentsOf: chunk[0..<count])
  }
  return bytes
}
