import Dispatch

/// Bulk conversion of tensor bytes between float dtypes, element by element with
/// ``FloatEncoding``'s semantics (PyTorch's `.to(dtype)`), parallel across cores for large
/// tensors. Sources: F32, F16, BF16, F64, F8_E4M3, F8_E5M2. Destinations: F32, F16, BF16,
/// F8_E4M3, F8_E5M2. Sources may be unaligned (another writer's file need not pad).
public enum DTypeConversion {
    /// The dtypes ``convert(_:from:into:as:file:tensor:)`` reads.
    public static let sources: Set<DType> = [.f32, .f16, .bf16, .f64, .f8E4M3, .f8E5M2]
    /// The dtypes it writes.
    public static let destinations: Set<DType> = [.f32, .f16, .bf16, .f8E4M3, .f8E5M2]

    /// Below this many elements a conversion stays on the calling thread.
    static let parallelThreshold = 1 << 18

    /// Converts all elements of `source` (dtype `from`) into `destination` (dtype `to`).
    /// `destination` must hold exactly as many elements.
    public static func convert(
        _ source: UnsafeRawBufferPointer, from: DType,
        into destination: UnsafeMutableRawBufferPointer, as to: DType,
        file: String, tensor: String? = nil
    ) throws(SafeTensorsError) {
        guard sources.contains(from), destinations.contains(to) || from == to else {
            throw SafeTensorsError(file: file, tensor: tensor, .unsupportedConversion(from: from, to: to))
        }
        let count = source.count * 8 / from.bitSize
        guard destination.count * 8 == count * to.bitSize else {
            throw SafeTensorsError(
                file: file, tensor: tensor,
                .invalidTensor(
                    "conversion buffer holds \(destination.count) bytes, \(count) elements of \(to.rawValue) "
                        + "need \(count * to.bitSize / 8)"))
        }
        guard count > 0 else { return }
        if from == to {
            destination.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: source.count)
            return
        }
        let job = Job(input: source.baseAddress!, output: destination.baseAddress!, count: count)
        switch from {
        case .f32: job.run(from: F32Codec.self, to: to)
        case .f64: job.run(from: F64Codec.self, to: to)
        case .bf16: job.run(from: BF16Codec.self, to: to)
        case .f16: job.run(from: F16Codec.self, to: to)
        case .f8E4M3: job.run(from: E4M3Codec.self, to: to)
        case .f8E5M2: job.run(from: E5M2Codec.self, to: to)
        default: preconditionFailure("unreachable: sources checked above")
        }
    }

    /// One conversion: raw input and output and an element count. Codecs are static types, not
    /// closures, so every (source, destination) pair is specialised into its own loop.
    private struct Job: @unchecked Sendable {
        let input: UnsafeRawPointer
        let output: UnsafeMutableRawPointer
        let count: Int

        func run<From: FloatCodec>(from: From.Type, to: DType) {
            switch to {
            case .f32: map(From.self, F32Codec.self)
            case .f16: map(From.self, F16Codec.self)
            case .bf16:
                // torch widens half and float8 to f32 and narrows through its scalar
                // c10::BFloat16 constructor (canonical NaN 0x7FC0); its vectorised f32 and f64
                // paths write 0xFFFF.
                if From.self == F32Codec.self || From.self == F64Codec.self {
                    map(From.self, BF16Codec.self)
                } else {
                    map(From.self, BF16ScalarPathCodec.self)
                }
            case .f8E4M3: map(From.self, E4M3Codec.self)
            case .f8E5M2: map(From.self, E5M2Codec.self)
            default: preconditionFailure("unreachable: destinations checked above")
            }
        }

        /// Splits large conversions into chunks run on every core.
        private func map<From: FloatCodec, To: FloatCodec>(_ from: From.Type, _ to: To.Type) {
            if count < DTypeConversion.parallelThreshold {
                mapRange(From.self, To.self, 0..<count)
                return
            }
            let chunk = 1 << 16
            let chunks = (count + chunk - 1) / chunk
            // Chunks write disjoint ranges of `output`; nothing else is shared or mutated.
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                mapRange(From.self, To.self, (c * chunk)..<min(count, (c + 1) * chunk))
            }
        }

        @inline(__always)
        private func mapRange<From: FloatCodec, To: FloatCodec>(_: From.Type, _: To.Type, _ range: Range<Int>) {
            // Typed pointers when aligned (every file a safetensors writer makes is) let LLVM
            // vectorise the loop; unaligned data takes the byte-load path.
            let aligned =
                Int(bitPattern: input) % MemoryLayout<From.Bits>.alignment == 0
                && Int(bitPattern: output) % MemoryLayout<To.Bits>.alignment == 0
            if aligned {
                let source = input.assumingMemoryBound(to: From.Bits.self)
                let destination = output.assumingMemoryBound(to: To.Bits.self)
                for i in range { destination[i] = To.encode(From.decode(source[i])) }
            } else {
                for i in range {
                    let bits = input.loadUnaligned(fromByteOffset: i * MemoryLayout<From.Bits>.size, as: From.Bits.self)
                    output.storeBytes(of: To.encode(From.decode(bits)), toByteOffset: i * MemoryLayout<To.Bits>.size, as: To.Bits.self)
                }
            }
        }
    }
}

/// A float format as stored bits, with its exact widening to f32 and torch's narrowing from it.
protocol FloatCodec: SendableMetatype {
    associatedtype Bits: FixedWidthInteger & Sendable
    static func decode(_ bits: Bits) -> Float
    static func encode(_ value: Float) -> Bits
}

private enum F32Codec: FloatCodec {
    @inline(__always) static func decode(_ bits: UInt32) -> Float { Float(bitPattern: bits) }
    @inline(__always) static func encode(_ value: Float) -> UInt32 { value.bitPattern }
}

private enum F64Codec: FloatCodec {
    @inline(__always) static func decode(_ bits: UInt64) -> Float { Float(Double(bitPattern: bits)) }
    @inline(__always) static func encode(_ value: Float) -> UInt64 { Double(value).bitPattern }
}

private enum F16Codec: FloatCodec {
    @inline(__always) static func decode(_ bits: UInt16) -> Float { FloatEncoding.float(fromFloat16: bits) }
    @inline(__always) static func encode(_ value: Float) -> UInt16 { FloatEncoding.float16(fromFloat: value) }
}

private enum BF16Codec: FloatCodec {
    @inline(__always) static func decode(_ bits: UInt16) -> Float { FloatEncoding.float(fromBFloat16: bits) }
    @inline(__always) static func encode(_ value: Float) -> UInt16 { FloatEncoding.bfloat16(fromFloat: value) }
}

private enum BF16ScalarPathCodec: FloatCodec {
    @inline(__always) static func decode(_ bits: UInt16) -> Float { FloatEncoding.float(fromBFloat16: bits) }
    @inline(__always) static func encode(_ value: Float) -> UInt16 { FloatEncoding.bfloat16ScalarPath(fromFloat: value) }
}

private enum E4M3Codec: FloatCodec {
    @inline(__always) static func decode(_ bits: UInt8) -> Float { FloatEncoding.float(fromFloat8E4M3: bits) }
    @inline(__always) static func encode(_ value: Float) -> UInt8 { FloatEncoding.float8E4M3(fromFloat: value) }
}

private enum E5M2Codec: FloatCodec {
    @inline(__always) static func decode(_ bits: UInt8) -> Float { FloatEncoding.float(fromFloat8E5M2: bits) }
    @inline(__always) static func encode(_ value: Float) -> UInt8 { FloatEncoding.float8E5M2(fromFloat: value) }
}
