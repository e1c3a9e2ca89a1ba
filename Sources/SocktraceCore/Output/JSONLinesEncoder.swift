import CSocktrace

/// The one owner of socktrace's JSON Lines format (schema v2: docs/schema.md,
/// docs/schema.json): every record — the kernel's, the tracer's own `start`
/// and `end`, and `exec` records made from /proc — is written here, one JSON
/// object per line, appended into a caller-owned buffer.
///
/// Schema v2 gives every field one JSON type whatever its value:
/// - numbers with names (family, type, protocol, errno, stage, probe, how) are
///   always strings, unknown values named by a prefix and the number
///   (`"AF_255"`, `"SOCK_11"`, `"E4095"`), with the number beside them in an
///   always-numeric `*_num` field (`errno` for `error`);
/// - every `*_ns` field (boot-clock times, durations) and every id that is 64
///   bits in the kernel (`inode`, `peer_inode`, `listen_inode`, `cgroup_id`) is a
///   decimal string: such values can exceed 2^53, past which JSON tools that
///   read numbers as doubles lose digits (protobuf's JSON mapping does the same
///   for 64-bit integers). Everything else numeric is a 32-bit value or a count,
///   a JSON number;
/// - a field that may be unknown is `null` then, never a different type.
public struct JSONLinesEncoder {
  /// The `schema` number in the `start` record.
  public static let schemaVersion = 2

  public let clock: BootClock
  /// Resolves `cgroup_id` to `cgroup_path` and container context; without
  /// one those fields are null.
  public let cgroups: CgroupResolver?

  /// The header fields each thread's records share, kept encoded.
  private let headerFields = HeaderFieldsCache()

  public init(clock: BootClock, cgroups: CgroupResolver? = nil) {
    self.clock = clock
    self.cgroups = cgroups
  }

  public func encode(_ event: TraceEvent, into out: inout JSONBuffer) {
    switch event {
    case .socket(let socket): encodeSocket(socket, into: &out)
    case .release(let release):
      encodeHeader(.release, release.raw.h, into: &out)
      out.appendRaw(",\"inode\":")
      out.appendUIntString(release.inode)
      appendOptionalFamily(release.family, into: &out)
      out.appendRaw(",\"how\":")
      if let how = release.how {
        out.appendString(Array(how.rawValue.utf8))
      } else {
        out.appendUnnamed("how_", Int32(bitPattern: release.raw.how))
      }
    case .fork(let fork):
      encodeHeader(.fork, fork.raw.h, into: &out)
      out.appendRaw(",\"child_pid\":")
      out.appendUInt(UInt64(fork.childPID))
      out.appendRaw(",\"child_tid\":")
      out.appendUInt(UInt64(fork.childTID))
    case .exec(let exec):
      encodeHeader(.exec, exec.raw.h, into: &out)
      out.appendRaw(",\"exe\":")
      out.appendString(exec.filename)
      out.appendRaw(",\"argv\":")
      out.appendStringArray(exec.arguments)
      out.appendRaw(",\"argv_truncated\":")
      out.appendBool(exec.argumentsTruncated)
      out.appendRaw(",\"from_proc\":false")
    case .exit(let exit):
      encodeHeader(.exit, exit.raw.h, into: &out)
      out.appendRaw(",\"exit_code\":")
      out.appendInt(Int64(exit.exitCode))
      out.appendRaw(",\"signal\":")
      out.appendInt(Int64(exit.signal))
    case .socketCall(let call): encodeSocketCall(call, into: &out)
    case .connectResult(let result):
      encodeHeader(.connectResult, result.raw.h, into: &out)
      out.appendRaw(",\"inode\":")
      out.appendUIntString(result.inode)
      out.appendRaw(",\"result\":")
      out.appendRaw(result.established ? "\"established\"" : "\"failed\"")
      out.appendRaw(",\"errno\":")
      out.appendInt(Int64(result.errno))
      out.appendRaw(",\"error\":")
      if result.errno != 0 {
        out.appendName(ErrnoNames.name(result.errno), orPrefix: "E", result.errno)
      } else {
        out.appendNull()
      }
      out.appendRaw(",\"duration_ns\":")
      out.appendUIntString(result.durationNanoseconds)
      appendLocal(result.raw.local, length: result.raw.local_len, into: &out)
    }
    out.appendRaw("}\n")
  }

