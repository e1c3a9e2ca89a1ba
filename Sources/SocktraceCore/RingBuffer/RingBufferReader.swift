import CLibBPF
import Glibc

/// Reads the BPF ring buffer and hands each record's bytes to `handler`.
///
/// Wakeups: the BPF side wakes the reader only for a record that lands in an
/// empty ring, so a lone event is read at once. After a read that found
/// records the caller calls `coalesce(afterReading:)` before it waits again: a storm's
/// records gather meanwhile in a ring that is not empty, waking nobody, so a
/// storm costs at most one wakeup per window, and is read in batches. `poll`'s
/// timeout is only a fallback. The bytes passed to the handler are valid only
/// during the call: libbpf releases the record on return.
///
/// libbpf's consume loop runs for as long as records keep arriving, which
/// under a flood is forever: the handler returns `false` to end a read early
/// (the record it was given counts as read), so the caller can flush, check
/// for a stop and come back.
public final class RingBufferReader {
  public typealias Handler = (UnsafeRawBufferPointer) -> Bool

  /// How long records gather after a read before the next wait: 1 ms after
  /// a read of a few records (what a lone record may wait once one has woken
  /// the reader), `stormMicroseconds` after a read of `stormRecords` or more,
  /// so a busy server's records are read (and written) in batches of
  /// hundreds: fewer wakeups, context switches and write(2)s per record. The
  /// ring holds far more than a window's records at any rate measured.
  public static let coalesceMicroseconds = 1000
  public static let stormMicroseconds = 8000
  public static let stormRecords = 32

  /// Sleeps the coalescing window for a read of `records` (a signal ends it early).
  public static func coalesce(afterReading records: Int) {
    let micro = records >= stormRecords ? stormMicroseconds : coalesceMicroseconds
    var window = timespec(tv_sec: 0, tv_nsec: micro * 1000)
    _ = nanosleep(&window, nil)
  }

  /// What the C callback returns to stop libbpf's loop; not an error.
  static let pause = -ECANCELED

  private var ring: OpaquePointer?
  private let handler: Handler

  /// `ring_buffer__new` on the map `fd`.
  public init(mapFD fd: Int32, handler: @escaping Handler) throws(TraceError) {
    self.handler = handler
    let context = Unmanaged.passUnretained(self).toOpaque()
    let callback: ring_buffer_sample_fn = { context, data, size in
      guard let context, let data else { return 0 }
      let reader = Unmanaged<RingBufferReader>.fromOpaque(context).takeUnretainedValue()
      return reader.handler(UnsafeRawBufferPointer(start: data, count: size)) ? 0 : RingBufferReader.pause
    }
    guard let ring = ring_buffer__new(fd, callback, context, nil) else {
      throw .libbpf(step: "opening", object: "ring buffer", errno: errno, detail: lastWarning())
    }
    self.ring = ring
  }

  deinit {
    if let ring { ring_buffer__free(ring) }
  }

  /// Waits up to `interval` ms for a wakeup, then drains. Returns records read;
  /// an interrupted wait (a signal) counts as zero.
  @discardableResult
  public func poll(interval milliseconds: Int32) throws(TraceError) -> Int {
    guard let ring else { return 0 }
    let woken = ring_buffer__poll(ring, milliseconds)
    if woken == Self.pause { return 0 }
    if woken < 0 && woken != -EINTR {
      throw .libbpf(step: "polling", object: "ring buffer", errno: -woken, detail: "")
    }
    return Int(max(woken, 0)) + (try drain())
  }

  /// Reads what is queued now, without waiting, until the handler pauses.
  @discardableResult
  public func drain() throws(TraceError) -> Int {
    guard let ring else { return 0 }
    let count = ring_buffer__consume(ring)
    if count == Self.pause { return 0 }
    if count < 0 && count != -EINTR {
      throw .libbpf(step: "reading", object: "ring buffer", errno: -count, detail: "")
    }
    return Int(max(count, 0))
  }
}
