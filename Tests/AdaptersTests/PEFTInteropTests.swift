import Foundation
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

@testable import Adapters
@testable import Models

/// LoRA adapters saved by Python PEFT 0.21.2 (fixtures/peft/) applied by Tailor: logits and the
/// gradients of every adapter tensor equal PEFT's; what Tailor saves reads back the same.
@Suite struct PEFTInteropTests {
    struct Golden {
        let file: SafeTensorsFile
        init(_ name: String) throws { try self.init(path: FixturePaths.path("peft/\(name)/golden.safetensors")) }
        /// Any golden file with `input_ids` and `attention_mask` (a family's parity record).
        init(path: String) throws { file = try SafeTensorsFile(path: path) }
        func ints(_ key: String) throws -> [Int] {
            try file.tensor(key).data.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)).map(Int.init) }
        }
        func batch() throws -> TokenBatch {
            let shape = try file.tensor("input_ids").shape
            let ids = try ints("input_ids"), mask = try ints("attention_mask").map { $0 != 0 }
            let rows = (0..<shape[0])
            return TokenBatch(
                ids: rows.map { Array(ids[($0 * shape[1])..<(($0 + 1) * shape[1])]) },
                mask: rows.map { Array(mask[($0 * shape[1])..<(($0 + 1) * shape[1])]) })
        }
    }

    static func maxDifference(_ a: [Float], _ b: [Float]) -> (Float, Float) {
        (zip(a, b).map { abs($0 - $1) }.max() ?? 0, b.map { abs($0) }.max() ?? 0)
    }

    static func bert() throws -> Bert {
        let folder = FixturePaths.path("tiny-bert")
        var config = try BertConfig(ConfigReader(path: folder + "/config.json"))
        config.hiddenDropout = 0
        config.classifierDropout = 0
        return try Bert(config: config, weights: WeightStore(Checkpoint.open(folder)), withClassifier: true, trainable: false)
    }

    static func llama() throws -> Llama {
        let folder = FixturePaths.path("tiny-llama")
        return try Llama(
            config: LlamaConfig(ConfigReader(path: folder + "/config.json")), weights: WeightStore(Checkpoint.open(folder)),
            head: .causalLM, trainable: false)
    }

    @Test func bertAdapterLogitsAndGradients() throws {
        let golden = try Golden("tiny-bert-lora")
        let base = try Self.bert()
        let lora = try PEFTAdapterFolder.load(FixturePaths.path("peft/tiny-bert-lora"), into: base)
        #expect(lora.layers.count == 4)
        #expect(lora.fullyTrained.map(\.0) == ["base_model.model.classifier.weight", "base_model.model.classifier.bias"])
        let batch = try golden.batch()
        let logits = base.classify(Graph(recording: false), batch)
        #expect(Self.maxDifference(logits.values, try golden.file.tensor("logits").floats()).0 < 1e-4)
        let graph = Graph(recording: true, training: true)
        let loss = graph.crossEntropy(base.classify(graph, batch), targets: try golden.ints("labels"))
        #expect(abs(loss.values[0] - (try golden.file.tensor("loss").floats())[0]) < 1e-5)
        graph.backward(loss)
        for (key, tensor) in lora.trainableParameters {
            let (difference, scale) = Self.maxDifference(tensor.gradValues, try golden.file.tensor("grad." + key).floats())
            #expect(difference <= 1e-4 * max(scale, 1e-6), "\(key): gradient differs by \(difference) (max \(scale))")
        }
        #expect(base.namedParameters.allSatisfy { !$0.1.requiresGrad }, "the base stays frozen")
    }

    @Test func llamaAdapterWithRSLoRAAndPatterns() throws {
        let golden = try Golden("tiny-llama-lora")
        let base = try Self.llama()
        let lora = try PEFTAdapterFolder.load(FixturePaths.path("peft/tiny-llama-lora"), into: base)
        #expect(lora.layers.count == 14)
        let q = try #require(lora.layers.first { $0.0.hasSuffix("q_proj") }?.1)
        #expect(q.rank == 8 && abs(q.scale - 16 / Float(8).squareRoot()) < 1e-6, "rank_pattern and rsLoRA")
        let v = try #require(lora.layers.first { $0.0.hasSuffix("v_proj") }?.1)
        #expect(abs(v.scale - 4 / 2) < 1e-6, "alpha_pattern with rsLoRA: 4/√4")
        let batch = try golden.batch()
        let logits = base.logits(Graph(recording: false), batch)
        #expect(Self.maxDifference(logits.values, try golden.file.tensor("logits").floats()).0 < 1e-4)
        let graph = Graph(recording: true, training: true)
        let loss = base.causalLMLoss(graph, batch, labels: try golden.ints("labels"))
        graph.backward(loss)
        for (key, tensor) in lora.trainableParameters {
            let (difference, scale) = Self.maxDifference(tensor.gradValues, try golden.file.tensor("grad." + key).floats())
            #expect(difference <= 1e-4 * max(scale, 1e-6), "\(key): gradient differs by \(difference) (max \(scale))")
        }
    }

    @Test func savedAdapterReadsBackWithPEFTsLayout() throws {
        let base = try Self.bert()
        let lora = try PEFTAdapterFolder.load(FixturePaths.path("peft/tiny-bert-lora"), into: base)
        let folder = TemporaryFolder()
        try PEFTAdapterFolder.save(lora, to: folder.path)
        let ours = try SafeTensorsFile(path: folder.file("adapter_model.safetensors"))
        let theirs = try SafeTensorsFile(path: FixturePaths.path("peft/tiny-bert-lora/adapter_model.safetensors"))
        #expect(ours.metadata == ["format": "pt"])
        #expect(ours.tensorNames.sorted() == theirs.tensorNames.sorted())
        for name in theirs.tensorNames { #expect(try ours.tensor(name).data == theirs.tensor(name).data, "\(name)") }
        let ourConfig =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder.file("adapter_config.json"))))
            as! [String: Any]
        let theirConfig =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: FixturePaths.path("peft/tiny-bert-lora/adapter_config.json"))))
            as! [String: Any]
        #expect(Set(ourConfig.keys) == Set(theirConfig.keys), "the same fields as PEFT writes")
        for key in ["r", "lora_alpha", "target_modules", "bias", "use_rslora", "task_type", "peft_type"] {
            #expect("\(ourConfig[key]!)" == "\(theirConfig[key]!)", "\(key)")
        }
        let reloaded = try PEFTAdapterFolder.load(folder.path, into: try Self.bert())
        #expect(reloaded.layers.count == 4)
    }

    @Test func badAdaptersAreRefusedByName() throws {
        let folder = TemporaryFolder()
        let source = FixturePaths.path("peft/tiny-bert-lora")
        try FileManager.default.copyItem(atPath: source + "/adapter_model.safetensors", toPath: folder.file("adapter_model.safetensors"))
        var config =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/adapter_config.json")))
            as! [String: Any]
        // fan_in_fan_out on nn.Linear layers: PEFT warns and sets it false, and so do we (it is
        // true only on GPT-2's Conv1D layers, where it changes no update either).
        config["fan_in_fan_out"] = true
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder.file("adapter_config.json")))
        #expect((try PEFTAdapterFolder.load(folder.path, into: try Self.bert()) as? LoRAModel)?.config.fanInFanOut == false)
        config["fan_in_fan_out"] = false
        config["use_dora"] = true
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder.file("adapter_config.json")))
        #expect { _ = try PEFTAdapterFolder.load(folder.path, into: try Self.bert()) } throws: { "\($0)".contains("lora_magnitude_vector") }
        config["use_dora"] = false
        config["r"] = 8
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder.file("adapter_config.json")))
        #expect { _ = try PEFTAdapterFolder.load(folder.path, into: try Self.bert()) } throws: { "\($0)".contains("do not fit") }
        #expect { _ = try PEFTAdapterFolder.load(source, into: try Self.llama()) } throws: { "\($0)".contains("target_modules") }
    }
}

