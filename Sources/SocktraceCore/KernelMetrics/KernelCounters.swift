import CLibBPF
import CSocktrace
import Glibc

/// What a metrics-only run's BPF programs counted instead of sending records
/// (bpf/lib/kmetrics.bpf.h): every count since the programs were loaded.
public struct KernelCounts: Sendable, Equatable {
  /// Socket births by (family, type, errno, comm); comm `other` is all NUL
  /// but byte 15 = 0xff (km_births_other).
  public struct BirthKey: Hashable, Sendable {
    public var family: Int32
    public var type: Int32
    public var errno: Int32
    /// The 16 bytes the kernel keeps, NUL-padded.
    public var comm: [UInt8]

    public init(family: Int32, type: Int32, errno: Int32, comm: [UInt8]) {
      self.family = family
      self.type = type
      self.errno = errno
      self.comm = comm
    }
  }

  /// One histogram: count and sum (ns) per bucket, TracerMetrics.durationBuckets then +Inf.
  public struct Histogram: Sendable, Equatable {
    public var counts: [UInt64]
    public var sumsNanoseconds: [UInt64]

    public init(buckets: Int) {
      counts = [UInt64](repeating: 0, count: buckets)
      sumsNanoseconds = [UInt64](repeating: 0, count: buckets)
    }

    public var count: UInt64 { counts.reduce(0, &+) }
  }

  public var births: [BirthKey: UInt64] = [:]
  /// Records counted, by kind (st_kind: 1 socket ... 12 connect_result).
  public var records = [UInt64](repeating: 0, count: 16)
  public var acceptWouldBlock: UInt64 = 0
  /// Births neither birth map had room for: counted, without labels.
  public var birthsUnkeyed: UInt64 = 0
  /// [source (socket, socketpair, accept)][stage (total, sock_create, sock_map_fd)]
  public var histograms: [[Histogram]] = []

  /// Buckets in use: the edges, then +Inf.
  public static let buckets = Int(ST_KM_EDGES) + 1

  public init() {
    histograms = (0..<Int(ST_KM_SOURCES)).map { _ in
      (0..<Int(ST_KM_STAGES)).map { _ in Histogram(buckets: Self.buckets) }
    }
  }

  /// Every record counted, of every kind.
  public var recordsTotal: UInt64 { records.reduce(0, &+) }
  /// Socket births counted (accept's EAGAIN not among them).
  public var birthsTotal: UInt64 { births.values.reduce(0, &+) &+ birthsUnkeyed }
  public var failedTotal: UInt64 { births.filter { $0.key.errno != 0 }.values.reduce(0, &+) }
}

/// Reads the metrics-only maps, from any thread: it holds its own descriptors
/// of them (dup), so a scrape that arrives while the session goes away reads
/// maps that still exist, never a descriptor number reused for something else.
public final class KernelCounters: @unchecked Sendable {
  private let statsFD: Int32
  private let birthsFD: Int32
  private let otherFD: Int32
  private let cpus: Int

  init(statsFD: Int32, birthsFD: Int32, otherFD: Int32) throws(TraceError) {
    let cpus = libbpf_num_possible_cpus()
    guard cpus > 0 else { throw .libbpf(step: "counting", object: "possible CPUs", errno: -cpus, detail: "") }
    self.cpus = Int(cpus)
    var fds: [Int32] = []
    for fd in [statsFD, birthsFD, otherFD] {
      let copy = fcntl(fd, F_DUPFD_CLOEXEC, 3)
      guard copy >= 0 else {
        let error = errno
        for fd in fds { close(fd) }
        throw .libbpf(step: "duplicating", object: "metrics map", errno: error, detail: "")
      }
      fds.append(copy)
    }
    self.statsFD = fds[0]
    self.birthsFD = fds[1]
    self.otherFD = fds[2]
  }

  deinit {
    close(statsFD)
    close(birthsFD)
    close(otherFD)
  }

  /// Everything counted so far: the per-CPU stats summed, both birth maps.
  public func read() -> KernelCounts {
    var counts = KernelCounts()
    readStats(into: &counts)
    readBirths(otherFD, into: &counts)
    readBirths(birthsFD, into: &counts)
    return counts
  }

  private func readStats(into counts: inout KernelCounts) {
    let stride = MemoryLayout<st_km_stats>.stride
    var values = [st_km_stats](repeating: st_km_stats(), count: cpus)
    var key: UInt32 = 0
    let status = values.withUnsafeMutableBytes { bpf_map_lookup_elem(statsFD, &key, $0.baseAddress) }
    guard status == 0, stride % 8 == 0 else { return }
    for value in values {
      withUnsafeBytes(of: value.records) { raw in
        for (index, n) in raw.bindMemory(to: UInt64.self).enumerated() { counts.records[index] &+= n }
      }
      counts.acceptWouldBlock &+= value.accept_would_block
      counts.birthsUnkeyed &+= value.births_unkeyed
      withUnsafeBytes(of: value.hist) { raw in
        let buckets = raw.bindMemory(to: st_km_bucket.self)
        let perStage = Int(ST_KM_BUCKETS)
        for source in 0..<Int(ST_KM_SOURCES) {
          for stage in 0..<Int(ST_KM_STAGES) {
            let base = (source * Int(ST_KM_STAGES) + stage) * perStage
            for bucket in 0..<KernelCounts.buckets {
              counts.histograms[source][stage].counts[bucket] &+= buckets[base + bucket].count
              counts.histograms[source][stage].sumsNanoseconds[bucket] &+= buckets[base + bucket].sum_ns
            }
          }
        }
      }
    }
  }

  /// A hash map's keys and counts, one key at a time (a few dozen keys on a
  /// busy host, read once per scrape).
  private func readBirths(_ fd: Int32, into counts: inout KernelCounts) {
    var key = st_km_birth_key()
    var next = st_km_birth_key()
    var value: UInt64 = 0
    var status = bpf_map_get_next_key(fd, nil, &next)
    while status == 0 {
      key = next
      if bpf_map_lookup_elem(fd, &key, &value) == 0 {
        let comm = withUnsafeBytes(of: key.comm) { [UInt8]($0) }
        let birth = KernelCounts.BirthKey(family: key.family, type: key.type, errno: key.err, comm: comm)
        counts.births[birth, default: 0] &+= value
      }
      status = bpf_map_get_next_key(fd, &key, &next)
    }
  }
}
