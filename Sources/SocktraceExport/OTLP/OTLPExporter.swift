import Glibc
import OTLPProto
import Prometheus
import SocktraceCore
import SwiftProtobuf
import Synchronization

/// `--otlp URL`: every record read from the ring buffer becomes one OTLP log
/// record, sent in batches over OTLP/HTTP protobuf by a thread of its own.
///
/// Between the reader and that thread is a bounded queue of raw records. The
/// reader copies each record into a staging buffer it alone owns and hands the
/// staging buffer over with a *try*-lock (the exporter holds the lock only to
/// swap buffers): the reader never waits for the exporter, whatever the
/// collector does. Past `capacity` records queued, a record is dropped and
/// counted (`queue_full`). A batch that fails is retried with exponential
/// back-off (100 ms doubling to 5 s, `maxAttempts` tries); what is never sent
/// is counted by cause and reported in the `end` record, the summary and the
/// metrics: `queue_full`, `failed` (tries used up), `rejected` (the collector
/// refused it: a non-retryable status, or OTLP partial success), `shutdown`
/// (still queued when the stop's deadline passed).
public final class OTLPExporter: @unchecked Sendable {
  public struct Configuration: Sendable {
    public var capacity = 65536
    public var batchSize = 512
    /// The longest a record waits for its batch to fill.
    public var flushIntervalMilliseconds = 1000
    public var maxAttempts = 5
    public var firstBackoffMilliseconds = 100
    public var maxBackoffMilliseconds = 5000
    /// How long the stop may spend sending what is still queued.
    public var shutdownSeconds = 5.0
    public var requestTimeoutSeconds = 5

    public init() {}
  }

  public let endpoint: OTLPEndpoint
  public let configuration: Configuration
  private let mapper: OTLPLogMapper
  private let client: OTLPHTTPClient
  private let resource: Opentelemetry_Proto_Resource_V1_Resource

  // The reader's side: only the reader thread touches these.
  private var staging = RecordBatch()
  private var handedOff: UInt64 = 0

  // Shared, under `lock`.
  private var lock = pthread_mutex_t()
  private var wake = pthread_cond_t()
  private var pending = RecordBatch()
  private var stopping = false
  private var shutdownDeadline: UInt64 = 0
  private let counts = Mutex(OTLPCounts())
  private var thread: pthread_t?
  private let lastError = Mutex<String?>(nil)
  /// Records queued (staging and pending), for the metrics: written by the reader.
  private let queuedCount = Atomic<Int>(0)
  /// Records dropped because the queue was full: counted by the reader.
  private let queueFull = Atomic<UInt64>(0)

  public init(
    endpoint: OTLPEndpoint, clock: BootClock, serviceVersion: String, configuration: Configuration = Configuration()
  ) {
    self.endpoint = endpoint
    self.configuration = configuration
    mapper = OTLPLogMapper(clock: clock)
    client = OTLPHTTPClient(endpoint: endpoint, timeoutSeconds: configuration.requestTimeoutSeconds)
    var resource = Opentelemetry_Proto_Resource_V1_Resource()
    resource.attributes = [
      .text("service.name", "socktrace"), .text("service.version", serviceVersion),
      .text("host.name", KernelProbes.hostName), .text("os.type", "linux"),
      .text("os.version", KernelProbes.kernelRelease),
    ]
    self.resource = resource
    pthread_mutex_init(&lock, nil)
    var attributes = pthread_condattr_t()
    pthread_condattr_init(&attributes)
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
    pthread_cond_init(&wake, &attributes)
    pthread_condattr_destroy(&attributes)
  }

  deinit {
    pthread_cond_destroy(&wake)
    pthread_mutex_destroy(&lock)
  }

  /// Starts the sending thread (signals blocked in it: they are the reader's).
  public func start() {
    let context = Unmanaged.passRetained(self).toOpaque()
    var created = pthread_t()
    let status = withSignalsBlocked {
      pthread_create(
        &created, nil,
        { context in
          guard let context else { return nil }
          let exporter = Unmanaged<OTLPExporter>.fromOpaque(context).takeRetainedValue()
          exporter.sendLoop()
          return nil
        }, context)
    }
    if status == 0 {
      thread = created
    } else {
      Unmanaged<OTLPExporter>.fromOpaque(context).release()
      lastError.withLock { $0 = "cannot start the exporter thread: \(errnoName(status))" }
    }
  }

  // MARK: the reader thread

  /// Queues one record's raw bytes (reader thread; never waits).
  @inline(__always)
  public func enqueue(_ bytes: UnsafeRawBufferPointer) {
    if staging.count + pendingEstimate >= configuration.capacity {
      // Full: try to hand over first; what still does not fit is dropped.
      handOff()
      if staging.count + pendingEstimate >= configuration.capacity {
        queueFull.add(1, ordering: .relaxed)  // an atomic: the reader takes no lock here
        return
      }
    }
    staging.append(bytes)
    if staging.count >= configuration.batchSize { handOff() }
  }

  /// Records the reader holds or last saw queued (reader thread).
  public var queuedEstimate: Int { staging.count + pendingEstimate }

