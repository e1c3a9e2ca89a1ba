import CSocktrace
import Foundation
import SchemaValidation
import Testing

@testable import SocktraceCore

/// docs/schema.json and the recording reader against what the encoder
/// writes, without a kernel: every kind of record the schema defines,
/// unknown values included, validates and reads back to the values it was
/// made from (a round trip: JSONLinesEncoder → RecordingReader); a schema-1
/// line does not validate.
@Suite struct SchemaTests {
  /// Boot-clock time of the n-th kernel record: distinct and ascending, so
  /// the reader's sort by `ts_ns` keeps the order they were written in.
  static func time(_ n: UInt64) -> UInt64 { 1_000 + n }

  /// The header Fixtures gives every kernel record, at time(n), read back.
  static func readHeader(line: Int, _ n: UInt64, comm: String = "curl") -> RecordedHeader {
    RecordedHeader(line: line, timestamp: time(n), pid: 100, tid: 101, ppid: 1, comm: Array(comm.utf8))
  }

  /// One recording with a record of every kind the encoder writes, and what
  /// the reader must make of each line (nil: a line the reader only counts).
  struct Sample {
    /// The recording: every line as the encoder wrote it.
    var bytes: [UInt8] = []
    var expected: [RecordedEvent] = []
    var kinds: [String] = []
    let encoder = JSONLinesEncoder(clock: BootClock(offsetNanoseconds: 1_795_000_000_000_000_000))
    var line: Int { kinds.count }

    /// Appends what `write` encodes as one line of kind `kind`.
    mutating func write(_ kind: String, _ write: (JSONLinesEncoder, inout JSONBuffer) -> Void) {
      var out = JSONBuffer()
      write(encoder, &out)
      bytes += out.bytes
      kinds.append(kind)
    }

    mutating func add(_ event: TraceEvent, _ kind: String, _ read: (Int) -> RecordedEvent) {
      write(kind) { encoder, out in encoder.encode(event, into: &out) }
      expected.append(read(line))
    }
  }

