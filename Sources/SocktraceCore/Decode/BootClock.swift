import Glibc

/// Turns the kernel's boot-clock timestamps (`bpf_ktime_get_boot_ns`) into
/// wall-clock time. The offset is measured once, at start, not per event.
public struct BootClock: Sendable {
  /// CLOCK_REALTIME minus CLOCK_BOOTTIME, in nanoseconds.
  public let offsetNanoseconds: UInt64

  public init(offsetNanoseconds: UInt64) { self.offsetNanoseconds = offsetNanoseconds }

  /// Reads both clocks, the boot clock between two real-time reads, and keeps
  /// the midpoint.
  public static func measure() -> BootClock {
    let before = now(CLOCK_REALTIME)
    let boot = now(CLOCK_BOOTTIME)
    let after = now(CLOCK_REALTIME)
    return BootClock(offsetNanoseconds: (before / 2 + after / 2) &- boot)
  }

  public static func now(_ clock: clockid_t) -> UInt64 {
    var time = timespec()
    clock_gettime(clock, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
  }

  public func epochNanoseconds(boot: UInt64) -> UInt64 { boot &+ offsetNanoseconds }
}
