import SafeTensors

/// One weight quantized to 4 bits, as bitsandbytes stores it: packed codes, per-block absmax
/// (plain, or double-quantized), the codebook, and the original shape and dtype.
public struct QuantizedWeight: Sendable {
    public var quantType: QuantType
    public var blockSize: Int
    /// The logical shape, e.g. `[out, in]` for a Linear weight.
    public var shape: [Int]
    /// The dtype the weight had before quantization ("dtype" in the quant state).
    public var originalDType: DType
    /// Two codes per byte, even element in the high nibble: `(n + 1) / 2` bytes.
    public var packed: [UInt8]
    /// Plain per-block absmax (when not double-quantized).
    public var absmax: [Float]?
    /// Double-quantized absmax.
    public var nested: NestedAbsmax?
    /// The 16 code values stored with the weight (`quant_map`).
    public var quantMap: [Float]

    public var elementCount: Int { shape.reduce(1, *) }
    public var blockCount: Int { BlockwiseQuantization.blockCount(elements: elementCount, blockSize: blockSize) }

    public init(
        quantType: QuantType, blockSize: Int, shape: [Int], originalDType: DType, packed: [UInt8],
        absmax: [Float]?, nested: NestedAbsmax?, quantMap: [Float]
    ) {
        self.quantType = quantType
        self.blockSize = blockSize
        self.shape = shape
        self.originalDType = originalDType
        self.packed = packed
        self.absmax = absmax
        self.nested = nested
        self.quantMap = quantMap
    }

    /// The per-block scales in f32 (decoded when double-quantized).
    public func blockAbsmax() -> [Float] { absmax ?? nested?.decompressed() ?? [] }

    /// Quantizes f32 `values` (flattened `shape`).
    /// - Throws: when a value is NaN or infinite (naming `tensor` in `file`), or the block size
    ///   is not one bitsandbytes supports.
    public static func quantize(
        _ values: UnsafeBufferPointer<Float>, shape: [Int], originalDType: DType, type: QuantType,
        blockSize: Int, doubleQuantization: Bool, tensor: String, file: String
    ) throws(QuantizationError) -> QuantizedWeight {
        guard BlockwiseQuantization.supportedBlockSizes.contains(blockSize) else {
            throw QuantizationError(
                file: file, tensor: tensor,
                "block size \(blockSize) is not one of "
                    + "\(BlockwiseQuantization.supportedBlockSizes.map(String.init).joined(separator: ", "))")
        }
        precondition(values.count == shape.reduce(1, *))
        var packed = [UInt8](repeating: 0, count: BlockwiseQuantization.packedByteCount(elements: values.count))
        var absmax = [Float](repeating: 0, count: BlockwiseQuantization.blockCount(elements: values.count, blockSize: blockSize))
        let bad = packed.withUnsafeMutableBufferPointer { packedBuffer in
            absmax.withUnsafeMutableBufferPointer { absmaxBuffer in
                BlockwiseQuantization.quantize(values, type: type, blockSize: blockSize, packed: packedBuffer, absmax: absmaxBuffer)
            }
        }
        guard bad == 0 else {
            throw QuantizationError(file: file, tensor: tensor, "\(bad) block(s) hold NaN or infinite values; cannot quantize")
        }
        return QuantizedWeight(
            quantType: type, blockSize: blockSize, shape: shape, originalDType: originalDType,
            packed: packed, absmax: doubleQuantization ? nil : absmax,
            nested: doubleQuantization ? NestedAbsmax.compress(absmax) : nil,
            quantMap: type.codebook.values)
    }

    /// All values in f32.
    public func dequantized() -> [Float] {
        var out = [Float](repeating: 0, count: elementCount)
        let scales = blockAbsmax()
        out.withUnsafeMutableBufferPointer { output in
            dequantize(elements: 0..<elementCount, blockAbsmax: scales, into: output)
        }
        return out
    }

    /// Elements `range` in f32 into `output`, with the block scales already decoded (decode them
    /// once with ``blockAbsmax()`` and reuse them for every tile).
    public func dequantize(elements range: Range<Int>, blockAbsmax scales: [Float], into output: UnsafeMutableBufferPointer<Float>) {
        packed.withUnsafeBufferPointer { packedBuffer in
            scales.withUnsafeBufferPointer { scaleBuffer in
                BlockwiseQuantization.dequantize(
                    packed: packedBuffer, blockSize: blockSize, codebook: quantMap,
                    absmax: scaleBuffer, elements: range, into: output)
            }
        }
    }
}
