/// An attach rung: how the socket() path is hooked.
public enum Rung: String, CaseIterable, Sendable {
  case fentry, kprobe, tracepoint
}

/// What the user asked for with `--attach`.
public enum RungChoice: String, CaseIterable, Sendable {
  case auto, fentry, kprobe, tracepoint
}

/// A way user space gets a new socket from the kernel (docs/hooks.md: "Every path
/// to a new socket"). `rawValue` is the name `doctor` and the `start`
/// record's `blind_spots` use.
public enum SocketPath: String, CaseIterable, Sendable {
  case socket, socketpair, accept
  /// io_uring IORING_OP_SOCKET (5.19+) and IORING_OP_ACCEPT (5.5+, multishot 5.19+).
  case ioUringSocket = "io_uring_socket"
  case ioUringAccept = "io_uring_accept"
  /// The 32-bit x86 syscalls of the same names and socketcall(2) (int $0x80).
  case ia32Socket = "ia32_socket"
  case ia32Socketpair = "ia32_socketpair"
  case ia32Accept = "ia32_accept"
  /// __sock_create(kern=1): sockets the kernel makes for itself.
  case kernel
  /// getsockopt(SCTP_SOCKOPT_PEELOFF[_FLAGS]): sctp_do_peeloff makes a socket
  /// for one association with sock_create + sock_alloc_file.
  case sctpPeeloff = "sctp_peeloff"
  /// ioctl(SIOCKCMCLONE) on an AF_KCM socket: kcm_clone.
  case kcmClone = "kcm_clone"
  /// Not a way in but a way out: on the tracepoint rung a socket's last
  /// reference dropped other than by close, dup2/dup3, close_range, exec or
  /// exit gives no release record.
  case releaseElsewhere = "release_elsewhere"
  /// Not a path: a failure cause (FailureCause) the plan cannot name, or
  /// names only in part, on this rung (`AttachPlan.causeBlindSpots`).
  case causeLSM = "cause:lsm"
  case causeSeccomp = "cause:seccomp"
  /// Not new sockets, but what one becomes: io_uring's IORING_OP_CONNECT
  /// (5.5+), IORING_OP_BIND and IORING_OP_LISTEN (6.11+) pass no syscall
  /// tracepoint, so no bind/connect/listen record is made for them.
  case ioUringConnect = "io_uring_connect"
  case ioUringBind = "io_uring_bind"
  case ioUringListen = "io_uring_listen"
}

/// A path the plan cannot see on this kernel, and why: never silent.
public struct BlindSpot: Equatable, Sendable {
  public var path: SocketPath
  public var reason: String
}

/// The io_uring tracepoint signatures found in the kernel's BTF.
public enum IoUringTracepoints: Equatable, Sendable {
  /// No io_uring tracepoints: the kernel has no io_uring.
  case absent
  /// Signatures this build does not know how to read: the reason.
  case unrecognised(String)
  /// The submission and completion forms.
  case known(submit: IoUringSubmit, complete: IoUringComplete)
}

/// io_uring_complete's signature (st_io_uring_complete).
public enum IoUringComplete: UInt8, Sendable {
  /// (ctx, req, user_data, res, cflags[, extra1, extra2]) (5.15 .. 6.3).
  case arguments = 0
  /// (ctx, req, cqe) (6.4 ..).
  case cqePointer = 1
  /// (ctx, user_data, res, cflags) (5.10).
  case withoutRequest = 2
}

/// Which submission tracepoint this kernel has (st_io_uring_form).
public enum IoUringSubmit: UInt8, Sendable {
  /// io_uring_submit_sqe(ctx, req, opcode, user_data, flags, ...) (5.10 .. 5.19).
  case sqeWithContext = 1
  /// io_uring_submit_sqe(req, force_nonblock) (6.0 .. 6.3).
  case sqeWithRequest = 2
  /// io_uring_submit_req(req) (6.4 ..).
  case request = 3

  /// The tracepoint, and the program in socktrace.bpf.c attached to it.
  public var tracepoint: String { self == .request ? "io_uring_submit_req" : "io_uring_submit_sqe" }
  public var program: String { "tp_" + tracepoint }
}

