/// Names for the numbers socket(2) takes, as `<sys/socket.h>` and
/// `<netinet/in.h>` spell them. A number with no name stays a number.
public enum SocketNames {
  /// Flags that may be or'ed into socket(2)'s type argument.
  public static let nonblock: Int32 = 0o4000
  public static let cloexec: Int32 = 0o2_000_000
  /// The type argument's low bits; the rest are flags.
  public static let typeMask: Int32 = 0xf

  public static func family(_ number: Int32) -> String? { familyName(number)?.description }

  public static func type(_ number: Int32) -> String? { typeName(number)?.description }

  /// The names as constant strings, for the JSON encoder: no allocation and
  /// no reference counting on the path every record takes.
  static func familyName(_ number: Int32) -> StaticString? { lookup(familyTable, number) }
  static func typeName(_ number: Int32) -> StaticString? { lookup(typeTable, number) }
  static func protocolName(_ number: Int32, family: Int32) -> StaticString? {
    switch family {
    case 2, 10: return lookup(ipProtocolTable, number)  // AF_INET, AF_INET6
    case 16: return lookup(netlinkProtocolTable, number)  // AF_NETLINK
    default: return nil
    }
  }

  /// How schema v2 names a protocol number no table has: `IPPROTO_n` in the
  /// IP families, `NETLINK_n` in netlink, else `PROTO_n`.
  static func protocolPrefix(family: Int32) -> StaticString {
    switch family {
    case 2, 10: return "IPPROTO_"
    case 16: return "NETLINK_"
    default: return "PROTO_"
    }
  }

  /// The names records carry (schema v2), never a bare number: `AF_INET`, or
  /// `AF_255` for a family with no name.
  public static func familyLabel(_ number: Int32) -> String { family(number) ?? "AF_\(number)" }
  public static func typeLabel(_ number: Int32) -> String { type(number) ?? "SOCK_\(number)" }
  public static func protocolLabel(_ number: Int32, family: Int32) -> String {
    `protocol`(number, family: family) ?? "\(protocolPrefix(family: family))\(number)"
  }

  /// A TCP state (include/net/tcp_states.h) by its kernel name without
  /// `TCP_`: `ESTABLISHED`, `LISTEN`, … (the names `ss` shows).
  static func tcpStateName(_ number: Int32) -> StaticString? { lookup(tcpStateTable, number) }
  public static func tcpState(_ number: Int32) -> String? { tcpStateName(number)?.description }
  nonisolated(unsafe) static let tcpStateTable = dense([
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT", 7: "CLOSE",
    8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV",
  ])

  /// Dense tables indexed by number: a lookup per field of every record.
  /// Written once when first used and only read after (hence `unsafe`).
  nonisolated(unsafe) static let familyTable = dense(families)
  nonisolated(unsafe) static let typeTable = dense(types)
  nonisolated(unsafe) static let ipProtocolTable = dense(ipProtocols)
  nonisolated(unsafe) static let netlinkProtocolTable = dense(netlinkProtocols)

  /// Allocated once and never freed: a buffer pointer is a plain value, so a
  /// lookup costs no retain and release as an array's buffer would.
  static func dense(_ names: KeyValuePairs<Int32, StaticString>) -> UnsafeBufferPointer<StaticString?> {
    let table = UnsafeMutableBufferPointer<StaticString?>.allocate(capacity: Int(names.map(\.key).max() ?? 0) + 1)
    table.initialize(repeating: nil)
    for (number, name) in names { table[Int(number)] = name }
    return UnsafeBufferPointer(table)
  }

  @inline(__always)
  static func lookup(_ table: UnsafeBufferPointer<StaticString?>, _ number: Int32) -> StaticString? {
    number >= 0 && Int(number) < table.count ? table[Int(number)] : nil
  }

  /// SOCK_NONBLOCK and SOCK_CLOEXEC by name, then any other bits in hex.
  public static func flags(ofType type: Int32) -> [String] {
    var names: [String] = []
    var rest = type & ~typeMask
    if rest & nonblock != 0 {
      names.append("SOCK_NONBLOCK")
      rest &= ~nonblock
    }
    if rest & cloexec != 0 {
      names.append("SOCK_CLOEXEC")
      rest &= ~cloexec
    }
    if rest != 0 { names.append("0x" + String(UInt32(bitPattern: rest), radix: 16)) }
    return names
  }

