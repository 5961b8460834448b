import Adapters
import Diagnostics
import Foundation
import GGUF
import Models
import TrainingCore

/// A PEFT LoRA adapter as llama.cpp's convert_lora_to_gguf.py writes it for a Llama-family base:
/// `general.type` "adapter", `adapter.type` "lora", `adapter.lora.alpha`, and per module
/// `blk.N.<tensor>.weight.lora_a` (A, `[r, in]`) and `.lora_b` (B, `[out, r]`, its rows in the
/// q/k order llama.cpp's rotary expects). llama.cpp scales by alpha / r with the rank each
/// tensor has, so per-module scales (rsLoRA, rank and alpha patterns) are folded into lora_b.
public enum GGUFLoRAExport {
    public struct Report: Codable, Sendable, Equatable {
        public var output: String
        public var architecture: String
        public var modules: Int
        public var alpha: Float
    }

    public static func write(
        model folder: String, adapter files: AdapterFiles, outtype: String, output: String, overwrite: Bool = false
    ) throws -> Report {
        guard let type = ["f32": GGMLType.f32, "f16": .f16, "bf16": .bf16][outtype] else {
            throw GGUFError(file: output, "a LoRA GGUF's --outtype is f32, f16 or bf16, not \(outtype)")
        }
        let configReader = try ConfigReader(path: folder + "/config.json")
        let modelType = try configReader.string("model_type")
        guard let architecture = LlamaCppLayout.architecture(modelType: modelType) else {
            throw GGUFError(file: configReader.path, "model_type \(modelType): GGUF export handles llama, mistral and qwen2")
        }
        let config = try LlamaConfig(configReader)
        let file = files.label
        let json = try files.configJSON()
        guard json["peft_type"] as? String == "LORA" else {
            throw GGUFError(
                file: file,
                "llama.cpp adapters are LoRA; this is \(json["peft_type"] as? String ?? "unknown"): merge it into the base first")
        }
        let lora = try LoRAConfig(json: json, file: file)
        guard !lora.useDoRA else {
            throw GGUFError(file: file, "llama.cpp has no DoRA: merge it into the base first (tailor export gguf --merge)")
        }
        guard lora.modulesToSave.isEmpty, lora.bias == .none else {
            throw GGUFError(file: file, "llama.cpp adapters hold LoRA factors only (this one saves modules or biases): merge it first")
        }
        let tensors = try files.tensors()
        var modules: [String: (a: Tensor?, b: Tensor?)] = [:]
        for (name, tensor) in tensors {
            let key = name.hasPrefix("base_model.model.") ? String(name.dropFirst("base_model.model.".count)) : name
            for (suffix, isA) in [(".lora_A.weight", true), (".lora_B.weight", false)] where key.hasSuffix(suffix) {
                let module = String(key.dropLast(suffix.count))
                if isA { modules[module, default: (nil, nil)].a = tensor } else { modules[module, default: (nil, nil)].b = tensor }
            }
            guard key.hasSuffix(".lora_A.weight") || key.hasSuffix(".lora_B.weight") else {
                throw GGUFError(file: file, "tensor \(name) is not a LoRA factor llama.cpp can apply")
            }
        }
        // One alpha for the file: the default modules' α / r · r; other modules' scales go into B.
        let alpha = lora.scale(for: "") * Double(lora.r)
        var writer = GGUFWriter()
        writer.set("general.architecture", .string(architecture))
        writer.set("general.type", .string("adapter"))
        writer.set("adapter.type", .string("lora"))
        writer.set("adapter.lora.alpha", .float32(Float(alpha)))
        for module in modules.keys.sorted() {
            guard let a = modules[module]!.a, let b = modules[module]!.b, a.rows == b.columns else {
                throw GGUFError(file: file, "\(module) lacks lora_A or lora_B, or their ranks differ")
            }
            guard let base = LlamaCppLayout.name(of: module + ".weight") else {
                throw GGUFError(
                    file: file, "\(module) has no place in llama.cpp's \(architecture) layout (embedding adapters are not exported)")
            }
            guard !module.hasSuffix("embed_tokens") else { throw GGUFError(file: file, "an embedding adapter (\(module)) is not exported") }
            let factor = Float(lora.scale(for: module) * Double(a.rows) / alpha)
            var bValues = b.values.map { $0 * factor }
            if let heads = LlamaCppLayout.permutationHeads(
                of: module + ".weight", architecture: architecture, heads: config.heads, kvHeads: config.kvHeads)
            {
                bValues = LlamaCppLayout.permuteRows(bValues, rows: b.rows, columns: b.columns, heads: heads)
            }
            writer.tensors.append(.init(name: base + ".lora_a", shape: a.shape, type: type, values: a.values))
            writer.tensors.append(.init(name: base + ".lora_b", shape: b.shape, type: type, values: bValues))
        }
        guard !modules.isEmpty else { throw GGUFError(file: file, "has no LoRA factors") }
        try writer.write(
            to: output, inputs: GGUFModelExport.files(in: folder) + GGUFModelExport.files(in: files.label), overwrite: overwrite)
        return Report(output: output, architecture: architecture, modules: modules.count, alpha: Float(alpha))
    }
}