  private func encodeHeader(_ kind: RecordKind, _ header: st_header, into out: inout JSONBuffer) {
    appendOpening(kind.staticName, boot: header.ts_ns, into: &out)
    headerFields.append(header, generation: cgroups?.generation ?? 0, into: &out) { header, out in
      withUnsafeBytes(of: header.comm) { comm in
        appendProcessFields(
          pid: Int64(header.pid), tid: Int64(header.tid), ppid: Int64(header.ppid), uid: header.uid,
          gid: header.gid, comm: comm.prefix { $0 != 0 }, cgroupID: header.cgroup_id, netns: UInt64(header.netns),
          into: &out)
      }
    }
  }

  /// The fields every process's record opens with, in schema order, whether
  /// the kernel wrote the record or /proc told (`exec` with `from_proc`):
  /// `{"event":…,"time":…,"ts_ns":…,"pid":…,…,"netns":…` and the cgroup fields.
  @inline(__always)
  private func appendHeader(
    _ kind: StaticString, boot: UInt64, pid: Int64, tid: Int64, ppid: Int64, uid: UInt32, gid: UInt32,
    comm: some Collection<UInt8>, cgroupID: UInt64?, netns: UInt64?, into out: inout JSONBuffer
  ) {
    appendOpening(kind, boot: boot, into: &out)
    appendProcessFields(
      pid: pid, tid: tid, ppid: ppid, uid: uid, gid: gid, comm: comm, cgroupID: cgroupID, netns: netns, into: &out)
  }

  /// `{"event":…,"time":…,"ts_ns":…`.
  @inline(__always)
  private func appendOpening(_ kind: StaticString, boot: UInt64, into out: inout JSONBuffer) {
    out.appendRaw("{\"event\":\"")
    out.appendRaw(kind)
    out.appendRaw("\",\"time\":")
    out.appendTimestamp(epochNanoseconds: clock.epochNanoseconds(boot: boot))
    out.appendRaw(",\"ts_ns\":")
    out.appendUIntString(boot)
  }

  /// `,"pid":…` … the cgroup fields: what depends only on the thread (a
  /// kernel record's are kept encoded per thread: HeaderFieldsCache).
  private func appendProcessFields(
    pid: Int64, tid: Int64, ppid: Int64, uid: UInt32, gid: UInt32, comm: some Collection<UInt8>, cgroupID: UInt64?,
    netns: UInt64?, into out: inout JSONBuffer
  ) {
    out.appendRaw(",\"pid\":")
    out.appendInt(pid)
    out.appendRaw(",\"tid\":")
    out.appendInt(tid)
    out.appendRaw(",\"ppid\":")
    out.appendInt(ppid)
    out.appendRaw(",\"uid\":")
    out.appendUInt(UInt64(uid))
    out.appendRaw(",\"gid\":")
    out.appendUInt(UInt64(gid))
    out.appendRaw(",\"comm\":")
    out.appendString(comm)
    out.appendRaw(",\"cgroup_id\":")
    appendOptionalString(cgroupID, into: &out)
    out.appendRaw(",\"netns\":")
    if let netns { out.appendUInt(netns) } else { out.appendNull() }
    appendCgroupFields(cgroupID, into: &out)
  }

  /// `cgroup_path`, `container_id`, `container_runtime`, `pod_uid`.
  @inline(__always)
  private func appendCgroupFields(_ id: UInt64?, into out: inout JSONBuffer) {
    if let cgroups {
      cgroups.appendFields(for: id, into: &out)
    } else {
      out.appendRaw(",\"cgroup_path\":null,\"container_id\":null,\"container_runtime\":null,\"pod_uid\":null")
    }
  }

