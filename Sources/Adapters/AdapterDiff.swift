import Foundation
import TrainingCore

/// How two adapters differ: per module the update each makes, ΔW (``AdapterUpdates``: s·B·A for
/// LoRA, the folded layer less the base weight for DoRA, PiSSA and IA3), compared by Frobenius
/// norms, the norm of the difference, cosine similarity, and the LoRA paper's normalised subspace
/// similarity ‖U_aᵀ·U_b‖²_F / k of the top-k left singular vectors (k the smaller rank, at most 8
/// for two full-rank IA3 updates; 1 when the updates span the same directions, 0 when
/// orthogonal). A module only one adapter changes compares against a zero update.
public struct AdapterDiff: Sendable {
    public struct Module: Sendable {
        public var name: String
        public var normA: Double
        public var normB: Double
        public var normDifference: Double
        public var cosine: Double
        public var subspaceSimilarity: Double
        /// The module's role without its layer index ("attention.self.query"), for summaries.
        public var kind: String
    }

    public var configDifferences: [(key: String, a: String, b: String)]
    public var modules: [Module]

    /// Compares the adapters in two folders (`base`: the model folder DoRA, PiSSA and IA3 need).
    public init(_ folderA: String, _ folderB: String, base: String? = nil) throws {
        try self.init(AdapterUpdates(AdapterFiles(folder: folderA), base: base), AdapterUpdates(AdapterFiles(folder: folderB), base: base))
    }

    public init(_ first: AdapterUpdates, _ second: AdapterUpdates) throws {
        try AdapterUpdates.checkSameArchitecture([first, second])
        let (configA, updatesA) = (first.config, first.updates)
        let (configB, updatesB) = (second.config, second.updates)
        let folderB = second.label
        configDifferences = Set(configA.keys).union(configB.keys).sorted().compactMap { key in
            let a = configA[key].map(Self.text) ?? "—", b = configB[key].map(Self.text) ?? "—"
            return a == b || ["base_model_name_or_path", "revision", "peft_version"].contains(key) ? nil : (key, a, b)
        }
        modules = try Set(updatesA.keys).union(updatesB.keys).sorted().map { name in
            let a = updatesA[name], b = updatesB[name]
            let shape = [(a ?? b)!.out, (a ?? b)!.inFeatures]
            if let a, let b, [a.out, a.inFeatures] != [b.out, b.inFeatures] {
                throw AdapterError(file: folderB, "\(name): update shape [\(b.out), \(b.inFeatures)] differs from "
                                   + "[\(a.out), \(a.inFeatures)]")
            }
            let x = a?.values ?? [Float](repeating: 0, count: shape[0] * shape[1])
            let y = b?.values ?? [Float](repeating: 0, count: x.count)
            var dot = 0.0, nx = 0.0, ny = 0.0, nd = 0.0
            for i in 0..<x.count {
                let (p, q) = (Double(x[i]), Double(y[i]))
                dot += p * q; nx += p * p; ny += q * q; nd += (p - q) * (p - q)
            }
            let cosine = nx > 0 && ny > 0 ? dot / (nx.squareRoot() * ny.squareRoot()) : 0
            var similarity = 0.0
            if let a, let b, nx > 0, ny > 0 {
                // Two full-rank updates (IA3) span everything: compare their top 8 directions.
                var k = min(a.rankBound, b.rankBound, shape[0], shape[1])
                if k == min(shape[0], shape[1]) { k = min(k, 8) }
                let ua = try SingularValueDecomposition(a.values, rows: shape[0], columns: shape[1], name: name)
                let ub = try SingularValueDecomposition(b.values, rows: shape[0], columns: shape[1], name: name)
                var sum = 0.0
                for i in 0..<k {
                    for j in 0..<k {
                        var inner = 0.0
                        for row in 0..<shape[0] { inner += Double(ua.u[row * ua.rank + i]) * Double(ub.u[row * ub.rank + j]) }
                        sum += inner * inner
                    }
                }
                similarity = sum / Double(max(k, 1))
            }
            let kind = name.split(separator: ".").drop { Int($0) == nil }.dropFirst().joined(separator: ".")
            return Module(name: name, normA: nx.squareRoot(), normB: ny.squareRoot(), normDifference: nd.squareRoot(), cosine: cosine,
                          subspaceSimilarity: similarity, kind: kind.isEmpty ? name : kind)
        }
    }

    /// Per module role: how many modules, mean cosine and mean subspace similarity.
    public var summary: [(kind: String, modules: Int, cosine: Double, similarity: Double)] {
        let groups = Dictionary(grouping: modules, by: \.kind)
        return groups.keys.sorted().map { kind -> (kind: String, modules: Int, cosine: Double, similarity: Double) in
            let group = groups[kind]!
            let count = Double(group.count)
            let cosine: Double = group.reduce(0.0) { $0 + $1.cosine } / count
            let similarity: Double = group.reduce(0.0) { $0 + $1.subspaceSimilarity } / count
            return (kind, group.count, cosine, similarity)
        }
    }

    static func text(_ value: Any) -> String {
        if let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]) {
            return String(decoding: data, as: UTF8.self)
        }
        return "\(value)"
    }
}
