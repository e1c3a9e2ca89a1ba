import Testing

@testable import SocktraceCore

/// `socktrace timeline` without `--all`: processes that made no socket go,
/// unless a descendant made one (the tree still reads).
@Suite struct TimelineHidingTests {
  typealias L = RecordingLines
  static let t0 = RecordingLines.t0
  static let ms = RecordingLines.ms

  @Test func socketlessProcessesAreHiddenButAncestorsStay() throws {
    let t0 = Self.t0
    let ms = Self.ms
    let lines = [
      L.start(),
      L.exec(ts: t0 + 1 * ms, pid: 10, ppid: 1, comm: "sh", exe: "/bin/sh", argv: ["sh"]),
      L.fork(ts: t0 + 2 * ms, pid: 10, comm: "sh", child: 11),  // a shim that makes no socket
      L.fork(ts: t0 + 3 * ms, pid: 10, comm: "sh", child: 12),  // a shim whose child makes one
      L.exit(ts: t0 + 4 * ms, pid: 11, ppid: 10, comm: "shim"),
      L.fork(ts: t0 + 5 * ms, pid: 12, ppid: 10, comm: "shim", child: 13),
      L.socket(ts: t0 + 6 * ms, pid: 13, ppid: 12, comm: "python"),
      L.exit(ts: t0 + 7 * ms, pid: 13, ppid: 12, comm: "python"),
      L.end(ts: t0 + 9 * ms),
    ]
    let timeline = TimelineBuilder.build(try RecordingReader.parse(L.recording(lines)))
    #expect(timeline.processes.count == 4)
    let (kept, hidden) = timeline.withoutSocketlessProcesses()
    #expect(hidden == 1)
    #expect(kept.processes.map(\.pid).sorted() == [10, 12, 13])
    #expect(kept.roots.map { kept.processes[$0].pid } == [10])
    let text = TimelineText.render(kept)
    #expect(!text.contains("pid 11 "))
    #expect(text.contains("pid 13 "))
    // Nothing made a socket: nothing is kept.
    let none = TimelineBuilder.build(
      try RecordingReader.parse(L.recording(Array(lines.prefix(6)) + [L.end(ts: t0 + 9 * ms)])))
    #expect(none.withoutSocketlessProcesses().timeline.processes.isEmpty)
  }
}
