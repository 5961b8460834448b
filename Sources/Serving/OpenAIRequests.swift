import Foundation

/// A string, or an array of strings (OpenAI's `stop`, `prompt` and `input` take either).
struct StringOrArray: Decodable, Sendable {
    var values: [String]

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let one = try? container.decode(String.self) {
            values = [one]
        } else {
            values = try container.decode([String].self)
        }
    }
}

/// `POST /v1/completions`, field for field as OpenAI's legacy completions (and vLLM's `top_k`).
struct CompletionRequest: Decodable, Sendable {
    enum Prompt: Sendable {
        case texts([String])
        case tokens([[Int]])
    }

    var model: String?
    var prompt: Prompt
    var maxTokens: Int?
    var temperature: Double?
    var topP: Double?
    var topK: Int?
    var n: Int?
    var stream: Bool?
    var streamOptions: StreamOptions?
    var stop: StringOrArray?
    var seed: Int64?
    var echo: Bool?
    var logprobs: Int?
    var user: String?

    enum CodingKeys: String, CodingKey {
        case model, prompt, temperature, n, stream, stop, seed, echo, logprobs, user
        case maxTokens = "max_tokens", topP = "top_p", topK = "top_k", streamOptions = "stream_options"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        if let text = try? c.decode(String.self, forKey: .prompt) {
            prompt = .texts([text])
        } else if let texts = try? c.decode([String].self, forKey: .prompt) {
            prompt = .texts(texts)
        } else if let ids = try? c.decode([Int].self, forKey: .prompt) {
            prompt = .tokens([ids])
        } else if let lists = try? c.decode([[Int]].self, forKey: .prompt) {
            prompt = .tokens(lists)
        } else {
            throw DecodingError.dataCorruptedError(
                forKey: .prompt, in: c, debugDescription: "`prompt` must be a string, a list of strings or a list of token ids")
        }
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens)
        temperature = try c.decodeIfPresent(Double.self, forKey: .temperature)
        topP = try c.decodeIfPresent(Double.self, forKey: .topP)
        topK = try c.decodeIfPresent(Int.self, forKey: .topK)
        n = try c.decodeIfPresent(Int.self, forKey: .n)
        stream = try c.decodeIfPresent(Bool.self, forKey: .stream)
        streamOptions = try c.decodeIfPresent(StreamOptions.self, forKey: .streamOptions)
        stop = try c.decodeIfPresent(StringOrArray.self, forKey: .stop)
        seed = try c.decodeIfPresent(Int64.self, forKey: .seed)
        echo = try c.decodeIfPresent(Bool.self, forKey: .echo)
        logprobs = try c.decodeIfPresent(Int.self, forKey: .logprobs)
        user = try c.decodeIfPresent(String.self, forKey: .user)
    }

    var sampling: SamplingParameters {
        SamplingParameters(
            maxTokens: maxTokens, temperature: temperature, topP: topP, topK: topK, n: n, stop: stop?.values ?? [], seed: seed,
            logprobs: logprobs != nil)
    }
}

struct StreamOptions: Codable, Sendable {
    var includeUsage: Bool?
    enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
}

/// One message of a chat, checked for its shape: a string `role`, and `content` a string, a
/// list of text parts (joined with newlines, as vLLM does) or null. The template gets the whole
/// message as sent (tool calls, names…) from ``ChatPrompt``.
struct ChatMessage: Decodable, Sendable {
    var role: String
    var content: String?

    struct Part: Decodable {
        var type: String
        var text: String?
    }

    enum CodingKeys: String, CodingKey { case role, content }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        role = try c.decode(String.self, forKey: .role)
        if try c.decodeNil(forKey: .content) {
            content = nil
        } else if let text = try? c.decode(String.self, forKey: .content) {
            content = text
        } else if let parts = try? c.decode([Part].self, forKey: .content) {
            guard parts.allSatisfy({ $0.type == "text" && $0.text != nil }) else {
                throw DecodingError.dataCorruptedError(forKey: .content, in: c, debugDescription: "only text content parts are supported")
            }
            content = parts.compactMap(\.text).joined(separator: "\n")
        } else {
            throw DecodingError.dataCorruptedError(
                forKey: .content, in: c, debugDescription: "`content` must be a string or a list of parts")
        }
    }
}

/// `POST /v1/chat/completions`.
struct ChatCompletionRequest: Decodable, Sendable {
    var model: String?
    var messages: [ChatMessage]
    var maxTokens: Int?
    var maxCompletionTokens: Int?
    var temperature: Double?
    var topP: Double?
    var topK: Int?
    var n: Int?
    var stream: Bool?
    var streamOptions: StreamOptions?
    var stop: StringOrArray?
    var seed: Int64?
    var logprobs: Bool?
    var addGenerationPrompt: Bool?
    var user: String?

    enum CodingKeys: String, CodingKey {
        case model, messages, temperature, n, stream, stop, seed, logprobs, user
        case maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens", topP = "top_p", topK = "top_k"
        case streamOptions = "stream_options", addGenerationPrompt = "add_generation_prompt"
    }

    var sampling: SamplingParameters {
        SamplingParameters(
            maxTokens: maxCompletionTokens ?? maxTokens, temperature: temperature, topP: topP, topK: topK, n: n,
            stop: stop?.values ?? [], seed: seed, logprobs: logprobs == true)
    }
}

/// `POST /v1/classify` (ours): texts to label with the model's classification head.
struct ClassifyRequest: Decodable, Sendable {
    var model: String?
    var input: StringOrArray
}

/// vLLM's `POST /v1/load_lora_adapter`.
struct LoadAdapterRequest: Decodable, Sendable {
    var loraName: String
    var loraPath: String
    enum CodingKeys: String, CodingKey {
        case loraName = "lora_name", loraPath = "lora_path"
    }
}

/// vLLM's `POST /v1/unload_lora_adapter`.
struct UnloadAdapterRequest: Decodable, Sendable {
    var loraName: String
    enum CodingKeys: String, CodingKey { case loraName = "lora_name" }
}

/// The sampling fields completions and chat share, before validation.
struct SamplingParameters: Sendable {
    var maxTokens: Int?
    var temperature: Double?
    var topP: Double?
    var topK: Int?
    var n: Int?
    var stop: [String]
    var seed: Int64?
    var logprobs: Bool
}
