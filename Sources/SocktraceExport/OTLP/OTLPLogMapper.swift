import Glibc
import OTLPProto
import SocktraceCore

typealias LogRecord = Opentelemetry_Proto_Logs_V1_LogRecord
typealias KeyValue = Opentelemetry_Proto_Common_V1_KeyValue
typealias AnyValue = Opentelemetry_Proto_Common_V1_AnyValue

/// Turns each record into one OTLP log record (the exporter's thread).
///
/// Attributes follow OpenTelemetry's semantic conventions where one exists:
/// `process.pid`, `process.parent_pid`, `thread.id`, `process.executable.name`
/// (the kernel's comm: /proc/PID/status Name), `process.real_user.id`,
/// `network.transport` (tcp, udp, unix), `network.type` (ipv4, ipv6),
/// `error.type` (the errno name of a failed call), `container.id`,
/// `container.runtime.name`, `k8s.pod.uid` (from the cgroup path), `process.executable.path`
/// and `process.command_args` (exec), `process.exit.code`; the rest are
/// `socktrace.*`, named as in the JSON schema (docs/schema.md). The event
/// name is `socktrace.<event>`; the body is a one-line summary.
struct OTLPLogMapper {
  let clock: BootClock
  /// cgroup id -> path and container (the exporter thread's own cache).
  let cgroups = CgroupResolver()

  func logRecord(_ event: TraceEvent, observedAt now: UInt64) -> LogRecord {
    var record = LogRecord()
    let header = event.header
    record.timeUnixNano = clock.epochNanoseconds(boot: header.bootTimeNanoseconds)
    record.observedTimeUnixNano = now
    var attributes: [KeyValue] = [
      .int("process.pid", header.pid), .int("process.parent_pid", header.ppid), .int("thread.id", header.tid),
      .string("process.executable.name", header.comm), .int("process.real_user.id", header.uid),
      .int("socktrace.gid", header.gid), .int("socktrace.cgroup_id", header.cgroupID),
      .int("socktrace.netns", header.networkNamespace),
    ]
    if let path = cgroups.path(for: header.cgroupID) {
      attributes.append(.text("socktrace.cgroup_path", path))
      if let container = CgroupNames.container(inPath: path) {
        attributes.append(.text("container.id", container.id))
        attributes.append(.text("container.runtime.name", container.runtime.rawValue))
      }
      if let pod = CgroupNames.podUID(inPath: path) { attributes.append(.text("k8s.pod.uid", pod)) }
    }
    let kind = event.kind.name
    var body: String
    var failed = false
    switch event {
    case .socket(let socket):
      body = socketAttributes(socket, into: &attributes)
      failed = !socket.succeeded
    case .release(let release):
      attributes.append(.int("socktrace.inode", release.inode))
      if let family = release.family { attributes.append(.text("socktrace.family", familyName(family))) }
      let how = release.how?.rawValue ?? "unknown"
      attributes.append(.text("socktrace.how", how))
      body = "release inode \(release.inode) (\(how))"
    case .fork(let fork):
      attributes.append(.int("socktrace.child_pid", fork.childPID))
      attributes.append(.int("socktrace.child_tid", fork.childTID))
      body = "fork child pid \(fork.childPID)"
    case .exec(let exec):
      attributes.append(.string("process.executable.path", exec.filename))
      attributes.append(KeyValue(key: "process.command_args", array: exec.arguments.map(AnyValue.init(bytes:))))
      attributes.append(.bool("socktrace.argv_truncated", exec.argumentsTruncated))
      body = "exec " + utf8OrEscaped(exec.filename)
    case .socketCall(let call):
      body = socketCallAttributes(call, into: &attributes)
      failed = !call.succeeded
    case .connectResult(let result):
      attributes.append(.int("socktrace.inode", result.inode))
      attributes.append(.text("socktrace.result", result.established ? "established" : "failed"))
      attributes.append(.int("socktrace.duration_ns", result.durationNanoseconds))
      body = "connect_result inode \(result.inode) " + (result.established ? "established" : "failed")
      if result.errno != 0 {
        let name = ErrnoNames.name(result.errno) ?? "E\(result.errno)"
        attributes.append(.text("error.type", name))
        attributes.append(.int("socktrace.errno", result.errno))
        body += " " + name
        failed = true
      }
    case .exit(let exit):
      attributes.append(.int("process.exit.code", exit.exitCode))
      attributes.append(.int("socktrace.signal", exit.signal))
      body = exit.signal != 0 ? "exit by signal \(exit.signal)" : "exit \(exit.exitCode)"
    }
    // A failed call is a warning, every other record information.
    record.severityNumber = failed ? .warn : .info
    record.severityText = failed ? "WARN" : "INFO"
    attributes.append(.text("socktrace.event", kind))
    record.eventName = "socktrace." + kind
    record.body = AnyValue(text: body)
    record.attributes = attributes
    return record
  }

