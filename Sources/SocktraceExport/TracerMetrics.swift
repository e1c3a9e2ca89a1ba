import Glibc
import Prometheus
import SocktraceCore
import Synchronization

/// The tracer's Prometheus metrics (`--metrics`), through swift-prometheus.
///
/// The reader thread counts each record into plain tables it alone owns (a
/// dictionary update, no lock) and publishes them to the registry between
/// reads (`publish`, at most every `publishInterval` and at stop); histograms
/// are observed directly. A scrape renders the registry on the listener's
/// thread, after sampling what only a scrape needs: ring-buffer fill, the
/// tracer's own CPU and RSS, the OTLP exporter's counts.
///
/// `comm` is bounded: the `commLimit` busiest commands by births so far get
/// their own label, every other one is `other`. A command that leaves the top
/// hands its counts to `other` (its series goes away), one that enters starts
/// its own series from then on: every series only grows, and the sum over all
/// series is always every birth seen.
///
/// A metrics-only run (`countInKernel`) gets the same numbers from the
/// kernel's maps instead of records, read at each scrape (KernelMetrics.swift).
public final class TracerMetrics: @unchecked Sendable {
  public let registry: PrometheusCollectorRegistry
  public let commLimit: Int
  /// Distinct commands counted by volume at most; later ones count as `other`
  /// at once (a process can rename itself at will: memory stays bounded).
  public let trackedCommLimit: Int
  public static let publishIntervalNanoseconds: UInt64 = 250_000_000
  /// Creation-duration buckets, in seconds: 1 us to 1 s.
  public static let durationBuckets: [Double] = [
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, 1e-1, 1,
  ]

  // The reader thread's own tables (a metrics-only run's scrapes', under
  // `scrapeLock`: no record ever reaches the reader thread then).
  var births: [BirthKey: Tally] = [:]
  var commTotals: [Comm: UInt64] = [:]
  private var labeled: Set<Comm> = []
  private var series: [SeriesKey: Series] = [:]
  private var lastPublish: UInt64 = 0
  private var readByKind = [UInt64](repeating: 0, count: RecordKind.allCases.count)
  private var readPublished = [UInt64](repeating: 0, count: RecordKind.allCases.count)
  /// Records made, by kind: read, or counted in the kernel (metrics only).
  var countedByKind = [UInt64](repeating: 0, count: RecordKind.allCases.count)
  private var countedPublished = [UInt64](repeating: 0, count: RecordKind.allCases.count)
  private var lostPublished: [String: UInt64] = [:]
  private var writtenPublished: UInt64 = 0
  private var decodeErrorsPublished: UInt64 = 0

  private let read: [Counter]
  private let counted: [Counter]
  /// By source, then stage: `total` from the start; a stage's histogram is
  /// made when the first record with stages arrives, so a rung that cannot
  /// see stages (the tracepoint rung) exports none, rather than zeros.
  var durations: [[ValueHistogram?]]
  /// accept(2) on a non-blocking listener with nothing to accept: EAGAIN is
  /// the call working as meant, not a socket that failed to be born.
  let acceptWouldBlock: Counter
  /// Failed births by source and cause (FailureCause: a closed set), made at
  /// the first failure of each pair.
  private var failures: [[Counter?]] = SocketSource.allSources.map { _ in
    FailureCause.allCases.map { _ in nil }
  }
  private let written: Counter
  private let decodeErrors: Counter
  private var lost: [String: Counter] = [:]

  // Sampled at scrape time, under `scrapeLock`.
  let scrapeLock = Mutex(ScrapeState())
  /// A metrics-only run's counts, read at each scrape (KernelMetrics.swift).
  let kernel = Mutex<(@Sendable () -> KernelCounts)?>(nil)
  private let fillRatio: Gauge
  private let fillBytes: Gauge
  private let ringSize: Gauge
  private let cpuUser: Counter
  private let cpuSystem: Counter
  private let rss: Gauge
  private let startTime: Gauge
  /// Set once the session exists (the ring buffer is mapped).
  private let fill = Mutex<RingBufferFill?>(nil)
  /// Extra gauges and counters sampled at scrape time (the OTLP exporter's).
  private let scrapeHooks = Mutex<[@Sendable (PrometheusCollectorRegistry) -> Void]>([])

