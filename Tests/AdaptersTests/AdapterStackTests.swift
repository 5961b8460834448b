import Adapters
import Foundation
import Models
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

@Suite struct AdapterStackTests {
    static func member(_ fixture: String, _ weight: Float = 1) throws -> (member: AdapterStack.Member, files: AdapterFiles) {
        (AdapterStack.Member(reference: fixture, weight: weight), try AdapterFiles(folder: FixturePaths.path("peft/" + fixture)))
    }

    @Test func memberParsing() {
        #expect(AdapterStack.Member(parsing: "sentiment:0.7") == AdapterStack.Member(reference: "sentiment", weight: 0.7))
        #expect(AdapterStack.Member(parsing: "notes@prod:-0.5") == AdapterStack.Member(reference: "notes@prod", weight: -0.5))
        #expect(AdapterStack.Member(parsing: "runs/a:b") == AdapterStack.Member(reference: "runs/a:b"))
        #expect(AdapterStack.Member(parsing: "plain") == AdapterStack.Member(reference: "plain"))
    }

    /// A weighted LoRA stack folds to W + Σ w_i·s_i·B_i·A_i, each ΔW read independently from the files.
    @Test func weightedStackAddsTheWeightedUpdates() throws {
        let llama = try PEFTInteropTests.llama()
        let original = Dictionary(uniqueKeysWithValues: llama.linearModuleNames.map { ($0, llama.linear(named: $0)!.weight.denseValues()) })
        let first = try Self.member("tiny-llama-lora", 0.7), second = try Self.member("tailor-tiny-llama-lora", -0.3)
        _ = try AdapterStack.load([first, second], into: llama)
        let updatesA = try AdapterUpdates(first.files, base: nil).updates, updatesB = try AdapterUpdates(second.files, base: nil).updates
        for name in llama.linearModuleNames where updatesA[name] != nil || updatesB[name] != nil {
            let (folded, _) = try BaseMerge.fold(llama.linear(named: name)!)
            let w0 = original[name]!
            var worst: Float = 0
            for i in folded.indices {
                let expected = w0[i] + 0.7 * (updatesA[name]?.values[i] ?? 0) - 0.3 * (updatesB[name]?.values[i] ?? 0)
                worst = max(worst, abs(folded[i] - expected))
            }
            #expect(worst < 1e-5, "\(name): \(worst)")
        }
    }

