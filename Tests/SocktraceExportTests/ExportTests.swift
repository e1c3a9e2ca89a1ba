import CSocktrace
import Foundation
import Glibc
import Testing

@testable import SocktraceCore
@testable import SocktraceExport

/// A socket record as the BPF program lays it out.
func socketEvent(
  comm: String, family: Int32 = 2, ret: Int32 = 3, pid: UInt32 = 100, kind: UInt16 = UInt16(ST_KIND_SOCKET.rawValue)
) -> TraceEvent {
  var record = st_socket()
  record.h.kind = kind
  record.h.size = UInt16(MemoryLayout<st_socket>.size)
  record.h.ts_ns = 5_000_000_000
  record.h.pid = pid
  record.h.tid = pid
  record.h.ppid = 1
  withUnsafeMutableBytes(of: &record.h.comm) { bytes in
    for (index, byte) in comm.utf8.prefix(15).enumerated() { bytes[index] = byte }
  }
  record.family = family
  record.type = 1
  record.ret = ret
  record.fd = ret >= 0 ? ret : -1
  record.fd2 = -1
  record.resolved_protocol = 6
  record.duration_ns = 12_000
  return .socket(SocketEvent(raw: record))
}

@Suite struct TracerMetricsTests {
  /// socktrace_socket_births_total lines: comm label -> value, summed.
  func births(_ metrics: TracerMetrics) -> [String: Int] {
    let text = String(decoding: metrics.scrape(), as: UTF8.self)
    var byComm: [String: Int] = [:]
    for line in text.split(separator: "\n") where line.hasPrefix("socktrace_socket_births_total{") {
      let comm = String(line.split(separator: "comm=\"")[1].split(separator: "\"")[0])
      byComm[comm, default: 0] += Int(Double(line.split(separator: " ").last ?? "0") ?? 0)
    }
    return byComm
  }

