import Tokenizers

/// What request handlers need to know about the served model, fixed once it has loaded (so they
/// read it without going through the engine thread).
struct ModelInfo: Sendable {
    let task: ServerConfiguration.Task
    let tokenizer: Tokenizer
    /// Tokens a sequence may hold, prompt and completion together.
    let contextLength: Int
    let vocabularySize: Int
    /// The model folder's chat template, or why it has none (reported to chat requests only).
    let chatTemplate: Result<ChatTemplate, TokenizerError>
}
