import Foundation

/// Writes a checkpoint split into shards of at most `maxShardBytes` each, plus the
/// `model.safetensors.index.json` that transformers reads, streaming like ``SafeTensorsWriter``.
///
/// Shards are planned as Hugging Face plans them (`split_torch_state_dict_into_shards`): tensors
/// in the given order fill a shard until the next would exceed the limit; a tensor larger than
/// the limit gets a shard of its own. One shard is written as `model.safetensors` with no index.
public final class ShardedCheckpointWriter {
    /// One output file and the tensors it holds.
    public struct Shard: Sendable, Equatable {
        public var fileName: String
        public var tensors: [TensorSpec]

        public init(fileName: String, tensors: [TensorSpec]) {
            self.fileName = fileName
            self.tensors = tensors
        }
    }

    public let folder: String
    public let shards: [Shard]
    /// Extra keys of the index's `metadata` object (`total_size` is always computed).
    public var indexMetadata: [String: PythonJSONText.Value]
    private let writers: [SafeTensorsWriter]
    private let shardOfTensor: [String: Int]

    /// Splits `specs` into shards named `<baseName>-0000i-of-0000n.safetensors`.
    public static func plan(_ specs: [TensorSpec], maxShardBytes: Int, baseName: String = "model") -> [Shard] {
        var groups: [[TensorSpec]] = []
        var current: [TensorSpec] = []
        var currentSize = 0
        for spec in specs {
            let size = spec.dtype.byteCount(elements: spec.shape.reduce(1, *)) ?? 0
            if size > maxShardBytes {
                groups.append([spec])
                continue
            }
            if currentSize + size > maxShardBytes, !current.isEmpty {
                groups.append(current)
                current = []
                currentSize = 0
            }
            current.append(spec)
            currentSize += size
        }
        if !current.isEmpty || groups.isEmpty { groups.append(current) }
        if groups.count == 1 { return [Shard(fileName: baseName + ".safetensors", tensors: groups[0])] }
        let count = String(format: "%05d", groups.count)
        return groups.enumerated().map { i, tensors in
            Shard(fileName: "\(baseName)-\(String(format: "%05d", i + 1))-of-\(count).safetensors", tensors: tensors)
        }
    }

    /// Prepares every shard file (under temporary names) for the given layout.
    public init(
        folder: String, shards: [Shard], metadata: [String: String]? = ["format": "pt"],
        indexMetadata: [String: PythonJSONText.Value] = [:]
    ) throws(SafeTensorsError) {
        self.folder = folder
        self.shards = shards
        self.indexMetadata = indexMetadata
        var writers: [SafeTensorsWriter] = []
        var shardOfTensor: [String: Int] = [:]
        for (i, shard) in shards.enumerated() {
            do {
                writers.append(try SafeTensorsWriter(path: folder + "/" + shard.fileName, tensors: shard.tensors, metadata: metadata))
            } catch {
                writers.forEach { $0.cancel() }
                throw error
            }
            for spec in shard.tensors { shardOfTensor[spec.name] = i }
        }
        self.writers = writers
        self.shardOfTensor = shardOfTensor
    }

    /// Plans shards for `tensors` and prepares them.
    public convenience init(
        folder: String, tensors: [TensorSpec], maxShardBytes: Int,
        metadata: [String: String]? = ["format": "pt"], baseName: String = "model"
    ) throws(SafeTensorsError) {
        try self.init(
            folder: folder, shards: Self.plan(tensors, maxShardBytes: maxShardBytes, baseName: baseName),
            metadata: metadata,
            indexMetadata: [
                "total_parameters": .int(tensors.reduce(0) { $0 + $1.shape.reduce(1, *) })
            ])
    }

    /// Writes bytes of tensor `name` into its shard.
    public func write(_ name: String, _ bytes: UnsafeRawBufferPointer, at offset: Int = 0) throws(SafeTensorsError) {
        guard let shard = shardOfTensor[name] else {
            throw SafeTensorsError(file: folder, tensor: name, .tensorNotFound)
        }
        try writers[shard].write(name, bytes, at: offset)
    }

    /// Finishes every shard, then writes the index (when there are several shards).
    public func finish() throws(SafeTensorsError) {
        for writer in writers {
            do { try writer.finish() } catch {
                writers.forEach { $0.cancel() }
                throw error
            }
        }
        guard shards.count > 1 else { return }
        var weightMap: [String: PythonJSONText.Value] = [:]
        var totalSize = 0
        for (shard, writer) in zip(shards, writers) {
            for tensor in shard.tensors { weightMap[tensor.name] = .string(shard.fileName) }
            totalSize += writer.header.dataSize
        }
        var metadata = indexMetadata
        metadata["total_size"] = .int(totalSize)
        let text = PythonJSONText.render(.object(["metadata": .object(metadata), "weight_map": .object(weightMap)]))
        let index = try AtomicFile(path: folder + "/" + Checkpoint.indexFileName)
        try withBytes(of: Array(text.utf8)) { (bytes) throws(SafeTensorsError) in try index.write(bytes, at: 0) }
        try index.commit()
    }

    /// Abandons every shard; nothing appears in the folder.
    public func cancel() { writers.forEach { $0.cancel() } }

    /// Runs `body`, which writes every tensor, then finishes; on any error every shard is
    /// abandoned and the error rethrown, so the folder gets all of the checkpoint or none of it.
    public func complete(_ body: () throws -> Void) throws {
        do {
            try body()
            try finish()
        } catch {
            cancel()
            throw error
        }
    }

    /// The paths this writer produces: the shards, then the index when there are several.
    public var outputFiles: [String] {
        shards.map { folder + "/" + $0.fileName } + (shards.count > 1 ? [folder + "/" + Checkpoint.indexFileName] : [])
    }

    /// Bytes of the shard files (prefix, header and data).
    public var shardBytes: Int { writers.reduce(0) { $0 + $1.header.dataStart + $1.header.dataSize } }
}
