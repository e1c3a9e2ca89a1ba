import CSocktrace
import Foundation
import SchemaValidation
import Testing

@testable import SocktraceCore

/// Issue 21 without a kernel: own addresses and peers in the records, the
/// 4-tuple join, the /proc tables, the snapshot's records, and how the
/// timeline and the Chrome trace tell them.
@Suite struct PeerRecordTests {
  static func sockaddrIn(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, port: UInt16) -> [UInt8] {
    [2, 0, UInt8(port >> 8), UInt8(port & 0xff), a, b, c, d] + [UInt8](repeating: 0, count: 8)
  }

  static func sockaddrUn(_ path: [UInt8]) -> [UInt8] { [1, 0] + path }

  static func op(
    _ kind: UInt32, pid: UInt32, inode: UInt64, family: Int32 = 2, address: [UInt8], local: [UInt8],
    ret: Int32 = 0, comm: [UInt8] = Array("curl".utf8)
  ) -> st_sockop {
    var op = st_sockop()
    op.h = Fixtures.header(kind: kind, size: MemoryLayout<st_sockop>.size, pid: pid, tid: pid, comm: comm)
    op.inode = inode
    op.fd = 3
    op.ret = ret
    op.family = family
    op.type = 1
    op.addr_len = UInt32(address.count)
    op.bits = address.isEmpty ? 0 : UInt32(ST_OP_HAS_ADDR)
    withUnsafeMutableBytes(of: &op.addr) { bytes in
      for (index, byte) in address.enumerated() { bytes[index] = byte }
    }
    op.local_len = UInt16(local.count)
    withUnsafeMutableBytes(of: &op.local) { bytes in
      for (index, byte) in local.enumerated() { bytes[index] = byte }
    }
    return op
  }

  static func accepted(pid: UInt32, inode: UInt64, peer: (UInt8, UInt8, UInt8, UInt8, UInt16), local: [UInt8])
    -> st_socket
  {
    var socket = Fixtures.socket(ret: 5, inode: inode, comm: Array("nginx".utf8), kind: ST_KIND_ACCEPT.rawValue)
    socket.h.pid = pid
    socket.h.tid = pid
    socket.fd2 = 3
    socket.peer_family = 2
    socket.peer_port = peer.4
    withUnsafeMutableBytes(of: &socket.peer_addr) { bytes in
      bytes[0] = peer.0
      bytes[1] = peer.1
      bytes[2] = peer.2
      bytes[3] = peer.3
    }
    socket.local_len = UInt16(local.count)
    withUnsafeMutableBytes(of: &socket.local) { bytes in
      for (index, byte) in local.enumerated() { bytes[index] = byte }
    }
    return socket
  }

  func encode(_ events: [TraceEvent]) -> String {
    let encoder = JSONLinesEncoder(clock: BootClock(offsetNanoseconds: 1_795_000_000_000_000_000))
    var out = JSONBuffer()
    for event in events { encoder.encode(event, into: &out) }
    return String(decoding: out.bytes, as: UTF8.self)
  }

