import Foundation
import Glibc
import Testing

extension KernelTests {
  /// Issue 21: both ends of local connections, the addresses the kernel
  /// chose, and the sockets already open when tracing starts, each checked
  /// against what the workload itself saw (getsockname, getpeername, getpid,
  /// /proc/PID/fd).
  @Suite(.timeLimit(.minutes(3)))
  struct PeerTests {
    func objects(_ text: String) throws -> [[String: Any]] {
      try text.split(separator: "\n").map { line in
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
      }
    }

    func integer(_ value: Any?) -> Int? {
      if let number = value as? Int { return number }
      if let text = value as? String { return Int(text) }
      return nil
    }

    /// The workload's text for an address it could not name: "" means none (null).
    func text(_ value: Any?) -> String? {
      guard let text = value as? String, !text.isEmpty else { return nil }
      return text
    }

    @Test func bothEndsOfLocalConnectionsAreNamed() throws {
      let output = NSTemporaryDirectory() + "socktrace-peers-\(UUID().uuidString).jsonl"
      defer { unlink(output) }
      let result = try runSocktraceFully(["--json", "-o", output, "--", Binaries.workload, "peers"])
      #expect(result.status == 0, "\(result.stderr)")
      let truth = try objects(result.stdout)
      let records = try objects(try String(contentsOfFile: output, encoding: .utf8))
      let listens = truth.filter { $0["op"] as? String == "peer-listen" }
      let connects = truth.filter { $0["op"] as? String == "peer-connect" }
      let accepts = truth.filter { $0["op"] as? String == "peer-accept" }
      #expect(listens.count == 4 && connects.count == 4 && accepts.count == 4, "\(result.stdout)")

      func record(_ event: String, inode: Int?) -> [String: Any]? {
        records.first { $0["event"] as? String == event && $0.u64("inode") == inode }
      }

      for listen in listens {
        let inode = integer(listen["inode"])
        let bind = try #require(record("bind", inode: inode), "no bind for \(listen)")
        #expect(bind["pid"] as? Int == listen["pid"] as? Int)
        // What was asked (port 0 for inet) and what the kernel gave.
        #expect(bind["local_address"] as? String == text(listen["local_address"]), "\(bind)")
        if listen["family"] as? Int != 1 {
          #expect(bind["port"] as? Int == 0)
          #expect(bind["local_port"] as? Int == listen["local_port"] as? Int, "\(bind)")
          #expect((bind["local_port"] as? Int ?? 0) > 0)
        } else {
          #expect(bind["local_port"] is NSNull)
        }
        let listenRecord = try #require(record("listen", inode: inode))
        #expect(listenRecord["local_address"] as? String == text(listen["local_address"]))
      }

      for connect in connects {
        let call = try #require(record("connect", inode: integer(connect["inode"])), "no connect for \(connect)")
        #expect(call["pid"] as? Int == connect["pid"] as? Int)
        #expect(call["errno"] as? Int == 0)
        // Its source: the port the kernel picked (inet), none for an unbound unix client.
        #expect(call["local_address"] as? String == text(connect["local_address"]), "\(call)")
        if connect["family"] as? Int != 1 {
          #expect(call["local_port"] as? Int == connect["local_port"] as? Int, "\(call)")
        }
        // The other end: the server's pid and name.
        #expect(call["peer_pid"] as? Int == connect["other_pid"] as? Int, "\(call)")
        #expect(call["peer_comm"] as? String == "socktrace-workl", "\(call)")
      }

      for accept in accepts {
        let born = try #require(record("accept", inode: integer(accept["inode"])), "no accept for \(accept)")
        #expect(born["pid"] as? Int == accept["pid"] as? Int)
        #expect(born["local_address"] as? String == text(accept["local_address"]), "\(born)")
        #expect(born["address"] as? String == text(accept["peer_address"]), "\(born)")
        // The client: its pid, from the kernel (unix) or the 4-tuple (TCP).
        #expect(born["peer_pid"] as? Int == accept["other_pid"] as? Int, "\(born)")
        if accept["family"] as? Int == 1 {
          // The connecting socket itself.
          let client = connects.first { $0["pid"] as? Int == accept["other_pid"] as? Int }
          #expect(born.u64("peer_inode") == integer(client?["inode"]), "\(born)")
        }
      }

      // The timeline tells it: `connect A from L → comm (pid)`, `accept from comm (pid) A`.
      let rendered = try runSocktraceOutput(["timeline", output])
      #expect(rendered.status == 0)
      for connect in connects where connect["family"] as? Int == 2 {
        let server = connect["other_pid"] as? Int ?? -1
        let want =
          "connect \(connect["peer_address"] as? String ?? "?") from \(connect["local_address"] as? String ?? "?")"
          + " → socktrace-workl (\(server)) ok "
        #expect(rendered.stdout.contains(want), "\(want)\n\(rendered.stdout)")
      }
      for accept in accepts where accept["family"] as? Int == 2 {
        let want =
          "from socktrace-workl (\(accept["other_pid"] as? Int ?? -1)) \(accept["peer_address"] as? String ?? "?")"
        #expect(rendered.stdout.contains(want), "\(want)\n\(rendered.stdout)")
      }
    }