/// What the kernel was found to allow: each fact measured by `KernelProbes`.
public struct ProbeFacts: Equatable, Sendable {
  /// Result of loading and attaching a trial fentry program, per function:
  /// 0 on success or a positive errno.
  public var fentry: [String: Int32] = [:]
  /// Whether the kernel has kprobes (the kprobe PMU or kprobe_events).
  public var kprobesSupported = false
  /// Kernel functions present in /proc/kallsyms (asked only when needed).
  public var kallsyms: Set<String> = []
  /// Whether the syscall tracepoints for socket(2) exist.
  public var syscallTracepoints = false
  /// Whether a tracefs was readable to look for them (nil: not looked at).
  public var tracefsReadable: Bool?
  /// Whether `sock_map_fd` is a function of its own (in BTF or kallsyms);
  /// false where it is inlined into `__sys_socket`, nil when not looked up.
  public var sockMapFDIsFunction: Bool?
  /// The io_uring tracepoints, nil when not looked up.
  public var ioUring: IoUringTracepoints?
  /// Whether the kernel has IORING_OP_SOCKET (enum io_uring_op in BTF).
  public var ioUringSocketOp = false
  /// IORING_OP_BIND and IORING_OP_LISTEN exist (6.11+).
  public var ioUringBindListen = false
  /// Whether the kernel runs 32-bit x86 syscalls (__ia32_sys_socketcall in BTF).
  public var ia32 = false
  /// Whether tracepoint programs may call bpf_loop (5.17+): the fd-table
  /// walks of the tracepoint rung's releases need it.
  public var bpfLoop = false
  /// Failure causes (issue 22): whether the kernel has modules
  /// (__request_module in BTF: the module_request tracepoint), and which
  /// LSM socket hooks it has (`AttachPlan.lsmFunctions` found in BTF).
  public var moduleRequest = false
  public var lsmFunctions: Set<String> = []

  public init(
    fentry: [String: Int32] = [:], kprobesSupported: Bool = false, kallsyms: Set<String> = [],
    syscallTracepoints: Bool = false, sockMapFDIsFunction: Bool? = nil,
    ioUring: IoUringTracepoints? = nil, ioUringSocketOp: Bool = false, ia32: Bool = false
  ) {
    self.ioUring = ioUring
    self.ioUringSocketOp = ioUringSocketOp
    self.ia32 = ia32
    self.fentry = fentry
    self.kprobesSupported = kprobesSupported
    self.kallsyms = kallsyms
    self.syscallTracepoints = syscallTracepoints
    self.sockMapFDIsFunction = sockMapFDIsFunction
  }
}

/// Which rung each hook uses, which programs to load, and why higher rungs
/// were passed over. Decided once, before load, from `ProbeFacts`.
public struct AttachPlan: Equatable, Sendable {
  /// One line of the plan: a hook of the socket path and how it is seen.
  public struct Hook: Equatable, Sendable {
    public var name: String
    public var rung: Rung?
    public var how: String
  }

  public var rung: Rung
  public var hooks: [Hook]
  /// Why each rung above the chosen one could not be used.
  public var passedOver: [(rung: Rung, reason: String)]
  /// Programs to load, by their names in socktrace.bpf.c.
  public var programs: Set<String>
  /// Paths to a new socket this plan cannot see, with the reason.
  public var blindSpots: [BlindSpot] = []
  /// How to read io_uring's tracepoints (st_config.io_uring_form), if hooked.
  public var ioUring: (submit: IoUringSubmit, complete: IoUringComplete)?
  /// Whether the ia32 hook (raw_syscalls) is attached.
  public var ia32 = false
  /// Failure causes this plan cannot name (or names only in part), with the reason.
  public var causeBlindSpots: [BlindSpot] = []
  /// Every blind spot: paths, then causes (the start record, doctor).
  public var allBlindSpots: [BlindSpot] { blindSpots + causeBlindSpots }

