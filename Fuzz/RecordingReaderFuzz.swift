// libFuzzer entry point for the recording reader: scripts/fuzz.sh compiles
// it with the reader's sources (swiftc -sanitize=fuzzer) into one binary.
// Whatever the bytes, reading a recording must either fail with an error
// that names a line or give records every renderer can draw: no trap, no
// hang, no unbounded memory.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecordingReader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  guard let recording = try? RecordingReader.parse(bytes, source: "fuzz") else { return 0 }
  let timeline = TimelineBuilder.build(recording)
  _ = TimelineText.render(timeline)
  _ = ChromeTraceWriter.render(timeline)
  for warning in recording.warnings { _ = warning.description }
  // The shipped path (socktrace timeline, --timeline): streamed through a
  // small reorder window, so late records and the cap are reached too.
  let options = TimelineRendering.Options(maxEvents: 3, window: ReorderLimits(maxRecords: 4, maxNanoseconds: 1_000_000))
  for format in TimelineRendering.Format.allCases {
    var chrome = options
    chrome.format = format
    _ = try? TimelineRendering.render(bytes: bytes, source: "fuzz", options: chrome, notes: { _ in }, write: { _ in })
  }
  return 0
}
