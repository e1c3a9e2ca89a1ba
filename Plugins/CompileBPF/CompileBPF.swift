import Foundation
import PackagePlugin

/// Compiles `bpf/*.bpf.c` with clang `-target bpf` and embeds each object in
/// the target as a generated Swift file, so `swift build` alone builds all.
/// The pieces a `.bpf.c` includes (`bpf/lib/`, `bpf/hooks/`) are found by
/// clang relative to the including file, and tracked as inputs.
///
/// Only the `.swift` file is declared as output: declaring the `.o` would make
/// it a resource and pull in Foundation's resource bundle.
@main
struct CompileBPF: BuildToolPlugin {
  /// The kernel architecture the BPF object reads registers for: the one
  /// this build targets (the Swift binary is never cross-built here).
  #if arch(arm64)
    static let targetArch = "arm64"
  #else
    static let targetArch = "x86"
  #endif

  func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
    let packageDir = context.package.directoryURL
    let bpfDir = packageDir.appending(path: "bpf")
    let headerDir = packageDir.appending(path: "Sources/CSocktrace/include")
    let embed = try context.tool(named: "bpf-embed").url
    let clang = try context.tool(named: "clang").url

    let fileManager = FileManager.default
    let names = try fileManager.contentsOfDirectory(atPath: bpfDir.path).sorted()
    // Every header under bpf/ (lib/, hooks/, vmlinux.h) is an input of every
    // object: socktrace.bpf.c is only #includes, so a change to any piece
    // must rebuild it.
    let headers =
      try fileManager.subpathsOfDirectory(atPath: bpfDir.path).sorted()
      .filter { $0.hasSuffix(".h") }.map { bpfDir.appending(path: $0) }
      + (try fileManager.contentsOfDirectory(atPath: headerDir.path))
      .filter { $0.hasSuffix(".h") }.map { headerDir.appending(path: $0) }

    return names.filter { $0.hasSuffix(".bpf.c") }.map { name in
      let source = bpfDir.appending(path: name)
      let stem = String(name.dropLast(".bpf.c".count))
      let output = context.pluginWorkDirectoryURL.appending(path: "\(stem).bpf.swift")
      return .buildCommand(
        displayName: "Compiling BPF program \(name)",
        executable: embed,
        arguments: [
          "--clang", clang.path,
          "--arch", Self.targetArch,
          "--include", bpfDir.path,
          "--include", headerDir.path,
          "--symbol", "\(stem)BPFObjectBase64",
          "--output", output.path,
          source.path,
        ],
        inputFiles: [source] + headers,
        outputFiles: [output]
      )
    }
  }
}
