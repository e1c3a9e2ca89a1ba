import Glibc
import OTLPProto
import SwiftProtobuf

/// One OTLP/HTTP POST at a time, blocking, on the exporter's own thread: a
/// new connection per request (`Connection: close`), so a request either got
/// its whole response or it did not, and a collector that went away is seen
/// at connect. Every wait is bounded by `timeoutSeconds`.
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

  func post(_ body: [UInt8]) -> Outcome {
    let fd = socket(endpoint.address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return .retryable("socket: \(errnoName(errno))") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))  // connect too
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = endpoint.address
    let connected = withUnsafePointer(to: &address.storage) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, address.length) }
    }
    guard connected == 0 else { return .retryable("connect: \(errnoName(errno))") }

    let head =
      "POST \(endpoint.path) HTTP/1.1\r\nHost: \(endpoint.hostHeader)\r\n"
      + "Content-Type: application/x-protobuf\r\nContent-Length: \(body.count)\r\n"
      + "User-Agent: socktrace\r\nConnection: close\r\n\r\n"
    guard sendAll(fd, Array(head.utf8)), sendAll(fd, body) else { return .retryable("send: \(errnoName(errno))") }

    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16 << 10)
    while response.count < 4 << 20 {
      let got = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      if got < 0 {
        if errno == EINTR { continue }
        return .retryable("receive: \(errnoName(errno))")
      }
      if got == 0 { break }
      response += chunk.prefix(got)
    }
    return Self.parse(response)
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

  private func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { raw in
      var offset = 0
      while offset < raw.count {
        let sent = send(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset, Int32(MSG_NOSIGNAL))
        if sent < 0 {
          if errno == EINTR { continue }
          return false
        }
        offset += sent
      }
      return true
    }
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

func errnoName(_ number: Int32) -> String {
  String(cString: strerror(number))
}
