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

      The recording is read as a stream: records are put back in time order \
      through a window of 65,536 records or 2 s (records later than that are \
      placed where they come, counted and reported), and the text view keeps \
      each process's first --max-events events, counting the rest on a \
      "… N more events not shown" line. So memory stays bounded whatever the \
      recording's length; --format chrome writes every event as it goes. \
      `socktrace --timeline` prints the same text at stop. See docs/timeline.md.

      EXAMPLES:
        socktrace timeline events.jsonl
        socktrace timeline events.jsonl --pid 1234 --tree
        socktrace timeline events.jsonl --format chrome -o run.trace.json   # open in ui.perfetto.dev
        sudo socktrace --json | socktrace timeline -
      """
  )

  typealias Format = TimelineRendering.Format

  @Argument(help: ArgumentHelp("A recording made with --json, or - for standard input.", valueName: "file"))
  var file: String

  @Option(help: "text: one block per process; chrome: Chrome Trace Event JSON for Perfetto or chrome://tracing.")
  var format: Format = .text

  @Option(help: ArgumentHelp("Show only the process(es) with this pid.", valueName: "pid"))
  var pid: UInt32?

  @Flag(help: "With --pid, also show the processes it started, and theirs.")
  var tree = false

  @Flag(
    help: "Also show processes that touched no socket (hidden by default, unless they lead to one that did).")
  var all = false

  @Option(
    help: ArgumentHelp(
      "Text view: show at most this many events per process; the rest are counted on one line.",
      valueName: "n"))
  var maxEvents: Int = TimelineBuilder.defaultMaxEvents

  @Option(
    name: [.short, .long], help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file"))
  var output: String?

  func validate() throws {
    if pid == 0 { throw ValidationError("--pid must be a positive pid") }
    if tree && pid == nil { throw ValidationError("--tree needs --pid") }
    if maxEvents < 1 { throw ValidationError("--max-events must be at least 1") }
  }

  func run() throws {
    let source = file == "-" ? "stdin" : file
    let fd: Int32
    if file == "-" {
      fd = STDIN_FILENO
    } else {
      fd = open(file, O_RDONLY | O_CLOEXEC)
      guard fd >= 0 else {
        printError("socktrace: \(RecordingError.unreadable(source: source, errno: errno))")
        throw ExitCode(1)
      }
    }
    defer { if file != "-" { close(fd) } }
    // In a pipeline (`socktrace --json | socktrace timeline -`) Ctrl-C reaches
    // both: the reader waits for the tracer's last records and end instead
    // of dying; a second Ctrl-C renders what was read so far.
    if file == "-" && isatty(STDIN_FILENO) == 0 { TimelineInterrupts.install() }

    // Written to a temp file beside -o FILE and renamed at the end: a
    // recording that cannot be read leaves an existing output alone.
    let sink: TimelineOutput
    do { sink = try TimelineOutput(path: output) } catch {
      printError("socktrace: \(error)")
      throw ExitCode(1)
    }
    let options = TimelineRendering.Options(
      format: format, pid: pid, tree: tree, all: all, maxEvents: maxEvents)
    let outcome: TimelineRendering.Outcome
    do {
      outcome = try TimelineRendering.render(
        fd: fd, source: source, options: options,
        stopReading: { TimelineInterrupts.count.load(ordering: .relaxed) >= 2 },
        notes: { for line in $0 { printError(line) } },
        write: { sink.write($0) })
    } catch {
      sink.discard()
      printError("socktrace: \(error)")
      throw ExitCode(1)
    }
    if outcome.missingPID {
      sink.discard()
      throw ExitCode(1)
    }
    do { try sink.commit() } catch {
      printError("socktrace: \(error)")
      throw ExitCode(1)
    }
  }
}

/// Where `socktrace timeline` writes: standard output as it goes, or a temp
/// file beside `-o FILE` renamed over it once the whole view is written
/// (a device, FIFO or symlink given as FILE is written in place).
final class TimelineOutput {
  private let path: String?
  private var temporary: String?
  private let file: OutputFile
  private var failure: TraceError?

  init(path: String?) throws(TraceError) {
    guard let path, path != "-" else {
      self.path = nil
      file = try OutputFile(path: "-")
      return
    }
    var info = stat()
    if lstat(path, &info) == 0 && info.st_mode & S_IFMT != S_IFREG {
      // A device, a FIFO, a symlink (/dev/stdout): written in place, never replaced.
      self.path = nil
      file = try OutputFile(path: path)
      try file.begin()
      return
    }
    self.path = path
    var template = Array("\(path).XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { name in name.baseAddress.map { mkstemp($0) } ?? -1 }
    guard fd >= 0 else { throw .unwritableOutput(path: path, errno: errno) }
    close(fd)
    let name = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    temporary = name
    do { file = try OutputFile(path: name) } catch {
      unlink(name)
      throw error
    }
  }

  func write(_ bytes: UnsafeRawBufferPointer) {
    guard failure == nil, !bytes.isEmpty else { return }
    do { try file.write(bytes) } catch { failure = error }
  }

  func discard() {
    if let temporary { unlink(temporary) }
    temporary = nil
  }

  func commit() throws(TraceError) {
    if let failure {
      discard()
      throw failure
    }
    guard let path, let temporary else { return }
    guard rename(temporary, path) == 0 else {
      let error = errno
      discard()
      throw .unwritableOutput(path: path, errno: error)
    }
    self.temporary = nil
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

extension TimelineRendering.Format: ExpressibleByArgument {}
