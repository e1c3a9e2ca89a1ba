import CLibBPF
import CSocktrace
import Glibc

/// The socktrace BPF object: opened from the bytes embedded at build time,
/// configured, loaded. Owns the `bpf_object`; `deinit` closes it (and with it
/// every program and map).
public final class BPFObject {
  let handle: OpaquePointer

  /// `bpf_object__open_mem` on the embedded object.
  public init() throws(TraceError) {
    let bytes = EmbeddedObject.bytes
    let opened = bytes.withUnsafeBytes { buffer -> OpaquePointer? in
      bpf_object__open_mem(buffer.baseAddress, buffer.count, nil)
    }
    guard let opened, libbpf_get_error(UnsafeRawPointer(opened)) == 0 else {
      throw .libbpf(step: "opening", object: "BPF object", errno: Glibc.errno, detail: lastWarning())
    }
    handle = opened
  }

  deinit { bpf_object__close(handle) }

  /// `bpf_object__find_program_by_name`; nil when the object has no such program.
  func program(named name: String) -> OpaquePointer? {
    bpf_object__find_program_by_name(handle, name)
  }

  /// `bpf_object__find_map_by_name`, checked: a nil map would crash inside libbpf.
  func map(named name: String) throws(TraceError) -> OpaquePointer {
    guard let map = bpf_object__find_map_by_name(handle, name) else {
      throw .libbpf(step: "finding", object: "map \(name)", errno: ENOENT, detail: "")
    }
    return map
  }

  /// Every program's name, in section order.
  var programNames: [String] {
    var names: [String] = []
    var program = bpf_object__next_program(handle, nil)
    while let current = program {
      names.append(String(cString: bpf_program__name(current)))
      program = bpf_object__next_program(handle, current)
    }
    return names
  }

  /// `bpf_program__set_autoload` for every program: load exactly `enabled`.
  func loadOnly(_ enabled: Set<String>) throws(TraceError) {
    var program = bpf_object__next_program(handle, nil)
    while let current = program {
      let name = String(cString: bpf_program__name(current))
      let status = bpf_program__set_autoload(current, enabled.contains(name))
      if status < 0 {
        throw .libbpf(step: "configuring", object: "program \(name)", errno: -status, detail: "")
      }
      program = bpf_object__next_program(handle, current)
    }
  }

  /// Writes the load-time settings into `.rodata` (before load).
  func setConfig(_ config: st_config) throws(TraceError) {
    let rodata = try map(named: ".rodata")
    var size = 0
    guard let initial = bpf_map__initial_value(rodata, &size),
      size >= MemoryLayout<st_config>.size
    else {
      throw .libbpf(step: "configuring", object: "map .rodata", errno: EINVAL, detail: "")
    }
    // `cfg` is the only variable in .rodata: it sits at offset 0.
    var contents = [UInt8](UnsafeRawBufferPointer(start: initial, count: size))
    contents.withUnsafeMutableBytes { $0.storeBytes(of: config, as: st_config.self) }
    let status = contents.withUnsafeBytes { bpf_map__set_initial_value(rodata, $0.baseAddress, size) }
    if status < 0 {
      throw .libbpf(step: "configuring", object: "map .rodata", errno: -status, detail: "")
    }
  }

  /// `bpf_map__set_max_entries` on the ring buffer: bytes, a power of two.
  func setRingBufferSize(_ bytes: UInt32) throws(TraceError) {
    let status = bpf_map__set_max_entries(try map(named: "events"), bytes)
    if status < 0 {
      throw .libbpf(step: "sizing", object: "ring buffer", errno: -status, detail: "")
    }
  }

  /// `max_entries` of a hash map (how many live sockets `births` follows).
  func setMaxEntries(_ name: String, _ entries: UInt32) throws(TraceError) {
    let status = bpf_map__set_max_entries(try map(named: name), entries)
    if status < 0 { throw .libbpf(step: "sizing", object: "map \(name)", errno: -status, detail: "") }
  }

  /// One entry for each map a run never touches (its programs' code for it is
  /// pruned by the verifier): no megabytes preallocated for nothing.
  func shrinkUnused(_ names: [String]) throws(TraceError) {
    for name in names {
      let status = bpf_map__set_max_entries(try map(named: name), 1)
      if status < 0 { throw .libbpf(step: "sizing", object: "map \(name)", errno: -status, detail: "") }
    }
  }

  /// `bpf_object__load`: CO-RE relocation and the verifier.
  func load() throws(TraceError) {
    let status = bpf_object__load(handle)
    if status < 0 {
      throw .libbpf(step: "loading", object: "BPF programs", errno: -status, detail: lastWarning())
    }
  }

  /// Runs a loaded program once in this thread (`BPF_PROG_TEST_RUN`, no
  /// context) and returns what it returned: for programs never attached.
  func runOnce(program name: String) throws(TraceError) -> UInt32 {
    guard let program = program(named: name), bpf_program__fd(program) >= 0 else {
      throw .libbpf(step: "finding", object: "program \(name)", errno: ENOENT, detail: "not loaded")
    }
    var options = bpf_test_run_opts()
    options.sz = MemoryLayout<bpf_test_run_opts>.size
    let status = bpf_prog_test_run_opts(bpf_program__fd(program), &options)
    if status < 0 {
      throw .libbpf(step: "running", object: "program \(name)", errno: -status, detail: lastWarning())
    }
    return options.retval
  }

  /// `bpf_map__fd` of a loaded map.
  func mapFD(named name: String) throws(TraceError) -> Int32 {
    let fd = bpf_map__fd(try map(named: name))
    if fd < 0 {
      throw .libbpf(step: "finding", object: "map \(name)", errno: -fd, detail: "not loaded")
    }
    return fd
  }
}

/// libbpf's last warning line, hidden from the user unless `--verbose`.
func lastWarning() -> String {
  String(cString: st_libbpf_last_warning()).trimmingTrailingWhitespace()
}

extension String {
  func trimmingTrailingWhitespace() -> String {
    var result = self
    while let last = result.last, last.isWhitespace { result.removeLast() }
    return result
  }
}
