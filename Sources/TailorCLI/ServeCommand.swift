import ArgumentParser
import Foundation
import Logging
import Serving
import TrainingCore

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a model and its adapters over an OpenAI API.",
        discussion: """
            One base model, any number of adapters: a request's "model" names the adapter (a \
            registry reference NAME, NAME@TAG, NAME@3, a weighted stack a:0.7+b:0.3, a name given \
            to /v1/load_lora_adapter or --adapter NAME=FOLDER, or the base's name or "" for the \
            base). Adapters load on first use; past --max-loaded-adapters the least recently used \
            idle one is dropped. Requests with different adapters are decoded together in one \
            batch (continuous batching: a request joins the running batch at the next step).

            Endpoints: POST /v1/completions, /v1/chat/completions (stream: true for server-sent \
            events), /v1/classify (a classification model), GET /v1/models, POST \
            /v1/load_lora_adapter and /v1/unload_lora_adapter (vLLM's), GET /health (503 while \
            loading) and /metrics (Prometheus). SIGTERM stops taking connections, lets running \
            requests finish (at most --shutdown-grace seconds) and exits 0.

            Examples:
              tailor serve --model ./llama --port 8080
              tailor serve --model ./llama --adapter notes@prod --adapter style=./style-adapter --api-key-file key.txt
              curl localhost:8080/v1/completions -H 'Content-Type: application/json' \\
                -d '{"model": "notes@prod", "prompt": "Dear team", "max_tokens": 20, "temperature": 0}'
              tailor serve --model fixtures/tiny-bert --task classify --port 0 --json
            """
    )

    @Option(help: "The model folder (config.json, safetensors, tokenizer.json).")
    var model: String

    @OptionGroup var registryOptions: RegistryOptions

    @Option(
        help: ArgumentHelp(
            "An adapter to load at start: a registry reference, or NAME=FOLDER for a PEFT folder requests call NAME. Repeatable.",
            valueName: "adapter"))
    var adapter: [String] = []

    @Flag(help: "Apply registry adapters even if they were trained on a different base model.")
    var force = false

    @Option(help: "generate or classify (default: generate when the model can).")
    var task: ServerConfiguration.Task?

    @Option(help: "The name requests and /v1/models use for the base (default: the folder's name).")
    var servedModelName: String?

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0: any free port, printed at start).")
    var port = 8080

    @Option(help: "Sequences decoded together in one step.")
    var maxBatch = 16

    @Option(help: "Requests waiting for the batch before new ones get 429.")
    var maxQueue = 256

    @Option(help: "Adapters attached at once; the least recently used idle one is dropped past this.")
    var maxLoadedAdapters = 32

    @Option(help: "The largest max_tokens a request may ask for.")
    var maxTokens = 512

    @Option(help: "Prompt tokens prefilled per step, so a long prompt never stalls the running batch for long.")
    var prefillChunk = 256

    @Option(help: "Seconds a request may take, queueing included (0: no limit).")
    var requestTimeout: Double = 60

    @Option(help: "Seconds SIGTERM lets running requests finish before ending them.")
    var shutdownGrace: Double = 30

    @Option(help: "A file holding the API key: /v1 requests must then send `Authorization: Bearer <key>`.")
    var apiKeyFile: String?

    @Option(
        name: .customLong("compute-dtype"),
        help: "f32, or bf16 as transformers computes a bfloat16 model (default: torch_dtype / bnb_4bit_compute_dtype).")
    var computeDType: ComputeDType?

    @Flag(help: "Decode with an in-memory NF4 copy of the output head.")
    var quantizeHead = false

    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        try requireRange((0...65535).contains(port), "--port", "0…65535", port)
        for (value, name) in [(maxBatch, "--max-batch"), (maxQueue, "--max-queue"), (maxLoadedAdapters, "--max-loaded-adapters")] {
            try requireRange(value >= 1, name, "at least 1", value)
        }
        try requireRange(maxTokens >= 1, "--max-tokens", "at least 1", maxTokens)
        try requireRange(prefillChunk >= 1, "--prefill-chunk", "at least 1", prefillChunk)
        try requireRange(requestTimeout.isFinite && requestTimeout >= 0, "--request-timeout", "seconds ≥ 0", requestTimeout)
        try requireRange(shutdownGrace.isFinite && shutdownGrace >= 0, "--shutdown-grace", "seconds ≥ 0", shutdownGrace)
    }

    func run() throws {
        try reportingErrors {
            var configuration = ServerConfiguration(model: model, registry: registryOptions.root)
            configuration.adapters = adapter
            configuration.task = task
            configuration.force = force
            configuration.servedModelName = servedModelName
            configuration.host = host
            configuration.port = port
            configuration.maxBatch = maxBatch
            configuration.maxQueue = maxQueue
            configuration.maxLoadedAdapters = maxLoadedAdapters
            configuration.maxTokens = maxTokens
            configuration.prefillChunk = prefillChunk
            configuration.requestTimeout = requestTimeout
            configuration.shutdownGrace = shutdownGrace
            configuration.computeDType = computeDType
            configuration.quantizeHead = quantizeHead
            if let apiKeyFile {
                let key = try String(contentsOfFile: apiKeyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                guard !key.isEmpty else { throw ValidationError("\(apiKeyFile): the API key file is empty") }
                configuration.apiKey = key
            }
            var logger = Logger(label: "tailor.serve") { StreamLogHandler.standardError(label: $0) }
            logger.logLevel = .info
            let server = Server(configuration: configuration, logger: logger)
            Interrupts.stopGracefully { Task { await server.stop() } }
            let json = outputOptions.json
            let host = configuration.host
            try runBlocking {
                try await server.run(signals: false) { port in
                    if json {
                        print("{\"listening\": {\"host\": \"\(host)\", \"port\": \(port)}}")
                    } else {
                        print("tailor serve: listening on http://\(host):\(port) (loading the model; GET /health says when it is ready)")
                    }
                    fflush(nil)
                }
            }
        }
    }
}

/// Runs async work to its end from a synchronous command.
func runBlocking(_ body: @escaping @Sendable () async throws -> Void) throws {
    let done = DispatchSemaphore(value: 0)
    let outcome = OutcomeBox()
    Task {
        do { try await body() } catch { outcome.error = error }
        done.signal()
    }
    done.wait()
    if let error = outcome.error { throw error }
}

private final class OutcomeBox: @unchecked Sendable {
    var error: (any Error)?
}

extension ServerConfiguration.Task: ExpressibleByArgument {}