  struct ScrapeState {
    var userSeconds = 0.0
    var systemSeconds = 0.0
    /// What the last scrape took from the kernel (metrics only).
    var kernel = KernelCounts()
    var unkeyed: Counter?
  }

  public init(commLimit: Int) {
    let registry = PrometheusCollectorRegistry()
    self.registry = registry
    self.commLimit = max(commLimit, 0)
    trackedCommLimit = max(4096, 16 * commLimit)
    read = RecordKind.allCases.map { kind in
      registry.makeCounter(
        descriptor: .socktrace("records_read", "total", "Records read from the ring buffer, by kind."),
        labels: [("event", kind.name)])
    }
    counted = RecordKind.allCases.map { kind in
      registry.makeCounter(
        descriptor: .socktrace(
          "records_counted", "total",
          "Records made, by kind: read from the ring buffer, or in a metrics-only run counted in the kernel and never sent (then records_read stays 0)."
        ),
        labels: [("event", kind.name)])
    }
    durations = SocketSource.allSources.map { source in
      DurationStage.allCases.map { stage in
        stage == .total ? Self.durationHistogram(registry, source: source, stage: stage) : nil
      }
    }
    acceptWouldBlock = registry.makeCounter(
      descriptor: .socktrace(
        "accept_would_block", "total",
        "accept() calls on a non-blocking listener that found no connection (EAGAIN): not counted as births."))
    written = registry.makeCounter(
      descriptor: .socktrace("records_written", "total", "Records written to the output (file or standard output)."))
    decodeErrors = registry.makeCounter(
      descriptor: .socktrace("decode_errors", "total", "Ring-buffer records that could not be decoded."))
    fillRatio = registry.makeGauge(
      descriptor: .socktrace(
        "ring_buffer_fill", "ratio", "Fraction of the BPF ring buffer written and not yet read, at scrape time."))
    fillBytes = registry.makeGauge(
      descriptor: .socktrace("ring_buffer_used", "bytes", "Bytes in the BPF ring buffer not yet read, at scrape time."))
    ringSize = registry.makeGauge(descriptor: .socktrace("ring_buffer_size", "bytes", "Size of the BPF ring buffer."))
    cpuUser = registry.makeCounter(
      descriptor: .socktrace("cpu_seconds", "total", "CPU time the tracer itself used."), labels: [("mode", "user")])
    cpuSystem = registry.makeCounter(
      descriptor: .socktrace("cpu_seconds", "total", "CPU time the tracer itself used."), labels: [("mode", "system")])
    rss = registry.makeGauge(
      descriptor: .socktrace("resident_memory", "bytes", "The tracer's resident set size (VmRSS)."))
    startTime = registry.makeGauge(
      descriptor: .socktrace("start_time", "seconds", "When the tracer started, seconds since the epoch."))
    startTime.set(Double(BootClock.now(CLOCK_REALTIME)) / 1e9)
    // Present from the first scrape, at 0, so rate() and increase() see the start.
    for cause in LossCause.allCases { _ = lostCounter(cause.name) }
  }

  static let durationHelp =
    "Time spent creating a socket: the whole call, and each stage where the probe sees stages."

  static func durationHistogram(
    _ registry: PrometheusCollectorRegistry, source: SocketSource, stage: DurationStage
  ) -> ValueHistogram {
    registry.makeValueHistogram(
      descriptor: .socktrace("socket_creation_duration", "seconds", durationHelp),
      labels: [("event", source.kind.name), ("stage", stage.name)], buckets: durationBuckets)
  }