  private func encodeSocket(_ event: SocketEvent, into out: inout JSONBuffer) {
    encodeHeader(event.source.kind, event.raw.h, into: &out)
    out.appendRaw(",\"family\":")
    out.appendName(SocketNames.familyName(event.family), orPrefix: "AF_", event.family)
    out.appendRaw(",\"family_num\":")
    out.appendInt(Int64(event.family))
    out.appendRaw(",\"type\":")
    out.appendName(SocketNames.typeName(event.type), orPrefix: "SOCK_", event.type)
    out.appendRaw(",\"type_num\":")
    out.appendInt(Int64(event.type))
    out.appendRaw(",\"flags\":")
    appendFlags(ofType: event.requestedType, into: &out)
    out.appendRaw(",\"protocol\":")
    out.appendName(
      SocketNames.protocolName(event.protocol, family: event.family),
      orPrefix: SocketNames.protocolPrefix(family: event.family), event.protocol)
    out.appendRaw(",\"protocol_num\":")
    out.appendInt(Int64(event.protocol))
    out.appendRaw(",\"requested_protocol_num\":")
    out.appendInt(Int64(event.requestedProtocol))
    out.appendRaw(",\"kernel\":")
    out.appendBool(event.isKernel)
    out.appendRaw(",\"fd\":")
    appendOptional(event.fd, into: &out)
    out.appendRaw(",\"inode\":")
    appendOptionalString(event.inode, into: &out)
    switch event.source {
    case .socket:
      // Null but for a snapshot (via "snapshot"): what /proc said of a socket open at start.
      appendLocal(event.raw.local, length: event.raw.local_len, into: &out)
      appendPeerAddress(event, into: &out)
      out.appendRaw(",\"state\":")
      if let state = event.tcpState {
        out.appendName(SocketNames.tcpStateName(state), orPrefix: "TCP_", state)
      } else {
        out.appendNull()
      }
    case .socketpair:
      out.appendRaw(",\"peer_fd\":")
      appendOptional(event.succeeded ? event.secondFD : nil, into: &out)
      out.appendRaw(",\"peer_inode\":")
      appendOptionalString(event.succeeded ? event.secondInode : nil, into: &out)
    case .accept:
      out.appendRaw(",\"listen_fd\":")
      appendOptional(event.secondFD, into: &out)
      out.appendRaw(",\"listen_inode\":")
      appendOptionalString(event.secondInode, into: &out)
      appendPeerAddress(event, into: &out)
      appendLocal(event.raw.local, length: event.raw.local_len, into: &out)
      appendPeer(pid: event.peerPID, comm: event.peerComm, inode: event.peerInode, into: &out)
    }
    appendResult(event.returnValue, errno: event.errno, into: &out)
    out.appendRaw(",\"failed_stage\":")
    if event.succeeded || event.raw.failed_stage == 0 {
      out.appendNull()  // a success, or the rung cannot tell
    } else if let stage = event.failedStage {
      switch stage {
      case .sysSocket: out.appendRaw("\"sys_socket\"")
      case .sockCreate: out.appendRaw("\"sock_create\"")
      case .sockMapFD: out.appendRaw("\"sock_map_fd\"")
      }
    } else {
      out.appendUnnamed("stage_", Int32(event.raw.failed_stage))
    }
    appendFailure(event.failure, into: &out)
    out.appendRaw(",\"duration_ns\":")
    out.appendUIntString(event.durationNanoseconds)
    out.appendRaw(",\"stages\":")
    if let stages = event.stages {
      out.appendRaw("{\"sock_create_ns\":")
      out.appendUIntString(stages.sockCreate)
      out.appendRaw(",\"sock_map_fd_ns\":")
      out.appendUIntString(stages.sockMapFD)
      out.append(UInt8(ascii: "}"))
    } else {
      out.appendNull()
    }
    out.appendRaw(",\"probe\":")
    switch event.probe {
    case .fentry: out.appendRaw("\"fentry\"")
    case .kprobe: out.appendRaw("\"kprobe\"")
    case .tracepoint: out.appendRaw("\"tracepoint\"")
    case nil where event.via == .snapshot: out.appendNull()  // read from /proc, no probe saw it
    case nil: out.appendUnnamed("probe_", Int32(event.raw.probe))
    }
    switch event.via {
    case .syscall: out.appendRaw(",\"via\":\"syscall\"")
    case .ia32: out.appendRaw(",\"via\":\"ia32\"")
    case .socketcall: out.appendRaw(",\"via\":\"socketcall\"")
    case .ioUring: out.appendRaw(",\"via\":\"io_uring\"")
    case .kernel: out.appendRaw(",\"via\":\"kernel\"")
    case .snapshot: out.appendRaw(",\"via\":\"snapshot\"")
    case nil:
      out.appendRaw(",\"via\":")
      out.appendUnnamed("via_", Int32(event.raw.via))
    }
  }

