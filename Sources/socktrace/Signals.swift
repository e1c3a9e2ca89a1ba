import Glibc
import Synchronization

/// What the signal handlers tell the run loop. Signal handlers can capture
/// nothing, so this state is static, and atomic: a handler only stores.
enum Signals {
  /// The signal that asked the tracer to stop, or 0.
  private static let stopSignal = Atomic<Int32>(0)
  /// How many stop signals have arrived: a second one forces a quick exit.
  private static let stopSignalCount = Atomic<Int32>(0)
  /// Whether the last stop signal was sent by a process with kill(2) to the
  /// tracer (SI_USER, SI_QUEUE, SI_TKILL) rather than by the terminal to its
  /// whole foreground process group (SI_KERNEL), which the command is in too.
  private static let stopSignalWasSent = Atomic<Bool>(false)
  /// Set by SIGHUP in rotation and service mode: reopen the output file.
  private static let reopenSignal = Atomic<Bool>(false)

  /// SIGINT, SIGTERM, SIGQUIT and SIGHUP stop tracing cleanly: the loop sees
  /// the flag within one poll interval, drains, detaches and prints the
  /// summary. A second one forces a quick exit. SIGHUP stops (a dropped ssh
  /// session ends the run with its `end` record) unless `hangupStops` is
  /// false: a mode that reopens its output on SIGHUP installs its own handler.
  /// SIGPIPE is ignored: a closed output is a write error, counted and reported.
  static func installStopHandlers(hangupStops: Bool) {
    let stopSignals = [SIGINT, SIGTERM, SIGQUIT] + (hangupStops ? [SIGHUP] : [])
    // A parent may have left them blocked (a test runner's thread, a
    // supervisor): a tracer that cannot be stopped loses everything.
    var unblock = sigset_t()
    sigemptyset(&unblock)
    for signal in stopSignals {
      sigaddset(&unblock, signal)
    }
    pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    for signal in stopSignals {
      var action = sigaction()
      action.__sigaction_handler.sa_sigaction = { number, info, _ in
        let code = info?.pointee.si_code ?? Int32(SI_KERNEL)
        Signals.stopSignalWasSent.store(
          code == Int32(SI_USER) || code == Int32(SI_QUEUE) || code == Int32(SI_TKILL), ordering: .relaxed)
        Signals.stopSignal.store(number, ordering: .relaxed)
        Signals.stopSignalCount.add(1, ordering: .relaxed)
      }
      sigemptyset(&action.sa_mask)
      action.sa_flags = SA_SIGINFO  // no SA_RESTART: a blocked poll or write returns EINTR at once
      sigaction(signal, &action, nil)
    }
    signal(SIGPIPE, SIG_IGN)
  }

  static var stopRequested: Bool { stopSignal.load(ordering: .relaxed) != 0 }
  /// A second stop signal arrived: stop waiting, draining and writing.
  static var forced: Bool { stopSignalCount.load(ordering: .relaxed) >= 2 }
  static var signalNumber: Int32 { stopSignal.load(ordering: .relaxed) }
  /// The stop signal was sent to socktrace alone (kill), not by the terminal.
  static var stopWasSent: Bool { stopSignalWasSent.load(ordering: .relaxed) }
}

/// Makes fds 0, 1 and 2 valid: a closed one (`2>&-`) is reopened to
/// /dev/null, so the output file, a BPF map or a pipe never becomes stderr.
func reopenClosedStandardFDs() {
  for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
    let opened = open("/dev/null", O_RDWR)
    if opened >= 0 && opened != fd {
      dup2(opened, fd)
      close(opened)
    }
  }
}

extension Signals {
  /// SIGHUP reopens the output file (logrotate's signal after it renamed the
  /// file) instead of stopping: for -o FILE with rotation, and `serve`.
  static func installReopenHandler() {
    var unblock = sigset_t()
    sigemptyset(&unblock)
    sigaddset(&unblock, SIGHUP)
    pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in Signals.reopenSignal.store(true, ordering: .relaxed) }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0  // no SA_RESTART: a blocked poll returns at once
    sigaction(SIGHUP, &action, nil)
  }

  /// Whether a reopen was asked for since the last call.
  static func takeReopenRequest() -> Bool {
    reopenSignal.load(ordering: .relaxed) && reopenSignal.exchange(false, ordering: .relaxed)
  }
}
