/// The tracer's own records: `start`, `lost` and `end` (docs/schema.md), as
/// values; `JSONLinesEncoder` writes them.

/// What the `start` record says: how this recording is being made.
public struct StartRecord: Sendable {
  /// CLOCK_REALTIME and CLOCK_BOOTTIME when it was written.
  public var epochNanoseconds: UInt64
  public var bootNanoseconds: UInt64
  public var version: String
  /// The git commit the tracer was built from (BuildInfo.commit).
  public var commit: String
  public var kernel: String
  public var host: String
  public var rung: Rung
  public var hooks: [AttachPlan.Hook]
  /// Paths to a new socket the plan cannot see on this kernel (AttachPlan.blindSpots).
  public var blindSpots: [BlindSpot]
  public var pids: [Int32]
  public var follow: Bool
  /// The argv run with `-- CMD`, or nil.
  public var command: [String]?
  /// Every filter in force (empty lists when off).
  public var filters = ActiveFilters()
  /// The tracer's PID namespace: every pid of the recording is as it numbers them.
  public var pidNamespace = PidNamespace(inode: PidNamespace.initialInode, level: 0)

  public init(
    epochNanoseconds: UInt64, bootNanoseconds: UInt64, version: String, kernel: String, host: String, rung: Rung,
    hooks: [AttachPlan.Hook], blindSpots: [BlindSpot] = [], pids: [Int32], follow: Bool, command: [String]?,
    commit: String = BuildInfo.commit
  ) {
    self.blindSpots = blindSpots
    self.epochNanoseconds = epochNanoseconds
    self.bootNanoseconds = bootNanoseconds
    self.version = version
    self.commit = commit
    self.kernel = kernel
    self.host = host
    self.rung = rung
    self.hooks = hooks
    self.pids = pids
    self.follow = follow
    self.command = command
  }
}

/// What a `lost` record says: losses seen since the last `lost` record.
public struct LostRecord: Sendable {
  public var epochNanoseconds: UInt64
  public var bootNanoseconds: UInt64
  /// Since the last `lost` record, by cause and kind.
  public var losses: LossCounts
  /// Every loss so far.
  public var total: UInt64

  public init(epochNanoseconds: UInt64, bootNanoseconds: UInt64, losses: LossCounts, total: UInt64) {
    self.epochNanoseconds = epochNanoseconds
    self.bootNanoseconds = bootNanoseconds
    self.losses = losses
    self.total = total
  }
}

/// What the `end` record says: what the run wrote and what it could not.
public struct EndRecord: Sendable {
  public var epochNanoseconds: UInt64
  public var bootNanoseconds: UInt64
  /// Records written, socket births among them, failed calls among those.
  public var events: UInt64
  public var sockets: UInt64
  public var failed: UInt64
  /// Records not made or not written, every cause.
  public var lost: UInt64
  public var decodeErrors: UInt64
  public var durationNanoseconds: UInt64
  /// --otlp: what the exporter sent and what it could not, by cause.
  public var otlp: OTLPCounts?
  /// -o FILE with rotation, or `serve`: files rotated away, reopens (SIGHUP).
  public var file: (rotations: UInt64, reopens: UInt64)?

  /// `lost` by cause (docs/schema.md, "Losses").
  public var losses = LossCounts()

  public init(
    epochNanoseconds: UInt64, bootNanoseconds: UInt64, events: UInt64, sockets: UInt64, failed: UInt64,
    lost: UInt64, decodeErrors: UInt64, durationNanoseconds: UInt64
  ) {
    self.epochNanoseconds = epochNanoseconds
    self.bootNanoseconds = bootNanoseconds
    self.events = events
    self.sockets = sockets
    self.failed = failed
    self.lost = lost
    self.decodeErrors = decodeErrors
    self.durationNanoseconds = durationNanoseconds
  }
}

/// What happened to the records given to the OTLP exporter (--otlp): the
/// exporter counts them, the `end` record and the summary report them.
/// `sent` + every cause of `unsent` == the records given.
public struct OTLPCounts: Sendable, Equatable {
  public var sent: UInt64 = 0
  /// Dropped at once: the queue between the reader and the exporter was full.
  public var queueFull: UInt64 = 0
  /// Every retry failed (no collector, timeouts, 429/502/503/504).
  public var failed: UInt64 = 0
  /// The collector refused them (another status, or OTLP partial success).
  public var rejected: UInt64 = 0
  /// Still queued when the stop's deadline for sending passed.
  public var shutdown: UInt64 = 0
  /// HTTP requests made, and retries among them.
  public var requests: UInt64 = 0
  public var retries: UInt64 = 0
  /// Waiting to be sent now.
  public var queued: UInt64 = 0

  public init() {}

  public var unsent: UInt64 { queueFull + failed + rejected + shutdown }

  /// The causes, for the summary and the end record.
  public var unsentByCause: [(cause: String, count: UInt64)] {
    [("queue_full", queueFull), ("failed", failed), ("rejected", rejected), ("shutdown", shutdown)]
  }
}
