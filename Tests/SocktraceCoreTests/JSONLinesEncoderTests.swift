import CSocktrace
import Foundation
import Testing

@testable import SocktraceCore

@Suite struct JSONLinesEncoderTests {
  let encoder = JSONLinesEncoder(clock: BootClock(offsetNanoseconds: 1_795_000_000_000_000_000))

  func encode(_ event: TraceEvent) throws -> [String: Any] {
    var buffer = JSONBuffer()
    encoder.encode(event, into: &buffer)
    #expect(buffer.bytes.last == UInt8(ascii: "\n"))
    #expect(buffer.bytes.dropLast().contains(UInt8(ascii: "\n")) == false)
    let object = try JSONSerialization.jsonObject(with: Data(buffer.bytes))
    return try #require(object as? [String: Any])
  }

  @Test func socketRecordHasEverySchemaField() throws {
    let json = try encode(.socket(SocketEvent(raw: Fixtures.socket(type: 1 | SocketNames.nonblock))))
    #expect(json["event"] as? String == "socket")
    #expect(json["time"] as? String == "2026-11-18T11:06:45.000000000Z")
    #expect(json["ts_ns"] as? String == "5000000000")
    #expect(json["pid"] as? Int == 100)
    #expect(json["tid"] as? Int == 101)
    #expect(json["ppid"] as? Int == 1)
    #expect(json["uid"] as? Int == 1000)
    #expect(json["gid"] as? Int == 1000)
    #expect(json["comm"] as? String == "curl")
    #expect(json["cgroup_id"] as? String == "7")
    #expect(json["netns"] as? Int == 4_026_531_840)
    #expect(json["family"] as? String == "AF_INET")
    #expect(json["family_num"] as? Int == 2)
    #expect(json["type"] as? String == "SOCK_STREAM")
    #expect(json["type_num"] as? Int == 1)
    #expect(json["flags"] as? [String] == ["SOCK_NONBLOCK"])
    #expect(json["protocol"] as? String == "IPPROTO_TCP")
    #expect(json["protocol_num"] as? Int == 6)
    #expect(json["requested_protocol_num"] as? Int == 0)
    #expect(json["kernel"] as? Bool == false)
    #expect(json["fd"] as? Int == 3)
    #expect(json["inode"] as? String == "4242")
    #expect(json["ret"] as? Int == 3)
    #expect(json["errno"] as? Int == 0)
    #expect(json["error"] is NSNull)
    #expect(json["failed_stage"] is NSNull)
    #expect(json["duration_ns"] as? String == "12345")
    #expect(json["stages"] is NSNull)
    #expect(json["probe"] as? String == "tracepoint")
  }

  @Test func timeIsRFC3339FromTheBootClock() {
    var buffer = JSONBuffer()
    buffer.appendTimestamp(epochNanoseconds: 1_795_317_530_110_570_692)
    #expect(String(decoding: buffer.bytes, as: UTF8.self) == "\"2026-11-22T03:18:50.110570692Z\"")
    buffer.removeAll()
    buffer.appendTimestamp(epochNanoseconds: 951_782_400_000_000_001)  // a leap day
    #expect(String(decoding: buffer.bytes, as: UTF8.self) == "\"2000-02-29T00:00:00.000000001Z\"")
    buffer.removeAll()
    buffer.appendTimestamp(epochNanoseconds: 0)
    #expect(String(decoding: buffer.bytes, as: UTF8.self) == "\"1970-01-01T00:00:00.000000000Z\"")
  }

  @Test func failureCarriesErrnoNameAndStage() throws {
    let record = Fixtures.socket(
      family: 255, ret: -97, resolvedProtocol: -1, inode: 0,
      bits: UInt32(ST_BIT_HAS_STAGE_INFO | ST_BIT_HAS_STAGES), probe: .kprobe,
      failedStage: UInt8(ST_STAGE_SOCK_CREATE.rawValue))
    let json = try encode(.socket(SocketEvent(raw: record)))
    #expect(json["family"] as? String == "AF_255")
    #expect(json["family_num"] as? Int == 255)
    #expect(json["fd"] is NSNull)
    #expect(json["inode"] is NSNull)
    #expect(json["errno"] as? Int == 97)
    #expect(json["error"] as? String == "EAFNOSUPPORT")
    #expect(json["failed_stage"] as? String == "sock_create")
    #expect(json["probe"] as? String == "kprobe")
    let stages = try #require(json["stages"] as? [String: String])
    #expect(stages.keys.sorted() == ["sock_create_ns", "sock_map_fd_ns"])
  }

