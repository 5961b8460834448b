import CTrainingKernels

/// y[N, out] = x[N, in] · Wᵀ + b, with W `[out, in]` as in PyTorch.
extension Graph {
    public func linear(_ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil) -> Tensor {
        let inFeatures = weight.shape[1]
        let outFeatures = weight.shape[0]
        precondition(x.columns == inFeatures, "linear \(weight.name): input has \(x.columns) features, weight expects \(inFeatures)")
        let rows = x.rows
        // GEMM with beta 0 overwrites (OpenBLAS zeroes C itself), so only a bias needs a fill.
        let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [outFeatures])
        if let bias { broadcastRows(bias.data, into: y.data, rows: rows, columns: outFeatures) }
        if rows <= Int(TK_DECODE_MAX_ROWS) {
            // A GEMM packs the whole weight before multiplying: for a token or a few (decoding) that
            // copy costs more than the product, so the weight is streamed once instead.
            Parallel.forRanges(outFeatures, grain: 64) { range in
                tk_matvec_f32(
                    weight.data, Int64(inFeatures), Int64(inFeatures), Int64(range.lowerBound), Int64(range.upperBound), x.data,
                    Int64(rows), y.data, Int64(outFeatures), bias == nil ? 0 : 1)
            }
        } else {
            Matmul.gemm(
                .none, .transposed, m: rows, n: outFeatures, k: inFeatures, a: x.data, lda: inFeatures,
                b: weight.data, ldb: inFeatures, beta: bias == nil ? 0 : 1, c: y.data, ldc: outFeatures)
        }
        roundToComputeDType(y)
        record(y, [x, weight, bias]) { dy in
            if x.requiresGrad {
                let (dx, accumulate) = x.gradBufferForWriting()
                Matmul.gemm(
                    .none, .none, m: rows, n: inFeatures, k: outFeatures, a: dy, lda: outFeatures,
                    b: weight.data, ldb: inFeatures, beta: accumulate ? 1 : 0, c: dx, ldc: inFeatures)
            }
            if weight.requiresGrad {
                let (dw, accumulate) = weight.gradBufferForWriting()
                Matmul.gemm(
                    .transposed, .none, m: outFeatures, n: inFeatures, k: rows, a: dy, lda: outFeatures,
                    b: x.data, ldb: inFeatures, beta: accumulate ? 1 : 0, c: dw, ldc: inFeatures)
            }
            if let bias, bias.requiresGrad { sumRows(dy, rows: rows, columns: outFeatures, into: bias.gradBuffer()) }
        }
        return y
    }
}

/// Copies `row` into every row of `out` (a bias before `y += x·Wᵀ`), rows split across cores.
func broadcastRows(_ row: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
    Parallel.forRanges(rows, grain: max(1, (1 << 16) / max(columns, 1))) { r in
        for i in r { (out + i * columns).update(from: row, count: columns) }
    }
}

/// out[c] += Σ_r x[r, c], rows split across cores with private partial sums.
func sumRows(_ x: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
    let chunks = Parallel.chunkCount(rows, grain: 256)
    if chunks == 1 {
        tk_sum_rows(x, out, Int64(rows), Int64(columns))
        return
    }
    let partial = UnsafeMutablePointer<Float>.allocate(capacity: chunks * columns)
    partial.initialize(repeating: 0, count: chunks * columns)
    defer { partial.deallocate() }
    Parallel.forChunks(rows, grain: 256) { chunk, range in
        tk_sum_rows(x + range.lowerBound * columns, partial + chunk * columns, Int64(range.count), Int64(columns))
    }
    tk_sum_rows(partial, out, Int64(chunks), Int64(columns))
}
