import Foundation

/// Converts the float tensors of a checkpoint to another float dtype, streaming tensor by tensor
/// (peak memory ≈ one chunk, not the model), keeping every other tensor, the metadata and, for a
/// model folder or a sharded checkpoint, the shard layout and the folder's other files.
public enum CheckpointConversion {
    /// The float dtypes that `convert` changes; float8 and sub-byte tensors are quantized storage
    /// that only makes sense with its scales, so they are kept as they are.
    public static let convertibleSources: Set<DType> = [.f32, .f16, .bf16, .f64]
    /// The dtypes it can write.
    public static let targets: Set<DType> = [.f32, .f16, .bf16]

    /// What a conversion did.
    public struct Report: Sendable {
        public var converted: [String] = []
        public var kept: [String] = []
        public var bytesRead = 0
        public var bytesWritten = 0
        /// The files written (checkpoint files, then copied companions).
        public var outputFiles: [String] = []
    }

    /// Called with (bytes done, bytes in total) as tensors are processed.
    public typealias Progress = (Int, Int) -> Void

    /// Converts `checkpoint` into `output`.
    /// - Parameters:
    ///   - output: a file path for a single-file input given as a file; otherwise a folder
    ///     (created when missing) that receives the same file names as the input.
    ///   - only: when given, only tensors whose name contains a match are converted.
    ///   - maxShardBytes: when given, the output is re-split into shards of at most this size
    ///     (Hugging Face's plan and names) instead of keeping the input's files.
    public static func convert(
        _ checkpoint: Checkpoint, to dtype: DType, output: String,
        only: Regex<AnyRegexOutput>? = nil, maxShardBytes: Int? = nil, overwrite: Bool = false, progress: Progress? = nil
    ) throws -> Report {
        guard targets.contains(dtype) else {
            throw SafeTensorsError(file: checkpoint.path, .unsupportedConversion(from: .f32, to: dtype))
        }
        var isFolder: ObjCBool = false
        let inputIsFile =
            FileManager.default.fileExists(atPath: checkpoint.path, isDirectory: &isFolder)
            && !isFolder.boolValue && checkpoint.layout == .singleFile
        let outputExistsAsFolder = FileManager.default.fileExists(atPath: output, isDirectory: &isFolder) && isFolder.boolValue
        let outputFolder: String
        var shards: [ShardedCheckpointWriter.Shard] = []
        var report = Report()

        func target(_ info: TensorInfo) throws -> DType {
            guard convertibleSources.contains(info.dtype) else { return info.dtype }
            if let only, try only.firstMatch(in: info.name) == nil { return info.dtype }
            return dtype
        }
        for file in checkpoint.files {
            var specs: [TensorSpec] = []
            for info in file.tensors where checkpoint.info(info.name) == info {
                specs.append(TensorSpec(name: info.name, dtype: try target(info), shape: info.shape))
            }
            shards.append(.init(fileName: PathText.name(of: file.path), tensors: specs))
        }
        if let maxShardBytes {
            shards = ShardedCheckpointWriter.plan(shards.flatMap(\.tensors), maxShardBytes: maxShardBytes)
        }
        let inputs = [checkpoint.path] + checkpoint.files.map(\.path)
        var folder: OutputFolder?
        if inputIsFile && !outputExistsAsFolder && shards.count == 1 {
            outputFolder = PathText.folder(of: output)
            shards[0].fileName = PathText.name(of: output)
            try OutputPaths.checkFile(output, inputs: inputs)
            if !overwrite, OutputPaths.kind(output) != nil {
                throw SafeTensorsError(file: output, .io("already exists; choose another output or allow overwriting"))
            }
        } else {
            outputFolder = output
            folder = try OutputFolder(output, inputs: inputs, overwrite: overwrite)
        }
        var written = false
        defer { if !written { folder?.abandon() } }
        try refuseOverwritingInput(checkpoint, outputFolder: outputFolder, shards: shards)

        var indexMetadata = checkpoint.indexMetadata
        indexMetadata.removeValue(forKey: "total_size")
        if indexMetadata["total_parameters"] == nil {
            indexMetadata["total_parameters"] = .int(checkpoint.tensorInfos.reduce(0) { $0 + $1.elementCount })
        }
        let writer = try ShardedCheckpointWriter(
            folder: outputFolder, shards: shards,
            metadata: checkpoint.metadata, indexMetadata: indexMetadata)
        let total = checkpoint.tensorInfos.reduce(0) { $0 + $1.byteCount }
        var done = 0
        try writer.complete {
            for name in checkpoint.tensorNames {
                let view = try checkpoint.tensor(name)
                let to = try target(view.info)
                if to == view.dtype {
                    try writer.write(name, view.bytes)
                    report.kept.append(name)
                } else {
                    try convertInChunks(view, to: to, writer: writer)
                    report.converted.append(name)
                }
                done += view.bytes.count
                progress?(done, total)
            }
        }
        report.bytesRead = total
        report.outputFiles = writer.outputFiles
        report.bytesWritten = writer.shardBytes
        if !inputIsFile {
            // config.json names the dtype transformers loads by default: keep it truthful when
            // every float tensor changed.
            let configDType = only == nil ? dtype.torchName : nil
            report.outputFiles += try ModelFolder.copyCompanions(of: checkpoint, into: outputFolder) { config in
                guard let configDType else { return }
                for key in ["dtype", "torch_dtype"] where config[key] != nil { config[key] = .string(configDType) }
            }
        }
        folder?.finish(written: report.outputFiles)
        written = true
        return report
    }

    /// Converts in bounded chunks so a multi-GB tensor needs only a few MB of buffer.
    private static func convertInChunks(_ view: TensorView, to: DType, writer: ShardedCheckpointWriter) throws {
        let chunkElements = 1 << 22
        let inWidth = view.dtype.bitSize / 8
        let outWidth = to.bitSize / 8
        var buffer = [UInt8](repeating: 0, count: min(view.elementCount, chunkElements) * outWidth)
        var start = 0
        while start < view.elementCount {
            let count = min(chunkElements, view.elementCount - start)
            let source = UnsafeRawBufferPointer(rebasing: view.bytes[(start * inWidth)..<((start + count) * inWidth)])
            try buffer.withUnsafeMutableBytes { raw in
                let destination = UnsafeMutableRawBufferPointer(rebasing: raw[0..<(count * outWidth)])
                try DTypeConversion.convert(source, from: view.dtype, into: destination, as: to, file: view.file, tensor: view.name)
                try writer.write(view.name, UnsafeRawBufferPointer(destination), at: start * outWidth)
            }
            start += count
        }
    }

    /// Writing over an input file that is memory-mapped would change the bytes being read.
    private static func refuseOverwritingInput(
        _ checkpoint: Checkpoint, outputFolder: String,
        shards: [ShardedCheckpointWriter.Shard]
    ) throws {
        for shard in shards {
            let out = outputFolder + "/" + shard.fileName
            if checkpoint.files.contains(where: { OutputPaths.sameFile($0.path, out) }) {
                throw SafeTensorsError(file: out, .io("output would overwrite the input; choose another output"))
            }
        }
    }
}
