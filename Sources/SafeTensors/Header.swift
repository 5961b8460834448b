/// Where one tensor lives in a safetensors file and what it holds.
public struct TensorInfo: Sendable, Equatable {
    public var name: String
    public var dtype: DType
    /// Dimensions, outermost first; `[]` is a scalar. Sub-byte dtypes count elements, not bytes.
    public var shape: [Int]
    /// `[begin, end)` relative to the start of the data buffer (just after the header).
    public var dataOffsets: Range<Int>

    public init(name: String, dtype: DType, shape: [Int], dataOffsets: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.dataOffsets = dataOffsets
    }

    /// Product of the shape (1 for a scalar). A zero dimension gives 0 whatever the others are:
    /// the format accepts `[2^62, 2, 0]`, whose partial product 2^63 overflows an Int.
    public var elementCount: Int { shape.contains(0) ? 0 : shape.reduce(1, *) }
    public var byteCount: Int { dataOffsets.count }
}

/// The parsed and validated JSON header of a safetensors file.
///
/// Parsing follows the official crate step by step, so a file is accepted or rejected for the
/// same reason: length prefix, UTF-8, strict JSON of the format, then offsets, sizes and the
/// file length. Tensors are kept sorted by their data offsets, as the crate keeps them.
public struct SafeTensorsHeader: Sendable {
    /// The largest header the format allows (the crate's `MAX_HEADER_SIZE`).
    public static let maximumLength = 100_000_000

    /// `__metadata__`: free-form string pairs; nil when the key is absent (or null).
    public var metadata: [String: String]?
    /// Every tensor, in data-offset order.
    public private(set) var tensors: [TensorInfo]
    /// Length of the JSON header in bytes, excluding the 8-byte prefix.
    public private(set) var length: Int
    private var indexByName: [String: Int]

    /// Byte offset of the data buffer from the start of the file.
    public var dataStart: Int { 8 + length }
    /// Size of the data buffer: the end offset of the last tensor.
    public var dataSize: Int { tensors.last?.dataOffsets.upperBound ?? 0 }

    public func tensor(named name: String) -> TensorInfo? {
        indexByName[name].map { tensors[$0] }
    }

