import Glibc

/// How full the BPF ring buffer is, read at any moment from any thread (a
/// /metrics scrape) without touching the reader: its consumer and producer
/// positions, mapped read-only a second time from the map (what libbpf's
/// `ring__avail_data_size` does in newer versions than Debian 12's 1.1).
/// The mapping holds the map, so it stays valid after the session is gone.
public final class RingBufferFill: @unchecked Sendable {
  public let sizeBytes: UInt64
  private let consumer: UnsafeMutableRawPointer
  private let producer: UnsafeMutableRawPointer
  private let pageSize: Int

  /// Maps the first page (consumer position) and the second (producer
  /// position) of the ring buffer map `fd`, read-only; nil if mmap refuses.
  public init?(mapFD fd: Int32, sizeBytes: UInt32) {
    pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    guard
      let consumer = mmap(nil, pageSize, PROT_READ, MAP_SHARED, fd, 0), consumer != MAP_FAILED
    else { return nil }
    guard
      let producer = mmap(nil, pageSize, PROT_READ, MAP_SHARED, fd, off_t(pageSize)), producer != MAP_FAILED
    else {
      munmap(consumer, pageSize)
      return nil
    }
    self.consumer = consumer
    self.producer = producer
    self.sizeBytes = UInt64(sizeBytes)
  }

  deinit {
    munmap(consumer, pageSize)
    munmap(producer, pageSize)
  }

  /// Bytes written by the kernel and not yet consumed by the reader.
  public var usedBytes: UInt64 {
    // Each position is an unsigned long the kernel and libbpf update with
    // release stores; an aligned 8-byte load reads either old or new.
    let consumed = consumer.load(as: UInt64.self)
    let produced = producer.load(as: UInt64.self)
    return produced >= consumed ? min(produced - consumed, sizeBytes) : 0
  }

  /// `usedBytes` as a fraction of the buffer, 0 to 1.
  public var ratio: Double { sizeBytes == 0 ? 0 : Double(usedBytes) / Double(sizeBytes) }
}
