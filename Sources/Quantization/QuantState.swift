import Foundation
import SafeTensors

/// The non-tensor part of a bitsandbytes quant state, stored beside each 4-bit weight as the
/// U8 tensor `<weight>.quant_state.bitsandbytes__<nf4|fp4>` holding JSON text.
public struct QuantState: Sendable, Equatable {
    public var quantType: QuantType
    public var blockSize: Int
    /// torch's name of the weight's original dtype: "float32", "float16", "bfloat16".
    public var dtype: String
    public var shape: [Int]
    public var nestedBlockSize: Int?
    public var nestedDType: String?
    public var nestedOffset: Float?

    /// Elements of the original weight. Safe on any parsed state: parsing refuses shapes whose
    /// product overflows.
    public var elementCount: Int { Self.checkedElementCount(shape) ?? 0 }

    /// The product of `shape`, or nil when it overflows or passes 2^62 (sizes derived from it,
    /// such as block counts and byte counts, must not overflow either).
    public static func checkedElementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for size in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow, product <= maximumElementCount else { return nil }
            count = product
        }
        return count
    }

    /// Checks the state's shape against the bytes actually stored for the packed weight: a file
    /// cannot describe more elements than it holds, so every size computed from the shape is bounded.
    public func checkFits(packedByteCount: Int, file: String, tensor: String) throws(QuantizationError) {
        let needed = BlockwiseQuantization.packedByteCount(elements: elementCount)
        guard packedByteCount == needed else {
            throw QuantizationError(
                file: file, tensor: tensor,
                "packed weight holds \(packedByteCount) bytes; shape \(shape) needs \(needed)")
        }
    }

    /// The most elements a stored shape (and the largest nested block size) may describe: 2^62,
    /// so block and byte counts derived from it cannot overflow an Int.
    static let maximumElementCount = 1 << 62

    /// The tensor name suffix for this quant type.
    public static func keySuffix(_ type: QuantType) -> String { ".quant_state.bitsandbytes__" + type.rawValue }

    /// The JSON as bitsandbytes writes it: Python's `json.dumps` default separators, keys in
    /// `QuantState.as_dict` order, the offset as Python's repr of the f32 value.
    public func jsonText() -> String {
        var fields = [
            "\"quant_type\": \"\(quantType.rawValue)\"",
            "\"blocksize\": \(blockSize)",
            "\"dtype\": \"\(dtype)\"",
            "\"shape\": [\(shape.map(String.init).joined(separator: ", "))]",
        ]
        if let nestedBlockSize, let nestedDType, let nestedOffset {
            fields.append("\"nested_blocksize\": \(nestedBlockSize)")
            fields.append("\"nested_dtype\": \"\(nestedDType)\"")
            fields.append("\"nested_offset\": \(PythonJSONText.pythonRepr(Double(nestedOffset)))")
        }
        return "{" + fields.joined(separator: ", ") + "}"
    }

    /// Parses the JSON bytes of a stored quant state.
    public init(jsonBytes: [UInt8], file: String, tensor: String) throws(QuantizationError) {
        func invalid(_ why: String) -> QuantizationError { QuantizationError(file: file, tensor: tensor, "quant state: \(why)") }
        guard let object = try? JSONSerialization.jsonObject(with: Data(jsonBytes)) as? [String: Any] else {
            throw invalid("not a JSON object")
        }
        guard let typeName = object["quant_type"] as? String, let type = QuantType(rawValue: typeName) else {
            throw invalid("quant_type is missing or not nf4/fp4")
        }
        guard let blockSize = object["blocksize"] as? Int, BlockwiseQuantization.supportedBlockSizes.contains(blockSize) else {
            throw invalid("blocksize is missing or unsupported")
        }
        guard let dtype = object["dtype"] as? String, let original = DType(torchName: dtype), [.f32, .f16, .bf16].contains(original) else {
            throw invalid("dtype is missing or not float32/float16/bfloat16")
        }
        guard let shape = object["shape"] as? [Int], shape.allSatisfy({ $0 >= 0 }) else {
            throw invalid("shape is missing or not a list of sizes")
        }
        guard Self.checkedElementCount(shape) != nil else {
            throw invalid("shape \(shape) has more elements than any file can hold")
        }
        self.quantType = type
        self.blockSize = blockSize
        self.dtype = dtype
        self.shape = shape
        if object["nested_offset"] != nil || object["nested_blocksize"] != nil {
            guard let nestedBlockSize = object["nested_blocksize"] as? Int, (1...Self.maximumElementCount).contains(nestedBlockSize),
                let offset = (object["nested_offset"] as? NSNumber)?.floatValue
            else {
                throw invalid("nested_blocksize or nested_offset is missing or invalid")
            }
            let nestedDType = object["nested_dtype"] as? String ?? "float32"
            guard nestedDType == "float32" else { throw invalid("nested_dtype \(nestedDType) is not supported (float32 only)") }
            self.nestedBlockSize = nestedBlockSize
            self.nestedDType = nestedDType
            self.nestedOffset = offset
        }
    }

    public init(
        quantType: QuantType, blockSize: Int, dtype: String, shape: [Int],
        nestedBlockSize: Int? = nil, nestedDType: String? = nil, nestedOffset: Float? = nil
    ) {
        self.quantType = quantType
        self.blockSize = blockSize
        self.dtype = dtype
        self.shape = shape
        self.nestedBlockSize = nestedBlockSize
        self.nestedDType = nestedDType
        self.nestedOffset = nestedOffset
    }
}
