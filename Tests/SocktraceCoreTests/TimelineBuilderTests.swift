import Testing

@testable import SocktraceCore

/// A small family of processes, shared by the timeline, text and Chrome tests:
///
///     sh (100, exec at +1ms)              socket 5001 at +2ms, forks 101 at +3ms,
///     │                                   socket 5005 at +8ms (never released: open at end)
///     └─ curl (101, fork at +3ms, exec at +3.5ms)
///          socket 5002 at +4ms (released at +6ms), AF_INET6 fails at +4.5ms in sock_create,
///          socketpair 5003/5004 at +5ms, exits at +7ms;
///          5003 released at +7.2ms (after the exit), 5004 never (ends at the exit)
///     dnsd (200, running before tracing: first record at +2.5ms) socket 6001, thread 201
///
/// Lines are written out of time order, as several CPUs would.
enum TimelineScenario {
  typealias L = RecordingLines
  static let t0 = RecordingLines.t0
  static let ms = RecordingLines.ms
  static let us: UInt64 = 1_000

  static var lines: [String] {
    [
      L.start(ts: t0),
      L.exec(ts: t0 + 1 * ms, pid: 100, ppid: 1, comm: "sh", exe: "/bin/sh", argv: ["sh", "-c", "curl x"]),
      L.socket(ts: t0 + 2 * ms, pid: 100, comm: "sh", fd: 3, inode: 5001),
      L.socket(ts: t0 + 2 * ms + 500 * us, pid: 200, tid: 201, comm: "dnsd-worker", fd: 7, inode: 6001),
      L.fork(ts: t0 + 3 * ms, pid: 100, comm: "sh", child: 101),
      L.socket(ts: t0 + 4 * ms, pid: 101, ppid: 100, fd: 3, inode: 5002),  // written before the exec, later by ts
      L.exec(ts: t0 + 3 * ms + 500 * us, pid: 101, ppid: 100, comm: "curl", exe: "/usr/bin/curl", argv: ["curl", "x"]),
      L.socket(
        ts: t0 + 4 * ms + 500 * us, pid: 101, ppid: 100, family: #""AF_INET6""#, fd: nil, inode: nil,
        error: "EAFNOSUPPORT", failedStage: "sock_create", duration: 2_605, stages: (2_011, 0)),
      L.socket(
        "socketpair", ts: t0 + 5 * ms, pid: 101, ppid: 100, family: #""AF_UNIX""#, protocol: "0", fd: 4,
        inode: 5003, peer: (5, 5004)),
      L.release(ts: t0 + 6 * ms, pid: 101, ppid: 100, inode: 5002, how: "release"),
      L.exit(ts: t0 + 7 * ms, pid: 101, ppid: 100, comm: "curl", code: 0),
      L.release(ts: t0 + 7 * ms + 200 * us, pid: 101, ppid: 100, inode: 5003, how: "release"),
      L.socket(ts: t0 + 8 * ms, pid: 100, comm: "sh", fd: 4, inode: 5005),
      L.end(ts: t0 + 10 * ms),
    ]
  }

  static var bytes: [UInt8] { RecordingLines.recording(lines) }

  static func timeline() throws -> Timeline {
    TimelineBuilder.build(try RecordingReader.parse(bytes, source: "family.jsonl"))
  }
}

@Suite struct TimelineBuilderTests {
  typealias L = RecordingLines
  let t0 = RecordingLines.t0
  let ms = RecordingLines.ms

  func only(_ pid: UInt32, in timeline: Timeline) throws -> ProcessTimeline {
    let matches = timeline.processes.filter { $0.pid == pid }
    try #require(matches.count == 1)
    return matches[0]
  }

  @Test func eachProcessOnceWithItsSocketsInOrder() throws {
    let timeline = try TimelineScenario.timeline()
    #expect(timeline.processes.map(\.pid).sorted() == [100, 101, 200])
    let curl = try only(101, in: timeline)
    #expect(curl.sockets.map(\.record.inode) == [5002, nil, 5003])
    #expect(curl.sockets.map(\.record.source) == [.socket, .socket, .socketpair])
    #expect(curl.sockets[1].record.error == "EAFNOSUPPORT")
    #expect(curl.sockets[1].lifetime == nil)
    let sh = try only(100, in: timeline)
    #expect(sh.sockets.map(\.record.inode) == [5001, 5005])
    #expect(timeline.socketCount == 6)
    #expect(timeline.failedCount == 1)
  }

