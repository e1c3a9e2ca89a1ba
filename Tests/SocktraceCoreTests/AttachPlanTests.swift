import Testing

@testable import SocktraceCore

@Suite struct AttachPlanTests {
  static let lockedDown = ProbeFacts(
    fentry: ["__sys_socket": 1, "__sock_create": 1, "__sock_release": 1],
    kprobesSupported: false, syscallTracepoints: true)
  static let distribution: ProbeFacts = {
    var facts = ProbeFacts(
      fentry: ["__sys_socket": 0, "__sock_create": 0, "__sock_release": 0],
      kprobesSupported: true, kallsyms: ["__sys_socket", "__sock_create", "__sock_release"],
      syscallTracepoints: true, sockMapFDIsFunction: false)
    for function in AttachPlan.callFunctions {
      facts.fentry[function] = 0
      facts.kallsyms.insert(function)
    }
    return facts
  }()

  /// The syscall tracepoint programs: on a function rung none is loaded, so
  /// no task's syscalls take the traced slow path.
  static let syscallTracepoints: Set<String> = [
    "tp_enter_socket", "tp_exit_socket", "tp_enter_socketpair", "tp_exit_socketpair",
    "tp_enter_accept4", "tp_exit_accept4", "tp_enter_accept", "tp_exit_accept", "tp_enter_bind",
    "tp_exit_bind", "tp_enter_connect", "tp_exit_connect", "tp_enter_listen", "tp_exit_listen",
    "tp_enter_shutdown", "tp_exit_shutdown", "tp_enter_close",
  ]

  @Test(arguments: [RungChoice.fentry, .kprobe])
  func functionRungsHookNoSyscallTracepoint(choice: RungChoice) throws {
    let plan = try AttachPlan.decide(choice, facts: Self.distribution)
    #expect(plan.programs.isDisjoint(with: Self.syscallTracepoints))
    let prefix = choice == .fentry ? "fentry_" : "kprobe_"
    #expect(
      plan.programs.isSuperset(
        of: [
          "sys_socketpair", "sys_accept4", "sys_bind", "sys_connect", "sys_listen",
          "sys_shutdown",
        ].map { prefix + $0 }))
    for name in ["socketpair/accept", "bind/connect/listen/shutdown"] {
      #expect(plan.hooks.first { $0.name == name }?.rung == Rung(rawValue: choice.rawValue))
    }
  }

  @Test func aMissingCallFunctionFallsBackToItsTracepointsWithTheReason() throws {
    var facts = Self.distribution
    facts.kallsyms.remove("__sys_connect")
    let plan = try AttachPlan.decide(.kprobe, facts: facts)
    let calls = try #require(plan.hooks.first { $0.name == "bind/connect/listen/shutdown" })
    #expect(calls.rung == .tracepoint && calls.how.contains("__sys_connect not in /proc/kallsyms"))
    #expect(plan.programs.isSuperset(of: ["tp_enter_connect", "tp_exit_bind", "kprobe_sys_accept4"]))
    #expect(!plan.programs.contains("kprobe_sys_bind"))
  }

  @Test func autoFallsBackToTracepointsUnderLockdown() throws {
    let plan = try AttachPlan.decide(.auto, facts: Self.lockedDown)
    #expect(plan.rung == .tracepoint)
    #expect(plan.passedOver.map(\.rung) == [.fentry, .kprobe])
    #expect(plan.passedOver[0].reason.contains("lockdown"))
    #expect(plan.passedOver[1].reason.contains("without kprobes"))
    #expect(plan.programs.isSuperset(of: ["tp_enter_socket", "tp_exit_socket", "tp_enter_close"]))
    #expect(plan.programs.isDisjoint(with: ["fentry_sys_socket", "kprobe_sys_socket"]))
  }

  @Test func autoPrefersFentryWhereItLoads() throws {
    let plan = try AttachPlan.decide(.auto, facts: Self.distribution)
    #expect(plan.rung == .fentry)
    #expect(plan.passedOver.isEmpty)
    #expect(plan.programs.isSuperset(of: ["fentry_sys_socket", "fexit_sock_create", "fentry_sock_release"]))
    #expect(!plan.programs.contains("tp_enter_socket"))
    let mapping = try #require(plan.hooks.first { $0.name == "sock_map_fd" })
    #expect(mapping.how.hasPrefix("inlined into __sys_socket"))
    var older = Self.distribution
    older.sockMapFDIsFunction = true
    let olderPlan = try AttachPlan.decide(.auto, facts: older)
    #expect(olderPlan.hooks.first { $0.name == "sock_map_fd" }?.how.hasPrefix("a function of its own") == true)
  }

  @Test func kprobeWhenFentryIsRefused() throws {
    var facts = Self.distribution
    facts.fentry["__sys_socket"] = 1
    let plan = try AttachPlan.decide(.auto, facts: facts)
    #expect(plan.rung == .kprobe)
    #expect(plan.programs.isSuperset(of: ["kprobe_sys_socket", "kretprobe_sock_create", "kprobe_sock_release"]))
  }

  @Test func forcedRungThatIsUnavailableIsAnError() {
    #expect(throws: TraceError.self) { try AttachPlan.decide(.fentry, facts: Self.lockedDown) }
    #expect(throws: TraceError.self) { try AttachPlan.decide(.kprobe, facts: Self.lockedDown) }
    #expect(throws: TraceError.self) { try AttachPlan.decide(.auto, facts: ProbeFacts()) }
  }

  @Test func forcedTracepointOnADistributionKernel() throws {
    let plan = try AttachPlan.decide(.tracepoint, facts: Self.distribution)
    #expect(plan.rung == .tracepoint)
    #expect(plan.passedOver.isEmpty)
  }

  @Test func socketsOnlyLoadsNoReleaseHooks() throws {
    let plan = try AttachPlan.decide(.auto, facts: Self.lockedDown, lifecycle: false)
    #expect(!plan.programs.contains("tp_enter_close"))
    #expect(!plan.hooks.contains { $0.name == AttachPlan.releaseFunction })
  }

  @Test func missingBTFFunctionIsExplained() {
    let facts = ProbeFacts(fentry: ["__sys_socket": 2, "__sock_create": 0])
    #expect(AttachPlan.unavailability(of: .fentry, facts: facts) == "__sys_socket is not in the kernel's BTF")
  }

  /// Every program a plan names exists in the compiled object.
  @Test(arguments: [RungChoice.fentry, .kprobe, .tracepoint])
  func plannedProgramsExistInTheObject(choice: RungChoice) throws {
    let plan = try AttachPlan.decide(choice, facts: Self.distribution)
    let object = try BPFObject()
    #expect(Set(object.programNames).isSuperset(of: plan.programs))
  }
}