    /// Parses and validates the header of a complete file held in `bytes`.
    /// - Parameter file: the path, used only to name the file in errors.
    public static func parse(fileBytes bytes: UnsafeRawBufferPointer, file: String) throws(SafeTensorsError) -> SafeTensorsHeader {
        func failure(_ kind: SafeTensorsError.Kind, _ tensor: String? = nil) -> SafeTensorsError {
            SafeTensorsError(file: file, tensor: tensor, kind)
        }
        guard bytes.count >= 8 else { throw failure(.headerTooSmall(fileSize: bytes.count)) }
        var prefix: UInt64 = 0
        for i in (0..<8).reversed() { prefix = prefix << 8 | UInt64(bytes[i]) }
        guard prefix <= UInt64(maximumLength) else { throw failure(.headerTooLarge(length: prefix)) }
        let length = Int(prefix)
        guard 8 + length <= bytes.count else {
            throw failure(.invalidHeaderLength(length: length, fileSize: bytes.count))
        }
        let json = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + length)])
        if let badByte = firstInvalidUTF8Offset(json) { throw failure(.headerNotUTF8(byteOffset: badByte)) }

        let root: JSONValue
        do {
            root = try StrictJSONParser.parse(json)
        } catch {
            throw failure(.invalidHeaderJSON("\(error.message) at byte \(error.offset) of the header"))
        }
        let (metadata, entries) = try splitEntries(root, failure: failure)

        // Later duplicates replace earlier ones, as the crate's map does.
        var byName: [String: RawTensorEntry] = [:]
        var order: [String] = []
        for (name, value) in entries {
            let entry = try RawTensorEntry(value, failure: { failure($0, name) })
            if byName.updateValue(entry, forKey: name) == nil { order.append(name) }
        }
        var sorted = order.map { (name: $0, entry: byName[$0]!) }
        sorted.sort { ($0.entry.begin, $0.entry.end) < ($1.entry.begin, $1.entry.end) }

        let tensors = try validate(sorted, failure: failure)
        let header = SafeTensorsHeader(metadata: metadata, tensors: tensors, length: length)
        let expectedFileSize = UInt64(header.dataStart).addingReportingOverflow(UInt64(header.dataSize))
        guard !expectedFileSize.overflow, expectedFileSize.partialValue == UInt64(bytes.count) else {
            throw failure(.incompleteBuffer(expectedFileSize: header.dataStart + header.dataSize, actualFileSize: bytes.count))
        }
        return header
    }

    init(metadata: [String: String]?, tensors: [TensorInfo], length: Int) {
        self.metadata = metadata
        self.tensors = tensors
        self.length = length
        var index: [String: Int] = [:]
        for (i, tensor) in tensors.enumerated() { index[tensor.name] = i }
        self.indexByName = index
    }

    /// The crate's `validate`: contiguous offsets from 0, no overflow, whole bytes, exact sizes.
    private static func validate(
        _ sorted: [(name: String, entry: RawTensorEntry)],
        failure: (SafeTensorsError.Kind, String?) -> SafeTensorsError
    ) throws(SafeTensorsError) -> [TensorInfo] {
        var start: UInt64 = 0
        var tensors: [TensorInfo] = []
        tensors.reserveCapacity(sorted.count)
        for (name, entry) in sorted {
            guard entry.begin == start, entry.end >= entry.begin else { throw failure(.invalidOffset, name) }
            start = entry.end
            var elements: UInt64 = 1
            for dim in entry.shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: dim)
                guard !overflow else { throw failure(.validationOverflow, name) }
                elements = product
            }
            let (bits, overflow) = elements.multipliedReportingOverflow(by: UInt64(entry.dtype.bitSize))
            guard !overflow else { throw failure(.validationOverflow, name) }
            guard bits % 8 == 0 else {
                throw failure(.misalignedSlice(dtype: entry.dtype, elements: Int(clamping: elements)), name)
            }
            let size = bits / 8
            guard entry.end - entry.begin == size else {
                throw failure(
                    .tensorInvalidInfo(
                        expectedBytes: Int(clamping: size),
                        actualBytes: Int(clamping: entry.end - entry.begin)), name)
            }
            // Dimensions beyond Int.max can only occur next to a zero dimension; Swift's Int
            // cannot hold them, so such a header is refused as an overflow.
            guard entry.shape.allSatisfy({ $0 <= UInt64(Int.max) }), entry.end <= UInt64(Int.max) else {
                throw failure(.validationOverflow, name)
            }
            tensors.append(
                TensorInfo(
                    name: name, dtype: entry.dtype, shape: entry.shape.map { Int($0) },
                    dataOffsets: Int(entry.begin)..<Int(entry.end)))
        }
        return tensors
    }

    /// Separates `__metadata__` from the tensor entries, checking the metadata as serde does
    /// while it reads the map (so its errors come before any tensor entry's).
    private static func splitEntries(
        _ root: JSONValue,
        failure: (SafeTensorsError.Kind, String?) -> SafeTensorsError
    ) throws(SafeTensorsError) -> ([String: String]?, [(String, JSONValue)]) {
        guard case .object(let members) = root else {
            throw failure(.invalidHeaderJSON("expected an object at the top level, found \(root.typeDescription)"), nil)
        }
        var metadata: [String: String]?
        var sawMetadata = false
        var entries: [(String, JSONValue)] = []
        for (key, value) in members {
            guard key == "__metadata__" else {
                entries.append((key, value))
                continue
            }
            if sawMetadata { throw failure(.invalidHeaderJSON("duplicate field `__metadata__`"), nil) }
            sawMetadata = true
            switch value {
            case .null:
                metadata = nil
            case .object(let pairs):
                var dictionary: [String: String] = [:]
                for (metaKey, metaValue) in pairs {
                    guard case .string(let text) = metaValue else {
                        throw failure(
                            .invalidHeaderJSON(
                                "__metadata__ value for \"\(metaKey)\" is \(metaValue.typeDescription), not a string"), nil)
                    }
                    dictionary[metaKey] = text
                }
                metadata = dictionary
            default:
                throw failure(.invalidHeaderJSON("__metadata__ is \(value.typeDescription), not an object of strings"), nil)
            }
        }
        return (metadata, entries)
    }

    /// Offset of the first byte that breaks UTF-8, or nil when all of it is valid.
    private static func firstInvalidUTF8Offset(_ bytes: UnsafeRawBufferPointer) -> Int? {
        // Pure ASCII is the common case; only fall back to full decoding when needed.
        if !bytes.contains(where: { $0 >= 0x80 }) { return nil }
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var consumed = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): consumed += UTF8.width(scalar)
            case .emptyInput: return nil
            case .error: return consumed
            }
        }
    }
}

