import TrainingCore

/// Merging adapters into one new LoRA adapter, computed on each module's exact update ΔW in f32
/// and factored again by truncated SVD (``LowRankFactors``); `cat` stacks the factors instead
/// and is exact. PEFT's `add_weighted_adapter` applies linear, TIES, DARE and magnitude pruning
/// to the A and B matrices separately, so its product carries cross terms (√w_i·√w_j·B_i·A_j
/// for linear, pruned factors' products for the others); our methods equal PEFT's `*_svd`
/// variants (`ties_svd`, `dare_linear_svd`, …), which work on ΔW as we do. Modules only some
/// adapters target merge over the union, the others counting as a zero update.
public enum AdapterMerge {
    public enum Method: String, CaseIterable, Codable, Sendable {
        case linear, cat, svd, ties
        case dareLinear = "dare-linear", dareTies = "dare-ties", magnitudePrune = "magnitude-prune"
    }

    public struct Options: Sendable {
        public var method: Method
        /// One per adapter.
        public var weights: [Float]
        /// Fraction of each update kept by TIES, DARE and magnitude pruning.
        public var density: Float = 1
        /// Rank of the merged factors (default: the largest input rank; `cat`: their sum).
        public var rank: Int?
        /// Seeds DARE's random pruning.
        public var seed: UInt64 = 0
        /// Which adapter's modules_to_save to keep when several save the same module.
        public var headFrom: Int?

        public init(method: Method, weights: [Float], density: Float = 1, rank: Int? = nil, seed: UInt64 = 0, headFrom: Int? = nil) {
            self.method = method
            self.weights = weights
            self.density = density
            self.rank = rank
            self.seed = seed
            self.headFrom = headFrom
        }
    }

    public struct Result {
        public var adapter: StandaloneLoRA
        public var labels: [String]?
        /// Per module: ‖M − B·A‖ / ‖M‖ of the merged update M and its factors.
        public var relativeErrors: [(module: String, error: Double)]
    }

    /// What a merge made and where it went; `tailor merge --json` prints it.
    public struct Report: Codable, Sendable, Equatable {
        public typealias Registered = SavedAdapter.Registered

        public var method: Method
        /// The adapters merged, as the user named them (folders or registry references).
        public var adapters: [String]
        public var weights: [Float]
        /// Rank and module count of the merged LoRA.
        public var rank: Int
        public var modules: Int
        /// Wall time of reading and merging the inputs.
        public var seconds: Double
        /// The largest ‖M − B·A‖ / ‖M‖ over modules (0 when every factorisation is exact).
        public var maxRelativeError: Double
        /// The PEFT folder written, if any (printed as null when none, so the key is always there).
        public var output: String?
        public var registered: Registered?

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case method, adapters, weights, rank, modules, seconds, output, registered
            case maxRelativeError = "max_relative_error"
        }

