import Foundation
import TrainingCore

/// How two adapters differ: per module the update each makes, ΔW (``AdapterUpdates``: s·B·A for
/// LoRA, the folded layer less the base weight for DoRA, PiSSA and IA3), compared by Frobenius
/// norms, the norm of the difference, cosine similarity, and the LoRA paper's normalised subspace
/// similarity ‖U_aᵀ·U_b‖²_F / k of the top-k left singular vectors (k the smaller rank, at most 8
/// for two full-rank IA3 updates; 1 when the updates span the same directions, 0 when
/// orthogonal). A module only one adapter changes compares against a zero update.
///
/// `tailor diff --json` prints it: `config`, `modules`, and the per-role `summary`.
public struct AdapterDiff: Codable, Sendable, Equatable {
    /// An adapter_config.json field whose values differ, each as JSON text ("—" when absent).
    public struct ConfigDifference: Codable, Sendable, Equatable {
        public var key: String
        public var a: String
        public var b: String

        public enum CodingKeys: String, CodingKey, CaseIterable { case key, a, b }
    }

    public struct Module: Codable, Sendable, Equatable {
        public var name: String
        public var normA: Double
        public var normB: Double
        public var normDifference: Double
        public var cosine: Double
        public var subspaceSimilarity: Double
        /// The module's role without its layer index ("attention.self.query"), for summaries.
        public var kind: String { AdapterDiff.kind(of: name) }

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case name, cosine
            case normA = "norm_a"
            case normB = "norm_b"
            case normDifference = "norm_difference"
            case subspaceSimilarity = "subspace_similarity"
        }
    }

    /// The modules of one role: how many, their mean cosine and mean subspace similarity.
    public struct Role: Codable, Sendable, Equatable {
        public var kind: String
        public var modules: Int
        public var cosine: Double
        public var similarity: Double

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case kind, modules, cosine
            case similarity = "subspace_similarity"
        }
    }

    public var configDifferences: [ConfigDifference]
    public var modules: [Module]

    /// `summary` is derived from `modules`: written for readers, recomputed when read.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case modules, summary
        case configDifferences = "config"
    }

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
            let ignored = a == b || ["base_model_name_or_path", "revision", "peft_version"].contains(key)
            return ignored ? nil : ConfigDifference(key: key, a: a, b: b)
        }
        modules = try Set(updatesA.keys).union(updatesB.keys).sorted().map { name in
            let a = updatesA[name], b = updatesB[name]
            let shape = [(a ?? b)!.out, (a ?? b)!.inFeatures]
            if let a, let b, [a.out, a.inFeatures] != [b.out, b.inFeatures] {
                throw AdapterError(
                    file: folderB,
                    "\(name): update shape [\(b.out), \(b.inFeatures)] differs from "
                        + "[\(a.out), \(a.inFeatures)]")
            }
            let x = a?.values ?? [Float](repeating: 0, count: shape[0] * shape[1])
            let y = b?.values ?? [Float](repeating: 0, count: x.count)
            var dot = 0.0, nx = 0.0, ny = 0.0, nd = 0.0
            for i in 0..<x.count {
                let (p, q) = (Double(x[i]), Double(y[i]))
                dot += p * q
                nx += p * p
                ny += q * q
                nd += (p - q) * (p - q)
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
            return Module(
                name: name, normA: nx.squareRoot(), normB: ny.squareRoot(), normDifference: nd.squareRoot(), cosine: cosine,
                subspaceSimilarity: similarity)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        configDifferences = try container.decode([ConfigDifference].self, forKey: .configDifferences)
        modules = try container.decode([Module].self, forKey: .modules)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(configDifferences, forKey: .configDifferences)
        try container.encode(modules, forKey: .modules)
        try container.encode(summary, forKey: .summary)
    }

    /// A module's name without its layer index and what precedes it ("attention.self.query");
    /// the whole name when it has no layer index.
    static func kind(of name: String) -> String {
        let kind = name.split(separator: ".").drop { Int($0) == nil }.dropFirst().joined(separator: ".")
        return kind.isEmpty ? name : kind
    }

    /// Per module role: how many modules, mean cosine and mean subspace similarity.
    public var summary: [Role] {
        let groups = Dictionary(grouping: modules, by: \.kind)
        return groups.keys.sorted().map { kind in
            let group = groups[kind]!
            let count = Double(group.count)
            return Role(
                kind: kind, modules: group.count, cosine: group.reduce(0.0) { $0 + $1.cosine } / count,
                similarity: group.reduce(0.0) { $0 + $1.subspaceSimilarity } / count)
        }
    }

    static func text(_ value: Any) -> String {
        if let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]) {
            return String(decoding: data, as: UTF8.self)
        }
        return "\(value)"
    }
}