  /// `cause` (null on success), then the figures that explain it, each only
  /// where it applies (docs/schema.md "Failure causes").
  private func appendFailure(_ failure: FailureExplanation?, into out: inout JSONBuffer) {
    out.appendRaw(",\"cause\":")
    guard let failure else {
      out.appendNull()
      return
    }
    out.appendString(Array(failure.cause.name.utf8))
    if let limit = failure.fdLimit {
      out.appendRaw(",\"fd_limit\":")
      out.appendInt(Int64(limit))
    }
    if let open = failure.openFDs {
      out.appendRaw(",\"open_fds\":")
      out.appendInt(Int64(open))
      if failure.openFDsAtLeast { out.appendRaw(",\"open_fds_at_least\":true") }
    }
    if let module = failure.module {
      out.appendRaw(",\"module\":")
      out.appendString(Array(module.utf8))
    }
    if let lsm = failure.lsm {
      out.appendRaw(",\"lsm\":")
      out.appendString(Array(lsm.utf8))
    }
    if let capability = failure.capability {
      out.appendRaw(",\"capability\":")
      out.appendString(Array(capability.utf8))
    }
    if let open = failure.filesOpen, let max = failure.fileMax {
      out.appendRaw(",\"files_open\":")
      out.appendInt(open)
      out.appendRaw(",\"file_max\":")
      out.appendInt(max)
    }
  }

  /// bind, connect, listen, shutdown: the socket (by inode, the join key to
  /// its birth), the call's own argument, and how it ended.
  private func encodeSocketCall(_ event: SocketCallEvent, into out: inout JSONBuffer) {
    encodeHeader(event.call.kind, event.raw.h, into: &out)
    out.appendRaw(",\"fd\":")
    out.appendInt(Int64(event.fd))
    out.appendRaw(",\"inode\":")
    appendOptionalString(event.inode, into: &out)
    out.appendRaw(",\"born_before_trace\":")
    out.appendBool(event.bornBeforeTracing)
    appendOptionalFamily(event.family, into: &out)
    out.appendRaw(",\"type\":")
    if let type = event.type {
      out.appendName(SocketNames.typeName(type), orPrefix: "SOCK_", type)
      out.appendRaw(",\"type_num\":")
      out.appendInt(Int64(type))
    } else {
      out.appendRaw("null,\"type_num\":null")
    }
    switch event.call {
    case .bind, .connect:
      if event.raw.bits & UInt32(ST_OP_HAS_ADDR) != 0 {
        withUnsafeBytes(of: event.raw.addr) {
          out.appendAddressFields(",\"address\":", ",\"port\":", sockaddr: $0, length: Int(event.raw.addr_len))
        }
      } else {
        out.appendFields(",\"address\":", ",\"port\":", nil)
      }
      appendLocal(event.raw.local, length: event.raw.local_len, into: &out)
      if event.call == .connect {
        appendPeer(pid: event.peerPID, comm: event.peerComm, inode: event.peerInode, into: &out)
      }
    case .listen:
      out.appendRaw(",\"backlog\":")
      out.appendInt(Int64(event.raw.arg))
      appendLocal(event.raw.local, length: event.raw.local_len, into: &out)
    case .shutdown:
      out.appendRaw(",\"how\":")
      out.appendName(ShutdownHow.staticName(event.raw.arg), orPrefix: "SHUT_", event.raw.arg)
      out.appendRaw(",\"how_num\":")
      out.appendInt(Int64(event.raw.arg))
    }
    appendResult(event.returnValue, errno: event.errno, into: &out)
    out.appendRaw(",\"duration_ns\":")
    out.appendUIntString(event.durationNanoseconds)
  }

