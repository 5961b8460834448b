import Foundation
import HTTPTypes
import Hummingbird
import Inference
import Logging
import Tokenizers

/// `/v1/completions` and `/v1/chat/completions`: validate, tokenize (on the handler's thread;
/// the tokenizer is thread-safe), queue one job per prompt, and answer whole or as a stream.
struct GenerationRoutes: Sendable {
    let engine: Engine
    let configuration: ServerConfiguration
    let logger: Logger

    func completions(_ request: Request) async -> Response {
        let started = ContinuousClock.now
        let id = "cmpl-" + Self.randomID()
        do {
            let body: CompletionRequest = try await decode(request)
            let info = try engine.modelInfo(for: .generate)
            let prompts: [[Int]]
            switch body.prompt {
            case .texts(let texts): prompts = texts.map { info.tokenizer.encode($0).ids }
            case .tokens(let lists): prompts = lists
            }
            if body.echo == true { throw ServingError.invalid("`echo` is not supported", param: "echo") }
            let model = body.model ?? ""
            let jobs = try makeJobs(prompts, model: model, body.sampling, info: info, defaultMaxTokens: 16)
            let format = ResponseFormat.completion(id: id, model: model.isEmpty ? configuration.baseName : model)
            return try await answer(jobs, format: format, stream: body.stream, options: body.streamOptions, log: (id, model, started))
        } catch {
            return failure(error, id: id, started: started)
        }
    }

    func chatCompletions(_ request: Request) async -> Response {
        let started = ContinuousClock.now
        let id = "chatcmpl-" + Self.randomID()
        do {
            let data = try await HTTPResponses.body(request, limit: configuration.maxBodyBytes)
            let body: ChatCompletionRequest = try HTTPResponses.decode(data)
            let info = try engine.modelInfo(for: .generate)
            guard !body.messages.isEmpty else { throw ServingError.invalid("`messages` is empty", param: "messages") }
            let text = try ChatPrompt.render(
                data, messages: body.messages, addGenerationPrompt: body.addGenerationPrompt ?? true, info: info)
            // The template writes the special tokens itself: encoding adds none (as transformers).
            let prompt = info.tokenizer.encode(text, addSpecialTokens: false).ids
            let model = body.model ?? ""
            let jobs = try makeJobs([prompt], model: model, body.sampling, info: info, defaultMaxTokens: nil)
            let format = ResponseFormat.chat(id: id, model: model.isEmpty ? configuration.baseName : model)
            return try await answer(jobs, format: format, stream: body.stream, options: body.streamOptions, log: (id, model, started))
        } catch {
            return failure(error, id: id, started: started)
        }
    }

    // MARK: jobs

    private func makeJobs(
        _ prompts: [[Int]], model: String, _ parameters: SamplingParameters, info: ModelInfo, defaultMaxTokens: Int?
    ) throws -> [(job: GenerationJob, events: AsyncThrowingStream<GenerationEvent, any Error>)] {
        guard !prompts.isEmpty else { throw ServingError.invalid("`prompt` is empty", param: "prompt") }
        guard prompts.count <= configuration.maxBatch else {
            throw ServingError.invalid("at most \(configuration.maxBatch) prompts per request (--max-batch)", param: "prompt")
        }
        guard (parameters.n ?? 1) == 1 else { throw ServingError.invalid("only n = 1 is supported", param: "n") }
        guard !parameters.logprobs else { throw ServingError.invalid("`logprobs` is not supported", param: "logprobs") }
        guard parameters.stop.count <= 4 else { throw ServingError.invalid("at most 4 stop sequences", param: "stop") }
        let temperature = parameters.temperature ?? 1
        guard temperature.isFinite, (0...2).contains(temperature) else {
            throw ServingError.invalid("`temperature` must be in [0, 2], not \(temperature)", param: "temperature")
        }
        let topP = parameters.topP ?? 1
        guard topP.isFinite, topP > 0, topP <= 1 else {
            throw ServingError.invalid("`top_p` must be in (0, 1], not \(topP)", param: "top_p")
        }
        let topK = parameters.topK ?? 0
        guard topK >= -1 else { throw ServingError.invalid("`top_k` must be -1, 0 (all) or positive", param: "top_k") }
        if let maxTokens = parameters.maxTokens {
            guard maxTokens >= 1 else {
                throw ServingError.invalid("`max_tokens` must be at least 1, not \(maxTokens)", param: "max_tokens")
            }
            guard maxTokens <= configuration.maxTokens else {
                throw ServingError.invalid(
                    "`max_tokens` is \(maxTokens); this server allows at most \(configuration.maxTokens) (--max-tokens)",
                    param: "max_tokens")
            }
        }
        return try prompts.map { prompt in
            guard !prompt.isEmpty else { throw ServingError.invalid("the prompt encodes to no tokens", param: "prompt") }
            if let bad = prompt.first(where: { $0 < 0 || $0 >= info.vocabularySize }) {
                throw ServingError.invalid("token id \(bad) is outside the vocabulary of \(info.vocabularySize)", param: "prompt")
            }
            let room = info.contextLength - prompt.count
            let maxTokens = parameters.maxTokens ?? min(defaultMaxTokens ?? configuration.maxTokens, max(room, 1))
            guard prompt.count + maxTokens <= info.contextLength else {
                throw ServingError.invalid(
                    "This model's maximum context length is \(info.contextLength) tokens. However, you requested "
                        + "\(prompt.count + maxTokens) tokens (\(prompt.count) in the prompt, \(maxTokens) in the completion). "
                        + "Please reduce the length of the prompt or the completion.", param: "max_tokens")
            }
            let sampling: Sampling =
                temperature == 0
                ? .greedy
                : .sample(
                    temperature: Float(temperature), topK: max(topK, 0), topP: Float(topP),
                    seed: parameters.seed.map { UInt64(bitPattern: $0) } ?? UInt64.random(in: 0...UInt64.max))
            let (events, continuation) = AsyncThrowingStream<GenerationEvent, any Error>.makeStream()
            var job = GenerationJob(
                adapter: model, promptTokens: prompt, maxTokens: maxTokens, sampling: sampling, stops: parameters.stop, events: continuation
            )
            if configuration.requestTimeout > 0 { job.deadline = job.arrival + .milliseconds(Int(configuration.requestTimeout * 1000)) }
            let ticket = job.ticket
            continuation.onTermination = { _ in ticket.cancel() }
            return (job, events)
        }
    }

