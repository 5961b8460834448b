/// An element type of the safetensors format, spelled as in the file header.
///
/// The case order is the official crate's enum order. The crate's writer sorts tensors by this
/// order *descending* (widest types first, so every tensor stays aligned to its element size),
/// then by name; ``writeRank`` exposes that order.
public enum DType: String, CaseIterable, Sendable, Hashable, Codable {
    case bool = "BOOL"
    case f4 = "F4"
    case f6E2M3 = "F6_E2M3"
    case f6E3M2 = "F6_E3M2"
    case u8 = "U8"
    case i8 = "I8"
    case f8E5M2 = "F8_E5M2"
    case f8E4M3 = "F8_E4M3"
    case f8E8M0 = "F8_E8M0"
    case f8E4M3FNUZ = "F8_E4M3FNUZ"
    case f8E5M2FNUZ = "F8_E5M2FNUZ"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case c64 = "C64"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"

    /// Bits per element. Sub-byte types (F4, F6) pack elements across byte boundaries,
    /// so a tensor's byte size is `elements × bitSize / 8` and must be whole.
    public var bitSize: Int {
        switch self {
        case .f4: return 4
        case .f6E2M3, .f6E3M2: return 6
        case .bool, .u8, .i8, .f8E5M2, .f8E4M3, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ: return 8
        case .i16, .u16, .f16, .bf16: return 16
        case .i32, .u32, .f32: return 32
        case .c64, .f64, .i64, .u64: return 64
        }
    }

    /// Position in the crate's enum; the writer orders tensors by this, descending.
    public var writeRank: Int { DType.allCases.firstIndex(of: self)! }

    /// True for the types that hold real floating-point numbers (not complex, not integer).
    public var isFloatingPoint: Bool {
        switch self {
        case .f4, .f6E2M3, .f6E3M2, .f8E5M2, .f8E4M3, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ,
            .f16, .bf16, .f32, .f64:
            return true
        default:
            return false
        }
    }

    /// Byte size of `elementCount` elements, or nil when it overflows or is not a whole number
    /// of bytes (both are validation errors in a header).
    public func byteCount(elements elementCount: Int) -> Int? {
        let (bits, overflow) = elementCount.multipliedReportingOverflow(by: bitSize)
        guard !overflow, bits % 8 == 0 else { return nil }
        return bits / 8
    }

    /// The dtype PyTorch calls `name` ("float32", "bfloat16", …), as configs and quant states write it.
    public init?(torchName name: String) {
        guard let match = DType.allCases.first(where: { $0.torchName == name }) else { return nil }
        self = match
    }

    /// The name PyTorch uses (`torch.float32` → "float32"), as config.json and quant states write it.
    public var torchName: String {
        switch self {
        case .bool: return "bool"
        case .f4: return "float4_e2m1fn_x2"
        case .f6E2M3: return "float6_e2m3fn"
        case .f6E3M2: return "float6_e3m2fn"
        case .u8: return "uint8"
        case .i8: return "int8"
        case .f8E5M2: return "float8_e5m2"
        case .f8E4M3: return "float8_e4m3fn"
        case .f8E8M0: return "float8_e8m0fnu"
        case .f8E4M3FNUZ: return "float8_e4m3fnuz"
        case .f8E5M2FNUZ: return "float8_e5m2fnuz"
        case .i16: return "int16"
        case .u16: return "uint16"
        case .f16: return "float16"
        case .bf16: return "bfloat16"
        case .i32: return "int32"
        case .u32: return "uint32"
        case .f32: return "float32"
        case .c64: return "complex64"
        case .f64: return "float64"
        case .i64: return "int64"
        case .u64: return "uint64"
        }
    }
}
