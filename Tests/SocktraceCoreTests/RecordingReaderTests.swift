import Glibc
import Testing

@testable import SocktraceCore

/// Recording lines in the exact schema of docs/schema.md (copied from its
/// example, with pid, ts and inode varied). `comm`, `exe` and `argv` are
/// JSON string contents, already escaped, so a test can put `\u001b` in them.
enum RecordingLines {
  /// A boot-clock instant to build from.
  static let t0: UInt64 = 1_024_000_000_000
  static let ms: UInt64 = 1_000_000

  static func start(ts: UInt64 = t0, probe: String = "fentry") -> String {
    #"{"event":"start","time":"2026-11-22T03:35:53.124284405Z","ts_ns":"\#(ts)","schema":2,"version":"0.1.0","kernel":"6.18.44-fc-v595","host":"vm","boot_offset_ns":"1795317530110570692","probe":"\#(probe)","hooks":[{"hook":"__sys_socket","probe":"fentry","how":"fexit/__sys_socket"}],"pids":[],"follow":false}"#
  }

  static func end(ts: UInt64, lost: Int = 0) -> String {
    #"{"event":"end","time":"2026-11-22T03:35:55.645164502Z","ts_ns":"\#(ts)","events":338,"sockets":79,"failed":4,"lost":\#(lost),"decode_errors":0,"duration_ns":"2520878985"}"#
  }

  static func header(_ event: String, ts: UInt64, pid: UInt32, tid: UInt32? = nil, ppid: UInt32, comm: String)
    -> String
  {
    #"{"event":"\#(event)","time":"2026-11-22T03:35:54.505419830Z","ts_ns":"\#(ts)","pid":\#(pid),"tid":\#(tid ?? pid),"ppid":\#(ppid),"uid":0,"gid":0,"comm":"\#(comm)","cgroup_id":"1","netns":4026531833"#
  }

  static func socket(
    _ event: String = "socket", ts: UInt64, pid: UInt32, tid: UInt32? = nil, ppid: UInt32 = 1, comm: String = "curl",
    family: String = #""AF_INET""#, type: String = #""SOCK_STREAM""#, protocol: String = #""IPPROTO_TCP""#,
    fd: Int? = 3, inode: UInt64? = 1_148_662, peer: (fd: Int, inode: UInt64)? = nil,
    listen: (fd: Int, inode: UInt64)? = nil, error: String? = nil,
    failedStage: String? = nil, duration: UInt64 = 17_473, stages: (UInt64, UInt64)? = (9_000, 6_000),
    kernel: Bool = false
  ) -> String {
    var line = header(event, ts: ts, pid: pid, tid: tid, ppid: ppid, comm: comm)
    line += #","family":\#(family),"family_num":2,"type":\#(type),"type_num":1,"flags":["SOCK_CLOEXEC"]"#
    line += #","protocol":\#(`protocol`),"protocol_num":6,"requested_protocol_num":0,"kernel":\#(kernel)"#
    line += #","fd":\#(fd.map(String.init) ?? "null"),"inode":\#(inode.map { "\"\($0)\"" } ?? "null")"#
    if event == "socketpair" {
      line += #","peer_fd":\#(peer.map { String($0.fd) } ?? "null")"#
      line += #","peer_inode":\#(peer.map { "\"\($0.inode)\"" } ?? "null")"#
    }
    if event == "accept" {
      line += #","listen_fd":\#(listen.map { String($0.fd) } ?? "null")"#
      line += #","listen_inode":\#(listen.map { "\"\($0.inode)\"" } ?? "null")"#
    }
    if let error {
      line += #","ret":-97,"errno":97,"error":"\#(error)""#
    } else {
      line += #","ret":\#(fd ?? 0),"errno":0,"error":null"#
    }
    line += #","failed_stage":\#(failedStage.map { "\"\($0)\"" } ?? "null"),"duration_ns":"\#(duration)""#
    if let stages {
      line += #","stages":{"sock_create_ns":"\#(stages.0)","sock_map_fd_ns":"\#(stages.1)"},"probe":"fentry"}"#
    } else {
      line += #","stages":null,"probe":"tracepoint"}"#
    }
    return line
  }

