import Glibc
import OTLPProto
import SwiftProtobuf

/// One OTLP/HTTP POST at a time, blocking, on the exporter's own thread: a
/// new connection per request (`Connection: close`), so a request either got
/// its whole response or it did not, and a collector that went away is seen
/// at connect. Every wait is bounded by `timeoutSeconds`, and by the
/// exporter's stop deadline once it has one.
struct OTLPHTTPClient {
  let endpoint: OTLPEndpoint
  var timeoutSeconds = 5

  enum Outcome: Equatable {
    /// 2xx: accepted, but for `rejected` records (OTLP partial success).
    case accepted(rejected: Int64)
    /// Worth trying again (no connection, a timeout, 429, 502, 503, 504).
    case retryable(String)
    /// The collector refused the request for good (any other status).
    case refused(String)
  }

  /// POSTs `body`. Every wait (connect, send, receive) is bounded by
  /// `timeoutSeconds` for the whole request and by `deadline()` (CLOCK_MONOTONIC
  /// nanoseconds, read again at least every 100 ms, so a stop that comes while
  /// the request waits on a hung collector still cuts it short at its deadline).
  func post(_ body: [UInt8], deadline: () -> UInt64 = { .max }) -> Outcome {
    let fd = socket(
      endpoint.address.family,
      Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    guard fd >= 0 else { return .retryable("socket: \(errnoName(errno))") }
    defer { close(fd) }
    let requestEnd = monotonicNanoseconds() + UInt64(max(timeoutSeconds, 0)) * 1_000_000_000
    let waiter = Waiter(fd: fd, requestEnd: requestEnd)
    var address = endpoint.address
    let connected = withUnsafePointer(to: &address.storage) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, address.length) }
    }
    if connected != 0 {
      guard errno == EINPROGRESS || errno == EINTR else { return .retryable("connect: \(errnoName(errno))") }
      if let failure = waiter.wait(Int16(POLLOUT), doing: "connect", deadline: deadline) { return failure }
      var error: Int32 = 0
      var length = socklen_t(MemoryLayout<Int32>.size)
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
      guard error == 0 else { return .retryable("connect: \(errnoName(error))") }
    }

    let head =
      "POST \(endpoint.path) HTTP/1.1\r\nHost: \(endpoint.hostHeader)\r\n"
      + "Content-Type: application/x-protobuf\r\nContent-Length: \(body.count)\r\n"
      + "User-Agent: socktrace\r\nConnection: close\r\n\r\n"
    if let failure = sendAll(fd, Array(head.utf8), waiter, deadline) { return failure }
    if let failure = sendAll(fd, body, waiter, deadline) { return failure }

    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16 << 10)
    while response.count < 4 << 20 {
      let got = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      if got < 0 {
        if errno == EINTR { continue }
        if errno == EAGAIN || errno == EWOULDBLOCK {
          if let failure = waiter.wait(Int16(POLLIN), doing: "receive", deadline: deadline) { return failure }
          continue
        }
        return .retryable("receive: \(errnoName(errno))")
      }
      if got == 0 { break }
      response += chunk.prefix(got)
    }
    return Self.parse(response)
  }

  /// Waits for a non-blocking socket, in slices of at most 100 ms, until the
  /// request's own timeout or the caller's deadline, whichever comes first.
  private struct Waiter {
    let fd: Int32
    let requestEnd: UInt64

    /// nil once `events` are ready; else why the request is given up.
    func wait(_ events: Int16, doing what: String, deadline: () -> UInt64) -> Outcome? {
      while true {
        let now = monotonicNanoseconds()
        if now >= deadline() { return .retryable("\(what): stopped at the shutdown deadline") }
        if now >= requestEnd { return .retryable("\(what): \(errnoName(ETIMEDOUT))") }
        let slice = min(requestEnd - now, 100_000_000)
        var poller = pollfd(fd: fd, events: events, revents: 0)
        let ready = poll(&poller, 1, Int32((slice + 999_999) / 1_000_000))
        if ready < 0 && errno != EINTR { return .retryable("\(what): \(errnoName(errno))") }
        if ready > 0 { return nil }
      }
    }
  }

  /// The status line, and a 2xx protobuf body's partial success.
  static func parse(_ response: [UInt8]) -> Outcome {
    guard let headEnd = find([13, 10, 13, 10], in: response) else {
      return .retryable(response.isEmpty ? "connection closed without a response" : "truncated response")
    }
    let head = String(decoding: response[..<headEnd], as: UTF8.self)
    let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
    let statusLine = lines.first.map(String.init) ?? ""
    let parts = statusLine.split(separator: " ")
    guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
      return .refused("not an HTTP response")
    }
    var body = Array(response[(headEnd + 4)...])
    var chunked = false
    var contentLength: Int?
    for line in lines.dropFirst() {
      let lower = line.lowercased()
      if lower.hasPrefix("transfer-encoding:") && lower.contains("chunked") { chunked = true }
      if lower.hasPrefix("content-length:") { contentLength = Int(lower.dropFirst(15).trimmingSpaces) }
    }
    switch status {
    case 200..<300:
      if chunked { return .accepted(rejected: 0) }  // nothing partial to read without un-chunking
      if let contentLength, body.count > contentLength { body = Array(body.prefix(contentLength)) }
      guard !body.isEmpty,
        let decoded = try? Opentelemetry_Proto_Collector_Logs_V1_ExportLogsServiceResponse(serializedBytes: body)
      else { return .accepted(rejected: 0) }
      return .accepted(rejected: max(decoded.partialSuccess.rejectedLogRecords, 0))
    case 429, 502, 503, 504:
      return .retryable("HTTP \(status)")
    default:
      return .refused("HTTP \(status)")
    }
  }

  private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard haystack.count >= needle.count else { return nil }
    for start in 0...(haystack.count - needle.count)
    where haystack[start..<(start + needle.count)].elementsEqual(needle) {
      return start
    }
    return nil
  }

  /// nil once all of `bytes` is sent; else why not.
  private func sendAll(_ fd: Int32, _ bytes: [UInt8], _ waiter: Waiter, _ deadline: () -> UInt64) -> Outcome? {
    var offset = 0
    while offset < bytes.count {
      let sent = bytes.withUnsafeBytes { raw in
        send(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset, Int32(MSG_NOSIGNAL))
      }
      if sent < 0 {
        if errno == EINTR { continue }
        if errno == EAGAIN || errno == EWOULDBLOCK {
          if let failure = waiter.wait(Int16(POLLOUT), doing: "send", deadline: deadline) { return failure }
          continue
        }
        return .retryable("send: \(errnoName(errno))")
      }
      offset += sent
    }
    return nil
  }
}

extension Substring {
  var trimmingSpaces: Substring {
    var text = self
    while text.first == " " || text.first == "\t" { text = text.dropFirst() }
    while text.last == " " || text.last == "\t" { text = text.dropLast() }
    return text
  }
}

/// CLOCK_MONOTONIC in nanoseconds (the exporter's deadlines are on this clock).
func monotonicNanoseconds() -> UInt64 {
  var now = timespec()
  clock_gettime(CLOCK_MONOTONIC, &now)
  return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

func errnoName(_ number: Int32) -> String {
  String(cString: strerror(number))
}
