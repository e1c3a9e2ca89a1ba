import Foundation
import Testing

@testable import SocktraceCore

/// Issue 20: `socktrace timeline` streams a recording (a bounded reorder
/// window, the builder fed record by record, a cap per process for the
/// text, every event for Chrome). Issue 19: one path for the offline and the
/// live timelines, and a process that only used an inherited socket is shown.
@Suite struct TimelineStreamingTests {
  typealias L = RecordingLines
  let t0 = RecordingLines.t0
  let ms = RecordingLines.ms

  @Test func theWindowSortsWhatComesNearlyInOrderAndHandsOnLateRecords() {
    var window = ReorderWindow<Int>(limits: ReorderLimits(maxRecords: 4, maxNanoseconds: 1_000))
    var out: [Int] = []
    // 5 and 3 swapped, within the window; 1 comes after 4..8 left: late.
    for value in [2, 5, 3, 4, 6, 7, 8, 9, 10, 1, 11] {
      window.insert(value, timestamp: UInt64(value)) { out.append($0) }
      #expect(window.count <= 4)
    }
    window.drain { out.append($0) }
    #expect(out.count == 11)  // nothing dropped
    #expect(Array(out.filter { $0 != 1 }) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    #expect(window.late == 1)
  }

  @Test func theWindowLetsGoByTimeToo() {
    var window = ReorderWindow<Int>(limits: ReorderLimits(maxRecords: 1_000, maxNanoseconds: 10))
    var out: [Int] = []
    for value in stride(from: 0, to: 100, by: 5) { window.insert(value, timestamp: UInt64(value)) { out.append($0) } }
    #expect(window.count <= 3)  // 10 ns of records at most
    #expect(out == Array(stride(from: 0, to: 85, by: 5)))
  }

  @Test func aRecordPastTheWindowIsKeptAndReported() throws {
    var lines = [L.start()]
    for index in 0..<10 {
      lines.append(L.socket(ts: t0 + UInt64(index + 1) * ms, pid: 7, inode: 100 + UInt64(index)))
    }
    // Written long after its time: past a 4-record window.
    lines.append(L.socket(ts: t0 + ms / 2, pid: 7, inode: 99))
    lines.append(L.end(ts: t0 + 20 * ms))
    var parser = RecordingParser(source: "late", window: ReorderLimits(maxRecords: 4, maxNanoseconds: 1_000 * ms))
    var records: [RecordedEvent] = []
    try parser.feed(L.recording(lines)) { records.append($0) }
    let warnings = try parser.finish { records.append($0) }
    #expect(records.count == 13)  // start, 10 sockets, the late one, end
    #expect(warnings.contains { if case .outOfOrder(1, _) = $0 { return true } else { return false } })
    // The same lines slightly shuffled, inside the window: sorted, no warning.
    var shuffled = lines.dropLast(2).map { $0 }
    shuffled.swapAt(3, 4)
    shuffled.swapAt(7, 8)
    var second = RecordingParser(source: "shuffled", window: ReorderLimits(maxRecords: 4, maxNanoseconds: 1_000 * ms))
    var sorted: [UInt64] = []
    try second.feed(L.recording(shuffled + [L.end(ts: t0 + 20 * ms)])) { sorted.append($0.timestamp) }
    let none = try second.finish { sorted.append($0.timestamp) }
    #expect(sorted == sorted.sorted())
    #expect(!none.contains { if case .outOfOrder = $0 { return true } else { return false } })
  }

  /// 2,500 sockets in one process: the text keeps 1,000 events and counts the rest.
  func storm(sockets: Int) -> [UInt8] {
    var lines = [L.start(), L.exec(ts: t0, pid: 7, ppid: 1, comm: "storm", exe: "/storm", argv: ["storm"])]
    for index in 0..<sockets {
      let ts = t0 + UInt64(index + 1) * 10_000
      lines.append(L.socket(ts: ts, pid: 7, comm: "storm", inode: 5_000 + UInt64(index)))
      lines.append(L.release(ts: ts + 2_000, pid: 7, comm: "storm", inode: 5_000 + UInt64(index), how: "close"))
    }
    lines.append(L.exit(ts: t0 + UInt64(sockets + 2) * 10_000, pid: 7, comm: "storm"))
    lines.append(L.end(ts: t0 + UInt64(sockets + 3) * 10_000))
    return L.recording(lines)
  }

  @Test func theTextKeepsTheFirstEventsOfAProcessAndCountsTheRest() throws {
    var text = ""
    var notes: [String] = []
    _ = try TimelineRendering.render(
      bytes: storm(sockets: 2_500), source: "storm", options: TimelineRendering.Options(maxEvents: 1_000),
      notes: { notes += $0 }, write: { text += String(decoding: $0, as: UTF8.self) })
    let lines = text.split(separator: "\n")
    #expect(lines.count(where: { $0.contains("  socket      ") }) == 999)  // the exec is the first event
    #expect(text.contains("…  1501 more events not shown (1501 sockets, 0 failed)"))
    #expect(text.contains("2500 socket births (0 failed)"))
    #expect(notes.isEmpty)

    let timeline = TimelineBuilder.build(try RecordingReader.parse(storm(sockets: 2_500)), maxEventsPerProcess: 1_000)
    #expect(timeline.processes[0].events.count == 1_000)
    #expect(timeline.processes[0].hidden.sockets == 1_501)
    #expect(timeline.processes[0].socketCount == 2_500)
  }

