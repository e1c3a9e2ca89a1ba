/// A growable byte buffer for hand-written JSON: no `JSONEncoder`, no `String`
/// interpolation, no `Date` on the hot path. Reused across records.
///
/// Raw memory, not an `Array`: appending a byte is a bounds check and a store,
/// with no uniqueness check, no generic `append(contentsOf:)` and (a struct,
/// not a class) no runtime exclusivity check on the path every record takes.
/// Noncopyable, so two owners can never alias the memory it frees.
public struct JSONBuffer: ~Copyable {
  private var base: UnsafeMutablePointer<UInt8>
  private var capacity: Int
  public private(set) var count = 0
  /// `"YYYY-MM-DDTHH:MM:SS.` of the last timestamp's second (21 bytes in
  /// three words): records come in order, so most share it.
  private var cachedSecond: Int64 = -1
  private var cachedPrefix: (UInt64, UInt64, UInt64) = (0, 0, 0)

  public init(capacity: Int = 1 << 16) {
    self.capacity = max(capacity, 256)
    base = .allocate(capacity: self.capacity)
  }

  deinit { base.deallocate() }

  /// A copy of the contents.
  public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

  /// The contents, lent without copying (for write(2)).
  public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
    try body(UnsafeRawBufferPointer(start: base, count: count))
  }

  public mutating func removeAll() { count = 0 }

  /// Drops what was appended after the first `length` bytes.
  public mutating func truncate(to length: Int) { count = min(max(length, 0), count) }

  @inline(__always)
  private mutating func reserve(_ extra: Int) {
    if count + extra > capacity { grow(to: count + extra) }
  }

  @inline(never)
  private mutating func grow(to needed: Int) {
    let newCapacity = max(needed, capacity * 2)
    let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
    newBase.update(from: base, count: count)
    base.deallocate()
    base = newBase
    capacity = newCapacity
  }

  @inline(__always)
  public mutating func append(_ byte: UInt8) {
    reserve(1)
    base[count] = byte
    count += 1
  }

  /// Raw bytes, copied in one go. Keys and names are short: up to 16 bytes
  /// are copied as two overlapping words, cheaper than a call to memmove.
  @inline(__always)
  public mutating func append(_ raw: UnsafeRawBufferPointer) {
    guard let source = raw.baseAddress, raw.count > 0 else { return }
    let length = raw.count
    reserve(length)
    let destination = UnsafeMutableRawPointer(base + count)
    if length >= 8 && length <= 16 {
      let head = source.loadUnaligned(as: UInt64.self)
      let tail = source.loadUnaligned(fromByteOffset: length - 8, as: UInt64.self)
      destination.storeBytes(of: head, as: UInt64.self)
      destination.storeBytes(of: tail, toByteOffset: length - 8, as: UInt64.self)
    } else if length < 8 {
      for offset in 0..<length {
        destination.storeBytes(
          of: source.load(fromByteOffset: offset, as: UInt8.self), toByteOffset: offset, as: UInt8.self)
      }
    } else {
      destination.copyMemory(from: source, byteCount: length)
    }
    count += length
  }

  /// ASCII the caller controls (keys, names from our tables): not escaped.
  @inline(__always)
  public mutating func appendRaw(_ text: StaticString) {
    text.withUTF8Buffer { append(UnsafeRawBufferPointer($0)) }
  }

  @inline(__always)
  public mutating func appendRaw(_ text: String) {
    var text = text
    text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
  }

  /// `,"key":` (or `{"key":` for the first key: pass `first: true`).
  @inline(__always)
  public mutating func appendKey(_ key: StaticString, first: Bool = false) {
    append(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
    append(UInt8(ascii: "\""))
    appendRaw(key)
    append(UInt8(ascii: "\""))
    append(UInt8(ascii: ":"))
  }

  public mutating func appendNull() { appendRaw("null") }

  public mutating func appendBool(_ value: Bool) { appendRaw(value ? "true" : "false") }

  /// How many decimal digits `value` has: a few comparisons.
  @inline(__always)
  static func decimalDigits(_ value: UInt64) -> Int {
    if value < 100_000_000 {
      if value < 10_000 { return value < 100 ? (value < 10 ? 1 : 2) : (value < 1000 ? 3 : 4) }
      return value < 1_000_000 ? (value < 100_000 ? 5 : 6) : (value < 10_000_000 ? 7 : 8)
    }
    var digits = 9
    var limit: UInt64 = 1_000_000_000
    while digits < 20 && value >= limit {
      digits += 1
      limit = limit &* 10
    }
    return digits
  }

  public mutating func appendUInt(_ value: UInt64) {
    let digits = Self.decimalDigits(value)
    reserve(digits)
    // Two digits per division, from the right.
    let pairs = digitPairs.utf8Start
    var rest = value
    var index = count + digits
    while rest >= 100 {
      let pair = Int(rest % 100) &* 2
      rest /= 100
      index -= 2
      base[index] = pairs[pair]
      base[index + 1] = pairs[pair + 1]
    }
    if rest >= 10 {
      let pair = Int(rest) &* 2
      base[index - 2] = pairs[pair]
      base[index - 1] = pairs[pair + 1]
    } else {
      base[index - 1] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest)
    }
    count += digits
  }

  public mutating func appendInt(_ value: Int64) {
    if value < 0 {
      append(UInt8(ascii: "-"))
      appendUInt(value.magnitude)
    } else {
      appendUInt(UInt64(value))
    }
  }

  /// A number that has a name, always as a string (schema v2): the name from
  /// our tables, else `prefix` and the number (`"AF_255"`, `"E4095"`).
  @inline(__always)
  public mutating func appendName(_ name: StaticString?, orPrefix prefix: StaticString, _ number: Int32) {
    append(UInt8(ascii: "\""))
    if let name {
      appendRaw(name)
    } else {
      appendRaw(prefix)
      appendInt(Int64(number))
    }
    append(UInt8(ascii: "\""))
  }

  /// The same for names kept as `String` (errno names).
  public mutating func appendName(_ name: String?, orPrefix prefix: StaticString, _ number: Int32) {
    append(UInt8(ascii: "\""))
    if let name {
      appendRaw(name)
    } else {
      appendRaw(prefix)
      appendInt(Int64(number))
    }
    append(UInt8(ascii: "\""))
  }

  /// A number with no name as a name: `"how_7"`.
  public mutating func appendUnnamed(_ prefix: StaticString, _ number: Int32) {
    appendName(Optional<StaticString>.none, orPrefix: prefix, number)
  }

  /// A 64-bit value as a decimal string (schema v2: `*_ns` and 64-bit ids,
  /// which can exceed 2^53, the largest integer a double holds exactly).
  @inline(__always)
  public mutating func appendUIntString(_ value: UInt64) {
    append(UInt8(ascii: "\""))
    appendUInt(value)
    append(UInt8(ascii: "\""))
  }

  /// `["a","b"]` from raw byte strings (argv), each escaped like `appendString`.
  public mutating func appendStringArray(_ items: [[UInt8]]) {
    append(UInt8(ascii: "["))
    for (index, item) in items.enumerated() {
      if index > 0 { append(UInt8(ascii: ",")) }
      appendString(item)
    }
    append(UInt8(ascii: "]"))
  }

  /// Attacker-controlled bytes (comm, paths, argv) as a JSON string: valid
  /// UTF-8 passes through, invalid sequences become U+FFFD, quotes,
  /// backslashes and control characters are escaped. Always valid JSON.
  public mutating func appendString<Bytes: Collection>(_ raw: Bytes) where Bytes.Element == UInt8 {
    append(UInt8(ascii: "\""))
    let plain = raw.allSatisfy { $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    if plain {  // the common case: printable ASCII, copied as is
      reserve(raw.count)
      for byte in raw {
        base[count] = byte
        count += 1
      }
    } else {
      for scalar in String(decoding: raw, as: UTF8.self).unicodeScalars {
        appendEscaped(scalar)
      }
    }
    append(UInt8(ascii: "\""))
  }

  /// `0`–`9`, `a`–`f`: for `\u00XX` here and the table's `\xNN`.
  static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

  private mutating func appendEscaped(_ scalar: Unicode.Scalar) {
    switch scalar {
    case "\"": appendRaw("\\\"")
    case "\\": appendRaw("\\\\")
    case "\n": appendRaw("\\n")
    case "\r": appendRaw("\\r")
    case "\t": appendRaw("\\t")
    case "\u{08}": appendRaw("\\b")
    case "\u{0C}": appendRaw("\\f")
    case _ where scalar.value < 0x20 || scalar.value == 0x7f || (0x80..<0xa0).contains(scalar.value):
      appendRaw("\\u00")
      append(Self.hexDigits[Int(scalar.value >> 4)])
      append(Self.hexDigits[Int(scalar.value & 0xf)])
    default:
      for byte in scalar.utf8 { append(byte) }
    }
  }

  /// RFC 3339 UTC with nanoseconds: `2026-11-22T03:30:00.123456789Z`.
  public mutating func appendTimestamp(epochNanoseconds: UInt64) {
    let seconds = Int64(epochNanoseconds / 1_000_000_000)
    let nanos = epochNanoseconds % 1_000_000_000
    if seconds == cachedSecond {
      reserve(24)
      let destination = UnsafeMutableRawPointer(base + count)
      destination.storeBytes(of: cachedPrefix.0, as: UInt64.self)
      destination.storeBytes(of: cachedPrefix.1, toByteOffset: 8, as: UInt64.self)
      destination.storeBytes(of: cachedPrefix.2, toByteOffset: 16, as: UInt64.self)
      count += 21
    } else {
      let start = count
      appendSecondPrefix(seconds)
      reserve(3)  // the third word reads past the 21 bytes
      let prefix = UnsafeRawPointer(base + start)
      cachedPrefix = (
        prefix.loadUnaligned(as: UInt64.self), prefix.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
        prefix.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
      )
      cachedSecond = seconds
    }
    appendDigits(nanos, width: 9)
    appendRaw("Z\"")
  }

  /// `"YYYY-MM-DDTHH:MM:SS.`: 21 bytes.
  private mutating func appendSecondPrefix(_ seconds: Int64) {
    let (year, month, day) = civilDate(daysSinceEpoch: seconds / 86_400)
    let secondOfDay = seconds % 86_400
    append(UInt8(ascii: "\""))
    appendDigits(UInt64(year), width: 4)
    append(UInt8(ascii: "-"))
    appendDigits(UInt64(month), width: 2)
    append(UInt8(ascii: "-"))
    appendDigits(UInt64(day), width: 2)
    append(UInt8(ascii: "T"))
    appendDigits(UInt64(secondOfDay / 3600), width: 2)
    append(UInt8(ascii: ":"))
    appendDigits(UInt64(secondOfDay / 60 % 60), width: 2)
    append(UInt8(ascii: ":"))
    appendDigits(UInt64(secondOfDay % 60), width: 2)
    append(UInt8(ascii: "."))
  }

  /// Zero-padded decimal of exactly `width` digits (the low ones).
  public mutating func appendDigits(_ value: UInt64, width: Int) {
    reserve(width)
    let pairs = digitPairs.utf8Start
    var rest = value
    var index = count + width
    while index - count >= 2 {
      let pair = Int(rest % 100) &* 2
      rest /= 100
      index -= 2
      base[index] = pairs[pair]
      base[index + 1] = pairs[pair + 1]
    }
    if index > count {
      base[count] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
    }
    count += width
  }
}

/// "00" "01" … "99": two decimal digits per lookup, in constant memory.
private let digitPairs: StaticString = """
  00010203040506070809101112131415161718192021222324252627282930313233343536373839\
  40414243444546474849505152535455565758596061626364656667686970717273747576777879\
  8081828384858687888990919293949596979899
  """

/// Proleptic Gregorian (year, month, day) from days since 1970-01-01
/// (Howard Hinnant's civil_from_days).
func civilDate(daysSinceEpoch days: Int64) -> (Int64, Int64, Int64) {
  let z = days + 719_468
  let era = (z >= 0 ? z : z - 146_096) / 146_097
  let dayOfEra = z - era * 146_097
  let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
  let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
  let monthIndex = (5 * dayOfYear + 2) / 153
  let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
  let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
  return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
}
