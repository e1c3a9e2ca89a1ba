import Foundation
import Glibc

/// What scripts/validate-schema.py said about a recording: every record
/// checked against docs/schema.json.
public struct SchemaValidation: Sendable {
  /// The script's exit status: 0 when every record passed and there was one.
  public var status: Int32
  /// Records that passed and that failed, from its last line (`N passed, N failed`).
  public var passed: Int
  public var failed: Int
  /// Everything it printed: a `FAIL file:line: why` line per failure.
  public var output: String
}

/// The repository this file is in (Tests/SchemaValidation/…).
private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent()

/// Runs scripts/validate-schema.py on a recording: every record against
/// docs/schema.json. The one copy of this for every test target. A run
/// whose last line is not the count reads as one failure.
public func validateAgainstSchema(_ path: String) throws -> SchemaValidation {
  let process = Process()
  let pipe = Pipe()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  process.arguments = ["python3", repository.appendingPathComponent("scripts/validate-schema.py").path, path]
  process.standardOutput = pipe
  process.standardError = pipe
  try process.run()
  let data = pipe.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  let output = String(decoding: data, as: UTF8.self)
  let last = output.split(separator: "\n").last.map(String.init) ?? ""
  let numbers = last.split(separator: " ").compactMap { Int($0) }
  guard last.hasSuffix(" failed"), numbers.count == 2 else {
    return SchemaValidation(status: process.terminationStatus, passed: 0, failed: 1, output: output)
  }
  return SchemaValidation(
    status: process.terminationStatus, passed: numbers[0], failed: numbers[1], output: output)
}

/// The same for records held in memory: written to a temporary file first.
public func validateAgainstSchema(text: String) throws -> SchemaValidation {
  let path = NSTemporaryDirectory() + "socktrace-schema-\(UUID().uuidString).jsonl"
  defer { unlink(path) }
  try text.write(toFile: path, atomically: false, encoding: .utf8)
  return try validateAgainstSchema(path)
}

/// The record kinds docs/schema.json defines: its `event` enum.
public func schemaRecordKinds() throws -> Set<String> {
  let data = try Data(contentsOf: repository.appendingPathComponent("docs/schema.json"))
  guard let schema = try JSONSerialization.jsonObject(with: data) as? [String: Any],
    let properties = schema["properties"] as? [String: Any],
    let event = properties["event"] as? [String: Any],
    let kinds = event["enum"] as? [String]
  else { return [] }
  return Set(kinds)
}
