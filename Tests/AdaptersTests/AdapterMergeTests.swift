import Adapters
import Foundation
import Models
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

@Suite struct AdapterMergeTests {
    static func updates(_ fixture: String, base: String? = nil) throws -> AdapterUpdates {
        try AdapterUpdates(AdapterFiles(folder: FixturePaths.path("peft/" + fixture)), base: base.map { FixturePaths.path($0) })
    }

    /// B·A of a saved merged module, times its scale.
    static func product(_ adapter: StandaloneLoRA, _ module: String) -> [Float] {
        let a = adapter.tensors[LoRAModel.key(module, "lora_A")]!, b = adapter.tensors[LoRAModel.key(module, "lora_B")]!
        let (r, inFeatures, out) = (a.shape[0], a.shape[1], b.shape[0])
        let scale = Float(adapter.config.scale(for: module))
        return (0..<(out * inFeatures)).map { index in
            let (o, i) = (index / inFeatures, index % inFeatures)
            return scale * (0..<r).reduce(Float(0)) { $0 + b.values[o * r + $1] * a.values[$1 * inFeatures + i] }
        }
    }

    static func maxDifference(_ x: [Float], _ y: [Float]) -> Float { zip(x, y).map { abs($0 - $1) }.max() ?? 0 }

    @Test func catIsExactAndHasTheSummedRank() throws {
        let a = try Self.updates("tiny-llama-lora"), b = try Self.updates("tailor-tiny-llama-lora")
        let result = try AdapterMerge.merge([a, b], options: .init(method: .cat, weights: [0.7, 0.3]))
        for module in Set(a.updates.keys).union(b.updates.keys) {
            let count = (a.updates[module] ?? b.updates[module])!.values.count
            let zero = [Float](repeating: 0, count: count)
            let (x, y) = (a.updates[module]?.values ?? zero, b.updates[module]?.values ?? zero)
            let expected: [Float] = (0..<count).map { 0.7 * x[$0] + 0.3 * y[$0] }
            #expect(Self.maxDifference(Self.product(result.adapter, module), expected) < 1e-6, "\(module)")
            let rank = result.adapter.tensors[LoRAModel.key(module, "lora_A")]!.shape[0]
            #expect(rank == (a.updates[module]?.rankBound ?? 0) + (b.updates[module]?.rankBound ?? 0))
        }
    }

    /// linear: the weighted sum, factored by SVD; at rank ≥ the sum of ranks it is exact, below it
    /// it is the best approximation (error = the dropped singular values).
    @Test func linearIsTheWeightedSumTruncatedBySVD() throws {
        let a = try Self.updates("tiny-llama-lora"), b = try Self.updates("tailor-tiny-llama-lora")
        let full = try AdapterMerge.merge([a, b], options: .init(method: .linear, weights: [1, -0.5], rank: 32))
        let truncated = try AdapterMerge.merge([a, b], options: .init(method: .svd, weights: [1, -0.5], rank: 2))
        #expect(full.adapter.config.r == 32 && truncated.adapter.config.r == 2)
        for module in a.updates.keys.sorted() {
            let update = a.updates[module]!
            let expected = (0..<update.values.count).map { update.values[$0] - 0.5 * (b.updates[module]?.values[$0] ?? 0) }
            #expect(Self.maxDifference(Self.product(full.adapter, module), expected) < 1e-5, "\(module)")
            let svd = try SingularValueDecomposition(expected, rows: update.out, columns: update.inFeatures)
            let tail = svd.s.dropFirst(2).reduce(0.0) { $0 + Double($1) * Double($1) },
                total = svd.s.reduce(0.0) { $0 + Double($1) * Double($1) }
            let error = try #require(truncated.relativeErrors.first { $0.module == module }).error
            #expect(abs(error - (tail / total).squareRoot()) < 1e-3, "\(module): \(error)")
            let approximation = Self.product(truncated.adapter, module)
            let measured = zip(approximation, expected).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
            #expect(abs((measured / total).squareRoot() - error) < 1e-3)
        }
    }

