import CSocktrace
import Synchronization
import Testing

@testable import SocktraceCore
@testable import SocktraceExport

/// A metrics-only run's scrapes (KernelMetrics.swift): the kernel's counts
/// make the same exposition records would have made.
@Suite struct KernelMetricsAbsorbTests {
  /// The kernel's bucket for a duration (bpf/lib/kmetrics.bpf.h's ladder): the first edge >= ns, else +Inf.
  func kernelBucket(_ nanoseconds: UInt64) -> Int {
    TracerMetrics.edgeNanoseconds.firstIndex { nanoseconds <= $0 } ?? TracerMetrics.edgeNanoseconds.count
  }

  func comm(_ name: String) -> [UInt8] {
    Array(name.utf8.prefix(15)) + [UInt8](repeating: 0, count: 16 - min(name.utf8.count, 15))
  }

  /// Lines of `text` that start with `prefix`, in order.
  func lines(_ metrics: TracerMetrics, _ prefix: String) -> [String] {
    String(decoding: metrics.scrape(), as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix(prefix) }
      .map(String.init)
  }

  @Test func bucketEdgesAreTheKernelsAndTheExpositionsAlike() {
    #expect(TracerMetrics.edgeNanoseconds.count == Int(ST_KM_EDGES))
    #expect(
      TracerMetrics.edgeNanoseconds == [
        1000, 2500, 5000, 10000, 25000, 50000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 10_000_000,
        100_000_000, 1_000_000_000,
      ])
    // An edge's own value is in its bucket (le), in the kernel and in swift-prometheus alike.
    for (index, edge) in TracerMetrics.edgeNanoseconds.enumerated() {
      #expect(Double(edge) / 1e9 <= TracerMetrics.durationBuckets[index])
      #expect(Double(edge + 1) / 1e9 > TracerMetrics.durationBuckets[index])
    }
  }

  /// Durations on, around and between every edge, through records and through the kernel's
  /// counts: the same buckets, the same count, the same sum.
  @Test func histogramsFromKernelCountsEqualHistogramsFromRecords() {
    var durations: [UInt64] = [0, 1, 999, 3_000_000_000]
    for edge in TracerMetrics.edgeNanoseconds { durations += [edge - 1, edge, edge + 1, edge + edge / 3] }
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<500 { durations.append(UInt64.random(in: 0...2_000_000_000, using: &generator)) }

    let fromRecords = TracerMetrics(commLimit: 5)
    var counts = KernelCounts()
    for duration in durations {
      var record = st_socket()
      record.h.kind = UInt16(ST_KIND_SOCKET.rawValue)
      record.family = 2
      record.type = 1
      record.duration_ns = duration
      fromRecords.count(.socket(SocketEvent(raw: record)))
      let bucket = kernelBucket(duration)
      counts.histograms[0][0].counts[bucket] += 1
      counts.histograms[0][0].sumsNanoseconds[bucket] += duration
    }
    counts.births[.init(family: 2, type: 1, errno: 0, comm: comm(""))] = UInt64(durations.count)
    counts.records[Int(ST_KIND_SOCKET.rawValue)] = UInt64(durations.count)
    fromRecords.publish(lost: [], written: 0, decodeErrors: 0, force: true)

    let fromKernel = TracerMetrics(commLimit: 5)
    let snapshot = counts
    fromKernel.countInKernel { snapshot }
    let prefix = #"socktrace_socket_creation_duration_seconds_bucket{event="socket",stage="total""#
    #expect(lines(fromKernel, prefix) == lines(fromRecords, prefix))
    #expect(lines(fromKernel, prefix).count == 15)
    let count = #"socktrace_socket_creation_duration_seconds_count{event="socket",stage="total"}"#
    #expect(lines(fromKernel, count) == lines(fromRecords, count))
    let sum = #"socktrace_socket_creation_duration_seconds_sum{event="socket",stage="total"}"#
    let kernelSum = lines(fromKernel, sum).first.flatMap { Double($0.split(separator: " ")[1]) } ?? -1
    let recordSum = lines(fromRecords, sum).first.flatMap { Double($0.split(separator: " ")[1]) } ?? -2
    #expect(abs(kernelSum - recordSum) < 1e-9 * recordSum)
    // Records: counted (both), read (records only).
    let counted = #"socktrace_records_counted_total{event="socket"}"#
    #expect(lines(fromKernel, counted) == lines(fromRecords, counted))
    #expect(lines(fromKernel, #"socktrace_records_read_total{event="socket"} 0"#).count == 1)
    // No stage was seen: no stage histogram.
    #expect(lines(fromKernel, #"socktrace_socket_creation_duration_seconds_count{event="socket",stage="sock_"#).isEmpty)
  }

  /// Stages as from records: none until one is counted, then all three
  /// sources' total and socket's stages, each histogram once, in the text format.
  @Test func stageHistogramsAppearWithTheirFirstDuration() {
    let metrics = TracerMetrics(commLimit: 5)
    let counts = Mutex(KernelCounts())
    metrics.countInKernel { counts.withLock { $0 } }
    let stage = #"socktrace_socket_creation_duration_seconds_count{event="socket",stage="sock_create"}"#
    #expect(lines(metrics, stage).isEmpty)
    #expect(lines(metrics, "# TYPE socktrace_socket_creation_duration_seconds histogram").count == 1)
    #expect(lines(metrics, "socktrace_socket_creation_duration_seconds_count{").count == 3)
    counts.withLock {
      $0.histograms[0][1].counts[2] = 2
      $0.histograms[0][1].sumsNanoseconds[2] = 8000
    }
    #expect(lines(metrics, stage) == [stage + " 2"])
    #expect(
      lines(metrics, #"socktrace_socket_creation_duration_seconds_sum{event="socket",stage="sock_create"}"#) == [
        #"socktrace_socket_creation_duration_seconds_sum{event="socket",stage="sock_create"} 8e-06"#
      ])
    let bucket = #"socktrace_socket_creation_duration_seconds_bucket{event="socket",stage="sock_create",le="#
    #expect(lines(metrics, bucket + #""2.5e-06"} 0"#).count == 1)
    #expect(lines(metrics, bucket + #""5e-06"} 2"#).count == 1)
    #expect(lines(metrics, bucket + #""+Inf"} 2"#).count == 1)
    #expect(lines(metrics, "# TYPE socktrace_socket_creation_duration_seconds histogram").count == 1)
  }

  /// Births by comm, ranked as from records; only what grew is added; accept's
  /// EAGAIN apart; births without a key counted as lost, by their own cause.
  @Test func birthsRankedAndGrownAsFromRecords() {
    let metrics = TracerMetrics(commLimit: 1)
    var state = TracerMetrics.ScrapeState()
    var counts = KernelCounts()
    counts.births[.init(family: 2, type: 1, errno: 0, comm: comm("alpha"))] = 3
    counts.births[.init(family: 2, type: 1, errno: 0, comm: comm("beta"))] = 1
    metrics.absorb(counts, into: &state)
    let births = #"socktrace_socket_births_total{family="AF_INET",type="SOCK_STREAM",result="ok",comm="#
    #expect(lines(metrics, births).sorted() == [births + #""alpha"} 3"#, births + #""other"} 1"#])
    // beta becomes the busiest: alpha's series goes to other, beta starts its own
    // (its first birth stays in other: every series only grows).
    counts.births[.init(family: 2, type: 1, errno: 0, comm: comm("beta"))] = 6
    counts.births[.init(family: 10, type: 2, errno: 97, comm: comm("beta"))] = 1
    counts.acceptWouldBlock = 4
    counts.birthsUnkeyed = 2
    metrics.absorb(counts, into: &state)
    #expect(lines(metrics, births).sorted() == [births + #""beta"} 5"#, births + #""other"} 4"#])
    #expect(
      lines(
        metrics,
        #"socktrace_socket_births_total{family="AF_INET6",type="SOCK_DGRAM",result="EAFNOSUPPORT",comm="beta"} 1"#
      ).count == 1)
    #expect(lines(metrics, "socktrace_accept_would_block_total 4").count == 1)
    #expect(lines(metrics, #"socktrace_lost_events_total{cause="metrics_keys_full"} 2"#).count == 1)
    // Nothing grew: nothing changes.
    metrics.absorb(counts, into: &state)
    #expect(lines(metrics, births).sorted() == [births + #""beta"} 5"#, births + #""other"} 4"#])
  }
}