  func object(_ line: Substring) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
  }

  @Test func theKernelsChoiceAndThePeerAreWrittenAndValidate() throws {
    var connect = Self.op(
      ST_KIND_CONNECT.rawValue, pid: 913, inode: 10, family: 1,
      address: Self.sockaddrUn(Array("/run/x\"\u{1}.sock".utf8) + [0xff]), local: Self.sockaddrUn([0, 0x41, 0x22]))
    connect.peer_pid = 812
    connect.peer_inode = 11
    withUnsafeMutableBytes(of: &connect.peer_comm) { bytes in
      for (index, byte) in [0x64, 0x22, 0x0a, 0xfe].enumerated() { bytes[index] = UInt8(byte) }
    }
    let bind = Self.op(
      ST_KIND_BIND.rawValue, pid: 812, inode: 12, address: Self.sockaddrIn(127, 0, 0, 1, port: 0),
      local: Self.sockaddrIn(127, 0, 0, 1, port: 43511))
    let listen = Self.op(
      ST_KIND_LISTEN.rawValue, pid: 812, inode: 12, address: [], local: Self.sockaddrIn(127, 0, 0, 1, port: 43511))
    var result = st_connected()
    result.h = Fixtures.header(kind: ST_KIND_CONNECTED.rawValue, size: MemoryLayout<st_connected>.size)
    result.state = 1
    let source = Self.sockaddrIn(127, 0, 0, 1, port: 51234)
    result.local_len = UInt16(source.count)
    withUnsafeMutableBytes(of: &result.local) { for (i, b) in source.enumerated() { $0[i] = b } }
    var accept = Self.accepted(
      pid: 812, inode: 13, peer: (127, 0, 0, 1, 51234), local: Self.sockaddrIn(127, 0, 0, 1, port: 43511))
    accept.peer_pid = 913
    let snapshot = SocketSnapshot.record(
      process: try #require(ProcContext(pid: getpid())), netns: 1, fd: 7, inode: 99,
      socket: ProcNetSocket(
        family: 2, type: 1, protocol: 6, local: Self.sockaddrIn(127, 0, 0, 1, port: 8080), state: 10),
      now: 5)
    let text = encode([
      .socketCall(SocketCallEvent(raw: connect)), .socketCall(SocketCallEvent(raw: bind)),
      .socketCall(SocketCallEvent(raw: listen)), .connectResult(ConnectResultEvent(raw: result)),
      .socket(SocketEvent(raw: accept)), .socket(SocketEvent(raw: snapshot)),
    ])
    let lines = text.split(separator: "\n")
    let records = try lines.map(object)
    // Hostile bytes stay valid JSON: escaped, invalid UTF-8 as U+FFFD.
    #expect(records[0]["address"] as? String == "/run/x\"\u{1}.sock\u{FFFD}")
    #expect(records[0]["local_address"] as? String == "@A\"")
    #expect(records[0]["peer_pid"] as? Int == 812)
    #expect(records[0]["peer_comm"] as? String == "d\"\n\u{FFFD}")
    #expect(records[0]["peer_inode"] as? String == "11")
    #expect(records[1]["port"] as? Int == 0 && records[1]["local_port"] as? Int == 43511)
    #expect(records[1]["local_address"] as? String == "127.0.0.1:43511")
    #expect(records[2]["local_address"] as? String == "127.0.0.1:43511")
    #expect(records[3]["local_port"] as? Int == 51234)
    #expect(records[4]["peer_pid"] as? Int == 913 && records[4]["peer_comm"] is NSNull)
    #expect(records[4]["address"] as? String == "127.0.0.1:51234")
    #expect(records[5]["via"] as? String == "snapshot" && records[5]["probe"] is NSNull)
    #expect(records[5]["state"] as? String == "LISTEN" && records[5]["local_port"] as? Int == 8080)
    let validation = try validateAgainstSchema(text: text)
    #expect(validation.status == 0 && validation.failed == 0, "\(validation.output)")
  }

  @Test func procNetTablesAreReadAsTheKernelPrintsThem() {
    var sockets: [UInt64: ProcNetSocket] = [:]
    let tcp = """
        sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
         0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0
         1: 0100007F:C822 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 4243 1 0

      """
    ProcNetTables.parseInet(Array(tcp.utf8), family: 2, type: 1, protocol: 6, into: &sockets)
    let tcp6 = """
        sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
         0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4244 1

      """
    ProcNetTables.parseInet(Array(tcp6.utf8), family: 10, type: 1, protocol: 6, into: &sockets)
    let unix = """
      Num       RefCount Protocol Flags    Type St Inode Path
      0000000000000000: 00000002 00000000 00010000 0001 01 4245 /run/my dir/x.sock
      0000000000000000: 00000003 00000000 00000000 0001 03 4246 @abstract
      0000000000000000: 00000003 00000000 00000000 0002 01 4247

      """
    ProcNetTables.parseUnix(Array(unix.utf8), into: &sockets)
    func local(_ inode: UInt64) -> String? {
      sockets[inode].flatMap { SocketAddress.parse($0.local) }.map { String(decoding: $0.text, as: UTF8.self) }
    }
    #expect(local(4242) == "127.0.0.1:8080" && sockets[4242]?.state == 10)
    #expect(local(4243) == "127.0.0.1:51234" && sockets[4243]?.state == 1)
    #expect(sockets[4243]?.peerPort == 8080 && sockets[4243]?.peerAddress.prefix(4) == [127, 0, 0, 1])
    #expect(local(4244) == "[::1]:8080")
    #expect(local(4245) == "/run/my dir/x.sock" && sockets[4245]?.state == 10)
    #expect(local(4246) == "@abstract" && sockets[4246]?.state == 1)
    #expect(sockets[4247]?.type == 2 && sockets[4247]?.local.isEmpty == true)
  }

  @Test func localTCPEndsAreJoinedByTheirAddresses() {
    let join = PeerJoin()
    var bind = TraceEvent.socketCall(
      SocketCallEvent(
        raw: Self.op(
          ST_KIND_BIND.rawValue, pid: 812, inode: 12, address: Self.sockaddrIn(0, 0, 0, 0, port: 8080),
          local: Self.sockaddrIn(0, 0, 0, 0, port: 8080), comm: Array("nginx".utf8))))
    join.resolve(&bind)
    // A connect to a loopback address reaches the wildcard listener.
    var connect = TraceEvent.socketCall(
      SocketCallEvent(
        raw: Self.op(
          ST_KIND_CONNECT.rawValue, pid: 913, inode: 20, address: Self.sockaddrIn(127, 0, 0, 1, port: 8080),
          local: Self.sockaddrIn(127, 0, 0, 1, port: 51234))))
    join.resolve(&connect)
    guard case .socketCall(let call) = connect else { return }
    #expect(call.peerPID == 812 && call.peerComm == Array("nginx".utf8))
    // The accept of that connection names the client by its source address.
    var accept = TraceEvent.socket(
      SocketEvent(
        raw: Self.accepted(
          pid: 812, inode: 21, peer: (127, 0, 0, 1, 51234), local: Self.sockaddrIn(127, 0, 0, 1, port: 8080))))
    join.resolve(&accept)
    guard case .socket(let socket) = accept else { return }
    #expect(socket.peerPID == 913 && socket.peerComm == Array("curl".utf8))
    // A remote address on the same port is not this host's listener: null, not a guess.
    var remote = TraceEvent.socketCall(
      SocketCallEvent(
        raw: Self.op(
          ST_KIND_CONNECT.rawValue, pid: 913, inode: 22, address: Self.sockaddrIn(192, 0, 2, 7, port: 8080),
          local: Self.sockaddrIn(10, 9, 8, 7, port: 40000))))
    join.resolve(&remote)
    guard case .socketCall(let far) = remote else { return }
    #expect(far.peerPID == nil)
  }

  /// Every release is the socket's end (the tracepoint rung reports the last
  /// reference, whatever dropped it), so the join forgets the socket: a
  /// listener gone is no longer anyone's peer, and a week of `serve` keeps
  /// only what is alive.
  @Test(arguments: [ST_RELEASE_SOCK, ST_RELEASE_CLOSE, ST_RELEASE_EXIT])
  func aReleaseForgetsTheSocket(how: st_release_how) {
    let join = PeerJoin()
    var listener = [UInt8](repeating: 0, count: 28)  // [::]:9090, dual stack
    listener[0] = 10
    listener[2] = 0x23
    listener[3] = 0x82
    var bind = TraceEvent.socketCall(
      SocketCallEvent(
        raw: Self.op(
          ST_KIND_BIND.rawValue, pid: 40, inode: 30, family: 10, address: listener, local: listener,
          comm: Array("srv".utf8))))
    join.resolve(&bind)
    func connect(inode: UInt64) -> UInt32? {
      var event = TraceEvent.socketCall(
        SocketCallEvent(
          raw: Self.op(
            ST_KIND_CONNECT.rawValue, pid: 41, inode: inode, address: Self.sockaddrIn(127, 0, 0, 1, port: 9090),
            local: Self.sockaddrIn(127, 0, 0, 1, port: 50000 + UInt16(inode)))))
      join.resolve(&event)
      guard case .socketCall(let call) = event else { return nil }
      return call.peerPID
    }
    #expect(connect(inode: 31) == 40, "an IPv4 connect reaches a [::] listener")
    #expect(join.occupancy.owners == 0 && join.occupancy.bound == 1 && join.occupancy.connected == 1)
    for inode: UInt64 in [30, 31] {
      var release = st_release()
      release.h = Fixtures.header(kind: ST_KIND_RELEASE.rawValue, size: MemoryLayout<st_release>.size)
      release.inode = inode
      release.how = how.rawValue
      var event = TraceEvent.release(ReleaseEvent(raw: release))
      join.resolve(&event)
    }
    #expect(join.occupancy.bound == 0 && join.occupancy.connected == 0)
    #expect(connect(inode: 32) == nil)
  }

  /// An accept whose client's connect has not come is looked up in /proc's
  /// table, a read of a whole namespace's table each: at most the budget a
  /// second, the rest left unknown and counted; none with a budget of 0
  /// (--births-only, where no connect ever comes).
  @Test(arguments: [(2, 2, 1), (0, 0, 0)])
  func procTableReadsAreBudgeted(budget: Int, reads: Int, skipped: UInt64) {
    let join = PeerJoin(procReadsPerSecond: budget) { 7_000_000_000 }  // one second, whatever the machine
    var peers: [UInt32?] = []
    for inode: UInt64 in [50, 51, 52] {
      var accept = TraceEvent.socket(
        SocketEvent(
          raw: Self.accepted(
            pid: UInt32(getpid()), inode: inode, peer: (127, 0, 0, 1, 40000 + UInt16(inode)),
            local: Self.sockaddrIn(127, 0, 0, 1, port: 9))))
      join.resolve(&accept)
      guard case .socket(let socket) = accept else { return }
      peers.append(socket.peerPID)
    }
    #expect(peers == [nil, nil, nil], "no such connection: unknown, never guessed")
    #expect(join.procReadsSkipped == skipped, "\(reads) reads of the table, then counted")
  }

  @Test func theTimelineAndTheChromeTraceTellBothEnds() throws {
    let text = encode([
      .socket(SocketEvent(raw: Fixtures.socket(inode: 20))),
      .socketCall(
        SocketCallEvent(
          raw: {
            var op = Self.op(
              ST_KIND_CONNECT.rawValue, pid: 100, inode: 20, address: Self.sockaddrIn(127, 0, 0, 1, port: 8080),
              local: Self.sockaddrIn(127, 0, 0, 1, port: 51234))
            op.h.tid = 101
            op.peer_pid = 812
            withUnsafeMutableBytes(of: &op.peer_comm) { for (i, b) in "nginx".utf8.enumerated() { $0[i] = b } }
            return op
          }())),
      .socket(
        SocketEvent(
          raw: {
            var accept = Self.accepted(
              pid: 812, inode: 21, peer: (127, 0, 0, 1, 51234), local: Self.sockaddrIn(127, 0, 0, 1, port: 8080))
            accept.peer_pid = 100
            withUnsafeMutableBytes(of: &accept.peer_comm) { for (i, b) in "curl".utf8.enumerated() { $0[i] = b } }
            return accept
          }())),
      .socket(
        SocketEvent(
          raw: SocketSnapshot.record(
            process: try #require(ProcContext(pid: getpid())), netns: 1, fd: 7, inode: 99,
            socket: ProcNetSocket(
              family: 2, type: 1, protocol: 6, local: Self.sockaddrIn(127, 0, 0, 1, port: 8080), state: 10),
            now: 5_000_000_000))),
    ])
    let timeline = TimelineBuilder.build(try RecordingReader.parse(Array(text.utf8), source: "test"))
    let rendered = TimelineText.render(timeline)
    #expect(rendered.contains("connect 127.0.0.1:8080 from 127.0.0.1:51234 → nginx (812) ok "), "\(rendered)")
    #expect(rendered.contains("from curl (100) 127.0.0.1:51234 on 127.0.0.1:8080"), "\(rendered)")
    #expect(rendered.contains("open at start  AF_INET SOCK_STREAM IPPROTO_TCP  fd 7  inode 99"), "\(rendered)")
    #expect(rendered.contains("127.0.0.1:8080 LISTEN"), "\(rendered)")
    let chrome = String(decoding: ChromeTraceWriter.render(timeline), as: UTF8.self)
    #expect(chrome.contains(#""ph":"s","name":"connection","pid":100,"tid":101,"cat":"peer","id":21"#), "\(chrome)")
    #expect(chrome.contains(#""ph":"f","name":"connection","pid":812,"tid":812,"cat":"peer","bp":"e","id":21"#))
    _ = try JSONSerialization.jsonObject(with: Data(chrome.utf8))
  }
}