    @Test func tiesElectsSignsAndAveragesTheAgreeingValues() {
        var rng = RandomGenerator(seed: 1)
        let t1: [Float] = [1, -2, 0.5, 0, 0.1], t2: [Float] = [-3, 1, 0.5, 2, -0.1]
        // Sums −2, −1, 1, 2, 0 → signs −, −, +, +, + (0 counts as +).
        let merged = AdapterMerge.combine([t1, t2], weights: [1, 2], method: .ties, density: 1, rng: &rng)
        let expected: [Float] = [-6, -2, 0.75, 4, 0.1]  // 2·(−3); −2; (0.5 + 2·0.5) / 2; 2·2; 0.1
        #expect(merged == expected)
        // Trimmed to 40%: t1 keeps −2, 1; t2 keeps −3, 2.
        let trimmed = AdapterMerge.combine([t1, t2], weights: [1, 1], method: .ties, density: 0.4, rng: &rng)
        #expect(trimmed == [-3, -2, 0, 2, 0])
    }

    @Test func magnitudePruneKeepsTheLargestValues() {
        #expect(AdapterMerge.magnitudePrune([0.1, -4, 3, -0.2, 2], density: 0.6) == [0, -4, 3, 0, 2])
        #expect(AdapterMerge.magnitudePrune([1, 1, 1, 1], density: 0.5) == [1, 1, 0, 0], "ties go to the earlier position")
        var rng = RandomGenerator(seed: 1)
        #expect(
            AdapterMerge.combine(
                [[1, -4, 3, 0.5], [2, 2, -1, 0.25]], weights: [1, 0.5], method: .magnitudePrune, density: 0.5, rng: &rng)
                == [1, -4 + 1, 3, 0])
    }

    @Test func dareKeepsAboutDensityAndRescales() {
        let x = (0..<20000).map { Float($0 % 7) + 1 }
        var rng = RandomGenerator(seed: 42)
        let pruned = AdapterMerge.randomPrune(x, density: 0.3, rng: &rng)
        let kept = pruned.indices.filter { pruned[$0] != 0 }
        #expect(abs(Double(kept.count) / Double(x.count) - 0.3) < 0.02)
        #expect(kept.allSatisfy { abs(pruned[$0] - x[$0] / 0.3) < 1e-5 })
        let mean = pruned.reduce(0.0) { $0 + Double($1) } / Double(x.count), expected = x.reduce(0.0) { $0 + Double($1) } / Double(x.count)
        #expect(abs(mean - expected) / expected < 0.03, "rescaling keeps the expectation")
        var again = RandomGenerator(seed: 42)
        #expect(AdapterMerge.randomPrune(x, density: 0.3, rng: &again) == pruned, "seeded")
    }

    @Test func headsConflictUnlessOneIsChosen() throws {
        let a = try Self.updates("tiny-bert-lora"), b = try Self.updates("tailor-tiny-bert-lora")
        #expect { _ = try AdapterMerge.merge([a, b], options: .init(method: .linear, weights: [1, 1])) } throws: {
            "\($0)".contains("head to keep")
        }
        let merged = try AdapterMerge.merge([a, b], options: .init(method: .linear, weights: [1, 1], headFrom: 1))
        #expect(
            merged.adapter.tensors["base_model.model.classifier.weight"]?.values == b.inFull["base_model.model.classifier.weight"]?.values)
        #expect(merged.adapter.config.modulesToSave == ["classifier"])
        // query+value and query+key+value+dense: merged over the union, each module's own sum.
        #expect(Set(merged.adapter.config.targetNames) == Set(a.updates.keys).union(b.updates.keys))
        #expect(Set(a.updates.keys) != Set(b.updates.keys))
    }

    /// DoRA's update needs the base: folded layer − base weight; at full rank the merge of one
    /// DoRA adapter with weight 1 reproduces it.
    @Test func doraAndIA3UpdatesComeFromTheBase() throws {
        #expect { _ = try Self.updates("tiny-llama-dora") } throws: { "\($0)".contains("base model folder") }
        let dora = try Self.updates("tiny-llama-dora", base: "tiny-llama")
        let merged = try AdapterMerge.merge([dora], options: .init(method: .svd, weights: [1], rank: 64))
        for (module, update) in dora.updates {
            #expect(Self.maxDifference(Self.product(merged.adapter, module), update.values) < 1e-5, "\(module)")
        }
        let ia3 = try Self.updates("tiny-llama-ia3", base: "tiny-llama")
        #expect(!ia3.updates.isEmpty && ia3.biasChanged.isEmpty)
        // IA3 on an output scales the layer's bias too, which a LoRA adapter cannot carry. The tiny
        // BERT's biases are zero, so give one a value first.
        let folder = TemporaryFolder()
        let checkpoint = try Checkpoint.open(FixturePaths.path("tiny-bert"))
        var tensors: [TensorData] = []
        for name in checkpoint.tensorNames {
            var values = try checkpoint.tensor(name).floats()
            if name == "bert.encoder.layer.0.attention.self.key.bias" { values = values.indices.map { Float($0) * 0.01 } }
            tensors.append(
                TensorData(name: name, dtype: .f32, shape: checkpoint.info(name)!.shape, bytes: values.withUnsafeBytes { Array($0) }))
        }
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: folder.file("model.safetensors"))
        try FileManager.default.copyItem(atPath: FixturePaths.path("tiny-bert/config.json"), toPath: folder.file("config.json"))
        let biased = try AdapterUpdates(AdapterFiles(folder: FixturePaths.path("peft/tiny-bert-ia3")), base: folder.path)
        #expect(biased.biasChanged == ["bert.encoder.layer.0.attention.self.key"])
        #expect { _ = try AdapterMerge.merge([biased], options: .init(method: .linear, weights: [1])) } throws: { "\($0)".contains("bias") }
        #expect {
            _ = try AdapterMerge.merge([Self.updates("tiny-llama-lora"), dora], options: .init(method: .cat, weights: [1, 1]))
        } throws: { "\($0)".contains("cat") }
    }

    @Test func diffOfDoRAAndIA3WithItselfIsIdentical() throws {
        for fixture in ["tiny-llama-dora", "tiny-llama-ia3", "tiny-bert-pissa"] {
            let base = fixture.contains("bert") ? "tiny-bert" : "tiny-llama"
            let diff = try AdapterDiff(Self.updates(fixture, base: base), Self.updates(fixture, base: base))
            #expect(!diff.modules.isEmpty)
            for module in diff.modules {
                #expect(
                    module.normDifference == 0 && abs(module.cosine - 1) < 1e-9 && abs(module.subspaceSimilarity - 1) < 1e-3,
                    "\(fixture) \(module.name)")
            }
        }
    }
}

