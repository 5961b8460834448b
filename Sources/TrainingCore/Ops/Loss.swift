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

extension Graph {
    /// ``crossEntropy(_:targets:)`` of `head`'s output for `hidden` `[N, C]`, without the logits
    /// `[N, V]` ever existing whole (512 tokens × a 128,256-word vocabulary are 262 MB): the rows
    /// that have a target go through the head a few at a time, and the gradient each chunk sends
    /// back to `hidden` (`[rows, C]`, small) is kept for backward instead of its logits.
    /// Rows without a target (padding, prompts) never reach the head.
    ///
    /// That works for a frozen head without adapters, whose gradient is not needed; a head that
    /// trains takes the whole-logits path.
    public func crossEntropy(hidden: Tensor, head: LinearLayer, targets: [Int], chunkBytes: Int = 32 << 20) -> Tensor {
        let trains: Bool
        switch head.weight {
        case .dense(let weight): trains = weight.requiresGrad
        case .quantized, .half: trains = false
        }
        guard head.adapters.isEmpty, !trains, head.bias?.requiresGrad != true else {
            return crossEntropy(linear(hidden, head), targets: targets)
        }
        precondition(targets.count == hidden.rows, "cross-entropy: \(targets.count) targets for \(hidden.rows) rows")
        let counted = targets.indices.filter { targets[$0] >= 0 }
        let width = hidden.columns
        let chunkRows = max(1, chunkBytes / (4 * max(head.outFeatures, 1)))
        let needsGradient = recording && hidden.requiresGrad
        let hiddenGradient = needsGradient ? Tensor(uninitialized: [counted.count, width]) : nil
        var total: Float = 0
        for start in stride(from: 0, to: counted.count, by: chunkRows) {
            let rows = counted[start..<min(start + chunkRows, counted.count)]
            let chunk = Tensor(uninitialized: [rows.count, width], requiresGrad: needsGradient)
            for (offset, row) in rows.enumerated() {
                (chunk.data + offset * width).update(from: hidden.data + row * width, count: width)
            }
            let pass = Graph(recording: needsGradient, training: training, computeDType: computeDType)
            let loss = pass.crossEntropy(pass.linear(chunk, head), targets: rows.map { targets[$0] })
            total += loss.data[0] * Float(rows.count)
            guard let hiddenGradient else { continue }
            pass.backward(loss, seed: Float(rows.count) / Float(counted.count))
            (hiddenGradient.data + start * width).update(from: chunk.gradBuffer(), count: rows.count * width)
        }
        let loss = Tensor([counted.isEmpty ? 0 : total / Float(counted.count)], shape: [])
        guard let hiddenGradient else { return loss }
        record(loss, [hidden]) { dLoss in
            let seed = dLoss[0]
            let gradient = hidden.gradBuffer()
            for (index, row) in counted.enumerated() {
                let source = hiddenGradient.data + index * width, target = gradient + row * width
                for column in 0..<width { target[column] += seed * source[column] }
            }
        }
        return loss
    }
}
