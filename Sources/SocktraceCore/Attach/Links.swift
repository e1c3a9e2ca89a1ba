import CLibBPF
import CSocktrace
import Glibc

/// The attached programs: owns each `bpf_link`; `deinit` (or `detach()`)
/// destroys them, which detaches the programs from the kernel.
public final class Links {
  private var links: [OpaquePointer] = []

  public init() {}

  deinit { detach() }

  /// `bpf_program__attach` for each program of `plan` in `object`.
  func attach(_ plan: AttachPlan, in object: BPFObject) throws(TraceError) {
    for name in plan.programs.sorted() {
      guard let program = object.program(named: name) else {
        throw .libbpf(step: "finding", object: "program \(name)", errno: ENOENT, detail: "")
      }
      let link = bpf_program__attach(program)
      guard let link, libbpf_get_error(UnsafeRawPointer(link)) == 0 else {
        throw .libbpf(step: "attaching", object: "program \(name)", errno: errno, detail: lastWarning())
      }
      links.append(link)
    }
  }

  public var count: Int { links.count }

  /// Detaches every program, all at once (st_destroy_links).
  public func detach() {
    var pending: [OpaquePointer?] = links
    links.removeAll()
    pending.withUnsafeMutableBufferPointer { st_destroy_links($0.baseAddress, Int32($0.count)) }
  }
}