  static func release(ts: UInt64, pid: UInt32, ppid: UInt32 = 1, comm: String = "curl", inode: UInt64, how: String)
    -> String
  {
    header("release", ts: ts, pid: pid, ppid: ppid, comm: comm)
      + #","inode":"\#(inode)","family":"AF_INET","family_num":2,"how":"\#(how)"}"#
  }

  static func fork(ts: UInt64, pid: UInt32, ppid: UInt32 = 1, comm: String, child: UInt32) -> String {
    header("fork", ts: ts, pid: pid, ppid: ppid, comm: comm) + #","child_pid":\#(child),"child_tid":\#(child)}"#
  }

  static func exec(ts: UInt64, pid: UInt32, ppid: UInt32, comm: String, exe: String, argv: [String]) -> String {
    let list = argv.map { "\"\($0)\"" }.joined(separator: ",")
    return header("exec", ts: ts, pid: pid, ppid: ppid, comm: comm)
      + #","exe":"\#(exe)","argv":[\#(list)],"argv_truncated":false,"from_proc":false}"#
  }

  static func exit(ts: UInt64, pid: UInt32, ppid: UInt32 = 1, comm: String, code: Int = 0, signal: Int = 0) -> String {
    header("exit", ts: ts, pid: pid, ppid: ppid, comm: comm) + #","exit_code":\#(code),"signal":\#(signal)}"#
  }

  /// bind/connect/listen/shutdown; `address` already escaped.
  static func call(
    _ event: String, ts: UInt64, pid: UInt32, inode: UInt64?, fd: Int = 3, address: String? = nil,
    port: Int? = nil, error: String? = nil, duration: UInt64 = 10_000, bornBefore: Bool = false
  ) -> String {
    var line = header(event, ts: ts, pid: pid, ppid: 1, comm: "curl")
    line += #","fd":\#(fd),"inode":\#(inode.map { "\"\($0)\"" } ?? "null"),"born_before_trace":\#(bornBefore)"#
    line += #","family":"AF_INET","family_num":2,"type":"SOCK_STREAM","type_num":1"#
    switch event {
    case "listen": line += #","backlog":16"#
    case "shutdown": line += #","how":"SHUT_WR","how_num":1"#
    default:
      line += #","address":\#(address.map { "\"\($0)\"" } ?? "null"),"port":\#(port.map(String.init) ?? "null")"#
    }
    line += error.map { #","ret":-115,"errno":115,"error":"\#($0)""# } ?? #","ret":0,"errno":0,"error":null"#
    return line + #","duration_ns":"\#(duration)"}"#
  }

  static func connectResult(ts: UInt64, pid: UInt32, inode: UInt64, error: String?, duration: UInt64) -> String {
    header("connect_result", ts: ts, pid: pid, ppid: 1, comm: "curl")
      + #","inode":"\#(inode)","result":"\#(error == nil ? "established" : "failed")","errno":\#(error == nil ? 0 : 111)"#
      + #","error":\#(error.map { "\"\($0)\"" } ?? "null"),"duration_ns":"\#(duration)"}"#
  }

  static func recording(_ lines: [String]) -> [UInt8] {
    Array(lines.map { $0 + "\n" }.joined().utf8)
  }
}

@Suite struct RecordingReaderTests {
  typealias L = RecordingLines
  let t0 = RecordingLines.t0
  let ms = RecordingLines.ms

