import Foundation
import SafeTensors

/// Writes a GGUF v3 file: metadata in the order given, tensors aligned to `general.alignment`,
/// into a temporary file renamed into place when complete.
public struct GGUFWriter: CheckpointWriter {
    public struct Tensor {
        public var name: String
        /// Row-major, as PyTorch and safetensors give it; stored reversed (`ne[0]` = a row).
        public var shape: [Int]
        public var type: GGMLType
        public var bytes: [UInt8]

        public init(name: String, shape: [Int], type: GGMLType, bytes: [UInt8]) {
            (self.name, self.shape, self.type, self.bytes) = (name, shape, type, bytes)
        }

        /// `values` encoded as `type`.
        public init(name: String, shape: [Int], type: GGMLType, values: [Float]) {
            self.init(name: name, shape: shape, type: type, bytes: GGMLBlocks.quantize(values, type: type))
        }
    }

    public var metadata: [(key: String, value: GGUFValue)] = []
    public var tensors: [Tensor] = []
    /// The type ``add(_:shape:values:)`` stores matrices in; 1-D tensors stay F32 (as llama.cpp's
    /// converter keeps norms and biases), and rows that do not fill its blocks fall back to F16.
    public var matrixType: GGMLType = .f32

    public mutating func add(_ name: String, shape: [Int], values: [Float]) throws {
        let type: GGMLType = shape.count == 1 ? .f32 : (shape.last! % matrixType.blockSize == 0 ? matrixType : .f16)
        tensors.append(Tensor(name: name, shape: shape, type: type, values: values))
    }

    public init() {}

    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let index = metadata.firstIndex(where: { $0.key == key }) {
            metadata[index].value = value
        } else {
            metadata.append((key, value))
        }
    }

    var alignment: Int {
        if case .uint32(let value)? = metadata.first(where: { $0.key == "general.alignment" })?.value { return Int(value) }
        return 32
    }

    /// The file's bytes; checks what a reader would refuse.
    public func encoded(file: String) throws -> [UInt8] {
        let alignment = alignment
        guard alignment > 0, alignment & (alignment - 1) == 0 else {
            throw GGUFError(file: file, "general.alignment must be a power of two")
        }
        var out: [UInt8] = Array("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func string(_ text: String) {
            u64(UInt64(text.utf8.count))
            out += Array(text.utf8)
        }
        func encode(_ value: GGUFValue) {
            switch value {
            case .uint8(let v): out.append(v)
            case .int8(let v): out.append(UInt8(bitPattern: v))
            case .uint16(let v): withUnsafeBytes(of: v.littleEndian) { out += $0 }
            case .int16(let v): withUnsafeBytes(of: v.littleEndian) { out += $0 }
            case .uint32(let v): u32(v)
            case .int32(let v): withUnsafeBytes(of: v.littleEndian) { out += $0 }
            case .float32(let v): u32(v.bitPattern)
            case .bool(let v): out.append(v ? 1 : 0)
            case .string(let text): string(text)
            case .uint64(let v): u64(v)
            case .int64(let v): withUnsafeBytes(of: v.littleEndian) { out += $0 }
            case .float64(let v): u64(v.bitPattern)
            case .array(let type, let items):
                u32(type.rawValue)
                u64(UInt64(items.count))
                for item in items { encode(item) }
            }
        }
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count))
        var keys = Set<String>()
        for (key, item) in metadata {
            guard keys.insert(key).inserted else { throw GGUFError(file: file, "metadata key \(key) given twice") }
            if case .array(let type, let items) = item, items.contains(where: { $0.type != type }) {
                throw GGUFError(file: file, "metadata \(key): an array's elements must all be \(type)")
            }
            string(key)
            u32(item.type.rawValue)
            encode(item)
        }
        var names = Set<String>(), offset = 0
        var offsets: [Int] = []
        for tensor in tensors {
            guard names.insert(tensor.name).inserted else { throw GGUFError(file: file, "tensor \(tensor.name) given twice") }
            guard tensor.name.utf8.count <= GGUFFile.maxNameBytes else {
                throw GGUFError(file: file, "tensor name \(tensor.name) is longer than ggml's \(GGUFFile.maxNameBytes) bytes")
            }
            guard (1...GGUFFile.maxDimensions).contains(tensor.shape.count), tensor.shape.allSatisfy({ $0 > 0 }),
                tensor.shape.last! % tensor.type.blockSize == 0,
                tensor.bytes.count == tensor.type.bytes(forValues: tensor.shape.reduce(1, *))
            else {
                throw GGUFError(
                    file: file,
                    "tensor \(tensor.name): shape \(tensor.shape) does not fit \(tensor.bytes.count) bytes of \(tensor.type.name)")
            }
            string(tensor.name)
            u32(UInt32(tensor.shape.count))
            for size in tensor.shape.reversed() { u64(UInt64(size)) }
            u32(tensor.type.rawValue)
            u64(UInt64(offset))
            offsets.append(offset)
            offset += (tensor.bytes.count + alignment - 1) / alignment * alignment
        }
        out += [UInt8](repeating: 0, count: (alignment - out.count % alignment) % alignment)
        for (tensor, start) in zip(tensors, offsets) {
            precondition(out.count % alignment == 0 && start >= 0)
            out += tensor.bytes
            out += [UInt8](repeating: 0, count: (alignment - tensor.bytes.count % alignment) % alignment)
        }
        return out
    }

    /// Writes the file at `path`, atomically.
    public func write(to path: String) throws { try write(to: path, inputs: [], overwrite: false) }

    /// Writes the file, refusing `inputs` and, unless `overwrite`, an existing file.
    public func write(to path: String, inputs: [String], overwrite: Bool) throws {
        try Self.write(try encoded(file: path), to: path, inputs: inputs, overwrite: overwrite)
    }

    /// Writes encoded bytes at `path`, atomically: never onto one of `inputs` (a symlink or a
    /// hard link to one included), and over an existing file only when `overwrite` says so.
    public static func write(_ bytes: [UInt8], to path: String, inputs: [String] = [], overwrite: Bool = false) throws {
        try OutputPaths.checkFile(path, inputs: inputs)
        if !overwrite, FileManager.default.fileExists(atPath: path) {
            throw GGUFError(file: path, "already exists; choose another output or pass --overwrite")
        }
        let file = try AtomicFile(path: path)
        try bytes.withUnsafeBytes { try file.write($0, at: 0) }
        try file.commit()
    }
}
