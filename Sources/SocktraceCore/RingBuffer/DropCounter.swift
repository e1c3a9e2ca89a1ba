import CLibBPF
import Glibc

/// Sums the per-CPU count of records the BPF program could not reserve
/// because the ring buffer was full.
public struct DropCounter {
  let mapFD: Int32

  /// `bpf_map_lookup_elem` on the per-CPU array: one u64 per possible CPU.
  public func total() -> UInt64 {
    let cpus = Int(libbpf_num_possible_cpus())
    guard cpus > 0 else { return 0 }
    var values = [UInt64](repeating: 0, count: cpus)
    var key: UInt32 = 0
    let status = values.withUnsafeMutableBytes { bpf_map_lookup_elem(mapFD, &key, $0.baseAddress) }
    return status == 0 ? values.reduce(0, &+) : 0
  }
}