  /// At every poll (reader thread): hand over what is staged, publish the queue size.
  public func tick() {
    handOff()
    queuedCount.store(staging.count + pendingEstimate, ordering: .relaxed)
  }

  /// What the reader last saw queued on the exporter's side.
  private var pendingEstimate = 0

  /// Hands the staging buffer to the exporter if the lock is free at once
  /// (reader thread, also at every poll).
  public func handOff() {
    guard pthread_mutex_trylock(&lock) == 0 else { return }
    if staging.count > 0 {
      if pending.count == 0 {
        swap(&pending, &staging)
      } else {
        pending.append(contentsOf: staging)
        staging.removeAll()
      }
      pthread_cond_signal(&wake)
    }
    pendingEstimate = pending.count
    pthread_mutex_unlock(&lock)
    queuedCount.store(pendingEstimate, ordering: .relaxed)
  }

  /// Called once tracing has stopped and the ring buffer is drained: hands
  /// over the rest, sends it for at most `shutdownSeconds`, counts what is
  /// left as `shutdown`, and ends the thread.
  public func finish() {
    pthread_mutex_lock(&lock)
    pending.append(contentsOf: staging)
    staging.removeAll()
    stopping = true
    shutdownDeadline = BootClock.now(CLOCK_MONOTONIC) + UInt64(configuration.shutdownSeconds * 1e9)
    pthread_cond_signal(&wake)
    pthread_mutex_unlock(&lock)
    if let thread {
      pthread_join(thread, nil)
      self.thread = nil
    } else {
      counts.withLock { $0.shutdown += UInt64(pending.count) }
      pending.removeAll()
    }
  }

  /// Counts so far (any thread).
  public var snapshot: OTLPCounts {
    var copy = counts.withLock { $0 }
    copy.queued = UInt64(queuedCount.load(ordering: .relaxed))
    copy.queueFull = queueFull.load(ordering: .relaxed)
    return copy
  }

  public var lastFailure: String? { lastError.withLock { $0 } }

  // MARK: the exporter thread

  private func sendLoop() {
    while true {
      pthread_mutex_lock(&lock)
      if pending.count == 0 && !stopping {
        var until = timespec()
        clock_gettime(CLOCK_MONOTONIC, &until)
        let nanoseconds = Int(until.tv_nsec) + configuration.flushIntervalMilliseconds * 1_000_000
        until.tv_sec += nanoseconds / 1_000_000_000
        until.tv_nsec = nanoseconds % 1_000_000_000
        pthread_cond_timedwait(&wake, &lock, &until)
      }
      var taken = RecordBatch()
      swap(&taken, &pending)
      let done = stopping && taken.count == 0
      pthread_mutex_unlock(&lock)
      if done { return }
      if taken.count > 0 { send(taken) }
    }
  }

  /// Decodes, maps and sends `records` in batches of `batchSize`.
  private func send(_ records: RecordBatch) {
    var batch: [LogRecord] = []
    batch.reserveCapacity(min(records.count, configuration.batchSize))
    let now = BootClock.now(CLOCK_REALTIME)
    records.forEachRecord { bytes in
      if let event = try? EventDecoder.decode(bytes) {
        batch.append(mapper.logRecord(event, observedAt: now))
      } else {
        counts.withLock { $0.rejected += 1 }  // cannot happen: the reader decoded it first
      }
      if batch.count >= configuration.batchSize {
        sendBatch(batch)
        batch.removeAll(keepingCapacity: true)
      }
    }
    if !batch.isEmpty { sendBatch(batch) }
  }

  private func sendBatch(_ records: [LogRecord]) {
    let count = UInt64(records.count)
    if pastShutdownDeadline {
      counts.withLock { $0.shutdown += count }
      return
    }
    var scope = Opentelemetry_Proto_Logs_V1_ScopeLogs()
    scope.scope.name = "socktrace"
    scope.scope.version = resource.attributes.first { $0.key == "service.version" }?.value.stringValue ?? ""
    scope.logRecords = records
    var resourceLogs = Opentelemetry_Proto_Logs_V1_ResourceLogs()
    resourceLogs.resource = resource
    resourceLogs.scopeLogs = [scope]
    var request = Opentelemetry_Proto_Collector_Logs_V1_ExportLogsServiceRequest()
    request.resourceLogs = [resourceLogs]
    guard let body: [UInt8] = try? request.serializedBytes() else {
      counts.withLock { $0.rejected += count }
      return
    }
    var backoff = configuration.firstBackoffMilliseconds
    var attempt = 1
    while true {
      counts.withLock { $0.requests += 1 }
      switch client.post(body, deadline: { stopDeadline }) {
      case .accepted(let rejected):
        let refused = min(UInt64(rejected), count)
        counts.withLock {
          $0.sent += count - refused
          $0.rejected += refused
        }
        return
      case .refused(let reason):
        lastError.withLock { $0 = reason }
        counts.withLock { $0.rejected += count }
        return
      case .retryable(let reason):
        lastError.withLock { $0 = reason }
        if attempt >= configuration.maxAttempts {
          counts.withLock { $0.failed += count }
          return
        }
        // Jitter of up to a quarter, so many tracers do not retry in step.
        let pause = backoff - Int.random(in: 0...(backoff / 4))
        if stoppingNow && BootClock.now(CLOCK_MONOTONIC) + UInt64(pause) * 1_000_000 > shutdownDeadlineNow {
          counts.withLock { $0.shutdown += count }
          return
        }
        pauseUnlessStopped(milliseconds: pause)
        if pastShutdownDeadline {
          counts.withLock { $0.shutdown += count }
          return
        }
        backoff = min(backoff * 2, configuration.maxBackoffMilliseconds)
        attempt += 1
        counts.withLock { $0.retries += 1 }
      }
    }
  }

