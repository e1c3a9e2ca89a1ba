import Testing

@testable import SocktraceCore

/// A recording whose process names are hostile: quotes, backslashes, escape
/// sequences, control characters and C1/bidi characters as JSON escapes, and
/// raw invalid UTF-8 plus raw control bytes straight in the string.
enum HostileRecording {
  typealias L = RecordingLines
  static let escaped = #"ev\"il\\\u001b[2J\u0007\n\u0085\u202eRAW"#
  static let raw: [UInt8] = [0xff, 0xfe, 0x01, 0x7f, 0xc3]
  /// What `comm` decodes to: the escapes resolved, the raw bytes as they are.
  static let comm: [UInt8] = Array("ev\"il\\\u{1b}[2J\u{07}\n\u{85}\u{202e}".utf8) + raw

  static var bytes: [UInt8] {
    let text = RecordingLines.recording([
      L.start(),
      L.exec(
        ts: L.t0 + 1, pid: 66, ppid: 1, comm: escaped, exe: #"/tmp/\u001b]0;pwned\u0007"#,
        argv: [#"a\nb"#, "x y", ""]),
      L.socket(ts: L.t0 + 2, pid: 66, tid: 67, comm: escaped, family: #""AF_\u001bINET""#, inode: 9),
      L.exit(ts: L.t0 + 3, pid: 66, comm: escaped, code: 0, signal: 9),
      L.end(ts: L.t0 + 4),
    ])
    // Splice the raw bytes in where RAW stands.
    var out: [UInt8] = []
    var index = text.startIndex
    let marker = Array("RAW".utf8)
    while index < text.endIndex {
      if text[index...].starts(with: marker) {
        out += raw
        index += marker.count
      } else {
        out.append(text[index])
        index += 1
      }
    }
    return out
  }
}

@Suite struct TimelineTextTests {
  let ms = RecordingLines.ms

  func render(_ timeline: Timeline) -> [String] {
    TimelineText.render(timeline).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
  }

  @Test func eachProcessOnceChildrenIndentedSocketsInOrder() throws {
    let lines = render(try TimelineScenario.timeline())
    #expect(lines[0].hasPrefix("recording: probe fentry, kernel 6.18.44-fc-v595, host vm, 10.000ms; 3 processes"))
    #expect(lines[0].hasSuffix("6 socket births (1 failed)"))
    let headers = lines.filter { $0.trimmingPrefix(while: { $0 == " " }).hasPrefix("pid ") }
    #expect(headers.count == 3)
    #expect(headers[0].hasPrefix("pid 100  ppid 1  comm sh  exe /bin/sh  start 2026-11-22T"))
    #expect(headers[0].hasSuffix("(exec)  still running at end"))
    #expect(headers[1].hasPrefix("  pid 101  ppid 100  comm curl  exe /usr/bin/curl  start "))
    #expect(headers[1].hasSuffix("(fork)  end +4.000ms  exit 0"))
    #expect(headers[2].hasPrefix("pid 200  ppid 1  comm dnsd-worker  exe -  "))
    #expect(headers[2].contains("(first seen)"))

    // The parent's events come before the child's block, the child's between it and the next root.
    let curl = try #require(lines.firstIndex(of: headers[1]))
    let dnsd = try #require(lines.firstIndex(of: headers[2]))
    let block = Array(lines[curl..<dnsd])
    let order = ["inode 5002", "EAFNOSUPPORT", "inode 5003"].map { needle in
      block.firstIndex { $0.contains(needle) } ?? -1
    }
    #expect(order[0] > 0 && order[0] < order[1] && order[1] < order[2], "\(block)")
    #expect(block.allSatisfy { $0.isEmpty || $0.hasPrefix("  ") })
    #expect(lines.filter { $0.contains("inode 5002") }.count == 1)
  }

  @Test func socketLinesCarryTimesStagesLifetimesAndErrors() throws {
    let lines = render(try TimelineScenario.timeline())
    func line(_ needle: String) throws -> String { try #require(lines.first { $0.contains(needle) }) }

    let released = try line("inode 5002")
    #expect(released.hasPrefix("       +1.000ms  socket      AF_INET SOCK_STREAM IPPROTO_TCP  flags SOCK_CLOEXEC"))
    #expect(released.contains("fd 3  inode 5002  took 17.473us (sock_create 9.000us, sock_map_fd 6.000us)"))
    #expect(released.hasSuffix("lived 2.000ms (released)"))

    let failed = try line("EAFNOSUPPORT")
    #expect(failed.contains("+1.500ms  socket      AF_INET6 SOCK_STREAM IPPROTO_TCP"))
    #expect(failed.hasSuffix("took 2.605us (sock_create 2.011us)  FAILED EAFNOSUPPORT in sock_create"))
    #expect(!failed.contains("fd "))
    #expect(!failed.contains("lived"))

    let pair = try line("inode 5003")
    #expect(pair.contains("socketpair  AF_UNIX SOCK_STREAM 0"))
    #expect(pair.contains("fd 4  inode 5003"))
    #expect(
      pair.contains(
        "lived 2.200ms (released)  peer fd 5 inode 5004 lived 2.000ms (until process exit; no release seen)"))

    #expect(try line("inode 5005").hasSuffix("open at end (2.000ms so far)"))
    #expect(try line("inode 6001").contains("tid 201"))
    #expect(try line("fork").hasSuffix("+2.000ms  fork        child pid 101"))
    #expect(try line("exec ").contains("+0.500ms  exec        /usr/bin/curl  argv: curl x"))
    #expect(try line("  argv: sh -c").hasSuffix("argv: sh -c \"curl x\""))
  }

  @Test func acceptAndKernelSocketsSayWhatTheyAre() throws {
    typealias L = RecordingLines
    let timeline = TimelineBuilder.build(
      try RecordingReader.parse(
        L.recording([
          L.socket("accept", ts: L.t0 + 1 * ms, pid: 9, comm: "nginx", fd: 6, inode: 31, listen: (3, 30)),
          L.socket(
            ts: L.t0 + 2 * ms, pid: 9, tid: 12, comm: "kworker", family: #""AF_NETLINK""#, fd: nil, inode: 32,
            kernel: true),
          L.exit(ts: L.t0 + 3 * ms, pid: 9, comm: "nginx", code: 2),
        ])))
    let text = TimelineText.render(timeline)
    #expect(
      text.contains(
        "+0.000ms  accept      AF_INET SOCK_STREAM IPPROTO_TCP  flags SOCK_CLOEXEC  fd 6  inode 31  listener fd 3 inode 30  took"
      ))
    #expect(
      text.contains(
        "socket      AF_NETLINK SOCK_STREAM IPPROTO_TCP  flags SOCK_CLOEXEC  tid 12  kernel  inode 32  took"))
    #expect(text.contains("lived 2.000ms (until process exit; no release seen)"))
    #expect(text.contains("end +2.000ms  exit 2"))
  }

  @Test func pidSelectsOneProcessAndTreeAddsDescendants() throws {
    let timeline = try TimelineScenario.timeline()
    let alone = render(timeline.selecting(pid: 101, descendants: false))
    let aloneHeaders = alone.filter { $0.contains("  ppid ") }
    #expect(aloneHeaders.count == 1)
    #expect(aloneHeaders[0].hasPrefix("pid 101  ppid 100"))  // a root now: not indented
    #expect(alone.contains { $0.contains("inode 5002") })
    #expect(!alone.contains { $0.contains("inode 5001") })

    let parentOnly = render(timeline.selecting(pid: 100, descendants: false))
    #expect(parentOnly.filter { $0.contains("  ppid ") }.count == 1)
    #expect(!parentOnly.contains { $0.contains("inode 5002") })

    let tree = render(timeline.selecting(pid: 100, descendants: true))
    let treeHeaders = tree.filter { $0.contains("  ppid ") }
    #expect(treeHeaders.count == 2)
    #expect(treeHeaders[0].hasPrefix("pid 100 "))
    #expect(treeHeaders[1].hasPrefix("  pid 101 "))
    #expect(!tree.contains { $0.contains("pid 200") })
  }

  @Test func theLiveTracersEntryPointRendersTheSameText() throws {
    let text = try TimelineText.render(recording: TimelineScenario.bytes)
    #expect(text == TimelineText.render(try TimelineScenario.timeline()))
    #expect(throws: RecordingError.malformed(source: "recording", line: 1, reason: "not a JSON object")) {
      try TimelineText.render(recording: Array("nope\n".utf8))
    }
  }

