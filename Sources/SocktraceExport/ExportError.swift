/// What can go wrong setting up --metrics and --otlp: one line for the user,
/// raised before anything is attached.
public enum ExportError: Error, CustomStringConvertible, Equatable {
  /// An option's value is not an address or URL socktrace can use.
  case badValue(option: String, value: String, reason: String)
  /// The metrics listener could not bind its address.
  case bind(address: String, reason: String)

  public var description: String {
    switch self {
    case .badValue(let option, let value, let reason):
      return "\(option) \(value): \(reason)"
    case .bind(let address, let reason):
      return "--metrics \(address): cannot listen: \(reason)"
    }
  }
}

/// `HOST:PORT`, `[V6]:PORT` or `:PORT` (every address), for --metrics.
public struct HostPort: Equatable, Sendable {
  public var host: String
  public var port: Int

  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  public init(parsing text: String, option: String, defaultPort: Int? = nil) throws(ExportError) {
    var hostPart = Substring(text)
    var portPart: Substring?
    if hostPart.hasPrefix("[") {
      guard let close = hostPart.firstIndex(of: "]") else {
        throw .badValue(option: option, value: text, reason: "an IPv6 address needs its closing ]")
      }
      let rest = hostPart[hostPart.index(after: close)...]
      hostPart = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
      if rest.hasPrefix(":") {
        portPart = rest.dropFirst()
      } else if !rest.isEmpty {
        throw .badValue(option: option, value: text, reason: "expected HOST:PORT")
      }
    } else if let colon = hostPart.lastIndex(of: ":") {
      portPart = hostPart[hostPart.index(after: colon)...]
      hostPart = hostPart[..<colon]
    }
    let portText = portPart.map(String.init)
    guard let port = portText.flatMap({ Int($0) }) ?? (portText == nil ? defaultPort : nil) else {
      throw .badValue(option: option, value: text, reason: "expected HOST:PORT with a port number")
    }
    guard (0...65535).contains(port) else {
      throw .badValue(option: option, value: text, reason: "port \(port) is out of range")
    }
    self.host = hostPart.isEmpty ? "0.0.0.0" : String(hostPart)
    self.port = port
  }
}
