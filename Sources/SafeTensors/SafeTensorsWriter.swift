/// Writes a safetensors file tensor by tensor, so a checkpoint never has to fit in memory.
///
/// The header is fixed up front from the tensors' specs (layout and bytes identical to the
/// official writer's); data may then be written in any order and in pieces. The file appears at
/// `path` only when ``finish()`` succeeds; until then it lives under a temporary name.
public final class SafeTensorsWriter {
    public let header: SafeTensorsHeader
    public var path: String { file.path }
    private let file: AtomicFile
    private var bytesWritten: [String: Int] = [:]

    public init(path: String, tensors: [TensorSpec], metadata: [String: String]? = nil) throws(SafeTensorsError) {
        header = try SafeTensorsHeader.layout(tensors, metadata: metadata, file: path)
        file = try AtomicFile(path: path)
        let json = header.encodedJSON()
        var prefix = [UInt8](repeating: 0, count: 8)
        var length = UInt64(json.count)
        for i in 0..<8 {
            prefix[i] = UInt8(truncatingIfNeeded: length)
            length >>= 8
        }
        try withBytes(of: prefix + json) { (bytes) throws(SafeTensorsError) in try file.write(bytes, at: 0) }
        try file.resize(to: header.dataStart + header.dataSize)
    }

    /// Writes `bytes` into tensor `name`, starting `offset` bytes into its data.
    public func write(_ name: String, _ bytes: UnsafeRawBufferPointer, at offset: Int = 0) throws(SafeTensorsError) {
        guard let info = header.tensor(named: name) else {
            throw SafeTensorsError(file: path, tensor: name, .tensorNotFound)
        }
        let total = (bytesWritten[name] ?? 0) + bytes.count
        guard offset >= 0, offset + bytes.count <= info.byteCount, total <= info.byteCount else {
            throw SafeTensorsError(
                file: path, tensor: name,
                .invalidTensor("data runs past the tensor's \(info.byteCount) bytes"))
        }
        try file.write(bytes, at: header.dataStart + info.dataOffsets.lowerBound + offset)
        bytesWritten[name] = total
    }

    /// Writes the whole data of tensor `name`.
    public func write(_ name: String, _ bytes: [UInt8]) throws(SafeTensorsError) {
        try withBytes(of: bytes) { (raw) throws(SafeTensorsError) in try write(name, raw) }
    }

    /// Checks every tensor is complete, flushes, and renames the file into place.
    public func finish() throws(SafeTensorsError) {
        for tensor in header.tensors where (bytesWritten[tensor.name] ?? 0) != tensor.byteCount {
            file.discard()
            throw SafeTensorsError(
                file: path, tensor: tensor.name,
                .invalidTensor("only \(bytesWritten[tensor.name] ?? 0) of \(tensor.byteCount) bytes were written"))
        }
        try file.commit()
    }

    /// Abandons the file: the temporary is removed and nothing appears at `path`.
    public func cancel() { file.discard() }
}

/// A tensor held in memory: its spec and its bytes.
public struct TensorData: Sendable, Equatable {
    public var spec: TensorSpec
    public var bytes: [UInt8]

    public init(name: String, dtype: DType, shape: [Int], bytes: [UInt8]) {
        spec = TensorSpec(name: name, dtype: dtype, shape: shape)
        self.bytes = bytes
    }

    /// An f32 tensor from its values.
    public init(name: String, shape: [Int], floats: [Float]) {
        self.init(name: name, dtype: .f32, shape: shape, bytes: floats.withUnsafeBytes { Array($0) })
    }
}

extension SafeTensorsWriter {
    /// Writes in-memory tensors to `path` in one call.
    public static func write(_ tensors: [TensorData], metadata: [String: String]? = nil, to path: String) throws(SafeTensorsError) {
        let writer = try SafeTensorsWriter(path: path, tensors: tensors.map(\.spec), metadata: metadata)
        for tensor in tensors { try writer.write(tensor.spec.name, tensor.bytes) }
        try writer.finish()
    }

    /// The complete file as bytes, identical to what ``write(_:metadata:to:)`` puts on disk.
    public static func serialize(_ tensors: [TensorData], metadata: [String: String]? = nil) throws(SafeTensorsError) -> [UInt8] {
        let header = try SafeTensorsHeader.layout(tensors.map(\.spec), metadata: metadata, file: "<memory>")
        for tensor in tensors {
            let expected = header.tensor(named: tensor.spec.name)!.byteCount
            guard tensor.bytes.count == expected else {
                throw SafeTensorsError(
                    file: "<memory>", tensor: tensor.spec.name,
                    .invalidTensor("\(tensor.bytes.count) bytes given, dtype and shape need \(expected)"))
            }
        }
        let json = header.encodedJSON()
        var out: [UInt8] = []
        out.reserveCapacity(8 + json.count + header.dataSize)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: json)
        let byName = Dictionary(tensors.map { ($0.spec.name, $0.bytes) }, uniquingKeysWith: { first, _ in first })
        for info in header.tensors { out.append(contentsOf: byName[info.name]!) }
        return out
    }
}
