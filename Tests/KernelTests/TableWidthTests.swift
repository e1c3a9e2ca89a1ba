import Foundation
import Glibc
import Testing

extension KernelTests {
  /// Issue 19: the table piped into `grep` keeps every result whole.
  @Suite(.timeLimit(.minutes(3)))
  struct TableWidthTests {
    /// The table through a pipe (as into `grep`): COLUMNS sets the width, and
    /// a refused connect keeps its port and errno name at 80 columns.
    @Test(arguments: [80, 200])
    func theTableThroughAPipeHonoursColumnsAndNeverCutsTheResult(columns: Int) throws {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: Binaries.socktrace)
      process.arguments = ["--", Binaries.workload, "fork-inherited"]
      var environment = ProcessInfo.processInfo.environment
      environment["COLUMNS"] = String(columns)
      process.environment = environment
      let output = Pipe()
      let errors = Pipe()
      process.standardOutput = output
      process.standardError = errors
      try process.run()
      var stdout = Data()
      _ = read(output.fileHandleForReading, into: &stdout, timeout: 60) { _ in false }
      var stderr = Data()
      _ = read(errors.fileHandleForReading, into: &stderr, timeout: 10) { _ in false }
      process.waitUntilExit()
      #expect(process.terminationStatus == 0, "\(String(decoding: stderr, as: UTF8.self))")
      let lines = String(decoding: stdout, as: UTF8.self).split(separator: "\n")
      let header = try #require(lines.first { $0.hasPrefix("TIME") })
      #expect(header.contains("INODE") == (columns >= 132), "\(header)")
      let connect = try #require(lines.first { $0.contains(" connect ") }, "\(lines)")
      #expect(connect.hasSuffix("127.0.0.1:1 ECONNREFUSED"), "\(connect)")
      for line in lines where !line.hasPrefix("{") {  // the workload's own report is not the table's
        #expect(line.count <= columns, "\(line.count) > \(columns): \(line)")
      }
    }
  }
}
