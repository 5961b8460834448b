/// Row lookups: token embeddings and picking rows (e.g. the [CLS] position for BERT's pooler).
extension Graph {
    /// out[i] = table[ids[i]], shaped `shape + [dim]`; ids must be in range (checked by callers
    /// that read user input).
    public func embedding(_ ids: [Int], shape: [Int], _ table: Tensor) -> Tensor {
        let dim = table.shape[1]
        let out = Tensor(uninitialized: shape + [dim])
        Parallel.forRanges(ids.count, grain: 64) { range in
            for i in range { (out.data + i * dim).update(from: table.data + ids[i] * dim, count: dim) }
        }
        record(out, [table]) { dy in
            let grad = table.gradBuffer()
            // Serial: several positions may share a token id.
            for i in 0..<ids.count {
                let row = grad + ids[i] * dim
                let source = dy + i * dim
                for c in 0..<dim { row[c] += source[c] }
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