  static func everyKind() -> Sample {
    var sample = Sample()
    sample.write("start") { encoder, out in
      encoder.encode(
        StartRecord(
          epochNanoseconds: 1_795_000_000_000_000_000, bootNanoseconds: 5, version: "0.1.0", kernel: "6.18",
          host: "vm", rung: .fentry, hooks: [AttachPlan.Hook(name: "__sock_create", rung: nil, how: "-")],
          pids: [7], follow: true, command: nil),
        into: &out)
    }
    sample.expected.append(
      .start(
        RecordedStart(
          line: 1, timestamp: 5, bootOffset: 1_795_000_000_000_000_000, version: "0.1.0", commit: BuildInfo.commit,
          kernel: "6.18", host: "vm", probe: .fentry, schema: 2, pids: [7], follow: true)))

    // socket(2): a success, a failure in a stage, a hostile command name.
    var ok = Fixtures.socket(type: 1 | 0x80000)
    ok.h.ts_ns = time(1)
    sample.add(.socket(SocketEvent(raw: ok)), "socket") { line in
      var socket = RecordedSocket(
        header: readHeader(line: line, 1), source: .socket, family: "AF_INET", type: "SOCK_STREAM",
        protocol: "IPPROTO_TCP")
      socket.flags = ["SOCK_CLOEXEC"]
      socket.fd = 3
      socket.inode = 4242
      socket.duration = 12_345
      socket.probe = .tracepoint
      return .socket(socket)
    }
    var staged = Fixtures.socket(
      family: 10, type: 2, ret: -97, bits: UInt32(ST_BIT_HAS_STAGE_INFO | ST_BIT_HAS_STAGES), probe: .fentry,
      failedStage: UInt8(ST_STAGE_SOCK_CREATE.rawValue))
    staged.h.ts_ns = time(2)
    staged.sock_create_ns = 9_000
    staged.sock_map_fd_ns = 0
    sample.add(.socket(SocketEvent(raw: staged)), "socket") { line in
      var socket = RecordedSocket(
        header: readHeader(line: line, 2), source: .socket, family: "AF_INET6", type: "SOCK_DGRAM",
        protocol: "IPPROTO_IP")
      socket.errno = 97
      socket.error = "EAFNOSUPPORT"
      socket.failedStage = .sockCreate
      socket.failure = FailureExplanation(cause: .familyUnavailable)
      socket.duration = 12_345
      socket.stages = RecordedStages(sockCreate: 9_000, sockMapFD: 0)
      socket.probe = .fentry
      return .socket(socket)
    }
    var hostile = Fixtures.socket(ret: -24, comm: Array("w\"\n\u{1}".utf8))
    hostile.h.ts_ns = time(3)
    hostile.cause_bits = UInt16(ST_CAUSE_FD_FIGURES)
    hostile.fd_limit = 16
    hostile.open_fds = 16
    sample.add(.socket(SocketEvent(raw: hostile)), "socket") { line in
      var socket = RecordedSocket(
        header: readHeader(line: line, 3, comm: "w\"\n\u{1}"), source: .socket, family: "AF_INET",
        type: "SOCK_STREAM", protocol: "IPPROTO_IP")
      socket.errno = 24
      socket.error = "EMFILE"
      socket.failure = FailureExplanation(cause: .fdLimit)
      socket.failure?.fdLimit = 16
      socket.failure?.openFDs = 16
      socket.duration = 12_345
      socket.probe = .tracepoint
      return .socket(socket)
    }
    var pair = Fixtures.socket(family: 1, ret: 0, resolvedProtocol: 0, kind: ST_KIND_SOCKETPAIR.rawValue)
    pair.h.ts_ns = time(4)
    pair.fd = 3
    pair.fd2 = 4
    pair.inode2 = 4243
    sample.add(.socket(SocketEvent(raw: pair)), "socketpair") { line in
      var socket = RecordedSocket(
        header: readHeader(line: line, 4), source: .socketpair, family: "AF_UNIX", type: "SOCK_STREAM",
        protocol: "PROTO_0")
      socket.fd = 3
      socket.inode = 4242
      socket.peerFD = 4
      socket.peerInode = 4243
      socket.duration = 12_345
      socket.probe = .tracepoint
      return .socket(socket)
    }
    var accepted = Fixtures.socket(ret: 5, kind: ST_KIND_ACCEPT.rawValue)
    accepted.h.ts_ns = time(5)
    accepted.fd2 = 3
    accepted.inode2 = 4241
    accepted.peer_family = 2
    accepted.peer_port = 46_032
    withUnsafeMutableBytes(of: &accepted.peer_addr) { bytes in
      for (index, byte) in [127, 0, 0, 1].enumerated() { bytes[index] = UInt8(byte) }
    }
    sample.add(.socket(SocketEvent(raw: accepted)), "accept") { line in
      var socket = RecordedSocket(
        header: readHeader(line: line, 5), source: .accept, family: "AF_INET", type: "SOCK_STREAM",
        protocol: "IPPROTO_TCP")
      socket.fd = 5
      socket.inode = 4242
      socket.listenFD = 3
      socket.listenInode = 4241
      socket.peerAddress = Array("127.0.0.1:46032".utf8)
      socket.duration = 12_345
      socket.probe = .tracepoint
      return .socket(socket)
    }

    // What the sockets became: bind, connect, listen, shutdown, connect_result.
    func call(_ kind: st_kind, _ n: UInt64, ret: Int32 = 0, arg: Int32 = 0, address: [UInt8] = []) -> st_sockop {
      var call = st_sockop()
      call.h = Fixtures.header(kind: kind.rawValue, size: MemoryLayout<st_sockop>.size)
      call.h.ts_ns = time(n)
      call.inode = 4242
      call.duration_ns = 800
      call.fd = 3
      call.ret = ret
      call.arg = arg
      call.family = 2
      call.type = 1
      if !address.isEmpty {
        call.bits = UInt32(ST_OP_HAS_ADDR)
        call.addr_len = UInt32(address.count)
        withUnsafeMutableBytes(of: &call.addr) { bytes in
          for (index, byte) in address.enumerated() { bytes[index] = byte }
        }
      }
      return call
    }
    func read(_ kind: RecordedCall.Kind, _ line: Int, _ n: UInt64) -> RecordedCall {
      var call = RecordedCall(header: readHeader(line: line, n), kind: kind)
      call.fd = 3
      call.inode = 4242
      call.duration = 800
      return call
    }
    // sockaddr_un "/run/x.sock" and sockaddr_in 127.0.0.1:8080 as a program passes them.
    let unixName: [UInt8] = [1, 0] + Array("/run/x.sock".utf8) + [0]
    let inet: [UInt8] = [2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    sample.add(.socketCall(SocketCallEvent(raw: call(ST_KIND_BIND, 6, address: unixName))), "bind") { line in
      var bind = read(.bind, line, 6)
      bind.address = Array("/run/x.sock".utf8)
      return .call(bind)
    }
    sample.add(.socketCall(SocketCallEvent(raw: call(ST_KIND_CONNECT, 7, ret: -115, address: inet))), "connect") {
      line in
      var connect = read(.connect, line, 7)
      connect.address = Array("127.0.0.1:8080".utf8)
      connect.port = 8080
      connect.errno = 115
      connect.error = "EINPROGRESS"
      return .call(connect)
    }
    sample.add(.socketCall(SocketCallEvent(raw: call(ST_KIND_LISTEN, 8, arg: 16))), "listen") { line in
      var listen = read(.listen, line, 8)
      listen.backlog = 16
      return .call(listen)
    }
    sample.add(.socketCall(SocketCallEvent(raw: call(ST_KIND_SHUTDOWN, 9, arg: 1))), "shutdown") { line in
      var shutdown = read(.shutdown, line, 9)
      shutdown.how = "SHUT_WR"
      return .call(shutdown)
    }
    for (n, error) in [(UInt64(10), Int32(0)), (11, 111)] {
      var result = st_connected()
      result.h = Fixtures.header(kind: ST_KIND_CONNECTED.rawValue, size: MemoryLayout<st_connected>.size)
      result.h.ts_ns = time(n)
      result.inode = 4242
      result.duration_ns = 5_000
      result.error = error
      result.state = error == 0 ? 1 : 7
      sample.add(.connectResult(ConnectResultEvent(raw: result)), "connect_result") { line in
        var read = RecordedCall(header: readHeader(line: line, n), kind: .connectResult)
        read.inode = 4242
        read.duration = 5_000
        read.established = error == 0
        read.errno = Int64(error)
        read.error = error == 0 ? nil : "ECONNREFUSED"
        return .call(read)
      }
    }

    // The end of a socket, in each way.
    for (offset, how) in [ST_RELEASE_SOCK.rawValue, ST_RELEASE_CLOSE.rawValue].enumerated() {
      let n = 12 + UInt64(offset)
      var release = st_release()
      release.h = Fixtures.header(kind: ST_KIND_RELEASE.rawValue, size: MemoryLayout<st_release>.size)
      release.h.ts_ns = time(n)
      release.inode = 4242
      release.how = how
      release.family = 2
      sample.add(.release(ReleaseEvent(raw: release)), "release") { line in
        .release(
          RecordedRelease(
            header: readHeader(line: line, n), inode: 4242,
            how: how == ST_RELEASE_SOCK.rawValue ? .release : .close))
      }
    }
    // Process context: fork, exec (from the kernel and from /proc), exit.
    var fork = st_fork()
    fork.h = Fixtures.header(kind: ST_KIND_FORK.rawValue, size: MemoryLayout<st_fork>.size)
    fork.h.ts_ns = time(15)
    fork.child_pid = 102
    fork.child_tid = 103
    sample.add(.fork(ForkEvent(raw: fork)), "fork") { line in
      .fork(RecordedFork(header: readHeader(line: line, 15), childPID: 102, childTID: 103))
    }
    var exec = st_exec()
    exec.h = Fixtures.header(kind: ST_KIND_EXEC.rawValue, size: MemoryLayout<st_exec>.size)
    exec.h.ts_ns = time(16)
    let arguments = Array("curl\0-s\0\u{7f}\u{1}\0".utf8)
    withUnsafeMutableBytes(of: &exec.filename) { bytes in
      for (index, byte) in "/usr/bin/curl".utf8.enumerated() { bytes[index] = byte }
    }
    withUnsafeMutableBytes(of: &exec.args) { bytes in
      for (index, byte) in arguments.enumerated() { bytes[index] = byte }
    }
    exec.args_len = UInt32(arguments.count)
    exec.args_truncated = 1
    sample.add(.exec(ExecEvent(raw: exec)), "exec") { line in
      .exec(
        RecordedExec(
          header: readHeader(line: line, 16), exe: Array("/usr/bin/curl".utf8),
          argv: [Array("curl".utf8), Array("-s".utf8), [0x7f, 0x01]], argvTruncated: true))
    }
    var exit = st_exit()
    exit.h = Fixtures.header(kind: ST_KIND_EXIT.rawValue, size: MemoryLayout<st_exit>.size)
    exit.h.ts_ns = time(17)
    exit.exit_code = 3 << 8 | 9
    sample.add(.exit(ExitEvent(raw: exit)), "exit") { line in
      .exit(RecordedExit(header: readHeader(line: line, 17), exitCode: 3, signal: 9))
    }
    if let process = ProcContext(pid: getpid()) {
      sample.write("exec") { encoder, out in encoder.encode(process, into: &out) }
      sample.expected.append(
        .exec(
          RecordedExec(
            header: RecordedHeader(
              line: sample.line, timestamp: process.startBootNanoseconds, pid: UInt32(process.pid),
              tid: UInt32(process.pid), ppid: UInt32(process.ppid), comm: process.comm),
            exe: process.exe, argv: process.argv, argvTruncated: false)))
    }

    // The tracer's own: a loss as it happens, and the end.
    var losses = LossCounts()
    losses[.ringFull, Int(ST_KIND_SOCKET.rawValue)] = 2
    losses[.outputFailed, 0] = 1
    sample.write("lost") { encoder, out in
      encoder.encode(
        LostRecord(epochNanoseconds: 1_795_000_000_000_000_100, bootNanoseconds: time(18), losses: losses, total: 3),
        into: &out)
    }
    var end = EndRecord(
      epochNanoseconds: 1_795_000_000_000_000_200, bootNanoseconds: time(19), events: 17, sockets: 5, failed: 2,
      lost: 3, decodeErrors: 1, durationNanoseconds: 19)
    end.losses = losses
    end.otlp = OTLPCounts()
    end.file = (rotations: 1, reopens: 2)
    sample.write("end") { encoder, out in encoder.encode(end, into: &out) }
    sample.expected.append(
      .end(
        RecordedEnd(
          line: sample.line, timestamp: time(19), events: 17, sockets: 5, failed: 2, lost: 3, decodeErrors: 1,
          duration: 19)))
    return sample
  }

  @Test func everyKindOfRecordValidates() throws {
    var sample = Self.everyKind()
    // Values no header defines are written as names too, and validate (the
    // reader refuses names it does not know, so these are not round-tripped).
    var unknown = Fixtures.socket(
      family: 255, type: 11 | 0x4000000, ret: -4095, resolvedProtocol: -1, inode: 0,
      bits: UInt32(ST_BIT_HAS_STAGE_INFO | ST_BIT_HAS_STAGES), failedStage: 9, comm: [0xff, 0x22, 0x0a])
    unknown.probe = 7
    unknown.h.ts_ns = UInt64.max
    sample.write("socket") { encoder, out in encoder.encode(.socket(SocketEvent(raw: unknown)), into: &out) }
    var release = st_release()
    release.h = Fixtures.header(kind: ST_KIND_RELEASE.rawValue, size: MemoryLayout<st_release>.size)
    release.how = 9
    release.family = -1
    sample.write("release") { encoder, out in encoder.encode(.release(ReleaseEvent(raw: release)), into: &out) }
    let text = String(decoding: sample.bytes, as: UTF8.self)
    #expect(Set(sample.kinds) == (try schemaRecordKinds()), "a record kind the schema defines is not written here")
    #expect(text.split(separator: "\n").count == sample.kinds.count)
    let result = try validateAgainstSchema(text: text)
    #expect(result.status == 0, "\(result.output)")
    #expect(result.passed == sample.kinds.count && result.failed == 0, "\(result.output)")
  }

  /// Encoder → reader gives back every value it was given, for every kind
  /// the reader types (`lost` it only counts), in the order written.
  @Test func everyKindOfRecordRoundTrips() throws {
    let sample = Self.everyKind()
    let recording = try RecordingReader.parse(sample.bytes)
    let expected = sample.expected.enumerated()
      .sorted { ($0.element.timestamp, $0.offset) < ($1.element.timestamp, $1.offset) }.map(\.element)
    #expect(recording.records.count == expected.count)
    for (read, written) in zip(recording.records, expected) {
      #expect(read == written)
    }
    // The end record's losses are what the reader warns about.
    #expect(recording.warnings == [.incomplete(lost: 3, decodeErrors: 1)])
  }

  /// A `lost` record is read even without an `end`: its count is warned about.
  @Test func aLostRecordIsCountedWithoutAnEnd() throws {
    let encoder = JSONLinesEncoder(clock: BootClock(offsetNanoseconds: 0))
    var out = JSONBuffer()
    var losses = LossCounts()
    losses[.birthsFull, Int(ST_KIND_RELEASE.rawValue)] = 4
    var socket = Fixtures.socket()
    socket.h.ts_ns = 1
    encoder.encode(.socket(SocketEvent(raw: socket)), into: &out)
    encoder.encode(LostRecord(epochNanoseconds: 2, bootNanoseconds: 2, losses: losses, total: 4), into: &out)
    let recording = try RecordingReader.parse(out.bytes)
    #expect(recording.records.count == 1)
    #expect(recording.warnings == [.noEndRecord, .incomplete(lost: 4, decodeErrors: 0)])
  }

  /// The validator can fail: schema 1's numbers where v2 has strings.
  @Test(arguments: [
    #"{"event":"release","time":"2026-11-22T03:35:54.508047464Z","ts_ns":1024397476772,"pid":8549,"tid":8549,"ppid":8543,"uid":0,"gid":0,"comm":"w","cgroup_id":"1","netns":4026531833,"inode":"1148662","family":"AF_INET","family_num":2,"how":"close"}"#,
    #"{"event":"release","time":"2026-11-22T03:35:54.508047464Z","ts_ns":"1024397476772","pid":8549,"tid":8549,"ppid":8543,"uid":0,"gid":0,"comm":"w","cgroup_id":"1","netns":4026531833,"inode":"1148662","family":255,"family_num":255,"how":"close"}"#,
    #"{"event":"release","time":"2026-11-22T03:35:54.508047464Z","ts_ns":"1024397476772","pid":8549,"tid":8549,"ppid":8543,"uid":0,"gid":0,"comm":"w","cgroup_id":"1","netns":4026531833,"inode":"1148662","family":"AF_INET","family_num":2,"how":"close","extra":1}"#,
    #"{"event":"frobnicate"}"#,
  ])
  func recordsOutsideTheSchemaFail(line: String) throws {
    let result = try validateAgainstSchema(text: line + "\n")
    #expect(result.status == 1)
    #expect(result.output.hasSuffix("0 passed, 1 failed\n"), "\(result.output)")
  }
}