  @Test func aRecordingCutOffByAKilledTracerStillRenders() throws {
    typealias L = RecordingLines
    var bytes = L.recording([
      L.start(), L.socket(ts: L.t0 + 1 * ms, pid: 5, inode: 11),
      L.release(ts: L.t0 + 2 * ms, pid: 5, inode: 11, how: "close"),
    ])
    bytes += Array(L.socket(ts: L.t0 + 3 * ms, pid: 5, inode: 12).utf8.prefix(200))
    let recording = try RecordingReader.parse(bytes)
    #expect(recording.warnings == [.cutOffLastLine(line: 4)])
    let text = TimelineText.render(TimelineBuilder.build(recording))
    #expect(
      text.contains(
        "inode 11  took 17.473us (sock_create 9.000us, sock_map_fd 6.000us)  lived 1.000ms (released at close)"))
    #expect(!text.contains("inode 12"))
  }

  @Test func hostileNamesAreEscapedNotPrinted() throws {
    let timeline = TimelineBuilder.build(try RecordingReader.parse(HostileRecording.bytes))
    #expect(timeline.processes.first?.comm == HostileRecording.comm)
    let text = TimelineText.render(timeline)
    for scalar in text.unicodeScalars {
      let value = scalar.value
      let allowed = value == 0x0a || (0x20..<0x7f).contains(value) || scalar == "…"
      #expect(allowed, "raw U+\(String(value, radix: 16)) in the text view")
    }
    #expect(
      text.contains(
        #"comm ev"il\x5c\x1b[2J\x07\x0a\xc2\x85\xe2\x80\xae\xff\xfe\x01\x7f\xc3  exe /tmp/\x1b]0;pwned\x07"#))
    #expect(text.contains(#"argv: a\x0ab "x y" """#))
    #expect(text.contains(#"AF_\x1bINET"#))
    #expect(text.contains("killed by SIGKILL"))
    #expect(text.contains("tid 67"))
  }

  @Test func formatsAreExact() {
    #expect(TimelineText.relative(12_345_678) == "+12.345ms")
    #expect(TimelineText.relative(-3_000) == "-0.003ms")
    #expect(TimelineText.relative(0) == "+0.000ms")
    #expect(TimelineText.duration(721) == "0.721us")
    #expect(TimelineText.duration(17_473) == "17.473us")
    #expect(TimelineText.duration(72_495_001) == "72.495ms")
    #expect(TimelineText.duration(2_520_878_985) == "2.520s")
    #expect(TimelineText.signalName(15) == "SIGTERM")
    #expect(TimelineText.signalName(64) == "signal 64")
  }
}

