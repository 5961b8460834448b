import Foundation
import Hummingbird
import Inference
import Logging

/// The routes besides generation: classification, the model list, adapter loading, health and
/// metrics.
struct AdminRoutes: Sendable {
    let engine: Engine
    let configuration: ServerConfiguration
    let metrics: ServerMetrics
    let logger: Logger

    func classify(_ request: Request) async -> Response {
        let started = ContinuousClock.now
        let id = "cls-" + GenerationRoutes.randomID()
        do {
            let body: ClassifyRequest = try await decode(request)
            let info = try engine.modelInfo(for: .classify)
            let texts = body.input.values
            guard !texts.isEmpty else { throw ServingError.invalid("`input` is empty", param: "input") }
            guard texts.count <= configuration.maxQueue else {
                throw ServingError.invalid("at most \(configuration.maxQueue) texts per request", param: "input")
            }
            let model = body.model ?? ""
            let results = try await engine.perform { engine in try engine.classify(texts, model: model) }
            let tokens = texts.reduce(0) { $0 + min(info.tokenizer.encode($1).ids.count, info.contextLength) }
            let elapsed = HTTPResponses.milliseconds(since: started)
            logger.info("\(id) adapter=\(model.isEmpty ? "-" : model) status=200 texts=\(texts.count) ms=\(elapsed)")
            return HTTPResponses.json(
                ClassifyResponse(
                    id: id, created: Int(Date().timeIntervalSince1970), model: model.isEmpty ? configuration.baseName : model,
                    data: results,
                    usage: Usage(prompt: tokens, completion: 0)))
        } catch {
            return failure(error, id: id, started: started)
        }
    }

    func models(_ request: Request) async -> Response {
        do {
            _ = try engine.readyInfo()
            return HTTPResponses.json(ModelList(data: try await engine.perform { try $0.modelCards() }))
        } catch {
            return HTTPResponses.error(HTTPResponses.servingError(error))
        }
    }

    func loadAdapter(_ request: Request) async -> Response {
        let started = ContinuousClock.now
        do {
            let body: LoadAdapterRequest = try await decode(request)
            try await engine.perform { try $0.adapters.register(body.loraName, folder: body.loraPath) }
            logger.info("load_lora_adapter \(body.loraName)=\(body.loraPath) status=200 ms=\(HTTPResponses.milliseconds(since: started))")
            return Response(
                status: .ok, body: .init(byteBuffer: ByteBuffer(string: "Success: LoRA adapter '\(body.loraName)' added successfully.")))
        } catch {
            return failure(error, id: "load_lora_adapter", started: started)
        }
    }

    func unloadAdapter(_ request: Request) async -> Response {
        let started = ContinuousClock.now
        do {
            let body: UnloadAdapterRequest = try await decode(request)
            try await engine.perform { try $0.adapters.unload(body.loraName) }
            logger.info("unload_lora_adapter \(body.loraName) status=200 ms=\(HTTPResponses.milliseconds(since: started))")
            return Response(
                status: .ok, body: .init(byteBuffer: ByteBuffer(string: "Success: LoRA adapter '\(body.loraName)' removed successfully.")))
        } catch {
            return failure(error, id: "unload_lora_adapter", started: started)
        }
    }

    func health(_ request: Request) -> Response {
        switch engine.status {
        case .ready: return HTTPResponses.json(["status": "ok"])
        case .loading: return HTTPResponses.error(.loading)
        case .failed(let message):
            return HTTPResponses.error(ServingError(status: 503, "the model failed to load: \(message)", type: "server_error"))
        case .stopped: return HTTPResponses.error(.shuttingDown)
        }
    }

    func metricsText(_ request: Request) -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
    }

    private func decode<T: Decodable>(_ request: Request) async throws -> T {
        try await HTTPResponses.decode(request, limit: configuration.maxBodyBytes)
    }

    private func failure(_ error: any Error, id: String, started: ContinuousClock.Instant) -> Response {
        let failure = HTTPResponses.servingError(error)
        logger.info("\(id) status=\(failure.status) ms=\(HTTPResponses.milliseconds(since: started)) error=\"\(failure.message)\"")
        return HTTPResponses.error(failure)
    }
}
