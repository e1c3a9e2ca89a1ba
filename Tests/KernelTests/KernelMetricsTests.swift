import Foundation
import Glibc
import SocktraceCore
import Testing

extension KernelTests {
  /// `serve --metrics` with nothing else: the kernel counts (bpf/lib/kmetrics.bpf.h),
  /// no record reaches user space, and /metrics says what the workload did.
  @Suite(.timeLimit(.minutes(3)))
  struct KernelMetricsTests {
    static let scenarios = [
      "inet-stream", "inet6-dgram", "unix-nonblock-cloexec", "bad-family", "bad-protocol", "socketpair", "accept",
      "accept-eagain", "lifecycle", "fork", "thread",
    ]

    @Test func metricsOnlyCountsInTheKernelWhatTheWorkloadDid() throws {
      let workload = try Workload(Self.scenarios)
      let port = try freeLoopbackPort()
      let service = try MetricsService(["serve", "--metrics", "127.0.0.1:\(port)", "-p", "\(workload.pid)", "-f"])
      let truth = try workload.run()
      let births = truth.filter { ["socket", "socketpair", "accept"].contains($0["op"] as? String) }
      let wouldBlock = births.filter { $0["op"] as? String == "accept" && $0["errno"] as? Int == Int(EAGAIN) }
      #expect(wouldBlock.count == 1, "the workload's accept-eagain")

      // What the workload did, by the labels the metrics use.
      var expected: [String: Int] = [:]
      for birth in births {
        let op = birth["op"] as? String
        let errno = Int32(birth["errno"] as? Int ?? 0)
        if op == "accept" && errno == EAGAIN { continue }
        let family = Int32(birth["family"] as? Int ?? -1)
        let type = Int32(birth["type"] as? Int ?? 0) & 0xf
        let result = errno == 0 ? "ok" : ErrnoNames.name(errno) ?? "E\(errno)"
        let key = "\(SocketNames.familyLabel(family)) \(SocketNames.typeLabel(type)) \(result) socktrace-workl"
        expected[key, default: 0] += 1
      }
      var ops = Dictionary(grouping: truth.compactMap { $0["op"] as? String }, by: { $0 }).mapValues(\.count)
      // The listeners and client of accept and accept-eagain bind, listen and connect unreported.
      ops["bind", default: 0] += 2
      ops["listen", default: 0] += 2
      ops["connect", default: 0] += 1

      // Every birth and both exits (the workload and its forked child) counted: stable over two reads.
      var metrics = Exposition(text: "")
      let deadline = Date().addingTimeInterval(20)
      var previous = ""
      while Date() < deadline {
        metrics = Exposition(text: try scrape(port: port))
        let counts = metrics.series("socktrace_socket_births_total") + metrics.series("socktrace_records_counted_total")
        let done = metrics.sum("socktrace_records_counted_total", ["event": "exit"]) >= 2
        if done && counts.joined() == previous { break }
        previous = done ? counts.joined() : ""
        usleep(300_000)
      }
      let status = try service.stop()
      #expect(status.status == 0, "\(status.stderr)")

      var scraped: [String: Int] = [:]
      for sample in metrics.samples where sample.name == "socktrace_socket_births_total" {
        let labels = sample.labels
        let key = "\(labels["family"] ?? "") \(labels["type"] ?? "") \(labels["result"] ?? "") \(labels["comm"] ?? "")"
        scraped[key, default: 0] += Int(sample.value)
      }
      #expect(scraped == expected, "births by family, type, result and comm")
      #expect(metrics.sum("socktrace_accept_would_block_total") == 1)

      // Records by kind: counted in the kernel, none read from the ring buffer.
      for (event, op) in [
        ("socket", "socket"), ("socketpair", "socketpair"), ("bind", "bind"), ("connect", "connect"),
        ("listen", "listen"), ("shutdown", "shutdown"), ("connect_result", "connect_result"),
      ] {
        #expect(
          metrics.sum("socktrace_records_counted_total", ["event": event]) == Double(ops[op, default: 0]),
          "\(event)")
      }
      #expect(metrics.sum("socktrace_records_counted_total", ["event": "accept"]) == Double(ops["accept", default: 0]))
      #expect(metrics.sum("socktrace_records_counted_total", ["event": "fork"]) == 1)
      #expect(metrics.sum("socktrace_records_counted_total", ["event": "exit"]) == 2)
      #expect(metrics.sum("socktrace_records_read_total") == 0, "no record reached user space")
      #expect(metrics.sum("socktrace_lost_events_total") == 0)
      #expect(metrics.sum("socktrace_ring_buffer_size_bytes") == Double(sysconf(Int32(_SC_PAGESIZE))))

      // Durations: one per birth, in buckets that only grow, the sum positive.
      for event in ["socket", "socketpair", "accept"] {
        let count = births.filter {
          $0["op"] as? String == event && !($0["op"] as? String == "accept" && $0["errno"] as? Int == Int(EAGAIN))
        }.count
        let labels = ["event": event, "stage": "total"]
        #expect(metrics.sum("socktrace_socket_creation_duration_seconds_count", labels) == Double(count), "\(event)")
        #expect(metrics.sum("socktrace_socket_creation_duration_seconds_sum", labels) > 0, "\(event)")
        let buckets = metrics.samples.filter {
          $0.name == "socktrace_socket_creation_duration_seconds_bucket" && $0.labels["event"] == event
            && $0.labels["stage"] == "total"
        }
        #expect(buckets.count == 15)
        #expect(zip(buckets, buckets.dropFirst()).allSatisfy { $0.value <= $1.value })
        #expect(buckets.last?.labels["le"] == "+Inf" && buckets.last?.value == Double(count))
      }

