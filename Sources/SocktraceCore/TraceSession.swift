import CLibBPF
import CSocktrace
import Glibc

/// What to trace and how.
public struct TraceOptions: Sendable {
  public var pids: [Int32] = []
  public var follow = false
  public var rung: RungChoice = .auto
  /// Ring buffer size in bytes: a power of two, a multiple of the page size.
  public var ringBufferBytes: UInt32 = 8 << 20
  /// Wake the reader for every record, not only for one that lands in an
  /// empty ring (a diagnostic: a storm then costs an irq_work per record).
  public var wakeEveryRecord = false
  /// Emit fork/exec/exit and socket release records.
  public var lifecycle = true
  /// Show libbpf's own log.
  public var verbose = false
  /// --port: sockets that bind or connect to, or accept from, these ports.
  public var ports: [UInt16] = []
  /// --address: sockets whose address (bound, connected to, or peer) matches.
  public var addresses: [AddressFilter] = []
  /// --comm, --uid, --netns, --cgroup, --container, --family, --type, --failed.
  public var selection = SelectionFilters()
  /// Hook raw_syscalls for the 32-bit x86 syscalls (int $0x80) the syscall
  /// tracepoints skip: a program run on every syscall of every process, so
  /// off unless asked for (docs/hooks.md: what the ia32 hook costs); off, those paths
  /// are blind spots, listed in the start record.
  public var ia32 = false
  /// How many live sockets born under tracing the kernel follows to their
  /// release (`births`, not preallocated: memory only for those alive).
  /// Past it a release is counted lost (births_full).
  public var maxSockets: UInt32 = 1 << 20
  /// A `socket` record ("via":"snapshot") for every socket already open in
  /// the traced processes (all of them without -p), taken before attaching.
  /// Off for a command run under the tracer: all it holds is inherited.
  public var snapshot = true
  /// Count in the kernel and send no record (--metrics and nothing else:
  /// bpf/lib/kmetrics.bpf.h); the counts are read through `kernelCounters`.
  /// Ignored with --port/--address, whose held births need records.
  public var metricsOnly = false

  /// Whether the kernel counts instead of sending records: asked for, and no
  /// address filter (that one holds births back as records until a match).
  public var countsInKernel: Bool { metricsOnly && ports.isEmpty && addresses.isEmpty }

  public init() {}
}

/// The pipeline's kernel half, in order: check privileges and BTF, probe the
/// kernel, plan the rung, open and configure the object, load, fill the pid
/// filter, open the ring buffer, attach. Everything is freed in reverse when
/// the session goes away.
public final class TraceSession {
  public let plan: AttachPlan
  public let facts: ProbeFacts
  private let object: BPFObject
  private let links = Links()
  private let reader: RingBufferReader
  private let drops: DropCounter
  private let tracedFD: Int32
  /// How full the ring buffer is, readable from any thread (--metrics); nil
  /// if the kernel refused the read-only mapping.
  public let ringBufferFill: RingBufferFill?
  /// The filters in force, cgroups and containers resolved (the `start` record).
  public let filters: ActiveFilters
  /// The tracer's PID namespace: every pid in the filters and records is its.
  public let pidNamespace: PidNamespace
  /// The sockets open when tracing began (TraceOptions.snapshot), for the
  /// caller to write after the start record.
  public private(set) var snapshot = SocketSnapshot()
  /// A metrics-only run's counts (`TraceOptions.metricsOnly`), else nil.
  public let kernelCounters: KernelCounters?