  /// Labels from the session: the probe in use, the version, the kernel.
  public func started(session: TraceSession, version: String) {
    let info = registry.makeGauge(
      descriptor: .socktrace("info", "", "The tracer's version, probe and kernel."),
      labels: [("version", version), ("probe", session.plan.rung.rawValue), ("kernel", KernelProbes.kernelRelease)])
    info.set(1.0)
    fill.withLock { $0 = session.ringBufferFill }
    ringSize.set(Double(session.ringBufferFill?.sizeBytes ?? 0))
  }

  /// Something else to sample at each scrape (the OTLP exporter's counts).
  public func onScrape(_ hook: @escaping @Sendable (PrometheusCollectorRegistry) -> Void) {
    scrapeHooks.withLock { $0.append(hook) }
  }

  // MARK: the reader thread

  /// One record (reader thread).
  @inline(__always)
  public func count(_ event: TraceEvent) {
    switch event {
    // A socket open at start (the snapshot) was born before: no birth, no record read.
    case .socket(let socket) where socket.via == .snapshot: return
    case .socket(let socket): countSocket(socket)
    case .release, .fork, .exec, .exit, .socketCall, .connectResult: readByKind[event.kind.slot] &+= 1
    }
  }

  private func countSocket(_ socket: SocketEvent) {
    let source = socket.source
    readByKind[source.kind.slot] &+= 1
    if source == .accept && socket.errno == EAGAIN {
      acceptWouldBlock.increment()
      return
    }
    var comm = Comm(socket.header)
    if commTotals[comm] == nil && commTotals.count >= trackedCommLimit { comm = .overflow }
    commTotals[comm, default: 0] &+= 1
    // Every number the kernel can be asked for keeps its own label (AF_N, as
    // in JSON); anything past that is one label, so a hostile caller cannot
    // make series without bound.
    let family = (0..<Self.familyLabels).contains(socket.family) ? socket.family : -1
    let errno = socket.errno <= 4095 ? socket.errno : 4096
    let type = (0..<16).contains(socket.type) ? socket.type : -1
    let key = BirthKey(family: family, type: type, errno: errno, comm: comm)
    births[key, default: Tally()].count &+= 1
    if let failure = socket.failure { failureCounter(source, failure.cause).increment() }

    durations[source.index][DurationStage.total.rawValue]?.record(Double(socket.durationNanoseconds) / 1e9)
    // accept's whole call includes its wait for a connection; stages exist only for socket().
    if let stages = socket.stages, source == .socket {
      stage(.sockCreate, of: source).record(Double(stages.sockCreate) / 1e9)
      stage(.sockMapFD, of: source).record(Double(stages.sockMapFD) / 1e9)
    }
  }

  private func failureCounter(_ source: SocketSource, _ cause: FailureCause) -> Counter {
    let index = FailureCause.allCases.firstIndex(of: cause) ?? 0
    if let counter = failures[source.index][index] { return counter }
    let counter = registry.makeCounter(
      descriptor: .socktrace(
        "socket_failures", "total",
        "Sockets that could not be made, by event and cause: the kernel check that refused them "
          + "(unknown: the probe could not tell)."),
      labels: [("event", source.kind.name), ("cause", cause.name)])
    failures[source.index][index] = counter
    return counter
  }

  /// Family numbers below this keep their own label.
  static let familyLabels: Int32 = 256

  func stage(_ stage: DurationStage, of source: SocketSource) -> ValueHistogram {
    if let histogram = durations[source.index][stage.rawValue] { return histogram }
    let histogram = Self.durationHistogram(registry, source: source, stage: stage)
    durations[source.index][stage.rawValue] = histogram
    return histogram
  }

