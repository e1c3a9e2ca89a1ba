import CSocktrace
import Foundation
import Glibc
import Testing

@testable import SocktraceCore

/// Failure causes (issue 22): the decision from arguments, errno and the
/// kernel's figures, and the one table of names every output and doc uses.
@Suite struct FailureCauseTests {
  static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  func facts(
    _ source: SocketSource = .socket, family: Int32 = 2, type: Int32 = 1, errno: Int32, bits: Int32 = 0,
    caps: UInt64 = 0, lsm: UInt32 = 0
  ) -> FailureCause.Facts {
    var facts = FailureCause.Facts(source: source, family: family, requestedType: type, errno: errno)
    facts.bits = UInt32(bits)
    facts.capEffective = caps
    facts.lsm = UInt8(lsm)
    return facts
  }

  func cause(_ facts: FailureCause.Facts) -> FailureCause? {
    FailureCause.decide(facts, familyLimit: 46)?.cause
  }

  @Test func argumentsAndErrnoDecideWhatEveryRungCanTell() {
    #expect(FailureCause.decide(facts(errno: 0)) == nil)
    #expect(cause(facts(type: 1 | 0x400_0000, errno: EINVAL)) == .badFlags)
    #expect(cause(facts(type: 1 | 0o4000 | 0o2_000_000, errno: EINVAL)) == .unknown)
    #expect(cause(facts(type: 12, errno: EINVAL)) == .badType)
    #expect(cause(facts(family: 200, errno: EAFNOSUPPORT)) == .familyOutOfRange)
    #expect(cause(facts(family: 46, errno: EAFNOSUPPORT)) == .familyOutOfRange)
    #expect(cause(facts(family: 19, errno: EAFNOSUPPORT)) == .familyUnavailable)
    #expect(cause(facts(errno: EPROTONOSUPPORT)) == .protocolUnsupported)
    #expect(cause(facts(errno: ESOCKTNOSUPPORT)) == .protocolUnsupported)
    #expect(cause(facts(.socketpair, errno: EOPNOTSUPP)) == .protocolUnsupported)
    #expect(cause(facts(errno: EMFILE)) == .fdLimit)
    #expect(cause(facts(errno: ENFILE)) == .fileLimit)
    #expect(cause(facts(errno: ENOBUFS)) == .noMemory)
    #expect(cause(facts(.accept, errno: EAGAIN)) == .wouldBlock)
    #expect(cause(facts(.accept, errno: EINVAL)) == .notListening)
    #expect(cause(facts(.accept, type: 1 | 0x10, errno: EINVAL)) == .badFlags)
    #expect(cause(facts(.accept, errno: ENOTSOCK)) == .badFD)
    #expect(cause(facts(.accept, errno: EPERM)) == .unknown)
    #expect(cause(facts(errno: 512)) == .interrupted)
    #expect(cause(facts(.socketpair, errno: EFAULT)) == .badAddress)
    #expect(cause(facts(errno: EIO)) == .unknown)
  }

  @Test func aMissingCapabilityIsPermissionOtherwiseAnLSM() {
    let caps = Int32(ST_CAUSE_HAS_CAPS | ST_CAUSE_CAPS_NET_NS)
    let all: UInt64 = (1 << 41) - 1
    let noRaw = all & ~(1 << 13)
    let raw = facts(type: 3, errno: EPERM, bits: caps, caps: noRaw)
    #expect(cause(raw) == .permission)
    #expect(FailureCause.decide(raw)?.capability == "CAP_NET_RAW")
    #expect(FailureCause.decide(raw)?.text == "permission (no CAP_NET_RAW)")
    #expect(cause(facts(family: 17, type: 3, errno: EPERM, bits: caps, caps: noRaw)) == .permission)
    #expect(cause(facts(family: 15, type: 3, errno: EPERM, bits: caps, caps: all & ~(1 << 12))) == .permission)
    // Held in another user namespace than the netns owner's: not capable there.
    #expect(cause(facts(type: 3, errno: EPERM, bits: Int32(ST_CAUSE_HAS_CAPS), caps: all)) == .permission)
    // Capable, and the tracepoint rung saw nothing else: an LSM, unnamed.
    let lsm = FailureCause.decide(facts(type: 3, errno: EACCES, bits: caps, caps: all))
    #expect(lsm?.cause == .lsm && lsm?.lsm == nil)
    #expect(cause(facts(errno: EPERM, bits: caps, caps: all)) == .lsm)
    // Function rungs: the LSM hooks said yes, so a family's own check refused.
    #expect(cause(facts(errno: EPERM, bits: caps | Int32(ST_CAUSE_LSM_SEEN), caps: all)) == .permission)
    // ... or one refused, and its module hook named it.
    let named = FailureCause.decide(
      facts(
        errno: EPERM, bits: caps | Int32(ST_CAUSE_LSM_SEEN | ST_CAUSE_LSM_REFUSED), caps: all,
        lsm: ST_LSM_BPF.rawValue))
    #expect(named?.cause == .lsm && named?.lsm == "bpf")
    #expect(named?.text == "refused by LSM bpf")
    // A call seccomp answered wins over everything the errno suggests.
    #expect(cause(facts(type: 3, errno: EPERM, bits: Int32(ST_CAUSE_SECCOMP) | caps, caps: noRaw)) == .seccomp)
  }