  public static func == (lhs: AttachPlan, rhs: AttachPlan) -> Bool {
    lhs.rung == rhs.rung && lhs.hooks == rhs.hooks && lhs.programs == rhs.programs
      && lhs.passedOver.map(\.rung) == rhs.passedOver.map(\.rung)
      && lhs.passedOver.map(\.reason) == rhs.passedOver.map(\.reason)
      && lhs.blindSpots == rhs.blindSpots && lhs.causeBlindSpots == rhs.causeBlindSpots && lhs.ia32 == rhs.ia32
      && lhs.ioUring?.submit == rhs.ioUring?.submit && lhs.ioUring?.complete == rhs.ioUring?.complete
  }

  init(
    rung: Rung, hooks: [Hook], passedOver: [(rung: Rung, reason: String)], programs: Set<String>
  ) {
    self.rung = rung
    self.hooks = hooks
    self.passedOver = passedOver
    self.programs = programs
  }

  /// The kernel functions the function rungs hook.
  public static let socketFunctions = ["__sys_socket", "__sock_create"]
  public static let releaseFunction = "__sock_release"
  /// security_socket_create/post_create: an LSM refused (function rungs).
  public static let securityFunctions = ["security_socket_create", "security_socket_post_create"]
  /// Each module's own socket hooks: the first that failed names the module.
  public static let moduleFunctions = [
    "apparmor_socket_create", "apparmor_socket_post_create", "selinux_socket_create",
    "selinux_socket_post_create", "bpf_lsm_socket_create", "bpf_lsm_socket_post_create",
    "smack_socket_post_create",
  ]
  public static let lsmFunctions = securityFunctions + moduleFunctions

  /// Programs every rung loads: the process lifecycle.
  static let commonPrograms: Set<String> = ["handle_fork", "handle_exec", "handle_exit"]

  /// Calls hooked together, on one line of the plan: at their kernel
  /// functions on the function rungs (bpf/hooks/call_functions.bpf.h), so
  /// that no syscall tracepoint puts every task's syscalls on the slow path
  /// there; at their syscall tracepoints on the tracepoint rung, or where a
  /// function is missing. io_uring calls other functions (do_accept,
  /// __sys_connect_file, ...): it is never counted twice.
  public struct CallGroup: Sendable {
    /// The plan's line: `socketpair/accept`, `bind/connect/listen/shutdown`.
    public var hook: String
    /// The kernel functions, each with the stem of its programs
    /// (`fentry_` / `fexit_` / `kprobe_` / `kretprobe_` + stem).
    public var functions: [(function: String, stem: String)]
    /// The syscall tracepoint programs that stand for them on rung 3.
    public var tracepointPrograms: [String]
    /// What the tracepoints see, for the plan's line.
    public var tracepointHow: String
  }

  /// socketpair(2) and accept(2)/accept4(2): on every run.
  public static let pairCalls = CallGroup(
    hook: "socketpair/accept",
    functions: [("__sys_socketpair", "sys_socketpair"), ("__sys_accept4", "sys_accept4")],
    tracepointPrograms: [
      "tp_enter_socketpair", "tp_exit_socketpair", "tp_enter_accept4", "tp_exit_accept4",
      "tp_enter_accept", "tp_exit_accept",
    ],
    tracepointHow: "syscall tracepoints")

  /// What each socket became (bind, connect, listen, shutdown): with lifecycle records.
  public static let socketCalls = CallGroup(
    hook: "bind/connect/listen/shutdown",
    functions: [
      ("__sys_bind", "sys_bind"), ("__sys_connect", "sys_connect"), ("__sys_listen", "sys_listen"),
      ("__sys_shutdown", "sys_shutdown"),
    ],
    tracepointPrograms: [
      "tp_enter_bind", "tp_exit_bind", "tp_enter_connect", "tp_exit_connect", "tp_enter_listen",
      "tp_exit_listen", "tp_enter_shutdown", "tp_exit_shutdown",
    ],
    tracepointHow: "syscall tracepoints: the address as passed, the inode from the fd table")

  /// Every kernel function a call group may hook.
  public static var callFunctions: [String] {
    (pairCalls.functions + socketCalls.functions).map(\.function)
  }