  /// A socket birth's attributes; returns the body.
  private func socketAttributes(_ socket: SocketEvent, into attributes: inout [KeyValue]) -> String {
    let family = familyName(socket.family)
    let type = SocketNames.typeLabel(socket.type)
    let proto = SocketNames.protocolLabel(socket.protocol, family: socket.family)
    let result = socket.succeeded ? "ok" : ErrnoNames.name(socket.errno) ?? "E\(socket.errno)"
    if let transport = Self.transport(family: socket.family, type: socket.type, protocol: socket.protocol) {
      attributes.append(.text("network.transport", transport))
    }
    if socket.family == AF_INET { attributes.append(.text("network.type", "ipv4")) }
    if socket.family == AF_INET6 { attributes.append(.text("network.type", "ipv6")) }
    attributes += [
      .text("socktrace.family", family), .int("socktrace.family_num", socket.family),
      .text("socktrace.type", type), .int("socktrace.type_num", socket.type),
      .text("socktrace.protocol", proto), .int("socktrace.protocol_num", socket.protocol),
      KeyValue(
        key: "socktrace.flags", array: SocketNames.flags(ofType: socket.requestedType).map(AnyValue.init(text:))),
      .bool("socktrace.kernel", socket.isKernel), .text("socktrace.result", result),
      .int("socktrace.ret", socket.returnValue), .int("socktrace.duration_ns", socket.durationNanoseconds),
    ]
    if let fd = socket.fd { attributes.append(.int("socktrace.fd", fd)) }
    if let inode = socket.inode { attributes.append(.int("socktrace.inode", inode)) }
    switch socket.source {
    case .socketpair:
      if let fd = socket.secondFD { attributes.append(.int("socktrace.peer_fd", fd)) }
      if let inode = socket.secondInode { attributes.append(.int("socktrace.peer_inode", inode)) }
    case .accept:
      if let fd = socket.secondFD { attributes.append(.int("socktrace.listen_fd", fd)) }
      if let inode = socket.secondInode { attributes.append(.int("socktrace.listen_inode", inode)) }
      if let peer = socket.peer {
        attributes.append(.string("network.peer.address", peer.text))
        if let port = peer.port { attributes.append(.int("network.peer.port", port)) }
      }
    case .socket: break
    }
    if let stages = socket.stages {
      attributes.append(.int("socktrace.sock_create_ns", stages.sockCreate))
      attributes.append(.int("socktrace.sock_map_fd_ns", stages.sockMapFD))
    }
    if let probe = socket.probe { attributes.append(.text("socktrace.probe", probe.rawValue)) }
    var body = "\(socket.source.kind.name) \(family) \(type) \(proto)"
    if socket.succeeded {
      if let fd = socket.fd { body += " fd \(fd)" }
    } else {
      attributes.append(.text("error.type", result))
      if let failure = socket.failure {
        attributes.append(.text("socktrace.cause", failure.cause.name))
        if let limit = failure.fdLimit { attributes.append(.int("socktrace.fd_limit", limit)) }
        if let open = failure.openFDs { attributes.append(.int("socktrace.open_fds", open)) }
        if let module = failure.module { attributes.append(.text("socktrace.module", module)) }
        if let lsm = failure.lsm { attributes.append(.text("socktrace.lsm", lsm)) }
      }
      let why = socket.failure.map { ": " + $0.text } ?? ""
      if let stage = socket.failedStage {
        attributes.append(.text("socktrace.failed_stage", stage.name))
        body += " failed \(result)\(why) in \(stage.name)"
      } else {
        body += " failed \(result)\(why)"
      }
      attributes.append(.int("socktrace.errno", socket.errno))
    }
    return body
  }