      // The summary says so too: nothing read, every birth counted.
      #expect(status.stderr.contains("socktrace: 0 events"), "\(status.stderr)")
      let failed = expected.filter { !$0.key.contains(" ok ") }.values.reduce(0, +)
      #expect(
        status.stderr.contains("(\(expected.values.reduce(0, +)) socket births, \(failed) failed), none sent"),
        "\(status.stderr)")
    }

    /// The same workload traced with records (`--json -o` and `--metrics`) and
    /// metrics-only: the same births, the same histogram counts, the same records by kind.
    @Test func metricsOnlyMatchesWhatRecordsMake() throws {
      func run(_ extra: [String]) throws -> Exposition {
        let workload = try Workload(["inet-stream", "bad-family", "socketpair", "accept", "accept-eagain", "lifecycle"])
        let port = try freeLoopbackPort()
        let service = try MetricsService(extra + ["--metrics", "127.0.0.1:\(port)", "-p", "\(workload.pid)"])
        _ = try workload.run()
        var metrics = Exposition(text: "")
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
          metrics = Exposition(text: try scrape(port: port))
          if metrics.sum("socktrace_records_counted_total", ["event": "exit"]) >= 1 { break }
          usleep(300_000)
        }
        usleep(600_000)
        metrics = Exposition(text: try scrape(port: port))
        _ = try service.stop()
        return metrics
      }
      let output = NSTemporaryDirectory() + "socktrace-kmetrics-\(UUID().uuidString).jsonl"
      defer { unlink(output) }
      let records = try run(["serve", "-o", output])
      let kernel = try run(["serve"])
      for name in [
        "socktrace_socket_births_total", "socktrace_records_counted_total", "socktrace_accept_would_block_total",
        "socktrace_socket_creation_duration_seconds_count",
      ] {
        #expect(kernel.series(name) == records.series(name), "\(name)")
      }
      #expect(records.sum("socktrace_records_read_total") == records.sum("socktrace_records_counted_total"))
      #expect(kernel.sum("socktrace_records_read_total") == 0)
      #expect(kernel.sum("socktrace_records_counted_total") > 0)
    }
  }
}

/// `socktrace ARGS` in the background, up once its `Tracing` line is out.
final class MetricsService {
  let process = Process()
  let stderrPipe = Pipe()
  var stderr = Data()

  init(_ arguments: [String]) throws {
    process.executableURL = URL(fileURLWithPath: Binaries.socktrace)
    process.arguments = arguments
    process.standardError = stderrPipe
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let attached = read(stderrPipe.fileHandleForReading, into: &stderr, timeout: 60) {
      String(decoding: $0, as: UTF8.self).contains("Tracing")
    }
    if !attached {
      process.terminate()
      process.waitUntilExit()
      throw HarnessError.exited(process.terminationStatus, String(decoding: stderr, as: UTF8.self))
    }
  }

  deinit {
    if process.isRunning { process.terminate() }
  }

  func stop() throws -> (status: Int32, stderr: String) {
    kill(process.processIdentifier, SIGINT)
    _ = read(stderrPipe.fileHandleForReading, into: &stderr, timeout: 60) { _ in false }
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stderr, as: UTF8.self))
  }
}

/// GET /metrics over a plain socket: the body.
func scrape(port: Int) throws -> String {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  defer { close(fd) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = UInt16(port).bigEndian
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  let connected = withUnsafePointer(to: &address) { pointer in
    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
    }
  }
  try #require(connected == 0, "connect to /metrics")
  let request = Array("GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
  try #require(write(fd, request, request.count) == request.count)
  var response: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 65536)
  while true {
    let count = Glibc.read(fd, &chunk, chunk.count)
    if count <= 0 { break }
    response += chunk[0..<count]
  }
  let text = String(decoding: response, as: UTF8.self)
  let body = try #require(text.range(of: "\r\n\r\n"), "an HTTP response")
  return String(text[body.upperBound...])
}

/// Prometheus text format, as far as these tests need it.
struct Exposition {
  struct Sample: Equatable {
    var name: String
    var labels: [String: String]
    var value: Double
  }

  var samples: [Sample] = []

  init(text: String) {
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
      guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
        continue
      }
      let series = line[..<space]
      guard let open = series.firstIndex(of: "{") else {
        samples.append(Sample(name: String(series), labels: [:], value: value))
        continue
      }
      samples.append(
        Sample(name: String(series[..<open]), labels: Self.labels(series[series.index(after: open)...]), value: value))
    }
  }

  /// `a="x",b="y\"z"}` into a dictionary (values left escaped).
  static func labels(_ text: Substring) -> [String: String] {
    var labels: [String: String] = [:]
    var rest = text
    while let equals = rest.firstIndex(of: "=") {
      let name = rest[..<equals].trimmingCharacters(in: CharacterSet(charactersIn: ", "))
      var index = rest.index(equals, offsetBy: 2)  // past ="
      var value = ""
      while index < rest.endIndex && rest[index] != "\"" {
        if rest[index] == "\\" {
          value.append(rest[index])
          index = rest.index(after: index)
        }
        if index < rest.endIndex { value.append(rest[index]) }
        index = rest.index(after: index)
      }
      labels[name] = value
      rest = index < rest.endIndex ? rest[rest.index(after: index)...] : ""
    }
    return labels
  }

  /// The sum of a metric's samples whose labels include `matching`.
  func sum(_ name: String, _ matching: [String: String] = [:]) -> Double {
    samples.filter { sample in sample.name == name && matching.allSatisfy { sample.labels[$0.key] == $0.value } }
      .reduce(0) { $0 + $1.value }
  }

  /// A metric's samples by their labels, sorted: comparable between runs.
  func series(_ name: String) -> [String] {
    samples.filter { $0.name == name }.map { sample in
      sample.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        + " \(sample.value)"
    }.sorted()
  }
}
