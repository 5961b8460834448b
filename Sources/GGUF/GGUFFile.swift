import Foundation
import SafeTensors

/// One tensor's entry in a GGUF file. `dimensions` is GGUF's order, fastest first (`ne[0]` is a
/// row's length); ``shape`` is the row-major order PyTorch and safetensors use.
public struct GGUFTensorInfo: Sendable, Equatable {
    public var name: String
    public var dimensions: [Int]
    public var type: GGMLType
    /// From the start of the data section.
    public var offset: Int

    public var shape: [Int] { dimensions.reversed() }
    public var count: Int { dimensions.reduce(1, *) }
    public var byteCount: Int { type.bytes(forValues: count) }
}

/// A GGUF v2/v3 file read through a memory map, validated as strictly as the safetensors reader:
/// every count, string, offset and size is checked against the file before it is used, so a
/// truncated or hostile file is an error naming the problem, never a crash.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    /// Metadata in file order.
    public let metadata: [(key: String, value: GGUFValue)]
    public let tensors: [GGUFTensorInfo]
    /// `general.alignment`, 32 unless the file says otherwise.
    public let alignment: Int
    /// Where the data section starts in the file.
    public let dataOffset: Int
    let storage: MappedStorage
    private let index: [String: Int]
    private let metadataIndex: [String: Int]

    static let magic: [UInt8] = Array("GGUF".utf8)
    /// ggml's GGML_MAX_NAME (the terminating NUL included) and GGML_MAX_DIMS.
    static let maxNameBytes = 63, maxDimensions = 4
    /// Nested arrays deeper than this are refused (no real file nests at all beyond one level).
    static let maxArrayDepth = 8

    public convenience init(path: String) throws {
        let storage: MappedStorage
        do { storage = try MappedStorage(path: path) } catch { throw GGUFError(file: path, "\(error)") }
        try self.init(storage: storage, path: path)
    }

    public init(storage: MappedStorage, path: String) throws {
        self.path = path
        self.storage = storage
        var reader = Reader(bytes: storage.bytes, file: path)
        guard storage.bytes.count >= 24, Array(storage.bytes.prefix(4)) == Self.magic else {
            throw GGUFError(file: path, storage.bytes.count < 4 ? "too short for a GGUF file" : "not a GGUF file (no GGUF magic)")
        }
        reader.position = 4
        version = try reader.u32("the version")
        guard version == 2 || version == 3 else {
            throw GGUFError(file: path, "GGUF version \(version) is not supported (2 and 3 are)")
        }
        let tensorCount = try reader.count("the tensor count", minimumBytesEach: 4 + 8 + 4 + 8 + 8)
        let metadataCount = try reader.count("the metadata count", minimumBytesEach: 8 + 4 + 1)
        var metadata: [(key: String, value: GGUFValue)] = []
        var metadataIndex: [String: Int] = [:]
        for number in 0..<metadataCount {
            let key = try reader.string("metadata key \(number)")
            guard !key.isEmpty else { throw GGUFError(file: path, "metadata key \(number) is empty") }
            guard metadataIndex[key] == nil else { throw GGUFError(file: path, "metadata key \(key) appears twice") }
            let type = try reader.valueType("\(key)'s type")
            let value = try reader.value(type, context: key, depth: 0)
            metadataIndex[key] = metadata.count
            metadata.append((key, value))
        }
        var alignment = 32
        if let entry = metadataIndex["general.alignment"].map({ metadata[$0].value }) {
            guard case .uint32(let value) = entry, value > 0, value & (value - 1) == 0 else {
                throw GGUFError(file: path, "general.alignment must be a power of two stored as uint32, not \(entry)")
            }
            alignment = Int(value)
        }
        var tensors: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        for number in 0..<tensorCount {
            let name = try reader.string("tensor \(number)'s name")
            guard name.utf8.count <= Self.maxNameBytes else {
                throw GGUFError(file: path, "tensor name \(name) is \(name.utf8.count) bytes; ggml allows \(Self.maxNameBytes)")
            }
            guard index[name] == nil else { throw GGUFError(file: path, "tensor \(name) appears twice") }
            let rank = try reader.u32("\(name)'s number of dimensions")
            guard (1...UInt32(Self.maxDimensions)).contains(rank) else {
                throw GGUFError(file: path, "tensor \(name) has \(rank) dimensions; ggml allows 1 to \(Self.maxDimensions)")
            }
            var dimensions: [Int] = []
            var total = 1
            for axis in 0..<Int(rank) {
                let size = try reader.u64("\(name)'s dimension \(axis)")
                guard size > 0, let value = Int(exactly: size), case (let product, false) = total.multipliedReportingOverflow(by: value),
                    product <= Int(Int32.max) * 64
                else { throw GGUFError(file: path, "tensor \(name) has an impossible dimension \(size)") }
                total = product
                dimensions.append(value)
            }
            let code = try reader.u32("\(name)'s type")
            guard let type = GGMLType(rawValue: code) else { throw GGUFError(file: path, "tensor \(name) has unknown ggml type \(code)") }
            guard dimensions[0] % type.blockSize == 0 else {
                throw GGUFError(
                    file: path, "tensor \(name): rows of \(dimensions[0]) do not fill \(type.name)'s blocks of \(type.blockSize)")
            }
            let offset = try reader.u64("\(name)'s offset")
            guard let start = Int(exactly: offset), start % alignment == 0 else {
                throw GGUFError(file: path, "tensor \(name)'s offset \(offset) is not a multiple of the alignment \(alignment)")
            }
            index[name] = tensors.count
            tensors.append(GGUFTensorInfo(name: name, dimensions: dimensions, type: type, offset: start))
        }
        let dataOffset = (reader.position + alignment - 1) / alignment * alignment
        let dataBytes = storage.bytes.count - dataOffset
        var ranges: [(Range<Int>, String)] = []
        for tensor in tensors {
            let end = tensor.offset + tensor.byteCount
            guard dataOffset <= storage.bytes.count, end <= dataBytes else {
                throw GGUFError(
                    file: path, "tensor \(tensor.name) (\(tensor.byteCount) bytes at \(tensor.offset)) runs past the end of the file")
            }
            ranges.append((tensor.offset..<end, tensor.name))
        }
        ranges.sort { $0.0.lowerBound < $1.0.lowerBound }
        for (a, b) in zip(ranges, ranges.dropFirst()) where a.0.overlaps(b.0) {
            throw GGUFError(file: path, "tensors \(a.1) and \(b.1) overlap")
        }
        (self.metadata, self.metadataIndex, self.alignment) = (metadata, metadataIndex, alignment)
        (self.tensors, self.index, self.dataOffset) = (tensors, index, dataOffset)
    }

    public subscript(key: String) -> GGUFValue? { metadataIndex[key].map { metadata[$0].value } }

    public func tensor(_ name: String) throws -> GGUFTensorInfo {
        guard let position = index[name] else { throw GGUFError(file: path, "no tensor \(name)") }
        return tensors[position]
    }

    /// The stored bytes of a tensor.
    public func bytes(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: storage.bytes[(dataOffset + tensor.offset)..<(dataOffset + tensor.offset + tensor.byteCount)])
    }

    /// A tensor's values as f32 (quantized types dequantized).
    public func floats(of tensor: GGUFTensorInfo) throws -> [Float] {
        try GGMLBlocks.dequantize(bytes(of: tensor), type: tensor.type, count: tensor.count, file: path, tensor: tensor.name)
    }
}

