import Foundation
import PackagePlugin

/// Declares `BuildInfo.commit`, the git commit the target is built from, in a
/// generated Swift file. A prebuild command, because it must run on every
/// build (the commit changes without any source changing); commit.sh rewrites
/// the file only when the commit changed, so it costs a recompile only then.
@main
struct BuildInfo: BuildToolPlugin {
  func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
    let package = context.package.directoryURL
    let output = context.pluginWorkDirectoryURL.appending(path: "generated")
    return [
      .prebuildCommand(
        displayName: "Reading the git commit",
        executable: URL(filePath: "/bin/sh"),
        arguments: [
          "-c", "mkdir -p \"$2\" && exec /bin/sh \"$0\" \"$1\" \"$2/BuildInfo+Commit.swift\"",
          package.appending(path: "Plugins/BuildInfo/commit.sh").path,
          package.path, output.path,
        ],
        outputFilesDirectory: output
      )
    ]
  }
}