  /// Issue 22: each failure counted by its cause; accept's EAGAIN stays apart.
  @Test func failuresAreCountedByCause() {
    let metrics = TracerMetrics(commLimit: 4)
    metrics.count(socketEvent(comm: "a", ret: -EMFILE))
    metrics.count(socketEvent(comm: "a", ret: -EMFILE))
    metrics.count(socketEvent(comm: "a", family: 200, ret: -EAFNOSUPPORT))
    metrics.count(socketEvent(comm: "a", ret: -EIO))
    metrics.count(socketEvent(comm: "a", ret: -EAGAIN, kind: UInt16(ST_KIND_ACCEPT.rawValue)))
    metrics.count(socketEvent(comm: "a"))
    let text = String(decoding: metrics.scrape(), as: UTF8.self)
    let lines = text.split(separator: "\n").filter { $0.hasPrefix("socktrace_socket_failures_total{") }.sorted()
    #expect(
      lines == [
        #"socktrace_socket_failures_total{event="socket",cause="family_out_of_range"} 1"#,
        #"socktrace_socket_failures_total{event="socket",cause="fd_limit"} 2"#,
        #"socktrace_socket_failures_total{event="socket",cause="unknown"} 1"#,
      ], "\(lines)")
  }

  @Test func commIsBoundedAndEverySeriesOnlyGrows() {
    let metrics = TracerMetrics(commLimit: 1)
    for _ in 0..<3 { metrics.count(socketEvent(comm: "alpha")) }
    metrics.count(socketEvent(comm: "beta"))
    metrics.publish(lost: [], written: 0, decodeErrors: 0, force: true)
    #expect(births(metrics) == ["alpha": 3, "other": 1])
    // beta becomes the busiest: alpha's series goes to other, beta starts its own.
    for _ in 0..<5 { metrics.count(socketEvent(comm: "beta")) }
    metrics.publish(lost: [], written: 0, decodeErrors: 0, force: true)
    #expect(births(metrics) == ["beta": 5, "other": 4])
    #expect(births(metrics).values.reduce(0, +) == 9)
  }

  @Test func theBusiestCommandsGetLabelsWhateverCameFirst() {
    let metrics = TracerMetrics(commLimit: 20)
    for index in 0..<20 { metrics.count(socketEvent(comm: "early\(index)")) }
    metrics.publish(lost: [], written: 0, decodeErrors: 0, force: true)
    for index in 0..<5 {
      for _ in 0..<(10 + index) { metrics.count(socketEvent(comm: "busy\(index)")) }
    }
    metrics.publish(lost: [], written: 0, decodeErrors: 0, force: true)
    let labels = births(metrics)
    for index in 0..<5 { #expect(labels["busy\(index)"] == 10 + index) }
    #expect(labels.keys.filter { $0.hasPrefix("early") }.count == 15)
    let expected = 20 + (10...14).reduce(0, +)
    #expect(labels.values.reduce(0, +) == expected)
  }

  @Test func anAcceptThatWouldBlockIsNoFailedBirthAndStagesOnlyWhereSeen() {
    let metrics = TracerMetrics(commLimit: 5)
    metrics.count(socketEvent(comm: "srv", ret: -11, kind: UInt16(ST_KIND_ACCEPT.rawValue)))
    metrics.publish(lost: [], written: 0, decodeErrors: 0, force: true)
    let text = String(decoding: metrics.scrape(), as: UTF8.self)
    #expect(births(metrics).isEmpty)
    #expect(text.contains("socktrace_accept_would_block_total 1"))
    // No record had stages (the tracepoint rung): no stage histogram at all.
    #expect(!text.contains(#"stage="sock_create""#))
  }

  @Test func failuresCarryTheErrnoNameAndLostIsByCause() {
    let metrics = TracerMetrics(commLimit: 5)
    metrics.count(socketEvent(comm: "x", family: 255, ret: -97))
    metrics.publish(lost: [("ring_full", 7)], written: 3, decodeErrors: 0, force: true)
    let text = String(decoding: metrics.scrape(), as: UTF8.self)
    #expect(
      text.contains(
        #"socktrace_socket_births_total{family="AF_255",type="SOCK_STREAM",result="EAFNOSUPPORT",comm="x"} 1"#))
    #expect(text.contains(#"socktrace_lost_events_total{cause="ring_full"} 7"#))
    #expect(text.contains("socktrace_records_written_total 3"))
    #expect(text.contains(#"socktrace_socket_creation_duration_seconds_count{event="socket",stage="total"} 1"#))
  }
}

@Suite struct OTLPTests {
  @Test func endpointsAndTheirPaths() throws {
    #expect(try OTLPEndpoint(parsing: "http://127.0.0.1:4318").path == "/v1/logs")
    #expect(try OTLPEndpoint(parsing: "http://127.0.0.1").port == 4318)
    #expect(try OTLPEndpoint(parsing: "http://[::1]:9/custom/logs").path == "/custom/logs")
    #expect(throws: ExportError.self) { try OTLPEndpoint(parsing: "https://127.0.0.1:4318") }
    #expect(throws: ExportError.self) { try OTLPEndpoint(parsing: "http://") }
    #expect(throws: ExportError.self) { try OTLPEndpoint(parsing: "http://127.0.0.1:notaport") }
  }

  @Test func responsesAreClassifiedAsOTLPSays() {
    func response(_ status: String) -> [UInt8] { Array("HTTP/1.1 \(status)\r\nContent-Length: 0\r\n\r\n".utf8) }
    #expect(OTLPHTTPClient.parse(response("200 OK")) == .accepted(rejected: 0))
    #expect(OTLPHTTPClient.parse(response("503 Unavailable")) == .retryable("HTTP 503"))
    #expect(OTLPHTTPClient.parse(response("429 Too Many")) == .retryable("HTTP 429"))
    #expect(OTLPHTTPClient.parse(response("400 Bad")) == .refused("HTTP 400"))
    #expect(OTLPHTTPClient.parse([]) == .retryable("connection closed without a response"))
  }

  @Test func aSocketBecomesOneLogRecordWithSemanticConventions() {
    let mapper = OTLPLogMapper(clock: BootClock(offsetNanoseconds: 1_000))
    let record = mapper.logRecord(socketEvent(comm: "curl\u{1}"), observedAt: 9)
    let attributes = Dictionary(uniqueKeysWithValues: record.attributes.map { ($0.key, $0.value) })
    #expect(record.timeUnixNano == 5_000_001_000)
    #expect(record.eventName == "socktrace.socket")
    #expect(attributes["process.pid"]?.intValue == 100)
    #expect(attributes["network.transport"]?.stringValue == "tcp")
    #expect(attributes["network.type"]?.stringValue == "ipv4")
    #expect(attributes["process.executable.name"]?.stringValue == "curl\u{1}")
    #expect(attributes["socktrace.fd"]?.intValue == 3)
    let failed = mapper.logRecord(socketEvent(comm: "c", family: 255, ret: -97), observedAt: 9)
    #expect(failed.severityText == "WARN")
    #expect(failed.attributes.first { $0.key == "error.type" }?.value.stringValue == "EAFNOSUPPORT")
    // A family with no name is named as in JSON and the metrics.
    #expect(failed.attributes.first { $0.key == "socktrace.family" }?.value.stringValue == "AF_255")
  }
}

@Suite struct RotationTests {
  let directory: String = {
    let path = NSTemporaryDirectory() + "socktrace-rotation-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    mkdir(path, 0o700)
    return path
  }()

  func contents(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

  @Test func filesHoldWholeLinesWithinTheirSizeAndTheOldestGoes() throws {
    let path = directory + "/events.jsonl"
    let output = try OutputFile(path: path, rotation: .init(maxBytes: 10, keep: 2), mode: 0o600)
    try output.write(Array("aaaa\nbbbb\ncccc\n".utf8))  // 15 bytes: two files
    try output.write(Array("dddddddddddddddd\n".utf8))  // longer than a file: alone
    try output.write(Array("ee\n".utf8))
    #expect(contents(path) == "ee\n")
    #expect(contents(path + ".1") == "dddddddddddddddd\n")
    #expect(contents(path + ".2") == "cccc\n")
    #expect(contents(path + ".3") == nil)  // keep 2: "aaaa\nbbbb\n" was the oldest
    #expect(output.rotations == 3)
    var info = stat()
    stat(path, &info)
    #expect(info.st_mode & 0o777 == 0o600)
  }

  @Test func reopenAfterARenameStartsANewFileAndAppends() throws {
    let path = directory + "/events.jsonl"
    let output = try OutputFile(path: path, rotation: .init(maxBytes: 100, keep: 5), mode: 0o600)
    try output.write(Array("one\n".utf8))
    rename(path, path + ".moved")  // logrotate
    try output.write(Array("two\n".utf8))  // still the moved file: nothing lost
    try output.reopen()
    try output.write(Array("three\n".utf8))
    #expect(contents(path + ".moved") == "one\ntwo\n")
    #expect(contents(path) == "three\n")
    let again = try OutputFile(path: path, rotation: .init(maxBytes: 100, keep: 5), mode: 0o600)
    try again.write(Array("four\n".utf8))  // a restarted service appends
    #expect(contents(path) == "three\nfour\n")
  }
}
