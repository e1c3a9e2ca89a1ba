import Testing

@testable import SocktraceCore

@Suite struct KernelProbesTests {
  /// __sys_socket is a real symbol on every kernel socktrace supports;
  /// sock_map_fd is inlined into it on 6.1 .. 6.18.
  @Test func kallsymsFindsRealSymbolsOnly() {
    let found = KernelProbes.kallsyms(containing: ["__sys_socket", "no_such_symbol_socktrace", "__sock_create"])
    #expect(found == ["__sys_socket", "__sock_create"])
  }

  @Test func kernelReleaseAndHostAreReadable() {
    #expect(!KernelProbes.kernelRelease.isEmpty)
    #expect(KernelProbes.kernelRelease.first?.isNumber == true)
  }
}
