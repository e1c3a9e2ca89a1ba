import Testing

@testable import SocktraceCore

@Suite struct SocketNamesTests {
  @Test(
    arguments: zip(
      [0, 1, 2, 10, 16, 17, 44, 45],
      ["AF_UNSPEC", "AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET", "AF_XDP", "AF_MCTP"]))
  func familyNames(number: Int32, name: String) {
    #expect(SocketNames.family(number) == name)
  }

  @Test func unknownNumbersHaveNoName() {
    #expect(SocketNames.family(46) == nil)
    #expect(SocketNames.family(255) == nil)
    #expect(SocketNames.type(9) == nil)
    #expect(SocketNames.protocol(6, family: 1) == nil)  // AF_UNIX has no protocol names
    #expect(ErrnoNames.name(0) == nil)
    #expect(ErrnoNames.name(9999) == nil)
  }

  @Test func typesAndFlags() {
    #expect(SocketNames.type(1) == "SOCK_STREAM")
    #expect(SocketNames.type(3) == "SOCK_RAW")
    #expect(SocketNames.flags(ofType: 1) == [])
    #expect(SocketNames.flags(ofType: 1 | 0o4000 | 0o2_000_000) == ["SOCK_NONBLOCK", "SOCK_CLOEXEC"])
    #expect(SocketNames.flags(ofType: 1 | 0x400_0000) == ["0x4000000"])
  }

  @Test func protocolsByFamily() {
    #expect(SocketNames.protocol(6, family: 2) == "IPPROTO_TCP")
    #expect(SocketNames.protocol(17, family: 10) == "IPPROTO_UDP")
    #expect(SocketNames.protocol(58, family: 10) == "IPPROTO_ICMPV6")
    #expect(SocketNames.protocol(0, family: 16) == "NETLINK_ROUTE")
    #expect(SocketNames.protocol(16, family: 16) == "NETLINK_GENERIC")
  }

  @Test(
    arguments: zip(
      [1, 13, 22, 24, 93, 97, 105],
      ["EPERM", "EACCES", "EINVAL", "EMFILE", "EPROTONOSUPPORT", "EAFNOSUPPORT", "ENOBUFS"]))
  func errnoNames(number: Int32, name: String) {
    #expect(ErrnoNames.name(number) == name)
  }

  @Test func errnoTextHasMessageAndName() {
    #expect(errnoText(1) == "Operation not permitted (EPERM)")
  }
}
