import Glibc

/// The first moments of a command run under socktrace.
///
/// socktrace spawns itself as `socktrace __exec-gate FD UID GID GROUPS PATH ARGS…`:
/// the gate blocks reading FD until the tracer has put its pid in the
/// in-kernel filter and attached, then drops to the invoking user and execs
/// the command. So the command is traced from its first instruction, and its
/// exec is the first record of its timeline. The gate makes no socket of its
/// own: the user's groups were looked up (NSS may use sockets) by the parent.
enum ExecGate {
  static let argument = "__exec-gate"

  /// Runs the gate; never returns. Exits 127 if the command cannot be run.
  static func run(_ arguments: [String]) -> Never {
    guard arguments.count >= 6, let fd = Int32(arguments[1]), let uid = Int32(arguments[2]),
      let gid = Int32(arguments[3])
    else {
      printError("socktrace: internal error: bad \(argument) arguments")
      exit(127)
    }
    var byte: UInt8 = 0
    var count: Int
    repeat { count = read(fd, &byte, 1) } while count < 0 && errno == EINTR
    close(fd)
    guard count == 1 else { exit(127) }  // the tracer gave up: do not run untraced
    if uid >= 0 && gid >= 0 {
      let groups = arguments[4].split(separator: ",").compactMap { gid_t($0) }
      guard setgroups(groups.count, groups) == 0, setgid(gid_t(gid)) == 0, setuid(uid_t(uid)) == 0 else {
        printError("socktrace: cannot switch to uid \(uid): \(String(cString: strerror(errno)))")
        exit(126)
      }
    }
    let command = Array(arguments[5...])
    var argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) }
    argv.append(nil)
    execv(command[0], argv)
    printError("socktrace: cannot run \(command[0]): \(String(cString: strerror(errno)))")
    exit(errno == ENOENT ? 127 : 126)
  }
}
