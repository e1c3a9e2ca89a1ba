import Testing

@testable import SocktraceCore

@Suite struct FilterValuesTests {
  @Test(arguments: [
    ("inet", 2), ("AF_INET", 2), ("af_inet6", 10), ("unix", 1), ("local", 1), ("netlink", 16), ("packet", 17),
    ("vsock", 40), ("44", 44),
  ])
  func families(text: String, number: Int32) {
    #expect(FilterValues.family(text) == number)
  }

  @Test(arguments: ["", "inet7", "AF_", "64", "-1"])
  func unknownFamiliesAreRejected(text: String) {
    #expect(FilterValues.family(text) == nil)
  }

  @Test func typesUidsAndNamespaces() {
    #expect(FilterValues.type("stream") == 1)
    #expect(FilterValues.type("SOCK_DGRAM") == 2)
    #expect(FilterValues.type("seqpacket") == 5)
    #expect(FilterValues.type("bogus") == nil)
    #expect(FilterValues.type("0") == nil)
    #expect(FilterValues.uid("root") == 0)
    #expect(FilterValues.uid("4242") == 4242)
    #expect(FilterValues.uid("no-such-user-here") == nil)
    #expect(FilterValues.netns("4026531840") == 4_026_531_840)
    #expect(FilterValues.netns("/proc/self/ns/net") != nil)
    #expect(FilterValues.netns("/no/such/ns") == nil)
  }

  @Test func commKeysAreTheKernels15Bytes() {
    #expect(SelectionFilters.commKey("curl") == Array("curl".utf8) + [UInt8](repeating: 0, count: 12))
    #expect(SelectionFilters.commKey("a-very-long-process-name").prefix(15) == Array("a-very-long-pro".utf8)[...])
    #expect(SelectionFilters.commKey("a-very-long-process-name").count == 16)
  }
}