  /// The programs and plan line of `group` on `rung`: the function hooks
  /// when the rung has one for each of its functions, else the tracepoints
  /// with the reason.
  static func hook(_ group: CallGroup, rung: Rung, facts: ProbeFacts) -> (Hook, [String]) {
    let names = group.functions.map(\.function).joined(separator: ", ")
    let missing: [String]
    switch rung {
    case .fentry:
      missing = group.functions.map(\.function).filter { facts.fentry[$0] != 0 }
      if missing.isEmpty {
        return (
          Hook(name: group.hook, rung: .fentry, how: "fentry + fexit on \(names)"),
          group.functions.flatMap { ["fentry_\($0.stem)", "fexit_\($0.stem)"] }
        )
      }
    case .kprobe:
      missing = group.functions.map(\.function).filter { !facts.kallsyms.contains($0) }
      if missing.isEmpty {
        return (
          Hook(name: group.hook, rung: .kprobe, how: "kprobe + kretprobe on \(names)"),
          group.functions.flatMap { ["kprobe_\($0.stem)", "kretprobe_\($0.stem)"] }
        )
      }
    case .tracepoint:
      return (Hook(name: group.hook, rung: .tracepoint, how: group.tracepointHow), group.tracepointPrograms)
    }
    let place = rung == .fentry ? "the kernel's BTF" : "/proc/kallsyms"
    return (
      Hook(
        name: group.hook, rung: .tracepoint,
        how: "\(group.tracepointHow) (\(missing.joined(separator: ", ")) not in \(place))"),
      group.tracepointPrograms
    )
  }

  /// The tracepoint rung's releases: every way an fd table drops a file.
  static let releaseByReferencePrograms: Set<String> = [
    "tp_enter_close", "tp_exit_close", "tp_enter_dup2", "tp_enter_dup3",
  ]
  /// Those that walk an fd table (close_range, execve, exit): with bpf_loop (5.17+).
  static let releaseWalkPrograms: Set<String> = [
    "tp_enter_close_range", "tp_enter_execve", "tp_enter_execveat", "tp_exit_execve", "tp_exit_execveat",
    "exit_release_walk", "exit_release_recheck",
  ]

  /// Whether a release is the last fd reference going (the tracepoint rung's
  /// way), rather than the kernel's own __sock_release.
  public var releasesByReference: Bool { programs.contains("tp_enter_close") }

  /// Why `rung` cannot trace the socket path with these facts, or nil if it can.
  public static func unavailability(of rung: Rung, facts: ProbeFacts) -> String? {
    switch rung {
    case .fentry:
      for function in socketFunctions {
        guard let status = facts.fentry[function] else { return "not probed" }
        if status == 0 { continue }
        if status == 1 || status == 13 {  // EPERM, EACCES
          return "trial fentry on \(function) refused: \(errnoText(status)); "
            + "kernel lockdown forbids fentry/fexit"
        }
        if status == 2 { return "\(function) is not in the kernel's BTF" }
        return "trial fentry on \(function) failed: \(errnoText(status))"
      }
      return nil
    case .kprobe:
      guard facts.kprobesSupported else {
        return "kernel built without kprobes (no /sys/bus/event_source/devices/kprobe)"
      }
      for function in socketFunctions where !facts.kallsyms.contains(function) {
        return "\(function) is not in /proc/kallsyms"
      }
      return nil
    case .tracepoint:
      if facts.syscallTracepoints { return nil }
      // Only a readable tracefs without the event says the kernel lacks it.
      if facts.tracefsReadable == false {
        return "no readable tracefs (neither /sys/kernel/tracing nor /sys/kernel/debug/tracing can be read here)"
      }
      return "no syscalls/sys_enter_socket tracepoint (CONFIG_FTRACE_SYSCALLS)"
    }
  }

