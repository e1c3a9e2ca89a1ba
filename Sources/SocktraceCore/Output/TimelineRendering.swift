import Glibc

/// The one path from a recording to its timelines, for `socktrace timeline
/// FILE` and for the live `--timeline` at stop (which reads its own copy of
/// the records the same way): read and parse a chunk at a time, put the
/// records back in time order through a bounded `ReorderWindow`, feed them
/// one by one to a `TimelineBuilder`, and render.
///
/// - text: the builder keeps each process's first `maxEvents` events (the
///   rest are counted on a `… N more events` line), so memory is bounded by
///   the processes and the sockets alive at once, not by the recording.
/// - chrome: every event is written as the builder completes it, so the
///   Chrome trace of a recording of any length streams through.
public enum TimelineRendering {
  public enum Format: String, CaseIterable, Sendable {
    case text, chrome
  }

  public struct Options: Sendable {
    public var format: Format
    /// Only the process(es) with this pid; with `tree`, their descendants too.
    public var pid: UInt32?
    public var tree: Bool
    /// Also processes that touched no socket (and lead to none that did).
    public var all: Bool
    /// Events kept per process for the text view.
    public var maxEvents: Int
    public var window: ReorderLimits

    public init(
      format: Format = .text, pid: UInt32? = nil, tree: Bool = false, all: Bool = false,
      maxEvents: Int = TimelineBuilder.defaultMaxEvents, window: ReorderLimits = .standard
    ) {
      self.format = format
      self.pid = pid
      self.tree = tree
      self.all = all
      self.maxEvents = maxEvents
      self.window = window
    }
  }

  /// What the run had to say besides the timelines: one line each, for stderr.
  public struct Outcome: Sendable {
    /// Warnings and notes (`socktrace: warning: …`, hidden processes).
    public var messages: [String] = []
    /// `pid` matched no process: nothing was shown.
    public var missingPID = false
  }

  /// Reads `fd` from its current offset to its end. `write` gets the view's
  /// bytes: for text at the end, after `notes` got the messages; for chrome
  /// as it goes.
  public static func render(
    fd: Int32, source: String, options: Options, stopReading: () -> Bool = { false },
    notes: ([String]) -> Void, write: @escaping (UnsafeRawBufferPointer) -> Void
  ) throws(RecordingError) -> Outcome {
    try render(source: source, options: options, notes: notes, write: write) { emit throws(RecordingError) in
      try RecordingReader.stream(fd: fd, source: source, window: options.window, stopReading: stopReading, emit: emit)
    }
  }

  /// The same for a recording held in memory.
  public static func render(
    bytes: [UInt8], source: String, options: Options, notes: ([String]) -> Void,
    write: @escaping (UnsafeRawBufferPointer) -> Void
  ) throws(RecordingError) -> Outcome {
    try render(source: source, options: options, notes: notes, write: write) { emit throws(RecordingError) in
      var parser = RecordingParser(source: source, window: options.window)
      try parser.feed(bytes, emit: emit)
      return try parser.finish(emit: emit)
    }
  }

  private static func render(
    source: String, options: Options, notes: ([String]) -> Void, write: @escaping (UnsafeRawBufferPointer) -> Void,
    read: ((RecordedEvent) -> Void) throws(RecordingError) -> [RecordingWarning]
  ) throws(RecordingError) -> Outcome {
    var outcome = Outcome()
    let chrome =
      options.format == .chrome ? ChromeTraceStream(pid: options.pid, tree: options.tree, all: options.all) : nil
    var builder = TimelineBuilder(maxEventsPerProcess: chrome == nil ? options.maxEvents : 0, sink: chrome)
    let warnings = try read { record in
      builder.add(record)
      if let chrome, chrome.bufferedBytes >= 1 << 20 { chrome.drain(write) }
    }
    outcome.messages = warnings.map { "socktrace: warning: \($0)" }

    var timeline = builder.finish()
    if let pid = options.pid {
      timeline = timeline.selecting(pid: pid, descendants: options.tree)
      if timeline.processes.isEmpty {
        outcome.missingPID = true
        outcome.messages.append("socktrace: no process with pid \(pid) in \(source)")
        notes(outcome.messages)
        return outcome
      }
    }
    if !options.all {
      let (kept, hidden) = timeline.withoutSocketlessProcesses()
      timeline = kept
      if hidden > 0 {
        outcome.messages.append(
          "socktrace: \(hidden) process\(hidden == 1 ? "" : "es") that touched no socket hidden "
            + "(socktrace timeline --all shows them)")
      }
    }
    if let chrome {
      if chrome.droppedInstants > 0 {
        outcome.messages.append(
          "socktrace: \(chrome.droppedInstants) fork/exec/exit events of processes that touched no socket for a "
            + "long time were not kept for the trace (--all keeps every one)")
      }
      notes(outcome.messages)
      chrome.finish(timeline)
      chrome.drain(write)
    } else {
      notes(outcome.messages)
      var text = TimelineText.render(timeline)
      text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }
    return outcome
  }
}