  public init(
    options: TraceOptions, handler: @escaping RingBufferReader.Handler
  ) throws(TraceError) {
    st_libbpf_set_logging(options.verbose ? 1 : 0)
    let missing = Privileges.missing(lockedBytes: UInt64(options.ringBufferBytes) + (16 << 20))
    guard missing.isEmpty else { throw .missingPrivileges(missing: missing) }
    let btf = KernelProbes.btfStatus()
    guard btf == 0 else { throw .noBTF(errno: btf) }
    var pidNamespace = try PidNamespace.current()
    for pid in options.pids where !Privileges.processExists(pid) {
      throw .noSuchProcess(pid)
    }
    let cgroups = try options.selection.resolveCgroups(CgroupResolver())
    filters = options.selection.active(cgroups: cgroups, ports: options.ports, addresses: options.addresses)
    try KernelProbes.ensureTracefs()
    facts = KernelProbes.facts(for: options.rung)
    plan = try AttachPlan.decide(
      options.rung, facts: facts, lifecycle: options.lifecycle, ia32: options.ia32)

    object = try BPFObject()
    // Outside the init PID namespace, pidns_probe finds its level (run once, never attached).
    try object.loadOnly(pidNamespace.isInitial ? plan.programs : plan.programs.union([Self.pidNamespaceProbe]))
    var config = st_config()
    config.self_tgid = UInt32(getpid())
    config.pidns_inum = pidNamespace.isInitial ? 0 : pidNamespace.inode
    config.filter_pids = options.pids.isEmpty ? 0 : 1
    config.follow = options.follow ? 1 : 0
    config.lifecycle = options.lifecycle ? 1 : 0
    config.release_by_refs = plan.releasesByReference ? 1 : 0
    config.wake_every_record = options.wakeEveryRecord ? 1 : 0
    config.filter_ports = options.ports.isEmpty ? 0 : 1
    config.filter_nets = options.addresses.contains { $0.netKey != nil } ? 1 : 0
    config.filter_paths = options.addresses.contains { $0.pathKey != nil } ? 1 : 0
    let selection = options.selection
    config.filter_comm = selection.comms.isEmpty ? 0 : 1
    config.filter_uid = selection.uids.isEmpty ? 0 : 1
    config.filter_netns = selection.netns.isEmpty ? 0 : 1
    config.filter_cgroups = UInt32(cgroups.count)
    config.only_failed = selection.failedOnly ? 1 : 0
    config.families = selection.families.reduce(0) { $0 | (1 << UInt64($1 & 63)) }
    config.types = selection.types.reduce(0) { $0 | (1 << UInt32($1 & 15)) }
    config.io_uring_form = plan.ioUring?.submit.rawValue ?? 0
    config.io_uring_complete = plan.ioUring?.complete.rawValue ?? 0
    config.metrics_only = options.countsInKernel ? 1 : 0
    try object.setConfig(config)
    try object.setRingBufferSize(options.ringBufferBytes)
    try object.setMaxEntries("births", options.maxSockets)
    try object.shrinkUnused(Self.unusedMaps(options: options, plan: plan))
    try object.load()
    if !pidNamespace.isInitial {
      let found = try object.runOnce(program: Self.pidNamespaceProbe)
      guard found > 0 else {
        throw .pidNamespace(
          "cannot find this PID namespace (inode \(pidNamespace.inode)) among socktrace's own pids in the kernel")
      }
      pidNamespace.level = found - 1
    }
    self.pidNamespace = pidNamespace

    tracedFD = try object.mapFD(named: "traced")
    drops = DropCounter(mapFD: try object.mapFD(named: "drops"))
    let eventsFD = try object.mapFD(named: "events")
    reader = try RingBufferReader(mapFD: eventsFD, handler: handler)
    ringBufferFill = RingBufferFill(mapFD: eventsFD, sizeBytes: options.ringBufferBytes)
    kernelCounters =
      options.countsInKernel
      ? try KernelCounters(
        statsFD: try object.mapFD(named: "km_stats"), birthsFD: try object.mapFD(named: "km_births"),
        otherFD: try object.mapFD(named: "km_births_other"))
      : nil
    // The filters must be full before attaching: tracepoints are system-wide.
    for pid in options.pids { try trace(pid: pid) }
    try Self.fill(object, ports: options.ports, addresses: options.addresses)
    try Self.fill(object, selection: options.selection, cgroups: cgroups)
    if options.snapshot, let selection = Self.snapshotSelection(options, cgroups: cgroups) {
      snapshot = SocketSnapshot.take(selection, bootNanoseconds: BootClock.now(CLOCK_BOOTTIME))
      if options.lifecycle {
        try Self.remember(snapshot, in: object, owners: pidNamespace.isInitial, matched: !options.ports.isEmpty)
      }
    }
    try links.attach(plan, in: object)
  }