extension AdapterMergeTests {
    /// Against PEFT 0.21.2's add_weighted_adapter (Scripts/reference/merge_goldens.py): our cat,
    /// svd, ties and magnitude-prune updates equal PEFT's cat, ties_svd and magnitude_prune_svd
    /// (full rank), and our cat merge gives PEFT's logits for its own cat merge.
    @Test func mergesMatchPEFT() throws {
        let golden = try SafeTensorsFile(path: FixturePaths.path("peft/merge-goldens.safetensors"))
        let inputs = [try Self.updates("tailor-tiny-llama-lora"), try Self.updates("tiny-llama-lora")]
        let cases: [(AdapterMerge.Method, String)] = [
            (.cat, "cat"), (.svd, "cat"), (.ties, "ties_svd"), (.magnitudePrune, "magnitude_prune_svd"),
        ]
        for (method, peft) in cases {
            let merged = try AdapterMerge.merge(
                inputs, options: .init(method: method, weights: [0.3, 0.7], density: 0.5, rank: method == .cat ? nil : 256))
            for module in merged.adapter.config.targetNames {
                let expected = try golden.tensor("\(peft)/\(module)").floats()
                let scale = expected.map { abs($0) }.max() ?? 1
                #expect(Self.maxDifference(Self.product(merged.adapter, module), expected) < 1e-5 * max(scale, 1), "\(method) \(module)")
            }
        }
        let llama = try PEFTInteropTests.llama()
        let cat = try AdapterMerge.merge(inputs, options: .init(method: .cat, weights: [0.3, 0.7]))
        _ = try LoRAModel(base: llama, config: cat.adapter.config, weights: cat.adapter.tensors)
        let ids = try golden.tensor("input_ids").data.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)).map(Int.init) }
        let length = try golden.tensor("input_ids").shape[1]
        let rows = stride(from: 0, to: ids.count, by: length).map { Array(ids[$0..<($0 + length)]) }
        let logits = llama.logits(Graph(recording: false), TokenBatch(ids: rows)).values
        for key in ["peft_cat_logits", "tailor_cat_in_peft_logits"] {
            #expect(Self.maxDifference(logits, try golden.tensor(key).floats()) < 1e-4, "\(key)")
        }
    }
}
