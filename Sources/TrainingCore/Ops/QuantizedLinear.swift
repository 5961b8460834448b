import CTrainingKernels
import Dispatch
import Quantization

/// A frozen 4-bit weight `[out, in]` for the matmul: packed codes stay packed and are dequantized
/// a tile of rows at a time inside ``Graph/linear(_:_:)``, never as a whole matrix.
public final class QuantizedLinearWeight: StoredLinearWeight, @unchecked Sendable {
    public let weight: QuantizedWeight
    /// Block scales decoded once (double quantization undone), reused by every tile.
    public let blockAbsmax: [Float]
    public var outFeatures: Int { weight.shape[0] }
    public var inFeatures: Int { weight.shape[1] }
    public let name: String

    public init(_ weight: QuantizedWeight, name: String) {
        precondition(weight.shape.count == 2, "4-bit Linear weight must be 2-D")
        self.weight = weight
        self.blockAbsmax = weight.blockAbsmax()
        self.name = name
    }

    /// Rows `rows` of the weight in f32 into `buffer` (`rows.count × in` floats).
    public func widenRows(_ rows: Range<Int>, into buffer: UnsafeMutablePointer<Float>) {
        let start = BLAS.measuresTime ? DispatchTime.now().uptimeNanoseconds : 0
        weight.dequantize(
            elements: (rows.lowerBound * inFeatures)..<(rows.upperBound * inFeatures), blockAbsmax: blockAbsmax,
            into: UnsafeMutableBufferPointer(start: buffer, count: rows.count * inFeatures))
        if BLAS.measuresTime { tk_dequantize_time_add(DispatchTime.now().uptimeNanoseconds - start) }
    }

    /// `y = x · Wᵀ` (+ what `y` holds with `accumulate`) for few rows of `x`, reading the packed
    /// codes directly: decoding streams the weight once per token, and dequantizing it to f32 first
    /// would move 8 times its bytes.
    public func multiplyFewRows(_ x: Tensor, into y: Tensor, accumulate: Bool) {
        precondition(x.rows <= Int(TK_DECODE_MAX_ROWS), "\(x.rows) rows: the fused 4-bit product takes at most 8")
        let (rows, inFeatures, outFeatures, blockSize) = (x.rows, self.inFeatures, self.outFeatures, weight.blockSize)
        weight.packed.withUnsafeBufferPointer { packed in
            blockAbsmax.withUnsafeBufferPointer { absmax in
                weight.quantMap.withUnsafeBufferPointer { code in
                    // Grain: a 2048-wide row is 1 kB of codes; 64 rows per task keep the split cheap.
                    Parallel.forRanges(outFeatures, grain: 64) { range in
                        tk_matvec_4bit(
                            packed.baseAddress, Int64(blockSize), code.baseAddress, absmax.baseAddress, Int64(inFeatures),
                            Int64(range.lowerBound), Int64(range.upperBound), x.data, Int64(rows), y.data, Int64(outFeatures),
                            accumulate ? 1 : 0)
                    }
                }
            }
        }
    }
}

extension Graph {
    /// The 4-bit matmul: forward tile by tile over output rows (tiles in parallel, each core
    /// dequantizing into its own buffer); backward gives the input gradient (and the bias's),
    /// the 4-bit weight itself being frozen.
    public func quantizedLinear(_ x: Tensor, _ weight: QuantizedLinearWeight, _ bias: Tensor?) -> Tensor {
        storedLinear(x, weight, bias)
    }

    /// The product with a weight kept in its stored form: few rows read it directly; more widen it
    /// tile by tile (tiles in parallel, each core widening into its own buffer) for the GEMM.
    /// Backward gives the input gradient (and the bias's), the weight itself being frozen.
    public func storedLinear(_ x: Tensor, _ weight: any StoredLinearWeight, _ bias: Tensor?) -> Tensor {
        let inFeatures = weight.inFeatures, outFeatures = weight.outFeatures
        precondition(x.columns == inFeatures, "linear \(weight.name): input has \(x.columns) features, weight expects \(inFeatures)")
        let rows = x.rows
        let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [outFeatures])
        if let bias { broadcastRows(bias.data, into: y.data, rows: rows, columns: outFeatures) }
        if rows <= Int(TK_DECODE_MAX_ROWS) {
            // bf16 mode: a 4-bit weight's values are not rounded to bf16 first here (bitsandbytes
            // dequantizes to the compute dtype), a difference of at most 2^-9 of each weight.
            weight.multiplyFewRows(x, into: y, accumulate: bias != nil)
            roundToComputeDType(y)
            recordBackward(x, weight, bias, y)
            return y
        }
        if roundsToBF16, BF16Product.isUsed {
            BF16Product.multiply(x, weight, into: y, accumulate: bias != nil)
            roundToComputeDType(y)
            recordBackward(x, weight, bias, y)
            return y
        }
        let (tiles, tile) = weight.tiling
        Parallel.forRanges(tiles, grain: 1) { range in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: tile * inFeatures)
            defer { buffer.deallocate() }
            for t in range where t * tile < outFeatures {
                let outRows = (t * tile)..<min(outFeatures, (t + 1) * tile)
                weight.widenRows(outRows, into: buffer)
                // bitsandbytes dequantizes a 4-bit weight to the compute dtype before the product
                // (a bf16 weight's values are bf16 already; f16 ones are rounded, as torch would).
                if roundsToBF16, (weight as? HalfLinearWeight)?.format != .bf16 {
                    roundToBF16(buffer, count: outRows.count * inFeatures, serial: true)
                }
                BLAS.sgemm(
                    .none, .transposed, m: rows, n: outRows.count, k: inFeatures, a: x.data, lda: inFeatures,
                    b: buffer, ldb: inFeatures, beta: bias == nil ? 0 : 1, c: y.data + outRows.lowerBound, ldc: outFeatures)
            }
        }
        roundToComputeDType(y)
        recordBackward(x, weight, bias, y)
        return y
    }

    /// The input's (and bias's) gradient of a 4-bit product; the weight itself is frozen.
    private func recordBackward(_ x: Tensor, _ weight: any StoredLinearWeight, _ bias: Tensor?, _ y: Tensor) {
        let (inFeatures, outFeatures, rows) = (weight.inFeatures, weight.outFeatures, x.rows)
        let (tiles, tile) = weight.tiling
        record(y, [x, bias]) { dy in
            if x.requiresGrad {
                let (dx, accumulate) = x.gradBufferForWriting()
                let buffer = UnsafeMutablePointer<Float>.allocate(capacity: tile * inFeatures)
                defer { buffer.deallocate() }
                for t in 0..<tiles where t * tile < outFeatures {
                    let outRows = (t * tile)..<min(outFeatures, (t + 1) * tile)
                    // Every core dequantizes a share of the tile's rows (the GEMM after it is parallel too).
                    Parallel.forRanges(outRows.count, grain: 16) { part in
                        weight.widenRows(
                            (outRows.lowerBound + part.lowerBound)..<(outRows.lowerBound + part.upperBound),
                            into: buffer + part.lowerBound * inFeatures)
                    }
                    Matmul.gemm(
                        .none, .none, m: rows, n: inFeatures, k: outRows.count, a: dy + outRows.lowerBound, lda: outFeatures,
                        b: buffer, ldb: inFeatures, beta: accumulate || t > 0 ? 1 : 0, c: dx, ldc: inFeatures)
                }
            }
            if let bias, bias.requiresGrad { sumRows(dy, rows: rows, columns: outFeatures, into: bias.gradBuffer()) }
        }
    }
}