        public init(adapters: [String], options: Options, result: Result, seconds: Double, saved: SavedAdapter) {
            method = options.method
            self.adapters = adapters
            weights = options.weights
            rank = result.adapter.config.r
            modules = result.adapter.config.targetNames.count
            self.seconds = seconds
            maxRelativeError = result.relativeErrors.map(\.error).max() ?? 0
            output = saved.output
            registered = saved.registered
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(method, forKey: .method)
            try container.encode(adapters, forKey: .adapters)
            try container.encode(weights, forKey: .weights)
            try container.encode(rank, forKey: .rank)
            try container.encode(modules, forKey: .modules)
            try container.encode(seconds, forKey: .seconds)
            try container.encode(maxRelativeError, forKey: .maxRelativeError)
            try container.encode(output, forKey: .output)
            try container.encodeIfPresent(registered, forKey: .registered)
        }
    }

    public static func merge(_ inputs: [AdapterUpdates], options: Options) throws -> Result {
        guard inputs.count >= 1, options.weights.count == inputs.count else {
            throw AdapterError(file: inputs.first?.label ?? "merge", "\(options.weights.count) weights for \(inputs.count) adapters")
        }
        guard options.density > 0, options.density <= 1 else {
            throw AdapterError(file: "merge", "density must be in (0, 1], not \(options.density)")
        }
        for input in inputs where !input.biasChanged.isEmpty {
            throw AdapterError(
                file: input.label,
                "it scales the bias of \(input.biasChanged[0]) (IA3 on an output), which a LoRA "
                    + "adapter cannot carry; merge it into the base instead")
        }
        try AdapterUpdates.checkSameArchitecture(inputs)
        let modules = Set(inputs.flatMap(\.updates.keys)).sorted()
        for module in modules {
            let shapes = Set(inputs.compactMap { $0.updates[module].map { [$0.out, $0.inFeatures] } })
            guard shapes.count == 1 else {
                throw AdapterError(
                    file: inputs[0].label,
                    "\(module): the adapters' updates have different shapes "
                        + "\(shapes.sorted { $0.lexicographicallyPrecedes($1) })")
            }
        }
        let (inFull, labels, headOwner) = try heads(inputs, headFrom: options.headFrom)
        var rng = RandomGenerator(seed: options.seed)
        let rank: Int
        if options.method == .cat {
            guard inputs.allSatisfy({ $0.updates.values.allSatisfy { $0.factors != nil } }) else {
                throw AdapterError(
                    file: "merge",
                    "cat concatenates LoRA factors; DoRA, PiSSA and IA3 updates have none "
                        + "(use svd, linear, ties, …)")
            }
            rank = options.rank ?? modules.map { m in inputs.reduce(0) { $0 + ($1.updates[m]?.rankBound ?? 0) } }.max() ?? 1
        } else {
            rank = options.rank ?? inputs.flatMap { $0.updates.values.map(\.rankBound) }.max() ?? 1
        }
        guard rank > 0 else { throw AdapterError(file: "merge", "rank must be positive") }
        var lora = ScaleOneLoRA(rank: rank)
        var errors: [(String, Double)] = []
        for module in modules {
            let present = inputs.compactMap { $0.updates[module] }
            let (out, inFeatures) = (present[0].out, present[0].inFeatures)
            if options.method == .cat {
                let (a, b, r) = concatenate(inputs.map { $0.updates[module] }, weights: options.weights, out: out, inFeatures: inFeatures)
                lora.add(module, a: a, b: b, rank: r, out: out, inFeatures: inFeatures)
                errors.append((module, 0))
                continue
            }
            let zero = [Float](repeating: 0, count: out * inFeatures)
            let merged = combine(
                inputs.map { $0.updates[module]?.values ?? zero }, weights: options.weights, method: options.method,
                density: options.density, rng: &rng)
            guard merged.contains(where: { $0 != 0 }) else { continue }
            guard merged.allSatisfy(\.isFinite) else {
                throw AdapterError(file: "merge", "\(module): the merged update overflows to infinity or NaN (check the weights)")
            }
            let factors = try LowRankFactors(merged, rows: out, columns: inFeatures, rank: rank, name: module)
            guard factors.a.allSatisfy(\.isFinite), factors.b.allSatisfy(\.isFinite) else {
                throw AdapterError(file: "merge", "\(module): the merged update overflows to infinity or NaN (check the weights)")
            }
            lora.add(module, a: factors.a, b: factors.b, rank: factors.rank, out: out, inFeatures: inFeatures)
            errors.append((module, factors.relativeError))
        }
        guard !lora.targets.isEmpty else { throw AdapterError(file: "merge", "the merged update is zero in every module") }
        let owner = inputs[headOwner ?? 0]
        let modulesToSave = Set(
            inFull.keys.map {
                String($0.dropFirst("base_model.model.".count).split(separator: ".").dropLast().joined(separator: "."))
            }
        ).sorted()
        let config = lora.config(
            modulesToSave: modulesToSave, taskType: owner.config["task_type"] as? String,
            baseModel: owner.config["base_model_name_or_path"] as? String)
        var weights = lora.weights
        for (key, tensor) in inFull { weights[key] = tensor }
        return Result(adapter: StandaloneLoRA(config: config, tensors: weights), labels: labels, relativeErrors: errors)
    }

    /// The modules saved in full, from the one adapter that saves each (or `headFrom`).
    static func heads(_ inputs: [AdapterUpdates], headFrom: Int?) throws -> ([String: Tensor], [String]?, Int?) {
        if let headFrom, !inputs.indices.contains(headFrom) {
            throw AdapterError(file: "merge", "the head to keep is from adapter \(headFrom + 1), not one of the \(inputs.count) adapters")
        }
        var owners: [String: Int] = [:]
        for (index, input) in inputs.enumerated() {
            for key in input.inFull.keys {
                if let other = owners[key], other != headFrom, index != headFrom {
                    throw AdapterError(
                        file: input.label,
                        "\(inputs[other].label) and \(input.label) both save \(key) (modules_to_save); "
                            + "choose which adapter's head to keep")
                }
                if owners[key] == nil || index == headFrom { owners[key] = index }
            }
        }
        var inFull: [String: Tensor] = [:]
        for (key, index) in owners { inFull[key] = inputs[index].inFull[key] }
        let owner = headFrom ?? owners.values.min()
        return (inFull, owner.flatMap { inputs[$0].labels } ?? inputs.lazy.compactMap(\.labels).first, owner)
    }

    /// `cat`: A' stacks every A, B' every w·s·B side by side, so B'·A' = Σ w_i·s_i·B_i·A_i exactly.
    static func concatenate(_ updates: [AdapterUpdates.Update?], weights: [Float], out: Int, inFeatures: Int) -> ([Float], [Float], Int) {
        let parts = zip(updates, weights).compactMap { update, w in update?.factors.map { ($0, w) } }
        let total = parts.reduce(0) { $0 + $1.0.rank }
        var a: [Float] = [], b = [Float](repeating: 0, count: out * total)
        var offset = 0
        for (factors, weight) in parts {
            a += factors.a
            for o in 0..<out {
                for i in 0..<factors.rank { b[o * total + offset + i] = weight * factors.scale * factors.b[o * factors.rank + i] }
            }
            offset += factors.rank
        }
        return (a, b, total)
    }

    /// One module's merged update from the adapters' updates (zeros where an adapter leaves the
    /// module alone), as PEFT's merge_utils computes it on ΔW.
    public static func combine(
        _ tensors: [[Float]], weights: [Float], method: Method, density: Float,
        rng: inout RandomGenerator
    ) -> [Float] {
        switch method {
        case .linear, .svd, .cat:
            return weightedSum(tensors, weights)
        case .magnitudePrune:
            return weightedSum(tensors.map { magnitudePrune($0, density: density) }, weights)
        case .dareLinear:
            return weightedSum(tensors.map { randomPrune($0, density: density, rng: &rng) }, weights)
        case .ties:
            return disjointMerge(tensors.map { magnitudePrune($0, density: density) }, weights)
        case .dareTies:
            return disjointMerge(tensors.map { randomPrune($0, density: density, rng: &rng) }, weights)
        }
    }

    static func weightedSum(_ tensors: [[Float]], _ weights: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: tensors[0].count)
        for (t, w) in zip(tensors, weights) { for i in out.indices { out[i] += w * t[i] } }
        return out
    }

    /// Keeps the ⌊density·n⌋ largest magnitudes (ties broken by position), zeroes the rest.
    public static func magnitudePrune(_ x: [Float], density: Float) -> [Float] {
        let keep = Int(density * Float(x.count))
        guard keep < x.count else { return x }
        let order = x.indices.sorted { abs(x[$0]) != abs(x[$1]) ? abs(x[$0]) > abs(x[$1]) : $0 < $1 }
        var out = [Float](repeating: 0, count: x.count)
        for i in order.prefix(keep) { out[i] = x[i] }
        return out
    }

    /// DARE: keeps each value with probability `density` and rescales the kept ones by 1/density,
    /// so the expected update is unchanged.
    public static func randomPrune(_ x: [Float], density: Float, rng: inout RandomGenerator) -> [Float] {
        guard density < 1 else { return x }
        return x.map { rng.nextFloat() < density ? $0 / density : 0 }
    }

    /// TIES' sign election and disjoint mean: per element the sign of the sum of the (unweighted,
    /// pruned) updates wins (≥ 0 counts as +); the result is the sum of the weighted values that
    /// agree with it divided by how many agree (at least 1).
    static func disjointMerge(_ tensors: [[Float]], _ weights: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: tensors[0].count)
        for i in out.indices {
            var total: Float = 0
            for t in tensors { total += t[i] }
            let elected: Float = total >= 0 ? 1 : -1
            var sum: Float = 0, agreeing = 0
            for (t, w) in zip(tensors, weights) where t[i] != 0 && (t[i] > 0 ? 1 : -1) == elected {
                sum += w * t[i]
                agreeing += 1
            }
            out[i] = sum / Float(max(agreeing, 1))
        }
        return out
    }
}

/// A LoRA adapter held as its config and saved tensors alone (no base model): what a merge
/// produces, saved in PEFT's folder format like any adapter.
public final class StandaloneLoRA: PEFTAdapter {
    public let config: LoRAConfig
    public let tensors: [String: Tensor]

    init(config: LoRAConfig, tensors: [String: Tensor]) {
        self.config = config
        self.tensors = tensors
    }

    public var peftType: String { "LORA" }
    public var trainableParameters: [(String, Tensor)] { tensors.keys.sorted().map { ($0, tensors[$0]!) } }
    public var addedParameterCount: Int {
        tensors.filter { $0.key.hasSuffix(".lora_A.weight") || $0.key.hasSuffix(".lora_B.weight") }.values.reduce(0) { $0 + $1.count }
    }
    public func configText() -> String { String(config.jsonText().dropLast()) }
}
