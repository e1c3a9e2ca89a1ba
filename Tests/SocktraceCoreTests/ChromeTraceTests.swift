import Foundation
import Testing

@testable import SocktraceCore

/// The Chrome trace, parsed back with Foundation's strict JSON parser (tests only).
@Suite struct ChromeTraceTests {
  typealias Event = [String: Any]

  func parse(_ bytes: [UInt8]) throws -> (root: [String: Any], events: [Event]) {
    let object = try JSONSerialization.jsonObject(with: Data(bytes))
    let root = try #require(object as? [String: Any])
    let events = try #require(root["traceEvents"] as? [Event])
    return (root, events)
  }

  func number(_ event: Event, _ key: String) -> Double? { (event[key] as? NSNumber)?.doubleValue }
  func int(_ event: Event, _ key: String) -> Int? { (event[key] as? NSNumber)?.intValue }
  func args(_ event: Event) -> [String: Any] { event["args"] as? [String: Any] ?? [:] }
  func close(_ a: Double?, _ b: Double) -> Bool { a.map { abs($0 - b) < 1e-6 } ?? false }

  @Test func metadataNamesAProcessTrackPerPidAndAThreadTrackPerTid() throws {
    let (root, events) = try parse(ChromeTraceWriter.render(try TimelineScenario.timeline()))
    #expect(root["displayTimeUnit"] as? String == "ns")
    let processNames = events.filter { $0["ph"] as? String == "M" && $0["name"] as? String == "process_name" }
    var names: [Int: String] = [:]
    for event in processNames {
      names[int(event, "pid") ?? -1] = args(event)["name"] as? String
    }
    #expect(names == [100: "sh", 101: "curl", 200: "dnsd-worker"])
    #expect(processNames.count == 3)

    let threads = events.filter { $0["ph"] as? String == "M" && $0["name"] as? String == "thread_name" }
      .map { "\(int($0, "pid") ?? -1)/\(int($0, "tid") ?? -1)" }
    #expect(Set(threads) == ["100/100", "101/101", "200/201"])
    #expect(threads.count == 3)

    // Tree order: sh, then curl under it, then dnsd.
    let sortIndex = events.filter { $0["name"] as? String == "process_sort_index" }
      .sorted { (int(args($0), "sort_index") ?? 0) < (int(args($1), "sort_index") ?? 0) }
      .map { int($0, "pid") ?? -1 }
    #expect(sortIndex == [100, 101, 200])
  }

  @Test func socketsAreCompleteSlicesWithStagesNestedInside() throws {
    let (_, events) = try parse(ChromeTraceWriter.render(try TimelineScenario.timeline()))
    let sockets = events.filter { $0["ph"] as? String == "X" && $0["cat"] as? String == "socket" }
    #expect(sockets.count == 6)

    let call = try #require(sockets.first { int(args($0), "inode") == 5002 })
    #expect(int(call, "pid") == 101)
    #expect(int(call, "tid") == 101)
    #expect(call["name"] as? String == "socket AF_INET SOCK_STREAM")
    // Returned at +4ms after 17.473us: microseconds from the recording's first record.
    #expect(close(number(call, "ts"), 3982.527))
    #expect(close(number(call, "dur"), 17.473))
    #expect(args(call)["family"] as? String == "AF_INET")
    #expect(args(call)["protocol"] as? String == "IPPROTO_TCP")
    #expect(int(args(call), "fd") == 3)
    #expect(args(call)["error"] is NSNull)

    let stages = events.filter {
      $0["ph"] as? String == "X" && $0["cat"] as? String == "stage" && int($0, "tid") == 101
        && (number($0, "ts") ?? 0) >= 3982.527 && (number($0, "ts") ?? 0) < 4000
    }
    #expect(stages.map { $0["name"] as? String } == ["sock_create", "sock_map_fd"])
    let callStart = try #require(number(call, "ts"))
    let callEnd = callStart + (number(call, "dur") ?? 0)
    for stage in stages {
      let start = try #require(number(stage, "ts"))
      let end = start + (number(stage, "dur") ?? 0)
      #expect(start >= callStart - 1e-6 && end <= callEnd + 1e-6, "\(stage) outside \(call)")
    }
    #expect(close(number(stages[0], "ts"), 3985.0))  // sock_create: 9us
    #expect(close(number(stages[0], "dur"), 9.0))
    #expect(close(number(stages[1], "ts"), 3994.0))  // then sock_map_fd: 6us, to the return
    #expect(close(number(stages[1], "dur"), 6.0))
  }

