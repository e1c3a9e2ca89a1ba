import Glibc
import SocktraceCore

/// Runs `socktrace … -- CMD ARGS`: spawns CMD held at the exec gate, so the
/// tracer can filter on its pid and attach before it runs, then waits for it.
final class CommandRunner {
  let command: [String]
  /// The pid of the command (the gate, then the command itself after exec).
  private(set) var pid: pid_t = 0
  private var gateFD: Int32 = -1
  /// The command's wait status once it has ended.
  private(set) var status: Int32?

  /// Resolves the command like a shell would; spawns it, held at the gate.
  init(command: [String], user: (uid: uid_t, gid: gid_t)?) throws(CommandError) {
    self.command = command
    guard let name = command.first, let path = Self.resolve(name) else {
      throw .notFound(command.first ?? "")
    }
    // A path that exists but cannot be run: 126, like a shell.
    var info = stat()
    if access(path, X_OK) != 0 || (stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR) {
      throw .notExecutable(name, access(path, X_OK) != 0 ? errno : EACCES)
    }
    var pipeFDs: [Int32] = [-1, -1]
    guard pipe(&pipeFDs) == 0 else { throw .spawnFailed(name, errno) }
    // Neither end may leak into other children; the gate gets its dup below.
    _ = fcntl(pipeFDs[0], F_SETFD, FD_CLOEXEC)
    _ = fcntl(pipeFDs[1], F_SETFD, FD_CLOEXEC)
    let readFD = pipeFDs[0]
    gateFD = pipeFDs[1]

    // The gate's end of the pipe must survive exec: dup it without CLOEXEC.
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    let inheritedFD: Int32 = 3
    posix_spawn_file_actions_adddup2(&actions, readFD, inheritedFD)

    let groups = user.map { Self.groups(of: $0.uid, primary: $0.gid) } ?? []
    let arguments =
      [
        Self.selfPath, ExecGate.argument, "\(inheritedFD)", "\(user.map { Int64($0.uid) } ?? -1)",
        "\(user.map { Int64($0.gid) } ?? -1)", groups.map(String.init).joined(separator: ","), path,
      ]
      + command.dropFirst()
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
    argv.append(nil)
    defer { for pointer in argv { free(pointer) } }
    let result = posix_spawn(&pid, Self.selfPath, &actions, nil, argv, environ)
    close(readFD)
    guard result == 0 else {
      close(gateFD)
      throw .spawnFailed(name, result)
    }
  }

  deinit {
    if gateFD >= 0 { close(gateFD) }
    if status == nil && pid > 0 {
      kill(pid, SIGKILL)
      var ignored: Int32 = 0
      waitpid(pid, &ignored, 0)
    }
  }

  /// Lets the command run: call once tracing is attached.
  func release() {
    var byte: UInt8 = 1
    _ = write(gateFD, &byte, 1)
    close(gateFD)
    gateFD = -1
  }

  /// Sends `signal` to the command, unless it has been reaped (its pid may be reused).
  func signal(_ signal: Int32) {
    if status == nil && pid > 0 { kill(pid, signal) }
  }

  /// Whether the command has ended (reaps it without blocking).
  func hasExited() -> Bool {
    if status != nil { return true }
    var waitStatus: Int32 = 0
    let result = waitpid(pid, &waitStatus, WNOHANG)
    if result == pid { status = waitStatus }
    return status != nil
  }

  /// The exit code a shell would give: the command's, or 128 + its signal.
  var exitCode: Int32 {
    guard let status else { return 0 }
    let signal = status & 0x7f
    return signal == 0 ? (status >> 8) & 0xff : 128 + signal
  }

  /// This executable, for spawning the gate.
  static var selfPath: String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard length > 0 else { return CommandLine.arguments[0] }
    return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// `name` if it has a slash, else the first executable `PATH` entry.
  static func resolve(_ name: String) -> String? {
    if name.isEmpty { return nil }
    if name.contains("/") { return access(name, F_OK) == 0 ? name : nil }
    let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
    for directory in path.split(separator: ":") {
      let candidate = "\(directory)/\(name)"
      var info = stat()
      if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
        return candidate
      }
    }
    return nil
  }

  /// The supplementary groups of `uid` (getgrouplist), or just `primary`.
  static func groups(of uid: uid_t, primary: gid_t) -> [gid_t] {
    guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return [primary] }
    var count: Int32 = 64
    var groups = [gid_t](repeating: 0, count: Int(count))
    if getgrouplist(name, primary, &groups, &count) < 0 {
      groups = [gid_t](repeating: 0, count: Int(count))
      guard getgrouplist(name, primary, &groups, &count) >= 0 else { return [primary] }
    }
    return Array(groups.prefix(Int(count)))
  }

  /// The user to run as: `-u USER`, else the one who ran sudo, else none (root).
  /// Switching needs CAP_SETUID and CAP_SETGID (root has them; a setcap
  /// binary run by a user does not), checked here, before anything is attached.
  static func user(named name: String?) throws(CommandError) -> (uid: uid_t, gid: gid_t)? {
    if let name {
      var user: (uid: uid_t, gid: gid_t)
      if let entry = getpwnam(name) {
        user = (entry.pointee.pw_uid, entry.pointee.pw_gid)
      } else if let uid = UInt32(name), let entry = getpwuid(uid) {
        user = (entry.pointee.pw_uid, entry.pointee.pw_gid)
      } else {
        throw .unknownUser(name)
      }
      let missing = [Capability.setuid, .setgid].filter { !Privileges.has($0) }
      if !missing.isEmpty && (user.uid != getuid() || user.gid != getgid()) {
        throw .cannotSwitchUser(name, missing: missing.map(\.name))
      }
      return user
    }
    if let uid = getenv("SUDO_UID").flatMap({ UInt32(String(cString: $0)) }),
      let gid = getenv("SUDO_GID").flatMap({ UInt32(String(cString: $0)) })
    {
      return (uid, gid)
    }
    return nil
  }
}

enum CommandError: Error, CustomStringConvertible {
  case notFound(String)
  case notExecutable(String, Int32)
  case spawnFailed(String, Int32)
  case unknownUser(String)
  case cannotSwitchUser(String, missing: [String])

  var description: String {
    switch self {
    case .notFound(let name): return "\(name): command not found"
    case .notExecutable(let name, let errno): return "cannot run \(name): \(errnoText(errno))"
    case .spawnFailed(let name, let errno): return "cannot start \(name): \(errnoText(errno))"
    case .unknownUser(let name): return "no such user: \(name)"
    case .cannotSwitchUser(let name, let missing):
      return "running the command as \(name) needs root or \(missing.joined(separator: " and "))"
    }
  }
}
