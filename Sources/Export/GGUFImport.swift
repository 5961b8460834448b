import Adapters
import Diagnostics
import Foundation
import GGUF
import Models
import SafeTensors

/// GGUF back to Hugging Face: a llama/qwen2 model file into a model folder (config.json,
/// model.safetensors in f32, a byte-level BPE tokenizer.json), or a LoRA GGUF into a PEFT
/// adapter. Tensors are dequantized; q/k rows return to Hugging Face's order.
public enum GGUFImport {
    public struct Report: Codable, Sendable, Equatable {
        public var output: String
        public var kind: String
        public var architecture: String
        public var tensors: Int
    }

    public static func run(_ path: String, output: String, baseModel: String?) throws -> Report {
        let file = try GGUFFile(path: path)
        guard let architecture = file["general.architecture"]?.string, ["llama", "qwen2"].contains(architecture) else {
            throw GGUFError(
                file: path, "general.architecture is \(file["general.architecture"]?.string ?? "missing"); import reads llama and qwen2")
        }
        if file["general.type"]?.string == "adapter" {
            guard let baseModel else { throw GGUFError(file: path, "a LoRA GGUF needs --base-model (its heads order the q/k rows)") }
            return try adapter(file, architecture: architecture, output: output, baseModel: baseModel)
        }
        return try model(file, architecture: architecture, output: output)
    }

    /// The Hugging Face name of a llama.cpp tensor (".weight"/".bias" kept).
    static func huggingFaceName(_ name: String) -> String? {
        let (module, suffix) = LlamaCppLayout.split(name)
        switch module {
        case "token_embd": return "model.embed_tokens" + suffix
        case "output_norm": return "model.norm" + suffix
        case "output": return "lm_head" + suffix
        default: break
        }
        let parts = module.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, parts[0] == "blk", let layer = Int(parts[1]),
            let inner = LlamaCppLayout.layerNames.first(where: { $0.1 == parts[2] })?.0
        else { return nil }
        return "model.layers.\(layer).\(inner)" + suffix
    }

    static func int(_ file: GGUFFile, _ key: String) throws -> Int {
        guard let value = file[key]?.integer else { throw GGUFError(file: file.path, "needs \(key)") }
        return value
    }

