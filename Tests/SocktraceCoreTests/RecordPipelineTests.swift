import CSocktrace
import Foundation
import Testing

@testable import SocktraceCore

/// The loop the tracer runs per record: what it writes, counts, and when it
/// pauses a read.
@Suite struct RecordPipelineTests {
  let clock = BootClock(offsetNanoseconds: 1_795_000_000_000_000_000)

  func pipeline(to path: String, format: RecordPipeline.Format = .jsonLines) throws -> RecordPipeline {
    RecordPipeline(
      format: format, encoder: JSONLinesEncoder(clock: clock), table: TextTable(clock: clock),
      output: try OutputFile(path: path), keepRecording: false)
  }

  func socket(pid: UInt32, ret: Int32 = 3) -> [UInt8] {
    var record = Fixtures.socket(ret: ret)
    record.h.pid = pid
    return Fixtures.bytes(of: record)
  }

  func temporaryPath() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-\(UUID().uuidString).jsonl").path
  }

  @Test func writesALinePerRecordAndCountsPerProcess() throws {
    let path = temporaryPath()
    defer { unlink(path) }
    let pipeline = try pipeline(to: path)
    // Runs from one process, interleaved: the per-process counts must add up.
    let pids: [UInt32] = [7, 7, 7, 8, 7, 8, 8, 9, 7]
    for pid in pids {
      let record = socket(pid: pid, ret: pid == 9 ? -97 : 3)
      #expect(record.withUnsafeBytes { pipeline.consume($0) })
    }
    #expect(pipeline.consume(UnsafeRawBufferPointer(start: nil, count: 0)))  // undecodable
    try pipeline.flush()
    let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
    #expect(lines.count == pids.count)
    #expect(pipeline.summary.events == UInt64(pids.count))
    #expect(pipeline.summary.sockets == UInt64(pids.count))
    #expect(pipeline.summary.failed == 1)
    #expect(pipeline.summary.decodeErrors == 1)
    let counts = pipeline.summary.perProcess.mapValues(\.count)
    #expect(counts == [7: 5, 8: 3, 9: 1])
    #expect(pipeline.bytesWritten == UInt64(try Data(contentsOf: URL(fileURLWithPath: path)).count))
  }

  @Test func pausesAfterABatchButNotWhileDraining() throws {
    let pipeline = try pipeline(to: "/dev/null")
    let record = socket(pid: 7)
    var taken = 0
    while record.withUnsafeBytes({ pipeline.consume($0) }) { taken += 1 }
    #expect(taken + 1 == RecordPipeline.recordsPerBatch)
    #expect(pipeline.summary.sockets == UInt64(RecordPipeline.recordsPerBatch))
    #expect(pipeline.takePause())
    #expect(!pipeline.takePause())
    pipeline.mode = .draining
    for _ in 0..<RecordPipeline.recordsPerBatch + 1 {
      #expect(record.withUnsafeBytes { pipeline.consume($0) })
    }
  }
}