    @Test func socketsOpenBeforeTracingAreSnapshotted() throws {
      let workload = try Workload(["hold-peers"])
      workload.go()
      // The listener and the pair exist before the tracer does.
      _ = read(workload.stdoutPipe.fileHandleForReading, into: &workload.stdout, timeout: 30) {
        String(decoding: $0, as: UTF8.self).components(separatedBy: "hold-pair").count == 3
      }
      let held = try objects(String(decoding: workload.stdout, as: UTF8.self)).filter {
        ($0["op"] as? String)?.hasPrefix("hold-") == true
      }
      #expect(held.count == 3, "\(held)")
      // /proc/PID/fd as the kernel shows it, before the tracer looks.
      for socket in held {
        let link = String(
          decoding: ProcLinks.read("/proc/\(workload.pid)/fd/\(socket["fd"] as? Int ?? -1)"), as: UTF8.self)
        #expect(link == "socket:[\(integer(socket["inode"]) ?? -1)]")
      }
      let tracer = try Tracer(["-p", String(workload.pid)])
      workload.stdinPipe.fileHandleForWriting.write(Data("close\n".utf8))
      _ = try workload.finish()
      let (status, stderr, records) = try tracer.stop(snapshot: true)
      #expect(status == 0, "\(stderr)")

      let snapshot = records.filter { $0["via"] as? String == "snapshot" }
      // Each held socket once (the workload may hold more it inherited).
      for socket in held {
        #expect(snapshot.count { $0.u64("inode") == integer(socket["inode"]) } == 1, "\(snapshot)")
      }
      for socket in held {
        let inode = integer(socket["inode"])
        let found = try #require(snapshot.first { $0.u64("inode") == inode }, "no snapshot of \(socket)")
        #expect(found["event"] as? String == "socket")
        #expect(found["pid"] as? Int == Int(workload.pid))
        #expect(found["fd"] as? Int == socket["fd"] as? Int)
        #expect(found["family_num"] as? Int == socket["family"] as? Int)
        #expect(found["local_address"] as? String == text(socket["local_address"]), "\(found)")
        if socket["op"] as? String == "hold-listen" {
          #expect(found["local_port"] as? Int == socket["local_port"] as? Int)
          #expect(found["state"] as? String == "LISTEN", "\(found)")
          #expect(found["type"] as? String == "SOCK_STREAM")
        } else {
          #expect(found["type"] as? String == "SOCK_STREAM" && found["family"] as? String == "AF_UNIX")
        }
        // Remembered as a birth: its close is recorded like a traced socket's.
        #expect(
          records.contains { $0["event"] as? String == "release" && $0.u64("inode") == inode },
          "no release for snapshot socket \(socket)")
      }
      // The snapshot comes right after the start record.
      let firstSnapshot = records.firstIndex { $0["via"] as? String == "snapshot" } ?? -1
      #expect(records.first?["event"] as? String == "start" && firstSnapshot >= 1)
    }

    @Test func ioUringCallsOnSocketsAreDeclared() throws {
      // Only the start record matters: trace a process that makes no socket (this one).
      let tracer = try Tracer(["-p", String(getpid())])
      let (_, _, records) = try tracer.stop()
      let start = try #require(records.first { $0["event"] as? String == "start" })
      let spots = (start["blind_spots"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }
      if FileManager.default.fileExists(atPath: "/proc/sys/kernel/io_uring_disabled")
        || FileManager.default.fileExists(atPath: "/sys/kernel/tracing/events/io_uring")
      {
        #expect(spots.contains("io_uring_connect"), "\(spots)")
      }
    }
  }
}

enum ProcLinks {
  static func read(_ path: String) -> [UInt8] {
    var buffer = [CChar](repeating: 0, count: 4096)
    let length = readlink(path, &buffer, buffer.count)
    guard length > 0 else { return [] }
    return buffer[0..<length].map { UInt8(bitPattern: $0) }
  }
}
