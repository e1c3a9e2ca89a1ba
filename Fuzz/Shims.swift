// What the reader's sources use from files the fuzz binary leaves out
// (Load/BPFObject.swift needs libbpf): the same one-liner.
extension String {
  func trimmingTrailingWhitespace() -> String {
    var result = self
    while let last = result.last, last.isWhitespace { result.removeLast() }
    return result
  }
}

