/// One JSON value from a recording line. Strings are kept as the bytes they
/// decode to, not `String`: `comm`, `exe` and `argv` are whatever bytes a
/// process chose, and a hand-edited or foreign recording may carry invalid
/// UTF-8 that must survive to the renderers, which escape it.
public enum JSONValue: Equatable, Sendable {
  case null
  case bool(Bool)
  case number(JSONNumber)
  case string([UInt8])
  case array([JSONValue])
  case object([String: JSONValue])
}

/// A JSON number, exact when it is an integer: `ts_ns`, inodes and cgroup ids
/// are 64-bit and must not go through `Double`.
public enum JSONNumber: Equatable, Sendable {
  case integer(Int64)
  /// A non-negative integer above `Int64.max`.
  case unsigned(UInt64)
  /// Has a fraction or an exponent, or does not fit 64 bits.
  case float(Double)

  public var uint64: UInt64? {
    switch self {
    case .integer(let value): return value >= 0 ? UInt64(value) : nil
    case .unsigned(let value): return value
    case .float: return nil
    }
  }

  public var int64: Int64? {
    switch self {
    case .integer(let value): return value
    case .unsigned, .float: return nil
    }
  }
}

/// Why a line is not JSON, and where (1-based byte column).
public struct JSONSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
  public let column: Int
  public let reason: String
  /// The input ended inside a value: the mark of a line cut off mid-write.
  public let atEnd: Bool

  public var description: String {
    atEnd ? "invalid JSON: \(reason)" : "invalid JSON at column \(column): \(reason)"
  }
}

/// A small, strict-where-it-matters JSON parser for one recording line:
/// exact 64-bit integers, byte strings, a nesting limit so hostile input
/// cannot exhaust the stack. Lenient only inside strings, where raw control
/// bytes and invalid UTF-8 are kept rather than rejected.
public struct JSONParser {
  static let maximumDepth = 32

  private let bytes: [UInt8]
  private var index: Int
  private let end: Int
  /// Where column 1 is.
  private let lineStart: Int

  /// Parses `bytes[range]` as exactly one JSON value (whitespace around it allowed).
  public static func parse(_ bytes: [UInt8], in range: Range<Int>) throws(JSONSyntaxError) -> JSONValue {
    var parser = JSONParser(bytes: bytes, range: range)
    parser.skipWhitespace()
    let value = try parser.parseValue(depth: 0)
    parser.skipWhitespace()
    if parser.index < parser.end {
      throw parser.error("unexpected \(parser.describe(parser.bytes[parser.index])) after the value")
    }
    return value
  }

