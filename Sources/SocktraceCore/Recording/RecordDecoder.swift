/// Why a JSON object is not a record of the schema: the field and what is wrong.
struct FieldError: Error, Equatable {
  let reason: String
}

/// Maps one parsed JSON object to a typed record (docs/schema.md). Fields
/// the views need are required and type-checked; the rest are optional, so
/// a recording from an older or newer tracer still reads.
enum RecordDecoder {
  /// The kind named by `event`, or nil when it is not one the schema defines.
  static func decode(_ object: [String: JSONValue], line: Int) throws(FieldError) -> RecordedEvent? {
    try decode(Fields(object: object), line: line)
  }

  /// A recording line read by `JSONParser.parseFlat`.
  static func decode(flat: FlatObject, line: Int) throws(FieldError) -> RecordedEvent? {
    try decode(Fields(flat: flat), line: line)
  }

  /// Whether a line is a `lost` record (the tracer's live loss reports).
  static func isLost(_ flat: FlatObject) -> Bool { Fields(flat: flat).isString("event", "lost") }

  /// A `lost` record's count.
  static func lostCount(_ flat: FlatObject) -> UInt64? { try? Fields(flat: flat).optionalUInt64("lost") }

  static func kindName(_ flat: FlatObject) -> [UInt8]? { try? Fields(flat: flat).optionalBytes("event") }

  private static func decode(_ fields: Fields, line: Int) throws(FieldError) -> RecordedEvent? {
    let name = try fields.string("event")
    switch name {
    case "start": return .start(try start(fields, line: line))
    case "end": return .end(try end(fields, line: line))
    default: break
    }
    guard let kind = RecordKind(name: name.utf8) else { return nil }
    switch kind {
    case .socket: return .socket(try socket(fields, header: try header(fields, line: line), source: .socket))
    case .socketpair:
      return .socket(try socket(fields, header: try header(fields, line: line), source: .socketpair))
    case .accept: return .socket(try socket(fields, header: try header(fields, line: line), source: .accept))
    case .release:
      return .release(
        RecordedRelease(
          header: try header(fields, line: line), inode: try fields.uint64("inode"),
          how: try fields.optionalEnum("how", ReleaseKind.self) ?? .release))
    case .fork:
      let childPID = try fields.uint32("child_pid")
      return .fork(
        RecordedFork(
          header: try header(fields, line: line), childPID: childPID,
          childTID: try fields.optionalUInt32("child_tid") ?? childPID))
    case .exec:
      return .exec(
        RecordedExec(
          header: try header(fields, line: line), exe: try fields.optionalBytes("exe") ?? [],
          argv: try fields.byteStrings("argv"), argvTruncated: try fields.optionalBool("argv_truncated") ?? false))
    case .exit:
      return .exit(
        RecordedExit(
          header: try header(fields, line: line), exitCode: try fields.optionalInt64("exit_code") ?? 0,
          signal: try fields.optionalInt64("signal") ?? 0))
    case .bind, .connect, .listen, .shutdown, .connectResult:
      guard let call = RecordedCall.Kind(kind) else { return nil }
      return .call(try self.call(fields, header: try header(fields, line: line), kind: call))
    }
  }

  private static func call(_ fields: Fields, header: RecordedHeader, kind: RecordedCall.Kind) throws(FieldError)
    -> RecordedCall
  {
    var call = RecordedCall(header: header, kind: kind)
    call.fd = try fields.optionalInt64("fd")
    call.inode = try fields.optionalUInt64("inode")
    call.address = try fields.optionalBytes("address")
    call.port = try fields.optionalInt64("port")
    call.backlog = try fields.optionalInt64("backlog")
    call.localAddress = try fields.optionalBytes("local_address")
    call.peerPID = try fields.optionalUInt32("peer_pid")
    call.peerComm = try fields.optionalBytes("peer_comm")
    call.peerInode = try fields.optionalUInt64("peer_inode")
    call.how = try fields.optionalLabel("how")
    call.errno = try fields.optionalInt64("errno") ?? 0
    call.error = try fields.optionalLabel("error")
    if call.error == nil && call.errno != 0 { call.error = String(call.errno) }
    call.duration = try fields.optionalUInt64("duration_ns") ?? 0
    call.bornBeforeTrace = try fields.optionalBool("born_before_trace") ?? false
    if kind == .connectResult {
      call.established = try fields.optionalString("result").map { $0 == "established" }
    }
    return call
  }

