import CSocktrace
import Testing

@testable import SocktraceCore

/// Timelines from records the encoder wrote, not hand-written JSON: kernel
/// records as the BPF program lays them out → JSONLinesEncoder →
/// RecordingReader → TimelineBuilder → TimelineText, the path `--timeline`
/// takes. A field the encoder and the reader disagree on shows up here.
@Suite struct EncodedTimelineTests {
  static let t0: UInt64 = 5_000_000_000
  static let ms: UInt64 = 1_000_000

  /// curl: exec; a socket with stages (fentry) that connects without
  /// blocking and is established; a socket that fails in __sock_create; the
  /// first socket released; exit.
  static func recording() -> [UInt8] {
    let encoder = JSONLinesEncoder(clock: BootClock(offsetNanoseconds: 1_795_000_000_000_000_000))
    var out = JSONBuffer()
    func header(_ kind: st_kind, _ size: Int, at ts: UInt64) -> st_header {
      var header = Fixtures.header(kind: kind.rawValue, size: size, pid: 100, tid: 100)
      header.ts_ns = ts
      return header
    }
    encoder.encode(
      StartRecord(
        epochNanoseconds: 1_795_000_005_000_000_000, bootNanoseconds: t0, version: "0.1.0", kernel: "6.1", host: "vm",
        rung: .fentry, hooks: [], pids: [], follow: false, command: ["curl", "http://127.0.0.1:8080/"]),
      into: &out)
    var exec = st_exec()
    exec.h = header(ST_KIND_EXEC, MemoryLayout<st_exec>.size, at: t0 + 1 * ms)
    let argv = Array("curl\0http://127.0.0.1:8080/\0".utf8)
    withUnsafeMutableBytes(of: &exec.filename) { for (i, b) in "/usr/bin/curl".utf8.enumerated() { $0[i] = b } }
    withUnsafeMutableBytes(of: &exec.args) { for (i, b) in argv.enumerated() { $0[i] = b } }
    exec.args_len = UInt32(argv.count)
    encoder.encode(.exec(ExecEvent(raw: exec)), into: &out)

    var socket = Fixtures.socket(
      inode: 5002, bits: UInt32(ST_BIT_HAS_INODE | ST_BIT_HAS_STAGES | ST_BIT_HAS_STAGE_INFO), probe: .fentry)
    socket.h = header(ST_KIND_SOCKET, MemoryLayout<st_socket>.size, at: t0 + 2 * ms)
    socket.sock_create_ns = 9_000
    socket.sock_map_fd_ns = 3_000
    encoder.encode(.socket(SocketEvent(raw: socket)), into: &out)

    var connect = st_sockop()
    connect.h = header(ST_KIND_CONNECT, MemoryLayout<st_sockop>.size, at: t0 + 3 * ms)
    connect.inode = 5002
    connect.fd = 3
    connect.ret = -115
    connect.family = 2
    connect.type = 1
    connect.duration_ns = 40_000
    connect.bits = UInt32(ST_OP_HAS_ADDR)
    let address: [UInt8] = [2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    connect.addr_len = UInt32(address.count)
    withUnsafeMutableBytes(of: &connect.addr) { for (i, b) in address.enumerated() { $0[i] = b } }
    encoder.encode(.socketCall(SocketCallEvent(raw: connect)), into: &out)

    var result = st_connected()
    result.h = header(ST_KIND_CONNECTED, MemoryLayout<st_connected>.size, at: t0 + 3 * ms + 200_000)
    result.inode = 5002
    result.duration_ns = 240_000
    result.state = 1
    encoder.encode(.connectResult(ConnectResultEvent(raw: result)), into: &out)

    var failed = Fixtures.socket(
      family: 10, ret: -97, bits: UInt32(ST_BIT_HAS_STAGES | ST_BIT_HAS_STAGE_INFO), probe: .fentry,
      failedStage: UInt8(ST_STAGE_SOCK_CREATE.rawValue))
    failed.h = header(ST_KIND_SOCKET, MemoryLayout<st_socket>.size, at: t0 + 4 * ms)
    failed.duration_ns = 2_605
    failed.sock_create_ns = 2_011
    encoder.encode(.socket(SocketEvent(raw: failed)), into: &out)

    var release = st_release()
    release.h = header(ST_KIND_RELEASE, MemoryLayout<st_release>.size, at: t0 + 5 * ms)
    release.inode = 5002
    release.how = ST_RELEASE_SOCK.rawValue
    release.family = 2
    encoder.encode(.release(ReleaseEvent(raw: release)), into: &out)

    var exit = st_exit()
    exit.h = header(ST_KIND_EXIT, MemoryLayout<st_exit>.size, at: t0 + 6 * ms)
    encoder.encode(.exit(ExitEvent(raw: exit)), into: &out)
    encoder.encode(
      EndRecord(
        epochNanoseconds: 1_795_000_005_010_000_000, bootNanoseconds: t0 + 10 * ms, events: 7, sockets: 2, failed: 1,
        lost: 0, decodeErrors: 0, durationNanoseconds: 10 * ms),
      into: &out)
    return out.bytes
  }

  @Test func theEncodersRecordsBuildTheTimeline() throws {
    let recording = try RecordingReader.parse(Self.recording(), source: "encoded.jsonl")
    #expect(recording.warnings.isEmpty)
    let timeline = TimelineBuilder.build(recording)
    #expect(timeline.socketCount == 2)
    #expect(timeline.failedCount == 1)
    let curl = try #require(timeline.processes.first { $0.pid == 100 })
    #expect(curl.sockets.map(\.record.inode) == [5002, nil])
    let lifetime = try #require(curl.sockets[0].lifetime)
    #expect(lifetime.end - lifetime.birth == 3 * Self.ms)
    #expect(lifetime.ending == .released(how: .release, pid: 100))

    let lines = TimelineText.render(timeline).split(separator: "\n").map(String.init)
    #expect(lines[0].hasPrefix("recording: probe fentry, kernel 6.1, host vm, 10.000ms; 1 process"), "\(lines)")
    let header = try #require(lines.first { $0.hasPrefix("pid 100") })
    #expect(header.hasPrefix("pid 100  ppid 1  comm curl  exe /usr/bin/curl  start 2026-"), "\(header)")
    #expect(header.hasSuffix("(exec)  end +5.000ms  exit 0"), "\(header)")
    let socket = try #require(lines.first { $0.contains("inode 5002") })
    #expect(
      socket.contains(
        "+1.000ms  socket      AF_INET SOCK_STREAM IPPROTO_TCP  fd 3  inode 5002  took 12.345us "
          + "(sock_create 9.000us, sock_map_fd 3.000us) → connect 127.0.0.1:8080 EINPROGRESS → established after "
          + "240.000us → lived 3.000ms (released)"),
      "\(socket)")
    let failure = try #require(lines.first { $0.contains("FAILED") })
    // A call that failed in __sock_create never reached sock_map_fd: that stage is not shown.
    #expect(
      failure.hasSuffix(
        "+3.000ms  socket      AF_INET6 SOCK_STREAM IPPROTO_IP  took 2.605us (sock_create 2.011us)  "
          + "FAILED EAFNOSUPPORT: family unavailable in sock_create"),
      "\(failure)")
  }
}
