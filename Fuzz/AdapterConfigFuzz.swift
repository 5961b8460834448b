// adapter_config.json: every PEFT config reader (LoRAConfig(json:) in LoRAConfig.swift, IA3Config,
// BottleneckConfig, prompt/prefix tuning's fields in PromptLearning.swift), reached the way
// `tailor` reaches them: PEFTAdapterFolder.loadAny on in-memory AdapterFiles (the registry's
// path; a folder's differs only in reading the files), into a freshly loaded tiny base.
// The weights are a real adapter's from fixtures/peft (PEFT's, then Tailor's), picked by what the
// config says (peft_type, use_dora, init_lora_weights, and "llama" in base_model_name_or_path for
// the base), so a config close to a seed gets past the shape checks. After a successful load: the adapter's parameters,
// its config re-rendered, a forward pass through the adapted model, and for plain LoRA the
// ΔW reader (AdapterUpdates) and the matcher and pattern lookups on the model's module names.
import Foundation
import Models
import SafeTensors
import TrainingCore

@testable import Adapters

enum Harness {
    static var weights: [String: [UInt8]] = [:]

    static func setUp() {
        for base in ["bert", "llama"] {
            for method in ["lora", "dora", "pissa", "ia3", "prefix", "prompt"] {
                for prefix in ["", "tailor-"] {
                    let path = Fuzz.fixtures + "/peft/\(prefix)tiny-\(base)-\(method)/adapter_model.safetensors"
                    if FileManager.default.fileExists(atPath: path) { weights["\(prefix)\(base)-\(method)"] = Fuzz.read(path) }
                }
            }
        }
    }

    static func run(_ bytes: [UInt8]) {
        guard let json = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else { return }
        // The readers alone first (what `tailor train --stack`, diff and merge read).
        if let lora = try? LoRAConfig(json: json, file: "fuzz") {
            _ = lora.jsonText()
            let names = ["bert.encoder.layer.0.attention.self.query", "model.layers.1.mlp.down_proj", "classifier", "lm_head"]
            _ = lora.matcher.select(names, outputModule: "lm_head")
            for name in names {
                _ = lora.rank(for: name)
                _ = lora.scale(for: name)
            }
        }
        _ = try? IA3Config(json: json, file: "fuzz").jsonText()
        _ = try? BottleneckConfig(json: json, file: "fuzz")

        let llama = (json["base_model_name_or_path"] as? String)?.contains("llama") ?? false
        let type = json["peft_type"] as? String ?? "LORA"
        let method: String
        switch type {
        case "IA3": method = "ia3"
        case "PREFIX_TUNING": method = "prefix"
        case "PROMPT_TUNING": method = "prompt"
        default: method = json["use_dora"] as? Bool == true ? "dora" : (json["init_lora_weights"] as? String == "pissa" ? "pissa" : "lora")
        }
        let base = llama ? "llama" : "bert"
        // Two adapters per method in fixtures/peft (PEFT's and Tailor's); the config decides which fits.
        for weightsKey in ["\(base)-\(method)", "tailor-\(base)-\(method)"] {
            guard let modelWeights = weights[weightsKey] else { continue }
            if load(bytes, weights: modelWeights, llama: llama, label: weightsKey, plainLoRA: type == "LORA" && method == "lora") { return }
        }
    }

    /// Loads the adapter into a fresh base (loading changes the base); false when it is refused.
    static func load(_ config: [UInt8], weights modelWeights: [UInt8], llama: Bool, label: String, plainLoRA: Bool) -> Bool {
        let contents = ["adapter_config.json": config, "adapter_model.safetensors": modelWeights]
        guard let files = try? AdapterFiles(files: contents, label: "fuzz") else { return false }
        let loaded: any TransformerModel
        do {
            loaded = try ModelLoader.load(
                folder: Fuzz.fixtures + (llama ? "/tiny-llama" : "/tiny-bert"),
                head: llama ? .causalLM : .sequenceClassification)
        } catch {
            fatalError("cannot load the base: \(error)")
        }
        let adapter: any PEFTAdapter
        do { adapter = try PEFTAdapterFolder.loadAny(files, into: loaded) } catch {
            Fuzz.note("\(label): \(error)")
            return false
        }
        Fuzz.note("\(label): loaded \(adapter.peftType)")
        _ = adapter.trainableParameters.count
        _ = adapter.addedParameterCount
        _ = adapter.configText()
        let batch = TokenBatch(ids: [[1, 5, 9, 2], [3, 4, 0, 0]], mask: [[true, true, true, true], [true, true, false, false]])
        _ = loaded.forward(Graph(recording: false), batch).values
        if plainLoRA { _ = try? AdapterUpdates(files, base: nil) }
        return true
    }

    static func writeSeeds(into folder: String) {
        for path in Fuzz.fixtureFiles("peft", suffix: "adapter_config.json") { Fuzz.seed(Fuzz.read(path), named: path, into: folder) }
        let bottleneck =
            #"{"peft_type": "BOTTLENECK", "bottleneck_size": 4, "activation": "relu", "target_modules": ["output.dense"], "#
            + #""modules_to_save": ["classifier"], "task_type": "SEQ_CLS", "base_model_name_or_path": "fixtures/tiny-bert"}"#
        Fuzz.seed(Array(bottleneck.utf8), named: "bottleneck", into: folder)
    }
}