    // MARK: answers

    enum ResponseFormat {
        case completion(id: String, model: String)
        case chat(id: String, model: String)

        var created: Int { Int(Date().timeIntervalSince1970) }

        func whole(_ choices: [(text: String, tokens: [Int], reason: FinishReason)], usage: Usage) -> Response {
            switch self {
            case let .completion(id, model):
                let choices = choices.enumerated().map { index, choice in
                    CompletionChoice(index: index, tokens: choice.tokens, text: choice.text, finishReason: choice.reason)
                }
                return HTTPResponses.json(
                    ChoicesResponse(id: id, object: "text_completion", created: created, model: model, choices: choices, usage: usage))
            case let .chat(id, model):
                let choices = choices.enumerated().map { index, choice in
                    ChatChoice(
                        index: index, message: AssistantMessage(role: "assistant", content: choice.text), finishReason: choice.reason,
                        tokenIds: choice.tokens)
                }
                return HTTPResponses.json(
                    ChoicesResponse(
                        id: id, object: "chat.completion", created: created, model: model, choices: choices, usage: usage))
            }
        }

        /// A streamed chunk: `text` for choice `index`, or its end.
        func chunk(index: Int, text: String?, role: Bool = false, reason: FinishReason? = nil, usage: Usage? = nil) -> ByteBuffer {
            switch self {
            case let .completion(id, model):
                let choices = text.map { [CompletionChoice(index: index, tokens: nil, text: $0, finishReason: reason)] } ?? []
                return HTTPResponses.event(
                    ChoicesResponse(id: id, object: "text_completion", created: created, model: model, choices: choices, usage: usage))
            case let .chat(id, model):
                let delta = AssistantMessage(role: role ? "assistant" : nil, content: reason == nil ? text : nil)
                let choices = text.map { _ in [ChatChoice(index: index, delta: delta, finishReason: reason)] } ?? []
                return HTTPResponses.event(
                    ChoicesResponse(
                        id: id, object: "chat.completion.chunk", created: created, model: model, choices: choices, usage: usage))
            }
        }
    }

    private func answer(
        _ jobs: [(job: GenerationJob, events: AsyncThrowingStream<GenerationEvent, any Error>)], format: ResponseFormat,
        stream: Bool?, options: StreamOptions?, log: (String, String, ContinuousClock.Instant)
    ) async throws -> Response {
        guard stream == true else { return try await collect(jobs, format: format, log: log) }
        return try await self.stream(jobs, format: format, includeUsage: options?.includeUsage == true, log: log)
    }