  /// Which sockets the snapshot takes: the kernel's filters, as far as /proc
  /// can apply them. None under --failed (a socket open at start is no
  /// failure), --cgroup/--container or --address (not checked here).
  static func snapshotSelection(_ options: TraceOptions, cgroups: [ResolvedCgroup]) -> SocketSnapshot.Selection? {
    let filters = options.selection
    guard !filters.failedOnly, cgroups.isEmpty, options.addresses.isEmpty else { return nil }
    var selection = SocketSnapshot.Selection(pids: options.pids.isEmpty ? nil : options.pids, selfPID: getpid())
    selection.comms = Set(filters.comms.map(SelectionFilters.commKey))
    selection.uids = Set(filters.uids)
    selection.netns = Set(filters.netns)
    selection.families = Set(filters.families)
    selection.types = Set(filters.types)
    selection.ports = Set(options.ports)
    return selection
  }

  /// Snapshot sockets become births in the kernel (inode -> family), so their
  /// calls join a birth and their release is recorded; with --port they
  /// matched, and their holders hold a matching socket (`owners`: whether
  /// the tracer's pids are the init namespace's, which that map is keyed by).
  static func remember(
    _ snapshot: SocketSnapshot, in object: BPFObject, owners: Bool, matched: Bool
  ) throws(TraceError) {
    let births = try object.mapFD(named: "births")
    let matchedFD = matched ? try object.mapFD(named: "matched") : -1
    let processesFD = matched ? try object.mapFD(named: "matched_procs") : -1
    var one: UInt8 = 1
    for record in snapshot.records {
      var inode = record.inode
      var family = record.family
      // BPF_NOEXIST: a socketpair's two ends held by one process are two records, one birth.
      _ = bpf_map_update_elem(births, &inode, &family, UInt64(BPF_NOEXIST))
      guard matched else { continue }
      _ = bpf_map_update_elem(matchedFD, &inode, &one, UInt64(BPF_ANY))
      // Its holder's fork, exec and exit are recorded (init-namespace tgids: only when they are the tracer's).
      var tgid = record.h.pid
      if owners { _ = bpf_map_update_elem(processesFD, &tgid, &one, UInt64(BPF_ANY)) }
    }
  }

  /// The program that finds the tracer's PID namespace level (bpf "pid namespaces").
  static let pidNamespaceProbe = "pidns_probe"

  /// The hash maps this run's settings never use: without --port/--address
  /// the held births and matched sockets (11 MB preallocated otherwise);
  /// without lifecycle records the births, call and connect slots; the
  /// notes of the release walks and second looks off the tracepoint rung;
  /// kernel-socket slots on the tracepoint rung; io_uring ops without io_uring;
  /// the metrics-only birth counts unless the kernel counts.
  static func unusedMaps(options: TraceOptions, plan: AttachPlan) -> [String] {
    var unused: [String] = []
    if options.ports.isEmpty && options.addresses.isEmpty { unused += ["held", "matched", "matched_procs"] }
    if !options.lifecycle { unused += ["births", "opflight", "pending_connects"] }
    if !plan.releasesByReference { unused += ["exec_closing", "exit_shared", "shared_closes"] }
    if plan.rung == .tracepoint { unused.append("kcreate") }
    if plan.ioUring == nil { unused.append("uring_ops") }
    if !options.countsInKernel { unused += ["km_births", "km_births_other"] }
    return unused
  }

  /// The --port and --address maps, each entry a key with the value 1.
  static func fill(_ object: BPFObject, ports: [UInt16], addresses: [AddressFilter]) throws(TraceError) {
    func insert<Key>(_ key: Key, into map: String) throws(TraceError) {
      let fd = try object.mapFD(named: map)
      var key = key
      var one: UInt8 = 1
      let status = bpf_map_update_elem(fd, &key, &one, UInt64(BPF_ANY))
      if status < 0 {
        throw .libbpf(step: "updating", object: "\(map) filter", errno: -status, detail: "")
      }
    }
    for port in ports { try insert(port, into: "filter_ports") }
    for address in addresses {
      if let key = address.netKey { try insert(key, into: "filter_nets") }
      if let key = address.pathKey { try insert(key, into: "filter_paths") }
    }
  }