  /// Picks the rung: the one asked for, or with `.auto` the first that works
  /// of fentry, kprobe, tracepoint.
  public static func decide(
    _ choice: RungChoice, facts: ProbeFacts, lifecycle: Bool = true, ia32: Bool = false
  ) throws(TraceError) -> AttachPlan {
    var passedOver: [(rung: Rung, reason: String)] = []
    let candidates: [Rung]
    switch choice {
    case .auto: candidates = Rung.allCases
    case .fentry: candidates = [.fentry]
    case .kprobe: candidates = [.kprobe]
    case .tracepoint: candidates = [.tracepoint]
    }
    for rung in candidates {
      if let reason = unavailability(of: rung, facts: facts) {
        passedOver.append((rung, reason))
        continue
      }
      var plan = plan(for: rung, facts: facts, lifecycle: lifecycle, passedOver: passedOver)
      plan.addOtherPaths(facts: facts, ia32: ia32)
      plan.addCauseHooks(facts: facts)
      return plan
    }
    let reason = passedOver.map { "\($0.rung.rawValue): \($0.reason)" }.joined(separator: "; ")
    throw .rungUnavailable(rung: choice.rawValue, reason: reason)
  }

  static func plan(
    for rung: Rung, facts: ProbeFacts, lifecycle: Bool, passedOver: [(rung: Rung, reason: String)]
  ) -> AttachPlan {
    var programs = commonPrograms
    var hooks: [Hook] = []
    let measured = "measured from __sock_create's return to __sys_socket's return"
    let mapping: String
    switch facts.sockMapFDIsFunction {
    case .some(false): mapping = "inlined into __sys_socket (not in BTF or kallsyms here); \(measured)"
    case .some(true): mapping = "a function of its own here, not hooked; \(measured)"
    case .none: mapping = measured
    }
    switch rung {
    case .fentry:
      programs.formUnion([
        "fentry_sys_socket", "fexit_sys_socket", "fentry_sock_create", "fexit_sock_create",
      ])
      hooks = [
        Hook(name: "__sys_socket", rung: .fentry, how: "fentry + fexit"),
        Hook(name: "__sock_create", rung: .fentry, how: "fentry + fexit (kern=1: kernel sockets)"),
        Hook(name: "sock_map_fd", rung: .fentry, how: mapping),
      ]
    case .kprobe:
      programs.formUnion([
        "kprobe_sys_socket", "kretprobe_sys_socket", "kprobe_sock_create",
        "kretprobe_sock_create",
      ])
      hooks = [
        Hook(name: "__sys_socket", rung: .kprobe, how: "kprobe + kretprobe"),
        Hook(name: "__sock_create", rung: .kprobe, how: "kprobe + kretprobe (kern=1: kernel sockets)"),
        Hook(name: "sock_map_fd", rung: .kprobe, how: mapping),
      ]
    case .tracepoint:
      programs.formUnion(["tp_enter_socket", "tp_exit_socket"])
      hooks = [
        Hook(
          name: "__sys_socket", rung: .tracepoint,
          how: "syscalls/sys_enter_socket + sys_exit_socket"),
        Hook(
          name: "__sock_create", rung: nil,
          how: "not visible: no stage timings, failed stage or kernel sockets"),
        Hook(
          name: "sock_map_fd", rung: nil,
          how: (facts.sockMapFDIsFunction == false ? "inlined into __sys_socket here; " : "")
            + "not visible: the new socket and inode are read from the fd table at sys_exit_socket"),
      ]
    }
    let (pairHook, pairPrograms) = hook(pairCalls, rung: rung, facts: facts)
    hooks.append(pairHook)
    programs.formUnion(pairPrograms)
    if lifecycle {
      let (callHook, callPrograms) = hook(socketCalls, rung: rung, facts: facts)
      hooks.append(callHook)
      programs.formUnion(callPrograms)
      programs.insert("handle_inet_state")
      hooks.append(
        Hook(
          name: "connect outcome", rung: .tracepoint,
          how: "tp_btf inet_sock_set_state: a non-blocking TCP connect's handshake"))
      let releaseByFunction =
        (rung == .fentry && facts.fentry[releaseFunction] == 0)
        || (rung == .kprobe && facts.kallsyms.contains(releaseFunction))
      if releaseByFunction {
        programs.insert(rung == .fentry ? "fentry_sock_release" : "kprobe_sock_release")
        hooks.append(Hook(name: releaseFunction, rung: rung, how: "socket release"))
      } else {
        programs.formUnion(releaseByReferencePrograms)
        if facts.bpfLoop { programs.formUnion(releaseWalkPrograms) }
        hooks.append(
          Hook(
            name: releaseFunction, rung: .tracepoint,
            how: "the file's last reference leaving an fd table: close, dup2/dup3"
              + (facts.bpfLoop ? ", close_range, execve (close-on-exec), exit" : "")))
      }
    }
    hooks.append(
      Hook(name: "process", rung: .tracepoint, how: "tp_btf sched_process_fork/exec/exit"))
    var plan = AttachPlan(rung: rung, hooks: hooks, passedOver: passedOver, programs: programs)
    if plan.releasesByReference {
      plan.blindSpots.append(
        BlindSpot(
          path: .releaseElsewhere,
          reason: "no hook sees __sock_release: a last reference dropped by another thread's syscall still "
            + "using the socket, an SCM_RIGHTS message discarded in flight or io_uring's close"
            + (facts.bpfLoop ? "" : ", or by close_range, an exec's close-on-exec or an exit (no bpf_loop before 5.17)")
            + " gives no release"))
    }
    return plan
  }
}

