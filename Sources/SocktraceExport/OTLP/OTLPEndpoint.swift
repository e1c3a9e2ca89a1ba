import Glibc

/// An OTLP/HTTP logs endpoint: `http://HOST[:PORT][/PATH]`. A URL with no
/// path (or `/`) gets OTLP's `/v1/logs`, as OTEL_EXPORTER_OTLP_ENDPOINT does;
/// any other path is used as given. The host is resolved once, at start.
public struct OTLPEndpoint: Sendable {
  public let url: String
  public let host: String
  public let port: Int
  public let path: String
  /// The first address the host resolved to.
  let address: ResolvedAddress

  public static let defaultPort = 4318

  public init(parsing text: String) throws(ExportError) {
    url = text
    guard text.hasPrefix("http://") else {
      let reason =
        text.hasPrefix("https://")
        ? "https is not supported: send to a local collector over http (loopback or a trusted network)"
        : "expected an http:// URL, such as http://127.0.0.1:4318"
      throw .badValue(option: "--otlp", value: text, reason: reason)
    }
    let rest = text.dropFirst("http://".count)
    let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
    let pathPart = rest.dropFirst(authority.count)
    guard !authority.isEmpty, !authority.contains("@") else {
      throw .badValue(option: "--otlp", value: text, reason: "expected http://HOST[:PORT][/PATH]")
    }
    let hostPort: HostPort
    do {
      hostPort = try HostPort(parsing: String(authority), option: "--otlp", defaultPort: Self.defaultPort)
    } catch {
      throw .badValue(option: "--otlp", value: text, reason: "expected http://HOST[:PORT][/PATH]")
    }
    host = hostPort.host
    port = hostPort.port
    guard port > 0 else { throw .badValue(option: "--otlp", value: text, reason: "port 0 cannot be sent to") }
    path = pathPart.isEmpty || pathPart == "/" ? "/v1/logs" : String(pathPart)
    guard let resolved = ResolvedAddress.resolve(host: host, port: port) else {
      throw .badValue(option: "--otlp", value: text, reason: "cannot resolve host \(host)")
    }
    address = resolved
  }

  /// What goes in the Host header.
  var hostHeader: String {
    let name = host.contains(":") ? "[\(host)]" : host
    return port == 80 ? name : "\(name):\(port)"
  }
}

/// A resolved socket address, copied out of getaddrinfo.
struct ResolvedAddress: Sendable {
  var storage: sockaddr_storage
  var length: socklen_t
  var family: Int32

  static func resolve(host: String, port: Int) -> ResolvedAddress? {
    var hints = addrinfo()
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var list: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, "\(port)", &hints, &list) == 0, let first = list else { return nil }
    defer { freeaddrinfo(list) }
    var storage = sockaddr_storage()
    let length = first.pointee.ai_addrlen
    withUnsafeMutableBytes(of: &storage) { target in
      target.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(length)))
    }
    return ResolvedAddress(storage: storage, length: length, family: first.pointee.ai_family)
  }
}
