import Foundation
import SafeTensors

/// Quantizes a Hugging Face model folder to a bitsandbytes 4-bit folder that transformers loads
/// with `from_pretrained` (QLoRA's base), streaming tensor by tensor.
public enum ModelQuantizer {
    /// The choices of `BitsAndBytesConfig` we support.
    public struct Options: Sendable {
        public var type: QuantType = .nf4
        public var blockSize = 64
        public var doubleQuantization = true
        /// `bnb_4bit_compute_dtype`: the dtype the 4-bit matmul computes in.
        public var computeDType: DType = .bf16
        /// Modules kept unquantized besides the output head (`llm_int8_skip_modules`).
        public var skipModules: [String] = []

        public init() {}
    }

    /// What a quantization did.
    public struct Report: Sendable {
        public struct Weight: Sendable {
            public var name: String
            public var shape: [Int]
            public var statistics: QuantizationStatistics
        }
        public var weights: [Weight] = []
        public var keptTensors = 0
        public var bytesBefore = 0
        public var bytesAfter = 0
        public var outputFiles: [String] = []
        public var overall: QuantizationStatistics? { QuantizationStatistics.pooled(weights.map(\.statistics)) }
    }

    /// Output-embedding-like modules transformers never quantizes.
    static let outputHeads: Set<String> = ["lm_head"]

    /// Whether transformers would quantize tensor `info`: the weight of a Linear layer, i.e. a
    /// 2-D float `…weight` that is not an embedding table, not the output head (`lm_head`) and not
    /// in `skipModules` (an entry matches whole dotted components of the module name).
    public static func isQuantizable(_ info: TensorInfo, skipModules: [String]) -> Bool {
        guard info.name.hasSuffix(".weight"), info.shape.count == 2, [.f32, .f16, .bf16].contains(info.dtype) else { return false }
        let module = String(info.name.dropLast(".weight".count))
        let last = module.split(separator: ".").last.map(String.init) ?? module
        if last.lowercased().contains("embed") || ["wte", "wpe", "shared"].contains(last) { return false }
        if outputHeads.contains(last) { return false }
        let components = module.split(separator: ".").map(String.init)
        for entry in skipModules {
            let parts = entry.split(separator: ".").map(String.init)
            guard !parts.isEmpty, parts.count <= components.count else { continue }
            for start in 0...(components.count - parts.count) where Array(components[start..<(start + parts.count)]) == parts {
                return false
            }
        }
        return true
    }

    /// `config.json`'s `quantization_config` as transformers writes it for these options.
    public static func quantizationConfig(_ options: Options) -> PythonJSONText.Value {
        .object([
            "_load_in_4bit": .bool(true), "_load_in_8bit": .bool(false),
            "bnb_4bit_compute_dtype": .string(options.computeDType.torchName),
            "bnb_4bit_quant_storage": .string("uint8"),
            "bnb_4bit_quant_type": .string(options.type.rawValue),
            "bnb_4bit_use_double_quant": .bool(options.doubleQuantization),
            "llm_int8_enable_fp32_cpu_offload": .bool(false), "llm_int8_has_fp16_weight": .bool(false),
            "llm_int8_skip_modules": options.skipModules.isEmpty ? .null : .array(options.skipModules.map { .string($0) }),
            "llm_int8_threshold": .double(6.0),
            "load_in_4bit": .bool(true), "load_in_8bit": .bool(false),
            "quant_method": .string("bitsandbytes"),
        ])
    }