  static func kindName(_ object: [String: JSONValue]) -> [UInt8]? {
    if case .string(let bytes)? = object["event"] { return bytes }
    return nil
  }

  private static func header(_ fields: Fields, line: Int) throws(FieldError) -> RecordedHeader {
    let pid = try fields.uint32("pid")
    var container: ContainerContext?
    if let runtime = try fields.optionalEnum("container_runtime", ContainerRuntime.self),
      let id = try fields.optionalString("container_id")
    {
      container = ContainerContext(runtime: runtime, id: id)
    }
    return RecordedHeader(
      line: line, timestamp: try fields.uint64("ts_ns"), pid: pid, tid: try fields.optionalUInt32("tid") ?? pid,
      ppid: try fields.optionalUInt32("ppid") ?? 0, comm: try fields.optionalBytes("comm") ?? [],
      container: container, podUID: try fields.optionalString("pod_uid"))
  }

  private static func socket(_ fields: Fields, header: RecordedHeader, source: SocketSource) throws(FieldError)
    -> RecordedSocket
  {
    var socket = RecordedSocket(
      header: header, source: source, family: try fields.label("family"), type: try fields.label("type"),
      protocol: try fields.label("protocol"))
    socket.flags = try fields.labels("flags")
    socket.isKernel = try fields.optionalBool("kernel") ?? false
    socket.fd = try fields.optionalInt64("fd")
    socket.inode = try fields.optionalUInt64("inode")
    socket.peerFD = try fields.optionalInt64("peer_fd")
    socket.peerInode = try fields.optionalUInt64("peer_inode")
    socket.listenFD = try fields.optionalInt64("listen_fd")
    socket.listenInode = try fields.optionalUInt64("listen_inode")
    if source != .socketpair { socket.peerAddress = try fields.optionalBytes("address") }
    socket.localAddress = try fields.optionalBytes("local_address")
    socket.peerPID = try fields.optionalUInt32("peer_pid")
    socket.peerComm = try fields.optionalBytes("peer_comm")
    socket.openAtStart = try fields.optionalString("via") == "snapshot"
    socket.state = try fields.optionalString("state")
    socket.errno = try fields.optionalInt64("errno") ?? 0
    socket.error = try fields.optionalLabel("error")
    if socket.error == nil && socket.errno != 0 { socket.error = String(socket.errno) }
    socket.failedStage = try fields.optionalEnum("failed_stage", Stage.self)
    if let cause = try fields.optionalEnum("cause", FailureCause.self) {
      var failure = FailureExplanation(cause: cause)
      failure.fdLimit = try fields.optionalInt64("fd_limit").flatMap { Int32(exactly: $0) }
      failure.openFDs = try fields.optionalInt64("open_fds").flatMap { Int32(exactly: $0) }
      failure.openFDsAtLeast = try fields.optionalBool("open_fds_at_least") ?? false
      failure.module = try fields.optionalString("module")
      failure.lsm = try fields.optionalString("lsm")
      failure.capability = try fields.optionalString("capability")
      failure.filesOpen = try fields.optionalInt64("files_open")
      failure.fileMax = try fields.optionalInt64("file_max")
      socket.failure = failure
    }
    socket.duration = try fields.optionalUInt64("duration_ns") ?? 0
    if let stages = try fields.optionalObject("stages") {
      let inner = Fields(object: stages, prefix: "stages.")
      socket.stages = RecordedStages(
        sockCreate: try inner.uint64("sock_create_ns"), sockMapFD: try inner.uint64("sock_map_fd_ns"))
    }
    socket.probe = try fields.optionalEnum("probe", Rung.self)
    return socket
  }

  private static func start(_ fields: Fields, line: Int) throws(FieldError) -> RecordedStart {
    var pids: [UInt32] = []
    if let values = fields.optionalArray("pids") {
      for value in values {
        guard case .number(let number) = value, let pid = number.uint64, let pid32 = UInt32(exactly: pid) else {
          throw FieldError(reason: "\"pids\" holds something other than pids")
        }
        pids.append(pid32)
      }
    }
    return RecordedStart(
      line: line, timestamp: try fields.uint64("ts_ns"), bootOffset: try fields.optionalUInt64("boot_offset_ns"),
      version: try fields.optionalString("version"), commit: try fields.optionalString("commit"),
      kernel: try fields.optionalString("kernel"),
      host: try fields.optionalString("host"), probe: try fields.optionalEnum("probe", Rung.self),
      schema: Int(try fields.optionalInt64("schema") ?? 1), pids: pids,
      follow: try fields.optionalBool("follow") ?? false)
  }

