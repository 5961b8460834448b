import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// `tailor serve`: the HTTP server over one ``Engine``. Listening starts at once (`/health`
/// answers 503 until the model has loaded); SIGTERM or SIGINT stops taking connections, lets
/// running requests finish for up to `shutdownGrace` seconds, then ends them and returns.
public final class Server: Sendable {
    public let configuration: ServerConfiguration
    public let metrics = ServerMetrics()
    let engine: Engine
    let logger: Logger
    private let group = LockedGroup()

    public init(configuration: ServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        engine = Engine(configuration: configuration, metrics: metrics)
    }

    /// Serves until a signal (or ``stop()``); `onListening` gets the bound port (useful with port 0).
    public func run(signals: Bool = true, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let router = Router()
        router.add(middleware: Gateway(apiKey: configuration.apiKey.map { Array($0.utf8) }, metrics: metrics))
        let generation = GenerationRoutes(engine: engine, configuration: configuration, logger: logger)
        let admin = AdminRoutes(engine: engine, configuration: configuration, metrics: metrics, logger: logger)
        router.post("/v1/completions") { request, _ in await generation.completions(request) }
        router.post("/v1/chat/completions") { request, _ in await generation.chatCompletions(request) }
        router.post("/v1/classify") { request, _ in await admin.classify(request) }
        router.get("/v1/models") { request, _ in await admin.models(request) }
        router.post("/v1/load_lora_adapter") { request, _ in await admin.loadAdapter(request) }
        router.post("/v1/unload_lora_adapter") { request, _ in await admin.unloadAdapter(request) }
        router.get("/health") { request, _ in admin.health(request) }
        router.get("/metrics") { request, _ in admin.metricsText(request) }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "tailor"),
            services: [EngineService(engine: engine)],
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
        var groupConfiguration = ServiceGroupConfiguration(
            services: [app], gracefulShutdownSignals: signals ? [.sigterm, .sigint] : [], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = .milliseconds(Int(configuration.shutdownGrace * 1000))
        groupConfiguration.maximumCancellationDuration = .seconds(5)
        let serviceGroup = ServiceGroup(configuration: groupConfiguration)
        group.set(serviceGroup)
        try await serviceGroup.run()
        if case .failed(let message) = engine.status { throw ServingError(status: 503, message, type: "server_error") }
    }

    /// Starts the same shutdown a SIGTERM does.
    public func stop() async {
        await group.get()?.triggerGracefulShutdown()
    }
}

/// The engine as a service of the application: started with it, stopped after the HTTP server
/// (services stop in reverse order), so requests in flight finish first.
struct EngineService: Service {
    let engine: Engine

    func run() async throws {
        engine.start()
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await engine.waitUntilStopped()
            } onCancel: {
                engine.abort()
            }
        } onGracefulShutdown: {
            engine.shutdown()
        }
        if case .failed(let message) = engine.status { throw ServingError(status: 503, message, type: "server_error") }
    }
}

/// The running service group, for ``Server/stop()``.
private final class LockedGroup: @unchecked Sendable {
    private let lock = NSLock()
    private var group: ServiceGroup?
    func set(_ group: ServiceGroup) { lock.withLock { self.group = group } }
    func get() -> ServiceGroup? { lock.withLock { group } }
}