/// One tensor entry as written in the header, before validation. Integers stay 64-bit unsigned
/// (Rust's `usize`) so overflow is detected exactly where the crate detects it.
private struct RawTensorEntry {
    var dtype: DType
    var shape: [UInt64]
    var begin: UInt64
    var end: UInt64

    init(_ value: JSONValue, failure: (SafeTensorsError.Kind) -> SafeTensorsError) throws(SafeTensorsError) {
        func invalid(_ why: String) -> SafeTensorsError { failure(.invalidHeaderJSON(why)) }
        var dtypeValue: JSONValue?
        var shapeValue: JSONValue?
        var offsetsValue: JSONValue?
        switch value {
        case .object(let fields):
            for (field, fieldValue) in fields {
                switch field {
                case "dtype":
                    guard dtypeValue == nil else { throw invalid("duplicate field `dtype`") }
                    dtypeValue = fieldValue
                case "shape":
                    guard shapeValue == nil else { throw invalid("duplicate field `shape`") }
                    shapeValue = fieldValue
                case "data_offsets":
                    guard offsetsValue == nil else { throw invalid("duplicate field `data_offsets`") }
                    offsetsValue = fieldValue
                default:
                    continue  // unknown fields are ignored, as the crate ignores them
                }
            }
        case .array(let elements):
            // serde also reads a struct from a sequence of its fields in declaration order.
            guard elements.count == 3 else {
                throw invalid("invalid length \(elements.count), expected struct TensorInfo with 3 elements")
            }
            (dtypeValue, shapeValue, offsetsValue) = (elements[0], elements[1], elements[2])
        default:
            throw invalid("tensor entry is \(value.typeDescription), expected an object")
        }
        guard let dtypeValue else { throw invalid("missing field `dtype`") }
        guard let shapeValue else { throw invalid("missing field `shape`") }
        guard let offsetsValue else { throw invalid("missing field `data_offsets`") }

        guard case .string(let dtypeName) = dtypeValue else {
            throw invalid("dtype is \(dtypeValue.typeDescription), expected a string")
        }
        guard let dtype = DType(rawValue: dtypeName) else { throw invalid("unknown dtype \"\(dtypeName)\"") }
        guard case .array(let dims) = shapeValue else {
            throw invalid("shape is \(shapeValue.typeDescription), expected an array of unsigned integers")
        }
        var shape: [UInt64] = []
        for dim in dims {
            guard case .unsignedInteger(let size) = dim else {
                throw invalid("shape holds \(dim.typeDescription), expected unsigned integers")
            }
            shape.append(size)
        }
        guard case .array(let offsets) = offsetsValue, offsets.count == 2,
            case .unsignedInteger(let begin) = offsets[0], case .unsignedInteger(let end) = offsets[1]
        else {
            throw invalid("data_offsets must be two unsigned integers")
        }
        self.dtype = dtype
        self.shape = shape
        self.begin = begin
        self.end = end
    }
}
