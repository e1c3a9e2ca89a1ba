import Testing

@testable import SocktraceCore

/// io_uring's tracepoint forms and the blind spots of each plan: pure values.
@Suite struct OtherPathsTests {
  // Parameter kinds (1 pointer, 2 other) as the real kernels' BTF declares them
  // (bpftool btf dump of Debian's vmlinux, btf_trace_io_uring_*).
  static let kernels: [(String, [UInt8]?, [UInt8]?, [UInt8]?, IoUringTracepoints)] = [
    // 5.10.262: submit_sqe(ctx, req, opcode, user_data, flags, nonblock, sq), complete(ctx, user_data, res, cflags)
    ("5.10", [1, 2, 2, 2], nil, [1, 1, 2, 2, 2, 2, 2], .known(submit: .sqeWithContext, complete: .withoutRequest)),
    // 6.1: submit_sqe(req, nonblock), complete(ctx, req, user_data, res, cflags, extra1, extra2)
    ("6.1", [1, 1, 2, 2, 2, 2, 2], nil, [1, 2], .known(submit: .sqeWithRequest, complete: .arguments)),
    // 6.12 .. 7.2: submit_req(req), complete(ctx, req, cqe)
    ("7.2", [1, 1, 1], [1], nil, .known(submit: .request, complete: .cqePointer)),
    // 5.10.0 as first released: complete(ctx, user_data, res): not read, so a blind spot
    ("5.10.0", [1, 2, 2], nil, [1, 2, 2, 2, 2], .unrecognised("")),
    ("no io_uring", nil, nil, nil, .absent),
  ]

  @Test(arguments: kernels.indices)
  func classifiesEachKernelsSignatures(index: Int) {
    let (name, complete, request, sqe, want) = Self.kernels[index]
    let got = IoUringTracepoints.classify(complete: complete, submitRequest: request, submitSQE: sqe)
    switch (got, want) {
    case (.unrecognised, .unrecognised): break
    default: #expect(got == want, "\(name)")
    }
  }

  /// Blind on every rung and kernel (AttachPlan.addOtherPaths).
  static let clones: [SocketPath] = [.sctpPeeloff, .kcmClone]

  static func facts(rung: Rung, ioUring: IoUringTracepoints, ia32: Bool = true) -> ProbeFacts {
    var facts = ProbeFacts(
      fentry: ["__sys_socket": rung == .fentry ? 0 : 1, "__sock_create": rung == .fentry ? 0 : 1],
      syscallTracepoints: true, ioUring: ioUring, ioUringSocketOp: true, ia32: ia32)
    facts.fentry[AttachPlan.releaseFunction] = 0
    for function in AttachPlan.callFunctions { facts.fentry[function] = rung == .fentry ? 0 : 1 }
    return facts
  }

