import Prometheus
import SocktraceCore

/// A metrics-only run: the BPF programs count (bpf/lib/kmetrics.bpf.h) and
/// send no record, and each scrape reads their maps and publishes what grew
/// since the last one, into the same metrics with the same labels as records
/// would have made. `records_read` stays 0 (nothing is read from the ring
/// buffer); `records_counted` says what was made.
extension TracerMetrics {
  /// From now on the kernel's counts are this run's (before the first record).
  public func countInKernel(_ counters: KernelCounters) {
    kernel.withLock { $0 = counters }
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

    for kind in EventKind.allCases where kind.rawValue + 1 < now.records.count {
      countedByKind[kind.rawValue] = now.records[kind.rawValue + 1]  // st_kind = EventKind + 1
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
    for source in SocketSource.allSources {
      for stage in DurationStage.allCases {
        let grown = now.histograms[source.index][stage.rawValue]
        let old = before.histograms[source.index][stage.rawValue]
        guard grown.count > old.count else { continue }
        // A stage's histogram appears with its first duration, as from records.
        replay(grown, since: old, into: self.stage(stage, of: source))
      }
    }
    state.kernel = now
  }

  /// Bucket by bucket, the new durations as values of their mean: each lands
  /// in its own bucket (a mean of values in (lo, hi] is in it) and the sum is
  /// exact. A count read before its sum (the kernel adds one, then the other)
  /// is kept inside the bucket; the next scrape's sum makes up the difference.
  func replay(_ grown: KernelCounts.Histogram, since old: KernelCounts.Histogram, into histogram: ValueHistogram) {
    let edges = Self.edgeNanoseconds
    for bucket in 0..<min(grown.counts.count, edges.count + 1) {
      guard grown.counts[bucket] > old.counts[bucket] else { continue }
      let count = grown.counts[bucket] - old.counts[bucket]
      let sum = grown.sumsNanoseconds[bucket] &- old.sumsNanoseconds[bucket]
      let low: UInt64 = bucket == 0 ? 0 : edges[bucket - 1] + 1
      let high: UInt64 = bucket < edges.count ? edges[bucket] : .max
      var mean = sum / count
      var extra = sum % count  // this many get mean + 1
      if mean < low || mean > high || (extra > 0 && mean == high) || sum > .max / 2 {
        mean = min(max(mean, low), high)
        extra = 0
      }
      for index in 0..<count {
        histogram.record(Double(index < extra ? mean + 1 : mean) / 1e9)
      }
    }
  }
}