  @Test func fdLimitCarriesItsFigures() {
    var emfile = facts(errno: EMFILE, bits: Int32(ST_CAUSE_FD_FIGURES))
    emfile.fdLimit = 16
    emfile.openFDs = 16
    let explanation = FailureCause.decide(emfile)
    #expect(explanation?.fdLimit == 16 && explanation?.openFDs == 16)
    #expect(explanation?.text == "fd limit 16 reached (16 open)")
    emfile.bits |= UInt32(ST_CAUSE_FDS_CAPPED)
    emfile.openFDs = 16384
    #expect(FailureCause.decide(emfile)?.text == "fd limit 16 reached (at least 16384 open)")
    // Without the figures (a rung that could not read them): the cause alone.
    #expect(FailureCause.decide(facts(errno: EMFILE))?.text == "fd limit reached")
  }

  @Test func familyLimitFollowsTheKernelRelease() {
    #expect(FailureCause.familyLimit(release: "5.10.0-46-amd64") == 45)
    #expect(FailureCause.familyLimit(release: "5.15.0") == 46)
    #expect(FailureCause.familyLimit(release: "6.18.44-fc-v1300") == 46)
    #expect(FailureCause.familyLimit(release: "4.14.1") == 44)
    #expect(cause(facts(family: 45, errno: EAFNOSUPPORT)) == .familyUnavailable)
    #expect(FailureCause.decide(facts(family: 45, errno: EAFNOSUPPORT), familyLimit: 45)?.cause == .familyOutOfRange)
  }

  /// The record as the encoder writes it, then as the timeline reads it back.
  @Test func jsonAndTimelineSayTheCauseAndFigures() throws {
    var record = Fixtures.socket(family: 2, type: 2, ret: -EMFILE, inode: 0, bits: 0)
    record.cause_bits = UInt16(ST_CAUSE_FD_FIGURES | ST_CAUSE_HAS_CAPS)
    record.fd_limit = 16
    record.open_fds = 16
    var unavailable = Fixtures.socket(family: 19, ret: -EAFNOSUPPORT, inode: 0, bits: 0)
    withUnsafeMutableBytes(of: &unavailable.module) { bytes in
      for (index, byte) in "net-pf-19".utf8.enumerated() { bytes[index] = byte }
    }
    let encoder = JSONLinesEncoder(clock: BootClock(offsetNanoseconds: 1_795_000_000_000_000_000))
    var out = JSONBuffer()
    encoder.encode(
      StartRecord(
        epochNanoseconds: 1_795_000_000_000_000_000, bootNanoseconds: 5, version: "0.1.0", kernel: "6.18", host: "vm",
        rung: .tracepoint, hooks: [], pids: [100], follow: true, command: nil),
      into: &out)
    encoder.encode(.socket(SocketEvent(raw: Fixtures.socket())), into: &out)
    encoder.encode(.socket(SocketEvent(raw: record)), into: &out)
    encoder.encode(.socket(SocketEvent(raw: unavailable)), into: &out)
    let text = String(decoding: out.bytes, as: UTF8.self)
    let lines = text.split(separator: "\n").map(String.init)
    #expect(lines[1].contains(#""failed_stage":null,"cause":null,"duration_ns""#))
    #expect(lines[2].contains(#""error":"EMFILE","failed_stage":null,"cause":"fd_limit","fd_limit":16,"open_fds":16,"#))
    #expect(lines[3].contains(#""cause":"family_unavailable","module":"net-pf-19","#))
    let timeline = TimelineText.render(TimelineBuilder.build(try RecordingReader.parse(out.bytes)))
    #expect(timeline.contains("FAILED EMFILE: fd limit 16 reached (16 open)"), "\(timeline)")
    #expect(timeline.contains("FAILED EAFNOSUPPORT: family unavailable (net-pf-19 requested)"), "\(timeline)")
  }

  /// Every name, in one table: the JSON Schema's enum is exactly the cases,
  /// and docs/schema.md and the man page list each one.
  @Test func everyCauseIsDocumented() throws {
    let schema = try String(contentsOf: Self.repository.appendingPathComponent("docs/schema.json"), encoding: .utf8)
    let object = try #require(try JSONSerialization.jsonObject(with: Data(schema.utf8)) as? [String: Any])
    let defs = try #require(object["$defs"] as? [String: Any])
    let fields = try #require(defs["socket_fields"] as? [String: Any])
    let properties = try #require(fields["properties"] as? [String: Any])
    let cause = try #require(properties["cause"] as? [String: Any])
    let anyOf = try #require(cause["anyOf"] as? [[String: Any]])
    #expect(anyOf.first?["enum"] as? [String] == FailureCause.allCases.map(\.name))
    let markdown = try String(
      contentsOf: Self.repository.appendingPathComponent("docs/schema.md"), encoding: .utf8)
    let manual = try String(
      contentsOf: Self.repository.appendingPathComponent("packaging/man/extra.man"), encoding: .utf8)
    for name in FailureCause.allCases.map(\.name) {
      #expect(markdown.contains("| `\(name)` |"), "docs/schema.md lacks \(name)")
      #expect(manual.contains("\\fB\(name)") || manual.contains(".B \(name)"), "extra.man lacks \(name)")
    }
  }
}