  @Test func theChromeTraceHasEveryEventWhateverTheCap() throws {
    var bytes: [UInt8] = []
    _ = try TimelineRendering.render(
      bytes: storm(sockets: 2_500), source: "storm", options: TimelineRendering.Options(format: .chrome, maxEvents: 10),
      notes: { _ in }, write: { bytes.append(contentsOf: $0) })
    let root = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    let events = try #require(root["traceEvents"] as? [[String: Any]])
    #expect(events.count(where: { $0["ph"] as? String == "X" && $0["cat"] as? String == "socket" }) == 2_500)
    #expect(events.count(where: { $0["ph"] as? String == "e" }) == 2_500)
    #expect(events.count(where: { $0["name"] as? String == "process_name" }) == 1)
    #expect(events.count(where: { $0["name"] as? String == "exit 0" }) == 1)
  }

  @Test func chromeLeavesOutSocketlessProcessesAsTheTextDoes() throws {
    let lines = [
      L.start(),
      L.exec(ts: t0 + 1 * ms, pid: 10, ppid: 1, comm: "sh", exe: "/bin/sh", argv: ["sh"]),
      L.fork(ts: t0 + 2 * ms, pid: 10, comm: "sh", child: 11),
      L.fork(ts: t0 + 3 * ms, pid: 10, comm: "sh", child: 12),
      L.exit(ts: t0 + 4 * ms, pid: 11, ppid: 10, comm: "shim"),
      L.socket(ts: t0 + 6 * ms, pid: 12, ppid: 10, comm: "python", inode: 77),
      L.exit(ts: t0 + 7 * ms, pid: 12, ppid: 10, comm: "python"),
      L.end(ts: t0 + 9 * ms),
    ]
    var bytes: [UInt8] = []
    let outcome = try TimelineRendering.render(
      bytes: L.recording(lines), source: "sh", options: TimelineRendering.Options(format: .chrome),
      notes: { _ in }, write: { bytes.append(contentsOf: $0) })
    let root = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    let events = try #require(root["traceEvents"] as? [[String: Any]])
    let pids = Set(events.compactMap { ($0["pid"] as? NSNumber)?.intValue })
    #expect(pids == [10, 12])
    // The shell's forks waited until a child touched a socket, then were written.
    #expect(events.count(where: { ($0["name"] as? String)?.hasPrefix("fork") == true }) == 2)
    #expect(outcome.messages.contains { $0.contains("1 process that touched no socket hidden") })
  }

  /// Issue 19: a child that only uses a socket its parent made.
  func inherited() -> [UInt8] {
    L.recording([
      L.start(),
      L.exec(ts: t0 + 1 * ms, pid: 20, ppid: 1, comm: "server", exe: "/server", argv: ["server"]),
      L.socket(ts: t0 + 2 * ms, pid: 20, comm: "server", inode: 900),
      L.fork(ts: t0 + 3 * ms, pid: 20, comm: "server", child: 21),
      L.call("connect", ts: t0 + 4 * ms, pid: 21, inode: 900, address: "127.0.0.1:9", port: 9, error: "ECONNREFUSED"),
      L.exit(ts: t0 + 5 * ms, pid: 21, ppid: 20, comm: "server"),
      L.release(ts: t0 + 6 * ms, pid: 20, comm: "server", inode: 900, how: "close"),
      L.exit(ts: t0 + 7 * ms, pid: 20, comm: "server"),
      L.end(ts: t0 + 8 * ms),
    ])
  }

  @Test func aProcessThatOnlyUsedAnInheritedSocketIsShown() throws {
    var text = ""
    var notes: [String] = []
    _ = try TimelineRendering.render(
      bytes: inherited(), source: "inherited", options: TimelineRendering.Options(), notes: { notes += $0 },
      write: { text += String(decoding: $0, as: UTF8.self) })
    #expect(notes.isEmpty, "\(notes)")
    #expect(text.contains("  pid 21  ppid 20"))
    #expect(text.contains("connect     127.0.0.1:9 ECONNREFUSED  fd 3  inode 900  (socket of pid 20)"))
    // And in the socket's own story, with who made the call.
    #expect(text.contains("→ connect 127.0.0.1:9 ECONNREFUSED by pid 21 → lived 4.000ms (released at close)"))
  }

  @Test func theOnePathReadsAFileAndBytesTheSame() throws {
    let bytes = inherited() + storm(sockets: 30).dropFirst(L.start().utf8.count + 1)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("one-path-\(getpid()).jsonl").path
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    let fd = open(path, O_RDONLY)
    #expect(fd >= 0)
    defer { close(fd) }
    var fromFile = ""
    var fromBytes = ""
    _ = try TimelineRendering.render(
      fd: fd, source: "x", options: TimelineRendering.Options(), notes: { _ in },
      write: { fromFile += String(decoding: $0, as: UTF8.self) })
    _ = try TimelineRendering.render(
      bytes: bytes, source: "x", options: TimelineRendering.Options(), notes: { _ in },
      write: { fromBytes += String(decoding: $0, as: UTF8.self) })
    #expect(fromFile == fromBytes)
    #expect(fromFile.contains("pid 21") && fromFile.contains("comm storm"))
  }
}
