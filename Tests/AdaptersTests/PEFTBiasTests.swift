import Foundation
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

@testable import Adapters
@testable import Models

/// LoRA adapters that train biases, saved by PEFT 0.21.2 (Scripts/reference/peft_bias_goldens.py):
/// bias="all" saves every bias of the model (LayerNorm's, untargeted Linear layers', the targeted
/// ones' as `….base_layer.bias`, a modules_to_save module's twice more), bias="lora_only" the
/// targeted layers'. Tailor applies, trains, saves and merges them as PEFT does.
@Suite struct PEFTBiasTests {
    static let fixtures = [
        "tiny-bert-bias-all", "tiny-bert-bias-lora-only", "tiny-bert-dora-bias-all", "tiny-qwen2-bias-all", "tiny-gpt2-bias-all",
    ]

    static func qwen2() throws -> Llama {
        let folder = FixturePaths.path("models/tiny-qwen2")
        return try Llama(
            config: LlamaConfig(ConfigReader(path: folder + "/config.json")), weights: WeightStore(Checkpoint.open(folder)),
            head: .causalLM, trainable: false)
    }

    static func base(for fixture: String) throws -> any TransformerModel {
        if fixture.contains("gpt2") {
            // PEFT's golden ran without dropout.
            let gpt2 = try #require(try ModelLoader.load(folder: FixturePaths.path("models/tiny-gpt2"), head: .causalLM) as? GPT2)
            (gpt2.config.residualDropout, gpt2.config.embeddingDropout, gpt2.config.attentionDropout) = (0, 0, 0)
            return gpt2
        }
        return fixture.contains("qwen2") ? try qwen2() : try PEFTInteropTests.bert()
    }

    static func logits(_ model: any TransformerModel, _ graph: Graph, _ batch: TokenBatch) -> Tensor {
        model.forward(graph, batch)
    }

    static func loss(_ model: any TransformerModel, _ graph: Graph, _ batch: TokenBatch, labels: [Int]) -> Tensor {
        model.loss(graph, batch, targets: labels).loss
    }

    static func folder(_ fixture: String) -> String { FixturePaths.path("peft/" + fixture) }

    /// Logits, loss and the gradient of every trained tensor equal PEFT's; every bias in the file
    /// is the one the model now uses.
    @Test(arguments: fixtures) func logitsAndGradientsMatchPEFT(_ fixture: String) throws {
        let golden = try PEFTInteropTests.Golden(fixture)
        let batch = try golden.batch()
        let model = try Self.base(for: fixture)
        let adapter = try #require(try PEFTAdapterFolder.loadAny(Self.folder(fixture), into: model) as? LoRAModel)
        let (difference, _) = PEFTInteropTests.maxDifference(
            Self.logits(model, Graph(recording: false), batch).values,
            try golden.file.tensor("logits").floats())
        #expect(difference < 1e-4, "\(fixture): logits differ from PEFT's by \(difference)")
        let graph = Graph(recording: true, training: true)
        let loss = Self.loss(model, graph, batch, labels: try golden.ints("labels"))
        #expect(abs(loss.values[0] - (try golden.file.tensor("loss").floats())[0]) < 1e-5)
        graph.backward(loss)
        // PEFT's golden holds one gradient per trained parameter, the head's bias under both its keys.
        let graded = Set(golden.file.tensorNames.filter { $0.hasPrefix("grad.") && !$0.hasSuffix(".modules_to_save.bias") })
        #expect(Set(adapter.trainableParameters.map { "grad." + $0.0 }) == graded, "\(fixture): the trained tensors are PEFT's")
        for (key, tensor) in adapter.trainableParameters {
            let (difference, scale) = PEFTInteropTests.maxDifference(tensor.gradValues, try golden.file.tensor("grad." + key).floats())
            #expect(difference <= 1e-4 * max(scale, 1e-6), "\(fixture) \(key): gradient differs by \(difference) (max \(scale))")
        }
        let file = try SafeTensorsFile(path: Self.folder(fixture) + "/adapter_model.safetensors")
        for name in file.tensorNames where name.hasSuffix(".bias") && !name.contains("original_module") {
            let module = name.dropFirst("base_model.model.".count).replacingOccurrences(of: ".base_layer", with: "")
                .replacingOccurrences(of: ".modules_to_save", with: "")
            let live =
                model.normBias(named: module)
                ?? model.linear(named: String(module.dropLast(".bias".count)))?.bias
            #expect(try live?.values == file.tensor(name).floats(), "\(fixture): \(name) is applied")
        }
        #expect(model.namedParameters.allSatisfy { !$0.1.requiresGrad }, "the base's own tensors stay frozen")
    }

