import CSocktrace
import Glibc

/// Measures what the running kernel allows, by trying rather than guessing.
public enum KernelProbes {
  public static let tracefsMount = "/sys/kernel/tracing"
  /// Where debugfs shows tracefs (older systems mount only debugfs); libbpf
  /// reads tracepoint ids there when it exists.
  public static let debugfsTracing = "/sys/kernel/debug/tracing"

  /// The tracefs directory whose events are readable: /sys/kernel/tracing,
  /// else /sys/kernel/debug/tracing; nil when neither is.
  public static var tracefs: String? {
    for path in [tracefsMount, debugfsTracing] where exists("\(path)/events") { return path }
    return nil
  }

  /// A tracefs mount at `path`, whether readable or not (statfs needs no
  /// permission on the directory itself).
  static func isTracefsMount(_ path: String) -> Bool { st_is_tracefs(path) == 1 }
  static let socketTracepoint = "events/syscalls/sys_enter_socket"
  static let kprobePMU = "/sys/bus/event_source/devices/kprobe/type"

  /// Measures the facts a choice needs: `.auto` stops as soon as a rung works,
  /// so a locked-down kernel never pays for reading /proc/kallsyms.
  public static func facts(for choice: RungChoice) -> ProbeFacts {
    var facts = ProbeFacts()
    let wanted: [Rung] = choice == .auto ? Rung.allCases : [Rung(rawValue: choice.rawValue) ?? .tracepoint]
    for rung in wanted {
      switch rung {
      case .fentry:
        let traced = AttachPlan.socketFunctions + [AttachPlan.releaseFunction]
        let ids = btfFunctionIDs(traced + AttachPlan.callFunctions + ["sock_map_fd"])
        // A refusal of the program type (lockdown's EPERM) is the same for
        // every function: one trial load says it for all.
        var refused: Int32?
        for function in traced {
          let status = refused ?? -st_fentry_can_attach(ids[function] ?? 0)
          facts.fentry[function] = status
          if status == EPERM || status == EACCES { refused = status }
        }
        // The call functions (__sys_socketpair, __sys_bind, ...) are not
        // tried one by one (a trial load each would slow every start): where
        // fentry works on __sys_socket, each one in BTF is taken to attach.
        for function in AttachPlan.callFunctions {
          facts.fentry[function] = refused ?? (ids[function] == nil ? ENOENT : 0)
        }
        facts.sockMapFDIsFunction = ids["sock_map_fd"] != nil
      case .kprobe:
        facts.kprobesSupported = exists(kprobePMU)
        if facts.kprobesSupported {
          facts.kallsyms = kallsyms(
            containing: AttachPlan.socketFunctions + AttachPlan.callFunctions + [
              AttachPlan.releaseFunction, "sock_map_fd",
            ] + AttachPlan.lsmFunctions)
          facts.sockMapFDIsFunction = facts.kallsyms.contains("sock_map_fd")
        }
      case .tracepoint:
        let tracefs = self.tracefs
        facts.tracefsReadable = tracefs != nil
        facts.syscallTracepoints = tracefs.map { exists("\($0)/\(socketTracepoint)") } ?? false
        facts.bpfLoop = st_bpf_loop_available() == 1
      }
      if AttachPlan.unavailability(of: rung, facts: facts) == nil { break }
    }
    measureOtherPaths(&facts)
    return facts
  }

  /// The BTF ids of those of `names` that are functions in vmlinux BTF.
  static func btfFunctionIDs(_ names: [String]) -> [String: Int32] {
    var ids = [Int32](repeating: 0, count: names.count)
    let pointers = names.map { strdup($0) }
    defer { for pointer in pointers { free(pointer) } }
    let constPointers = pointers.map { UnsafePointer($0) }
    guard st_btf_find_functions(constPointers, Int32(names.count), &ids) == 0 else { return [:] }
    return Dictionary(uniqueKeysWithValues: zip(names, ids).filter { $0.1 > 0 })
  }

  /// io_uring's tracepoint signatures and the 32-bit ABI, from one walk over BTF.
  public static func measureOtherPaths(_ facts: inout ProbeFacts) {
    let causeFunctions = btfFunctionIDs(["__request_module"] + AttachPlan.lsmFunctions)
    facts.moduleRequest = causeFunctions["__request_module"] != nil
    facts.lsmFunctions = Set(AttachPlan.lsmFunctions.filter { causeFunctions[$0] != nil })
    var complete = st_tracepoint_params()
    var request = st_tracepoint_params()
    var sqe = st_tracepoint_params()
    var socketOp: Int32 = 0
    var ia32: Int32 = 0
    guard st_btf_other_paths(&complete, &request, &sqe, &socketOp, &ia32) == 0 else {
      facts.ioUring = .unrecognised("vmlinux BTF could not be read for the io_uring tracepoints")
      return
    }
    facts.ioUring = IoUringTracepoints.classify(
      complete: kinds(complete), submitRequest: kinds(request), submitSQE: kinds(sqe))
    facts.ioUringSocketOp = socketOp == 1
    facts.ioUringBindListen = kernelAtLeast(6, 11, release: kernelRelease)
    #if arch(x86_64)
      facts.ia32 = ia32 == 1
    #endif
  }

