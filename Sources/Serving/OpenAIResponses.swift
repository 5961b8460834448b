import Foundation
import Inference

/// Token counts of one request, as OpenAI reports them.
public struct Usage: Codable, Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int

    public init(prompt: Int, completion: Int) {
        (promptTokens, completionTokens, totalTokens) = (prompt, completion, prompt + completion)
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
    }
}

/// Why a sequence ended: OpenAI's `finish_reason`.
public enum FinishReason: String, Codable, Sendable {
    /// An end-of-sequence token or a stop string.
    case stop
    /// `max_tokens` reached.
    case length
}

/// One choice of a completion. OpenAI sends `logprobs` and `finish_reason` as explicit nulls, so
/// these types write their nil fields rather than leave them out.
struct CompletionChoice: Encodable, Sendable {
    var index: Int
    var text: String
    var finishReason: FinishReason?
    /// vLLM's `token_ids`: the generated ids, as `tailor generate --json` prints them.
    var tokenIds: [Int]?

    init(index: Int, tokens: [Int]?, text: String, finishReason: FinishReason?) {
        (self.index, self.text, self.finishReason, tokenIds) = (index, text, finishReason, tokens)
    }

    enum CodingKeys: String, CodingKey {
        case index, text, logprobs, finishReason = "finish_reason", tokenIds = "token_ids"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        try c.encode(text, forKey: .text)
        try c.encodeNil(forKey: .logprobs)
        try c.encode(finishReason, forKey: .finishReason)
        try c.encodeIfPresent(tokenIds, forKey: .tokenIds)
    }
}

/// An answer with choices: `text_completion`, `chat.completion` or `chat.completion.chunk`
/// (whole, or one streamed chunk). `usage` is written as null when absent, as OpenAI does.
struct ChoicesResponse<Choice: Encodable & Sendable>: Encodable, Sendable {
    var id: String
    var object: String
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage?

    enum CodingKeys: String, CodingKey { case id, object, created, model, choices, usage }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(object, forKey: .object)
        try c.encode(created, forKey: .created)
        try c.encode(model, forKey: .model)
        try c.encode(choices, forKey: .choices)
        try c.encode(usage, forKey: .usage)
    }
}

/// A chat message the server answers with (`message` whole, or a streamed `delta`).
struct AssistantMessage: Encodable, Sendable {
    var role: String?
    var content: String?
}

struct ChatChoice: Encodable, Sendable {
    var index: Int
    var message: AssistantMessage?
    var delta: AssistantMessage?
    var finishReason: FinishReason?
    var tokenIds: [Int]?

    enum CodingKeys: String, CodingKey {
        case index, message, delta, logprobs, finishReason = "finish_reason", tokenIds = "token_ids"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        try c.encodeIfPresent(message, forKey: .message)
        try c.encodeIfPresent(delta, forKey: .delta)
        try c.encodeNil(forKey: .logprobs)
        try c.encode(finishReason, forKey: .finishReason)
        try c.encodeIfPresent(tokenIds, forKey: .tokenIds)
    }
}

/// `POST /v1/classify`'s answer: one ``ClassifiedText`` per input, as `tailor classify --json`
/// prints them, in input order.
struct ClassifyResponse: Encodable, Sendable {
    var id: String
    var object = "list"
    var created: Int
    var model: String
    var data: [ClassifiedText]
    var usage: Usage
}

/// One entry of `GET /v1/models`, as vLLM lists a base and its LoRA adapters.
public struct ModelCard: Codable, Sendable, Equatable {
    public var id: String
    public var object = "model"
    public var created: Int
    public var ownedBy = "tailor"
    /// The base's folder, or the adapter's folder or registry reference.
    public var root: String
    /// The base's name for an adapter; nil for the base.
    public var parent: String?
    public var maxModelLen: Int?
    /// Whether the adapter is attached now (loaded adapters first answer without loading).
    public var loaded: Bool

    enum CodingKeys: String, CodingKey {
        case id, object, created, root, parent, loaded
        case ownedBy = "owned_by", maxModelLen = "max_model_len"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(object, forKey: .object)
        try c.encode(created, forKey: .created)
        try c.encode(ownedBy, forKey: .ownedBy)
        try c.encode(root, forKey: .root)
        try c.encode(parent, forKey: .parent)
        try c.encodeIfPresent(maxModelLen, forKey: .maxModelLen)
        try c.encode(loaded, forKey: .loaded)
    }
}

struct ModelList: Encodable, Sendable {
    var object = "list"
    var data: [ModelCard]
}
