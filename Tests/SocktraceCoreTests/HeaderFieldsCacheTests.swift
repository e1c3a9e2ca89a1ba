import CSocktrace
import Testing

@testable import SocktraceCore

/// The encoder keeps each thread's header fields encoded: whatever the order
/// of threads, every line is what a fresh encoder (nothing kept) writes.
@Suite struct HeaderFieldsCacheTests {
  static func line(_ encoder: JSONLinesEncoder, _ record: st_socket) -> String {
    var out = JSONBuffer()
    encoder.encode(.socket(SocketEvent(raw: record)), into: &out)
    return String(decoding: out.bytes, as: UTF8.self)
  }

  @Test func everyLineIsWhatAFreshEncoderWrites() {
    let clock = BootClock(offsetNanoseconds: 0)
    let kept = JSONLinesEncoder(clock: clock)
    var records: [st_socket] = []
    // Two threads sharing a slot (tid 7 and 71: 71 & 63 == 7), one thread
    // whose comm changes (an exec), one whose uid changes, hostile comm bytes.
    for (index, (tid, comm, uid)) in [
      (7, "nginx", 0), (71, "curl", 0), (7, "nginx", 0), (7, "nginx\"x", 0), (7, "nginx", 33), (71, "curl", 0),
      (8, "\u{1}\n", 0), (8, "\u{1}\n", 0),
    ].enumerated() {
      var record = Fixtures.socket(inode: UInt64(100 + index), comm: Array(comm.utf8))
      record.h.tid = UInt32(tid)
      record.h.pid = UInt32(tid)
      record.h.uid = UInt32(uid)
      record.h.ts_ns = UInt64(1_000 + index)
      records.append(record)
    }
    for record in records {
      let fresh = Self.line(JSONLinesEncoder(clock: clock), record)
      #expect(Self.line(kept, record) == fresh)
    }
  }
}
