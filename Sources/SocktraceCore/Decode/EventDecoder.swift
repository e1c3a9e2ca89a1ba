import CSocktrace

/// Why a ring-buffer record could not be decoded.
public enum DecodeError: Error, Equatable, CustomStringConvertible {
  case tooShort(size: Int)
  case unknownKind(UInt16)
  case sizeMismatch(kind: UInt16, declared: Int, expected: Int, available: Int)

  public var description: String {
    switch self {
    case .tooShort(let size): return "record of \(size) bytes is shorter than its header"
    case .unknownKind(let kind): return "record of unknown kind \(kind)"
    case .sizeMismatch(let kind, let declared, let expected, let available):
      return "record of kind \(kind) declares \(declared) bytes, expected \(expected), "
        + "has \(available)"
    }
  }
}

/// Turns the bytes of one ring-buffer record into a `TraceEvent`.
///
/// Checks the size and kind before reading anything and copies rather than
/// assumes alignment, so hostile or truncated bytes throw instead of trapping.
public enum EventDecoder {
  public static func decode(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> TraceEvent {
    guard bytes.count >= MemoryLayout<st_header>.size else {
      throw .tooShort(size: bytes.count)
    }
    let header = bytes.loadUnaligned(as: st_header.self)
    switch UInt32(header.kind) {
    case ST_KIND_SOCKET.rawValue, ST_KIND_SOCKETPAIR.rawValue, ST_KIND_ACCEPT.rawValue:
      return .socket(SocketEvent(raw: try load(st_socket.self, header, bytes)))
    case ST_KIND_RELEASE.rawValue:
      return .release(ReleaseEvent(raw: try load(st_release.self, header, bytes)))
    case ST_KIND_FORK.rawValue:
      return .fork(ForkEvent(raw: try load(st_fork.self, header, bytes)))
    case ST_KIND_EXEC.rawValue:
      return .exec(ExecEvent(raw: try load(st_exec.self, header, bytes)))
    case ST_KIND_EXIT.rawValue:
      return .exit(ExitEvent(raw: try load(st_exit.self, header, bytes)))
    case ST_KIND_BIND.rawValue, ST_KIND_CONNECT.rawValue, ST_KIND_LISTEN.rawValue, ST_KIND_SHUTDOWN.rawValue:
      return .socketCall(SocketCallEvent(raw: try load(st_sockop.self, header, bytes)))
    case ST_KIND_CONNECTED.rawValue:
      return .connectResult(ConnectResultEvent(raw: try load(st_connected.self, header, bytes)))
    default:
      throw .unknownKind(header.kind)
    }
  }

  private static func load<Record>(
    _ type: Record.Type, _ header: st_header, _ bytes: UnsafeRawBufferPointer
  ) throws(DecodeError) -> Record {
    let expected = MemoryLayout<Record>.size
    guard Int(header.size) == expected, bytes.count >= expected else {
      throw .sizeMismatch(
        kind: header.kind, declared: Int(header.size), expected: expected,
        available: bytes.count)
    }
    return bytes.loadUnaligned(as: Record.self)
  }
}
