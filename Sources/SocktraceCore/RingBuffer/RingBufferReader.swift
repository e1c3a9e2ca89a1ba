import CLibBPF
import Glibc

/// Reads the BPF ring buffer and hands each record's bytes to `handler`.
///
/// The BPF side batches wakeups (`BPF_RB_NO_WAKEUP` until a fill threshold),
/// so `poll` waits at most `interval` milliseconds and then consumes whatever
/// is there: live output lags by at most that interval. The bytes passed to the
/// handler are valid only during the call: libbpf releases the record on return.
public final class RingBufferReader {
  public typealias Handler = (UnsafeRawBufferPointer) -> Void

  private var ring: OpaquePointer?
  private let handler: Handler

  /// `ring_buffer__new` on the map `fd`.
  public init(mapFD fd: Int32, handler: @escaping Handler) throws(TraceError) {
    self.handler = handler
    let context = Unmanaged.passUnretained(self).toOpaque()
    let callback: ring_buffer_sample_fn = { context, data, size in
      guard let context, let data else { return 0 }
      let reader = Unmanaged<RingBufferReader>.fromOpaque(context).takeUnretainedValue()
      reader.handler(UnsafeRawBufferPointer(start: data, count: size))
      return 0
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
    if woken < 0 && woken != -EINTR {
      throw .libbpf(step: "polling", object: "ring buffer", errno: -woken, detail: "")
    }
    return Int(max(woken, 0)) + (try drain())
  }

  /// Reads everything queued now, without waiting: the last read before detach.
  @discardableResult
  public func drain() throws(TraceError) -> Int {
    guard let ring else { return 0 }
    let count = ring_buffer__consume(ring)
    if count < 0 && count != -EINTR {
      throw .libbpf(step: "reading", object: "ring buffer", errno: -count, detail: "")
    }
    return Int(max(count, 0))
  }
}
