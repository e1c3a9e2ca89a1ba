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