  @Test func socketpairAndAcceptCarryTheirSecondSocket() throws {
    var pair = Fixtures.socket(family: 1, ret: 0, kind: ST_KIND_SOCKETPAIR.rawValue)
    pair.fd = 3
    pair.fd2 = 4
    pair.inode2 = 4243
    pair.resolved_protocol = 0
    let pairJSON = try encode(.socket(SocketEvent(raw: pair)))
    #expect(pairJSON["event"] as? String == "socketpair")
    #expect(pairJSON["ret"] as? Int == 0)
    #expect(pairJSON["fd"] as? Int == 3)
    #expect(pairJSON["peer_fd"] as? Int == 4)
    #expect(pairJSON["peer_inode"] as? String == "4243")
    #expect(pairJSON["protocol"] as? String == "PROTO_0")

    var accepted = Fixtures.socket(ret: 5, kind: ST_KIND_ACCEPT.rawValue)
    accepted.fd2 = 3
    accepted.inode2 = 99
    let acceptJSON = try encode(.socket(SocketEvent(raw: accepted)))
    #expect(acceptJSON["event"] as? String == "accept")
    #expect(acceptJSON["listen_fd"] as? Int == 3)
    #expect(acceptJSON["listen_inode"] as? String == "99")
  }

  /// Process names are attacker-controlled: quotes, backslashes, control
  /// characters and invalid UTF-8 must all leave valid JSON.
  @Test(arguments: [
    Array("a\"b".utf8), Array("back\\slash".utf8), [0x01, 0x0a, 0x0d, 0x09, 0x1b, 0x7f],
    [0xff, 0xfe, 0x41], [0xc3, 0x28], Array("ünï".utf8), [0xe2, 0x82], [0x22, 0x5c, 0x00],
  ])
  func hostileCommStaysValidJSON(comm: [UInt8]) throws {
    let json = try encode(.socket(SocketEvent(raw: Fixtures.socket(comm: comm))))
    let decoded = try #require(json["comm"] as? String)
    let expected = String(decoding: comm.prefix { $0 != 0 }, as: UTF8.self)
    #expect(decoded == expected)
  }

  @Test func hostileBytesAreEscapedNotPassedRaw() {
    var buffer = JSONBuffer()
    buffer.appendString([0x01, 0x22, 0x5c, 0x0a, 0xff])
    #expect(String(decoding: buffer.bytes, as: UTF8.self) == "\"\\u0001\\\"\\\\\\n\u{FFFD}\"")
  }

  @Test func numbersEncodeExactly() {
    var buffer = JSONBuffer()
    for value: Int64 in [0, 7, 10, -1, Int64.max, Int64.min + 1] {
      buffer.removeAll()
      buffer.appendInt(value)
      #expect(String(decoding: buffer.bytes, as: UTF8.self) == String(value))
    }
    buffer.removeAll()
    buffer.appendUInt(UInt64.max)
    #expect(String(decoding: buffer.bytes, as: UTF8.self) == String(UInt64.max))
  }

  @Test func execAndExitRecords() throws {
    var exec = st_exec()
    exec.h = Fixtures.header(kind: ST_KIND_EXEC.rawValue, size: MemoryLayout<st_exec>.size)
    let args: [UInt8] = Array("sh\0-c\0".utf8) + [0xff, 0x22, 0]
    withUnsafeMutableBytes(of: &exec.args) { for (index, byte) in args.enumerated() { $0[index] = byte } }
    exec.args_len = UInt32(args.count)
    let execJSON = try encode(.exec(ExecEvent(raw: exec)))
    #expect(execJSON["argv"] as? [String] == ["sh", "-c", "\u{FFFD}\""])
    #expect(execJSON["argv_truncated"] as? Bool == false)

    var exit = st_exit()
    exit.h = Fixtures.header(kind: ST_KIND_EXIT.rawValue, size: MemoryLayout<st_exit>.size)
    exit.exit_code = 3 << 8
    let exitJSON = try encode(.exit(ExitEvent(raw: exit)))
    #expect(exitJSON["exit_code"] as? Int == 3)
    #expect(exitJSON["signal"] as? Int == 0)
  }

