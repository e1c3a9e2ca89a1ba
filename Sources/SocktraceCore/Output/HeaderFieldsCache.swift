import CSocktrace

/// Every record's header fields from `"pid"` to the cgroup fields depend only
/// on the thread that made it (pid, tid, ppid, uid, gid, netns, cgroup, comm),
/// and a busy server's records come from a few threads: those fields are kept
/// encoded, one slot per thread (by tid), and copied when the next record's
/// header has the same identity. Ten numbers, an escaped comm and a cgroup
/// lookup cost more to write than 200 bytes cost to copy.
///
/// A slot holds what `encode` wrote for that identity; the cgroup fields can
/// change when the resolver learns a path (`generation`), so a slot written
/// before that is written again. Single-threaded, like the encoder it serves.
final class HeaderFieldsCache {
  /// Header bytes 16..<64: pid, tid, ppid, uid, gid, netns, cgroup_id, comm.
  struct Identity: Equatable {
    var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

    init(_ header: st_header) {
      words = withUnsafeBytes(of: header) {
        $0.loadUnaligned(fromByteOffset: Self.offset, as: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64).self)
      }
    }

    static let offset = MemoryLayout<st_header>.offset(of: \st_header.pid) ?? 16

    static func == (a: Identity, b: Identity) -> Bool {
      a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
        && a.words.4 == b.words.4 && a.words.5 == b.words.5
    }
  }

  static let slots = 64
  /// Bytes a slot holds: a longer encoding (a deep cgroup path, a comm of
  /// escapes) is written every time instead.
  static let slotBytes = 512

  @exclusivity(unchecked) private var identities = [Identity?](repeating: nil, count: slots)
  @exclusivity(unchecked) private var generations = [UInt64](repeating: 0, count: slots)
  @exclusivity(unchecked) private var lengths = [Int](repeating: 0, count: slots)
  private let storage = UnsafeMutablePointer<UInt8>.allocate(capacity: slots * slotBytes)

  deinit { storage.deallocate() }

  /// Appends the fields for `header`: copied from its slot, or written by
  /// `encode` (into `out`) and kept.
  @inline(__always)
  func append(
    _ header: st_header, generation: UInt64, into out: inout JSONBuffer,
    encode: (st_header, inout JSONBuffer) -> Void
  ) {
    let identity = Identity(header)
    let slot = Int(header.tid) & (Self.slots - 1)
    if identities[slot] == identity && generations[slot] == generation {
      out.append(UnsafeRawBufferPointer(start: storage + slot * Self.slotBytes, count: lengths[slot]))
      return
    }
    let start = out.count
    encode(header, &out)
    let length = out.count - start
    guard length <= Self.slotBytes else {
      identities[slot] = nil
      return
    }
    out.withUnsafeBytes { written in
      guard let base = written.baseAddress else { return }
      UnsafeMutableRawPointer(storage + slot * Self.slotBytes).copyMemory(from: base + start, byteCount: length)
    }
    identities[slot] = identity
    generations[slot] = generation
    lengths[slot] = length
  }
}
