import CTrainingKernels

/// LayerNorm (BERT) and RMSNorm (Llama) over the last dimension.
extension Graph {
    public func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) -> Tensor {
        let rows = x.rows, cols = x.columns
        let y = Tensor(uninitialized: x.shape)
        let mean = UnsafeMutablePointer<Float>.allocate(capacity: rows)
        let rstd = UnsafeMutablePointer<Float>.allocate(capacity: rows)
        Parallel.forRanges(rows, grain: 64) { r in
            tk_layernorm_forward(
                x.data + r.lowerBound * cols, weight.data, bias.data, y.data + r.lowerBound * cols,
                mean + r.lowerBound, rstd + r.lowerBound, Int64(r.count), Int64(cols), eps)
        }
        let statistics = RowStatistics(mean, rstd)
        guard recording, x.requiresGrad || weight.requiresGrad || bias.requiresGrad else { return y }
        record(y, [x, weight, bias]) { dy in
            let (dx, accumulate) = x.requiresGrad ? x.gradBufferForWriting() : (nil, false)
            let chunks = Parallel.chunkCount(rows, grain: 64)
            let partial = UnsafeMutablePointer<Float>.allocate(capacity: 2 * chunks * cols)
            partial.initialize(repeating: 0, count: 2 * chunks * cols)
            defer { partial.deallocate() }
            Parallel.forChunks(rows, grain: 64) { chunk, r in
                tk_layernorm_backward(
                    dy + r.lowerBound * cols, x.data + r.lowerBound * cols, weight.data,
                    statistics.mean + r.lowerBound, statistics.rstd + r.lowerBound,
                    dx.map { $0 + r.lowerBound * cols }, weight.requiresGrad ? partial + 2 * chunk * cols : nil,
                    bias.requiresGrad ? partial + (2 * chunk + 1) * cols : nil, Int64(r.count), Int64(cols),
                    accumulate ? 1 : 0)
            }
            for chunk in 0..<chunks {
                if weight.requiresGrad { tk_add_inplace(weight.gradBuffer(), partial + 2 * chunk * cols, Int64(cols)) }
                if bias.requiresGrad { tk_add_inplace(bias.gradBuffer(), partial + (2 * chunk + 1) * cols, Int64(cols)) }
            }
        }
        return y
    }

    public func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float) -> Tensor {
        let rows = x.rows, cols = x.columns
        let y = Tensor(uninitialized: x.shape)
        let rstd = UnsafeMutablePointer<Float>.allocate(capacity: rows)
        Parallel.forRanges(rows, grain: 64) { r in
            tk_rmsnorm_forward(
                x.data + r.lowerBound * cols, weight.data, y.data + r.lowerBound * cols,
                rstd + r.lowerBound, Int64(r.count), Int64(cols), eps)
        }
        if roundsToBF16 {
            // transformers: weight · (x · rstd).to(bfloat16), each product a bf16 tensor.
            Parallel.forRanges(rows, grain: 64) { r in
                for row in r {
                    let scale = rstd[row]
                    let source = x.data + row * cols, target = y.data + row * cols
                    for c in 0..<cols { target[c] = roundedToBF16(weight.data[c] * roundedToBF16(source[c] * scale)) }
                }
            }
        }
        let statistics = RowStatistics(nil, rstd)
        guard recording, x.requiresGrad || weight.requiresGrad else { return y }
        record(y, [x, weight]) { dy in
            let dx = x.requiresGrad ? x.gradBuffer() : nil
            let chunks = Parallel.chunkCount(rows, grain: 64)
            let partial = UnsafeMutablePointer<Float>.allocate(capacity: chunks * cols)
            partial.initialize(repeating: 0, count: chunks * cols)
            defer { partial.deallocate() }
            Parallel.forChunks(rows, grain: 64) { chunk, r in
                tk_rmsnorm_backward(
                    dy + r.lowerBound * cols, x.data + r.lowerBound * cols, weight.data,
                    statistics.rstd + r.lowerBound, dx.map { $0 + r.lowerBound * cols },
                    partial + chunk * cols, Int64(r.count), Int64(cols))
            }
            if weight.requiresGrad {
                for chunk in 0..<chunks { tk_add_inplace(weight.gradBuffer(), partial + chunk * cols, Int64(cols)) }
            }
        }
        return y
    }
}

/// Per-row statistics saved by a norm's forward for its backward; freed with the graph.
final class RowStatistics: @unchecked Sendable {
    let mean: UnsafeMutablePointer<Float>!
    let rstd: UnsafeMutablePointer<Float>
    init(_ mean: UnsafeMutablePointer<Float>?, _ rstd: UnsafeMutablePointer<Float>) {
        self.mean = mean
        self.rstd = rstd
    }
    deinit {
        mean?.deallocate()
        rstd.deallocate()
    }
}
