// swift-tools-version: 6.1
import PackageDescription

/// Release builds link libstdc++ (the linker script in packaging/link names
/// its archive) and libgcc in, so with `--static-swift-stdlib` (the Swift
/// runtime and Foundation; scripts/build-release.sh) the binary needs only
/// libbpf, libelf, zlib and libc at run time.
let selfContained: [LinkerSetting] = [
  .unsafeFlags(
    ["-L", Context.packageDirectory + "/packaging/link", "-Xclang-linker", "-static-libgcc"],
    .when(configuration: .release))
]

let package = Package(
  name: "socktrace",
  platforms: [.macOS(.v13)],
  products: [
    .executable(name: "socktrace", targets: ["socktrace"])
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
  ],
  targets: [
    // The record layout shared with the BPF program, and a small libbpf shim.
    .target(
      name: "CSocktrace",
      linkerSettings: [.linkedLibrary("bpf"), .linkedLibrary("elf"), .linkedLibrary("z")]
    ),
    // libbpf itself, imported into Swift (Debian's libbpf-dev).
    .systemLibrary(
      name: "CLibBPF",
      pkgConfig: "libbpf",
      providers: [.apt(["libbpf-dev", "libelf-dev", "zlib1g-dev"])]
    ),
    // Host tool: clang -target bpf, then the object as base64 in a Swift file.
    .executableTarget(name: "bpf-embed", path: "Sources/BPFEmbed"),
    .plugin(
      name: "CompileBPF",
      capability: .buildTool(),
      dependencies: ["bpf-embed"]
    ),
    // The git commit of the build, for --version and the start record.
    .plugin(name: "BuildInfo", capability: .buildTool()),
    .target(
      name: "SocktraceCore",
      dependencies: ["CSocktrace", "CLibBPF"],
      plugins: ["CompileBPF", "BuildInfo"]
    ),
    .executableTarget(
      name: "socktrace",
      dependencies: [
        "SocktraceCore",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      linkerSettings: selfContained
    ),
    // The Swift pipeline alone (decode, encode, write), records per second per core.
    .executableTarget(
      name: "socktrace-pipeline-bench", dependencies: ["SocktraceCore", "CSocktrace"],
      path: "Sources/PipelineBenchmark"),
    // Makes known socket calls and prints the truth, for the end-to-end tests.
    .executableTarget(name: "socktrace-workload", path: "Tests/Workload"),
    .testTarget(name: "SocktraceCoreTests", dependencies: ["SocktraceCore", "CSocktrace"]),
    .testTarget(name: "socktraceTests", dependencies: ["socktrace"]),
    .testTarget(
      name: "KernelTests",
      dependencies: ["SocktraceCore", "socktrace", "socktrace-workload"]
    ),
  ]
)
