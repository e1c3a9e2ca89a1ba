/// A growable byte buffer for hand-written JSON: no `JSONEncoder`, no `String`
/// interpolation, no `Date` on the hot path. Reused across records.
public struct JSONBuffer {
  public private(set) var bytes: [UInt8] = []

  public init(capacity: Int = 1 << 16) { bytes.reserveCapacity(capacity) }

  public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

  public var count: Int { bytes.count }

  @inline(__always)
  public mutating func append(_ byte: UInt8) { bytes.append(byte) }

  /// ASCII the caller controls (keys, names from our tables): not escaped.
  @inline(__always)
  public mutating func appendRaw(_ text: StaticString) {
    text.withUTF8Buffer { bytes.append(contentsOf: $0) }
  }

  @inline(__always)
  public mutating func appendRaw(_ text: String) {
    var text = text
    text.withUTF8 { bytes.append(contentsOf: $0) }
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

  public mutating func appendUInt(_ value: UInt64) {
    if value < 10 {
      append(UInt8(ascii: "0") &+ UInt8(value))
      return
    }
    var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes of scratch
    withUnsafeMutableBytes(of: &digits) { scratch in
      var index = scratch.count
      var rest = value
      while rest > 0 {
        index -= 1
        scratch[index] = UInt8(ascii: "0") &+ UInt8(rest % 10)
        rest /= 10
      }
      bytes.append(contentsOf: scratch[index...])
    }
  }

  public mutating func appendInt(_ value: Int64) {
    if value < 0 {
      append(UInt8(ascii: "-"))
      appendUInt(value.magnitude)
    } else {
      appendUInt(UInt64(value))
    }
  }

  /// A number that has a name: the name as a string, else the bare number.
  public mutating func appendName(_ name: String?, orNumber number: Int32) {
    if let name {
      append(UInt8(ascii: "\""))
      appendRaw(name)
      append(UInt8(ascii: "\""))
    } else {
      appendInt(Int64(number))
    }
  }

  /// Attacker-controlled bytes (comm, paths, argv) as a JSON string: valid
  /// UTF-8 passes through, invalid sequences become U+FFFD, quotes,
  /// backslashes and control characters are escaped. Always valid JSON.
  public mutating func appendString<Bytes: Collection>(_ raw: Bytes) where Bytes.Element == UInt8 {
    append(UInt8(ascii: "\""))
    if raw.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
      bytes.append(contentsOf: raw)  // the common case: plain printable ASCII
    } else {
      for scalar in String(decoding: raw, as: UTF8.self).unicodeScalars {
        appendEscaped(scalar)
      }
    }
    append(UInt8(ascii: "\""))
  }

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
      let hex: [UInt8] = Array("0123456789abcdef".utf8)
      append(hex[Int(scalar.value >> 4)])
      append(hex[Int(scalar.value & 0xf)])
    default:
      bytes.append(contentsOf: scalar.utf8)
    }
  }

  /// RFC 3339 UTC with nanoseconds: `2026-11-22T03:30:00.123456789Z`.
  public mutating func appendTimestamp(epochNanoseconds: UInt64) {
    let seconds = Int64(epochNanoseconds / 1_000_000_000)
    let nanos = epochNanoseconds % 1_000_000_000
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
    appendDigits(nanos, width: 9)
    appendRaw("Z\"")
  }

  /// Zero-padded decimal of exactly `width` digits.
  public mutating func appendDigits(_ value: UInt64, width: Int) {
    var divisor: UInt64 = 1
    for _ in 1..<width { divisor *= 10 }
    var rest = value
    while divisor > 0 {
      append(UInt8(ascii: "0") &+ UInt8(rest / divisor % 10))
      rest %= divisor
      divisor /= 10
    }
  }
}

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
