import TrainingCore

/// Everything `tailor serve` is started with.
public struct ServerConfiguration: Sendable {
    /// What the served model does: continue text, or label it with its classification head.
    public enum Task: String, Sendable, CaseIterable {
        case generate, classify
    }

    public var model: String
    /// The name `model` takes for the base in requests and `/v1/models` (default: the folder's name).
    public var servedModelName: String?
    public var registry: String
    /// Adapters attached at start: registry references, or `NAME=FOLDER`.
    public var adapters: [String] = []
    /// nil: generate when the model can, else classify.
    public var task: Task?
    public var host = "127.0.0.1"
    public var port = 8080
    /// Sequences decoded together in one step.
    public var maxBatch = 16
    /// Requests waiting for a place in the batch before new ones get 429.
    public var maxQueue = 256
    public var maxLoadedAdapters = 32
    /// The largest `max_tokens` a request may ask for.
    public var maxTokens = 512
    /// Prompt tokens prefilled per engine step, shared by the prompts being prefilled, so that a
    /// long prompt delays running sequences by one chunk at a time, not by the whole prompt.
    public var prefillChunk = 256
    /// Seconds a request may take, waiting included (0: no limit).
    public var requestTimeout: Double = 60
    /// Seconds SIGTERM waits for running requests before it cancels them.
    public var shutdownGrace: Double = 30
    public var apiKey: String?
    /// Apply registry adapters trained on another base anyway.
    public var force = false
    public var computeDType: ComputeDType?
    public var quantizeHead = false
    /// The largest request body read.
    public var maxBodyBytes = 8 << 20

    public init(model: String, registry: String) {
        self.model = model
        self.registry = registry
    }

    /// The name the base answers to.
    public var baseName: String {
        servedModelName ?? model.split(separator: "/").last.map(String.init) ?? model
    }
}
