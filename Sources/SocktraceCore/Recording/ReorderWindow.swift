/// Puts records that arrive nearly in time order back in order, holding only
/// a bounded window of them.
///
/// The tracer writes records in the order the kernel's ring buffer hands them
/// over: by `ts_ns` within microseconds, not exactly (CPUs race to reserve).
/// The window keeps the latest records sorted by `(ts_ns, arrival)` and lets
/// the oldest go once it holds more than `maxRecords`, or once it is more
/// than `maxNanoseconds` older than the newest. A record older than one
/// already let go is *late*: it is handed on at once (never dropped) and
/// counted, so the reader can say its timeline may be off.
///
/// Records are nearly sorted, so an insertion walks back a step or two: the
/// window costs O(1) per record and `maxRecords` entries of memory.
public struct ReorderWindow<Element> {
  public typealias Limits = ReorderLimits

  private struct Entry {
    var timestamp: UInt64
    var sequence: Int
    var element: Element
  }

  public let limits: Limits
  /// A ring of `limits.maxRecords + 1` slots: `count` entries from `head`,
  /// sorted by (timestamp, sequence). Nothing is ever moved but by the
  /// insertion's walk back.
  private var ring: [Entry?] = []
  private var head = 0
  public private(set) var count = 0
  private var sequence = 0
  /// The latest timestamp inserted.
  public private(set) var newest: UInt64 = 0
  /// The timestamp of the last element let go: anything older is late.
  private var watermark: UInt64?
  /// Elements that came after a later one had already been let go.
  public private(set) var late = 0
  /// The most any late element was behind the watermark, in nanoseconds.
  public private(set) var latestBy: UInt64 = 0

  public init(limits: Limits = .standard) {
    self.limits = limits
  }

  private func slot(_ offset: Int) -> Int {
    let index = head + offset
    return index < ring.count ? index : index - ring.count
  }

  /// Adds an element; `emit` gets every element that leaves the window, in order.
  public mutating func insert(_ element: Element, timestamp: UInt64, emit: (Element) throws -> Void) rethrows {
    sequence += 1
    if let watermark, timestamp < watermark {
      late += 1
      latestBy = max(latestBy, watermark - timestamp)
      try emit(element)
      return
    }
    if ring.isEmpty {
      // Grown as needed up to the limit: a short recording costs little.
      ring = [nil]
    }
    if count == ring.count { grow() }
    newest = max(newest, timestamp)
    var at = count
    ring[slot(at)] = Entry(timestamp: timestamp, sequence: sequence, element: element)
    count += 1
    // Walk back to its place: usually zero steps.
    while at > 0, let previous = ring[slot(at - 1)], previous.timestamp > timestamp {
      ring.swapAt(slot(at - 1), slot(at))
      at -= 1
    }
    while count > limits.maxRecords
      || (count > 0 && newest &- (ring[head]?.timestamp ?? newest) > limits.maxNanoseconds)
    {
      try emitOldest(emit)
    }
  }

  /// Whether an element held with exactly this timestamp satisfies `match`
  /// (a binary search, then the few with that timestamp).
  public func contains(timestamp: UInt64, where match: (Element) -> Bool) -> Bool {
    var low = 0
    var high = count
    while low < high {
      let middle = (low + high) / 2
      if let entry = ring[slot(middle)], entry.timestamp < timestamp {
        low = middle + 1
      } else {
        high = middle
      }
    }
    while low < count, let entry = ring[slot(low)], entry.timestamp == timestamp {
      if match(entry.element) { return true }
      low += 1
    }
    return false
  }

  /// Lets every element go, in order.
  public mutating func drain(_ emit: (Element) throws -> Void) rethrows {
    while count > 0 { try emitOldest(emit) }
  }

  /// Doubles the ring (up to the limit), the entries in order from slot 0.
  private mutating func grow() {
    var bigger = [Entry?](repeating: nil, count: min(max(ring.count * 2, 16), limits.maxRecords + 1))
    for offset in 0..<count {
      let from = slot(offset)
      swap(&bigger[offset], &ring[from])
    }
    ring = bigger
    head = 0
  }

  private mutating func emitOldest(_ emit: (Element) throws -> Void) rethrows {
    let entry = ring[head].take()  // moved out, not copied
    head = head + 1 == ring.count ? 0 : head + 1
    count -= 1
    guard let entry else { return }
    watermark = entry.timestamp
    try emit(entry.element)
  }
}

/// How much a `ReorderWindow` holds.
public struct ReorderLimits: Equatable, Sendable {
  public var maxRecords: Int
  public var maxNanoseconds: UInt64

  public init(maxRecords: Int, maxNanoseconds: UInt64) {
    self.maxRecords = max(1, maxRecords)
    self.maxNanoseconds = maxNanoseconds
  }

  /// 65,536 records or 2 s of `ts_ns`, whichever is reached first: tens of
  /// MB at most, and far more disorder than a ring buffer makes.
  public static let standard = ReorderLimits(maxRecords: 65_536, maxNanoseconds: 2_000_000_000)
}
