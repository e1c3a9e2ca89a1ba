import ArgumentParser
import Glibc
import SocktraceCore
import Synchronization

/// `socktrace timeline FILE`: per-process socket timelines from a recording
/// made with `--json`, as text or as a Chrome trace for Perfetto.
struct TimelineCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "timeline",
    abstract: "Show per-process socket timelines from a JSON Lines recording.",
    discussion: """
      For each process: when it started and ended, the sockets it created in order \
      with stage timings, failures and how long each socket lived; children are \
      indented under their parents. No privileges needed.

      EXAMPLES:
        socktrace timeline events.jsonl
        socktrace timeline events.jsonl --pid 1234 --tree
        socktrace timeline events.jsonl --format chrome -o run.trace.json   # open in ui.perfetto.dev
        sudo socktrace --json | socktrace timeline -
      """
  )

  enum Format: String, ExpressibleByArgument, CaseIterable {
    case text, chrome
  }

  @Argument(help: ArgumentHelp("A recording made with --json, or - for standard input.", valueName: "file"))
  var file: String

  @Option(help: "text: one block per process; chrome: Chrome Trace Event JSON for Perfetto or chrome://tracing.")
  var format: Format = .text

  @Option(help: ArgumentHelp("Show only the process(es) with this pid.", valueName: "pid"))
  var pid: UInt32?

  @Flag(help: "With --pid, also show the processes it started, and theirs.")
  var tree = false

  @Flag(help: "Also show processes that made no socket (hidden by default, unless they lead to one that did).")
  var all = false

  @Option(
    name: [.short, .long], help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file"))
  var output: String?

  func validate() throws {
    if pid == 0 { throw ValidationError("--pid must be a positive pid") }
    if tree && pid == nil { throw ValidationError("--tree needs --pid") }
  }

  func run() throws {
    let recording: Recording
    do {
      // In a pipeline (`socktrace --json | socktrace timeline -`) Ctrl-C reaches
      // both: the reader waits for the tracer's last records and end instead
      // of dying; a second Ctrl-C renders what was read so far.
      if file == "-" && isatty(STDIN_FILENO) == 0 { TimelineInterrupts.install() }
      recording = try RecordingReader.read(path: file) { TimelineInterrupts.count.load(ordering: .relaxed) >= 2 }
    } catch {
      printError("socktrace: \(error)")
      throw ExitCode(1)
    }
    for warning in recording.warnings { printError("socktrace: warning: \(warning)") }

    var timeline = TimelineBuilder.build(recording)
    if let pid {
      timeline = timeline.selecting(pid: pid, descendants: tree)
      if timeline.processes.isEmpty {
        printError("socktrace: no process with pid \(pid) in \(file == "-" ? "stdin" : file)")
        throw ExitCode(1)
      }
    }
    if !all {
      let (kept, hidden) = timeline.withoutSocketlessProcesses()
      timeline = kept
      if hidden > 0 {
        printError(
          "socktrace: \(hidden) process\(hidden == 1 ? "" : "es") that made no socket hidden (--all shows them)")
      }
    }
    let bytes: [UInt8]
    switch format {
    case .text: bytes = Array(TimelineText.render(timeline).utf8)
    case .chrome: bytes = ChromeTraceWriter.render(timeline)
    }
    do {
      // Opened only now: a recording that cannot be read leaves an existing output alone.
      let out = try OutputFile(path: output ?? "-")
      try out.write(bytes)
    } catch {
      printError("socktrace: \(error)")
      throw ExitCode(1)
    }
  }
}

/// SIGINTs seen while `timeline -` reads a pipe.
enum TimelineInterrupts {
  static let count = Atomic<Int>(0)

  static func install() {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in TimelineInterrupts.count.add(1, ordering: .relaxed) }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0  // no SA_RESTART: the second one ends a blocked read
    sigaction(SIGINT, &action, nil)
  }
}
