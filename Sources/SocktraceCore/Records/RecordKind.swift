import CSocktrace

/// The kinds of record the kernel writes (`enum st_kind` in socktrace.h), each
/// with the one name records carry as `event` (docs/schema.md). The JSON
/// encoder, the recording reader, loss reports, metrics, OTLP and the table
/// all take kind names from here.
public enum RecordKind: CaseIterable, Sendable {
  case socket, socketpair, accept, release, fork, exec, exit, bind, connect, listen, shutdown, connectResult

  /// The kind a record's `st_header.kind` names; nil for 0 and unknown numbers.
  public init?(number: Int) {
    guard let kind = Self.allCases.first(where: { $0.number == number }) else { return nil }
    self = kind
  }

  /// The kind named by an `event` field; nil for the tracer's own records
  /// (`start`, `end`, `lost`) and unknown names.
  public init?(name: some Collection<UInt8>) {
    guard let kind = Self.allCases.first(where: { $0.name.utf8.elementsEqual(name) }) else { return nil }
    self = kind
  }

  /// `st_kind`: how the BPF program numbers this kind.
  public var number: Int {
    switch self {
    case .socket: return Int(ST_KIND_SOCKET.rawValue)
    case .socketpair: return Int(ST_KIND_SOCKETPAIR.rawValue)
    case .accept: return Int(ST_KIND_ACCEPT.rawValue)
    case .release: return Int(ST_KIND_RELEASE.rawValue)
    case .fork: return Int(ST_KIND_FORK.rawValue)
    case .exec: return Int(ST_KIND_EXEC.rawValue)
    case .exit: return Int(ST_KIND_EXIT.rawValue)
    case .bind: return Int(ST_KIND_BIND.rawValue)
    case .connect: return Int(ST_KIND_CONNECT.rawValue)
    case .listen: return Int(ST_KIND_LISTEN.rawValue)
    case .shutdown: return Int(ST_KIND_SHUTDOWN.rawValue)
    case .connectResult: return Int(ST_KIND_CONNECTED.rawValue)
    }
  }

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