extension AttachPlan {
  /// io_uring and the 32-bit ABI: hooked where the kernel allows, otherwise
  /// listed as blind spots. Kernel sockets are blind on the tracepoint rung.
  mutating func addOtherPaths(facts: ProbeFacts, ia32 wantIA32: Bool) {
    let pairHook = hooks.first { $0.name == Self.pairCalls.hook }
    let index = hooks.firstIndex { $0.name == Self.pairCalls.hook }.map { $0 + 1 } ?? hooks.endIndex
    var added: [Hook] = []
    if rung == .tracepoint {
      blindSpots.append(
        BlindSpot(
          path: .kernel,
          reason: "the tracepoint rung has no hook on __sock_create: sockets the kernel makes for itself are not seen"))
    }
    switch facts.ioUring {
    case .known(let submit, let complete):
      ioUring = (submit, complete)
      programs.formUnion([submit.program, "tp_io_uring_complete"])
      let ops = facts.ioUringSocketOp ? "IORING_OP_SOCKET, IORING_OP_ACCEPT" : "IORING_OP_ACCEPT"
      added.append(
        Hook(
          name: "io_uring", rung: .tracepoint,
          how: "tp_btf \(submit.tracepoint) + io_uring_complete (\(ops)); fd and inode at completion"))
    case .unrecognised(let reason):
      if facts.ioUringSocketOp { blindSpots.append(BlindSpot(path: .ioUringSocket, reason: reason)) }
      blindSpots.append(BlindSpot(path: .ioUringAccept, reason: reason))
    case .absent, nil:
      break
    }
    if let ioUring = facts.ioUring, ioUring != .absent {
      let reason = "io_uring runs it in the kernel (io_connect/io_bind/io_listen): no syscall tracepoint sees it"
      blindSpots.append(BlindSpot(path: .ioUringConnect, reason: "IORING_OP_CONNECT: " + reason))
      if facts.ioUringBindListen {
        blindSpots.append(BlindSpot(path: .ioUringBind, reason: "IORING_OP_BIND: " + reason))
        blindSpots.append(BlindSpot(path: .ioUringListen, reason: "IORING_OP_LISTEN: " + reason))
      }
    }
    if facts.ia32 {
      if wantIA32 {
        ia32 = true
        programs.formUnion(["raw_ia32_enter", "raw_ia32_exit"])
        added.append(
          Hook(
            name: "ia32", rung: .tracepoint,
            how: "raw_syscalls sys_enter + sys_exit: 32-bit socket, socketpair, accept4, socketcall"
              + (rung == .tracepoint ? "" : " (socket's stages from __sys_socket)")
              + (pairHook?.rung == .tracepoint || pairHook == nil
                ? "" : "; finished by \(Self.pairCalls.functions.map(\.function).joined(separator: ", "))")))
      } else {
        let reason =
          "32-bit syscalls (int $0x80) skip the syscalls:* tracepoints; --ia32 on hooks raw_syscalls"
        // The function rungs see 32-bit socket() at __sys_socket, and
        // socketpair and accept at their functions when hooked there (via ia32).
        if rung == .tracepoint { blindSpots.append(BlindSpot(path: .ia32Socket, reason: reason)) }
        if pairHook?.rung == .tracepoint || pairHook == nil {
          blindSpots.append(BlindSpot(path: .ia32Socketpair, reason: reason))
          blindSpots.append(BlindSpot(path: .ia32Accept, reason: reason))
        }
      }
    }
    hooks.insert(contentsOf: added, at: index)
    // Two protocol-private ways to a new descriptor pass neither socket(2)'s
    // tracepoints nor a joined __sys_socket on any rung. Listed on every kernel:
    // their modules (sctp, kcm) load on first use, so absent now says nothing.
    blindSpots.append(
      BlindSpot(
        path: .sctpPeeloff,
        reason: "getsockopt(SCTP_SOCKOPT_PEELOFF) makes a socket with sock_create + sock_alloc_file; no hook sees it"))
    blindSpots.append(
      BlindSpot(
        path: .kcmClone, reason: "ioctl(SIOCKCMCLONE) on AF_KCM makes a socket in kcm_clone; no hook sees it"))
  }
}