  @Test func processesKnowHowTheyStartedAndEnded() throws {
    let timeline = try TimelineScenario.timeline()
    let sh = try only(100, in: timeline)
    #expect(sh.startedBy == .exec)
    #expect(sh.start == t0 + 1 * ms)
    #expect(sh.exe == Array("/bin/sh".utf8))
    #expect(sh.exit == nil)

    let curl = try only(101, in: timeline)
    #expect(curl.startedBy == .fork)
    #expect(curl.start == t0 + 3 * ms)
    #expect(curl.ppid == 100)
    #expect(curl.comm == Array("curl".utf8))  // the latest: after the exec
    #expect(curl.exe == Array("/usr/bin/curl".utf8))
    #expect(curl.argv == [Array("curl".utf8), Array("x".utf8)])
    #expect(curl.exit == ProcessExit(timestamp: t0 + 7 * ms, tid: 101, exitCode: 0, signal: 0))
    #expect(curl.offset(t0 + 4 * ms) == 1_000_000)

    let dnsd = try only(200, in: timeline)
    #expect(dnsd.startedBy == .firstRecord)
    #expect(dnsd.threads.map(\.tid) == [201])
  }

  @Test func forkRecordsBuildTheTree() throws {
    let timeline = try TimelineScenario.timeline()
    let shIndex = try #require(timeline.processes.firstIndex { $0.pid == 100 })
    let curlIndex = try #require(timeline.processes.firstIndex { $0.pid == 101 })
    let dnsdIndex = try #require(timeline.processes.firstIndex { $0.pid == 200 })
    #expect(timeline.processes[curlIndex].parent == shIndex)
    #expect(timeline.processes[shIndex].children == [curlIndex])
    #expect(timeline.roots == [shIndex, dnsdIndex])  // by start time
    let forks = timeline.processes[shIndex].events.compactMap { event -> TimelineFork? in
      if case .fork(let fork) = event { return fork }
      return nil
    }
    #expect(forks.map(\.child) == [curlIndex])
  }

  @Test func ppidLinksAChildWithoutAForkRecord() throws {
    let timeline = TimelineBuilder.build(
      try RecordingReader.parse(
        L.recording([
          L.socket(ts: t0 + 1 * ms, pid: 10, comm: "parent", inode: 1),
          L.socket(ts: t0 + 2 * ms, pid: 11, ppid: 10, comm: "child", inode: 2),
          L.socket(ts: t0 + 3 * ms, pid: 12, ppid: 99, comm: "orphan", inode: 3),
        ])))
    #expect(timeline.processes.map(\.pid) == [10, 11, 12])
    #expect(timeline.processes[1].parent == 0)
    #expect(timeline.processes[2].parent == nil)
    #expect(timeline.roots == [0, 2])
  }

  @Test func aReusedPidAfterExitIsANewProcess() throws {
    let timeline = TimelineBuilder.build(
      try RecordingReader.parse(
        L.recording([
          L.socket(ts: t0 + 1 * ms, pid: 300, comm: "first", inode: 1),
          L.exit(ts: t0 + 2 * ms, pid: 300, comm: "first", code: 1),
          L.exec(ts: t0 + 3 * ms, pid: 300, ppid: 1, comm: "second", exe: "/bin/second", argv: ["second"]),
          L.socket(ts: t0 + 4 * ms, pid: 300, comm: "second", inode: 2),
        ])))
    #expect(timeline.processes.count == 2)
    let first = timeline.processes[0]
    let second = timeline.processes[1]
    #expect(first.pid == 300 && second.pid == 300)
    #expect(first.exit?.exitCode == 1)
    #expect(first.sockets.map(\.record.inode) == [1])
    #expect(second.startedBy == .exec)
    #expect(second.start == t0 + 3 * ms)
    #expect(second.exit == nil)
    #expect(second.sockets.map(\.record.inode) == [2])
  }