    private func collect(
        _ jobs: [(job: GenerationJob, events: AsyncThrowingStream<GenerationEvent, any Error>)], format: ResponseFormat,
        log: (String, String, ContinuousClock.Instant)
    ) async throws -> Response {
        try engine.submit(jobs.map(\.job))
        var choices: [(text: String, tokens: [Int], reason: FinishReason)] = []
        var usage = Usage(prompt: 0, completion: 0)
        var engineTime = Duration.zero
        do {
            for (_, events) in jobs {
                var text = "", reason = FinishReason.stop, tokens: [Int] = []
                for try await event in events {
                    switch event {
                    case .text(let delta, _): text += delta
                    case let .finished(why, counts, generated, time):
                        (reason, tokens) = (why, generated)
                        engineTime = max(engineTime, time)
                        usage = Usage(
                            prompt: usage.promptTokens + counts.promptTokens, completion: usage.completionTokens + counts.completionTokens)
                    }
                }
                choices.append((text, tokens, reason))
            }
        } catch {
            jobs.forEach { $0.job.ticket.cancel() }
            throw error
        }
        record(log, status: 200, usage: usage)
        var response = format.whole(choices, usage: usage)
        // The engine's share of the latency, so a client can tell it from the server's overhead.
        let milliseconds = Double(engineTime.components.seconds) * 1000 + Double(engineTime.components.attoseconds) / 1e15
        response.headers[HTTPField.Name("Server-Timing")!] = "engine;dur=\(String(format: "%.3f", milliseconds))"
        return response
    }

    private func stream(
        _ jobs: [(job: GenerationJob, events: AsyncThrowingStream<GenerationEvent, any Error>)], format: ResponseFormat,
        includeUsage: Bool, log: (String, String, ContinuousClock.Instant)
    ) async throws -> Response {
        try engine.submit(jobs.map(\.job))
        // The first event decides the status: an unknown adapter is a 404, not an empty stream.
        var first = jobs[0].events.makeAsyncIterator()
        let opening: GenerationEvent?
        do {
            opening = try await first.next()
        } catch {
            jobs.forEach { $0.job.ticket.cancel() }
            throw error
        }
        let iterator = SendableIterator(first)
        return Response(
            status: .ok, headers: HTTPResponses.eventStreamHeaders,
            body: ResponseBody { [self] writer in
                var usage = Usage(prompt: 0, completion: 0)
                defer { jobs.forEach { $0.job.ticket.cancel() } }
                do {
                    for (index, entry) in jobs.enumerated() {
                        if case .chat = format { try await writer.write(format.chunk(index: index, text: "", role: true)) }
                        var events = index == 0 ? iterator.value : entry.events.makeAsyncIterator()
                        var pending = index == 0 ? opening : try await events.next()
                        while let event = pending {
                            switch event {
                            case .text(let delta, _):
                                if !delta.isEmpty { try await writer.write(format.chunk(index: index, text: delta)) }
                            case let .finished(reason, counts, _, _):
                                usage = Usage(
                                    prompt: usage.promptTokens + counts.promptTokens,
                                    completion: usage.completionTokens + counts.completionTokens)
                                try await writer.write(format.chunk(index: index, text: "", reason: reason))
                            }
                            pending = try await events.next()
                        }
                    }
                    if includeUsage { try await writer.write(format.chunk(index: 0, text: nil, usage: usage)) }
                    try await writer.write(HTTPResponses.done)
                    try await writer.finish(nil)
                    record(log, status: 200, usage: usage)
                } catch let failure as ServingError {
                    // The engine ended the request after the stream began (a timeout, a shutdown
                    // running out of time): say so in the stream, as vLLM does.
                    record(log, status: failure.status, usage: usage, error: failure.message)
                    try? await writer.write(HTTPResponses.event(failure.body))
                    try? await writer.finish(nil)
                } catch {
                    // A write failed: the client hung up. The deferred cancel frees its row; the
                    // log says 499, nginx's "client closed request".
                    record(log, status: 499, usage: usage, error: "the client disconnected")
                }
            })
    }

    // MARK: helpers

    private func decode<T: Decodable>(_ request: Request) async throws -> T {
        try await HTTPResponses.decode(request, limit: configuration.maxBodyBytes)
    }

    private func failure(_ error: any Error, id: String, started: ContinuousClock.Instant) -> Response {
        let failure = HTTPResponses.servingError(error)
        record((id, "", started), status: failure.status, usage: nil, error: failure.message)
        return HTTPResponses.error(failure)
    }

    /// The request's log line: id, adapter, status, tokens, milliseconds.
    private func record(_ log: (String, String, ContinuousClock.Instant), status: Int, usage: Usage?, error: String? = nil) {
        let (id, adapter, started) = log
        var line = "\(id) adapter=\(adapter.isEmpty ? "-" : adapter) status=\(status)"
        if let usage { line += " prompt_tokens=\(usage.promptTokens) completion_tokens=\(usage.completionTokens)" }
        line += " ms=\(HTTPResponses.milliseconds(since: started))"
        if let error { line += " error=\"\(error)\"" }
        logger.info("\(line)")
    }

    static func randomID() -> String {
        (0..<12).map { _ in String(UInt8.random(in: 0...255), radix: 16).leftPadded(to: 2) }.joined()
    }
}

/// Hands the iterator that already yielded the first event to the streaming body.
final class SendableIterator: @unchecked Sendable {
    var value: AsyncThrowingStream<GenerationEvent, any Error>.Iterator
    init(_ value: AsyncThrowingStream<GenerationEvent, any Error>.Iterator) { self.value = value }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
