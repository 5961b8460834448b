import Adapters
import Diagnostics
import Foundation
import GGUF
import Models
import SafeTensors
import TrainingCore

/// A Llama-family model (the base, or the base with adapters merged in) as a GGUF file llama.cpp
/// loads: its tensor names, the q/k row order its rotary expects, the hyper-parameters it reads
/// and the tokenizer. A 4-bit (NF4) base is dequantized first.
public enum GGUFModelExport {
    public struct Report: Codable, Sendable, Equatable {
        public var output: String
        public var architecture: String
        public var outtype: String
        public var tensors: Int
        public var bytes: Int
    }

    /// The types `--outtype` offers, and llama.cpp's `general.file_type` for each.
    public static let outtypes: [String: (GGMLType, UInt32)] = [
        "f32": (.f32, 0), "f16": (.f16, 1), "bf16": (.bf16, 32), "q8_0": (.q8_0, 7), "q4_0": (.q4_0, 2),
    ]

    public static func write(
        model folder: String, adapters: [(member: AdapterStack.Member, files: AdapterFiles)], outtype: String, output: String,
        overwrite: Bool = false
    ) throws -> Report {
        guard let (type, fileType) = outtypes[outtype] else {
            throw GGUFError(file: output, "--outtype \(outtype) is not one of \(outtypes.keys.sorted().joined(separator: ", "))")
        }
        let configReader = try ConfigReader(path: folder + "/config.json")
        let modelType = try configReader.string("model_type")
        guard let architecture = LlamaCppLayout.architecture(modelType: modelType) else {
            throw GGUFError(file: configReader.path, "model_type \(modelType): GGUF export handles llama, mistral and qwen2")
        }
        let config = try LlamaConfig(configReader)
        let model: any TransformerModel =
            adapters.isEmpty
            ? try ModelLoader.load(folder: folder, head: .causalLM) : try PEFTAdapterFolder.loadWithBase(adapters, base: folder)
        guard model.head == .causalLM else {
            throw GGUFError(file: folder, "only a causal LM (not a \(model.head.rawValue) head) goes to llama.cpp")
        }
        var writer = GGUFWriter()
        writer.matrixType = type
        writer.set("general.architecture", .string(architecture))
        writer.set("general.type", .string("model"))
        writer.set("general.name", .string(PathText.name(of: folder)))
        let a = architecture
        writer.set("\(a).block_count", .uint32(UInt32(config.layers)))
        writer.set("\(a).context_length", .uint32(UInt32(config.maxPositions)))
        writer.set("\(a).embedding_length", .uint32(UInt32(config.hiddenSize)))
        writer.set("\(a).feed_forward_length", .uint32(UInt32(config.intermediateSize)))
        writer.set("\(a).attention.head_count", .uint32(UInt32(config.heads)))
        writer.set("\(a).attention.head_count_kv", .uint32(UInt32(config.kvHeads)))
        writer.set("\(a).rope.freq_base", .float32(Float(config.ropeTheta)))
        writer.set("\(a).attention.layer_norm_rms_epsilon", .float32(config.rmsNormEps))
        writer.set("\(a).vocab_size", .uint32(UInt32(config.vocabSize)))
        writer.set("\(a).rope.dimension_count", .uint32(UInt32(config.headDim)))
        if config.headDim * config.heads != config.hiddenSize {
            writer.set("\(a).attention.key_length", .uint32(UInt32(config.headDim)))
            writer.set("\(a).attention.value_length", .uint32(UInt32(config.headDim)))
        }
        writer.set("general.file_type", .uint32(fileType))
        if type == .q8_0 || type == .q4_0 { writer.set("general.quantization_version", .uint32(2)) }
        for (key, value) in try GGUFTokenizer.metadata(folder: folder, vocabularySize: config.vocabSize, config: configReader.values) {
            writer.set(key, value)
        }
        var names = Set<String>()
        for (name, values, shape) in try BaseMerge.mergedParameters(of: model) {
            guard let target = LlamaCppLayout.name(of: name) else {
                throw GGUFError(file: folder, "tensor \(name) has no place in llama.cpp's \(architecture) layout")
            }
            var data = values
            if let heads = LlamaCppLayout.permutationHeads(
                of: name, architecture: architecture, heads: config.heads, kvHeads: config.kvHeads)
            {
                data = LlamaCppLayout.permuteRows(values, rows: shape[0], columns: shape[1], heads: heads)
            }
            try writer.add(target, shape: shape, values: data)
            names.insert(target)
        }
        // Llama 3.1's frequency scaling reaches llama.cpp as a tensor of per-pair factors.
        if let scaling = config.llama3Scaling {
            writer.tensors.append(
                .init(name: "rope_freqs.weight", shape: [config.headDim / 2], type: .f32, values: ropeFactors(scaling, config: config)))
        }
        // A tied head has no output tensor: llama.cpp then reads token_embd.
        _ = names
        let bytes = try writer.encoded(file: output)
        let inputs = Self.files(in: folder) + adapters.map(\.files.label).flatMap(Self.files(in:))
        try GGUFWriter.write(bytes, to: output, inputs: inputs, overwrite: overwrite)
        return Report(output: output, architecture: architecture, outtype: outtype, tensors: writer.tensors.count, bytes: bytes.count)
    }

    /// The files of a folder (or the file itself): what an output must not replace.
    static func files(in path: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return [path] }
        return names.map { path + "/" + $0 }
    }

    /// The converter's llama3 rope factors: 1 for short wavelengths, `factor` for long ones,
    /// a smooth blend between.
    static func ropeFactors(_ scaling: Llama3RopeScaling, config: LlamaConfig) -> [Float] {
        let (low, high) = (
            scaling.originalMaxPositions / scaling.lowFrequencyFactor, scaling.originalMaxPositions / scaling.highFrequencyFactor
        )
        return (0..<(config.headDim / 2)).map { i in
            let frequency = 1 / pow(config.ropeTheta, Double(2 * i) / Double(config.headDim))
            let wavelength = 2 * Double.pi / frequency
            if wavelength < high { return 1 }
            if wavelength > low { return Float(scaling.factor) }
            let smooth =
                (scaling.originalMaxPositions / wavelength - scaling.lowFrequencyFactor)
                / (scaling.highFrequencyFactor - scaling.lowFrequencyFactor)
            return Float(1 / ((1 - smooth) / scaling.factor + smooth))
        }
    }
}
