import ArgumentParser
import SocktraceCore

/// How to hook the kernel and what to record: the options `record` and
/// `serve` share, parsed once and turned into the session's `TraceOptions`
/// by one function, so a filter means the same in every mode.
struct TracingOptions: ParsableArguments {
  @Option(help: "How to hook the kernel: auto picks the first that works of fentry, kprobe, tracepoint.")
  var attach: RungChoice = .auto

  @Option(
    help: ArgumentHelp("Ring buffer size in MiB (a power of two; default 8, 16 for serve).", valueName: "MiB"))
  var ringBuffer: UInt32?

  @Option(
    help: ArgumentHelp(
      "Hook raw_syscalls for 32-bit x86 syscalls (int $0x80 socket, socketpair, accept4, socketcall), "
        + "which the syscall tracepoints skip. It runs on every syscall of every process; off (the "
        + "default) lists those paths as blind spots in the start record.",
      valueName: "on|off"))
  var ia32: Switch = .off

  @Flag(
    name: [.customLong("births-only"), .customLong("sockets-only")],
    help: ArgumentHelp(
      "Record socket births only, at the lowest cost: no bind, connect, listen, shutdown, close, "
        + "fork, exec or exit records."))
  var socketsOnly = false

  @Option(
    help: ArgumentHelp(
      "How many live sockets born under tracing are followed to their release (kernel memory only "
        + "for those alive); past it a release is counted lost (births_full).",
      valueName: "count"))
  var maxSockets: UInt32 = 1 << 20

  @Flag(name: [.short, .long], help: "Show libbpf's own log.")
  var verbose = false
}

/// The one place the command line becomes a session's options.
enum TraceOptionsBuilder {
  /// Checks what every mode refuses alike, before anything is attached.
  /// `command`: a command to run after `--` was given (it is always followed).
  static func validate(_ filter: FilterOptions, _ tracing: TracingOptions, command: Bool) throws {
    try filter.validateSelection()
    if filter.follow && filter.pids.isEmpty && !command {
      throw ValidationError("--follow needs --pid (a command to run is always followed)")
    }
    if command && !filter.pids.isEmpty {
      throw ValidationError("give either --pid or a command to run, not both")
    }
    if tracing.socketsOnly && (!filter.ports.isEmpty || !filter.addresses.isEmpty) {
      throw ValidationError("--port and --address follow what sockets become: not with --births-only")
    }
    if tracing.maxSockets == 0 { throw ValidationError("--max-sockets must be at least 1") }
    if let ring = tracing.ringBuffer, ring == 0 || ring & (ring - 1) != 0 || ring > 1024 {
      throw ValidationError("--ring-buffer must be a power of two from 1 to 1024 MiB")
    }
  }

  /// Every filter and setting, for `record`, `serve` and a command run under
  /// the tracer alike (the runner replaces the pids with the command's).
  static func options(_ filter: FilterOptions, _ tracing: TracingOptions, defaultRingMiB: UInt32) -> TraceOptions {
    var options = TraceOptions()
    options.pids = threadGroups(of: filter.pids)
    options.follow = filter.follow
    options.ports = filter.ports
    options.addresses = filter.addresses
    options.selection = filter.selection
    options.rung = tracing.attach
    options.ringBufferBytes = (tracing.ringBuffer ?? defaultRingMiB) << 20
    options.lifecycle = !tracing.socketsOnly
    options.verbose = tracing.verbose
    options.ia32 = tracing.ia32 == .on
    options.maxSockets = tracing.maxSockets
    return options
  }

  /// `-p TID` of a thread that is not its process's leader means its process:
  /// the filter is by thread group. Says so, once per pid.
  static func threadGroups(of pids: [Int32]) -> [Int32] {
    var result: [Int32] = []
    for pid in pids {
      var tgid = pid
      if let group = Privileges.threadGroup(of: pid), group != pid {
        printError("socktrace: \(pid) is a thread of process \(group): tracing process \(group)")
        tgid = group
      }
      if !result.contains(tgid) { result.append(tgid) }
    }
    return result
  }
}
