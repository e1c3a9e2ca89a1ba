/// Writes each event as one JSON object per line (the schema is
/// docs/schema.md). Appends into a caller-owned buffer.
public struct JSONLinesEncoder {
  public let clock: BootClock

  public init(clock: BootClock) { self.clock = clock }

  public func encode(_ event: TraceEvent, into out: inout JSONBuffer) {
    switch event {
    case .socket(let socket): encodeSocket(socket, into: &out)
    case .release(let release):
      encodeHeader("release", release.header, into: &out)
      out.appendKey("inode")
      out.appendUInt(release.inode)
      out.appendKey("family")
      if let family = release.family {
        out.appendName(SocketNames.family(family), orNumber: family)
      } else {
        out.appendNull()
      }
      out.appendKey("how")
      out.appendRaw(release.how == "close" ? "\"close\"" : "\"release\"")
    case .fork(let fork):
      encodeHeader("fork", fork.header, into: &out)
      out.appendKey("child_pid")
      out.appendUInt(UInt64(fork.childPID))
      out.appendKey("child_tid")
      out.appendUInt(UInt64(fork.childTID))
    case .exec(let exec):
      encodeHeader("exec", exec.header, into: &out)
      out.appendKey("exe")
      out.appendString(exec.filename)
      out.appendKey("argv")
      out.append(UInt8(ascii: "["))
      for (index, argument) in exec.arguments.enumerated() {
        if index > 0 { out.append(UInt8(ascii: ",")) }
        out.appendString(argument)
      }
      out.append(UInt8(ascii: "]"))
      out.appendKey("argv_truncated")
      out.appendBool(exec.argumentsTruncated)
    case .exit(let exit):
      encodeHeader("exit", exit.header, into: &out)
      out.appendKey("exit_code")
      out.appendInt(Int64(exit.exitCode))
      out.appendKey("signal")
      out.appendInt(Int64(exit.signal))
    }
    out.appendRaw("}\n")
  }

  private func encodeHeader(_ kind: StaticString, _ header: EventHeader, into out: inout JSONBuffer) {
    out.appendKey("event", first: true)
    out.append(UInt8(ascii: "\""))
    out.appendRaw(kind)
    out.append(UInt8(ascii: "\""))
    out.appendKey("time")
    out.appendTimestamp(epochNanoseconds: clock.epochNanoseconds(boot: header.bootTimeNanoseconds))
    out.appendKey("ts_ns")
    out.appendUInt(header.bootTimeNanoseconds)
    out.appendKey("pid")
    out.appendUInt(UInt64(header.pid))
    out.appendKey("tid")
    out.appendUInt(UInt64(header.tid))
    out.appendKey("ppid")
    out.appendUInt(UInt64(header.ppid))
    out.appendKey("uid")
    out.appendUInt(UInt64(header.uid))
    out.appendKey("gid")
    out.appendUInt(UInt64(header.gid))
    out.appendKey("comm")
    withUnsafeBytes(of: header.raw.comm) { bytes in
      out.appendString(bytes.prefix { $0 != 0 })
    }
    out.appendKey("cgroup_id")
    out.appendUInt(header.cgroupID)
    out.appendKey("netns")
    out.appendUInt(UInt64(header.networkNamespace))
  }

  private func encodeSocket(_ event: SocketEvent, into out: inout JSONBuffer) {
    switch event.source {
    case .socket: encodeHeader("socket", event.header, into: &out)
    case .socketpair: encodeHeader("socketpair", event.header, into: &out)
    case .accept: encodeHeader("accept", event.header, into: &out)
    }
    out.appendKey("family")
    out.appendName(SocketNames.family(event.family), orNumber: event.family)
    out.appendKey("family_num")
    out.appendInt(Int64(event.family))
    out.appendKey("type")
    out.appendName(SocketNames.type(event.type), orNumber: event.type)
    out.appendKey("type_num")
    out.appendInt(Int64(event.type))
    out.appendKey("flags")
    out.append(UInt8(ascii: "["))
    for (index, flag) in SocketNames.flags(ofType: event.requestedType).enumerated() {
      if index > 0 { out.append(UInt8(ascii: ",")) }
      out.appendName(flag, orNumber: 0)
    }
    out.append(UInt8(ascii: "]"))
    out.appendKey("protocol")
    out.appendName(SocketNames.protocol(event.protocol, family: event.family), orNumber: event.protocol)
    out.appendKey("protocol_num")
    out.appendInt(Int64(event.protocol))
    out.appendKey("requested_protocol_num")
    out.appendInt(Int64(event.requestedProtocol))
    out.appendKey("kernel")
    out.appendBool(event.isKernel)
    out.appendKey("fd")
    appendOptional(event.fd.map { Int64($0) }, into: &out)
    out.appendKey("inode")
    appendOptional(event.inode.map { Int64(bitPattern: $0) }, into: &out)
    switch event.source {
    case .socket: break
    case .socketpair:
      out.appendKey("peer_fd")
      appendOptional(event.succeeded ? event.secondFD.map { Int64($0) } : nil, into: &out)
      out.appendKey("peer_inode")
      appendOptional(event.succeeded ? event.secondInode.map { Int64(bitPattern: $0) } : nil, into: &out)
    case .accept:
      out.appendKey("listen_fd")
      appendOptional(event.secondFD.map { Int64($0) }, into: &out)
      out.appendKey("listen_inode")
      appendOptional(event.secondInode.map { Int64(bitPattern: $0) }, into: &out)
    }
    out.appendKey("ret")
    out.appendInt(Int64(event.returnValue))
    out.appendKey("errno")
    out.appendInt(Int64(event.errno))
    out.appendKey("error")
    if event.succeeded {
      out.appendNull()
    } else {
      out.appendName(ErrnoNames.name(event.errno), orNumber: event.errno)
    }
    out.appendKey("failed_stage")
    if let stage = event.failedStage {
      out.appendName(stage.name, orNumber: 0)
    } else {
      out.appendNull()
    }
    out.appendKey("duration_ns")
    out.appendUInt(event.durationNanoseconds)
    out.appendKey("stages")
    if let stages = event.stages {
      out.appendKey("sock_create_ns", first: true)
      out.appendUInt(stages.sockCreate)
      out.appendKey("sock_map_fd_ns")
      out.appendUInt(stages.sockMapFD)
      out.append(UInt8(ascii: "}"))
    } else {
      out.appendNull()
    }
    out.appendKey("probe")
    out.appendName(event.probe?.name, orNumber: Int32(event.raw.probe))
  }

  private func appendOptional(_ value: Int64?, into out: inout JSONBuffer) {
    if let value { out.appendInt(value) } else { out.appendNull() }
  }
}
