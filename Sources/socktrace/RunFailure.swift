import ArgumentParser
import SocktraceCore
import SocktraceExport

/// How a tracing run (`record`, `serve`) ends on an error: one `socktrace: …`
/// line on stderr and exit code 1, or as a shell says for a command that
/// cannot run (127 not found, 126 not executable). Any other error (an
/// `ExitCode` already chosen) is returned as it is.
func runFailure(_ error: any Error) -> any Error {
  switch error {
  case let error as TraceError:
    printError("socktrace: \(error)")
  case let error as ExportError:
    printError("socktrace: \(error)")
  case let error as CommandError:
    printError("socktrace: \(error)")
    if case .notFound = error { return ExitCode(127) }
    if case .notExecutable = error { return ExitCode(126) }
  default:
    return error
  }
  return ExitCode(1)
}