    static func model(_ file: GGUFFile, architecture a: String, output: String) throws -> Report {
        let heads = try int(file, "\(a).attention.head_count"), kvHeads = file["\(a).attention.head_count_kv"]?.integer ?? heads
        let hidden = try int(file, "\(a).embedding_length")
        var tensors: [TensorData] = []
        for info in file.tensors where info.name != "rope_freqs.weight" {
            guard let name = huggingFaceName(info.name) else {
                throw GGUFError(file: file.path, "tensor \(info.name) has no Hugging Face name")
            }
            var values = try file.floats(of: info)
            if let h = LlamaCppLayout.permutationHeads(of: name, architecture: a, heads: heads, kvHeads: kvHeads) {
                values = LlamaCppLayout.permuteRows(values, rows: info.shape[0], columns: info.shape[1], heads: h, inverse: true)
            }
            tensors.append(TensorData(name: name, shape: info.shape, floats: values))
        }
        let vocabulary = try file.tensor("token_embd.weight").shape[0]
        var config: [String: Any] = [
            "architectures": [a == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"], "model_type": a, "hidden_size": hidden,
            "intermediate_size": try int(file, "\(a).feed_forward_length"), "num_hidden_layers": try int(file, "\(a).block_count"),
            "num_attention_heads": heads, "num_key_value_heads": kvHeads,
            "head_dim": file["\(a).attention.key_length"]?.integer ?? file["\(a).rope.dimension_count"]?.integer ?? hidden / heads,
            "max_position_embeddings": try int(file, "\(a).context_length"),
            "rms_norm_eps": file["\(a).attention.layer_norm_rms_epsilon"]?.float ?? 1e-6,
            "rope_parameters": ["rope_theta": file["\(a).rope.freq_base"]?.float ?? 10000, "rope_type": "default"] as [String: Any],
            "vocab_size": vocabulary, "tie_word_embeddings": !file.tensors.contains { $0.name == "output.weight" },
            "attention_bias": file.tensors.contains { $0.name.hasSuffix("attn_q.bias") }, "hidden_act": "silu", "dtype": "float32",
        ]
        for (key, name) in [("bos_token_id", "bos"), ("eos_token_id", "eos"), ("pad_token_id", "padding")] {
            if let id = file["tokenizer.ggml.\(name)_token_id"]?.integer { config[key] = id }
        }
        let tokenizer = try tokenizerJSON(file)
        try ScratchFolder.build(output) { scratch in
            try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: scratch + "/model.safetensors")
            try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]).write(
                to: URL(fileURLWithPath: scratch + "/config.json"))
            try JSONSerialization.data(withJSONObject: tokenizer, options: [.sortedKeys]).write(
                to: URL(fileURLWithPath: scratch + "/tokenizer.json"))
            if let template = file["tokenizer.chat_template"]?.string {
                let special = file["tokenizer.ggml.tokens"]?.strings ?? []
                var tokenizerConfig: [String: Any] = ["chat_template": template]
                for (key, name) in [("bos_token", "bos"), ("eos_token", "eos"), ("pad_token", "padding")] {
                    if let id = file["tokenizer.ggml.\(name)_token_id"]?.integer, special.indices.contains(id) {
                        tokenizerConfig[key] = special[id]
                    }
                }
                try JSONSerialization.data(withJSONObject: tokenizerConfig, options: [.prettyPrinted, .sortedKeys])
                    .write(to: URL(fileURLWithPath: scratch + "/tokenizer_config.json"))
            }
        }
        return Report(output: output, kind: "model", architecture: a, tensors: tensors.count)
    }

    /// A byte-level BPE tokenizer.json from `tokenizer.ggml.*` (the "gpt2" model llama.cpp uses
    /// for GPT-2, Llama 3 and Qwen2 tokenizers).
    static func tokenizerJSON(_ file: GGUFFile) throws -> [String: Any] {
        guard file["tokenizer.ggml.model"]?.string == "gpt2", let tokens = file["tokenizer.ggml.tokens"]?.strings else {
            throw GGUFError(file: file.path, "import reads byte-level BPE tokenizers (tokenizer.ggml.model gpt2) only")
        }
        let types: [Int] = {
            guard case .array(_, let items)? = file["tokenizer.ggml.token_type"] else { return [] }
            return items.compactMap(\.integer)
        }()
        let merges = file["tokenizer.ggml.merges"]?.strings ?? []
        var vocab: [String: Int] = [:], added: [[String: Any]] = []
        for (id, token) in tokens.enumerated() {
            let type = types.indices.contains(id) ? types[id] : 1
            if type == 5 { continue }
            if type == 3 || type == 4 {
                added.append([
                    "id": id, "content": token, "single_word": false, "lstrip": false, "rstrip": false, "normalized": type == 4,
                    "special": type == 3,
                ])
            } else {
                vocab[token] = id
            }
        }
        let pre = file["tokenizer.ggml.pre"]?.string ?? "default"
        let regex = GGUFTokenizer.preTokenizers.first { $0.value == pre }?.key
        let byteLevel: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": regex == nil]
        let preTokenizer: [String: Any] =
            regex.map {
                [
                    "type": "Sequence",
                    "pretokenizers": [
                        ["type": "Split", "pattern": ["Regex": $0], "behavior": "Isolated", "invert": false] as [String: Any], byteLevel,
                    ],
                ]
            } ?? byteLevel
        var json: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added, "normalizer": NSNull(),
            "pre_tokenizer": preTokenizer,
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": [
                "type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": vocab, "merges": merges,
            ] as [String: Any],
        ]
        if file["tokenizer.ggml.add_bos_token"] == .bool(true), let bos = file["tokenizer.ggml.bos_token_id"]?.integer,
            tokens.indices.contains(bos)
        {
            json["post_processor"] =
                [
                    "type": "TemplateProcessing",
                    "single": [["SpecialToken": ["id": tokens[bos], "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]],
                    "pair": [
                        ["SpecialToken": ["id": tokens[bos], "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]],
                        ["SpecialToken": ["id": tokens[bos], "type_id": 1]], ["Sequence": ["id": "B", "type_id": 1]],
                    ],
                    "special_tokens": [tokens[bos]: ["id": tokens[bos], "ids": [bos], "tokens": [tokens[bos]]]],
                ] as [String: Any]
        } else {
            json["post_processor"] = NSNull()
        }
        return json
    }

    static func adapter(_ file: GGUFFile, architecture: String, output: String, baseModel: String) throws -> Report {
        let config = try LlamaConfig(ConfigReader(path: baseModel + "/config.json"))
        guard case .float32(let alpha)? = file["adapter.lora.alpha"] else {
            throw GGUFError(file: file.path, "needs adapter.lora.alpha (f32)")
        }
        var tensors: [TensorData] = [], modules: [String] = [], ranks: [String: Int] = [:]
        for info in file.tensors where info.name.hasSuffix(".lora_a") {
            let base = String(info.name.dropLast(".lora_a".count))
            guard let hfName = huggingFaceName(base), hfName.hasSuffix(".weight") else {
                throw GGUFError(file: file.path, "tensor \(info.name) has no Hugging Face module")
            }
            let module = String(hfName.dropLast(".weight".count))
            let b = try file.tensor(base + ".lora_b")
            var bValues = try file.floats(of: b)
            if let heads = LlamaCppLayout.permutationHeads(
                of: hfName, architecture: architecture, heads: config.heads, kvHeads: config.kvHeads)
            {
                bValues = LlamaCppLayout.permuteRows(bValues, rows: b.shape[0], columns: b.shape[1], heads: heads, inverse: true)
            }
            tensors.append(
                TensorData(name: "base_model.model.\(module).lora_A.weight", shape: info.shape, floats: try file.floats(of: info)))
            tensors.append(TensorData(name: "base_model.model.\(module).lora_B.weight", shape: b.shape, floats: bValues))
            modules.append(module)
            ranks[module] = info.shape[0]
        }
        guard let rank = ranks.values.max() else { throw GGUFError(file: file.path, "has no lora_a/lora_b tensors") }
        var lora = LoRAConfig(r: rank, alpha: Double(alpha), targets: .names(modules.sorted()), taskType: "CAUSAL_LM", baseModel: baseModel)
        // llama.cpp scales each tensor by alpha / its own rank: a smaller rank keeps alpha.
        for (module, r) in ranks where r != rank { lora.rankPattern[NSRegularExpression.escapedPattern(for: module)] = r }
        try ScratchFolder.build(output) { scratch in
            try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: scratch + "/" + PEFTAdapterFolder.weightsFile)
            try Data(lora.jsonText().utf8).write(to: URL(fileURLWithPath: scratch + "/" + PEFTAdapterFolder.configFile))
        }
        return Report(output: output, kind: "lora", architecture: architecture, tensors: tensors.count)
    }
}
