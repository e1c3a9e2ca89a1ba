// socktrace-pipeline-bench: the Swift half of the pipeline alone, as shipped:
// `RecordPipeline.consume`, the loop the tracer runs on every ring-buffer
// record (decode, count, encode a JSON line, write in 256 KiB batches to
// /dev/null), over synthetic records laid out exactly as the BPF program
// writes them. Prints records per second per core (thread CPU time), best of
// R rounds.
//
// usage: socktrace-pipeline-bench [RECORDS] [ROUNDS]
import CSocktrace
import Glibc
import SocktraceCore

func threadCPUNanoseconds() -> UInt64 {
  var time = timespec()
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
  return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Records as the kernel would send them: sockets of several kinds, one in 17
/// failing, one in 4 a release, one name in 16 hostile (quote, backslash,
/// newline, invalid UTF-8: the escaping path), 64 processes in turn, each
/// record from another process, in two cgroups.
func makeRecords(count: Int, cgroupIDs: [UInt64]) -> [[UInt8]] {
  let comms: [[UInt8]] = [Array("curl".utf8), Array("nginx: worker".utf8), Array("python3".utf8), Array("sshd".utf8)]
  let hostile: [UInt8] = [0x71, 0x22, 0x5c, 0x0a, 0xff]
  var records: [[UInt8]] = []
  records.reserveCapacity(count)
  for index in 0..<count {
    var header = st_header()
    header.ts_ns = 1_000_000_000 + UInt64(index) * 1000
    header.pid = 1000 + UInt32(index % 64)
    header.tid = header.pid
    header.ppid = 1
    header.netns = 4_026_531_840
    header.cgroup_id = cgroupIDs[Int(header.pid) % cgroupIDs.count]
    let comm = index % 16 == 5 ? hostile : comms[index % comms.count]
    withUnsafeMutableBytes(of: &header.comm) { bytes in
      for (offset, byte) in comm.enumerated() { bytes[offset] = byte }
    }
    if index % 4 == 3 {
      var release = st_release()
      header.kind = UInt16(ST_KIND_RELEASE.rawValue)
      header.size = UInt16(MemoryLayout<st_release>.size)
      release.h = header
      release.inode = UInt64(index)
      release.how = ST_RELEASE_CLOSE.rawValue
      release.family = 2
      records.append(withUnsafeBytes(of: release) { Array($0) })
      continue
    }
    var socket = st_socket()
    header.kind = UInt16(ST_KIND_SOCKET.rawValue)
    header.size = UInt16(MemoryLayout<st_socket>.size)
    socket.h = header
    socket.family = index % 3 == 0 ? 10 : 2
    socket.type = index % 2 == 0 ? 1 : 2 | 0o2_000_000
    socket.resolved_protocol = socket.type & 0xf == 1 ? 6 : 17
    socket.ret = index % 17 == 0 ? -97 : 3
    socket.fd = socket.ret
    socket.fd2 = -1
    socket.inode = UInt64(index)
    socket.bits = UInt32(ST_BIT_HAS_INODE)
    socket.duration_ns = 4000
    socket.probe = Rung.tracepoint.probeNumber
    records.append(withUnsafeBytes(of: socket) { Array($0) })
  }
  return records
}

let arguments = CommandLine.arguments
let count = arguments.count > 1 ? Int(arguments[1]) ?? 1_000_000 : 1_000_000
let rounds = arguments.count > 2 ? Int(arguments[2]) ?? 5 : 5
/// cgroup ids as the tracer resolves them: real v2 directories (ours and the
/// root), so each record gets its cgroup_path and container fields.
let cgroups = CgroupResolver()
let cgroupIDs = [cgroups.id(ofPID: getpid()), cgroups.mountPoint.flatMap(CgroupResolver.id(ofDirectory:))]
  .compactMap { $0 }
/// The records back to back in one buffer, as they sit in the ring buffer.
let records = makeRecords(count: count, cgroupIDs: cgroupIDs.isEmpty ? [7] : cgroupIDs)
let flat = records.flatMap { $0 }
let spans: [Range<Int>] = {
  var spans: [Range<Int>] = []
  var offset = 0
  for record in records {
    spans.append(offset..<offset + record.count)
    offset += record.count
  }
  return spans
}()
let clock = BootClock(offsetNanoseconds: 1_795_000_000_000_000_000)

/// Decoding alone, for reference: what is left is counting, encoding, writing.
func decodePass() -> UInt64 {
  var sockets = 0
  let start = threadCPUNanoseconds()
  flat.withUnsafeBytes { all in
    for span in spans {
      if case .socket = try? EventDecoder.decode(UnsafeRawBufferPointer(rebasing: all[span])) { sockets += 1 }
    }
  }
  precondition(sockets > 0)
  return threadCPUNanoseconds() - start
}

/// One pass of the shipped loop over every record. Returns (ns of CPU, bytes out).
func pipelinePass(cgroups: CgroupResolver) throws(TraceError) -> (UInt64, Int) {
  let output = try OutputFile(path: "/dev/null")
  let pipeline = RecordPipeline(
    format: .jsonLines, encoder: JSONLinesEncoder(clock: clock, cgroups: cgroups), table: TextTable(clock: clock),
    output: output,
    keepRecording: false)
  let start = threadCPUNanoseconds()
  flat.withUnsafeBytes { all in
    for span in spans {
      // As under libbpf: a paused read is resumed at once (nothing waits here).
      _ = pipeline.consume(UnsafeRawBufferPointer(rebasing: all[span]))
    }
  }
  try pipeline.flush()
  let elapsed = threadCPUNanoseconds() - start
  precondition(pipeline.summary.sockets > 0 && pipeline.summary.decodeErrors == 0)
  return (elapsed, Int(pipeline.bytesWritten))
}

var bestDecode = UInt64.max
var bestPipeline = UInt64.max
var bytes = 0
for _ in 0..<rounds {
  bestDecode = min(bestDecode, decodePass())
  do {
    let (elapsed, written) = try pipelinePass(cgroups: cgroups)
    bestPipeline = min(bestPipeline, elapsed)
    bytes = written
  } catch {
    print("socktrace-pipeline-bench: \(error)")
    exit(1)
  }
}
func rate(_ nanoseconds: UInt64, count: Int) -> String {
  let perSecond = Double(count) / (Double(nanoseconds) / 1e9)
  let hundredths = Int(perSecond / 10_000)
  return "\(hundredths / 100)." + (hundredths % 100 < 10 ? "0" : "") + "\(hundredths % 100) M/s"
}
print("records: \(count), best of \(rounds) rounds, thread CPU time")
print("decode only:                 \(rate(bestDecode, count: count))  (\(bestDecode / UInt64(count)) ns/record)")
print(
  "RecordPipeline.consume (decode + count + encode JSON + write): \(rate(bestPipeline, count: count))  "
    + "(\(bestPipeline / UInt64(count)) ns/record, \(bytes / count) bytes/record)"
)
