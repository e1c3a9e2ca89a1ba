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

  fileprivate init(bytes: [UInt8], range: Range<Int>) {
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

  @inline(__always)
  private mutating func skipWhitespace() {
    // Recordings have none between tokens: one compare.
    if index < end && bytes[index] > 0x20 { return }
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
  fileprivate mutating func parseString() throws(JSONSyntaxError) -> [UInt8] {
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

/// A recording line's top-level object, read once: each member's key and
/// where its value is. Strings and numbers stay undecoded until a field is
/// asked for, so a line costs one pass and no allocation per member; nested
/// arrays and objects (argv, stages, filters) are parsed as `JSONValue`.
/// The line is checked exactly as `JSONParser.parse` checks it: the same
/// errors at the same columns.
struct FlatObject {
  enum Value {
    case null
    case bool(Bool)
    /// `bytes[range]` is a JSON number.
    case number(Range<Int>)
    /// `bytes[range]` is between the quotes; `escaped` when it holds a backslash.
    case string(Range<Int>, escaped: Bool)
    case composite(JSONValue)
  }

  /// A value as held: plain data (no reference), so members copy as bytes.
  enum Stored {
    case null
    case bool(Bool)
    case number(Range<Int>)
    case string(Range<Int>, escaped: Bool)
    /// Index in `composites`.
    case composite(Int)
  }

  struct Member {
    /// Up to 7 key bytes and the length: compared before the bytes are.
    var signature: UInt64
    /// The key's bytes in the line.
    var key: Range<Int>
    /// When the key had escapes: its decoded bytes' index in `decodedKeys`, else -1.
    var decodedKey: Int
    var value: Stored
  }

  let bytes: [UInt8]
  var members: [Member]
  var composites: [JSONValue] = []
  var decodedKeys: [[UInt8]] = []
  /// Signature slot -> the member's index + 1; 0 for none, -1 for two
  /// members (or more than 126) in one slot: then a linear search.
  var slots = InlineArray<64, Int8>(repeating: 0)

  init(bytes: [UInt8]) {
    self.bytes = bytes
    members = []
    members.reserveCapacity(40)  // a record has about 30: one allocation per line
  }

  static func slot(_ signature: UInt64) -> Int { Int(truncatingIfNeeded: (signature &* 0x9e37_79b9_7f4a_7c15) >> 58) }

  mutating func add(_ member: Member) {
    let slot = Self.slot(member.signature)
    if slots[slot] == 0 && members.count < 126 {
      slots[slot] = Int8(members.count + 1)
    } else {
      slots[slot] = -1
    }
    members.append(member)
  }

  static func signature<Key: Collection>(_ key: Key) -> UInt64 where Key.Element == UInt8 {
    var value = UInt64(truncatingIfNeeded: key.count) & 0xff
    var shift: UInt64 = 8
    for byte in key.prefix(7) {
      value |= UInt64(byte) << shift
      shift += 8
    }
    return value
  }

  /// Whether `member`'s key is `wanted` (whose signature it has).
  private func matches(_ member: Member, _ wanted: UnsafeBufferPointer<UInt8>) -> Bool {
    if member.decodedKey >= 0 { return decodedKeys[member.decodedKey].elementsEqual(wanted) }
    return wanted.count <= 7 || bytes[member.key].elementsEqual(wanted)
  }

  private func value(of member: Member) -> Value {
    switch member.value {
    case .null: return .null
    case .bool(let flag): return .bool(flag)
    case .number(let range): return .number(range)
    case .string(let range, let escaped): return .string(range, escaped: escaped)
    case .composite(let index): return .composite(composites[index])
    }
  }

  /// The member's value (the last one, if a key repeats, as a dictionary would keep).
  func value(_ key: StaticString) -> Value? {
    key.withUTF8Buffer { wanted in
      let signature = Self.signature(wanted)
      let slot = slots[Self.slot(signature)]
      if slot == 0 { return nil }
      if slot > 0 {
        let member = members[Int(slot) - 1]
        return member.signature == signature && matches(member, wanted) ? value(of: member) : nil
      }
      for member in members.reversed() where member.signature == signature && matches(member, wanted) {
        return value(of: member)
      }
      return nil
    }
  }

  /// The bytes a string value decodes to.
  func stringBytes(_ range: Range<Int>, escaped: Bool) -> [UInt8] {
    guard escaped else { return Array(bytes[range]) }
    // Checked when the line was read: decoding again cannot fail.
    var parser = JSONParser(bytes: bytes, range: (range.lowerBound - 1)..<(range.upperBound + 1))
    return (try? parser.parseString()) ?? []
  }

  /// A number value, exact when it is an integer.
  func number(_ range: Range<Int>) -> JSONNumber? {
    var negative = false
    var index = range.lowerBound
    if index < range.upperBound && bytes[index] == UInt8(ascii: "-") {
      negative = true
      index += 1
    }
    var magnitude: UInt64 = 0
    var exact = index < range.upperBound
    while index < range.upperBound {
      let byte = bytes[index]
      guard byte >= 0x30 && byte <= 0x39 else {
        exact = false
        break
      }
      let (times, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
      let (sum, overflow2) = times.addingReportingOverflow(UInt64(byte - 0x30))
      if overflow1 || overflow2 {
        exact = false
        break
      }
      magnitude = sum
      index += 1
    }
    if exact {
      if !negative {
        if let value = Int64(exactly: magnitude) { return .integer(value) }
        return .unsigned(magnitude)
      }
      if magnitude <= UInt64(Int64.max) { return .integer(-Int64(magnitude)) }
      if magnitude == UInt64(Int64.max) + 1 { return .integer(Int64.min) }
    }
    return Double(String(decoding: bytes[range], as: UTF8.self)).map { .float($0) }
  }

  /// The value as a `JSONValue` (for nested objects and the generic paths).
  func materialize(_ value: Value) -> JSONValue {
    switch value {
    case .null: return .null
    case .bool(let flag): return .bool(flag)
    case .number(let range): return number(range).map { .number($0) } ?? .null
    case .string(let range, let escaped): return .string(stringBytes(range, escaped: escaped))
    case .composite(let value): return value
    }
  }
}

extension JSONParser {
  /// Reads `bytes[range]`, which must be one JSON object, into a `FlatObject`.
  /// Throws what `parse` would; a value that is not an object is `nil`.
  static func parseFlat(_ bytes: [UInt8], in range: Range<Int>) throws(JSONSyntaxError) -> FlatObject? {
    var parser = JSONParser(bytes: bytes, range: range)
    parser.skipWhitespace()
    guard parser.index < parser.end, bytes[parser.index] == UInt8(ascii: "{") else {
      _ = try parse(bytes, in: range)  // the same error, or a value that is no object
      return nil
    }
    var object = FlatObject(bytes: bytes)
    try parser.parseFlatObject(into: &object)
    parser.skipWhitespace()
    if parser.index < parser.end {
      throw parser.error("unexpected \(parser.describe(parser.bytes[parser.index])) after the value")
    }
    return object
  }

  private mutating func parseFlatObject(into object: inout FlatObject) throws(JSONSyntaxError) {
    index += 1  // {
    skipWhitespace()
    guard index < end else { throw endError("an object") }
    if bytes[index] == UInt8(ascii: "}") {
      index += 1
      return
    }
    while true {
      skipWhitespace()
      guard index < end else { throw endError("an object") }
      guard bytes[index] == UInt8(ascii: "\"") else {
        throw error("expected a key, found \(describe(bytes[index]))")
      }
      let keyStart = index + 1
      let keyEscaped = try skipString()
      let keyRange = keyStart..<(index - 1)
      var member = FlatObject.Member(signature: 0, key: keyRange, decodedKey: -1, value: .null)
      if keyEscaped {
        let decoded = object.stringBytes(keyRange, escaped: true)
        member.decodedKey = object.decodedKeys.count
        object.decodedKeys.append(decoded)
        member.signature = FlatObject.signature(decoded)
      } else {
        member.signature = FlatObject.signature(bytes[keyRange])
      }
      skipWhitespace()
      guard index < end else { throw endError("an object") }
      guard bytes[index] == UInt8(ascii: ":") else {
        throw error("expected ':' after a key, found \(describe(bytes[index]))")
      }
      index += 1
      skipWhitespace()
      guard index < end else { throw endError("a value") }
      switch bytes[index] {
      case UInt8(ascii: "\""):
        let start = index + 1
        let escaped = try skipString()
        member.value = .string(start..<(index - 1), escaped: escaped)
      case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        let start = index
        try skipNumber()
        member.value = .number(start..<index)
      default:
        let value = try parseValue(depth: 1)
        switch value {
        case .null: member.value = .null
        case .bool(let flag): member.value = .bool(flag)
        default:
          member.value = .composite(object.composites.count)
          object.composites.append(value)
        }
      }
      object.add(member)
      skipWhitespace()
      guard index < end else { throw endError("an object") }
      switch bytes[index] {
      case UInt8(ascii: ","): index += 1
      case UInt8(ascii: "}"):
        index += 1
        return
      default: throw error("expected ',' or '}', found \(describe(bytes[index]))")
      }
    }
  }

  /// Checks a string as `parseString` reads it, without keeping it; true
  /// when it holds an escape.
  private mutating func skipString() throws(JSONSyntaxError) -> Bool {
    index += 1  // opening quote
    var escaped = false
    // The common case: plain bytes up to the closing quote.
    let plainEnd = bytes.withUnsafeBufferPointer { buffer -> Int in
      var at = index
      while at < end {
        let byte = buffer[at]
        if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { break }
        at += 1
      }
      return at
    }
    index = plainEnd
    while index < end {
      switch bytes[index] {
      case UInt8(ascii: "\""):
        index += 1
        return escaped
      case UInt8(ascii: "\\"):
        escaped = true
        index += 1
        guard index < end else { throw endError("a string") }
        let escape = bytes[index]
        index += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
          UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
          break
        case UInt8(ascii: "u"): _ = try parseUnicodeEscape()
        default:
          index -= 1
          throw error("unknown escape \\\(describe(escape))")
        }
      default: index += 1
      }
    }
    throw endError("a string")
  }

  /// Checks a number as `parseNumber` reads it.
  private mutating func skipNumber() throws(JSONSyntaxError) {
    if bytes[index] == UInt8(ascii: "-") { index += 1 }
    let integerStart = index
    try digits()
    if index - integerStart > 1 && bytes[integerStart] == UInt8(ascii: "0") {
      index = integerStart
      throw error("a number has a leading zero")
    }
    if index < end && bytes[index] == UInt8(ascii: ".") {
      index += 1
      try digits()
    }
    if index < end && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
      index += 1
      if index < end && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) {
        index += 1
      }
      try digits()
    }
  }
}