  private static func end(_ fields: Fields, line: Int) throws(FieldError) -> RecordedEnd {
    RecordedEnd(
      line: line, timestamp: try fields.uint64("ts_ns"), events: try fields.optionalUInt64("events"),
      sockets: try fields.optionalUInt64("sockets"), failed: try fields.optionalUInt64("failed"),
      lost: try fields.optionalUInt64("lost") ?? 0, decodeErrors: try fields.optionalUInt64("decode_errors") ?? 0,
      duration: try fields.optionalUInt64("duration_ns"))
  }
}

/// Typed access to an object's fields; errors name the field. Reads a
/// `FlatObject` (a recording line, decoded field by field as asked) or a
/// parsed object (nested ones, and callers holding a `JSONValue`).
private struct Fields {
  enum Storage {
    case flat(FlatObject)
    case dictionary([String: JSONValue])
  }

  /// A present, non-null value.
  enum Raw {
    case number(JSONNumber)
    /// A string without escapes, still in the flat line.
    case text(Range<Int>)
    case value(JSONValue)
  }

  let storage: Storage
  var prefix = ""

  init(object: [String: JSONValue], prefix: String = "") {
    storage = .dictionary(object)
    self.prefix = prefix
  }

  init(flat: FlatObject) {
    storage = .flat(flat)
  }

  private func missing(_ key: StaticString) -> FieldError {
    FieldError(reason: "\"\(prefix)\(key)\" is missing")
  }
  private func wrong(_ key: StaticString, _ expected: String) -> FieldError {
    FieldError(reason: "\"\(prefix)\(key)\" is not \(expected)")
  }

  /// Present and not null.
  private func value(_ key: StaticString) -> Raw? {
    switch storage {
    case .dictionary(let object):
      switch object[key.description] {
      case nil, .null?: return nil
      case .number(let number)?: return .number(number)
      case let value?: return .value(value)
      }
    case .flat(let flat):
      switch flat.value(key) {
      case nil, .null?: return nil
      case .bool(let flag)?: return .value(.bool(flag))
      case .number(let range)?: return flat.number(range).map { .number($0) } ?? .value(.null)
      case .string(let range, false)?: return .text(range)
      case .string(let range, true)?: return .value(.string(flat.stringBytes(range, escaped: true)))
      case .composite(let value)?: return .value(value)
      }
    }
  }

  /// The bytes of a string value.
  private func bytes(_ raw: Raw) -> [UInt8]? {
    switch raw {
    case .text(let range):
      if case .flat(let flat) = storage { return Array(flat.bytes[range]) }
      return nil
    case .value(.string(let bytes)): return bytes
    default: return nil
    }
  }

  /// A string value as text (names: family, error, how...).
  private func text(_ raw: Raw) -> String? {
    switch raw {
    case .text(let range):
      if case .flat(let flat) = storage { return String(decoding: flat.bytes[range], as: UTF8.self) }
      return nil
    case .value(.string(let bytes)): return String(decoding: bytes, as: UTF8.self)
    default: return nil
    }
  }

  /// Whether a string field holds exactly `name` (the record kind), without decoding it.
  func isString(_ key: StaticString, _ name: StaticString) -> Bool {
    guard let raw = value(key) else { return false }
    return name.withUTF8Buffer { expected in
      switch raw {
      case .text(let range):
        if case .flat(let flat) = storage { return flat.bytes[range].elementsEqual(expected) }
        return false
      case .value(.string(let bytes)): return bytes.elementsEqual(expected)
      default: return false
      }
    }
  }

  func uint64(_ key: StaticString) throws(FieldError) -> UInt64 {
    guard let value = try optionalUInt64(key) else { throw missing(key) }
    return value
  }

  /// A number, or (schema v2: `*_ns`, 64-bit ids) its decimal string.
  func optionalUInt64(_ key: StaticString) throws(FieldError) -> UInt64? {
    guard let raw = value(key) else { return nil }
    switch raw {
    case .number(let number):
      if let result = number.uint64 { return result }
    case .text(let range):
      if case .flat(let flat) = storage, let result = Self.decimal(flat.bytes[range]) { return result }
    case .value(.string(let bytes)):
      if let result = Self.decimal(bytes[...]) { return result }
    default: break
    }
    throw wrong(key, "a non-negative integer")
  }