  /// Schema v2: a field's JSON type never depends on its value. Unknown
  /// numbers get names, 64-bit values past 2^53 keep every digit.
  @Test func unknownNumbersAreNamedAndBigValuesAreStrings() throws {
    var record = Fixtures.socket(
      family: 2, type: 11, ret: -4095, resolvedProtocol: -1, inode: 0, bits: UInt32(ST_BIT_HAS_STAGE_INFO),
      failedStage: 7)
    record.protocol = 253
    record.probe = 9
    record.h.ts_ns = UInt64.max
    record.h.cgroup_id = (1 << 53) + 1
    record.duration_ns = (1 << 60) + 3
    let json = try encode(.socket(SocketEvent(raw: record)))
    #expect(json["type"] as? String == "SOCK_11")
    #expect(json["type_num"] as? Int == 11)
    #expect(json["protocol"] as? String == "IPPROTO_253")
    #expect(json["error"] as? String == "E4095")
    #expect(json["errno"] as? Int == 4095)
    #expect(json["failed_stage"] as? String == "stage_7")
    #expect(json["probe"] as? String == "probe_9")
    #expect(json["ts_ns"] as? String == "18446744073709551615")
    #expect(json["cgroup_id"] as? String == "9007199254740993")
    #expect(json["duration_ns"] as? String == "1152921504606846979")

    var netlink = Fixtures.socket(family: 16, ret: 3)
    netlink.resolved_protocol = 99
    #expect(try encode(.socket(SocketEvent(raw: netlink)))["protocol"] as? String == "NETLINK_99")
  }

  @Test func releaseRecordsNameHowAndFamily() throws {
    var release = st_release()
    release.h = Fixtures.header(kind: ST_KIND_RELEASE.rawValue, size: MemoryLayout<st_release>.size)
    release.inode = 1 << 62
    release.how = ST_RELEASE_CLOSE.rawValue
    release.family = 10
    var json = try encode(.release(ReleaseEvent(raw: release)))
    #expect(json["inode"] as? String == String(UInt64(1) << 62))
    #expect(json["how"] as? String == "close")
    #expect(json["family"] as? String == "AF_INET6")
    #expect(json["family_num"] as? Int == 10)
    release.family = -1
    release.how = 9
    json = try encode(.release(ReleaseEvent(raw: release)))
    #expect(json["family"] is NSNull)
    #expect(json["family_num"] is NSNull)
    #expect(json["how"] as? String == "how_9")
  }

  func parse(_ buffer: borrowing JSONBuffer) throws -> [String: Any] {
    let bytes = buffer.bytes
    #expect(bytes.last == UInt8(ascii: "\n"))
    return try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
  }

  @Test func startAndEndRecords() throws {
    var buffer = JSONBuffer()
    let hooks = [AttachPlan.Hook(name: "__sock_create", rung: nil, how: "not visible")]
    encoder.encode(
      StartRecord(
        epochNanoseconds: 1_795_000_000_000_000_000, bootNanoseconds: 5, version: "0.1.0", kernel: "6.18",
        host: "vm", rung: .tracepoint, hooks: hooks, pids: [12], follow: true, command: ["curl", "-s"]),
      into: &buffer)
    let start = try parse(buffer)
    #expect(start["event"] as? String == "start")
    #expect(start["schema"] as? Int == 2)
    #expect(start["ts_ns"] as? String == "5")
    #expect(start["boot_offset_ns"] as? String == "1795000000000000000")
    #expect(start["probe"] as? String == "tracepoint")
    #expect(start["pids"] as? [Int] == [12])
    #expect(start["command"] as? [String] == ["curl", "-s"])
    let hook = try #require((start["hooks"] as? [[String: Any]])?.first)
    #expect(hook["probe"] is NSNull)
    let namespace = try #require(start["pid_namespace"] as? [String: Any])
    #expect(namespace["inode"] as? Int == 4_026_531_836, "the init namespace unless told")
    #expect(namespace["level"] as? Int == 0)

    buffer.removeAll()
    var inContainer = StartRecord(
      epochNanoseconds: 1, bootNanoseconds: 5, version: "0.1.0", kernel: "6.18", host: "vm", rung: .tracepoint,
      hooks: hooks, pids: [], follow: false, command: nil)
    inContainer.pidNamespace = PidNamespace(inode: 4_026_532_179, level: 2)
    encoder.encode(inContainer, into: &buffer)
    let nested = try #require(try parse(buffer)["pid_namespace"] as? [String: Any])
    #expect(nested["inode"] as? Int == 4_026_532_179)
    #expect(nested["level"] as? Int == 2)

    buffer.removeAll()
    encoder.encode(
      EndRecord(
        epochNanoseconds: 1, bootNanoseconds: 2, events: 3, sockets: 2, failed: 1, lost: 0, decodeErrors: 0,
        durationNanoseconds: 1 << 54),
      into: &buffer)
    let end = try parse(buffer)
    #expect(end["event"] as? String == "end")
    #expect(end["events"] as? Int == 3)
    #expect(end["lost"] as? Int == 0)
    #expect(end["duration_ns"] as? String == String(UInt64(1) << 54))
  }
}
