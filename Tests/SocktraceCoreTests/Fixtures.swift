import CSocktrace

@testable import SocktraceCore

/// Builds kernel records the way the BPF program lays them out.
enum Fixtures {
  static func header(kind: UInt32, size: Int, pid: UInt32 = 100, tid: UInt32 = 101, comm: [UInt8] = Array("curl".utf8))
    -> st_header
  {
    var header = st_header()
    header.kind = UInt16(kind)
    header.size = UInt16(size)
    header.ts_ns = 5_000_000_000
    header.pid = pid
    header.tid = tid
    header.ppid = 1
    header.uid = 1000
    header.gid = 1000
    header.netns = 4_026_531_840
    header.cgroup_id = 7
    withUnsafeMutableBytes(of: &header.comm) { bytes in
      for (index, byte) in comm.prefix(bytes.count - 1).enumerated() { bytes[index] = byte }
    }
    return header
  }

  static func socket(
    family: Int32 = 2, type: Int32 = 1, protocol: Int32 = 0, ret: Int32 = 3,
    resolvedProtocol: Int32 = 6, inode: UInt64 = 4242, bits: UInt32 = UInt32(ST_BIT_HAS_INODE),
    probe: Rung = .tracepoint, failedStage: UInt8 = 0, comm: [UInt8] = Array("curl".utf8),
    kind: UInt32 = ST_KIND_SOCKET.rawValue
  ) -> st_socket {
    var record = st_socket()
    record.h = header(kind: kind, size: MemoryLayout<st_socket>.size, comm: comm)
    record.family = family
    record.type = type
    record.protocol = `protocol`
    record.resolved_type = type & 0xf
    record.resolved_protocol = resolvedProtocol
    record.ret = ret
    record.fd = ret >= 0 ? ret : -1
    record.fd2 = -1
    record.bits = bits
    record.inode = inode
    record.duration_ns = 12_345
    record.probe = probe.probeNumber
    record.failed_stage = failedStage
    return record
  }

  static func bytes<Record>(of record: Record) -> [UInt8] {
    withUnsafeBytes(of: record) { Array($0) }
  }
}