    /// The biases change the outputs: without them (the LoRA factors and the head alone) the logits
    /// are off by far more than the tolerance above.
    @Test func theBiasesMatter() throws {
        let golden = try PEFTInteropTests.Golden("tiny-bert-bias-all")
        let base = try PEFTInteropTests.bert()
        let tensors = try AdapterFiles(folder: Self.folder("tiny-bert-bias-all")).tensors()
        var config = try LoRAConfig(json: AdapterFiles(folder: Self.folder("tiny-bert-bias-all")).configJSON(), file: "config")
        config.bias = .none
        let withoutBiases = tensors.filter { !$0.key.hasSuffix(".bias") || $0.key.contains("classifier") }
        _ = try LoRAModel(base: base, config: config, weights: withoutBiases)
        let (difference, _) = PEFTInteropTests.maxDifference(
            base.classify(Graph(recording: false), try golden.batch()).values,
            try golden.file.tensor("logits").floats())
        #expect(difference > 1e-3, "without the biases the logits differ by only \(difference)")
    }

    /// Loading PEFT's folder and saving it again writes the same file: keys, shapes and bytes.
    @Test(arguments: fixtures) func roundTripIsByteIdentical(_ fixture: String) throws {
        let model = try Self.base(for: fixture)
        let adapter = try PEFTAdapterFolder.loadAny(Self.folder(fixture), into: model)
        let out = TemporaryFolder()
        try PEFTAdapterFolder.save(adapter, to: out.path)
        let ours = try SafeTensorsFile(path: out.file("adapter_model.safetensors"))
        let theirs = try SafeTensorsFile(path: Self.folder(fixture) + "/adapter_model.safetensors")
        #expect(ours.tensorNames.sorted() == theirs.tensorNames.sorted(), "\(fixture): the key set PEFT saves")
        for name in theirs.tensorNames where ours.tensorNames.contains(name) {
            let (a, b) = (try ours.tensor(name), try theirs.tensor(name))
            #expect(a.shape == b.shape && a.dtype == b.dtype && a.data == b.data, "\(fixture): \(name)")
        }
        let same = FileManager.default.contentsEqual(
            atPath: out.file("adapter_model.safetensors"),
            andPath: Self.folder(fixture) + "/adapter_model.safetensors")
        #expect(same, "\(fixture): the whole file is byte-identical")
    }

    /// A fresh adapter trains exactly the biases PEFT marks trainable and saves the keys PEFT saves
    /// (the goldens' key sets), with every bias learning from a backward pass.
    @Test(arguments: fixtures) func freshAdapterTrainsAndSavesPEFTsKeys(_ fixture: String) throws {
        let model = try Self.base(for: fixture)
        let config = try LoRAConfig(json: AdapterFiles(folder: Self.folder(fixture)).configJSON(), file: "config")
        let lora = try LoRAModel(base: model, config: config, seed: 1)
        let out = TemporaryFolder()
        try PEFTAdapterFolder.save(lora, to: out.path)
        let ours = try SafeTensorsFile(path: out.file("adapter_model.safetensors")).tensorNames.sorted()
        let theirs = try SafeTensorsFile(path: Self.folder(fixture) + "/adapter_model.safetensors").tensorNames.sorted()
        #expect(ours == theirs, "\(fixture): saved keys")
        let graph = Graph(recording: true, training: true)
        let golden = try PEFTInteropTests.Golden(fixture)
        graph.backward(Self.loss(model, graph, try golden.batch(), labels: try golden.ints("labels")))
        for (key, tensor) in lora.trainableParameters where key.hasSuffix(".bias") {
            #expect(tensor.requiresGrad && tensor.gradValues.contains { $0 != 0 }, "\(fixture): \(key) takes a gradient")
        }
        // Saved again after loading: the original_module copy keeps the base's bias.
        if fixture == "tiny-bert-bias-all" {
            let saved = try SafeTensorsFile(path: out.file("adapter_model.safetensors"))
            let original = try saved.tensor("base_model.model.classifier.original_module.bias")
            #expect(try original.floats() == PEFTInteropTests.bert().classifier?.bias?.values)
        }
    }

