import Adapters
import Foundation
import Models
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

@Suite struct BaseMergeTests {
    /// The folded weight is W + s·B·A, computed here directly from the adapter's factors.
    @Test func foldedLoRAWeightIsWPlusScaledBA() throws {
        let bert = try PEFTInteropTests.bert()
        let lora = try PEFTAdapterFolder.load(FixturePaths.path("peft/tiny-bert-lora"), into: bert)
        for (name, adapter) in lora.layers {
            let layer = try #require(bert.linear(named: name))
            let (weight, bias) = try BaseMerge.fold(layer)
            let w = layer.weight.denseValues(), a = adapter.a.values, b = adapter.b.values
            let (out, inFeatures, r) = (layer.outFeatures, layer.inFeatures, adapter.a.shape[0])
            var worst: Float = 0
            for o in 0..<out {
                for i in 0..<inFeatures {
                    var delta: Float = 0
                    for k in 0..<r { delta += b[o * r + k] * a[k * inFeatures + i] }
                    worst = max(worst, abs(weight[o * inFeatures + i] - (w[o * inFeatures + i] + adapter.scale * delta)))
                }
            }
            #expect(worst < 1e-6, "\(name): \(worst)")
            #expect(bias == layer.bias?.values)
        }
    }

    @Test func mergedModelsGiveTheAdaptedLogits() throws {
        for fixture in ["tailor-tiny-bert-lora", "tailor-tiny-bert-pissa", "tailor-tiny-bert-dora", "tailor-tiny-bert-ia3"] {
            let adapted = try PEFTInteropTests.bert()
            _ = try PEFTAdapterFolder.loadAny(FixturePaths.path("peft/" + fixture), into: adapted)
            let merged = try BaseMerge.mergedParameters(of: adapted)
            let folder = TemporaryFolder()
            try SafeTensorsWriter.write(
                merged.map { TensorData(name: $0.name, dtype: .f32, shape: $0.shape, bytes: $0.values.withUnsafeBytes { Array($0) }) },
                metadata: nil, to: folder.file("model.safetensors"))
            let store = WeightStore(try Checkpoint.open(folder.file("model.safetensors")))
            let plain = try Bert(config: adapted.config, weights: store, withClassifier: true, trainable: false)
            let ids = TokenBatch(ids: [[5, 9, 27, 3, 40, 7], [12, 8, 30, 2, 2, 2]])
            let difference =
                zip(adapted.classify(Graph(recording: false), ids).values, plain.classify(Graph(recording: false), ids).values)
                .map { abs($0 - $1) }.max() ?? 1
            #expect(difference < 1e-5, "\(fixture): \(difference)")
        }
    }

    @Test func inputSideMethodsAndBottlenecksAreRefused() throws {
        let bert = try PEFTInteropTests.bert()
        _ = try PEFTAdapterFolder.loadAny(FixturePaths.path("peft/tailor-tiny-bert-prefix"), into: bert)
        #expect { _ = try BaseMerge.mergedParameters(of: bert) } throws: { "\($0)".contains("prefix") }
        let other = try PEFTInteropTests.bert()
        _ = try BottleneckModel(base: other, config: BottleneckConfig(targets: .names(["output.dense"]), size: 4))
        #expect { _ = try BaseMerge.mergedParameters(of: other) } throws: { "\($0)".contains("nonlinear") }
    }
}

extension BaseMergeTests {
    /// merge_and_unload in place: the adapted layers fold (plain LoRA by the GEMM path, DoRA by the
    /// identity pass), adapters are gone, and the logits are the adapted ones.
    @Test func mergeAndUnloadKeepsTheAdaptedLogits() throws {
        for fixture in ["tiny-bert-lora", "tiny-bert-dora"] {
            let bert = try PEFTInteropTests.bert()
            _ = try AdapterStack.load(
                [
                    (
                        AdapterStack.Member(reference: fixture, weight: fixture.hasSuffix("lora") ? 0.6 : 1),
                        AdapterFiles(folder: FixturePaths.path("peft/" + fixture))
                    )
                ], into: bert)
            let ids = TokenBatch(ids: [[5, 9, 27, 3, 40, 7], [12, 8, 30, 2, 2, 2]])
            let before = bert.classify(Graph(recording: false), ids).values
            try BaseMerge.mergeAndUnload(bert)
            #expect(bert.linearModuleNames.allSatisfy { bert.linear(named: $0)!.adapters.isEmpty })
            let difference = zip(before, bert.classify(Graph(recording: false), ids).values).map { abs($0 - $1) }.max() ?? 1
            #expect(difference < 1e-5, "\(fixture): \(difference)")
        }
    }
}
