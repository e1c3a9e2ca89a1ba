import CSocktrace
import Foundation
import SchemaValidation
import Testing

@testable import SocktraceCore

/// docs/schema.json against what the encoder writes, without a kernel: every
/// kind of record, unknown values included, validates; a schema-1 line does not.
@Suite struct SchemaTests {
  @Test func everyKindOfRecordValidates() throws {
    let encoder = JSONLinesEncoder(clock: BootClock(offsetNanoseconds: 1_795_000_000_000_000_000))
    var out = JSONBuffer()
    encoder.encode(
      StartRecord(
        epochNanoseconds: 1_795_000_000_000_000_000, bootNanoseconds: 5, version: "0.1.0", kernel: "6.18", host: "vm",
        rung: .fentry, hooks: [AttachPlan.Hook(name: "__sock_create", rung: nil, how: "-")], pids: [7], follow: true,
        command: nil),
      into: &out)
    encoder.encode(.socket(SocketEvent(raw: Fixtures.socket())), into: &out)
    var unknown = Fixtures.socket(
      family: 255, type: 11 | 0x4000000, ret: -4095, resolvedProtocol: -1, inode: 0,
      bits: UInt32(ST_BIT_HAS_STAGE_INFO | ST_BIT_HAS_STAGES), failedStage: 9, comm: [0xff, 0x22, 0x0a])
    unknown.probe = 7
    unknown.h.ts_ns = UInt64.max
    encoder.encode(.socket(SocketEvent(raw: unknown)), into: &out)
    var pair = Fixtures.socket(family: 1, ret: 0, kind: ST_KIND_SOCKETPAIR.rawValue)
    pair.fd2 = 4
    pair.inode2 = 4243
    encoder.encode(.socket(SocketEvent(raw: pair)), into: &out)
    var accepted = Fixtures.socket(ret: 5, kind: ST_KIND_ACCEPT.rawValue)
    accepted.fd2 = 3
    encoder.encode(.socket(SocketEvent(raw: accepted)), into: &out)
    for how in [ST_RELEASE_SOCK.rawValue, ST_RELEASE_CLOSE.rawValue, 9] {
      var release = st_release()
      release.h = Fixtures.header(kind: ST_KIND_RELEASE.rawValue, size: MemoryLayout<st_release>.size)
      release.how = how
      release.family = how == 9 ? -1 : 2
      encoder.encode(.release(ReleaseEvent(raw: release)), into: &out)
    }
    var fork = st_fork()
    fork.h = Fixtures.header(kind: ST_KIND_FORK.rawValue, size: MemoryLayout<st_fork>.size)
    encoder.encode(.fork(ForkEvent(raw: fork)), into: &out)
    var exec = st_exec()
    exec.h = Fixtures.header(kind: ST_KIND_EXEC.rawValue, size: MemoryLayout<st_exec>.size)
    encoder.encode(.exec(ExecEvent(raw: exec)), into: &out)
    var exit = st_exit()
    exit.h = Fixtures.header(kind: ST_KIND_EXIT.rawValue, size: MemoryLayout<st_exit>.size)
    exit.exit_code = 9
    encoder.encode(.exit(ExitEvent(raw: exit)), into: &out)
    if let process = ProcContext(pid: getpid()) { encoder.encode(process, into: &out) }
    encoder.encode(
      EndRecord(
        epochNanoseconds: 1, bootNanoseconds: 2, events: 11, sockets: 4, failed: 1, lost: 0, decodeErrors: 0,
        durationNanoseconds: 3),
      into: &out)
    let text = String(decoding: out.bytes, as: UTF8.self)
    let lines = text.split(separator: "\n").count
    let result = try validateAgainstSchema(text: text)
    #expect(result.status == 0, "\(result.output)")
    #expect(result.output.hasSuffix("\(lines) passed, 0 failed\n"), "\(result.output)")
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