/// Adapters `tailor train` wrote, loaded by PEFT 0.21.2: PEFT's logits must be the ones Tailor computes.
@Suite struct TailorAdapterInPEFTTests {
    static func check(_ fixture: String) throws -> any PEFTAdapter {
        let folder = FixturePaths.path("peft/tailor-tiny-" + fixture)
        let golden = try SafeTensorsFile(path: folder + "/peft_logits.safetensors")
        func ints(_ key: String) throws -> [Int] {
            try golden.tensor(key).data.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)).map(Int.init) }
        }
        let shape = try golden.tensor("input_ids").shape
        let ids = try ints("input_ids"), mask = try ints("attention_mask").map { $0 != 0 }
        let rows = 0..<shape[0]
        let batch = TokenBatch(
            ids: rows.map { Array(ids[($0 * shape[1])..<(($0 + 1) * shape[1])]) },
            mask: rows.map { Array(mask[($0 * shape[1])..<(($0 + 1) * shape[1])]) })
        let adapter: any PEFTAdapter
        let logits: [Float]
        let loaded: any TransformerModel
        if fixture.hasPrefix("bert-") {
            let base = try PEFTInteropTests.bert()
            adapter = try PEFTAdapterFolder.loadAny(folder, into: base)
            #expect(try PEFTAdapterFolder.labels(in: folder) == ["negative", "positive"])
            logits = base.classify(Graph(recording: false), batch).values
            loaded = base
        } else {
            let base = try PEFTInteropTests.llama()
            adapter = try PEFTAdapterFolder.loadAny(folder, into: base)
            logits = base.logits(Graph(recording: false), batch).values
            loaded = base
        }
        // Methods that merge: transformers' logits on the folder `tailor merge --into-base` wrote,
        // against the merged weights computed here.
        if golden.tensorNames.contains("merged_logits") {
            let merged = try BaseMerge.mergedParameters(of: loaded)
            let scratch = TemporaryFolder()
            try SafeTensorsWriter.write(
                merged.map { TensorData(name: $0.name, dtype: .f32, shape: $0.shape, bytes: $0.values.withUnsafeBytes { Array($0) }) },
                metadata: nil, to: scratch.file("model.safetensors"))
            let weights = WeightStore(try Checkpoint.open(scratch.file("model.safetensors")))
            let plain: [Float]
            switch loaded {
            case let bert as Bert:
                plain = try Bert(config: bert.config, weights: weights, withClassifier: true, trainable: false).classify(
                    Graph(recording: false), batch
                ).values
            case let llama as Llama:
                plain = try Llama(config: llama.config, weights: weights, head: .causalLM, trainable: false).logits(
                    Graph(recording: false), batch
                ).values
            default:
                plain = try #require(nil as [Float]?, "unexpected family")
            }
            let (difference, _) = PEFTInteropTests.maxDifference(plain, try golden.tensor("merged_logits").floats())
            #expect(difference < 1e-4, "\(fixture): merged weights vs transformers on the merged folder differ by \(difference)")
        }
        let expected = try golden.tensor("logits").floats()
        #expect(logits.count == expected.count, "\(fixture): \(logits.count) logits, PEFT has \(expected.count)")
        let (difference, _) = PEFTInteropTests.maxDifference(logits, expected)
        #expect(difference < 1e-4, "\(fixture): Tailor vs PEFT logits differ by \(difference)")
        return adapter
    }

    @Test func lora() throws {
        let lora = try #require(try Self.check("bert-lora") as? LoRAModel)
        #expect(lora.config.useRSLoRA && lora.layers.count == 2 * 6 + 1, "query, key, value, three dense layers per block, and the pooler")
    }
    @Test(arguments: [
        "bert-dora", "bert-pissa", "bert-ia3", "bert-prompt", "bert-prefix",
        "llama-lora", "llama-dora", "llama-ia3", "llama-prompt", "llama-prefix",
    ])
    func method(_ fixture: String) throws { _ = try Self.check(fixture) }
}