extension AttachPlan {
  /// Failure causes (issue 22): the hooks that see what the arguments and the
  /// errno cannot tell, and what stays blind on this rung.
  mutating func addCauseHooks(facts: ProbeFacts) {
    if facts.moduleRequest {
      programs.insert("tp_module_request")
      hooks.append(
        Hook(
          name: "module_request", rung: .tracepoint,
          how: "tp_btf module_request: the module a failing socket call asked for (net-pf-N)"))
    }
    switch rung {
    case .fentry, .kprobe:
      let prefix = rung == .fentry ? "fexit_" : "kretprobe_"
      // The kprobe rung attaches by kallsyms name (a static function may be
      // renamed by LTO); a kretprobe on bpf_lsm_* would see the stub's 0.
      let present = Self.lsmFunctions.filter {
        facts.lsmFunctions.contains($0)
          && (rung == .fentry || (facts.kallsyms.contains($0) && !$0.hasPrefix("bpf_lsm_")))
      }
      programs.formUnion(present.map { prefix + $0 })
      hooks.append(
        Hook(
          name: "failure cause", rung: rung,
          how: (rung == .fentry ? "fexit " : "kretprobe ")
            + (present.isEmpty ? "(none found)" : present.joined(separator: ", "))))
      // seccomp refuses a call before __sys_socket runs: only a syscall
      // tracepoint would see it, and this rung attaches none (every task's
      // syscalls would take the traced slow path for it).
      causeBlindSpots.append(
        BlindSpot(
          path: .causeSeccomp,
          reason: "a socket call a seccomp filter refused never reaches __sys_*; the function rungs attach no "
            + "syscall tracepoint, so it is not recorded (the tracepoint rung records it)"))
      let named = present.filter { Self.moduleFunctions.contains($0) }
      if !present.contains("security_socket_create") {
        causeBlindSpots.append(
          BlindSpot(
            path: .causeLSM,
            reason: "security_socket_create is not in this kernel's BTF: an LSM's refusal is inferred from the errno"))
      } else if named.isEmpty {
        causeBlindSpots.append(
          BlindSpot(
            path: .causeLSM,
            reason: "no module's socket hook (apparmor, selinux, bpf_lsm, smack) in BTF: lsm is not named"))
      } else if rung == .kprobe && facts.lsmFunctions.contains("bpf_lsm_socket_create") {
        causeBlindSpots.append(
          BlindSpot(
            path: .causeLSM,
            reason: "a kretprobe on bpf_lsm_socket_create sees the stub's 0, not the BPF LSM program's verdict: "
              + "a BPF LSM refusal is lsm without a module on the kprobe rung"))
      }
    case .tracepoint:
      causeBlindSpots.append(
        BlindSpot(
          path: .causeLSM,
          reason: "the tracepoint rung cannot tell which security module refused: an EPERM/EACCES no missing "
            + "capability explains is lsm without a module"))
    }
  }
}
