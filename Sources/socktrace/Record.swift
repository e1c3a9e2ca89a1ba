import ArgumentParser
import SocktraceCore

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
      """
  )

  @OptionGroup var filter: FilterOptions

  @Flag(help: "Write JSON Lines (one record per line) instead of a table.")
  var json = false

  @Option(name: [.short, .long], help: ArgumentHelp("Write records to this file.", valueName: "file"))
  var output: String?

  @Option(name: [.short, .long], help: ArgumentHelp("Stop after this many seconds.", valueName: "seconds"))
  var duration: Double?

  @Option(help: "How to hook the kernel: auto picks the first that works of fentry, kprobe, tracepoint.")
  var attach: RungChoice = .auto

  @Option(help: ArgumentHelp("Ring buffer size in MiB (a power of two).", valueName: "MiB"))
  var ringBuffer: UInt32 = 16

  @Flag(help: "Record socket births only: no fork, exec, exit or release records.")
  var socketsOnly = false

  @Flag(name: [.short, .long], help: "Show libbpf's own log.")
  var verbose = false

  func validate() throws {
    if let duration, !(duration > 0) {
      throw ValidationError("--duration must be a positive number of seconds")
    }
    if ringBuffer == 0 || ringBuffer & (ringBuffer - 1) != 0 || ringBuffer > 1024 {
      throw ValidationError("--ring-buffer must be a power of two from 1 to 1024 MiB")
    }
  }

  func run() throws {
    var options = TraceOptions()
    options.pids = filter.pids
    options.follow = filter.follow
    options.rung = attach
    options.ringBufferBytes = ringBuffer << 20
    options.lifecycle = !socketsOnly
    options.verbose = verbose
    let tracer = Tracer(
      options: options, format: json ? .jsonLines : .table, outputPath: output ?? "-",
      duration: duration)
    do {
      let code = try tracer.run()
      if code != 0 { throw ExitCode(code) }
    } catch let error as TraceError {
      printError("socktrace: \(error)")
      throw ExitCode(1)
    }
  }
}