/// Little-endian reads with bounds checks, each failure naming what was being read.
struct Reader {
    let bytes: UnsafeRawBufferPointer
    let file: String
    var position = 0

    mutating func take(_ count: Int, _ what: String) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= bytes.count - position else {
            throw GGUFError(file: file, "the file ends inside \(what) (at byte \(position))")
        }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
    }

    mutating func scalar<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws -> T {
        let raw = try take(MemoryLayout<T>.size, what)
        return T(littleEndian: raw.loadUnaligned(as: T.self))
    }

    mutating func u32(_ what: String) throws -> UInt32 { try scalar(UInt32.self, what) }
    mutating func u64(_ what: String) throws -> UInt64 { try scalar(UInt64.self, what) }

    /// A count of items each at least `minimumBytesEach` long: more than the rest of the file
    /// could hold is refused before anything is allocated for them.
    mutating func count(_ what: String, minimumBytesEach: Int) throws -> Int {
        let value = try u64(what)
        guard let count = Int(exactly: value), count <= (bytes.count - position) / max(1, minimumBytesEach) else {
            throw GGUFError(file: file, "\(what) \(value) is more than the file could hold")
        }
        return count
    }

    mutating func string(_ what: String) throws -> String {
        let length = try u64("the length of \(what)")
        guard let count = Int(exactly: length), count <= bytes.count - position else {
            throw GGUFError(file: file, "the file ends inside \(what) (\(length) bytes at byte \(position))")
        }
        guard let text = String(validating: try take(count, what), as: UTF8.self) else {
            throw GGUFError(file: file, "\(what) is not valid UTF-8")
        }
        return text
    }

    mutating func valueType(_ what: String) throws -> GGUFValueType {
        let code = try u32(what)
        guard let type = GGUFValueType(rawValue: code) else { throw GGUFError(file: file, "\(what) is unknown value type \(code)") }
        return type
    }

    mutating func value(_ type: GGUFValueType, context: String, depth: Int) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try scalar(UInt8.self, context))
        case .int8: return .int8(try scalar(Int8.self, context))
        case .uint16: return .uint16(try scalar(UInt16.self, context))
        case .int16: return .int16(try scalar(Int16.self, context))
        case .uint32: return .uint32(try u32(context))
        case .int32: return .int32(try scalar(Int32.self, context))
        case .float32: return .float32(Float(bitPattern: try u32(context)))
        case .uint64: return .uint64(try u64(context))
        case .int64: return .int64(try scalar(Int64.self, context))
        case .float64: return .float64(Double(bitPattern: try u64(context)))
        case .bool:
            let byte = try scalar(UInt8.self, context)
            guard byte <= 1 else { throw GGUFError(file: file, "\(context): a bool must be 0 or 1, not \(byte)") }
            return .bool(byte == 1)
        case .string: return .string(try string(context))
        case .array:
            guard depth < Reader.maxDepth else { throw GGUFError(file: file, "\(context): arrays nested too deeply") }
            let element = try valueType("\(context)'s element type")
            let count = try self.count("\(context)'s length", minimumBytesEach: element.fixedSize ?? 8)
            var items: [GGUFValue] = []
            items.reserveCapacity(count)
            for index in 0..<count { items.append(try value(element, context: "\(context)[\(index)]", depth: depth + 1)) }
            return .array(element, items)
        }
    }

    static let maxDepth = GGUFFile.maxArrayDepth
}