  @Test func readsEveryKindOfTheSchemaExample() throws {
    let recording = try RecordingReader.parse(
      L.recording([
        L.start(),
        L.exec(ts: t0 + 1 * ms, pid: 8549, ppid: 8543, comm: "socktrace-workl", exe: "/w", argv: ["/w", "a b"]),
        L.socket(ts: t0 + 2 * ms, pid: 8549, fd: 3, inode: 1_148_662),
        L.socket("socketpair", ts: t0 + 3 * ms, pid: 8549, fd: 4, inode: 7, peer: (5, 8)),
        L.release(ts: t0 + 4 * ms, pid: 8549, inode: 1_148_662, how: "close"),
        L.fork(ts: t0 + 5 * ms, pid: 8549, comm: "w", child: 8550),
        L.exit(ts: t0 + 6 * ms, pid: 8549, comm: "w", code: 3, signal: 0),
        L.end(ts: t0 + 7 * ms),
      ]), source: "events.jsonl")
    #expect(recording.records.count == 8)
    #expect(recording.warnings.isEmpty)
    #expect(recording.start?.bootOffset == 1_795_317_530_110_570_692)
    #expect(recording.end?.timestamp == t0 + 7 * ms)
    guard case .exec(let exec) = recording.records[1] else {
      Issue.record("expected exec, got \(recording.records[1])")
      return
    }
    #expect(exec.argv == [Array("/w".utf8), Array("a b".utf8)])
    #expect(exec.header.line == 2)
    guard case .socket(let socket) = recording.records[2] else {
      Issue.record("expected socket, got \(recording.records[2])")
      return
    }
    #expect(socket.family == "AF_INET")
    #expect(socket.inode == 1_148_662)
    #expect(socket.stages == RecordedStages(sockCreate: 9_000, sockMapFD: 6_000))
    #expect(socket.succeeded)
    guard case .socket(let pair) = recording.records[3] else {
      Issue.record("expected socketpair, got \(recording.records[3])")
      return
    }
    #expect(pair.source == .socketpair)
    #expect(pair.peerFD == 5)
    #expect(pair.peerInode == 8)
    guard case .exit(let exit) = recording.records[6] else {
      Issue.record("expected exit, got \(recording.records[6])")
      return
    }
    #expect(exit.exitCode == 3)
  }

  /// Schema 1 (numbers for 64-bit values, bare numbers for unnamed values)
  /// still reads: a line from the first docs/schema.md, verbatim.
  @Test func aSchemaOneRecordingReads() throws {
    let example = [
      #"{"event":"socket","time":"2026-11-22T03:35:54.508162128Z","ts_ns":1024397591436,"pid":8549,"tid":8549,"ppid":8543,"uid":0,"gid":0,"comm":"socktrace-workl","cgroup_id":1,"netns":4026531833,"family":255,"family_num":255,"type":"SOCK_STREAM","type_num":1,"flags":[],"protocol":0,"protocol_num":0,"requested_protocol_num":0,"kernel":false,"fd":null,"inode":null,"ret":-97,"errno":97,"error":"EAFNOSUPPORT","failed_stage":null,"duration_ns":721,"stages":null,"probe":"tracepoint"}"#
    ]
    let recording = try RecordingReader.parse(L.recording(example))
    guard case .socket(let socket) = try #require(recording.records.first) else {
      Issue.record("not a socket")
      return
    }
    #expect(socket.family == "255")
    #expect(socket.protocol == "0")
    #expect(socket.error == "EAFNOSUPPORT")
    #expect(socket.errno == 97)
    #expect(!socket.succeeded)
    #expect(socket.fd == nil)
    #expect(socket.stages == nil)
  }

