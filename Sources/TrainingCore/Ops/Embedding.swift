/// Row lookups: token embeddings and picking rows (e.g. the [CLS] position for BERT's pooler).
extension Graph {
    /// out[i] = table[ids[i]], shaped `shape + [dim]`; ids must be in range (checked by callers
    /// that read user input). The row `paddingIndex` gets no gradient, as PyTorch's
    /// `nn.Embedding(padding_idx=…)`: it matters where a loss reaches padded positions (QA's
    /// span logits cover the whole row).
    public func embedding(_ ids: [Int], shape: [Int], _ table: Tensor, paddingIndex: Int? = nil) -> Tensor {
        let dim = table.shape[1]
        let out = Tensor(uninitialized: shape + [dim])
        Parallel.forRanges(ids.count, grain: 64) { range in
            for i in range { (out.data + i * dim).update(from: table.data + ids[i] * dim, count: dim) }
        }
        roundToComputeDType(out)
        record(out, [table]) { dy in
            let grad = table.gradBuffer()
            // Serial: several positions may share a token id.
            for i in 0..<ids.count where ids[i] != paddingIndex {
                let row = grad + ids[i] * dim
                let source = dy + i * dim
                for c in 0..<dim { row[c] += source[c] }
            }
        }
        return out
    }

    /// The same `prefix` rows `[n, C]` (or their `columns`) put before each sequence of x
    /// `[B·T, C]`: `[B·(n+T), C]` (prompt tuning's virtual tokens, prefix tuning's keys/values).
    public func prependRows(_ prefix: Tensor, columns: Range<Int>? = nil, to x: Tensor, batch: Int, length: Int) -> Tensor {
        let n = prefix.rows, dim = x.columns
        // Prefix tuning keeps every layer's keys and values side by side in one row; `columns`
        // picks this layer's slice without copying it out first.
        let columns = columns ?? 0..<prefix.columns
        let stride = prefix.columns, start = columns.lowerBound
        precondition(columns.count == dim && columns.upperBound <= stride && x.rows == batch * length)
        let out = Tensor(uninitialized: [batch * (n + length), dim])
        for b in 0..<batch {
            for row in 0..<n {
                (out.data + (b * (n + length) + row) * dim).update(from: prefix.data + row * stride + start, count: dim)
            }
            (out.data + (b * (n + length) + n) * dim).update(from: x.data + b * length * dim, count: length * dim)
        }
        record(out, [prefix, x]) { dy in
            for b in 0..<batch {
                if prefix.requiresGrad {
                    let grad = prefix.gradBuffer()
                    for row in 0..<n {
                        let source = dy + (b * (n + length) + row) * dim, target = grad + row * stride + start
                        for i in 0..<dim { target[i] += source[i] }
                    }
                }
                if x.requiresGrad {
                    let grad = x.gradBuffer()
                    for i in 0..<(length * dim) { grad[b * length * dim + i] += dy[(b * (n + length) + n) * dim + i] }
                }
            }
        }
        return out
    }

    /// x[:, columns] for x seen as `[N, C]`: `[N, columns.count]` (GPT-2's fused q, k, v split).
    public func columns(_ x: Tensor, _ columns: Range<Int>) -> Tensor {
        let (rows, width, count) = (x.rows, x.columns, columns.count)
        precondition(columns.lowerBound >= 0 && columns.upperBound <= width, "columns \(columns) of \(width)")
        let out = Tensor(uninitialized: [rows, count])
        for row in 0..<rows { (out.data + row * count).update(from: x.data + row * width + columns.lowerBound, count: count) }
        record(out, [x]) { dy in
            let grad = x.gradBuffer()
            for row in 0..<rows {
                for c in 0..<count { grad[row * width + columns.lowerBound + c] += dy[row * count + c] }
            }
        }
        return out
    }

    /// out[i] = x[rows[i]] for x seen as `[N, C]`: `[rows.count, C]`.
    public func selectRows(_ x: Tensor, _ rows: [Int]) -> Tensor {
        let dim = x.columns
        let out = Tensor(uninitialized: [rows.count, dim])
        for (i, row) in rows.enumerated() { (out.data + i * dim).update(from: x.data + row * dim, count: dim) }
        record(out, [x]) { dy in
            let grad = x.gradBuffer()
            for (i, row) in rows.enumerated() {
                for c in 0..<dim { grad[row * dim + c] += dy[i * dim + c] }
            }
        }
        return out
    }
}

extension Graph {
    /// Rows of an embedding table kept in its stored form (bf16 in place), widened as they are
    /// gathered; the table is frozen, so nothing is recorded.
    public func embedding(_ ids: [Int], shape: [Int], _ table: LinearLayer.Weight) -> Tensor {
        let stored: any StoredLinearWeight
        switch table {
        case .dense(let tensor): return embedding(ids, shape: shape, tensor)
        case .half(let weight): stored = weight
        case .quantized(let weight): stored = weight
        }
        let dim = stored.inFeatures
        let out = Tensor(uninitialized: shape + [dim])
        Parallel.forRanges(ids.count, grain: 64) { range in
            for i in range { stored.widenRows(ids[i]..<(ids[i] + 1), into: out.data + i * dim) }
        }
        return out
    }
}
