import CSocktrace
import Glibc

/// The sockets already open when tracing starts, one `socket` record
/// (`"via":"snapshot"`) per holder and fd: /proc/PID/fd names each socket's
/// inode (`socket:[N]`), and the tables of /proc/PID/net (per network
/// namespace, read once each) say what it is, its own address, its peer and
/// its state. A socket in no table (the tables list only hashed sockets: an
/// unbound one is missing, so are packet, vsock, …) is asked itself: a copy
/// of its fd (pidfd_getfd(2), 5.6+), getsockopt SO_DOMAIN/SO_TYPE/SO_PROTOCOL
/// and getsockname, then the copy is closed. Only what the kernel reports:
/// where neither works, family 0 and no address.
///
/// Taken after the programs are loaded and before they are attached: the
/// inodes go into the kernel's `births` map (TraceSession), so their later
/// calls join a birth and their release is recorded. A socket made between
/// the snapshot and the attach is in neither: its calls say born_before_trace.
public struct SocketSnapshot {
  /// In order of pid, then fd.
  public var records: [st_socket] = []

  public init(records: [st_socket] = []) { self.records = records }

  /// Which processes and sockets to take: -p's pids (nil: every process but
  /// the tracer) and the filters the kernel applies to births.
  public struct Selection {
    public var pids: [Int32]?
    public var selfPID: Int32
    public var comms: Set<[UInt8]> = []
    public var uids: Set<UInt32> = []
    public var netns: Set<UInt32> = []
    public var families: Set<Int32> = []
    public var types: Set<Int32> = []
    public var ports: Set<UInt16> = []

    public init(pids: [Int32]?, selfPID: Int32) {
      self.pids = pids
      self.selfPID = selfPID
    }
  }

  public static func take(_ selection: Selection, bootNanoseconds: UInt64) -> SocketSnapshot {
    var snapshot = SocketSnapshot()
    let pids = selection.pids ?? allPIDs()
    var tables: [UInt32: [UInt64: ProcNetSocket]] = [:]  // by netns inode
    for pid in pids.sorted() where pid != selection.selfPID {
      let held = socketFDs(pid: pid)
      guard !held.isEmpty, let process = ProcContext(pid: pid) else { continue }
      let netns = UInt32(truncatingIfNeeded: process.netns ?? 0)
      if !selection.comms.isEmpty && !selection.comms.contains(commKey(process.comm)) { continue }
      if !selection.uids.isEmpty && !selection.uids.contains(process.uid) { continue }
      if !selection.netns.isEmpty && !selection.netns.contains(netns) { continue }
      if tables[netns] == nil { tables[netns] = ProcNetTables.read(pid: pid) }
      for (fd, inode) in held {
        let known = tables[netns]?[inode] ?? Self.askTheSocket(pid: pid, fd: fd, inode: inode)
        if !selection.families.isEmpty && !selection.families.contains(known?.family ?? 0) { continue }
        if !selection.types.isEmpty && !selection.types.contains(known?.type ?? 0) { continue }
        if !selection.ports.isEmpty {
          let own = known.flatMap { SocketAddress.parse($0.local) }?.port.map { UInt16(truncatingIfNeeded: $0) }
          guard own.map(selection.ports.contains) == true || selection.ports.contains(known?.peerPort ?? 0)
          else { continue }
        }
        snapshot.records.append(
          record(process: process, netns: netns, fd: fd, inode: inode, socket: known, now: bootNanoseconds))
      }
    }
    return snapshot
  }