  @Test func aGarbageLineIsAnErrorNamingTheLine() {
    let bytes = L.recording([L.start(), L.socket(ts: t0 + 1, pid: 5), "hello, world", L.end(ts: t0 + 9)])
    #expect(throws: RecordingError.malformed(source: "events.jsonl", line: 3, reason: "not a JSON object")) {
      try RecordingReader.parse(bytes, source: "events.jsonl")
    }
    let error = RecordingError.malformed(source: "events.jsonl", line: 3, reason: "not a JSON object")
    #expect(error.description == "events.jsonl:3: not a JSON object")
  }

  @Test(arguments: [
    (#"{"event":"socket",}"#, "invalid JSON at column 19"),
    ("[1,2,3]", "not a JSON object"),
    (#"{"event":"socket"} trailing"#, "after the value"),
    (#"{"event":7}"#, #""event" is not a string"#),
    (#"{"ts_ns":1}"#, #""event" is missing"#),
  ])
  func malformedLinesSayWhatIsWrong(line: String, expected: String) throws {
    let bytes = L.recording([L.start(), line, L.end(ts: t0 + 9)])
    do {
      _ = try RecordingReader.parse(bytes, source: "r.jsonl")
      Issue.record("\(line) was accepted")
    } catch {
      let text = error.description
      #expect(text.hasPrefix("r.jsonl:2: "), "\(text)")
      #expect(text.contains(expected), "\(text)")
      #expect(!text.contains("\n"))
    }
  }

  @Test func aRecordMissingARequiredFieldNamesIt() {
    let line = L.socket(ts: t0 + 1, pid: 5).replacing(#","pid":5"#, with: "")
    #expect(throws: RecordingError.malformed(source: "recording", line: 1, reason: #""pid" is missing"#)) {
      try RecordingReader.parse(L.recording([line]))
    }
  }

  @Test func aCutOffLastLineIsDroppedWithAWarning() throws {
    let whole = L.recording([L.start(), L.socket(ts: t0 + 1 * ms, pid: 5, inode: 11)])
    let last = L.socket(ts: t0 + 2 * ms, pid: 5, inode: 12)
    for cut in [1, 40, last.utf8.count / 2, last.utf8.count - 1] {
      let bytes = whole + Array(last.utf8.prefix(cut))
      let recording = try RecordingReader.parse(bytes, source: "events.jsonl")
      #expect(recording.records.count == 2, "cut at \(cut)")
      #expect(recording.warnings == [.cutOffLastLine(line: 3)], "cut at \(cut)")
      #expect(RecordingWarning.cutOffLastLine(line: 3).description == "last line (3) is cut off; ignored")
    }
  }

  @Test func aCutOffLineBeforeOtherLinesIsAnError() {
    let cut = String(L.socket(ts: t0 + 1, pid: 5).prefix(60))
    let bytes = L.recording([L.start(), cut, L.end(ts: t0 + 9)])
    do {
      _ = try RecordingReader.parse(bytes, source: "events.jsonl")
      Issue.record("a cut line in the middle was accepted")
    } catch {
      #expect(error.description.hasPrefix("events.jsonl:2: invalid JSON"), "\(error)")
    }
  }

  @Test func aLastLineWithoutNewlineButWholeIsKept() throws {
    var bytes = L.recording([L.start()])
    bytes += Array(L.end(ts: t0 + 5).utf8)  // no trailing newline
    let recording = try RecordingReader.parse(bytes)
    #expect(recording.records.count == 2)
    #expect(recording.warnings.isEmpty)
  }

  @Test(arguments: ["", "\n", "\n  \n\t\n"])
  func anEmptyRecordingIsAnError(text: String) {
    #expect(throws: RecordingError.empty(source: "events.jsonl")) {
      try RecordingReader.parse(Array(text.utf8), source: "events.jsonl")
    }
  }

  @Test func aRecordingWhoseOnlyLineIsCutOffIsEmpty() {
    #expect(throws: RecordingError.empty(source: "recording")) {
      try RecordingReader.parse(Array(L.start().utf8.prefix(30)))
    }
  }

  @Test func unknownKindsAreIgnoredAndCounted() throws {
    let bytes = L.recording([
      L.start(),
      #"{"event":"frobnicate","ts_ns":5,"pid":1}"#,
      L.socket(ts: t0 + 1, pid: 5),
      #"{"event":"zap"}"#,
      #"{"event":"frobnicate","whatever":[1,{"a":null}]}"#,
      L.end(ts: t0 + 9),
    ])
    let recording = try RecordingReader.parse(bytes)
    #expect(recording.records.count == 3)
    let expected = RecordingWarning.unknownKinds([
      .init(name: Array("frobnicate".utf8), count: 2), .init(name: Array("zap".utf8), count: 1),
    ])
    #expect(recording.warnings == [expected])
    #expect(expected.description == #"ignored 3 records of unknown kind: "frobnicate" ×2, "zap" ×1"#)
  }

  @Test func recordsAreStablySortedByTimestamp() throws {
    // Written from several CPUs: out of order, and two with the same ts.
    let bytes = L.recording([
      L.start(ts: t0),
      L.socket(ts: t0 + 30, pid: 1, inode: 3),
      L.socket(ts: t0 + 10, pid: 1, inode: 1),
      L.socket(ts: t0 + 20, pid: 1, inode: 21),
      L.socket(ts: t0 + 20, pid: 1, inode: 22),
      L.end(ts: t0 + 40),
    ])
    let recording = try RecordingReader.parse(bytes)
    let inodes = recording.records.compactMap { record -> UInt64? in
      if case .socket(let socket) = record { return socket.inode }
      return nil
    }
    #expect(inodes == [1, 21, 22, 3])
  }

  @Test func lostRecordsAndAMissingEndAreWarnings() throws {
    let lossy = try RecordingReader.parse(L.recording([L.start(), L.end(ts: t0 + 1, lost: 12)]))
    #expect(lossy.warnings == [.incomplete(lost: 12, decodeErrors: 0)])
    let unended = try RecordingReader.parse(L.recording([L.start(), L.socket(ts: t0 + 1, pid: 1)]))
    #expect(unended.warnings == [.noEndRecord])
  }

  @Test func feedingByteByByteMatchesParsingAtOnce() throws {
    let bytes = L.recording([
      L.start(), L.socket(ts: t0 + 1, pid: 5), "", L.release(ts: t0 + 2, pid: 5, inode: 1_148_662, how: "release"),
      L.end(ts: t0 + 3),
    ])
    var parser = RecordingParser(source: "x")
    for byte in bytes { try parser.feed([byte]) }
    let fed = try parser.finish()
    #expect(fed == (try RecordingReader.parse(bytes, source: "x")))
    #expect(fed.records.count == 4)
  }

  @Test func readsAFileAndReportsAMissingOne() throws {
    let path = "/tmp/socktrace-reader-test-\(getpid()).jsonl"
    let bytes = L.recording([L.start(), L.socket(ts: t0 + 1, pid: 5), L.end(ts: t0 + 2)])
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    try #require(fd >= 0)
    defer { unlink(path) }
    #expect(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count)
    close(fd)
    let recording = try RecordingReader.read(path: path)
    #expect(recording.records.count == 3)

    #expect(throws: RecordingError.unreadable(source: path + ".missing", errno: ENOENT)) {
      try RecordingReader.read(path: path + ".missing")
    }
    #expect(RecordingError.unreadable(source: "x", errno: ENOENT).description.hasPrefix("cannot read x: "))
  }
}

