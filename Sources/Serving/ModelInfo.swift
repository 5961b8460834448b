import Tokenizers

/// What request handlers need to know about the served model, fixed once it has loaded (so they
/// read it without going through the engine thread).
struct ModelInfo: Sendable {
    let task: ServerConfiguration.Task
    let tokenizer: Tokenizer
    /// Tokens a sequence may hold, prompt and completion together.
    let contextLength: Int
    let vocabularySize: Int

    /// The chat's prompt text, through the model's chat template.
    func renderChat(_ request: ChatCompletionRequest) throws -> String {
        throw ServingError.invalid("\(tokenizer.path): the model has no chat template; use /v1/completions")
    }
}
