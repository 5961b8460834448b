import Foundation
import SafeTensors

/// Turns a bitsandbytes 4-bit model folder back into a plain checkpoint with the original tensor
/// names, loadable by transformers without bitsandbytes.
public enum ModelDequantizer {
    public struct Report: Sendable {
        public var dequantized: [String] = []
        public var keptTensors = 0
        public var bytesBefore = 0
        public var bytesAfter = 0
        public var outputFiles: [String] = []
    }

    /// Dequantizes every 4-bit weight of `folder` to `dtype` (nil: each weight's original dtype)
    /// into `outputFolder`; other tensors are copied; config.json loses `quantization_config`.
    public static func dequantize(
        folder: String, outputFolder: String, dtype: DType?, overwrite: Bool = false,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> Report {
        let checkpoint = try Checkpoint.open(folder)
        let weights = BitsAndBytesLayout.quantizedWeightNames(in: checkpoint)
        if let old = BitsAndBytesLayout.weightsWithoutQuantState(in: checkpoint).first {
            throw BitsAndBytesLayout.missingQuantState(old, file: checkpoint.file(holding: old)?.path ?? checkpoint.path)
        }
        guard !weights.isEmpty else {
            throw QuantizationError(file: checkpoint.path, "not a bitsandbytes 4-bit checkpoint (no quant states)")
        }
        let weightSet = Set(weights)
        let output = try OutputFolder(outputFolder, inputs: [folder, checkpoint.folder], overwrite: overwrite)
        var written = false
        defer { if !written { output.abandon() } }
        // Read every quant state first: the output layout needs the shapes, and a broken weight
        // should fail before anything is written.
        var quantized: [String: QuantizedWeight] = [:]
        for name in weights { quantized[name] = try BitsAndBytesLayout.read(name, from: checkpoint) }
        var specs: [TensorSpec] = []
        for info in checkpoint.tensorInfos where !BitsAndBytesLayout.isCompanion(info.name, of: weightSet) {
            if let weight = quantized[info.name] {
                specs.append(TensorSpec(name: info.name, dtype: dtype ?? weight.originalDType, shape: weight.shape))
            } else {
                specs.append(TensorSpec(name: info.name, dtype: info.dtype, shape: info.shape))
            }
        }
        let shards = ShardedCheckpointWriter.plan(specs, maxShardBytes: checkpoint.files.count > 1 ? 5_000_000_000 : Int.max)
        let writer = try ShardedCheckpointWriter(folder: outputFolder, shards: shards, metadata: checkpoint.metadata ?? ["format": "pt"])
        var report = Report()
        let total = checkpoint.tensorInfos.reduce(0) { $0 + $1.byteCount }
        var done = 0
        try writer.complete {
            for spec in specs {
                if let weight = quantized[spec.name] {
                    let bytes = try encoded(weight.dequantized(), as: spec.dtype, tensor: spec.name, file: outputFolder)
                    try bytes.withUnsafeBytes { try writer.write(spec.name, $0) }
                    report.dequantized.append(spec.name)
                    done += weight.packed.count
                } else {
                    let view = try checkpoint.tensor(spec.name)
                    try writer.write(spec.name, view.bytes)
                    report.keptTensors += 1
                    done += view.bytes.count
                }
                progress?(done, total)
            }
        }
        try report.finish(writer: writer, checkpoint: checkpoint, bytesBefore: total, outputFolder: outputFolder) { config in
            config.removeValue(forKey: "quantization_config")
        }
        output.finish(written: report.outputFiles)
        written = true
        return report
    }

    /// f32 values in `dtype`, rounded as torch's `.to(dtype)` rounds (bitsandbytes dequantizes in
    /// f32 and converts the same way).
    static func encoded(_ values: [Float], as dtype: DType, tensor: String, file: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: dtype.byteCount(elements: values.count)!)
        try values.withUnsafeBytes { source in
            try bytes.withUnsafeMutableBytes { destination in
                try DTypeConversion.convert(source, from: .f32, into: destination, as: dtype, file: file, tensor: tensor)
            }
        }
        return bytes
    }
}
