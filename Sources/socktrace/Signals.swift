import Glibc
import Synchronization

/// The signal that asked the tracer to stop, or 0. Set from a signal handler,
/// so it is an atomic and the handler does nothing else.
let stopSignal = Atomic<Int32>(0)

enum Signals {
  /// SIGINT and SIGTERM stop tracing cleanly: the loop sees the flag within
  /// one poll interval, drains, detaches and prints the summary.
  static func installStopHandlers() {
    // A parent may have left them blocked (a test runner's thread, a
    // supervisor): a tracer that cannot be stopped loses everything.
    var unblock = sigset_t()
    sigemptyset(&unblock)
    for signal in [SIGINT, SIGTERM] {
      sigaddset(&unblock, signal)
    }
    pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    for signal in [SIGINT, SIGTERM] {
      var action = sigaction()
      action.__sigaction_handler.sa_handler = { number in
        stopSignal.store(number, ordering: .relaxed)
      }
      sigemptyset(&action.sa_mask)
      action.sa_flags = 0  // no SA_RESTART: a blocked poll returns EINTR at once
      sigaction(signal, &action, nil)
    }
  }

  static var stopRequested: Bool { stopSignal.load(ordering: .relaxed) != 0 }
}

/// Set by SIGHUP in rotation and service mode: reopen the output file.
let reopenSignal = Atomic<Bool>(false)

extension Signals {
  /// SIGHUP reopens the output file (logrotate's signal after it renamed the
  /// file) instead of stopping: for -o FILE with rotation, and `serve`.
  static func installReopenHandler() {
    var unblock = sigset_t()
    sigemptyset(&unblock)
    sigaddset(&unblock, SIGHUP)
    pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in reopenSignal.store(true, ordering: .relaxed) }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0  // no SA_RESTART: a blocked poll returns at once
    sigaction(SIGHUP, &action, nil)
  }

  /// Whether a reopen was asked for since the last call.
  static func takeReopenRequest() -> Bool {
    reopenSignal.load(ordering: .relaxed) && reopenSignal.exchange(false, ordering: .relaxed)
  }
}
