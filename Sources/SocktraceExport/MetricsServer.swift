import Glibc
import NIOCore
import NIOHTTP1
import NIOPosix

/// The /metrics listener: one NIO event-loop thread serving HTTP/1.1. Each
/// GET /metrics calls `render` on that thread; the tracer's reader thread never
/// waits for it.
public final class MetricsServer {
  private let group: MultiThreadedEventLoopGroup
  private let channel: any Channel
  /// Where it listens, as bound (port 0 becomes the port the kernel chose).
  public let address: HostPort

  public init(listen: HostPort, render: @escaping @Sendable () -> [UInt8]) throws(ExportError) {
    // Signals are for the reader's thread (its poll wakes at once): the
    // event loop's thread starts with them blocked.
    group = withSignalsBlocked { MultiThreadedEventLoopGroup(numberOfThreads: 1) }
    let bootstrap = ServerBootstrap(group: group)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
          try channel.pipeline.syncOperations.addHandler(MetricsHandler(render: render))
        }
      }
    do {
      channel = try bootstrap.bind(host: listen.host, port: listen.port).wait()
    } catch {
      try? group.syncShutdownGracefully()
      throw .bind(address: "\(listen.host):\(listen.port)", reason: "\(error)")
    }
    let bound = channel.localAddress
    address = HostPort(host: bound?.ipAddress ?? listen.host, port: bound?.port ?? listen.port)
  }

  /// The URL a scraper uses.
  public var url: String {
    let host = address.host.contains(":") ? "[\(address.host)]" : address.host
    return "http://\(host):\(address.port)/metrics"
  }

  /// Stops listening and ends the event loop's thread.
  public func close() {
    try? channel.close().wait()
    try? group.syncShutdownGracefully()
  }
}

/// GET /metrics -> the exposition text; anything else 404 (405 for another method).
private final class MetricsHandler: ChannelInboundHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  private let render: @Sendable () -> [UInt8]
  private var head: HTTPRequestHead?

  init(render: @escaping @Sendable () -> [UInt8]) { self.render = render }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let request): head = request
    case .body: break
    case .end:
      guard let request = head else { return }
      head = nil
      respond(to: request, context: context)
    }
  }

  private func respond(to request: HTTPRequestHead, context: ChannelHandlerContext) {
    let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
    let status: HTTPResponseStatus
    var body: [UInt8]
    var contentType = "text/plain; charset=utf-8"
    if request.method != .GET && request.method != .HEAD {
      status = .methodNotAllowed
      body = Array("GET /metrics\n".utf8)
    } else if path == "/metrics" {
      status = .ok
      body = render()
      contentType = "text/plain; version=0.0.4; charset=utf-8"
    } else if path == "/" {
      status = .ok
      body = Array("socktrace: metrics at /metrics\n".utf8)
    } else {
      status = .notFound
      body = Array("not found; metrics at /metrics\n".utf8)
    }
    var headers = HTTPHeaders()
    headers.add(name: "Content-Type", value: contentType)
    headers.add(name: "Content-Length", value: "\(body.count)")
    let keepAlive = request.isKeepAlive
    if !keepAlive { headers.add(name: "Connection", value: "close") }
    context.write(
      wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))),
      promise: nil)
    if request.method != .HEAD {
      context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
    }
    body = []
    let channel = context.channel
    context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
      if !keepAlive { channel.close(promise: nil) }
    }
  }
}

/// Runs `body` with SIGINT, SIGTERM and SIGHUP blocked, so threads it starts
/// inherit a mask that leaves those signals to the tracer's own thread.
func withSignalsBlocked<T>(_ body: () throws -> T) rethrows -> T {
  var block = sigset_t()
  var previous = sigset_t()
  sigemptyset(&block)
  for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2] { sigaddset(&block, signal) }
  pthread_sigmask(SIG_BLOCK, &block, &previous)
  defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
  return try body()
}