    @Test func ia3WeightMovesTheVectorTowardsOne() throws {
        let llama = try PEFTInteropTests.llama()
        let plain = try PEFTAdapterFolder.loadAny(FixturePaths.path("peft/tiny-llama-ia3"), into: try PEFTInteropTests.llama()) as! IA3Model
        let stack = try AdapterStack.load([Self.member("tiny-llama-ia3", 0.25)], into: llama)
        let weighted = try #require(stack.first as? IA3Model)
        for ((_, a), (_, b)) in zip(plain.layers, weighted.layers) {
            for i in 0..<a.vector.count { #expect(abs(b.vector.values[i] - (1 + 0.25 * (a.vector.values[i] - 1))) < 1e-6) }
        }
    }

    @Test func conflictingHeadsPromptsAndWeightsAreRefused() throws {
        #expect {
            _ = try AdapterStack.load([Self.member("tiny-bert-lora"), Self.member("tailor-tiny-bert-lora")], into: PEFTInteropTests.bert())
        } throws: { "\($0)".contains("both replace classifier") }
        #expect {
            _ = try AdapterStack.load(
                [Self.member("tiny-llama-prompt"), Self.member("tailor-tiny-llama-prompt")], into: PEFTInteropTests.llama())
        } throws: { "\($0)".contains("prompt or prefix") }
        #expect { _ = try AdapterStack.load([Self.member("tiny-llama-dora", 0.5)], into: PEFTInteropTests.llama()) } throws: {
            "\($0)".contains("DoRA")
        }
    }

    @Test func frozenStackTakesNoGradient() throws {
        let stack = try AdapterStack.load(
            [Self.member("tiny-llama-lora"), Self.member("tiny-llama-ia3")], into: PEFTInteropTests.llama(), frozen: true)
        #expect(stack.allSatisfy { $0.trainableParameters.allSatisfy { !$0.1.requiresGrad } })
    }

    /// Rows of one batch routed to different adapters give, row by row, what a model loaded with
    /// that adapter alone gives: LoRA, DoRA, IA3 (feed-forward input scaling), a weighted stack,
    /// and the plain base.
    @Test func mixedBatchRowsEqualSingleAdapterRuns() throws {
        let slotsSpec: [[(String, Float)]] = [
            [("tiny-llama-lora", 1)], [("tiny-llama-dora", 1)], [("tiny-llama-ia3", 1)],
            [("tailor-tiny-llama-lora", 0.5), ("tiny-llama-lora", 0.5)],
        ]
        let shared = try PEFTInteropTests.llama()
        let slots = AdapterSlots(base: shared)
        for (index, spec) in slotsSpec.enumerated() {
            #expect(try slots.attach("slot\(index)", spec.map { try Self.member($0.0, $0.1) }) == index)
        }
        let rows: [[Int]] = [[5, 9, 27, 3], [12, 8, 30, 2], [7, 7, 1, 40], [3, 14, 15, 9], [2, 71, 8, 28], [11, 4, 33, 6]]
        let rowSlots = [0, 1, -1, 2, 3, 0]
        let mixed = shared.logits(Graph(recording: false, adapterSlots: rowSlots), TokenBatch(ids: rows)).values
        let perRow = mixed.count / rows.count
        for (row, slot) in rowSlots.enumerated() {
            let alone = try PEFTInteropTests.llama()
            if slot >= 0 { _ = try AdapterStack.load(slotsSpec[slot].map { try Self.member($0.0, $0.1) }, into: alone) }
            let expected = alone.logits(Graph(recording: false), TokenBatch(ids: [rows[row]])).values
            let got = mixed[(row * perRow)..<((row + 1) * perRow)]
            let difference = zip(got, expected).map { abs($0 - $1) }.max() ?? 1
            #expect(difference < 1e-5, "row \(row) (slot \(slot)): \(difference)")
        }
        // A pass routed wholly to one slot is the same as routing every row there.
        let uniform = shared.logits(Graph(recording: false, adapterSlots: [1]), TokenBatch(ids: [rows[1]])).values
        #expect(zip(uniform, mixed[perRow..<(2 * perRow)]).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    /// BERT adapters each bring their own classifier head (modules_to_save): routed per row too.
    @Test func routedHeadsAndPaddingOnBert() throws {
        let fixtures = ["tiny-bert-lora", "tailor-tiny-bert-lora", "tiny-bert-ia3", "tiny-bert-dora"]
        let shared = try PEFTInteropTests.bert()
        let slots = AdapterSlots(base: shared)
        for fixture in fixtures { try slots.attach(fixture, [Self.member(fixture)]) }
        let rows: [[Int]] = [
            [5, 9, 27, 3, 40, 7], [12, 8, 30, 2, 0, 0], [7, 7, 1, 40, 2, 0], [3, 14, 15, 9, 2, 6], [2, 5, 0, 0, 0, 0],
        ]
        let mask = rows.map { $0.map { $0 != 0 } }
        let rowSlots = [3, 0, 2, -1, 1]
        let mixed = shared.classify(Graph(recording: false, adapterSlots: rowSlots), TokenBatch(ids: rows, mask: mask)).values
        let labels = mixed.count / rows.count
        for (row, slot) in rowSlots.enumerated() {
            let alone = try PEFTInteropTests.bert()
            if slot >= 0 { _ = try PEFTAdapterFolder.loadAny(FixturePaths.path("peft/" + fixtures[slot]), into: alone) }
            let expected = alone.classify(Graph(recording: false), TokenBatch(ids: [rows[row]], mask: [mask[row]])).values
            let difference = zip(mixed[(row * labels)..<((row + 1) * labels)], expected).map { abs($0 - $1) }.max() ?? 1
            #expect(difference < 1e-5, "row \(row) (slot \(slot)): \(difference)")
        }
    }

    @Test func promptTuningCannotBeRoutedAndTheBaseIsLeftIntact() throws {
        let llama = try PEFTInteropTests.llama()
        let slots = AdapterSlots(base: llama)
        #expect { try slots.attach("p", [Self.member("tiny-llama-prompt")]) } throws: { "\($0)".contains("cannot be switched per row") }
        #expect(llama.virtualTokens == nil && slots.names.isEmpty)
        try slots.attach("lora", [Self.member("tiny-llama-lora")])
        #expect(slots.slot(named: "lora") == 0)
    }
}

extension AdapterStackTests {
    /// A diverged adapter (NaN in a factor) is refused on load, naming the tensor, instead of
    /// flowing into outputs, merges and deploy folders.
    @Test func nonFiniteAdapterTensorsAreRefused() throws {
        let folder = TemporaryFolder()
        let source = FixturePaths.path("peft/tiny-bert-lora")
        try FileManager.default.copyItem(atPath: source + "/adapter_config.json", toPath: folder.file("adapter_config.json"))
        let file = try SafeTensorsFile(path: source + "/adapter_model.safetensors")
        var tensors: [TensorData] = []
        for info in file.tensors {
            var values = try file.view(of: info).floats()
            if info.name.hasSuffix("layer.1.attention.self.value.lora_B.weight") { values[3] = .infinity }
            tensors.append(TensorData(name: info.name, dtype: .f32, shape: info.shape, bytes: values.withUnsafeBytes { Array($0) }))
        }
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: folder.file("adapter_model.safetensors"))
        let files = try AdapterFiles(folder: folder.path)
        #expect { _ = try PEFTAdapterFolder.loadAny(files, into: PEFTInteropTests.bert()) } throws: {
            "\($0)".contains("layer.1.attention.self.value.lora_B.weight holds inf at element 3")
        }
        #expect { _ = try AdapterUpdates(files, base: nil) } throws: { "\($0)".contains("holds inf") }
    }
}
