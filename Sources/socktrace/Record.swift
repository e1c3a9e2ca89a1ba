import ArgumentParser
import SocktraceCore
import SocktraceExport

/// `socktrace [record]`: attach, stream records, stop on Ctrl-C, SIGTERM,
/// --duration, or when the command run under it exits.
struct Record: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "record",
    abstract: "Trace socket creation (the default command).",
    discussion: """
      EXAMPLES:
        sudo socktrace                          # every socket birth, as a table
        sudo socktrace --json -o events.jsonl   # JSON Lines to a file
        sudo socktrace -p 1234 -f               # pid 1234 and children it forks later
        sudo socktrace -p 1234,5678 -d 10       # two processes, for ten seconds
        sudo socktrace --attach tracepoint      # force the syscall-tracepoint rung
        sudo socktrace --json -o run.jsonl -- curl -s example.com
                                                # run a command (as the sudo user), trace
                                                # it and its children, exit with its status
        sudo socktrace --timeline -- ./server   # per-process timelines when it ends
        sudo socktrace --metrics 127.0.0.1:9464 # Prometheus metrics only, no other output
        sudo socktrace --json -o run.jsonl --rotate-size 10M --rotate-keep 5
                                                # rotated files; SIGHUP reopens run.jsonl
        sudo socktrace --otlp http://127.0.0.1:4318 -p 1234
                                                # OTLP log records to a collector
      """
  )

  @OptionGroup var filter: FilterOptions

  @OptionGroup(title: "Export") var export: ExportOptions

  @Flag(help: "Write JSON Lines (one record per line) instead of a table.")
  var json = false

  @Option(name: [.short, .long], help: ArgumentHelp("Write records to this file.", valueName: "file"))
  var output: String?

  @Option(name: [.short, .long], help: ArgumentHelp("Stop after this many seconds.", valueName: "seconds"))
  var duration: Double?

  @OptionGroup(title: "Tracing") var tracing: TracingOptions

  @Flag(help: "Table: every column (UID, PPID, FLAGS too) and full names, whatever the terminal's width.")
  var wide = false

  @Option(
    help: ArgumentHelp(
      "Table TIME column: wall (local clock), relative (seconds since start), boot (ts_ns, as in JSON).",
      valueName: "clock"))
  var time: TableTime = .wall

  @Flag(
    help: """
      When tracing stops, print per-process socket timelines to standard error: \
      what `socktrace timeline` prints for this run's recording (docs/timeline.md).
      """)
  var timeline = false

  @Option(
    name: [.short, .long],
    help: ArgumentHelp("Run the command as this user (default: the user who ran sudo).", valueName: "user"))
  var user: String?

  @Argument(
    parsing: .postTerminator,
    help: ArgumentHelp("A command to run and trace with its children, after --.", valueName: "command"))
  var command: [String] = []

  func validate() throws {
    try TraceOptionsBuilder.validate(filter, tracing, command: !command.isEmpty)
    // Finite and within a UInt64 of nanoseconds with room: inf, 1e300, 2e10 and NaN are refused here.
    if let duration, !(duration > 0 && duration <= Self.maxDuration) {
      throw ValidationError("--duration must be a positive number of seconds, at most \(Int(Self.maxDuration))")
    }
    if user != nil && command.isEmpty {
      throw ValidationError("--user applies to a command to run, after --")
    }
    try export.validate(output: output)
  }

  /// About 31 years.
  static let maxDuration = 1e9

  func run() throws {
    let options = TraceOptionsBuilder.options(filter, tracing, defaultRingMiB: 8)
    // --metrics or --otlp alone: no other output.
    let format: Tracer.Format = json ? .jsonLines : (output == nil && export.any ? .none : .table)
    var fileMode = Tracer.FileMode()
    if let rotation = export.rotation(defaultOn: false) {
      fileMode = Tracer.FileMode(rotation: rotation, reopenOnHangup: true, append: true, permissions: 0o600)
    }
    do {
      let clock = BootClock.measure()
      let exporters = try Exporters(options: export, clock: clock)
      let tracer = Tracer(
        options: options, format: format, outputPath: output ?? "-", duration: duration, timeline: timeline,
        exporters: exporters, fileMode: fileMode, clock: clock)
      tracer.tableWide = wide
      tracer.tableTime = time
      var runner: CommandRunner?
      if !command.isEmpty {
        runner = try CommandRunner(command: command, user: try CommandRunner.user(named: user))
      }
      let code = try tracer.run(command: runner)
      if code != 0 { throw ExitCode(code) }
    } catch {
      throw runFailure(error)
    }
  }
}