/// Every PEFT method we read, against PEFT 0.21.2: logits and the gradient of every saved tensor.
@Suite struct PEFTMethodInteropTests {
    static func check(_ fixture: String, bert: Bool) throws {
        let golden = try PEFTInteropTests.Golden(fixture)
        let batch = try golden.batch()
        let graph = Graph(recording: true, training: true)
        let adapter: any PEFTAdapter
        let loss: Tensor
        let logits: Tensor
        if bert {
            let model = try PEFTInteropTests.bert()
            adapter = try PEFTAdapterFolder.loadAny(FixturePaths.path("peft/" + fixture), into: model)
            logits = model.classify(Graph(recording: false), batch)
            loss = graph.crossEntropy(model.classify(graph, batch), targets: try golden.ints("labels"))
        } else {
            let model = try PEFTInteropTests.llama()
            adapter = try PEFTAdapterFolder.loadAny(FixturePaths.path("peft/" + fixture), into: model)
            logits = model.logits(Graph(recording: false), batch)
            loss = model.causalLMLoss(graph, batch, labels: try golden.ints("labels"))
        }
        let (logitDifference, _) = PEFTInteropTests.maxDifference(logits.values, try golden.file.tensor("logits").floats())
        #expect(logitDifference < 1e-4, "\(fixture): logits differ by \(logitDifference)")
        graph.backward(loss)
        let saved = golden.file.tensorNames.filter { $0.hasPrefix("grad.") }.count
        #expect(adapter.trainableParameters.count == saved, "\(fixture): \(adapter.trainableParameters.count) tensors, PEFT saved \(saved)")
        for (key, tensor) in adapter.trainableParameters {
            let (difference, scale) = PEFTInteropTests.maxDifference(tensor.gradValues, try golden.file.tensor("grad." + key).floats())
            #expect(difference <= 1e-4 * max(scale, 1e-6), "\(fixture) \(key): gradient differs by \(difference) (max \(scale))")
        }
    }