  /// Publishes the reader's counts to the registry, at most every
  /// `publishIntervalNanoseconds` unless `force` (reader thread, between reads).
  /// `lost` is the loss by cause so far, `written` the records written so far.
  public func publish(
    lost: [(cause: String, count: UInt64)], written total: UInt64, decodeErrors errors: UInt64,
    force: Bool = false
  ) {
    let now = BootClock.now(CLOCK_MONOTONIC)
    guard force || now &- lastPublish >= Self.publishIntervalNanoseconds else { return }
    lastPublish = now
    for (index, counter) in read.enumerated() where readByKind[index] > readPublished[index] {
      counter.increment(by: Int64(readByKind[index] - readPublished[index]))
      counted[index].increment(by: Int64(readByKind[index] - readPublished[index]))
      readPublished[index] = readByKind[index]
    }
    for (cause, count) in lost {
      let published = lostPublished[cause, default: 0]
      if count > published {
        lostCounter(cause).increment(by: Int64(count - published))
        lostPublished[cause] = count
      }
    }
    if total > writtenPublished {
      written.increment(by: Int64(total - writtenPublished))
      writtenPublished = total
    }
    if errors > decodeErrorsPublished {
      decodeErrors.increment(by: Int64(errors - decodeErrorsPublished))
      decodeErrorsPublished = errors
    }
    // Metrics only: the scrapes publish the kernel's counts (KernelMetrics.swift).
    if !countsInKernel { publishBirths() }
  }

  /// Whether the kernel counts (a metrics-only run).
  var countsInKernel: Bool { kernel.withLock { $0 != nil } }

  /// The kernel-counted records of each kind, published (scrape thread, metrics only).
  func publishCounted() {
    for (index, counter) in counted.enumerated() where countedByKind[index] > countedPublished[index] {
      counter.increment(by: Int64(countedByKind[index] - countedPublished[index]))
      countedPublished[index] = countedByKind[index]
    }
  }

  private func lostCounter(_ cause: String) -> Counter {
    if let counter = lost[cause] { return counter }
    let counter = registry.makeCounter(
      descriptor: .socktrace("lost_events", "total", "Records that could not be produced or read, by cause."),
      labels: [("cause", cause)])
    lost[cause] = counter
    return counter
  }

  /// Re-ranks the commands, moves a demoted command's series into `other`,
  /// then adds each birth key's new counts to its series.
  func publishBirths() {
    let top = commTotals.filter { $0.key != .overflow }
      .sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
      .prefix(commLimit).map(\.key)
    let newLabeled = Set(top)
    if newLabeled != labeled {
      for (key, entry) in series where key.comm != .overflow && !newLabeled.contains(key.comm) {
        seriesFor(key.other).add(entry.value)
        registry.unregisterCounter(entry.counter)
        series[key] = nil
      }
      labeled = newLabeled
    }
    for (key, tally) in births where tally.count > tally.published {
      let delta = tally.count - tally.published
      births[key]?.published = tally.count
      let label = labeled.contains(key.comm) ? key.comm : .overflow
      seriesFor(SeriesKey(family: key.family, type: key.type, errno: key.errno, comm: label)).add(delta)
    }
  }

  private func seriesFor(_ key: SeriesKey) -> Series {
    if let existing = series[key] { return existing }
    let created = Series(
      counter: registry.makeCounter(
        descriptor: .socktrace(
          "socket_births", "total",
          "Sockets created (socket, socketpair, accept), by family, type, result and command."),
        labels: [
          ("family", key.family >= 0 ? SocketNames.familyLabel(key.family) : "AF_256_or_more"),
          ("type", key.type >= 0 ? SocketNames.typeLabel(key.type) : "SOCK_16_or_more"),
          ("result", key.errno == 0 ? "ok" : ErrnoNames.name(key.errno) ?? "E\(key.errno)"),
          ("comm", key.comm == .overflow ? "other" : TextTable.printable(key.comm.bytes)),
        ]))
    series[key] = created
    return created
  }

  // MARK: scrapes

