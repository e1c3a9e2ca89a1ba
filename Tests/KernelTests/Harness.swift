import Foundation
import Glibc
import Testing

/// The binaries `swift build` put beside the test bundle.
enum Binaries {
  static let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  static let socktrace = directory.appendingPathComponent("socktrace").path
  static let workload = directory.appendingPathComponent("socktrace-workload").path
}

/// Every test that loads BPF programs, one at a time: they attach
/// system-wide probes, and one of them unmounts tracefs.
@Suite(.serialized, .enabled(if: Privilege.runKernelTests, Privilege.skipReason))
enum KernelTests {}

/// Whether the privileged tests run: as root they do; with CI=true they must,
/// so lacking root there fails them instead of skipping.
enum Privilege {
  static let isRoot = geteuid() == 0
  static let inCI = ProcessInfo.processInfo.environment["CI"] == "true"
  static let runKernelTests = isRoot || inCI
  static let skipReason: Comment =
    "not root: the kernel tests load BPF programs; run `sudo swift test` (they run, and fail, with CI=true)"
}

enum HarnessError: Error, CustomStringConvertible {
  case timedOut(String)
  case exited(Int32, String)
  var description: String {
    switch self {
    case .timedOut(let what): return "timed out: \(what)"
    case .exited(let status, let stderr): return "tracer exited with \(status) before tracing: \(stderr)"
    }
  }
}

/// Reads what a pipe has, waiting up to `timeout` seconds for `until` to hold.
func read(_ handle: FileHandle, into buffer: inout Data, timeout: Double, until done: (Data) -> Bool) -> Bool {
  let deadline = Date().addingTimeInterval(timeout)
  var chunk = [UInt8](repeating: 0, count: 65536)
  while !done(buffer) {
    let remaining = deadline.timeIntervalSinceNow
    if remaining <= 0 { return false }
    var descriptor = pollfd(fd: handle.fileDescriptor, events: Int16(POLLIN), revents: 0)
    let ready = poll(&descriptor, 1, Int32(min(remaining, 1) * 1000))
    if ready <= 0 { continue }
    let count = Glibc.read(handle.fileDescriptor, &chunk, chunk.count)
    if count <= 0 { return done(buffer) }
    buffer.append(contentsOf: chunk[0..<count])
  }
  return true
}

/// The real `socktrace` binary, running as a child process.
final class Tracer {
  let process = Process()
  let stderrPipe = Pipe()
  let outputPath: String
  var stderr = Data()

  /// Starts `socktrace --json -o TMP ARGS` (`serve`: `socktrace serve -o
  /// TMP ARGS`, the service) and waits for its `Tracing` line.
  init(_ arguments: [String], serve: Bool = false) throws {
    outputPath = NSTemporaryDirectory() + "socktrace-test-\(UUID().uuidString).jsonl"
    process.executableURL = URL(fileURLWithPath: Binaries.socktrace)
    process.arguments = (serve ? ["serve", "-o", outputPath] : ["--json", "-o", outputPath]) + arguments
    process.standardError = stderrPipe
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let attached = read(stderrPipe.fileHandleForReading, into: &stderr, timeout: 60) {
      String(decoding: $0, as: UTF8.self).contains("Tracing")
    }
    if !attached {
      process.terminate()
      process.waitUntilExit()
      let text = String(decoding: stderr, as: UTF8.self)
      throw process.isRunning
        ? HarnessError.timedOut("Tracing line") : HarnessError.exited(process.terminationStatus, text)
    }
  }

  deinit {
    if process.isRunning { process.terminate() }
    unlink(outputPath)
  }

  /// Sends `signal`, waits for exit; returns the status, stderr and records
  /// (without the sockets open at start unless `snapshot`: see `records`).
  func stop(signal: Int32 = SIGINT, snapshot: Bool = false) throws -> (
    status: Int32, stderr: String, records: [[String: Any]]
  ) {
    kill(process.processIdentifier, signal)
    _ = read(stderrPipe.fileHandleForReading, into: &stderr, timeout: 60) { _ in false }
    let deadline = Date().addingTimeInterval(30)
    while process.isRunning && Date() < deadline { usleep(10_000) }
    if process.isRunning {
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
      throw HarnessError.timedOut("tracer did not stop on signal \(signal)")
    }
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stderr, as: UTF8.self), try records(snapshot: snapshot))
  }

  /// The recording's records. The `socket` records of sockets open when
  /// tracing began (`"via":"snapshot"`: a gated workload inherits the test
  /// runner's, and the machine has its own) are no births: left out unless
  /// `snapshot`, so tests count the calls they made.
  func records(snapshot: Bool = false) throws -> [[String: Any]] {
    let text = try String(contentsOfFile: outputPath, encoding: .utf8)
    return try text.split(separator: "\n").map { line in
      let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
      return try #require(object as? [String: Any], "not a JSON object: \(line)")
    }.filter { snapshot || $0["via"] as? String != "snapshot" }
  }
}