  @Test func tracepointRungIsBlindOnlyToKernelSockets() throws {
    let plan = try AttachPlan.decide(
      .tracepoint, facts: Self.facts(rung: .tracepoint, ioUring: .known(submit: .request, complete: .cqePointer)),
      ia32: true)
    #expect(plan.blindSpots.map(\.path) == [.releaseElsewhere, .kernel, .ioUringConnect] + Self.clones)
    #expect(
      plan.programs.isSuperset(of: [
        "tp_io_uring_submit_req", "tp_io_uring_complete", "raw_ia32_enter", "raw_ia32_exit",
      ]))
    #expect(plan.ioUring?.submit == .request && plan.ioUring?.complete == .cqePointer)
    #expect(plan.hooks.map(\.name).contains("io_uring") && plan.hooks.map(\.name).contains("ia32"))
  }

  @Test func fentryRungSeesEveryPathButTheProtocolClones() throws {
    let plan = try AttachPlan.decide(
      .fentry, facts: Self.facts(rung: .fentry, ioUring: .known(submit: .sqeWithRequest, complete: .arguments)),
      ia32: true)
    #expect(plan.rung == .fentry)
    #expect(plan.blindSpots.map(\.path) == [.ioUringConnect] + Self.clones)
    #expect(plan.programs.contains("tp_io_uring_submit_sqe"))
  }

  @Test func ia32OffListsThe32BitPathsWithAReason() throws {
    let tracepoint = try AttachPlan.decide(
      .tracepoint, facts: Self.facts(rung: .tracepoint, ioUring: .absent), ia32: false)
    #expect(
      tracepoint.blindSpots.map(\.path)
        == [.releaseElsewhere, .kernel, .ia32Socket, .ia32Socketpair, .ia32Accept] + Self.clones)
    #expect(!tracepoint.programs.contains("raw_ia32_enter"))
    #expect(tracepoint.blindSpots.allSatisfy { !$0.reason.isEmpty })
    // A function rung sees 32-bit socket(), socketpair() and accept4() at
    // __sys_socket, __sys_socketpair and __sys_accept4: none is blind.
    let fentry = try AttachPlan.decide(.fentry, facts: Self.facts(rung: .fentry, ioUring: .absent), ia32: false)
    #expect(fentry.blindSpots.map(\.path) == Self.clones)
    // Where those functions are not hooked (not in BTF), the syscall
    // tracepoints stand in for them and the 32-bit calls are blind again.
    var missing = Self.facts(rung: .fentry, ioUring: .absent)
    missing.fentry["__sys_accept4"] = 2
    let fallback = try AttachPlan.decide(.fentry, facts: missing, ia32: false)
    #expect(fallback.blindSpots.map(\.path) == [.ia32Socketpair, .ia32Accept] + Self.clones)
  }

  @Test func unreadableIoUringSignaturesAreBlindSpots() throws {
    let plan = try AttachPlan.decide(
      .tracepoint, facts: Self.facts(rung: .tracepoint, ioUring: .unrecognised("odd signature")), ia32: true)
    #expect(
      plan.blindSpots.map(\.path)
        == [.releaseElsewhere, .kernel, .ioUringSocket, .ioUringAccept, .ioUringConnect] + Self.clones)
    #expect(plan.blindSpots.first { $0.path == .ioUringAccept }?.reason == "odd signature")
    #expect(!plan.programs.contains("tp_io_uring_complete"))
  }

  @Test func noIA32OnTheKernelIsNoBlindSpot() throws {
    let plan = try AttachPlan.decide(
      .tracepoint, facts: Self.facts(rung: .tracepoint, ioUring: .absent, ia32: false), ia32: true)
    #expect(plan.blindSpots.map(\.path) == [.releaseElsewhere, .kernel] + Self.clones)
    #expect(!plan.ia32)
  }

  /// The tracepoint rung's releases: close and dup2/dup3 everywhere; the
  /// fd-table walks (close_range, exec, exit) where bpf_loop is, else said.
  @Test(arguments: [false, true])
  func releasesByReferenceWalkWhereBPFLoopIs(bpfLoop: Bool) throws {
    var facts = Self.facts(rung: .tracepoint, ioUring: .absent)
    facts.bpfLoop = bpfLoop
    let plan = try AttachPlan.decide(.tracepoint, facts: facts, ia32: false)
    #expect(plan.releasesByReference)
    #expect(plan.programs.isSuperset(of: ["tp_enter_close", "tp_enter_dup2", "tp_enter_dup3"]))
    #expect(plan.programs.contains("exit_release_walk") == bpfLoop)
    let reason = try #require(plan.blindSpots.first { $0.path == .releaseElsewhere }?.reason)
    #expect(reason.contains("an exit") != bpfLoop)
    let fentry = try AttachPlan.decide(.fentry, facts: Self.facts(rung: .fentry, ioUring: .absent), ia32: false)
    #expect(!fentry.releasesByReference && !fentry.programs.contains("tp_enter_close"))
  }

  /// io_uring's connect, bind and listen make no bind/connect/listen record:
  /// declared where the kernel has them (bind and listen since 6.11).
  @Test func ioUringCallsOnSocketsAreBlindSpots() throws {
    var facts = Self.facts(rung: .fentry, ioUring: .known(submit: .request, complete: .cqePointer))
    facts.ioUringBindListen = true
    let plan = try AttachPlan.decide(.fentry, facts: facts, ia32: true)
    #expect(plan.blindSpots.map(\.path) == [.ioUringConnect, .ioUringBind, .ioUringListen] + Self.clones)
    #expect(KernelProbes.kernelAtLeast(6, 11, release: "6.12.118+deb12-amd64"))
    #expect(!KernelProbes.kernelAtLeast(6, 11, release: "6.1.0-57-amd64"))
    #expect(KernelProbes.kernelAtLeast(6, 11, release: "7.2.13+deb14-amd64"))
  }
}