/// What each socket became, on its line: calls in the order they were made
/// (a handshake that ended inside connect(2) has the earlier ts_ns), hostile
/// addresses escaped for the terminal, calls on a socket born before the
/// recording as lines of their own.
@Suite struct TimelineStoryTests {
  typealias L = RecordingLines
  let t0 = RecordingLines.t0

  @Test func aSocketsLifeReadsAsOneLine() throws {
    let bytes = L.recording([
      L.start(probe: "tracepoint"),
      L.socket(ts: t0 + 1_000, pid: 7, fd: 5, inode: 42, stages: nil),
      // The connect entered at t0+2000 and returned at t0+9000; its handshake ended at t0+8000.
      L.connectResult(ts: t0 + 8_000, pid: 7, inode: 42, error: "ECONNREFUSED", duration: 6_000),
      L.call(
        "connect", ts: t0 + 9_000, pid: 7, inode: 42, fd: 5, address: #"/tmp/\u001b[2Jx"#, error: "EINPROGRESS",
        duration: 7_000),
      L.call("shutdown", ts: t0 + 10_000, pid: 7, inode: 42, fd: 5, duration: 500),
      L.release(ts: t0 + 12_000, pid: 7, inode: 42, how: "close"),
      L.call("bind", ts: t0 + 13_000, pid: 7, inode: 99, fd: 9, address: "127.0.0.1:80", port: 80, bornBefore: true),
      L.end(ts: t0 + 20_000),
    ])
    let text = try TimelineText.render(recording: bytes)
    let story = try #require(text.split(separator: "\n").first { $0.contains("inode 42") })
    #expect(
      story.hasSuffix(
        #"→ connect /tmp/\x1b[2Jx EINPROGRESS → failed ECONNREFUSED after 6.000us → shutdown SHUT_WR ok 0.500us"#
          + " → lived 11.000us (released at close)"), "\(story)")
    #expect(!text.utf8.contains(0x1b), "a raw escape reached the terminal")
    let orphan = try #require(text.split(separator: "\n").first { $0.contains("inode 99") })
    #expect(orphan.contains("bind        127.0.0.1:80 ok 10.000us  fd 9  inode 99  (socket born before tracing)"))
  }
}