  /// The stop's deadline (CLOCK_MONOTONIC ns), or .max while not stopping:
  /// a request in flight reads it, so a hung collector cannot hold the stop.
  private var stopDeadline: UInt64 {
    pthread_mutex_lock(&lock)
    defer { pthread_mutex_unlock(&lock) }
    return stopping ? shutdownDeadline : .max
  }

  /// Sleeps for a retry's back-off, woken early by finish() (which signals
  /// `wake`) when the stop comes during it, so a stop never waits out a
  /// back-off of up to 5 s.
  private func pauseUnlessStopped(milliseconds: Int) {
    var until = timespec()
    clock_gettime(CLOCK_MONOTONIC, &until)
    let nanoseconds = Int(until.tv_nsec) + milliseconds * 1_000_000
    until.tv_sec += nanoseconds / 1_000_000_000
    until.tv_nsec = nanoseconds % 1_000_000_000
    pthread_mutex_lock(&lock)
    let alreadyStopping = stopping  // then the pause fits before the deadline: take it whole
    while alreadyStopping || !stopping {
      if pthread_cond_timedwait(&wake, &lock, &until) == ETIMEDOUT { break }
    }
    pthread_mutex_unlock(&lock)
  }

  private var stoppingNow: Bool {
    pthread_mutex_lock(&lock)
    defer { pthread_mutex_unlock(&lock) }
    return stopping
  }

  private var shutdownDeadlineNow: UInt64 {
    pthread_mutex_lock(&lock)
    defer { pthread_mutex_unlock(&lock) }
    return shutdownDeadline
  }

  private var pastShutdownDeadline: Bool {
    stoppingNow && BootClock.now(CLOCK_MONOTONIC) >= shutdownDeadlineNow
  }

  // MARK: metrics

  /// Adds the exporter's counters and queue gauge to `metrics`, sampled at scrape.
  public func register(with metrics: TracerMetrics) {
    let registry = metrics.registry
    let sent = registry.makeCounter(
      descriptor: .socktrace("otlp_records_sent", "total", "Records the OTLP collector accepted."))
    let unsent = OTLPCounts().unsentByCause.map { cause in
      registry.makeCounter(
        descriptor: .socktrace("otlp_records_unsent", "total", "Records never sent to the OTLP collector, by cause."),
        labels: [("cause", cause.cause)])
    }
    let requests = registry.makeCounter(descriptor: .socktrace("otlp_requests", "total", "OTLP/HTTP requests made."))
    let retries = registry.makeCounter(descriptor: .socktrace("otlp_retries", "total", "OTLP/HTTP requests retried."))
    let queued = registry.makeGauge(
      descriptor: .socktrace("otlp_queue", "records", "Records waiting for the OTLP exporter."))
    let published = Mutex(OTLPCounts())
    metrics.onScrape { [self] _ in
      let now = snapshot
      published.withLock { last in
        if now.sent > last.sent { sent.increment(by: Int64(now.sent - last.sent)) }
        for (index, cause) in now.unsentByCause.enumerated() {
          let before = last.unsentByCause[index].count
          if cause.count > before { unsent[index].increment(by: Int64(cause.count - before)) }
        }
        if now.requests > last.requests { requests.increment(by: Int64(now.requests - last.requests)) }
        if now.retries > last.retries { retries.increment(by: Int64(now.retries - last.retries)) }
        last = now
      }
      queued.set(Double(now.queued))
    }
  }
}

/// Raw records back to back, each behind its length: one allocation for many.
struct RecordBatch {
  private(set) var bytes: [UInt8] = []
  private(set) var count = 0

  mutating func append(_ record: UnsafeRawBufferPointer) {
    var length = UInt32(record.count)
    withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
    bytes.append(contentsOf: record)
    count += 1
  }

  mutating func append(contentsOf other: RecordBatch) {
    bytes.append(contentsOf: other.bytes)
    count += other.count
  }

  mutating func removeAll() {
    bytes.removeAll(keepingCapacity: true)
    count = 0
  }

  func forEachRecord(_ body: (UnsafeRawBufferPointer) -> Void) {
    bytes.withUnsafeBytes { raw in
      var offset = 0
      while offset + 4 <= raw.count {
        let length = Int(raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        offset += 4
        body(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)]))
        offset += length
      }
    }
  }
}
