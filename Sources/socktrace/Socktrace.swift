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
    let userArguments = Array(arguments.dropFirst())
    if ["--help", "-h", "help"].contains(userArguments.first ?? ""), userArguments.count == 1 {
      print(fullHelp(), terminator: "")
      Glibc.exit(0)
    }
    if let hint = commandHint(userArguments) {
      printError(hint)
      Glibc.exit(ExitCode.validationFailure.rawValue)
    }
    main(nil)
  }

  /// `socktrace --help`: what `record` (the default command) takes — the
  /// tracing options and filters — then the other commands.
  static func fullHelp(columns: Int? = nil) -> String {
    var text = helpMessage(for: Record.self, columns: columns)
    text = text.replacingFirst("USAGE: socktrace record ", with: "USAGE: socktrace [record] ")
    text = text.replacingFirst(
      "OVERVIEW: Trace socket creation (the default command).", with: "OVERVIEW: " + configuration.abstract)
    if !text.hasSuffix("\n") { text += "\n" }
    text += """

      OTHER COMMANDS:
        doctor                  What this kernel allows and how each hook would attach.
        timeline FILE           Per-process socket timelines from a JSON Lines recording.
        help COMMAND            Detailed help for a command.

      """
    return text
  }

  /// `socktrace curl URL` (a command without `--`): the parse error, and the
  /// line that would have worked. Nil when the arguments parse, or fail for
  /// another reason.
  static func commandHint(_ arguments: [String]) -> String? {
    do {
      _ = try parseAsRoot(arguments)
      return nil
    } catch {
      let message = Self.message(for: error)
      guard !arguments.contains("--"), message.contains("nexpected argument") || message.contains("nknown option"),
        let index = arguments.firstIndex(where: { !$0.hasPrefix("-") && isCommand($0) })
          ?? (message.contains("nexpected argument") ? firstUnexpected(message) : nil).flatMap({
            arguments.firstIndex(of: $0)
          }),
        !arguments[index].hasPrefix("-")
      else { return nil }
      let suggestion = ["socktrace"] + arguments[..<index] + ["--"] + arguments[index...]
      return "socktrace: \(message)\n"
        + "hint: to run and trace a command, put it after --; did you mean: "
        + suggestion.map(shellQuoted).joined(separator: " ")
    }
  }

  /// Whether `name` runs as a command: a path to an executable, or one on PATH.
  static func isCommand(_ name: String) -> Bool {
    if name.contains("/") { return access(name, X_OK) == 0 }
    let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
    return path.split(separator: ":").contains { access("\($0)/\(name)", X_OK) == 0 }
  }

  /// The first 'quoted' argument in ArgumentParser's "unexpected argument(s)" message.
  static func firstUnexpected(_ message: String) -> String? {
    guard let open = message.firstIndex(of: "'") else { return nil }
    let rest = message[message.index(after: open)...]
    guard let close = rest.firstIndex(of: "'") else { return nil }
    return String(rest[..<close])
  }

  static func shellQuoted(_ argument: String) -> String {
    let plain =
      !argument.isEmpty
      && argument.utf8.allSatisfy { byte in
        (0x30...0x39).contains(byte) || (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte)
          || Array("-_./:=@%+,".utf8).contains(byte)
      }
    return plain
      ? argument
      : "'" + argument.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
  }
}

extension String {
  fileprivate func replacingFirst(_ target: String, with replacement: String) -> String {
    guard let range = range(of: target) else { return self }
    return String(self[..<range.lowerBound]) + replacement + String(self[range.upperBound...])
  }

  fileprivate func range(of target: String) -> Range<String.Index>? {
    var index = startIndex
    while index < endIndex {
      if self[index...].hasPrefix(target) { return index..<(self.index(index, offsetBy: target.count)) }
      index = self.index(after: index)
    }
    return nil
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
