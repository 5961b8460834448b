import Diagnostics
import Foundation
import GGUF

/// The `tokenizer.ggml.*` metadata llama.cpp needs, from a model folder's tokenizer.json,
/// tokenizer_config.json and config.json, as llama.cpp's converter writes it for byte-level BPE
/// tokenizers (`tokenizer.ggml.model` "gpt2": GPT-2, Llama 3, Qwen2, SmolLM).
enum GGUFTokenizer {
    /// llama.cpp's token types.
    enum TokenType: Int32 { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    /// llama.cpp's pre-tokenizer names for the splitting expressions it knows; others run its default.
    static let preTokenizers: [String: String] = [
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#:
            "llama-bpe",
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: "qwen2",
    ]

    static func metadata(folder: String, vocabularySize: Int, config: [String: Any]) throws -> [(String, GGUFValue)] {
        let path = folder + "/tokenizer.json"
        let data = Data(try TextFile.bytes(path, for: GGUFModule.self))
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let model = json["model"] as? [String: Any]
        else {
            throw GGUFError(file: path, "not a tokenizer.json object")
        }
        guard model["type"] as? String == "BPE", let vocab = model["vocab"] as? [String: Int] else {
            throw GGUFError(
                file: path, "llama.cpp export handles byte-level BPE tokenizers; this one is \(model["type"] as? String ?? "unknown")")
        }
        var tokens = [String?](repeating: nil, count: vocabularySize)
        var types = [TokenType](repeating: .normal, count: vocabularySize)
        for (token, id) in vocab where id >= 0 && id < vocabularySize { tokens[id] = token }
        for entry in json["added_tokens"] as? [[String: Any]] ?? [] {
            guard let id = entry["id"] as? Int, id >= 0, id < vocabularySize, let content = entry["content"] as? String else { continue }
            tokens[id] = content
            types[id] = entry["special"] as? Bool == true ? .control : .userDefined
        }
        for id in tokens.indices where tokens[id] == nil {
            tokens[id] = "[PAD\(id)]"
            types[id] = .unused
        }
        let merges: [String] = (model["merges"] as? [Any] ?? []).compactMap { merge in
            if let text = merge as? String { return text }
            if let pair = merge as? [String], pair.count == 2 { return pair[0] + " " + pair[1] }
            return nil
        }
        var out: [(String, GGUFValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string(preTokenizer(json))),
            ("tokenizer.ggml.tokens", .array(.string, tokens.map { .string($0!) })),
            ("tokenizer.ggml.token_type", .array(.int32, types.map { .int32($0.rawValue) })),
            ("tokenizer.ggml.merges", .array(.string, merges.map { .string($0) })),
        ]
        func id(_ key: String) -> Int? {
            if let value = config[key] as? Int { return value }
            return (config[key] as? [Int])?.first
        }
        let tokenizerConfig =
            (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/tokenizer_config.json"))))
            as? [String: Any] ?? [:]
        func tokenId(_ name: String) -> Int? {
            let value = tokenizerConfig[name]
            let text = value as? String ?? (value as? [String: Any])?["content"] as? String
            return text.flatMap { text in tokens.firstIndex(of: text) }
        }
        for (key, configKey, tokenKey) in [
            ("bos", "bos_token_id", "bos_token"), ("eos", "eos_token_id", "eos_token"), ("padding", "pad_token_id", "pad_token"),
            ("unknown", "unk_token_id", "unk_token"),
        ] {
            if let value = tokenId(tokenKey) ?? id(configKey), value >= 0, value < vocabularySize {
                out.append(("tokenizer.ggml.\(key)_token_id", .uint32(UInt32(value))))
            }
        }
        // Whether llama.cpp puts BOS first: the post-processor's template says so.
        if let processor = json["post_processor"] as? [String: Any] {
            let single = String(describing: processor["single"] ?? processor["processors"] ?? "")
            let bos = id("bos_token_id").flatMap { tokens.indices.contains($0) ? tokens[$0] : nil }
            out.append(("tokenizer.ggml.add_bos_token", .bool(bos.map { single.contains($0) } ?? false)))
        }
        if let template = tokenizerConfig["chat_template"] as? String { out.append(("tokenizer.chat_template", .string(template))) }
        return out
    }

    static func preTokenizer(_ json: [String: Any]) -> String {
        guard let pre = json["pre_tokenizer"] as? [String: Any] else { return "default" }
        let parts = pre["type"] as? String == "Sequence" ? pre["pretokenizers"] as? [[String: Any]] ?? [] : [pre]
        for part in parts where part["type"] as? String == "Split" {
            if let regex = (part["pattern"] as? [String: Any])?["Regex"] as? String, let name = preTokenizers[regex] { return name }
        }
        if parts.count == 1, parts[0]["type"] as? String == "ByteLevel" { return "gpt-2" }
        return "default"
    }
}