/// The test workload: gated, so the tracer can filter on its pid before it
/// makes a single call.
final class Workload {
  let process = Process()
  let stdinPipe = Pipe()
  let stdoutPipe = Pipe()
  var stdout = Data()
  private(set) var pid: Int32 = 0

  /// `before`: workload options that act before the gate (`--pre-socket`).
  /// `launcher`: a command that execs the workload in place, keeping its pid
  /// (`setpriv --reuid=N`, `unshare -n`); `executable`: the workload under
  /// another name (a symlink: another comm).
  init(
    _ scenarios: [String], before: [String] = [], launcher: [String] = [], executable: String = Binaries.workload
  ) throws {
    let command = launcher + [executable] + before + ["--gate"] + scenarios
    process.executableURL = URL(fileURLWithPath: command[0])
    process.arguments = Array(command.dropFirst())
    process.standardInput = stdinPipe
    process.standardOutput = stdoutPipe
    try process.run()
    guard read(stdoutPipe.fileHandleForReading, into: &stdout, timeout: 30, until: { $0.contains(UInt8(ascii: "\n")) })
    else { throw HarnessError.timedOut("workload ready line") }
    pid = process.processIdentifier
  }

  /// Lets it run, waits for it; returns what it reported, one object per call.
  func run() throws -> [[String: Any]] {
    go()
    return try finish()
  }

  /// Opens the gate: the workload starts its calls.
  func go() { stdinPipe.fileHandleForWriting.write(Data("go\n".utf8)) }

  /// Waits for it after `go()`; returns what it reported.
  func finish() throws -> [[String: Any]] {
    _ = read(stdoutPipe.fileHandleForReading, into: &stdout, timeout: 60) { _ in false }
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "workload failed")
    return try String(decoding: stdout, as: UTF8.self).split(separator: "\n").map { line in
      try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }.filter { $0["op"] as? String != "ready" }
  }
}

/// Runs the socktrace binary to completion: its exit status, standard output
/// (through a file, so a large one cannot block it) and standard error.
func runSocktraceFully(_ arguments: [String], asUser uid: UInt32? = nil) throws -> (
  status: Int32, stdout: String, stderr: String
) {
  let process = Process()
  let errors = Pipe()
  let outputPath = NSTemporaryDirectory() + "socktrace-stdout-\(UUID().uuidString)"
  FileManager.default.createFile(atPath: outputPath, contents: nil)
  defer { unlink(outputPath) }
  let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
  if let uid {
    process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
    process.arguments =
      ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--inh-caps=-all", "--", Binaries.socktrace]
      + arguments
  } else {
    process.executableURL = URL(fileURLWithPath: Binaries.socktrace)
    process.arguments = arguments
  }
  process.standardError = errors
  process.standardOutput = output
  try process.run()
  try output.close()
  var buffer = Data()
  _ = read(errors.fileHandleForReading, into: &buffer, timeout: 120) { _ in false }
  process.waitUntilExit()
  let stdout = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
  return (process.terminationStatus, stdout, String(decoding: buffer, as: UTF8.self))
}

/// The bad-input cases: the exit status and standard error.
func runSocktrace(_ arguments: [String], asUser uid: UInt32? = nil) throws -> (status: Int32, stderr: String) {
  let result = try runSocktraceFully(arguments, asUser: uid)
  return (result.status, result.stderr)
}

/// The exit status and standard output.
func runSocktraceOutput(_ arguments: [String]) throws -> (status: Int32, stdout: String) {
  let result = try runSocktraceFully(arguments)
  return (result.status, result.stdout)
}

extension Dictionary where Key == String, Value == Any {
  /// A 64-bit field of a record (schema v2: a decimal string, never a
  /// number), as an Int; nil when absent, null, or not a decimal string.
  func u64(_ key: String) -> Int? {
    guard let text = self[key] as? String, !text.isEmpty, text.allSatisfy(\.isASCII) else { return nil }
    return Int(text)
  }
}

/// A port nobody listens on, on 127.0.0.1.
func freeLoopbackPort() throws -> Int {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  defer { close(fd) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  try withUnsafeMutablePointer(to: &address) { pointer in
    try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
      try #require(bind(fd, raw, length) == 0)
      try #require(getsockname(fd, raw, &length) == 0)
    }
  }
  return Int(UInt16(bigEndian: address.sin_port))
}
