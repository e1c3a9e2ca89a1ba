import Foundation
import Glibc
import Testing

extension KernelTests {
  /// What each socket became: bind, listen, connect (and how a non-blocking
  /// one ended), accept with its peer, shutdown and close, each joined to its
  /// socket by inode and checked against what the workload itself saw.
  @Suite(.timeLimit(.minutes(3)))
  struct LifecycleTests {
    /// An integer field, whether the schema writes it as a number or (64-bit
    /// values) as a decimal string.
    func integer(_ value: Any?) -> Int? {
      if let number = value as? Int { return number }
      if let text = value as? String { return Int(text) }
      return nil
    }

    func objects(_ text: String) throws -> [[String: Any]] {
      try text.split(separator: "\n").map { line in
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
      }
    }

    @Test func everyCallOnASocketIsRecordedWithItsAddress() throws {
      let output = NSTemporaryDirectory() + "socktrace-lifecycle-\(UUID().uuidString).jsonl"
      defer { unlink(output) }
      let result = try runSocktraceFully(["--json", "-o", output, "--", Binaries.workload, "lifecycle"])
      #expect(result.status == 0, "\(result.stderr)")
      let truth = try objects(result.stdout)
      let records = try objects(try String(contentsOfFile: output, encoding: .utf8))
      let pid = try #require(truth.first?["pid"] as? Int)
      let mine = records.filter { $0["pid"] as? Int == pid }

      // Exactly one record per call, no more: the kinds counted both ways.
      for (op, event) in [
        ("bind", "bind"), ("listen", "listen"), ("connect", "connect"), ("shutdown", "shutdown"),
        ("accept", "accept"), ("connect_result", "connect_result"),
      ] {
        let made = truth.filter { $0["op"] as? String == op }.count
        let seen = mine.filter { $0["event"] as? String == event }.count
        #expect(made == seen, "\(op): the workload made \(made), the recording has \(seen)")
      }
      #expect(truth.filter { $0["op"] as? String == "bind" }.count == 6)  // 4 servers, 2 for free ports

      // The timeline tells each socket's life on its line, in the order of the calls.
      let rendered = try runSocktraceOutput(["timeline", output])
      #expect(rendered.status == 0)
      let lines = rendered.stdout.split(separator: "\n").map(String.init)
      func line(inode: Int?) -> String? { lines.first { $0.contains("inode \(inode ?? -1)  took") } }
      for call in truth where call["op"] as? String == "connect" {
        let story = try #require(line(inode: integer(call["inode"])), "no timeline line for \(call)")
        let address = try #require(call["address"] as? String)
        if call["errno"] as? Int == 115 {
          // issue 21: the source address (and a local peer) come between the address and the outcome
          #expect(story.contains("→ connect \(address) "), "\(story)")
          #expect(story.contains(" EINPROGRESS → "), "\(story)")
          #expect(story.contains("→ established after ") || story.contains("→ failed ECONNREFUSED after "))
        } else {
          #expect(story.contains("→ connect \(address) "), "\(story)")
          #expect(story.contains(") ok ") || story.contains(" ok "), "\(story)")
          #expect(story.contains("→ shutdown SHUT_WR ok"), "\(story)")
        }
        #expect(story.contains("(released at close)"), "\(story)")
      }
      for call in truth where call["op"] as? String == "listen" {
        let story = try #require(line(inode: integer(call["inode"])))
        // issue 21: the address it listens on follows the backlog
        #expect(story.contains("→ listen backlog \(call["arg"] as? Int ?? -1) on "), "\(story)")
      }
      #expect(lines.filter { $0.contains("→ 1 accepted") }.count == 4, "\(rendered.stdout)")

      for call in truth {
        let op = try #require(call["op"] as? String)
        let inode = integer(call["inode"])
        switch op {
        case "bind", "listen", "connect", "shutdown":
          let record = try #require(
            mine.first { $0["event"] as? String == op && integer($0["inode"]) == inode },
            "no \(op) record for inode \(inode ?? 0)")
          #expect(record["fd"] as? Int == call["fd"] as? Int)
          #expect(record["tid"] as? Int == call["tid"] as? Int)
          let ret = try #require(call["ret"] as? Int)
          let errno = try #require(call["errno"] as? Int)
          #expect(record["ret"] as? Int == (ret < 0 ? -errno : ret), "\(op) \(record)")
          #expect(record["errno"] as? Int == errno)
          #expect(record["born_before_trace"] as? Bool == false)
          #expect(integer(record["duration_ns"]).map { $0 > 0 } == true)
          if op == "bind" || op == "connect" {
            #expect(record["address"] as? String == call["address"] as? String, "\(record)")
            let port = try #require(call["port"] as? Int)
            if port < 0 {
              #expect(record["port"] is NSNull, "a unix address has no port: \(record)")
            } else {
              #expect(record["port"] as? Int == port)
            }
          }
          if op == "listen" { #expect(record["backlog"] as? Int == call["arg"] as? Int) }
          if op == "shutdown" { #expect(record["how"] as? String == "SHUT_WR") }
        case "accept":
          let record = try #require(
            mine.first { $0["event"] as? String == "accept" && integer($0["inode"]) == inode })
          #expect(integer(record["listen_inode"]) == integer(call["inode2"]))
          if call["has_address"] as? Bool == true {
            #expect(record["address"] as? String == call["address"] as? String, "\(record)")
            #expect(record["port"] as? Int == call["port"] as? Int)
          } else {
            #expect(record["address"] is NSNull, "a unix peer has no name: \(record)")
          }
        case "connect_result":
          let record = try #require(
            mine.first { $0["event"] as? String == "connect_result" && integer($0["inode"]) == inode })
          let errno = try #require(call["errno"] as? Int)
          #expect(record["result"] as? String == (errno == 0 ? "established" : "failed"))
          #expect(record["errno"] as? Int == errno)
          #expect(record["error"] as? String == (errno == 0 ? nil : "ECONNREFUSED"))
        case "close":
          #expect(
            mine.contains { $0["event"] as? String == "release" && integer($0["inode"]) == inode },
            "no close record for inode \(inode ?? 0)")
        default: break
        }
      }
    }

    /// A socket made before tracing started is joined by its inode when it is
    /// used: to its snapshot record (issue 21), so it is not born before any more.
    @Test func aSocketBornBeforeTracingIsMarked() throws {
      let workload = try Workload(["pre-socket-bind"], before: ["--pre-socket"])
      let tracer = try Tracer(["-p", "\(workload.pid)"])
      let truth = try workload.run()
      let (_, _, records) = try tracer.stop(snapshot: true)
      let bind = try #require(truth.first { $0["op"] as? String == "bind" })
      let record = try #require(records.first { $0["event"] as? String == "bind" })
      #expect(integer(record["inode"]) == integer(bind["inode"]))
      #expect(record["born_before_trace"] as? Bool == false)
      #expect(record["address"] as? String == "127.0.0.1:0")
      let snapshot = records.first {
        $0["via"] as? String == "snapshot" && integer($0["inode"]) == integer(bind["inode"])
      }
      #expect(snapshot?["event"] as? String == "socket" && snapshot?["type"] as? String == "SOCK_DGRAM")
    }

    /// Unix names are attacker-controlled bytes: every line stays valid JSON
    /// (control bytes escaped, invalid UTF-8 as U+FFFD), a full-length path
    /// without a NUL is read to its end, an abstract name keeps its NULs.
    @Test func hostileUnixNamesStayValidJSON() throws {
      let output = NSTemporaryDirectory() + "socktrace-hostile-unix-\(UUID().uuidString).jsonl"
      defer { unlink(output) }
      let result = try runSocktraceFully(["--json", "-o", output, "--", Binaries.workload, "hostile-unix"])
      #expect(result.status == 0, "\(result.stderr)")
      let records = try objects(try String(contentsOfFile: output, encoding: .utf8))
      let binds = records.filter { $0["event"] as? String == "bind" }
      try #require(binds.count == 3)
      let pid = try #require(binds[0]["pid"] as? Int)
      let hostile: [UInt8] = Array("/tmp/st-\n\u{01}".utf8) + [0xff] + Array("\"\\q\(pid)".utf8)
      #expect(binds[0]["address"] as? String == String(decoding: hostile, as: UTF8.self))
      let long = try #require(binds[1]["address"] as? String)
      #expect(long.utf8.count == 108 && long.hasPrefix("/tmp/st-\(pid)-") && long.hasSuffix("xxx"))
      let abstract: [UInt8] = Array("@st".utf8) + [0, 0x0a, 0xfe]
      #expect(binds[2]["address"] as? String == String(decoding: abstract, as: UTF8.self))
      for bind in binds {
        #expect(bind["ret"] as? Int == 0, "\(bind)")
        #expect(bind["port"] is NSNull)
      }
    }

    /// `--port` and `--address` keep exactly the sockets whose address matched
    /// (their births held in the kernel until then), and nothing of the others
    /// the same process made at the same time.
    @Test(arguments: ["port", "ipv6", "unix"])
    func addressFiltersKeepOnlyMatchingSockets(filter: String) throws {
      let port = try freeLoopbackPort()
      let workload = try Workload(["lifecycle-port=\(port)"])
      let arguments: [String]
      switch filter {
      case "port": arguments = ["--port", "\(port)"]
      case "ipv6": arguments = ["--address", "::1/128"]
      default: arguments = ["--address", "/tmp/socktrace-workload-\(workload.pid).sock"]
      }
      let tracer = try Tracer(arguments + ["-p", "\(workload.pid)"])
      let truth = try workload.run()
      let (_, _, records) = try tracer.stop()

      // The sockets that matched, from the workload's own report.
      let expectedFamily = ["port": 2, "ipv6": 10, "unix": 1][filter] ?? 0
      let sockets = truth.filter { ($0["op"] as? String).map { ["socket", "accept"].contains($0) } == true }
      let server = sockets.filter { $0["family"] as? Int == expectedFamily }.prefix(3)  // listener, client, accepted
      let wanted = Set(server.compactMap { integer($0["inode"]) })
      try #require(wanted.count == 3)
      let kept = records.filter {
        ["socket", "accept", "bind", "listen", "connect", "shutdown", "release"]
          .contains($0["event"] as? String ?? "")
      }
      let keptInodes = Set(kept.compactMap { integer($0["inode"]) })
      #expect(keptInodes == wanted, "\(filter): kept \(keptInodes), wanted \(wanted)")
      // Each matched socket's birth is there exactly once, before its first call.
      for inode in wanted {
        let mine = kept.filter { integer($0["inode"]) == inode }
        #expect(mine.filter { ["socket", "accept"].contains($0["event"] as? String ?? "") }.count == 1)
        #expect(["socket", "accept"].contains(mine.first?["event"] as? String ?? ""), "\(mine.first ?? [:])")
        #expect(mine.last?["event"] as? String == "release")
      }
    }

    /// The table shows what sockets became too, one line per call.
    @Test func theTableShowsEveryCall() throws {
      let output = NSTemporaryDirectory() + "socktrace-lifecycle-\(UUID().uuidString).txt"
      defer { unlink(output) }
      let result = try runSocktraceFully(["--wide", "-o", output, "--", Binaries.workload, "lifecycle"])
      #expect(result.status == 0, "\(result.stderr)")
      let truth = try objects(result.stdout)
      let table = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").map(String.init)
      for call in truth where ["bind", "connect", "listen", "shutdown"].contains(call["op"] as? String ?? "") {
        let op = try #require(call["op"] as? String)
        let inode = try #require(integer(call["inode"]))
        let row = try #require(table.first { $0.contains(" \(op) ") && $0.contains(" \(inode) ") }, "\(call)")
        if op == "bind" || op == "connect" {
          #expect(row.contains(" \(call["address"] as? String ?? "?") "), "\(row)")
        }
        #expect(row.hasSuffix(call["errno"] as? Int == 115 ? "EINPROGRESS" : "ok"), "\(row)")
      }
      #expect(table.contains { $0.contains(" handshake ") && $0.hasSuffix("failed ECONNREFUSED") })
      #expect(table.contains { $0.contains(" handshake ") && $0.hasSuffix("established") })
      #expect(table.contains { $0.contains(" accept ") && $0.contains("ok from 127.0.0.1:") })
    }
  }
}
