import Prometheus
import SocktraceCore

/// A metrics-only run: the BPF programs count (bpf/lib/kmetrics.bpf.h) and
/// send no record, and each scrape reads their maps and publishes what grew
/// since the last one, into the same metrics with the same labels as records
/// would have made; the duration histograms are written straight from the
/// kernel's buckets. `records_read` stays 0 (nothing is read from the ring
/// buffer); `records_counted` says what was made.
extension TracerMetrics {
  /// From now on the kernel's counts are this run's (before the first record).
  public func countInKernel(_ counters: KernelCounters) {
    countInKernel { counters.read() }
  }

  /// `read` gives everything counted so far, at each scrape. The duration
  /// histograms are then rendered from the kernel's buckets (`emitHistograms`):
  /// the registry's are taken out, in the same step, so no scrape has both.
  func countInKernel(read: @escaping @Sendable () -> KernelCounts) {
    scrapeLock.withLock { _ in
      kernel.withLock { $0 = read }
      for histogram in durations.joined() {
        if let histogram { registry.unregisterValueHistogram(histogram) }
      }
    }
  }

  /// The bucket edges in ns, as the kernel compares them (`le`).
  static let edgeNanoseconds: [UInt64] = durationBuckets.map { UInt64(($0 * 1e9).rounded()) }

  /// What grew in the kernel since the last scrape, published (under `scrapeLock`).
  func absorb(_ now: KernelCounts, into state: inout ScrapeState) {
    let before = state.kernel
    var totals: [BirthKey: UInt64] = [:]
    for (key, count) in now.births {
      let family = (0..<Self.familyLabels).contains(key.family) ? key.family : -1
      let type = (0..<16).contains(key.type) ? key.type : -1
      totals[BirthKey(family: family, type: type, errno: key.errno, comm: Comm(bytes: key.comm)), default: 0] &+= count
    }
    var comms: [Comm: UInt64] = [:]
    for (key, count) in totals {
      births[key, default: Tally()].count = count
      comms[key.comm, default: 0] &+= count
    }
    commTotals = comms
    publishBirths()

    for kind in RecordKind.allCases where kind.number < now.records.count {
      countedByKind[kind.slot] = now.records[kind.number]
    }
    publishCounted()
    if now.acceptWouldBlock > before.acceptWouldBlock {
      acceptWouldBlock.increment(by: Int64(now.acceptWouldBlock - before.acceptWouldBlock))
    }
    if now.birthsUnkeyed > before.birthsUnkeyed {
      let counter =
        state.unkeyed
        ?? registry.makeCounter(
          descriptor: .socktrace("lost_events", "total", "Records that could not be produced or read, by cause."),
          labels: [("cause", "metrics_keys_full")])
      state.unkeyed = counter
      counter.increment(by: Int64(now.birthsUnkeyed - before.birthsUnkeyed))
    }
    state.kernel = now
  }

  /// The duration histograms from the kernel's cumulative buckets, as
  /// swift-prometheus writes a histogram (its bucket edges, `le` as it prints
  /// them, the sum in seconds): a stage's histogram once it has a duration,
  /// as from records. The cost is the buckets', whatever the traffic.
  static func emitHistograms(_ counts: KernelCounts, into buffer: inout [UInt8]) {
    let name = "socktrace_socket_creation_duration_seconds"
    var text = "# HELP \(name) \(durationHelp)\n# TYPE \(name) histogram\n"
    for source in SocketSource.allSources {
      for stage in DurationStage.allCases {
        let histogram = counts.histograms[source.index][stage.rawValue]
        let total = histogram.count
        guard stage == .total || total > 0 else { continue }
        let labels = #"event="\#(source.kind.name)",stage="\#(stage.name)""#
        var cumulative: UInt64 = 0
        for (index, edge) in durationBuckets.enumerated() {
          cumulative &+= histogram.counts[index]
          text += "\(name)_bucket{\(labels),le=\"\(edge.bucketRepresentation)\"} \(cumulative)\n"
        }
        let sum = Double(histogram.sumsNanoseconds.reduce(0, &+)) / 1e9
        text += "\(name)_bucket{\(labels),le=\"+Inf\"} \(total)\n"
        text += "\(name)_sum{\(labels)} \(sum.bucketRepresentation)\n"
        text += "\(name)_count{\(labels)} \(total)\n"
      }
    }
    buffer.append(contentsOf: text.utf8)
  }
}
