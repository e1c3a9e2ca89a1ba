import ArgumentParser
import Glibc
import SocktraceCore

/// `socktrace doctor`: what this kernel allows, and the rung each hook would use.
struct Doctor: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Report what this kernel allows and how each hook would attach."
  )

  @Option(help: "The rung to plan for.")
  var attach: RungChoice = .auto

  @Option(help: "Plan with the 32-bit syscall hook on or off.")
  var ia32: Switch = .off

  func run() throws {
    var lines: [String] = []
    lines.append("kernel:      \(KernelProbes.kernelRelease)")
    let btf = KernelProbes.btfStatus()
    lines.append("btf:         " + (btf == 0 ? "yes (/sys/kernel/btf/vmlinux)" : "no: \(errnoText(btf))"))
    lines.append("lockdown:    " + (lockdownMode() ?? "unknown (securityfs not mounted)"))
    let missing = Privileges.missing()
    lines.append(
      "privileges:  "
        + (missing.isEmpty
          ? "ok (uid \(geteuid()))"
          : "missing \(missing.map(\.description).joined(separator: ", "))"))
    if missing.isEmpty {
      do {
        let mounted = try KernelProbes.ensureTracefs()
        lines.append("tracefs:     " + (mounted ? "mounted at /sys/kernel/tracing by socktrace" : "mounted"))
      } catch {
        lines.append("tracefs:     \(error)")
      }
    } else {
      lines.append("tracefs:     not checked without privileges")
    }
    // Measure every rung, not only the first that works.
    var facts = ProbeFacts()
    if btf == 0 && missing.isEmpty {
      for rung in [RungChoice.fentry, .kprobe, .tracepoint] {
        let measured = KernelProbes.facts(for: rung)
        facts.fentry.merge(measured.fentry) { $1 }
        facts.kprobesSupported = facts.kprobesSupported || measured.kprobesSupported
        facts.kallsyms.formUnion(measured.kallsyms)
        facts.syscallTracepoints = facts.syscallTracepoints || measured.syscallTracepoints
        if let readable = measured.tracefsReadable { facts.tracefsReadable = readable }
        if let isFunction = measured.sockMapFDIsFunction {
          facts.sockMapFDIsFunction = (facts.sockMapFDIsFunction ?? false) || isFunction
        }
      }
      KernelProbes.measureOtherPaths(&facts)
    }
    lines.append("rungs:")
    guard btf == 0 && missing.isEmpty else {
      // Nothing was measured: say so, rather than diagnose the kernel from nothing.
      let why = btf != 0 ? "without BTF" : "without privileges"
      for rung in Rung.allCases { lines.append("  \(rung.rawValue.padded(12)) not checked \(why)") }
      print(lines.joined(separator: "\n"))
      return
    }
    for rung in Rung.allCases {
      let reason = AttachPlan.unavailability(of: rung, facts: facts)
      lines.append("  \(rung.rawValue.padded(12)) " + (reason.map { "unavailable: \($0)" } ?? "available"))
    }
    do {
      let plan = try AttachPlan.decide(attach, facts: facts, ia32: ia32 == .on)
      lines.append("plan (--attach \(attach.rawValue)): \(plan.rung.rawValue)")
      for hook in plan.hooks {
        lines.append("  \(hook.name.padded(18)) \((hook.rung?.rawValue ?? "-").padded(11)) \(hook.how)")
      }
      lines.append("blind spots:" + (plan.allBlindSpots.isEmpty ? " none" : ""))
      for spot in plan.allBlindSpots {
        lines.append("  \(spot.path.rawValue.padded(18)) \(spot.reason)")
      }
    } catch {
      lines.append("plan (--attach \(attach.rawValue)): none: \(error)")
    }
    print(lines.joined(separator: "\n"))
  }

  /// The bracketed mode in /sys/kernel/security/lockdown, mounting securityfs
  /// first when it is not (root only; harmless).
  func lockdownMode() -> String? {
    if let mode = KernelProbes.lockdown { return mode }
    if access("/sys/kernel/security", F_OK) == 0,
      mount("securityfs", "/sys/kernel/security", "securityfs", 0, nil) == 0
    {
      return KernelProbes.lockdown
    }
    return nil
  }
}

extension String {
  func padded(_ width: Int) -> String {
    count >= width ? self : self + String(repeating: " ", count: width - count)
  }
}
