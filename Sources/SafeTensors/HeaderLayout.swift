/// What a writer needs to know about a tensor before any of its data: name, dtype and shape.
public struct TensorSpec: Sendable, Equatable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]

    public init(name: String, dtype: DType, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }
}

extension SafeTensorsHeader {
    /// Lays tensors out exactly as the official writer does: sorted by dtype (the crate's enum
    /// order, descending) then by name in byte order, offsets packed from 0.
    /// - Throws: `.invalidTensor` for a tensor named `__metadata__`, a duplicate name, a negative
    ///   dimension or a sub-byte tensor that is not whole bytes; `.headerTooLargeToWrite`.
    public static func layout(
        _ specs: [TensorSpec], metadata: [String: String]?, file: String
    ) throws(SafeTensorsError) -> SafeTensorsHeader {
        var seen = Set<String>()
        for spec in specs {
            func invalid(_ why: String) -> SafeTensorsError {
                SafeTensorsError(file: file, tensor: spec.name, .invalidTensor(why))
            }
            guard spec.name != "__metadata__" else { throw invalid("the name __metadata__ is reserved for the metadata") }
            guard seen.insert(spec.name).inserted else { throw invalid("name used twice") }
            guard spec.shape.allSatisfy({ $0 >= 0 }) else { throw invalid("negative dimension in shape \(spec.shape)") }
        }
        let ordered = specs.sorted {
            $0.dtype.writeRank != $1.dtype.writeRank
                ? $0.dtype.writeRank > $1.dtype.writeRank
                : $0.name.utf8.lexicographicallyPrecedes($1.name.utf8)
        }
        var offset = 0
        var tensors: [TensorInfo] = []
        tensors.reserveCapacity(ordered.count)
        for spec in ordered {
            var elements = 1
            for dim in spec.shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: dim)
                guard !overflow else { throw SafeTensorsError(file: file, tensor: spec.name, .validationOverflow) }
                elements = product
            }
            guard let size = spec.dtype.byteCount(elements: elements) else {
                throw SafeTensorsError(file: file, tensor: spec.name, .misalignedSlice(dtype: spec.dtype, elements: elements))
            }
            tensors.append(
                TensorInfo(
                    name: spec.name, dtype: spec.dtype, shape: spec.shape,
                    dataOffsets: offset..<(offset + size)))
            offset += size
        }
        var header = SafeTensorsHeader(metadata: metadata, tensors: tensors, length: 0)
        let length = header.encodedJSON().count
        guard length <= maximumLength else { throw SafeTensorsError(file: file, .headerTooLargeToWrite(length: length)) }
        header = SafeTensorsHeader(metadata: metadata, tensors: tensors, length: length)
        return header
    }

    /// The header as the crate serializes it: compact JSON, `__metadata__` first (its keys in
    /// byte order), then tensors in layout order with fields `dtype`, `shape`, `data_offsets`,
    /// padded with spaces to a multiple of 8 bytes.
    public func encodedJSON() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + tensors.count * 96)
        out.append(UInt8(ascii: "{"))
        var first = true
        if let metadata {
            appendJSONString("__metadata__", to: &out)
            out.append(contentsOf: Array(":{".utf8))
            for (i, key) in metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendJSONString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                appendJSONString(metadata[key]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
            first = false
        }
        for tensor in tensors {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            appendJSONString(tensor.name, to: &out)
            out.append(contentsOf: Array(":{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[".utf8))
            out.append(contentsOf: Array(tensor.shape.map(String.init).joined(separator: ",").utf8))
            out.append(contentsOf: Array("],\"data_offsets\":[\(tensor.dataOffsets.lowerBound),\(tensor.dataOffsets.upperBound)]}".utf8))
        }
        out.append(UInt8(ascii: "}"))
        let padded = (out.count + 7) / 8 * 8
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padded - out.count))
        return out
    }
}