  /// The exposition text (the listener's thread).
  @Sendable public func scrape() -> [UInt8] {
    // Metrics only: the kernel's counts are read here, so an idle scrape
    // interval costs nothing and a busy one as much as a quiet one.
    scrapeLock.withLock { state in
      let kernelCounts = kernel.withLock { $0 }
      if let kernelCounts { absorb(kernelCounts(), into: &state) }
      if let fill = fill.withLock({ $0 }) {
        let used = fill.usedBytes
        fillBytes.set(Double(used))
        fillRatio.set(fill.sizeBytes == 0 ? 0 : Double(used) / Double(fill.sizeBytes))
      }
      var usage = rusage()
      getrusage(RUSAGE_SELF.rawValue, &usage)
      let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
      let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
      if user > state.userSeconds { cpuUser.increment(by: user - state.userSeconds) }
      if system > state.systemSeconds { cpuSystem.increment(by: system - state.systemSeconds) }
      state.userSeconds = max(user, state.userSeconds)
      state.systemSeconds = max(system, state.systemSeconds)
      if let resident = Self.residentBytes() { rss.set(Double(resident)) }
      for hook in scrapeHooks.withLock({ $0 }) { hook(registry) }
      var text = registry.emitToBuffer()
      if kernelCounts != nil { Self.emitHistograms(state.kernel, into: &text) }
      return text
    }
  }

  /// VmRSS from /proc/self/statm (pages).
  static func residentBytes() -> UInt64? {
    let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: 128)
    let count = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
    guard count > 0 else { return nil }
    let fields = bytes.prefix(count).split(separator: UInt8(ascii: " "))
    guard fields.count > 1, let pages = UInt64(String(decoding: fields[1], as: UTF8.self)) else { return nil }
    return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
  }
}

/// A command name as the kernel keeps it: 16 bytes, NUL-padded.
struct Comm: Hashable, Comparable {
  var low: UInt64
  var high: UInt64

  init(_ header: EventHeader) { self.init(bytes: header.comm) }

  /// The kernel's 16 bytes (a metrics-only run's keys: KernelMetrics.swift).
  init<Bytes: Sequence<UInt8>>(bytes: Bytes) {
    var low: UInt64 = 0
    var high: UInt64 = 0
    for (index, byte) in bytes.prefix(16).enumerated() {
      if index < 8 { low |= UInt64(byte) << (8 * index) } else { high |= UInt64(byte) << (8 * (index - 8)) }
    }
    self.low = low
    self.high = high
  }

  private init(low: UInt64, high: UInt64) {
    self.low = low
    self.high = high
  }

  /// `other`: no comm has a non-NUL 16th byte, so no real name is this.
  static let overflow = Comm(low: 0, high: 0xff << 56)

  var bytes: [UInt8] {
    var out: [UInt8] = []
    for index in 0..<16 {
      let byte = UInt8(truncatingIfNeeded: (index < 8 ? low >> (8 * index) : high >> (8 * (index - 8))))
      if byte == 0 { break }
      out.append(byte)
    }
    return out
  }

  static func < (lhs: Comm, rhs: Comm) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }
}

struct BirthKey: Hashable {
  var family: Int32
  var type: Int32
  var errno: Int32
  var comm: Comm
}

typealias SeriesKey = BirthKey

extension BirthKey {
  var other: BirthKey { BirthKey(family: family, type: type, errno: errno, comm: .overflow) }
}

struct Tally {
  var count: UInt64 = 0
  var published: UInt64 = 0
}

final class Series {
  let counter: Counter
  private(set) var value: UInt64 = 0

  init(counter: Counter) { self.counter = counter }

  func add(_ amount: UInt64) {
    counter.increment(by: Int64(amount))
    value &+= amount
  }
}

extension RecordKind {
  /// Its slot in the per-kind counters: `st_kind` numbers are dense from 1.
  var slot: Int { number - 1 }
}

enum DurationStage: Int, CaseIterable {
  case total, sockCreate, sockMapFD

  var name: String {
    switch self {
    case .total: return "total"
    case .sockCreate: return "sock_create"
    case .sockMapFD: return "sock_map_fd"
    }
  }
}

extension SocketSource {
  static let allSources: [SocketSource] = [.socket, .socketpair, .accept]

  var index: Int {
    switch self {
    case .socket: return 0
    case .socketpair: return 1
    case .accept: return 2
    }
  }
}

extension MetricNameDescriptor {
  /// `socktrace_NAME_UNIT`, with its help text.
  static func socktrace(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(namespace: "socktrace", metricName: name, unitName: unit, helpText: help)
  }
}