  /// bind, connect, listen, shutdown: the local (bind) or peer (connect)
  /// address as network.local.* / network.peer.*; returns the body.
  private func socketCallAttributes(_ call: SocketCallEvent, into attributes: inout [KeyValue]) -> String {
    attributes.append(.int("socktrace.fd", call.fd))
    if let inode = call.inode { attributes.append(.int("socktrace.inode", inode)) }
    attributes.append(.bool("socktrace.born_before_trace", call.bornBeforeTracing))
    if let family = call.family {
      attributes.append(.text("socktrace.family", familyName(family)))
      if family == AF_INET { attributes.append(.text("network.type", "ipv4")) }
      if family == AF_INET6 { attributes.append(.text("network.type", "ipv6")) }
      if let type = call.type, let transport = Self.transport(family: family, type: type, protocol: 0) {
        attributes.append(.text("network.transport", transport))
      }
    }
    if let type = call.type { attributes.append(.text("socktrace.type", SocketNames.typeLabel(type))) }
    var body = "\(call.call.kind.name) fd \(call.fd)"
    if let address = call.address {
      let side = call.call == .bind ? "network.local" : "network.peer"
      attributes.append(.string(side + ".address", address.text))
      if let port = address.port { attributes.append(.int(side + ".port", port)) }
      body += " " + utf8OrEscaped(address.text) + (address.port.map { ":\($0)" } ?? "")
    }
    if let backlog = call.backlog { attributes.append(.int("socktrace.backlog", backlog)) }
    if let how = call.how { attributes.append(.int("socktrace.how_num", how)) }
    attributes.append(.int("socktrace.ret", call.returnValue))
    attributes.append(.int("socktrace.duration_ns", call.durationNanoseconds))
    let result = call.succeeded ? "ok" : ErrnoNames.name(call.errno) ?? "E\(call.errno)"
    attributes.append(.text("socktrace.result", result))
    if !call.succeeded {
      attributes.append(.text("error.type", result))
      attributes.append(.int("socktrace.errno", call.errno))
      body += " failed \(result)"
    }
    return body
  }

  /// As JSON and the metrics name it: `AF_INET`, or `AF_255` for a family with no name.
  private func familyName(_ family: Int32) -> String { SocketNames.familyLabel(family) }

  /// OpenTelemetry's network.transport values that a socket's numbers name.
  static func transport(family: Int32, type: Int32, protocol: Int32) -> String? {
    if family == AF_UNIX { return "unix" }
    guard family == AF_INET || family == AF_INET6 else { return nil }
    switch (type, `protocol`) {
    case (Int32(SOCK_STREAM.rawValue), 0), (_, Int32(IPPROTO_TCP)): return "tcp"
    case (Int32(SOCK_DGRAM.rawValue), 0), (_, Int32(IPPROTO_UDP)): return "udp"
    default: return nil
    }
  }
}

/// Raw bytes as UTF-8 when they are; otherwise printable ASCII with \xNN
/// escapes (protobuf strings must be valid UTF-8; a process names itself).
func utf8OrEscaped(_ bytes: [UInt8]) -> String {
  if let text = String(validating: bytes, as: UTF8.self) { return text }
  return TextTable.printable(bytes)
}

extension KeyValue {
  init(key: String, value: AnyValue) {
    self.init()
    self.key = key
    self.value = value
  }

  init(key: String, array: [AnyValue]) {
    var list = Opentelemetry_Proto_Common_V1_ArrayValue()
    list.values = array
    var value = AnyValue()
    value.arrayValue = list
    self.init(key: key, value: value)
  }

  static func int<T: BinaryInteger>(_ key: String, _ value: T) -> KeyValue {
    var any = AnyValue()
    any.intValue = Int64(truncatingIfNeeded: value)
    return KeyValue(key: key, value: any)
  }

  static func text(_ key: String, _ value: String) -> KeyValue { KeyValue(key: key, value: AnyValue(text: value)) }

  static func string(_ key: String, _ bytes: [UInt8]) -> KeyValue { KeyValue(key: key, value: AnyValue(bytes: bytes)) }

  static func bool(_ key: String, _ value: Bool) -> KeyValue {
    var any = AnyValue()
    any.boolValue = value
    return KeyValue(key: key, value: any)
  }
}

extension AnyValue {
  init(text: String) {
    self.init()
    stringValue = text
  }

  /// Process-chosen bytes (comm, paths, argv) as a string value.
  init(bytes: [UInt8]) { self.init(text: utf8OrEscaped(bytes)) }
}