  /// 1 to 20 ASCII digits that fit 64 bits.
  private static func decimal(_ digits: ArraySlice<UInt8>) -> UInt64? {
    guard !digits.isEmpty, digits.count <= 20 else { return nil }
    var result: UInt64 = 0
    for byte in digits {
      guard byte >= 0x30 && byte <= 0x39 else { return nil }
      let (times, overflow1) = result.multipliedReportingOverflow(by: 10)
      let (sum, overflow2) = times.addingReportingOverflow(UInt64(byte - 0x30))
      if overflow1 || overflow2 { return nil }
      result = sum
    }
    return result
  }

  func uint32(_ key: StaticString) throws(FieldError) -> UInt32 {
    guard let value = try optionalUInt32(key) else { throw missing(key) }
    return value
  }

  func optionalUInt32(_ key: StaticString) throws(FieldError) -> UInt32? {
    guard let value = try optionalUInt64(key) else { return nil }
    guard let result = UInt32(exactly: value) else { throw wrong(key, "a 32-bit id") }
    return result
  }

  func optionalInt64(_ key: StaticString) throws(FieldError) -> Int64? {
    guard let raw = value(key) else { return nil }
    guard case .number(let number) = raw, let result = number.int64 else { throw wrong(key, "an integer") }
    return result
  }

  func optionalBool(_ key: StaticString) throws(FieldError) -> Bool? {
    guard let raw = value(key) else { return nil }
    guard case .value(.bool(let result)) = raw else { throw wrong(key, "true or false") }
    return result
  }

  func string(_ key: StaticString) throws(FieldError) -> String {
    guard let value = try optionalString(key) else { throw missing(key) }
    return value
  }

  func optionalString(_ key: StaticString) throws(FieldError) -> String? {
    guard let raw = value(key) else { return nil }
    guard let text = text(raw) else { throw wrong(key, "a string") }
    return text
  }

  /// A name from a closed set (stage, probe, how); a name this version does
  /// not know is an error that says so.
  func optionalEnum<Name: RawRepresentable & CaseIterable>(_ key: StaticString, _ type: Name.Type) throws(FieldError)
    -> Name?
  where Name.RawValue == String {
    guard let text = try optionalString(key) else { return nil }
    guard let result = Name(rawValue: text) else {
      let known = Name.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
      throw wrong(key, "one of " + known)
    }
    return result
  }

  func optionalBytes(_ key: StaticString) throws(FieldError) -> [UInt8]? {
    guard let raw = value(key) else { return nil }
    guard let bytes = bytes(raw) else { throw wrong(key, "a string") }
    return bytes
  }

  /// A number that has a name: the name, or the number as text.
  func label(_ key: StaticString) throws(FieldError) -> String {
    guard let value = try optionalLabel(key) else { throw missing(key) }
    return value
  }

  func optionalLabel(_ key: StaticString) throws(FieldError) -> String? {
    guard let raw = value(key) else { return nil }
    if let text = text(raw) { return text }
    if case .number(let number) = raw {
      switch number {
      case .integer(let value): return String(value)
      case .unsigned(let value): return String(value)
      case .float: break
      }
    }
    throw wrong(key, "a name or an integer")
  }

  func labels(_ key: StaticString) throws(FieldError) -> [String] {
    guard let raw = value(key) else { return [] }
    guard case .value(.array(let elements)) = raw else { throw wrong(key, "an array") }
    var result: [String] = []
    for element in elements {
      switch element {
      case .string(let bytes): result.append(String(decoding: bytes, as: UTF8.self))
      case .number(.integer(let number)): result.append(String(number))
      default: throw wrong(key, "an array of names")
      }
    }
    return result
  }

  func byteStrings(_ key: StaticString) throws(FieldError) -> [[UInt8]] {
    guard let raw = value(key) else { return [] }
    guard case .value(.array(let elements)) = raw else { throw wrong(key, "an array") }
    var result: [[UInt8]] = []
    for element in elements {
      guard case .string(let bytes) = element else { throw wrong(key, "an array of strings") }
      result.append(bytes)
    }
    return result
  }

  func optionalArray(_ key: StaticString) -> [JSONValue]? {
    guard case .value(.array(let elements))? = value(key) else { return nil }
    return elements
  }

  func optionalObject(_ key: StaticString) throws(FieldError) -> [String: JSONValue]? {
    guard let raw = value(key) else { return nil }
    guard case .value(.object(let result)) = raw else { throw wrong(key, "an object") }
    return result
  }
}