@Suite struct JSONParserTests {
  func string(_ json: [UInt8]) throws -> [UInt8] {
    guard case .string(let bytes) = try JSONParser.parse(json) else {
      Issue.record("not a string")
      return []
    }
    return bytes
  }

  @Test func integersStayExact() throws {
    #expect(try JSONParser.parse(Array("18446744073709551615".utf8)) == .number(.unsigned(UInt64.max)))
    #expect(try JSONParser.parse(Array("-9223372036854775808".utf8)) == .number(.integer(Int64.min)))
    #expect(try JSONParser.parse(Array("1795317530110570692".utf8)) == .number(.integer(1_795_317_530_110_570_692)))
    #expect(try JSONParser.parse(Array("2.5e3".utf8)) == .number(.float(2500)))
  }

  @Test func escapesDecodeToUTF8() throws {
    #expect(try string(Array(#""a\"b\\c\/\n\t\u001b\u00e9""#.utf8)) == Array("a\"b\\c/\n\t\u{1b}é".utf8))
    #expect(try string(Array(#""\ud83d\ude00""#.utf8)) == Array("😀".utf8))
    #expect(try string(Array(#""\ud83dx""#.utf8)) == Array("\u{FFFD}x".utf8))  // lone surrogate
  }

  @Test func rawBytesInStringsAreKept() throws {
    // Invalid UTF-8 and a raw control byte: a foreign recording may hold them.
    let json: [UInt8] = [0x22, 0x61, 0xff, 0xfe, 0x01, 0x22]
    #expect(try string(json) == [0x61, 0xff, 0xfe, 0x01])
  }