  @Test func aChildsRecordsBeforeItsForkRecordStayOneProcess() throws {
    // Different CPUs: the child's first socket sorts before the fork record.
    let timeline = TimelineBuilder.build(
      try RecordingReader.parse(
        L.recording([
          L.socket(ts: t0 + 1 * ms, pid: 10, comm: "parent", inode: 1),
          L.socket(ts: t0 + 2 * ms, pid: 11, ppid: 10, comm: "child", inode: 2),
          L.fork(ts: t0 + 2 * ms + 1, pid: 10, comm: "parent", child: 11),
        ])))
    #expect(timeline.processes.count == 2)
    #expect(timeline.processes[1].startedBy == .fork)
    #expect(timeline.processes[1].start == t0 + 2 * ms)
    #expect(timeline.processes[1].parent == 0)
  }

  @Test func lifetimesEndAtReleaseElseExitElseTheEnd() throws {
    let timeline = try TimelineScenario.timeline()
    let curl = try only(101, in: timeline)
    // Released while the process lived.
    #expect(
      curl.sockets[0].lifetime
        == SocketLifetime(
          inode: 5002, birth: t0 + 4 * ms, end: t0 + 6 * ms, ending: .released(how: .release, pid: 101)))
    #expect(curl.sockets[0].lifetime?.duration == 2 * ms)
    // socketpair: one released after the exit (a release wins over the exit), one ended by the exit.
    let pair = curl.sockets[2]
    #expect(pair.lifetime?.ending == .released(how: .release, pid: 101))
    #expect(pair.lifetime?.end == t0 + 7 * ms + 200_000)
    #expect(
      pair.peerLifetime == SocketLifetime(inode: 5004, birth: t0 + 5 * ms, end: t0 + 7 * ms, ending: .processExit))
    // Never released, process still running: open at the end record.
    let sh = try only(100, in: timeline)
    #expect(
      sh.sockets[1].lifetime == SocketLifetime(inode: 5005, birth: t0 + 8 * ms, end: t0 + 10 * ms, ending: .openAtEnd))
  }

  @Test func aReleaseBySomeoneElseEndsTheSocket() throws {
    let timeline = TimelineBuilder.build(
      try RecordingReader.parse(
        L.recording([
          L.socket(ts: t0 + 1 * ms, pid: 10, comm: "parent", inode: 77),
          L.release(ts: t0 + 5 * ms, pid: 11, ppid: 10, comm: "child", inode: 77, how: "close"),
          L.release(ts: t0 + 6 * ms, pid: 11, ppid: 10, comm: "child", inode: 999, how: "close"),
        ])))
    #expect(timeline.processes.map(\.pid) == [10])  // a release never starts a process
    #expect(timeline.processes[0].sockets[0].lifetime?.ending == .released(how: .close, pid: 11))
    #expect(timeline.unmatchedReleases == 1)
  }

  @Test func aReusedInodeEndsTheSocketThatHadIt() throws {
    let timeline = TimelineBuilder.build(
      try RecordingReader.parse(
        L.recording([
          L.socket(ts: t0 + 1 * ms, pid: 10, comm: "a", inode: 42),
          L.socket(ts: t0 + 3 * ms, pid: 10, comm: "a", inode: 42),
        ])))
    let sockets = timeline.processes[0].sockets
    #expect(
      sockets[0].lifetime == SocketLifetime(inode: 42, birth: t0 + 1 * ms, end: t0 + 3 * ms, ending: .inodeReused))
    #expect(sockets[1].lifetime?.ending == .openAtEnd)
  }

  @Test func selectingAPidKeepsItAndOptionallyItsDescendants() throws {
    let timeline = try TimelineScenario.timeline()
    let alone = timeline.selecting(pid: 100, descendants: false)
    #expect(alone.processes.map(\.pid) == [100])
    #expect(alone.roots == [0])
    #expect(alone.processes[0].children.isEmpty)

    let tree = timeline.selecting(pid: 100, descendants: true)
    #expect(tree.processes.map(\.pid).sorted() == [100, 101])
    #expect(tree.roots.map { tree.processes[$0].pid } == [100])
    let child = try #require(tree.processes.firstIndex { $0.pid == 101 })
    #expect(tree.processes[child].parent.map { tree.processes[$0].pid } == 100)

    let child101 = timeline.selecting(pid: 101, descendants: true)
    #expect(child101.processes.map(\.pid) == [101])
    #expect(child101.roots == [0])
    #expect(child101.processes[0].parent == nil)

    #expect(timeline.selecting(pid: 4242, descendants: true).processes.isEmpty)
  }
}