  /// `["SOCK_NONBLOCK","SOCK_CLOEXEC"]`, other bits in hex: no array built
  /// for the common cases.
  private func appendFlags(ofType type: Int32, into out: inout JSONBuffer) {
    switch type & ~SocketNames.typeMask {
    case 0: out.appendRaw("[]")
    case SocketNames.nonblock: out.appendRaw("[\"SOCK_NONBLOCK\"]")
    case SocketNames.cloexec: out.appendRaw("[\"SOCK_CLOEXEC\"]")
    case SocketNames.nonblock | SocketNames.cloexec: out.appendRaw("[\"SOCK_NONBLOCK\",\"SOCK_CLOEXEC\"]")
    default:
      out.appendStringArray(SocketNames.flags(ofType: type).map { Array($0.utf8) })
    }
  }

  /// `,"ret":…,"errno":…,"error":…`: a call's return value, its errno and
  /// the errno's name (null on success).
  private func appendResult(_ ret: Int32, errno: Int32, into out: inout JSONBuffer) {
    out.appendRaw(",\"ret\":")
    out.appendInt(Int64(ret))
    out.appendRaw(",\"errno\":")
    out.appendInt(Int64(errno))
    out.appendRaw(",\"error\":")
    if ret >= 0 {
      out.appendNull()
    } else {
      out.appendName(ErrnoNames.staticName(errno), orPrefix: "E", errno)
    }
  }

  /// `,"local_address":…,"local_port":…`: the socket's own address (issue 21).
  private func appendLocal<Bytes>(_ sockaddr: Bytes, length: some BinaryInteger, into out: inout JSONBuffer) {
    withUnsafeBytes(of: sockaddr) {
      out.appendAddressFields(",\"local_address\":", ",\"local_port\":", sockaddr: $0, length: Int(length))
    }
  }

  /// `,"address":…,"port":…` of an accepted (or snapshot) socket's peer.
  private func appendPeerAddress(_ event: SocketEvent, into out: inout JSONBuffer) {
    withUnsafeBytes(of: event.raw.peer_addr) {
      out.appendPeerAddressFields(
        ",\"address\":", ",\"port\":", family: Int32(event.raw.peer_family), port: event.raw.peer_port, bytes: $0)
    }
  }

  /// `,"peer_pid":…,"peer_comm":…,"peer_inode":…`: the other end, null when not known.
  private func appendPeer(pid: UInt32?, comm: [UInt8]?, inode: UInt64?, into out: inout JSONBuffer) {
    out.appendRaw(",\"peer_pid\":")
    if let pid { out.appendUInt(UInt64(pid)) } else { out.appendNull() }
    out.appendRaw(",\"peer_comm\":")
    if let comm { out.appendString(comm) } else { out.appendNull() }
    out.appendRaw(",\"peer_inode\":")
    appendOptionalString(inode, into: &out)
  }

  private func appendOptional(_ value: Int32?, into out: inout JSONBuffer) {
    if let value { out.appendInt(Int64(value)) } else { out.appendNull() }
  }

  /// `"family":"AF_INET","family_num":2`, or both null when unknown.
  private func appendOptionalFamily(_ family: Int32?, into out: inout JSONBuffer) {
    out.appendRaw(",\"family\":")
    if let family {
      out.appendName(SocketNames.familyName(family), orPrefix: "AF_", family)
      out.appendRaw(",\"family_num\":")
      out.appendInt(Int64(family))
    } else {
      out.appendRaw("null,\"family_num\":null")
    }
  }

  private func appendOptionalString(_ value: UInt64?, into out: inout JSONBuffer) {
    if let value { out.appendUIntString(value) } else { out.appendNull() }
  }
}