  @Test(arguments: ["01", "-", "1.", "tru", "nul", "{\"a\" 1}", "[1 2]", "\"\\q\"", "\"\\u12g4\""])
  func badJSONIsRejected(text: String) {
    #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array(text.utf8)) }
  }

  @Test func deepNestingIsRejectedNotACrash() {
    let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
    #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array(deep.utf8)) }
  }

  @Test func inputEndingInsideAValueIsMarkedAsCutOff() throws {
    for text in [#"{"a":"#, #"{"a":"xy"#, #"{"a":[1,"#, #"{"a":tr"#, #"{"a":12"#] {
      do {
        _ = try JSONParser.parse(Array(text.utf8))
        Issue.record("\(text) parsed")
      } catch {
        #expect(error.atEnd, "\(text): \(error)")
      }
    }
  }
}

/// Issue 14: hostile sizes and repeated recordings.
@Suite struct RecordingReaderLimitsTests {
  @Test func aLineLongerThanTheCapFailsAtItsLineNumber() {
    var parser = RecordingParser(source: "big")
    let first = Array((RecordingLines.start() + "\n").utf8)
    #expect(throws: RecordingError.malformed(source: "big", line: 2, reason: "line longer than 1 MiB: not a recording"))
    {
      try parser.feed(first)
      // No newline ever: it must fail at the cap, not grow without bound.
      for _ in 0..<4 { try parser.feed([UInt8](repeating: 0, count: RecordingReader.maxLineBytes / 2)) }
    }
  }

  @Test func aRecordingConcatenatedWithItselfIsCountedOnce() throws {
    let once =
      [
        RecordingLines.start(), RecordingLines.socket(ts: RecordingLines.t0 + RecordingLines.ms, pid: 7),
        RecordingLines.end(ts: RecordingLines.t0 + 2 * RecordingLines.ms),
      ].joined(separator: "\n") + "\n"
    let single = try RecordingReader.parse(Array(once.utf8))
    let twice = try RecordingReader.parse(Array((once + once).utf8))
    #expect(twice.records == single.records)
    #expect(twice.warnings.contains(.duplicates(3)))
    #expect(!single.warnings.contains { if case .duplicates = $0 { return true } else { return false } })
  }

  @Test func lostRecordsWarnWithoutAnEndRecord() throws {
    let text =
      [
        RecordingLines.start(),
        #"{"event":"lost","time":"2026-11-22T03:35:54.505419830Z","ts_ns":"1024000500000","lost":12,"lost_total":12,"by_cause":{"ring_full":{"socket":12}}}"#,
      ].joined(separator: "\n") + "\n"
    let recording = try RecordingReader.parse(Array(text.utf8))
    #expect(recording.warnings.contains(.incomplete(lost: 12, decodeErrors: 0)))
    #expect(!recording.warnings.contains { if case .unknownKinds = $0 { return true } else { return false } })
  }
}
