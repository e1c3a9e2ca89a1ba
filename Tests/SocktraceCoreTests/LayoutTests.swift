import CSocktrace
import SocktraceCore
import Testing

/// socktrace.h is compiled by clang -target bpf and by the host compiler; the
/// records must have the same size on both sides. These sizes are what the
/// header's explicit layout gives on x86-64 and on BPF. The BPF compile checks
/// the same sizes and offsets (`bpf/lib/layout.bpf.h`): keep the two lists equal.
@Suite struct LayoutTests {
  @Test func recordSizesArePinned() {
    #expect(MemoryLayout<st_header>.size == 64)
    #expect(MemoryLayout<st_socket>.size == 224 + 32 + Int(ST_LOCAL_LEN))
    #expect(MemoryLayout<st_sockop>.size == 112 + Int(ST_ADDR_LEN) + 32 + Int(ST_LOCAL_LEN))
    #expect(MemoryLayout<st_connected>.size == 96 + Int(ST_LOCAL_LEN))
    #expect(MemoryLayout<st_release>.size == 80)
    #expect(MemoryLayout<st_fork>.size == 72)
    #expect(MemoryLayout<st_exec>.size == 64 + 8 + Int(ST_PATH_LEN) + Int(ST_ARGS_LEN))
    #expect(MemoryLayout<st_exit>.size == 72)
    #expect(MemoryLayout<st_config>.size == 56)
    #expect(MemoryLayout<st_net_key>.size == 24)
    #expect(MemoryLayout<st_path_key>.size == Int(ST_UNIX_PATH_LEN))
  }

  /// RecordKind numbers its cases from 1 in order: the header's kinds, in the same order.
  @Test func recordKindsAreTheHeadersKinds() {
    let header = [
      ST_KIND_SOCKET, ST_KIND_SOCKETPAIR, ST_KIND_ACCEPT, ST_KIND_RELEASE, ST_KIND_FORK, ST_KIND_EXEC, ST_KIND_EXIT,
      ST_KIND_BIND, ST_KIND_CONNECT, ST_KIND_LISTEN, ST_KIND_SHUTDOWN, ST_KIND_CONNECTED,
    ]
    #expect(RecordKind.allCases.map(\.number) == header.map { Int($0.rawValue) })
    #expect(RecordKind.allCases.count < Int(ST_KIND_SLOTS))
    #expect([SocketSource.socket, .socketpair, .accept].map(\.kind) == [.socket, .socketpair, .accept])
    #expect(SocketCall.allCases.map(\.kind) == [.bind, .connect, .listen, .shutdown])
  }

  @Test func headerFieldsAreWhereTheBPFSideWritesThem() {
    #expect(MemoryLayout<st_header>.offset(of: \st_header.ts_ns) == 8)
    #expect(MemoryLayout<st_header>.offset(of: \st_header.cgroup_id) == 40)
    #expect(MemoryLayout<st_header>.offset(of: \st_header.comm) == 48)
    #expect(MemoryLayout<st_socket>.offset(of: \st_socket.inode) == 96)
    #expect(MemoryLayout<st_socket>.offset(of: \st_socket.probe) == 136)
    #expect(MemoryLayout<st_socket>.offset(of: \st_socket.fd) == 140)
    #expect(MemoryLayout<st_socket>.offset(of: \st_socket.peer_addr) == 148)
    // failure cause (issue 22): appended after via/pad2
    #expect(MemoryLayout<st_socket>.offset(of: \st_socket.cap_effective) == 168)
    #expect(MemoryLayout<st_socket>.offset(of: \st_socket.fd_limit) == 176)
    #expect(MemoryLayout<st_socket>.offset(of: \st_socket.cause_bits) == 184)
    #expect(MemoryLayout<st_socket>.offset(of: \st_socket.lsm) == 186)
    #expect(MemoryLayout<st_socket>.offset(of: \st_socket.module) == 192)
    #expect(MemoryLayout<st_sockop>.offset(of: \st_sockop.addr) == 112)
    // issue 21's block: 8-aligned, after everything older
    #expect(MemoryLayout<st_socket>.offset(of: \st_socket.peer_inode) == 224)
    #expect(MemoryLayout<st_socket>.offset(of: \st_socket.local) == 256)
    #expect(MemoryLayout<st_sockop>.offset(of: \st_sockop.peer_inode) == 240)
    #expect(MemoryLayout<st_sockop>.offset(of: \st_sockop.local) == 272)
    #expect(MemoryLayout<st_connected>.offset(of: \st_connected.local) == 96)
  }
}