  public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
    try parse(bytes, in: 0..<bytes.count)
  }

  private init(bytes: [UInt8], range: Range<Int>) {
    self.bytes = bytes
    self.index = range.lowerBound
    self.end = range.upperBound
    self.lineStart = range.lowerBound
  }

  private func error(_ reason: String) -> JSONSyntaxError {
    JSONSyntaxError(column: index - lineStart + 1, reason: reason, atEnd: false)
  }

  private func endError(_ what: String) -> JSONSyntaxError {
    JSONSyntaxError(column: index - lineStart + 1, reason: "the line ends inside \(what)", atEnd: true)
  }

  private func describe(_ byte: UInt8) -> String {
    if byte >= 0x21 && byte < 0x7f { return "'\(Unicode.Scalar(byte))'" }
    let hex = String(byte, radix: 16)
    return "byte 0x" + (hex.count == 1 ? "0" : "") + hex
  }

  private mutating func skipWhitespace() {
    while index < end {
      switch bytes[index] {
      case 0x20, 0x09, 0x0a, 0x0d: index += 1
      default: return
      }
    }
  }

  private mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
    guard index < end else { throw endError("a value") }
    switch bytes[index] {
    case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
    case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "t"): return try parseLiteral("true", .bool(true))
    case UInt8(ascii: "f"): return try parseLiteral("false", .bool(false))
    case UInt8(ascii: "n"): return try parseLiteral("null", .null)
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
    default: throw error("unexpected \(describe(bytes[index]))")
    }
  }

  private mutating func parseLiteral(_ word: StaticString, _ value: JSONValue) throws(JSONSyntaxError)
    -> JSONValue
  {
    let start = index
    var matched = true
    word.withUTF8Buffer { expected in
      for byte in expected {
        guard index < end else { return }
        if bytes[index] != byte {
          matched = false
          return
        }
        index += 1
      }
    }
    guard matched else {
      index = start
      throw error("unexpected \(describe(bytes[start]))")
    }
    if index - start < word.utf8CodeUnitCount { throw endError("a literal") }
    return value
  }

  private mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONValue {
    guard depth <= Self.maximumDepth else { throw error("nested more than \(Self.maximumDepth) deep") }
    index += 1  // {
    var members: [String: JSONValue] = [:]
    skipWhitespace()
    guard index < end else { throw endError("an object") }
    if bytes[index] == UInt8(ascii: "}") {
      index += 1
      return .object(members)
    }
    while true {
      skipWhitespace()
      guard index < end else { throw endError("an object") }
      guard bytes[index] == UInt8(ascii: "\"") else {
        throw error("expected a key, found \(describe(bytes[index]))")
      }
      let key = String(decoding: try parseString(), as: UTF8.self)
      skipWhitespace()
      guard index < end else { throw endError("an object") }
      guard bytes[index] == UInt8(ascii: ":") else {
        throw error("expected ':' after a key, found \(describe(bytes[index]))")
      }
      index += 1
      skipWhitespace()
      members[key] = try parseValue(depth: depth)
      skipWhitespace()
      guard index < end else { throw endError("an object") }
      switch bytes[index] {
      case UInt8(ascii: ","): index += 1
      case UInt8(ascii: "}"):
        index += 1
        return .object(members)
      default: throw error("expected ',' or '}', found \(describe(bytes[index]))")
      }
    }
  }

  private mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> JSONValue {
    guard depth <= Self.maximumDepth else { throw error("nested more than \(Self.maximumDepth) deep") }
    index += 1  // [
    var elements: [JSONValue] = []
    skipWhitespace()
    guard index < end else { throw endError("an array") }
    if bytes[index] == UInt8(ascii: "]") {
      index += 1
      return .array(elements)
    }
    while true {
      skipWhitespace()
      elements.append(try parseValue(depth: depth))
      skipWhitespace()
      guard index < end else { throw endError("an array") }
      switch bytes[index] {
      case UInt8(ascii: ","): index += 1
      case UInt8(ascii: "]"):
        index += 1
        return .array(elements)
      default: throw error("expected ',' or ']', found \(describe(bytes[index]))")
      }
    }
  }

  /// The bytes a string decodes to. Escapes become UTF-8 (a lone surrogate
  /// becomes U+FFFD); raw bytes, valid UTF-8 or not, are kept as they are.
  private mutating func parseString() throws(JSONSyntaxError) -> [UInt8] {
    index += 1  // opening quote
    var out: [UInt8] = []
    while index < end {
      let byte = bytes[index]
      switch byte {
      case UInt8(ascii: "\""):
        index += 1
        return out
      case UInt8(ascii: "\\"):
        index += 1
        guard index < end else { throw endError("a string") }
        let escape = bytes[index]
        index += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0c)
        case UInt8(ascii: "n"): out.append(0x0a)
        case UInt8(ascii: "r"): out.append(0x0d)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"): out.append(contentsOf: try parseUnicodeEscape().utf8)
        default:
          index -= 1
          throw error("unknown escape \\\(describe(escape))")
        }
      default:
        out.append(byte)
        index += 1
      }
    }
    throw endError("a string")
  }

  /// After `\u`: four hex digits, and a second `\uXXXX` for a surrogate pair.
  private mutating func parseUnicodeEscape() throws(JSONSyntaxError) -> Unicode.Scalar {
    let first = try parseHex4()
    let replacement: Unicode.Scalar = "\u{FFFD}"
    if (0xD800..<0xDC00).contains(first) {
      let save = index
      if index + 1 < end, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
        index += 2
        let second = try parseHex4()
        if (0xDC00..<0xE000).contains(second) {
          let value = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
          return Unicode.Scalar(value) ?? replacement
        }
        index = save  // not a low surrogate: decode it on its own
      }
      return replacement
    }
    return Unicode.Scalar(first) ?? replacement
  }

  private mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
    var value: UInt32 = 0
    for _ in 0..<4 {
      guard index < end else { throw endError("a \\u escape") }
      let byte = bytes[index]
      let digit: UInt32
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
      default: throw error("expected a hex digit in a \\u escape, found \(describe(byte))")
      }
      value = value << 4 | digit
      index += 1
    }
    return value
  }

  /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, integers kept exact.
  private mutating func parseNumber() throws(JSONSyntaxError) -> JSONNumber {
    let start = index
    let negative = bytes[index] == UInt8(ascii: "-")
    if negative { index += 1 }
    let integerStart = index
    try digits()
    if index - integerStart > 1 && bytes[integerStart] == UInt8(ascii: "0") {
      index = integerStart
      throw error("a number has a leading zero")
    }
    var isInteger = true
    if index < end && bytes[index] == UInt8(ascii: ".") {
      isInteger = false
      index += 1
      try digits()
    }
    if index < end && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
      isInteger = false
      index += 1
      if index < end && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) {
        index += 1
      }
      try digits()
    }
    let text = String(decoding: bytes[start..<index], as: UTF8.self)
    if isInteger {
      if let value = Int64(text) { return .integer(value) }
      if !negative, let value = UInt64(text) { return .unsigned(value) }
    }
    guard let value = Double(text) else { throw error("unreadable number") }
    return .float(value)
  }

  private mutating func digits() throws(JSONSyntaxError) {
    let start = index
    while index < end && bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9") {
      index += 1
    }
    if index == start {
      guard index < end else { throw endError("a number") }
      throw error("expected a digit, found \(describe(bytes[index]))")
    }
  }
}