  /// A socket no table lists, asked through a copy of its fd (pidfd_getfd:
  /// the kernel checks ptrace access, so root or CAP_SYS_PTRACE).
  static func askTheSocket(pid: Int32, fd: Int32, inode: UInt64) -> ProcNetSocket? {
    let copy = st_copy_fd(pid, fd)
    guard copy >= 0 else { return nil }
    defer { close(copy) }
    var status = stat()
    guard fstat(copy, &status) == 0, UInt64(status.st_ino) == inode else { return nil }  // the fd moved on
    func option(_ name: Int32) -> Int32? {
      var value: Int32 = 0
      var length = socklen_t(MemoryLayout<Int32>.size)
      return getsockopt(copy, SOL_SOCKET, name, &value, &length) == 0 ? value : nil
    }
    guard let family = option(SO_DOMAIN), let type = option(SO_TYPE) else { return nil }
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    var local: [UInt8] = []
    let named = withUnsafeMutablePointer(to: &storage) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(copy, $0, &length) }
    }
    if named == 0 && Int(length) > 2 {
      local = withUnsafeBytes(of: storage) { Array($0.prefix(min(Int(length), MemoryLayout<sockaddr_storage>.size))) }
    }
    return ProcNetSocket(family: family, type: type, protocol: option(SO_PROTOCOL) ?? 0, local: local)
  }

  static func commKey(_ comm: [UInt8]) -> [UInt8] {
    Array(comm.prefix(Int(ST_COMM_LEN) - 1)) + [UInt8](repeating: 0, count: Int(ST_COMM_LEN) - min(comm.count, 15))
  }

  /// Every pid in /proc.
  static func allPIDs() -> [Int32] {
    guard let directory = opendir("/proc") else { return [] }
    defer { closedir(directory) }
    var pids: [Int32] = []
    while let entry = readdir(directory) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
      if let pid = Int32(name), pid > 0 { pids.append(pid) }
    }
    return pids
  }

  /// The fds of PID that hold sockets, with their inodes, in fd order.
  static func socketFDs(pid: Int32) -> [(fd: Int32, inode: UInt64)] {
    let path = "/proc/\(pid)/fd"
    guard let directory = opendir(path) else { return [] }
    defer { closedir(directory) }
    var held: [(fd: Int32, inode: UInt64)] = []
    let prefix = Array("socket:[".utf8)
    while let entry = readdir(directory) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
      guard let fd = Int32(name) else { continue }
      let link = ProcContext.readLink(path + "/" + name)
      guard link.count > prefix.count + 1, link.starts(with: prefix), link.last == UInt8(ascii: "]"),
        let inode = UInt64(String(decoding: link.dropFirst(prefix.count).dropLast(), as: UTF8.self))
      else { continue }
      held.append((fd, inode))
    }
    return held.sorted { $0.fd < $1.fd }
  }

  static func record(
    process: ProcContext, netns: UInt32, fd: Int32, inode: UInt64, socket: ProcNetSocket?, now: UInt64
  ) -> st_socket {
    var raw = st_socket()
    raw.h.kind = UInt16(ST_KIND_SOCKET.rawValue)
    raw.h.size = UInt16(MemoryLayout<st_socket>.size)
    raw.h.ts_ns = now
    raw.h.pid = UInt32(bitPattern: process.pid)
    raw.h.tid = UInt32(bitPattern: process.pid)
    raw.h.ppid = UInt32(bitPattern: process.ppid)
    raw.h.uid = process.uid
    raw.h.gid = process.gid
    raw.h.netns = netns
    raw.h.cgroup_id = process.cgroupID ?? 0
    withUnsafeMutableBytes(of: &raw.h.comm) { comm in
      for (index, byte) in process.comm.prefix(Int(ST_COMM_LEN) - 1).enumerated() { comm[index] = byte }
    }
    raw.family = socket?.family ?? 0
    raw.type = socket?.type ?? 0
    raw.protocol = socket?.protocol ?? 0
    raw.resolved_type = raw.type
    raw.resolved_protocol = raw.protocol
    raw.ret = fd
    raw.fd = fd
    raw.fd2 = -1
    raw.inode = inode
    raw.bits = UInt32(ST_BIT_HAS_INODE)
    raw.via = UInt8(ST_VIA_SNAPSHOT.rawValue)
    raw.probe = 0
    if let socket {
      raw.state = socket.state
      raw.peer_family = socket.peerFamily
      raw.peer_port = socket.peerPort
      withUnsafeMutableBytes(of: &raw.peer_addr) { bytes in
        for (index, byte) in socket.peerAddress.prefix(16).enumerated() { bytes[index] = byte }
      }
      let local = socket.local.prefix(Int(ST_LOCAL_LEN))
      raw.local_len = UInt16(local.count)
      withUnsafeMutableBytes(of: &raw.local) { bytes in
        for (index, byte) in local.enumerated() { bytes[index] = byte }
      }
    }
    return raw
  }
}

extension SocketAddress {
  /// A whole `struct sockaddr` held in an array.
  static func parse(_ bytes: [UInt8]) -> SocketAddress? {
    bytes.withUnsafeBytes { parse($0, length: $0.count) }
  }
}