    @Test func doraOnBert() throws { try Self.check("tiny-bert-dora", bert: true) }
    @Test func doraOnLlama() throws { try Self.check("tiny-llama-dora", bert: false) }
    @Test func ia3OnBert() throws { try Self.check("tiny-bert-ia3", bert: true) }
    @Test func ia3OnLlama() throws { try Self.check("tiny-llama-ia3", bert: false) }
    @Test func pissaOnBert() throws { try Self.check("tiny-bert-pissa", bert: true) }

    /// A prompt-learning adapter on the wrong base, or with an unknown field, is one clear error.
    @Test func promptLearningMismatchesAreErrors() throws {
        let llamaPrefix = FixturePaths.path("peft/tiny-llama-prefix")
        #expect { _ = try PEFTAdapterFolder.loadAny(llamaPrefix, into: try PEFTInteropTests.bert()) } throws: {
            "\($0)".contains("adapter_config.json") && "\($0)".contains("num_attention_heads is 2") && "\($0)".contains("wrong base model")
        }
        let folder = TemporaryFolder()
        for name in ["adapter_config.json", "adapter_model.safetensors"] {
            try FileManager.default.copyItem(atPath: llamaPrefix + "/" + name, toPath: folder.file(name))
        }
        var config =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder.file("adapter_config.json"))))
            as! [String: Any]
        config["prefix_dropout"] = 0.1
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder.file("adapter_config.json")))
        #expect { _ = try PEFTAdapterFolder.loadAny(folder.path, into: try PEFTInteropTests.llama()) } throws: {
            "\($0)".contains("prefix_dropout") && "\($0)".contains("prefix tuning")
        }
    }

    /// A fresh PiSSA adapter moves the top singular directions out of the base: residual base +
    /// s·B·A is the original weight, so the model's outputs do not change.
    @Test func pissaStartsWhereTheBaseIs() throws {
        let base = try PEFTInteropTests.bert()
        let batch = try PEFTInteropTests.Golden("tiny-bert-pissa").batch()
        let before = base.classify(Graph(recording: false), batch).values
        var config = LoRAConfig(r: 4, alpha: 8, targets: .names(["query", "value"]))
        config.initialization = .pissa
        let lora = try LoRAModel(base: base, config: config, seed: 3)
        #expect(lora.layers.allSatisfy { $0.1.b.values.contains { $0 != 0 } }, "B carries singular directions")
        let after = base.classify(Graph(recording: false), batch).values
        let (difference, _) = PEFTInteropTests.maxDifference(after, before)
        #expect(difference < 1e-5, "outputs moved by \(difference)")
    }
    @Test func promptTuningOnBert() throws { try Self.check("tiny-bert-prompt", bert: true) }
    @Test func promptTuningOnLlama() throws { try Self.check("tiny-llama-prompt", bert: false) }
    @Test func prefixTuningOnBert() throws { try Self.check("tiny-bert-prefix", bert: true) }
    @Test func prefixTuningOnLlama() throws { try Self.check("tiny-llama-prefix", bert: false) }

    /// Generation starts from a cache that already holds the prefix: stepping through a sequence
    /// token by token gives the logits of the whole-sequence pass.
    @Test func prefixTuningGenerationStartsFromThePrefix() throws {
        let model = try PEFTInteropTests.llama()
        _ = try PEFTAdapterFolder.loadAny(FixturePaths.path("peft/tiny-llama-prefix"), into: model)
        let ids = [5, 17, 42, 99, 7, 3]
        let whole = model.logits(Graph(recording: false), TokenBatch(ids: [ids], mask: [ids.map { _ in true }])).values
        let cache = model.makeCache(capacity: ids.count)
        #expect(cache.length == 4)
        var stepped: [Float] = model.step(Array(ids.prefix(2)), cache: cache).values
        for id in ids.dropFirst(2) { stepped += model.step([id], cache: cache).values }
        let (difference, _) = PEFTInteropTests.maxDifference(stepped, whole)
        #expect(difference < 1e-5, "stepped vs whole logits differ by \(difference)")
    }
}