  /// Whether a release string (`6.12.0-amd64`) is at least major.minor.
  static func kernelAtLeast(_ major: Int, _ minor: Int, release: String) -> Bool {
    let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
    guard parts.count == 2 else { return false }
    return (parts[0], parts[1]) >= (major, minor)
  }

  /// A tracepoint's parameter kinds (1 pointer, 2 other), or nil when absent.
  static func kinds(_ params: st_tracepoint_params) -> [UInt8]? {
    guard params.count >= 0 else { return nil }
    return withUnsafeBytes(of: params.kinds) { Array($0.prefix(Int(params.count))) }
  }

  /// Which of `names` are symbols in /proc/kallsyms.
  static func kallsyms(containing names: [String]) -> Set<String> {
    var found = [UInt8](repeating: 0, count: names.count)
    let pointers = names.map { strdup($0) }
    defer { for pointer in pointers { free(pointer) } }
    let constPointers = pointers.map { UnsafePointer($0) }
    guard st_kallsyms_lookup(constPointers, Int32(names.count), &found) > 0 else { return [] }
    return Set(zip(names, found).filter { $0.1 != 0 }.map(\.0))
  }

  /// Mounts tracefs at /sys/kernel/tracing when it is not there (a fresh
  /// machine): the syscall tracepoints need it. Tracefs under debugfs
  /// (/sys/kernel/debug/tracing) serves as well. Returns whether it mounted.
  /// A tracefs that is mounted but not readable (CAP_BPF and CAP_PERFMON
  /// without root) is said to be so, not said to be missing.
  @discardableResult
  public static func ensureTracefs() throws(TraceError) -> Bool {
    if tracefs != nil { return false }
    for path in [tracefsMount, debugfsTracing] where isTracefsMount(path) {
      throw .tracefsUnreadable(path: path, errno: exists("\(path)/events") ? 0 : errno)
    }
    if mount("tracefs", tracefsMount, "tracefs", 0, nil) != 0 {
      throw .tracefsUnavailable(errno: errno)
    }
    return true
  }

  /// Whether `path` exists for this process's effective ids and capabilities:
  /// access(2) would use the real uid and ignore a setcap binary's capabilities.
  static func exists(_ path: String) -> Bool { faccessat(AT_FDCWD, path, F_OK, AT_EACCESS) == 0 }

  /// Whether vmlinux BTF is there: 0 or an errno.
  public static func btfStatus() -> Int32 { -st_vmlinux_btf_available() }

  /// The kernel release, `uname -r`.
  public static var kernelRelease: String {
    var name = utsname()
    uname(&name)
    return withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
  }

  /// The host name, `uname -n`.
  public static var hostName: String {
    var name = utsname()
    uname(&name)
    return withUnsafeBytes(of: name.nodename) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
  }

  /// The lockdown mode in brackets in /sys/kernel/security/lockdown, if readable.
  public static var lockdown: String? {
    guard let text = readSmallFile("/sys/kernel/security/lockdown") else { return nil }
    guard let open = text.firstIndex(of: "["), let close = text.firstIndex(of: "]") else {
      return text.trimmingTrailingWhitespace()
    }
    return String(text[text.index(after: open)..<close])
  }
}

extension IoUringTracepoints {
  /// Classifies the tracepoints' parameter kinds (1 pointer, 2 other; nil:
  /// no such tracepoint) into the forms socktrace.bpf.c reads.
  public static func classify(complete: [UInt8]?, submitRequest: [UInt8]?, submitSQE: [UInt8]?)
    -> IoUringTracepoints
  {
    guard let complete else { return .absent }
    let submit: IoUringSubmit
    if let request = submitRequest, request.first == 1 {
      submit = .request
    } else if let sqe = submitSQE {
      // (ctx, req, opcode, user_data, ...) or (req, force_nonblock)
      if sqe.count >= 4 && sqe[0] == 1 && sqe[1] == 1 && sqe[2] == 2 && sqe[3] == 2 {
        submit = .sqeWithContext
      } else if sqe.count == 2 && sqe[0] == 1 {
        submit = .sqeWithRequest
      } else {
        return .unrecognised("io_uring_submit_sqe has a signature this build does not read (\(sqe.count) arguments)")
      }
    } else {
      return .unrecognised("no io_uring_submit_sqe or io_uring_submit_req tracepoint in BTF")
    }
    // (ctx, req, cqe), (ctx, req, user_data, res, cflags, ...) or (ctx, user_data, res, cflags)
    if complete.count == 3 && complete[0] == 1 && complete[1] == 1 && complete[2] == 1 {
      return .known(submit: submit, complete: .cqePointer)
    }
    if complete.count >= 5 && complete[1] == 1 && complete[2] == 2 && complete[3] == 2 {
      return .known(submit: submit, complete: .arguments)
    }
    if complete.count == 4 && complete[0] == 1 && complete[1] == 2 && complete[2] == 2 {
      return .known(submit: submit, complete: .withoutRequest)
    }
    return .unrecognised("io_uring_complete has a signature this build does not read (\(complete.count) arguments)")
  }
}
