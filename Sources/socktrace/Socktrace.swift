import ArgumentParser
import Glibc
import SocktraceCore

@main
struct Socktrace: ParsableCommand {
  static let version = BuildInfo.version

  static let configuration = CommandConfiguration(
    commandName: "socktrace",
    abstract: "Trace how and when processes create sockets, with eBPF.",
    discussion: """
      Records every socket birth — socket(), socketpair(), accept() — joined in \
      the kernel into one record per call, with the process, the result, the fd \
      and inode, and the time spent in each stage of the kernel's socket path.
      """,
    version: BuildInfo.description,
    subcommands: [Record.self, Serve.self, Doctor.self, TimelineCommand.self],
    defaultSubcommand: Record.self
  )

  /// `socktrace __exec-gate …` is the first moment of a command run under
  /// the tracer (see ExecGate), not a user command.
  static func main() {
    reopenClosedStandardFDs()
    let arguments = CommandLine.arguments
    if arguments.count > 1 && arguments[1] == ExecGate.argument {
      ExecGate.run(Array(arguments.dropFirst()))
    }
    main(nil)
  }
}

/// Writes one line to standard error.
func printError(_ message: String) {
  var line = message
  if !line.hasSuffix("\n") { line += "\n" }
  line.withUTF8 { bytes in
    var offset = 0
    while offset < bytes.count {
      let written = write(2, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
      if written <= 0 { return }
      offset += written
    }
  }
}