    /// Quantizes the model in `modelFolder` into `outputFolder` (an ``OutputFolder``: created, never the
    /// input, an earlier result replaced only with `overwrite`).
    /// Peak memory is about the largest tensor in f32 plus its quantized form.
    /// - Parameter progress: called with (bytes done, bytes in total).
    public static func quantize(
        modelFolder: String, outputFolder: String, options: Options, overwrite: Bool = false,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> Report {
        let checkpoint = try Checkpoint.open(modelFolder)
        guard BitsAndBytesLayout.quantizedWeightNames(in: checkpoint).isEmpty else {
            throw QuantizationError(file: checkpoint.path, "already a bitsandbytes 4-bit checkpoint")
        }
        guard BlockwiseQuantization.supportedBlockSizes.contains(options.blockSize) else {
            throw QuantizationError(
                file: checkpoint.path,
                "block size \(options.blockSize) is not one of "
                    + BlockwiseQuantization.supportedBlockSizes.map(String.init).joined(separator: ", "))
        }
        let configPath = checkpoint.folder + "/config.json"
        let config = try ModelFolder.readConfig(configPath)
        if config["quantization_config"] != nil {
            throw QuantizationError(file: configPath, "the model is already quantized (config.json has quantization_config)")
        }
        let targets = Set(checkpoint.tensorInfos.filter { isQuantizable($0, skipModules: options.skipModules) }.map(\.name))
        guard !targets.isEmpty else { throw QuantizationError(file: checkpoint.path, "no Linear weights to quantize") }
        let output = try OutputFolder(outputFolder, inputs: [modelFolder, checkpoint.folder], overwrite: overwrite)
        var written = false
        defer { if !written { output.abandon() } }

        // Pass 1 fixes every quant state (its JSON length sizes a tensor in the header), which
        // with double quantization needs each weight's absmax mean.
        var states: [String: QuantState] = [:]
        for name in checkpoint.tensorNames where targets.contains(name) {
            let view = try checkpoint.tensor(name)
            var state = QuantState(quantType: options.type, blockSize: options.blockSize, dtype: view.dtype.torchName, shape: view.shape)
            if options.doubleQuantization {
                let absmax = try withFloats(of: view) { values throws -> [Float] in
                    guard let absmax = BlockwiseQuantization.blockAbsmax(values, blockSize: options.blockSize) else {
                        throw QuantizationError(file: view.file, tensor: name, "holds NaN or infinite values; cannot quantize")
                    }
                    return absmax
                }
                state.nestedBlockSize = 256
                state.nestedDType = "float32"
                state.nestedOffset = NestedAbsmax.offset(of: absmax)
            }
            states[name] = state
        }

        var specs: [TensorSpec] = []
        for info in checkpoint.tensorInfos {
            if let state = states[info.name] {
                specs += BitsAndBytesLayout.specs(name: info.name, state: state)
            } else {
                specs.append(TensorSpec(name: info.name, dtype: info.dtype, shape: info.shape))
            }
        }
        let shards = ShardedCheckpointWriter.plan(specs, maxShardBytes: checkpoint.files.count > 1 ? 5_000_000_000 : Int.max)
        let writer = try ShardedCheckpointWriter(folder: outputFolder, shards: shards, metadata: ["format": "pt"])
        var report = Report()
        let total = checkpoint.tensorInfos.reduce(0) { $0 + $1.byteCount }
        var done = 0
        try writer.complete {
            for name in checkpoint.tensorNames {
                let view = try checkpoint.tensor(name)
                if let state = states[name] {
                    let (weight, statistics) = try withFloats(of: view) { values throws -> (QuantizedWeight, QuantizationStatistics) in
                        let weight = try QuantizedWeight.quantize(
                            values, shape: view.shape, originalDType: view.dtype, type: options.type,
                            blockSize: options.blockSize,
                            doubleQuantization: options.doubleQuantization,
                            tensor: name, file: view.file)
                        let restored = weight.dequantized()
                        let statistics = restored.withUnsafeBufferPointer { QuantizationStatistics(original: values, reconstructed: $0) }
                        return (weight, statistics)
                    }
                    precondition(weight.nested?.offset == state.nestedOffset, "pass 1 and pass 2 disagree on \(name)")
                    for tensor in BitsAndBytesLayout.tensors(for: weight, name: name) {
                        try tensor.bytes.withUnsafeBytes { try writer.write(tensor.spec.name, $0) }
                    }
                    report.weights.append(.init(name: name, shape: view.shape, statistics: statistics))
                } else {
                    try writer.write(name, view.bytes)
                    report.keptTensors += 1
                }
                done += view.bytes.count
                progress?(done, total)
            }
        }
        try report.finish(writer: writer, checkpoint: checkpoint, bytesBefore: total, outputFolder: outputFolder) { config in
            config["quantization_config"] = quantizationConfig(options)
        }
        output.finish(written: report.outputFiles)
        written = true
        return report
    }

    /// Runs `body` over the tensor's values in f32: the mapped bytes themselves when the tensor
    /// is aligned f32 (no copy), else a widened copy.
    static func withFloats<R>(of view: TensorView, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        if view.dtype == .f32, Int(bitPattern: view.bytes.baseAddress) % MemoryLayout<Float>.alignment == 0 {
            return try body(
                UnsafeBufferPointer(
                    start: view.bytes.baseAddress?.assumingMemoryBound(to: Float.self),
                    count: view.elementCount))
        }
        return try view.floats().withUnsafeBufferPointer(body)
    }
}