  /// The protocol's name within its family's numbering, if it has one.
  public static func `protocol`(_ number: Int32, family: Int32) -> String? {
    protocolName(number, family: family)?.description
  }

  static let families: KeyValuePairs<Int32, StaticString> = [
    0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 3: "AF_AX25", 4: "AF_IPX",
    5: "AF_APPLETALK", 6: "AF_NETROM", 7: "AF_BRIDGE", 8: "AF_ATMPVC", 9: "AF_X25",
    10: "AF_INET6", 11: "AF_ROSE", 12: "AF_DECnet", 13: "AF_NETBEUI", 14: "AF_SECURITY",
    15: "AF_KEY", 16: "AF_NETLINK", 17: "AF_PACKET", 18: "AF_ASH", 19: "AF_ECONET",
    20: "AF_ATMSVC", 21: "AF_RDS", 22: "AF_SNA", 23: "AF_IRDA", 24: "AF_PPPOX",
    25: "AF_WANPIPE", 26: "AF_LLC", 27: "AF_IB", 28: "AF_MPLS", 29: "AF_CAN",
    30: "AF_TIPC", 31: "AF_BLUETOOTH", 32: "AF_IUCV", 33: "AF_RXRPC", 34: "AF_ISDN",
    35: "AF_PHONET", 36: "AF_IEEE802154", 37: "AF_CAIF", 38: "AF_ALG", 39: "AF_NFC",
    40: "AF_VSOCK", 41: "AF_KCM", 42: "AF_QIPCRTR", 43: "AF_SMC", 44: "AF_XDP",
    45: "AF_MCTP",
  ]

  static let types: KeyValuePairs<Int32, StaticString> = [
    1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM",
    5: "SOCK_SEQPACKET", 6: "SOCK_DCCP", 10: "SOCK_PACKET",
  ]

  static let ipProtocols: KeyValuePairs<Int32, StaticString> = [
    0: "IPPROTO_IP", 1: "IPPROTO_ICMP", 2: "IPPROTO_IGMP", 4: "IPPROTO_IPIP",
    6: "IPPROTO_TCP", 8: "IPPROTO_EGP", 12: "IPPROTO_PUP", 17: "IPPROTO_UDP",
    22: "IPPROTO_IDP", 29: "IPPROTO_TP", 33: "IPPROTO_DCCP", 41: "IPPROTO_IPV6",
    46: "IPPROTO_RSVP", 47: "IPPROTO_GRE", 50: "IPPROTO_ESP", 51: "IPPROTO_AH",
    58: "IPPROTO_ICMPV6", 92: "IPPROTO_MTP", 94: "IPPROTO_BEETPH", 98: "IPPROTO_ENCAP",
    103: "IPPROTO_PIM", 108: "IPPROTO_COMP", 115: "IPPROTO_L2TP", 132: "IPPROTO_SCTP",
    136: "IPPROTO_UDPLITE", 137: "IPPROTO_MPLS", 143: "IPPROTO_ETHERNET",
    255: "IPPROTO_RAW", 262: "IPPROTO_MPTCP",
  ]

  static let netlinkProtocols: KeyValuePairs<Int32, StaticString> = [
    0: "NETLINK_ROUTE", 2: "NETLINK_USERSOCK", 3: "NETLINK_FIREWALL",
    4: "NETLINK_SOCK_DIAG", 5: "NETLINK_NFLOG", 6: "NETLINK_XFRM", 7: "NETLINK_SELINUX",
    8: "NETLINK_ISCSI", 9: "NETLINK_AUDIT", 10: "NETLINK_FIB_LOOKUP",
    11: "NETLINK_CONNECTOR", 12: "NETLINK_NETFILTER", 13: "NETLINK_IP6_FW",
    14: "NETLINK_DNRTMSG", 15: "NETLINK_KOBJECT_UEVENT", 16: "NETLINK_GENERIC",
    18: "NETLINK_SCSITRANSPORT", 19: "NETLINK_ECRYPTFS", 20: "NETLINK_RDMA",
    21: "NETLINK_CRYPTO", 22: "NETLINK_SMC",
  ]
}