  @Test func failuresAreNamedAndColored() throws {
    let (_, events) = try parse(ChromeTraceWriter.render(try TimelineScenario.timeline()))
    let failed = events.filter { $0["cname"] as? String == "terrible" }
    let call = try #require(failed.first { $0["cat"] as? String == "socket" })
    #expect(call["name"] as? String == "socket AF_INET6 ✗ EAFNOSUPPORT")
    #expect(args(call)["error"] as? String == "EAFNOSUPPORT")
    #expect(args(call)["failed_stage"] as? String == "sock_create")
    #expect(args(call)["fd"] is NSNull)
    // The stage it failed in is marked too; sock_map_fd never ran, so it has no slice.
    let stage = try #require(failed.first { $0["cat"] as? String == "stage" })
    #expect(stage["name"] as? String == "sock_create")
    let callStart = try #require(number(call, "ts"))
    let stagesOfCall = events.filter {
      $0["cat"] as? String == "stage" && (number($0, "ts") ?? -1) >= callStart - 1e-6
        && (number($0, "ts") ?? -1) <= callStart + (number(call, "dur") ?? 0)
    }
    #expect(stagesOfCall.count == 1)
  }

  @Test func lifetimesAreAsyncSpansKeyedByInode() throws {
    let (_, events) = try parse(ChromeTraceWriter.render(try TimelineScenario.timeline()))
    func span(_ inode: Int) throws -> (begin: Event, end: Event) {
      let matching = events.filter { int($0, "id") == inode && $0["cat"] as? String == "socket" }
      try #require(matching.count == 2)
      #expect(matching[0]["ph"] as? String == "b")
      #expect(matching[1]["ph"] as? String == "e")
      #expect(matching[0]["name"] as? String == matching[1]["name"] as? String)
      return (matching[0], matching[1])
    }
    let released = try span(5002)
    #expect(int(released.begin, "pid") == 101 && int(released.end, "pid") == 101)
    #expect(close(number(released.begin, "ts"), 4000))
    #expect(close(number(released.end, "ts"), 6000))
    #expect(args(released.end)["end"] as? String == "released")

    let peer = try span(5004)
    #expect(close(number(peer.end, "ts"), 7000))  // the exit
    #expect((args(peer.end)["end"] as? String)?.hasPrefix("process exit") == true)

    let open = try span(5005)
    #expect(close(number(open.end, "ts"), 10000))  // the end record
    #expect(args(open.end)["end"] as? String == "open at end of recording")

    #expect(events.filter { $0["ph"] as? String == "b" }.count == 6)  // 5001..5005 and 6001; the failure has none
  }

  @Test func exitsAreInstants() throws {
    let (_, events) = try parse(ChromeTraceWriter.render(try TimelineScenario.timeline()))
    let exits = events.filter { $0["ph"] as? String == "i" && ($0["name"] as? String)?.hasPrefix("exit") == true }
    #expect(exits.count == 1)
    let exit = try #require(exits.first)
    #expect(int(exit, "pid") == 101)
    #expect(exit["s"] as? String == "p")
    #expect(close(number(exit, "ts"), 7000))
  }

  @Test func hostileNamesStayValidJSON() throws {
    let timeline = TimelineBuilder.build(try RecordingReader.parse(HostileRecording.bytes))
    let bytes = ChromeTraceWriter.render(timeline)
    #expect(!bytes.contains { $0 < 0x20 && $0 != 0x0a }, "a raw control byte in the JSON")
    let (_, events) = try parse(bytes)
    let name = try #require(
      events.first { $0["name"] as? String == "process_name" }.flatMap { args($0)["name"] as? String })
    // The escapes come back; invalid bytes became U+FFFD, one per bad byte.
    #expect(name == "ev\"il\\\u{1b}[2J\u{07}\n\u{85}\u{202e}\u{FFFD}\u{FFFD}\u{01}\u{7f}\u{FFFD}")
    let exec = try #require(events.first { ($0["name"] as? String)?.hasPrefix("exec ") == true })
    #expect(args(exec)["exe"] as? String == "/tmp/\u{1b}]0;pwned\u{07}")
    #expect(events.contains { $0["name"] as? String == "socket AF_\u{1b}INET SOCK_STREAM" })
  }

  @Test func anEmptyTimelineIsAnEmptyTrace() throws {
    let timeline = TimelineBuilder.build(
      try RecordingReader.parse(RecordingLines.recording([RecordingLines.start(), RecordingLines.end(ts: 5)])))
    let (root, events) = try parse(ChromeTraceWriter.render(timeline))
    #expect(events.isEmpty)
    #expect(root["displayTimeUnit"] as? String == "ns")
  }
}