extension JSONLinesEncoder {
  public func encode(_ start: StartRecord, into out: inout JSONBuffer) {
    appendOpening("start", epoch: start.epochNanoseconds, boot: start.bootNanoseconds, into: &out)
    out.appendKey("schema")
    out.appendInt(Int64(Self.schemaVersion))
    out.appendKey("version")
    out.appendString(Array(start.version.utf8))
    out.appendKey("commit")
    out.appendString(Array(start.commit.utf8))
    out.appendKey("kernel")
    out.appendString(Array(start.kernel.utf8))
    out.appendKey("host")
    out.appendString(Array(start.host.utf8))
    out.appendKey("boot_offset_ns")
    out.appendUIntString(clock.offsetNanoseconds)
    out.appendKey("probe")
    out.appendString(Array(start.rung.rawValue.utf8))
    out.appendKey("hooks")
    out.append(UInt8(ascii: "["))
    for (index, hook) in start.hooks.enumerated() {
      if index > 0 { out.append(UInt8(ascii: ",")) }
      out.appendKey("hook", first: true)
      out.appendString(Array(hook.name.utf8))
      out.appendKey("probe")
      if let rung = hook.rung { out.appendString(Array(rung.rawValue.utf8)) } else { out.appendNull() }
      out.appendKey("how")
      out.appendString(Array(hook.how.utf8))
      out.append(UInt8(ascii: "}"))
    }
    out.append(UInt8(ascii: "]"))
    // What this recording cannot contain: never silent about a blind spot.
    out.appendKey("blind_spots")
    out.append(UInt8(ascii: "["))
    for (index, spot) in start.blindSpots.enumerated() {
      if index > 0 { out.append(UInt8(ascii: ",")) }
      out.appendKey("path", first: true)
      out.appendString(Array(spot.path.rawValue.utf8))
      out.appendKey("reason")
      out.appendString(Array(spot.reason.utf8))
      out.append(UInt8(ascii: "}"))
    }
    out.append(UInt8(ascii: "]"))
    out.appendKey("pids")
    out.append(UInt8(ascii: "["))
    for (index, pid) in start.pids.enumerated() {
      if index > 0 { out.append(UInt8(ascii: ",")) }
      out.appendInt(Int64(pid))
    }
    out.append(UInt8(ascii: "]"))
    out.appendKey("follow")
    out.appendBool(start.follow)
    out.appendKey("command")
    if let command = start.command {
      out.appendStringArray(command.map { Array($0.utf8) })
    } else {
      out.appendNull()
    }
    appendFilters(start.filters, into: &out)
    out.appendKey("pid_namespace")
    out.appendKey("inode", first: true)
    out.appendUInt(UInt64(start.pidNamespace.inode))
    out.appendKey("level")
    out.appendUInt(UInt64(start.pidNamespace.level))
    out.append(UInt8(ascii: "}"))
    out.appendRaw("}\n")
  }

  /// `"filters":{"comm":[…],"uid":[…],…,"failed":false}`: every kind, always.
  private func appendFilters(_ filters: ActiveFilters, into out: inout JSONBuffer) {
    func strings(_ key: StaticString, _ values: [String], first: Bool = false) {
      out.appendKey(key, first: first)
      out.appendStringArray(values.map { Array($0.utf8) })
    }
    func numbers(_ key: StaticString, _ values: [UInt64]) {
      out.appendKey(key)
      out.append(UInt8(ascii: "["))
      for (index, value) in values.enumerated() {
        if index > 0 { out.append(UInt8(ascii: ",")) }
        out.appendUInt(value)
      }
      out.append(UInt8(ascii: "]"))
    }
    out.appendKey("filters")
    strings("comm", filters.comms, first: true)
    numbers("uid", filters.uids.map(UInt64.init))
    numbers("netns", filters.netns.map(UInt64.init))
    strings("cgroup", filters.cgroups)
    strings("container", filters.containers)
    strings("family", filters.families)
    strings("type", filters.types)
    out.appendKey("failed")
    out.appendBool(filters.failedOnly)
    numbers("port", filters.ports.map(UInt64.init))
    strings("address", filters.addresses)
    out.append(UInt8(ascii: "}"))
  }

