import CSocktrace

/// Writes each event as one JSON object per line (the schema is
/// docs/schema.md). Appends into a caller-owned buffer.
public struct JSONLinesEncoder {
  public let clock: BootClock

  public init(clock: BootClock) { self.clock = clock }

  public func encode(_ event: TraceEvent, into out: inout JSONBuffer) {
    switch event {
    case .socket(let socket): encodeSocket(socket, into: &out)
    case .release(let release):
      encodeHeader("release", release.raw.h, into: &out)
      out.appendRaw(",\"inode\":")
      out.appendUInt(release.inode)
      out.appendRaw(",\"family\":")
      if let family = release.family {
        out.appendName(SocketNames.familyName(family), orNumber: family)
      } else {
        out.appendNull()
      }
      out.appendRaw(",\"how\":")
      out.appendRaw(release.seenAtClose ? "\"close\"" : "\"release\"")
    case .fork(let fork):
      encodeHeader("fork", fork.raw.h, into: &out)
      out.appendRaw(",\"child_pid\":")
      out.appendUInt(UInt64(fork.childPID))
      out.appendRaw(",\"child_tid\":")
      out.appendUInt(UInt64(fork.childTID))
    case .exec(let exec):
      encodeHeader("exec", exec.raw.h, into: &out)
      out.appendRaw(",\"exe\":")
      out.appendString(exec.filename)
      out.appendRaw(",\"argv\":")
      out.appendStringArray(exec.arguments)
      out.appendRaw(",\"argv_truncated\":")
      out.appendBool(exec.argumentsTruncated)
    case .exit(let exit):
      encodeHeader("exit", exit.raw.h, into: &out)
      out.appendRaw(",\"exit_code\":")
      out.appendInt(Int64(exit.exitCode))
      out.appendRaw(",\"signal\":")
      out.appendInt(Int64(exit.signal))
    }
    out.appendRaw("}\n")
  }

  private func encodeHeader(_ kind: StaticString, _ header: st_header, into out: inout JSONBuffer) {
    out.appendRaw("{\"event\":\"")
    out.appendRaw(kind)
    out.append(UInt8(ascii: "\""))
    out.appendRaw(",\"time\":")
    out.appendTimestamp(epochNanoseconds: clock.epochNanoseconds(boot: header.ts_ns))
    out.appendRaw(",\"ts_ns\":")
    out.appendUInt(header.ts_ns)
    out.appendRaw(",\"pid\":")
    out.appendUInt(UInt64(header.pid))
    out.appendRaw(",\"tid\":")
    out.appendUInt(UInt64(header.tid))
    out.appendRaw(",\"ppid\":")
    out.appendUInt(UInt64(header.ppid))
    out.appendRaw(",\"uid\":")
    out.appendUInt(UInt64(header.uid))
    out.appendRaw(",\"gid\":")
    out.appendUInt(UInt64(header.gid))
    out.appendRaw(",\"comm\":")
    withUnsafeBytes(of: header.comm) { bytes in
      out.appendString(bytes.prefix { $0 != 0 })
    }
    out.appendRaw(",\"cgroup_id\":")
    out.appendUInt(header.cgroup_id)
    out.appendRaw(",\"netns\":")
    out.appendUInt(UInt64(header.netns))
  }

  private func encodeSocket(_ event: SocketEvent, into out: inout JSONBuffer) {
    switch event.source {
    case .socket: encodeHeader("socket", event.raw.h, into: &out)
    case .socketpair: encodeHeader("socketpair", event.raw.h, into: &out)
    case .accept: encodeHeader("accept", event.raw.h, into: &out)
    }
    out.appendRaw(",\"family\":")
    out.appendName(SocketNames.familyName(event.family), orNumber: event.family)
    out.appendRaw(",\"family_num\":")
    out.appendInt(Int64(event.family))
    out.appendRaw(",\"type\":")
    out.appendName(SocketNames.typeName(event.type), orNumber: event.type)
    out.appendRaw(",\"type_num\":")
    out.appendInt(Int64(event.type))
    out.appendRaw(",\"flags\":")
    appendFlags(ofType: event.requestedType, into: &out)
    out.appendRaw(",\"protocol\":")
    out.appendName(SocketNames.protocolName(event.protocol, family: event.family), orNumber: event.protocol)
    out.appendRaw(",\"protocol_num\":")
    out.appendInt(Int64(event.protocol))
    out.appendRaw(",\"requested_protocol_num\":")
    out.appendInt(Int64(event.requestedProtocol))
    out.appendRaw(",\"kernel\":")
    out.appendBool(event.isKernel)
    out.appendRaw(",\"fd\":")
    appendOptional(event.fd.map { Int64($0) }, into: &out)
    out.appendRaw(",\"inode\":")
    appendOptional(event.inode.map { Int64(bitPattern: $0) }, into: &out)
    switch event.source {
    case .socket: break
    case .socketpair:
      out.appendRaw(",\"peer_fd\":")
      appendOptional(event.succeeded ? event.secondFD.map { Int64($0) } : nil, into: &out)
      out.appendRaw(",\"peer_inode\":")
      appendOptional(event.succeeded ? event.secondInode.map { Int64(bitPattern: $0) } : nil, into: &out)
    case .accept:
      out.appendRaw(",\"listen_fd\":")
      appendOptional(event.secondFD.map { Int64($0) }, into: &out)
      out.appendRaw(",\"listen_inode\":")
      appendOptional(event.secondInode.map { Int64(bitPattern: $0) }, into: &out)
    }
    out.appendRaw(",\"ret\":")
    out.appendInt(Int64(event.returnValue))
    out.appendRaw(",\"errno\":")
    out.appendInt(Int64(event.errno))
    out.appendRaw(",\"error\":")
    if event.succeeded {
      out.appendNull()
    } else {
      out.appendName(ErrnoNames.name(event.errno), orNumber: event.errno)
    }
    out.appendRaw(",\"failed_stage\":")
    if let stage = event.failedStage {
      out.appendName(stage.name, orNumber: 0)
    } else {
      out.appendNull()
    }
    out.appendRaw(",\"duration_ns\":")
    out.appendUInt(event.durationNanoseconds)
    out.appendRaw(",\"stages\":")
    if let stages = event.stages {
      out.appendRaw("{\"sock_create_ns\":")
      out.appendUInt(stages.sockCreate)
      out.appendRaw(",\"sock_map_fd_ns\":")
      out.appendUInt(stages.sockMapFD)
      out.append(UInt8(ascii: "}"))
    } else {
      out.appendNull()
    }
    out.appendRaw(",\"probe\":")
    switch event.probe {
    case .fentry: out.appendRaw("\"fentry\"")
    case .kprobe: out.appendRaw("\"kprobe\"")
    case .tracepoint: out.appendRaw("\"tracepoint\"")
    case nil: out.appendInt(Int64(event.raw.probe))
    }
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
      out.append(UInt8(ascii: "["))
      for (index, flag) in SocketNames.flags(ofType: type).enumerated() {
        if index > 0 { out.append(UInt8(ascii: ",")) }
        out.appendName(flag, orNumber: 0)
      }
      out.append(UInt8(ascii: "]"))
    }
  }

  private func appendOptional(_ value: Int64?, into out: inout JSONBuffer) {
    if let value { out.appendInt(value) } else { out.appendNull() }
  }
}
