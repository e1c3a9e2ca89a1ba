/// The kinds of record the kernel writes (`enum st_kind` in socktrace.h), each
/// with the one name records carry as `event` (docs/schema.md). The JSON
/// encoder, the recording reader, loss reports, metrics, OTLP and the table
/// all take kind names from here.
public enum RecordKind: Int, CaseIterable, Sendable {
  /// The raw value is `st_kind`, how the BPF program numbers the kind: dense
  /// from 1 in this order (LayoutTests pins each to socktrace.h's ST_KIND_*).
  case socket = 1
  case socketpair, accept, release, fork, exec, exit, bind, connect, listen, shutdown, connectResult

  /// The kind a record's `st_header.kind` names; nil for 0 and unknown numbers.
  public init?(number: Int) { self.init(rawValue: number) }

  /// The kind named by an `event` field; nil for the tracer's own records
  /// (`start`, `end`, `lost`) and unknown names.
  public init?(name: some Collection<UInt8>) {
    guard let kind = Self.allCases.first(where: { $0.name.utf8.elementsEqual(name) }) else { return nil }
    self = kind
  }

  /// `st_kind`: how the BPF program numbers this kind.
  public var number: Int { rawValue }

  /// The `event` name, a constant string: the encoder writes it into every
  /// record without allocating.
  public var staticName: StaticString {
    switch self {
    case .socket: return "socket"
    case .socketpair: return "socketpair"
    case .accept: return "accept"
    case .release: return "release"
    case .fork: return "fork"
    case .exec: return "exec"
    case .exit: return "exit"
    case .bind: return "bind"
    case .connect: return "connect"
    case .listen: return "listen"
    case .shutdown: return "shutdown"
    case .connectResult: return "connect_result"
    }
  }

  public var name: String { staticName.description }
}

/// Which call gave birth to a socket.
public enum SocketSource: Int, Sendable {
  /// The raw value is the record kind's number (`RecordKind`).
  case socket = 1
  case socketpair, accept

  public var kind: RecordKind { RecordKind(rawValue: rawValue) ?? .socket }
}

/// A call on an existing socket: what it became.
public enum SocketCall: Int, Sendable, CaseIterable {
  /// The raw value is the record kind's number (`RecordKind`).
  case bind = 8
  case connect, listen, shutdown

  public var kind: RecordKind { RecordKind(rawValue: rawValue) ?? .shutdown }
}

/// shutdown(2)'s `how` argument by its `<sys/socket.h>` name.
public enum ShutdownHow {
  /// `SHUT_RD`, `SHUT_WR`, `SHUT_RDWR`; nil for any other number.
  public static func staticName(_ how: Int32) -> StaticString? {
    switch how {
    case 0: return "SHUT_RD"
    case 1: return "SHUT_WR"
    case 2: return "SHUT_RDWR"
    default: return nil
    }
  }

  public static func name(_ how: Int32) -> String? { staticName(how)?.description }
}
