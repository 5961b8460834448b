import CTrainingKernels

/// Which key positions a query may attend to.
public struct AttentionMask: Sendable {
    /// `[B, T]`, true where the key is a real token (nil: no padding).
    public var keyIsToken: [Bool]?
    /// Queries attend only to keys at or before their own position (decoders).
    public var causal: Bool
    /// Position of query 0 within the key sequence (> 0 when keys include cached tokens).
    public var queryOffset: Int
    /// Mistral's sliding window: a query sees at most this many most recent keys (itself included).
    public var slidingWindow: Int?

    public init(keyIsToken: [Bool]? = nil, causal: Bool = false, queryOffset: Int = 0, slidingWindow: Int? = nil) {
        self.keyIsToken = keyIsToken
        self.causal = causal
        self.queryOffset = queryOffset
        self.slidingWindow = slidingWindow
    }
}

/// Scaled dot-product attention over heads, softmax(Q·Kᵀ·scale + bias + mask)·V, fused with its
/// backward. `bias` `[H, Tq, Tk]`, the same for every sequence, is T5's relative position bias.
/// q is `[B·Tq, H·D]`, k and v `[B·Tk, Hkv·D]` (grouped-query attention when Hkv < H: query head
/// h reads key/value head h / (H / Hkv)); the output is `[B·Tq, H·D]`. Each (batch, key/value
/// head) group runs on one core with single-threaded GEMMs per head.
extension Graph {
    public func attention(
        q: Tensor, k: Tensor, v: Tensor, batch: Int, queryLength: Int, keyLength: Int,
        heads: Int, kvHeads: Int, headDim: Int, mask: AttentionMask, scale: Float, bias: Tensor? = nil
    ) -> Tensor {
        precondition(kvHeads > 0 && heads % kvHeads == 0, "attention: \(heads) heads for \(kvHeads) key/value heads")
        // k and v may be longer (a key/value cache with room to grow); only the first keyLength rows are read.
        precondition(
            q.count == batch * queryLength * heads * headDim && k.count >= batch * keyLength * kvHeads * headDim
                && v.count >= batch * keyLength * kvHeads * headDim,
            "attention: q \(q.shape), k \(k.shape), v \(v.shape) do not fit the geometry")
        precondition(bias.map { $0.count == heads * queryLength * keyLength } ?? true, "attention: bias \(bias!.shape)")
        let qStride = heads * headDim, kvStride = kvHeads * headDim
        let group = heads / kvHeads
        // Every element is written by one head's GEMM (beta 0).
        let out = Tensor(uninitialized: [batch * queryLength, qStride])
        let probabilities = UnsafeMutablePointer<Float>.allocate(capacity: batch * heads * queryLength * keyLength)
        let saved = SavedBuffer(probabilities)
        let tasks = batch * kvHeads
        let bf16 = roundsToBF16
        Parallel.forRanges(tasks, grain: 1) { range in
            for task in range {
                let b = task / kvHeads, kvHead = task % kvHeads
                for h in (kvHead * group)..<((kvHead + 1) * group) {
                    let p = probabilities + (b * heads + h) * queryLength * keyLength
                    let qBase = q.data + b * queryLength * qStride + h * headDim
                    let kBase = k.data + b * keyLength * kvStride + kvHead * headDim
                    let vBase = v.data + b * keyLength * kvStride + kvHead * headDim
                    let scores = queryLength * keyLength
                    BLAS.sgemm(
                        .none, .transposed, m: queryLength, n: keyLength, k: headDim, alpha: bf16 ? 1 : scale,
                        a: qBase, lda: qStride, b: kBase, ldb: kvStride, c: p, ldc: keyLength)
                    if bf16 {
                        // transformers' eager attention in bfloat16: (q·kᵀ) and its scaled copy are
                        // bf16 tensors, the softmax runs in f32 and is cast back before ·v.
                        tk_round_bf16(p, Int64(scores))
                        for i in 0..<scores { p[i] *= scale }
                        tk_round_bf16(p, Int64(scores))
                    }
                    if let bias { tk_add_inplace(p, bias.data + h * scores, Int64(scores)) }
                    Self.applyMask(p, batchIndex: b, queryLength: queryLength, keyLength: keyLength, mask: mask)
                    tk_softmax_rows(p, Int64(queryLength), Int64(keyLength))
                    if bf16 { tk_round_bf16(p, Int64(scores)) }
                    BLAS.sgemm(
                        .none, .none, m: queryLength, n: headDim, k: keyLength, a: p, lda: keyLength,
                        b: vBase, ldb: kvStride, c: out.data + b * queryLength * qStride + h * headDim, ldc: qStride)
                }
            }
        }
        roundToComputeDType(out)
        record(out, [q, k, v, bias]) { dOut in
            // Fresh gradient buffers are written, not added to: each head writes its slice of dq
            // once, and the first head of a key/value group writes dk and dv (the others add). A
            // tensor passed twice (q === k), or a key/value cache longer than the keys read, adds
            // throughout.
            let distinct = q !== k && q !== v && k !== v && k.count == batch * keyLength * kvStride && v.count == k.count
            func buffer(_ t: Tensor) -> (UnsafeMutablePointer<Float>?, Bool) {
                guard t.requiresGrad else { return (nil, true) }
                return distinct ? t.gradBufferForWriting() : (t.gradBuffer(), true)
            }
            let (dq, qAdds) = buffer(q), (dk, kAdds) = buffer(k), (dv, vAdds) = buffer(v)
            // Every sequence adds to the bias's gradient: each task gets its own slice, summed after.
            let scores = queryLength * keyLength
            let biasParts = bias?.requiresGrad == true ? UnsafeMutablePointer<Float>.allocate(capacity: tasks * group * scores) : nil
            defer { biasParts?.deallocate() }
            Parallel.forRanges(tasks, grain: 1) { range in
                let dp = UnsafeMutablePointer<Float>.allocate(capacity: queryLength * keyLength)
                defer { dp.deallocate() }
                for task in range {
                    let b = task / kvHeads, kvHead = task % kvHeads
                    for h in (kvHead * group)..<((kvHead + 1) * group) {
                        let firstOfGroup = h == kvHead * group
                        let p = saved.pointer + (b * heads + h) * queryLength * keyLength
                        let qOffset = b * queryLength * qStride + h * headDim
                        let kvOffset = b * keyLength * kvStride + kvHead * headDim
                        let dO = dOut + qOffset
                        // dP = dO · Vᵀ; dV += Pᵀ · dO
                        BLAS.sgemm(
                            .none, .transposed, m: queryLength, n: keyLength, k: headDim, a: dO, lda: qStride,
                            b: v.data + kvOffset, ldb: kvStride, c: dp, ldc: keyLength)
                        if let dv {
                            BLAS.sgemm(
                                .transposed, .none, m: keyLength, n: headDim, k: queryLength, a: p, lda: keyLength,
                                b: dO, ldb: qStride, beta: vAdds || !firstOfGroup ? 1 : 0, c: dv + kvOffset, ldc: kvStride)
                        }
                        // dS = P ⊙ (dP − rowsum(dP ⊙ P)), scaled, in place in dp.
                        tk_softmax_backward_rows(p, dp, Int64(queryLength), Int64(keyLength), scale)
                        if let biasParts {
                            // dp holds scale·∂L/∂scores; the bias enters unscaled.
                            let part = biasParts + (task * group + h - kvHead * group) * scores
                            for i in 0..<scores { part[i] = dp[i] / scale }
                        }
                        if let dq {
                            BLAS.sgemm(
                                .none, .none, m: queryLength, n: headDim, k: keyLength, a: dp, lda: keyLength,
                                b: k.data + kvOffset, ldb: kvStride, beta: qAdds ? 1 : 0, c: dq + qOffset, ldc: qStride)
                        }
                        if let dk {
                            BLAS.sgemm(
                                .transposed, .none, m: keyLength, n: headDim, k: queryLength, a: dp, lda: keyLength,
                                b: q.data + qOffset, ldb: qStride, beta: kAdds || !firstOfGroup ? 1 : 0, c: dk + kvOffset,
                                ldc: kvStride)
                        }
                    }
                }
            }
            if let bias, let biasParts {
                let grad = bias.gradBuffer()
                for task in 0..<tasks {
                    let kvHead = task % kvHeads
                    for g in 0..<group {
                        tk_add_inplace(grad + (kvHead * group + g) * scores, biasParts + (task * group + g) * scores, Int64(scores))
                    }
                }
            }
        }
        return out
    }

    /// Sets disallowed scores to −∞ (softmax gives them probability 0).
    static func applyMask(
        _ scores: UnsafeMutablePointer<Float>, batchIndex b: Int, queryLength: Int, keyLength: Int,
        mask: AttentionMask
    ) {
        if let keyIsToken = mask.keyIsToken {
            for j in 0..<keyLength where !keyIsToken[b * keyLength + j] {
                for i in 0..<queryLength { scores[i * keyLength + j] = -.infinity }
            }
        }
        if mask.causal {
            for i in 0..<queryLength {
                let last = i + mask.queryOffset
                if last + 1 < keyLength {
                    (scores + i * keyLength + last + 1).update(repeating: -.infinity, count: keyLength - last - 1)
                }
                if let window = mask.slidingWindow, last - window + 1 > 0 {
                    (scores + i * keyLength).update(repeating: -.infinity, count: min(keyLength, last - window + 1))
                }
            }
        }
    }
}

/// A buffer an op's backward needs, freed with the graph.
final class SavedBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
    deinit { pointer.deallocate() }
}
