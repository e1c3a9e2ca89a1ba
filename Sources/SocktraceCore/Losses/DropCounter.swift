import CLibBPF
import CSocktrace
import Glibc

/// Why a record was not made or not written. The first ten (through
/// `pendingFull`, `kernelCauses`) are counted in the kernel (enum
/// st_loss_cause in socktrace.h), the rest by the tracer.
public enum LossCause: Int, CaseIterable, Sendable {
  /// The ring buffer was full: the reader is behind.
  case ringFull = 0
  /// A forked child could not join the `traced` map (8,192 processes): it is
  /// not followed, so its records are never made (counted once, as a fork).
  case tracedFull = 1
  /// A socket could not be remembered in `births` (65,536 open sockets): its
  /// release record is never made (counted at the birth, as a release).
  case birthsFull = 2
  /// A call could not be tracked in `inflight`: its record is never made.
  case inflightFull = 3
  /// A kernel-internal socket creation could not be tracked in `kcreate`.
  case kcreateFull = 4
  /// The release of a socket whose birth record was lost.
  case unrecordedBirth = 5
  /// Tracepoint rung: an exec closed more close-on-exec sockets born under
  /// tracing than its note holds (16), or 4,096 execs were in flight: the
  /// releases past that are not made (counted once per exec, as a release).
  case walkFull = 6
  /// The --port/--address maps (`matched`, `held`) were full.
  case filterFull = 7
  /// A bind/connect/listen/shutdown could not be tracked in `opflight`.
  case opflightFull = 8
  /// A non-blocking connect's outcome could not be followed (`pending_connects`).
  case pendingFull = 9
  /// The output could not be written (a full disk, a closed pipe).
  case outputFailed = 10
  /// A second stop signal cut the final drain short: read, not written.
  case stopForced = 11

  static let kernelCauses = Int(ST_LOSS_KERNEL_CAUSES.rawValue)

  /// The name in `lost` and `end` records and the summary.
  public var name: String {
    switch self {
    case .ringFull: return "ring_full"
    case .tracedFull: return "traced_full"
    case .birthsFull: return "births_full"
    case .inflightFull: return "inflight_full"
    case .kcreateFull: return "kcreate_full"
    case .unrecordedBirth: return "release_of_lost_birth"
    case .walkFull: return "walk_full"
    case .filterFull: return "filter_full"
    case .opflightFull: return "opflight_full"
    case .pendingFull: return "pending_full"
    case .outputFailed: return "output_failed"
    case .stopForced: return "stop_forced"
    }
  }
}

/// Counts of records not made or not written, by cause and record kind
/// (the `st_kind` numbers, 0 for a record of no known kind).
public struct LossCounts: Equatable, Sendable {
  public static let kindSlots = Int(ST_KIND_SLOTS)
  private(set) var counts = [UInt64](repeating: 0, count: LossCause.allCases.count * kindSlots)

  public init() {}

  public subscript(cause: LossCause, kind: Int) -> UInt64 {
    get { counts[cause.rawValue * Self.kindSlots + (kind & (Self.kindSlots - 1))] }
    set { counts[cause.rawValue * Self.kindSlots + (kind & (Self.kindSlots - 1))] = newValue }
  }

  public var total: UInt64 { counts.reduce(0, &+) }
  public func total(_ cause: LossCause) -> UInt64 {
    (0..<Self.kindSlots).reduce(0) { $0 &+ self[cause, $1] }
  }

  /// Every nonzero count: (cause, kind, count), by cause then kind.
  public var entries: [(cause: LossCause, kind: Int, count: UInt64)] {
    var result: [(cause: LossCause, kind: Int, count: UInt64)] = []
    for cause in LossCause.allCases {
      for kind in 0..<Self.kindSlots where self[cause, kind] > 0 {
        result.append((cause, kind, self[cause, kind]))
      }
    }
    return result
  }

  /// What was counted since `earlier`.
  public func since(_ earlier: LossCounts) -> LossCounts {
    var delta = LossCounts()
    for index in counts.indices { delta.counts[index] = counts[index] &- earlier.counts[index] }
    return delta
  }

  /// The sum of both.
  public func adding(_ other: LossCounts) -> LossCounts {
    var sum = self
    for index in counts.indices { sum.counts[index] = counts[index] &+ other.counts[index] }
    return sum
  }

  /// These counts with the kernel's replaced by `kernel`'s.
  public func withKernelCounts(from kernel: LossCounts) -> LossCounts {
    var merged = self
    for index in 0..<(LossCause.kernelCauses * Self.kindSlots) { merged.counts[index] = kernel.counts[index] }
    return merged
  }

  /// The name of a record kind for loss reports: the `event` of its records,
  /// `other` for a slot no kind has.
  public static func kindName(_ kind: Int) -> String { RecordKind(number: kind)?.name ?? "other" }

  /// The kind number of a record kind's name ("socket" -> 1), 0 if none.
  public static func kind(named name: some Collection<UInt8>) -> Int { RecordKind(name: name)?.number ?? 0 }

  /// "ring_full: socket 10, release 2; births_full: release 6528"
  public var text: String {
    LossCause.allCases.compactMap { cause -> String? in
      let kinds = (0..<Self.kindSlots).filter { self[cause, $0] > 0 }
      guard !kinds.isEmpty else { return nil }
      return "\(cause.name): " + kinds.map { "\(Self.kindName($0)) \(self[cause, $0])" }.joined(separator: ", ")
    }.joined(separator: "; ")
  }
}

/// Reads the kernel's loss counters: the `drops` map, one u64 per cause and
/// kind, a `BPF_F_MMAPABLE` array mapped read-only into the tracer, so a read
/// is a few loads from memory, not a `bpf(2)` call per counter (it ran on
/// every wakeup: 64-71% of the tracer's CPU under a busy web server). The
/// kernel adds with atomic instructions; losses are rare, so one shared slot
/// per counter costs nothing where nothing is lost.
public final class DropCounter {
  private let mapFD: Int32
  private let mapping: UnsafeRawPointer?
  private let mappedBytes: Int
  private static let slots = LossCause.kernelCauses * LossCounts.kindSlots

  init(mapFD: Int32) {
    self.mapFD = mapFD
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    mappedBytes = (Self.slots * MemoryLayout<UInt64>.size + page - 1) / page * page
    let address = mmap(nil, mappedBytes, PROT_READ, MAP_SHARED, mapFD, 0)
    // A kernel that cannot map it (none of those socktrace loads on) is read slot by slot.
    mapping = address == MAP_FAILED ? nil : address.map { UnsafeRawPointer($0) }
  }

  deinit {
    if let mapping { munmap(UnsafeMutableRawPointer(mutating: mapping), mappedBytes) }
  }

  /// One counter, as the kernel last wrote it.
  private func load(_ slot: Int) -> UInt64 {
    if let mapping {
      return st_load_u64(mapping.assumingMemoryBound(to: UInt64.self) + slot)
    }
    var key = UInt32(slot)
    var value: UInt64 = 0
    return bpf_map_lookup_elem(mapFD, &key, &value) == 0 ? value : 0
  }

  /// Every counter, by cause and kind.
  public func read() -> LossCounts {
    var counts = LossCounts()
    for cause in LossCause.allCases where cause.rawValue < LossCause.kernelCauses {
      for kind in 0..<LossCounts.kindSlots {
        counts[cause, kind] = load(cause.rawValue * LossCounts.kindSlots + kind)
      }
    }
    return counts
  }

  /// The sum of every counter: what a caller compares to see whether anything is new.
  public func sum() -> UInt64 {
    (0..<Self.slots).reduce(0) { $0 &+ load($1) }
  }
}
