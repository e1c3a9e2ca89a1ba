import Foundation
import SocktraceCore
import Testing

@testable import socktrace

/// `socktrace --version` and the start record name the commit the binary was
/// built from, as git reports it for this checkout (not a constant).
@Suite struct VersionTests {
  static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  @Test func versionNamesTheCommitGitReports() throws {
    #expect(Socktrace.configuration.version == "\(BuildInfo.version) (commit \(BuildInfo.commit))")
    // commit.sh is what the BuildInfo plugin ran before this build.
    let process = Process()
    let pipe = Pipe()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = [
      Self.repository.appendingPathComponent("Plugins/BuildInfo/commit.sh").path, Self.repository.path,
    ]
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let now = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
    // The same commit (the work tree may have changed since the build: -dirty aside).
    #expect(now.prefix(12) == BuildInfo.commit.prefix(12), "built at another commit? `swift test` rebuilds")
    #expect(BuildInfo.commit.wholeMatch(of: /[0-9a-f]{12}(-dirty)?|unknown/) != nil)
  }

  @Test func startRecordCarriesTheCommit() {
    let encoder = JSONLinesEncoder(clock: BootClock(offsetNanoseconds: 0))
    var out = JSONBuffer()
    encoder.encode(
      StartRecord(
        epochNanoseconds: 0, bootNanoseconds: 0, version: BuildInfo.version, kernel: "k", host: "h", rung: .tracepoint,
        hooks: [], pids: [], follow: false, command: nil),
      into: &out)
    let line = String(decoding: out.bytes, as: UTF8.self)
    #expect(line.contains("\"version\":\"\(BuildInfo.version)\",\"commit\":\"\(BuildInfo.commit)\","))
  }
}