  /// The --comm, --uid, --netns maps (key -> 1) and the --cgroup/--container
  /// cgroup array (index -> an fd of the directory; the map keeps the cgroup).
  static func fill(_ object: BPFObject, selection: SelectionFilters, cgroups: [ResolvedCgroup]) throws(TraceError) {
    func insert(_ key: UnsafeRawPointer, _ value: UnsafeRawPointer, into map: String) throws(TraceError) {
      let status = bpf_map_update_elem(try object.mapFD(named: map), key, value, UInt64(BPF_ANY))
      if status < 0 { throw .libbpf(step: "updating", object: "\(map) filter", errno: -status, detail: "") }
    }
    var one: UInt8 = 1
    for var comm in Set(selection.comms.map(SelectionFilters.commKey)) { try insert(&comm, &one, into: "filter_comms") }
    for var uid in Set(selection.uids) { try insert(&uid, &one, into: "filter_uids") }
    for var inode in Set(selection.netns) { try insert(&inode, &one, into: "filter_netns") }
    for (index, cgroup) in cgroups.enumerated() {
      let fd = open(cgroup.directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
      guard fd >= 0 else { throw .badFilter("cannot open cgroup \(cgroup.directory): \(errnoText(errno))") }
      defer { close(fd) }
      var key = UInt32(index)
      var value = UInt32(bitPattern: fd)
      try insert(&key, &value, into: "filter_cgroups")
    }
  }

  /// Whether any thread group in the pid filter still runs (with -f, the
  /// descendants the kernel added): `-p` stops, as strace does, once none does.
  /// A zombie counts as gone; so does a pid the exit tracepoint already dropped.
  public func tracedProcessesAlive() -> Bool {
    var key: UInt32 = 0
    var next: UInt32 = 0
    var first = true
    while (first ? bpf_map_get_next_key(tracedFD, nil, &next) : bpf_map_get_next_key(tracedFD, &key, &next)) == 0 {
      first = false
      key = next
      if Self.isRunning(Int32(bitPattern: next)) { return true }
    }
    return false
  }

  /// Exists and is not a zombie (state Z or X in /proc/PID/stat).
  static func isRunning(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 || errno == EPERM else { return false }
    guard let stat = readSmallFileBytes("/proc/\(pid)/stat"), let close = stat.lastIndex(of: UInt8(ascii: ")")),
      close + 2 < stat.count
    else { return false }
    let state = stat[close + 2]
    return state != UInt8(ascii: "Z") && state != UInt8(ascii: "X")
  }

  /// Adds a thread group to the in-kernel pid filter.
  public func trace(pid: Int32) throws(TraceError) {
    var key = UInt32(bitPattern: pid)
    var one: UInt8 = 1
    let status = bpf_map_update_elem(tracedFD, &key, &one, UInt64(BPF_ANY))
    if status < 0 {
      throw .libbpf(step: "updating", object: "pid filter", errno: -status, detail: "")
    }
  }

  /// Waits up to `interval` ms, then reads what is queued.
  @discardableResult
  public func poll(interval: Int32) throws(TraceError) -> Int {
    try reader.poll(interval: interval)
  }

  /// Reads what is queued without waiting.
  @discardableResult
  public func drain() throws(TraceError) -> Int { try reader.drain() }

  /// Records the kernel could not make, by cause and kind.
  public var kernelLosses: LossCounts { drops.read() }

  /// Every loss the kernel counted so far, summed: cheap enough for every wakeup.
  public var kernelLossSum: UInt64 { drops.sum() }

  /// How many thread groups the in-kernel filter still holds: with a pid
  /// filter, the traced processes still alive (exits remove theirs).
  public func tracedProcessCount() -> Int {
    var count = 0
    var key: UInt32 = 0
    var next: UInt32 = 0
    var status = bpf_map_get_next_key(tracedFD, nil, &next)
    while status == 0 {
      count += 1
      key = next
      status = bpf_map_get_next_key(tracedFD, &key, &next)
    }
    return count
  }

  /// Detaches every program; records already queued can still be drained.
  public func detach() { links.detach() }
}
