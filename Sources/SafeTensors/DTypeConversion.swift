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
            throw SafeTensorsError(file: file, tensor: tensor,
                                   .invalidTensor("conversion buffer holds \(destination.count) bytes, \(count) elements of \(to.rawValue) need \(count * to.bitSize / 8)"))
        }
        if from == to {
            if count > 0 { destination.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: source.count) }
            return
        }
        switch (from, to) {
        case (.f16, .bf16), (.f8E4M3, .bf16), (.f8E5M2, .bf16):
            // torch widens these to f32 and narrows through its scalar c10::BFloat16 constructor,
            // which writes the canonical NaN 0x7FC0 (its vectorised f32 path writes 0xFFFF).
            switch from {
            case .f16: map(source, destination, count) { (bits: UInt16) in
                FloatEncoding.bfloat16ScalarPath(fromFloat: FloatEncoding.float(fromFloat16: bits)) }
            case .f8E4M3: map(source, destination, count) { (bits: UInt8) in
                FloatEncoding.bfloat16ScalarPath(fromFloat: FloatEncoding.float(fromFloat8E4M3: bits)) }
            default: map(source, destination, count) { (bits: UInt8) in
                FloatEncoding.bfloat16ScalarPath(fromFloat: FloatEncoding.float(fromFloat8E5M2: bits)) }
            }
        case (.f32, _): encode(source, destination, count, to, decode: { (bits: UInt32) in Float(bitPattern: bits) })
        case (.f64, _): encode(source, destination, count, to, decode: { (bits: UInt64) in Float(Double(bitPattern: bits)) })
        case (.f8E4M3, _): encode(source, destination, count, to, decode: FloatEncoding.float(fromFloat8E4M3:))
        case (.f8E5M2, _): encode(source, destination, count, to, decode: FloatEncoding.float(fromFloat8E5M2:))
        case (.bf16, _): encode(source, destination, count, to, decode: FloatEncoding.float(fromBFloat16:))
        case (.f16, _): encode(source, destination, count, to, decode: FloatEncoding.float(fromFloat16:))
        default:
            preconditionFailure("unreachable: sources checked above")
        }
    }

    @inline(__always)
    private static func encode<S: FixedWidthInteger & SendableMetatype>(
        _ source: UnsafeRawBufferPointer, _ destination: UnsafeMutableRawBufferPointer, _ count: Int,
        _ to: DType, decode: (S) -> Float
    ) {
        switch to {
        case .f32: map(source, destination, count) { (bits: S) in decode(bits).bitPattern }
        case .f16: map(source, destination, count) { (bits: S) in FloatEncoding.float16(fromFloat: decode(bits)) }
        case .bf16: map(source, destination, count) { (bits: S) in FloatEncoding.bfloat16(fromFloat: decode(bits)) }
        case .f8E4M3: map(source, destination, count) { (bits: S) in FloatEncoding.float8E4M3(fromFloat: decode(bits)) }
        case .f8E5M2: map(source, destination, count) { (bits: S) in FloatEncoding.float8E5M2(fromFloat: decode(bits)) }
        default: preconditionFailure("unreachable: destinations checked above")
        }
    }

    /// The one hot loop: element-wise `transform`, split into chunks across cores when large.
    @inline(__always)
    private static func map<S: FixedWidthInteger & SendableMetatype, D: FixedWidthInteger & SendableMetatype>(
        _ source: UnsafeRawBufferPointer, _ destination: UnsafeMutableRawBufferPointer, _ count: Int,
        _ transform: (S) -> D
    ) {
        guard count > 0 else { return }
        let input = source.baseAddress!
        let output = destination.baseAddress!
        if count < parallelThreshold {
            mapRange(input, output, 0..<count, transform)
            return
        }
        let chunk = 1 << 16
        let chunks = (count + chunk - 1) / chunk
        withoutActuallyEscaping(transform) { transform in
            // Chunks write disjoint ranges of `output`; nothing else is shared or mutated.
            nonisolated(unsafe) let transform = transform
            nonisolated(unsafe) let input = input
            nonisolated(unsafe) let output = output
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                mapRange(input, output, (c * chunk)..<min(count, (c + 1) * chunk), transform)
            }
        }
    }

    @inline(__always)
    private static func mapRange<S: FixedWidthInteger & SendableMetatype, D: FixedWidthInteger & SendableMetatype>(
        _ input: UnsafeRawPointer, _ output: UnsafeMutableRawPointer, _ range: Range<Int>, _ transform: (S) -> D
    ) {
        for i in range {
            let value = input.loadUnaligned(fromByteOffset: i * MemoryLayout<S>.size, as: S.self)
            output.storeBytes(of: transform(value), toByteOffset: i * MemoryLayout<D>.size, as: D.self)
        }
    }
}
