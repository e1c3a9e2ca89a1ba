import ArgumentParser
import SocktraceCore
import Testing

@testable import socktrace

/// The command line, parsed as the user types it: no root needed.
@Suite struct CommandLineTests {
  func record(_ arguments: [String]) throws -> Record {
    let command = try Socktrace.parseAsRoot(arguments)
    return try #require(command as? Record)
  }

  @Test func recordIsTheDefaultCommand() throws {
    let command = try record([])
    #expect(command.json == false)
    #expect(command.tracing.attach == .auto)
    #expect(command.filter.pids.isEmpty)
    #expect(command.output == nil)
  }

  @Test func pidsRepeatAndTakeCommaLists() throws {
    let command = try record(["-p", "12,34", "--pid", "56", "-f", "--json", "-o", "x.jsonl"])
    #expect(command.filter.pids == [12, 34, 56])
    #expect(command.filter.follow)
    #expect(command.json)
    #expect(command.output == "x.jsonl")
  }

  @Test(arguments: [
    ["-p", "abc"], ["-p", "0"], ["-p", "-5"], ["-p", "1,,2"], ["--attach", "uprobe"],
    ["-d", "0"], ["-d", "-1"], ["-d", "inf"], ["-d", "1e300"], ["-d", "2e10"], ["-d", "nan"], ["--ring-buffer", "3"],
    ["--follow"], ["--bogus"],
  ])
  func badArgumentsAreUsageErrors(arguments: [String]) {
    #expect(throws: (any Error).self) { try Socktrace.parseAsRoot(arguments) }
    do {
      _ = try Socktrace.parseAsRoot(arguments)
    } catch {
      #expect(Socktrace.exitCode(for: error) == ExitCode.validationFailure)
      let message = Socktrace.message(for: error)
      #expect(!message.isEmpty)
      #expect(!message.contains("\n"))
    }
  }

  @Test func attachChoicesParse() throws {
    for choice in RungChoice.allCases {
      #expect(try record(["--attach", choice.rawValue]).tracing.attach == choice)
    }
  }

  @Test func doctorParses() throws {
    let command = try Socktrace.parseAsRoot(["doctor", "--attach", "tracepoint"])
    #expect((command as? Doctor)?.attach == .tracepoint)
  }

  @Test func helpShowsExamples() {
    let help = Record.helpMessage()
    #expect(help.contains("EXAMPLES"))
    #expect(help.contains("--pid"))
    #expect(help.contains("--attach"))
  }
}
