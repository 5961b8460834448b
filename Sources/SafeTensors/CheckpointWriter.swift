/// A file format a model's tensors are written in from f32 values: safetensors here, GGUF in its
/// own module. Merges and exports fill one tensor by tensor and write it in one go, atomically.
public protocol CheckpointWriter {
    /// Adds a tensor given in f32 (row-major `shape`), stored in the type the writer uses for it.
    mutating func add(_ name: String, shape: [Int], values: [Float]) throws
    /// Writes the file at `path`: a temporary file renamed into place when complete.
    func write(to path: String) throws
}

/// safetensors with every tensor in one dtype, converted from f32 as ``DTypeConversion`` rounds.
public struct SafeTensorsCheckpointWriter: CheckpointWriter {
    public var dtype: DType
    public var metadata: [String: String]
    public private(set) var tensors: [TensorData] = []

    public init(dtype: DType, metadata: [String: String] = ["format": "pt"]) {
        (self.dtype, self.metadata) = (dtype, metadata)
    }

    public mutating func add(_ name: String, shape: [Int], values: [Float]) throws {
        var bytes = [UInt8](repeating: 0, count: values.count * dtype.bitSize / 8)
        try values.withUnsafeBytes { raw in
            try bytes.withUnsafeMutableBytes { try DTypeConversion.convert(raw, from: .f32, into: $0, as: dtype, file: name, tensor: name) }
        }
        tensors.append(TensorData(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    public func write(to path: String) throws { try SafeTensorsWriter.write(tensors, metadata: metadata, to: path) }
}
