import CTrainingKernels

/// Residual adds, shape changes and the element-wise activations.
extension Graph {
    /// a + b (same shape): residual connections.
    public func add(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.count == b.count, "add: \(a.shape) vs \(b.shape)")
        let y = Tensor(uninitialized: a.shape)
        Parallel.forRanges(a.count, grain: 1 << 15) { r in
            tk_add(a.data + r.lowerBound, b.data + r.lowerBound, y.data + r.lowerBound, Int64(r.count))
        }
        roundToComputeDType(y)
        record(y, [a, b]) { [unowned self] dy in
            // b first: a may take over y's buffer, which b still reads.
            if b.requiresGrad { accumulate(dy, into: b) }
            if a.requiresGrad { passGradient(from: y, to: a) }
        }
        return y
    }

    /// a + factor·b (same shape): an adapter's scaled update added to a layer's output.
    public func addScaled(_ a: Tensor, _ b: Tensor, factor: Float) -> Tensor {
        precondition(a.count == b.count, "addScaled: \(a.shape) vs \(b.shape)")
        let y = Tensor(uninitialized: a.shape)
        let (xs, us, ys) = (UnsafePointer(a.data), UnsafePointer(b.data), y.data)
        Parallel.forRanges(a.count, grain: 1 << 15) { r in
            for i in r { ys[i] = xs[i] + factor * us[i] }
        }
        // PEFT adds an f32 adapter's update to the bf16 output and casts the sum back.
        roundToComputeDType(y)
        record(y, [a, b]) { [unowned self] dy in
            // b first: a may take over y's buffer, which b still reads.
            if b.requiresGrad {
                let grad = b.gradBuffer()
                Parallel.forRanges(a.count, grain: 1 << 15) { r in for i in r { grad[i] += factor * dy[i] } }
            }
            if a.requiresGrad { passGradient(from: y, to: a) }
        }
        return y
    }

    /// x times a constant (a loss averaged with others).
    public func scale(_ x: Tensor, by factor: Float) -> Tensor {
        let y = Tensor(x.values.map { $0 * factor }, shape: x.shape)
        record(y, [x]) { dy in
            guard x.requiresGrad else { return }
            let grad = x.gradBuffer()
            for i in 0..<x.count { grad[i] += factor * dy[i] }
        }
        return y
    }

    /// x `[N, C]` times a per-column scale `[C]` (IA3's learned vectors).
    public func scaleColumns(_ x: Tensor, _ scale: Tensor) -> Tensor {
        let columns = x.columns, rows = x.rows
        precondition(scale.count == columns, "scaleColumns: \(scale.count) scales for \(columns) columns")
        let y = Tensor(uninitialized: x.shape)
        let grain = max(1, (1 << 15) / max(columns, 1))
        let factors = UnsafePointer(scale.data), xs = UnsafePointer(x.data), ys = y.data
        Parallel.forRanges(rows, grain: grain) { range in
            for r in range {
                let xr = xs + r * columns, yr = ys + r * columns
                for c in 0..<columns { yr[c] = xr[c] * factors[c] }
            }
        }
        record(y, [x, scale]) { dy in
            if x.requiresGrad {
                let (grad, accumulate) = x.gradBufferForWriting()
                Parallel.forRanges(rows, grain: grain) { range in
                    for r in range {
                        let g = grad + r * columns, d = dy + r * columns
                        if accumulate {
                            for c in 0..<columns { g[c] += d[c] * factors[c] }
                        } else {
                            for c in 0..<columns { g[c] = d[c] * factors[c] }
                        }
                    }
                }
            }
            if scale.requiresGrad {
                // Per-chunk column sums, added in chunk order: the same result on any core count.
                let chunks = Parallel.chunkCount(rows, grain: grain)
                let partial = UnsafeMutablePointer<Float>.allocate(capacity: chunks * columns)
                partial.initialize(repeating: 0, count: chunks * columns)
                defer { partial.deallocate() }
                Parallel.forChunks(rows, grain: grain) { chunk, range in
                    let p = partial + chunk * columns
                    for r in range {
                        let d = dy + r * columns, xr = xs + r * columns
                        for c in 0..<columns { p[c] += d[c] * xr[c] }
                    }
                }
                let grad = scale.gradBuffer()
                for chunk in 0..<chunks { tk_add_inplace(grad, partial + chunk * columns, Int64(columns)) }
            }
        }
        return y
    }

    /// The same values with another shape (a copy; the gradient flows back unchanged).
    public func reshape(_ x: Tensor, _ shape: [Int]) -> Tensor {
        precondition(x.sameCount(shape), "reshape \(x.shape) to \(shape)")
        let y = Tensor(uninitialized: shape)
        y.data.update(from: x.data, count: x.count)
        record(y, [x]) { [unowned self] _ in passGradient(from: y, to: x) }
        return y
    }

    /// Exact GELU (erf form), as BERT's "gelu".
    public func gelu(_ x: Tensor) -> Tensor {
        let y = Tensor(uninitialized: x.shape)
        Parallel.forRanges(x.count, grain: 1 << 14) { r in
            tk_gelu_forward(x.data + r.lowerBound, y.data + r.lowerBound, Int64(r.count))
        }
        record(y, [x]) { dy in
            let (grad, accumulate) = x.gradBufferForWriting()
            Parallel.forRanges(x.count, grain: 1 << 14) { r in
                tk_gelu_backward(
                    x.data + r.lowerBound, y.data + r.lowerBound, dy + r.lowerBound, grad + r.lowerBound, Int64(r.count),
                    accumulate ? 1 : 0)
            }
        }
        return y
    }

    /// GELU's tanh approximation, ½x(1 + tanh(√(2/π)(x + 0.044715x³))): transformers'
    /// `gelu_new`, which GPT-2 and T5's gated-gelu use.
    public func geluTanh(_ x: Tensor) -> Tensor {
        let y = Tensor(uninitialized: x.shape)
        Parallel.forRanges(x.count, grain: 1 << 14) { r in
            tk_gelu_tanh_forward(x.data + r.lowerBound, y.data + r.lowerBound, Int64(r.count))
        }
        record(y, [x]) { dy in
            let (grad, accumulate) = x.gradBufferForWriting()
            Parallel.forRanges(x.count, grain: 1 << 14) { r in
                tk_gelu_tanh_backward(x.data + r.lowerBound, dy + r.lowerBound, grad + r.lowerBound, Int64(r.count), accumulate ? 1 : 0)
            }
        }
        return y
    }

    public func relu(_ x: Tensor) -> Tensor {
        let y = Tensor(uninitialized: x.shape)
        for i in 0..<x.count { y.data[i] = max(0, x.data[i]) }
        record(y, [x]) { dy in
            let grad = x.gradBuffer()
            for i in 0..<x.count where x.data[i] > 0 { grad[i] += dy[i] }
        }
        return y
    }

    public func tanh(_ x: Tensor) -> Tensor {
        let y = Tensor(uninitialized: x.shape)
        tk_tanh_forward(x.data, y.data, Int64(x.count))
        record(y, [x]) { dy in tk_tanh_backward(y.data, dy, x.gradBuffer(), Int64(x.count)) }
        return y
    }

    /// a ⊙ b, elementwise (T5's gated feed-forward: act(wi_0·x) ⊙ wi_1·x).
    public func multiply(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.count == b.count, "multiply: \(a.shape) vs \(b.shape)")
        let y = Tensor(uninitialized: a.shape)
        for i in 0..<a.count { y.data[i] = a.data[i] * b.data[i] }
        roundToComputeDType(y)
        record(y, [a, b]) { dy in
            if a.requiresGrad {
                let grad = a.gradBuffer()
                for i in 0..<a.count { grad[i] += dy[i] * b.data[i] }
            }
            if b.requiresGrad {
                let grad = b.gradBuffer()
                for i in 0..<b.count { grad[i] += dy[i] * a.data[i] }
            }
        }
        return y
    }

    /// silu(gate) · up: Llama's SwiGLU feed-forward, fused.
    public func siluMul(_ gate: Tensor, _ up: Tensor) -> Tensor {
        precondition(gate.count == up.count)
        let y = Tensor(uninitialized: gate.shape)
        // bf16: transformers' act_fn(gate) is a bf16 tensor before it multiplies up.
        let forward = roundsToBF16 ? tk_silu_mul_forward_bf16 : tk_silu_mul_forward
        Parallel.forRanges(gate.count, grain: 1 << 14) { r in
            forward(gate.data + r.lowerBound, up.data + r.lowerBound, y.data + r.lowerBound, Int64(r.count))
        }
        record(y, [gate, up]) { dy in
            let dGate = gate.requiresGrad ? gate.gradBuffer() : nil
            let dUp = up.requiresGrad ? up.gradBuffer() : nil
            Parallel.forRanges(gate.count, grain: 1 << 14) { r in
                tk_silu_mul_backward(
                    gate.data + r.lowerBound, up.data + r.lowerBound, dy + r.lowerBound,
                    dGate.map { $0 + r.lowerBound }, dUp.map { $0 + r.lowerBound }, Int64(r.count))
            }
        }
        return y
    }

    /// Inverted dropout: zeroes each value with probability `p` and scales the rest by 1/(1−p);
    /// the identity outside training or when p = 0. The mask comes from a counter-based hash
    /// seeded from `rng`, so backward recomputes it instead of storing it.
    public func dropout(_ x: Tensor, p: Float, rng: inout RandomGenerator) -> Tensor {
        guard training, p > 0 else { return x }
        let seed = dropoutSeeds?.next(from: &rng) ?? rng.next()
        let y = Tensor(uninitialized: x.shape)
        Parallel.forRanges(x.count, grain: 1 << 15) { r in
            tk_dropout_forward(x.data + r.lowerBound, y.data + r.lowerBound, Int64(r.count), Int64(r.lowerBound), seed, p)
        }
        record(y, [x]) { dy in
            let (grad, accumulate) = x.gradBufferForWriting()
            Parallel.forRanges(x.count, grain: 1 << 15) { r in
                tk_dropout_backward(
                    dy + r.lowerBound, grad + r.lowerBound, Int64(r.count), Int64(r.lowerBound), seed, p,
                    accumulate ? 1 : 0)
            }
        }
        return y
    }
}
