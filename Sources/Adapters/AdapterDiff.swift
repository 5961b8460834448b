import Foundation
import SafeTensors
import TrainingCore

/// How two LoRA adapters differ, from their files alone: per module the update each makes,
/// ΔW = s·B·A (f32), compared by Frobenius norms, the norm of the difference, cosine similarity,
/// and the LoRA paper's normalised subspace similarity ‖U_aᵀ·U_b‖²_F / k of the top-k left
/// singular vectors (k the smaller rank; 1 when the updates span the same directions, 0 when
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

    public init(_ folderA: String, _ folderB: String) throws {
        let (configA, updatesA) = try Self.updates(folderA)
        let (configB, updatesB) = try Self.updates(folderB)
        configDifferences = Set(configA.keys).union(configB.keys).sorted().compactMap { key in
            let a = configA[key].map(Self.text) ?? "—", b = configB[key].map(Self.text) ?? "—"
            return a == b || ["base_model_name_or_path", "revision", "peft_version"].contains(key) ? nil : (key, a, b)
        }
        modules = try Set(updatesA.keys).union(updatesB.keys).sorted().map { name in
            let a = updatesA[name], b = updatesB[name]
            let shape = (a ?? b)!.shape
            if let a, let b, a.shape != b.shape { throw AdapterError(file: folderB, "\(name): update shape \(b.shape) differs from \(a.shape)") }
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
                let k = min(a.rank, b.rank, shape[0], shape[1])
                let ua = try SingularValueDecomposition(a.values, rows: shape[0], columns: shape[1])
                let ub = try SingularValueDecomposition(b.values, rows: shape[0], columns: shape[1])
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

    struct Update { var values: [Float]; var shape: [Int]; var rank: Int }

    static func updates(_ folder: String) throws -> ([String: Any], [String: Update]) {
        let configPath = folder + "/adapter_config.json"
        guard let data = FileManager.default.contents(atPath: configPath),
              let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw AdapterError(file: configPath, "missing or not a JSON object")
        }
        guard (json["peft_type"] as? String ?? "LORA") == "LORA", json["use_dora"] as? Bool != true else {
            throw AdapterError(file: configPath, "diff compares LoRA adapters (this is \(json["peft_type"] as? String ?? "?")\(json["use_dora"] as? Bool == true ? " with DoRA" : ""))")
        }
        let config = try LoRAConfig(json: json, file: configPath)
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(path: folder + "/adapter_model.safetensors") } catch { throw AdapterError(file: folder, "\(error)") }
        var out: [String: Update] = [:]
        for info in file.tensors where info.name.hasSuffix(".lora_A.weight") {
            let module = String(info.name.dropFirst("base_model.model.".count).dropLast(".lora_A.weight".count))
            let bName = "base_model.model.\(module).lora_B.weight"
            let a: [Float], b: [Float], bShape: [Int]
            do {
                a = try file.view(of: info).floats()
                let bView = try file.tensor(bName)
                b = try bView.floats()
                bShape = bView.shape
            } catch { throw AdapterError(file: file.path, "\(error)") }
            let (r, inFeatures, outFeatures) = (info.shape[0], info.shape[1], bShape[0])
            guard bShape == [outFeatures, r] else { throw AdapterError(file: file.path, "\(bName) is \(bShape), lora_A is \(info.shape)") }
            var delta = [Float](repeating: 0, count: outFeatures * inFeatures)
            delta.withUnsafeMutableBufferPointer { d in
                BLAS.sgemm(.none, .none, m: outFeatures, n: inFeatures, k: r, alpha: Float(config.scale(for: module)), a: b, lda: r,
                           b: a, ldb: inFeatures, c: d.baseAddress!, ldc: inFeatures)
            }
            out[module] = Update(values: delta, shape: [outFeatures, inFeatures], rank: r)
        }
        return (json, out)
    }

    static func text(_ value: Any) -> String {
        if let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]) {
            return String(decoding: data, as: UTF8.self)
        }
        return "\(value)"
    }
}