    /// Keys that name no bias of the model are refused by name, as is a bias in an adapter whose
    /// config trains none.
    @Test func unknownKeysAreRefusedByName() throws {
        let source = Self.folder("tiny-bert-bias-all")
        func variant(_ change: (inout [String: Any], inout [TensorData]) -> Void) throws -> TemporaryFolder {
            let folder = TemporaryFolder()
            var config = try AdapterFiles(folder: source).configJSON()
            let file = try SafeTensorsFile(path: source + "/adapter_model.safetensors")
            var tensors = try file.tensorNames.map { name in
                let t = try file.tensor(name)
                return TensorData(name: name, dtype: .f32, shape: t.shape, bytes: t.data)
            }
            change(&config, &tensors)
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder.file("adapter_config.json")))
            try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: folder.file("adapter_model.safetensors"))
            return folder
        }
        let zeros = [UInt8](repeating: 0, count: 32 * 4)
        // A layer the model lacks, an untargeted layer's bias under a targeted one's key, a norm that does not exist.
        for key in [
            "base_model.model.bert.encoder.layer.7.attention.self.key.bias",
            "base_model.model.bert.encoder.layer.0.attention.self.key.base_layer.bias",
            "base_model.model.bert.encoder.LayerNorm.bias",
        ] {
            let folder = try variant { _, tensors in tensors.append(TensorData(name: key, dtype: .f32, shape: [32], bytes: zeros)) }
            #expect { _ = try PEFTAdapterFolder.load(folder.path, into: try PEFTInteropTests.bert()) } throws: { "\($0)".contains(key) }
        }
        let none = try variant { config, _ in config["bias"] = "none" }
        #expect { _ = try PEFTAdapterFolder.load(none.path, into: try PEFTInteropTests.bert()) } throws: {
            "\($0)".contains("base_model.model.bert.embeddings.LayerNorm.bias")
        }
        let misshapen = try variant { _, tensors in
            let index = tensors.firstIndex { $0.spec.name == "base_model.model.bert.embeddings.LayerNorm.bias" }!
            tensors[index] = TensorData(name: tensors[index].spec.name, dtype: .f32, shape: [16], bytes: Array(zeros.prefix(64)))
        }
        #expect { _ = try PEFTAdapterFolder.load(misshapen.path, into: try PEFTInteropTests.bert()) } throws: {
            "\($0)".contains("base_model.model.bert.embeddings.LayerNorm.bias is [16]")
        }
    }

    /// merge --into-base: the merged parameters (trained biases in place of the base's, LayerNorm's
    /// included) give a plain model PEFT's logits.
    @Test(arguments: fixtures) func mergedIntoTheBaseGivesPEFTsLogits(_ fixture: String) throws {
        let golden = try PEFTInteropTests.Golden(fixture)
        let model = try Self.base(for: fixture)
        _ = try PEFTAdapterFolder.loadAny(Self.folder(fixture), into: model)
        let merged = try BaseMerge.mergedParameters(of: model)
        let scratch = TemporaryFolder()
        let tensors = merged.map { TensorData(name: $0.name, dtype: .f32, shape: $0.shape, bytes: $0.values.withUnsafeBytes { Array($0) }) }
        try SafeTensorsWriter.write(tensors, metadata: nil, to: scratch.file("model.safetensors"))
        let weights = WeightStore(try Checkpoint.open(scratch.file("model.safetensors")))
        let plain: any TransformerModel
        switch model {
        case let bert as Bert: plain = try Bert(config: bert.config, weights: weights, withClassifier: true, trainable: false)
        case let llama as Llama: plain = try Llama(config: llama.config, weights: weights, head: .causalLM, trainable: false)
        case is GPT2:
            // Conv1D weights were written back as [in, out]: the family's loader reads them so.
            try FileManager.default.copyItem(atPath: FixturePaths.path("models/tiny-gpt2/config.json"), toPath: scratch.file("config.json"))
            plain = try ModelLoader.load(folder: scratch.path, head: .causalLM)
        default:
            Issue.record("unexpected family")
            return
        }
        let (difference, _) = PEFTInteropTests.maxDifference(
            Self.logits(plain, Graph(recording: false), try golden.batch()).values,
            try golden.file.tensor("logits").floats())
        #expect(difference < 1e-4, "\(fixture): merged model vs PEFT differ by \(difference)")
    }

    /// Stacks and switchable slots: trained Linear biases route per slot like a replaced head; a
    /// second adapter replacing the same biases, and LayerNorm biases in a per-row slot, are refused.
    @Test func stacksAndSlots() throws {
        let member = (AdapterStack.Member(reference: "qwen2-bias"), try AdapterFiles(folder: Self.folder("tiny-qwen2-bias-all")))
        let golden = try PEFTInteropTests.Golden("tiny-qwen2-bias-all")
        let batch = try golden.batch()
        let expected = try golden.file.tensor("logits").floats()
        #expect { _ = try AdapterStack.load([member, member], into: Self.qwen2()) } throws: {
            "\($0)".contains("both replace model.layers.0.self_attn.q_proj") && "\($0)".contains("trained bias")
        }
        let half = (AdapterStack.Member(reference: "qwen2-bias", weight: 0.5), member.1)
        _ = try AdapterStack.load([half], into: Self.qwen2())

        let qwen2 = try Self.qwen2()
        let plain = qwen2.logits(Graph(recording: false), batch).values
        let slots = AdapterSlots(base: qwen2)
        let slot = try slots.attach("qwen2-bias", [member])
        let routed = Graph(recording: false, adapterSlots: [Int](repeating: slot, count: batch.batch))
        #expect(PEFTInteropTests.maxDifference(qwen2.logits(routed, batch).values, expected).0 < 1e-4)
        let unrouted = Graph(recording: false, adapterSlots: [Int](repeating: -1, count: batch.batch))
        #expect(PEFTInteropTests.maxDifference(qwen2.logits(unrouted, batch).values, plain).0 == 0, "the base is untouched")

        let bert = try PEFTInteropTests.bert()
        let bertBatch = try PEFTInteropTests.Golden("tiny-bert-bias-all").batch()
        let bertPlain = bert.classify(Graph(recording: false), bertBatch)
        let bertSlots = AdapterSlots(base: bert)
        let bertMember = (AdapterStack.Member(reference: "bert-bias"), try AdapterFiles(folder: Self.folder("tiny-bert-bias-all")))
        #expect { try bertSlots.attach("bert-bias", [bertMember]) } throws: {
            "\($0)".contains("bert-bias trains bert.embeddings.LayerNorm.bias") && "\($0)".contains("per row")
        }
        let after = bert.classify(Graph(recording: false), bertBatch)
        #expect(after.values == bertPlain.values, "a refused attach leaves the base as it was")
    }

    /// An adapter in memory (as a registry version is read) loads like its folder.
    @Test func inMemoryFilesLoadLikeTheFolder() throws {
        let folder = Self.folder("tiny-bert-bias-all")
        var files: [String: [UInt8]] = [:]
        for name in [PEFTAdapterFolder.configFile, PEFTAdapterFolder.weightsFile] {
            files[name] = Array(try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name)))
        }
        let bert = try PEFTInteropTests.bert()
        _ = try PEFTAdapterFolder.loadAny(AdapterFiles(files: files, label: "registry:bias-all"), into: bert)
        let golden = try PEFTInteropTests.Golden("tiny-bert-bias-all")
        let (difference, _) = PEFTInteropTests.maxDifference(
            bert.classify(Graph(recording: false), try golden.batch()).values,
            try golden.file.tensor("logits").floats())
        #expect(difference < 1e-4)
    }
}
