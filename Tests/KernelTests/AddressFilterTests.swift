import Foundation
import Glibc
import Testing

extension KernelTests {
  /// --port and --address on a real forking server, machine-wide: a matched
  /// socket is followed into every process that holds it, the kinds combine
  /// with AND, and only processes holding matching sockets get process records.
  @Suite(.timeLimit(.minutes(3)))
  struct AddressFilterTests {
    func run(_ program: String, filters: [String]) throws -> (truth: [String], records: [[String: Any]]) {
      let tracer = try Tracer(filters)
      let process = Process()
      let output = Pipe()
      process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
      process.arguments = ["-c", program]
      process.standardOutput = output
      try process.run()
      let data = output.fileHandleForReading.readDataToEndOfFile()
      process.waitUntilExit()
      #expect(process.terminationStatus == 0)
      let (status, stderr, records) = try tracer.stop()
      #expect(status == 0, "\(stderr)")
      let truth = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
      return (truth, records)
    }

    /// socat UNIX-LISTEN:PATH,fork's shape: the server accepts, a forked child
    /// serves and exits holding a copy of the listener; three clients. Beside
    /// it a bystander forks and execs: nothing of it is recorded.
    @Test func aForkingUnixServerUnderAddressGivesEveryAccept() throws {
      let path = NSTemporaryDirectory() + "socktrace-fork-\(UUID().uuidString.prefix(8)).sock"
      defer { unlink(path) }
      let program = """
        import os, socket, subprocess
        path = \(String(reflecting: path))
        # a bystander started before the server has a socket: it holds none of them
        bystander = subprocess.Popen(["/bin/sh", "-c", "sleep 0.2; for i in 1 2 3 4 5; do /bin/true; done"])
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); server.bind(path); server.listen(8)
        print(os.getpid(), flush=True)
        for _ in range(3):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); client.connect(path)
            conn, _ = server.accept()
            child = os.fork()
            if child == 0:
                conn.sendall(b"hi"); os._exit(0)
            conn.close(); print(client.recv(2).decode(), flush=True); client.close(); os.waitpid(child, 0)
        bystander.wait(); server.close()
        """
      let (truth, records) = try run(program, filters: ["--address", path])
      let server = try #require(Int(truth.first ?? ""))
      #expect(truth.dropFirst() == ["hi", "hi", "hi"])
      let accepts = records.filter { $0["event"] as? String == "accept" && $0["pid"] as? Int == server }
      #expect(accepts.count == 3, "\(accepts.count) accepts recorded of 3")
      #expect(records.filter { $0["event"] as? String == "connect" }.count == 3)
      // Process records: the server and the children that held its listener, no /bin/true.
      let processRecords = records.filter { ["fork", "exec", "exit"].contains($0["event"] as? String ?? "") }
      #expect(records.filter { $0["event"] as? String == "fork" && $0["pid"] as? Int == server }.count >= 3)
      #expect(!processRecords.contains { $0["comm"] as? String == "true" }, "a bystander's process records")
      #expect(records.last?["lost"] as? Int == 0)
    }

    /// --port P --address A: a socket must match both.
    @Test func portAndAddressCombineWithAnd() throws {
      let port = try freeLoopbackPort()
      let program = """
        import socket
        port = \(port)
        kinds = {"port only": ("127.0.0.1", port), "address only": ("127.0.0.2", 0), "both": ("127.0.0.2", port)}
        for name, address in kinds.items():
            s = socket.socket(); s.bind(address); print(name, s.getsockname()[1], flush=True); s.close()
        print("port", port, flush=True)
        """
      let (truth, records) = try run(program, filters: ["--port", "\(port)", "--address", "127.0.0.2"])
      #expect(truth.count == 4)
      let binds = records.filter { $0["event"] as? String == "bind" }
      #expect(binds.count == 1, "\(binds.map { $0["address"] ?? "" })")
      #expect(binds.first?["address"] as? String == "127.0.0.2:\(port)")
    }
  }
}
