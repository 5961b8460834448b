import TrainingCore

/// The best rank-r approximation of a weight update ΔW `[out, in]` as LoRA factors with scale 1:
/// from ΔW = U·S·Vh, A = √S_r·Vh_r `[r, in]` and B = U_r·√S_r `[out, r]`, the singular values
/// split evenly so neither factor dwarfs the other when training continues from them.
struct LowRankFactors {
    var a: [Float]
    var b: [Float]
    var rank: Int
    /// ‖ΔW − B·A‖ / ‖ΔW‖, measured on the reconstruction (Σs² − Σkept² cancels badly in floats
    /// at full rank); 0 for a zero update.
    var relativeError: Double

    /// `name` is the module's, which an error names.
    init(_ delta: [Float], rows out: Int, columns inFeatures: Int, rank: Int, name: String) throws {
        let total = delta.reduce(0.0) { $0 + Double($1) * Double($1) }
        let r = min(rank, out, inFeatures)
        let svd = try SingularValueDecomposition(delta, rows: out, columns: inFeatures, name: name)
        var a = [Float](repeating: 0, count: r * inFeatures), b = [Float](repeating: 0, count: out * r)
        for i in 0..<r {
            let root = svd.s[i].squareRoot()
            for j in 0..<inFeatures { a[i * inFeatures + j] = root * svd.vh[i * inFeatures + j] }
            for o in 0..<out { b[o * r + i] = svd.u[o * svd.rank + i] * root }
        }
        var residual = delta
        residual.withUnsafeMutableBufferPointer { d in
            BLAS.sgemm(
                .none, .none, m: out, n: inFeatures, k: r, alpha: -1, a: b, lda: r, b: a, ldb: inFeatures, beta: 1,
                c: d.baseAddress!, ldc: inFeatures)
        }
        let left = residual.reduce(0.0) { $0 + Double($1) * Double($1) }
        self.a = a
        self.b = b
        self.rank = r
        relativeError = total > 0 ? (left / total).squareRoot() : 0
    }
}

/// LoRA factors per module, each with scale 1, collected into a PEFT LoRA config and its saved
/// tensors: lora_alpha = r, and a module whose rank differs from r gets rank_pattern and
/// alpha_pattern entries so its scale stays 1.
struct ScaleOneLoRA {
    var rank: Int
    var targets: [String] = []
    var rankPattern: [String: Int] = [:]
    var alphaPattern: [String: Double] = [:]
    var weights: [String: Tensor] = [:]

    init(rank: Int) { self.rank = rank }

    mutating func add(_ module: String, a: [Float], b: [Float], rank r: Int, out: Int, inFeatures: Int) {
        targets.append(module)
        if r != rank {
            rankPattern[module] = r
            alphaPattern[module] = Double(r)
        }
        weights[LoRAModel.key(module, "lora_A")] = Tensor(a, shape: [r, inFeatures])
        weights[LoRAModel.key(module, "lora_B")] = Tensor(b, shape: [out, r])
    }

    func config(modulesToSave: [String], taskType: String?, baseModel: String?) -> LoRAConfig {
        // Full module names: PEFT's suffix match on a whole name selects that module alone.
        LoRAConfig(
            r: rank, alpha: Double(rank), targets: .names(targets), modulesToSave: modulesToSave, rankPattern: rankPattern,
            alphaPattern: alphaPattern, taskType: taskType, baseModel: baseModel)
    }
}
