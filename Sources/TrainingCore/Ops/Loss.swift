import CTrainingKernels

extension Graph {
    /// Mean cross-entropy of logits `[N, C]` against targets (−100, or any negative, is ignored,
    /// as PyTorch's `ignore_index`). Returns a scalar; 0 when every target is ignored.
    public func crossEntropy(_ logits: Tensor, targets: [Int]) -> Tensor {
        let rows = logits.rows, cols = logits.columns
        precondition(targets.count == rows, "cross-entropy: \(targets.count) targets for \(rows) rows")
        let counted = targets.filter { $0 >= 0 }.count
        let scale = counted > 0 ? 1 / Float(counted) : 0
        let targets64 = targets.map(Int64.init)
        var losses = [Float](repeating: 0, count: rows)
        tk_cross_entropy(logits.data, targets64, &losses, nil, 0, Int64(rows), Int64(cols))
        let loss = Tensor([losses.reduce(0, +) * scale], shape: [])
        record(loss, [logits]) { dLoss in
            let seed = dLoss[0]
            let gradient = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
            defer { gradient.deallocate() }
            var scratch = [Float](repeating: 0, count: rows)
            tk_cross_entropy(logits.data, targets64, &scratch, gradient, scale * seed, Int64(rows), Int64(cols))
            tk_add_inplace(logits.gradBuffer(), gradient, Int64(rows * cols))
        }
        return loss
    }

    /// Mean over the sequence of x `[B, T, C]`, counting only positions where `keep` is true
    /// (sentence-transformers' mean pooling). Output `[B, C]`.
    public func meanPool(_ x: Tensor, batch: Int, length: Int, keep: [Bool]) -> Tensor {
        let dim = x.columns
        let out = Tensor(zeros: [batch, dim])
        var counts = [Float](repeating: 0, count: batch)
        for b in 0..<batch {
            for t in 0..<length where keep[b * length + t] {
                counts[b] += 1
                for c in 0..<dim { out.data[b * dim + c] += x.data[(b * length + t) * dim + c] }
            }
            let inverse = 1 / max(counts[b], 1e-9)
            for c in 0..<dim { out.data[b * dim + c] *= inverse }
        }
        record(out, [x]) { dy in
            let grad = x.gradBuffer()
            for b in 0..<batch {
                let inverse = 1 / max(counts[b], 1e-9)
                for t in 0..<length where keep[b * length + t] {
                    for c in 0..<dim { grad[(b * length + t) * dim + c] += dy[b * dim + c] * inverse }
                }
            }
        }
        return out
    }
}