  public func encode(_ end: EndRecord, into out: inout JSONBuffer) {
    appendOpening("end", epoch: end.epochNanoseconds, boot: end.bootNanoseconds, into: &out)
    out.appendKey("events")
    out.appendUInt(end.events)
    out.appendKey("sockets")
    out.appendUInt(end.sockets)
    out.appendKey("failed")
    out.appendUInt(end.failed)
    out.appendKey("lost")
    out.appendUInt(end.lost)
    out.appendKey("decode_errors")
    out.appendUInt(end.decodeErrors)
    out.appendKey("duration_ns")
    out.appendUIntString(end.durationNanoseconds)
    if let otlp = end.otlp {
      out.appendKey("otlp")
      out.appendKey("sent", first: true)
      out.appendUInt(otlp.sent)
      out.appendKey("unsent")
      out.appendUInt(otlp.unsent)
      out.appendKey("queue_full")
      out.appendUInt(otlp.queueFull)
      out.appendKey("failed")
      out.appendUInt(otlp.failed)
      out.appendKey("rejected")
      out.appendUInt(otlp.rejected)
      out.appendKey("shutdown")
      out.appendUInt(otlp.shutdown)
      out.append(UInt8(ascii: "}"))
    }
    if let file = end.file {
      out.appendKey("file")
      out.appendKey("rotations", first: true)
      out.appendUInt(file.rotations)
      out.appendKey("reopens")
      out.appendUInt(file.reopens)
      out.append(UInt8(ascii: "}"))
    }
    out.appendKey("lost_by_cause")
    for (index, cause) in LossCause.allCases.enumerated() {
      appendDynamicKey(cause.name, first: index == 0, into: &out)
      out.appendUInt(end.losses.total(cause))
    }
    out.appendRaw("}}\n")
  }

  /// A `lost` record: what was lost since the last one (or the start), by
  /// cause and kind, and the total so far. Written as soon as losses are seen.
  public func encode(_ lost: LostRecord, into out: inout JSONBuffer) {
    appendOpening("lost", epoch: lost.epochNanoseconds, boot: lost.bootNanoseconds, into: &out)
    out.appendKey("lost")
    out.appendUInt(lost.losses.total)
    out.appendKey("lost_total")
    out.appendUInt(lost.total)
    out.appendKey("by_cause")
    var first = true
    for cause in LossCause.allCases where lost.losses.total(cause) > 0 {
      appendDynamicKey(cause.name, first: first, into: &out)
      first = false
      var firstKind = true
      for kind in 0..<LossCounts.kindSlots where lost.losses[cause, kind] > 0 {
        appendDynamicKey(LossCounts.kindName(kind), first: firstKind, into: &out)
        firstKind = false
        out.appendUInt(lost.losses[cause, kind])
      }
      out.append(UInt8(ascii: "}"))
    }
    out.appendRaw(first ? "{}}\n" : "}}\n")
  }

  /// `,"key":` (or `{"key":`) for a key known only at run time (plain ASCII names).
  private func appendDynamicKey(_ key: String, first: Bool, into out: inout JSONBuffer) {
    out.append(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
    out.appendString(Array(key.utf8))
    out.append(UInt8(ascii: ":"))
  }

  /// An `exec` record for a process that was running before tracing began,
  /// marked `"from_proc":true`: its context read from /proc/PID.
  public func encode(_ process: ProcContext, into out: inout JSONBuffer) {
    appendHeader(
      RecordKind.exec.staticName, boot: process.startBootNanoseconds, pid: Int64(process.pid),
      tid: Int64(process.pid), ppid: Int64(process.ppid), uid: process.uid, gid: process.gid, comm: process.comm,
      cgroupID: process.cgroupID, netns: process.netns, into: &out)
    out.appendRaw(",\"exe\":")
    out.appendString(process.exe)
    out.appendRaw(",\"argv\":")
    out.appendStringArray(process.argv)
    out.appendRaw(",\"argv_truncated\":false,\"from_proc\":true}\n")
  }

  /// `{"event":KIND,"time":…,"ts_ns":"…"` for the tracer's own records.
  private func appendOpening(_ kind: StaticString, epoch: UInt64, boot: UInt64, into out: inout JSONBuffer) {
    out.appendRaw("{\"event\":\"")
    out.appendRaw(kind)
    out.appendRaw("\",\"time\":")
    out.appendTimestamp(epochNanoseconds: epoch)
    out.appendRaw(",\"ts_ns\":")
    out.appendUIntString(boot)
  }
}
