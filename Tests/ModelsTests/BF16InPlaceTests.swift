import Foundation
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

@testable import Models

/// A bf16 (or f16) folder's frozen Linear weights stay so where the file maps them; the model computes
/// what it computes with the same weights widened to f32 (the values are the same, only the order
/// of the sums differs), for whole sequences, one decoding token and a small batch of tokens.
@Suite struct BF16InPlaceTests {
    /// tiny-llama converted to bf16 (a folder: weights, config and tokenizer), in `scratch`.
    static func bf16Llama(in scratch: TemporaryFolder) throws -> String {
        let folder = scratch.file("bf16")
        _ = try CheckpointConversion.convert(Checkpoint.open(FixturePaths.path("tiny-llama")), to: .bf16, output: folder)
        return folder
    }

    static func load(_ folder: String, inPlace: Bool) throws -> Llama {
        let weights = try WeightStore(Checkpoint.open(folder))
        weights.keepsHalfInPlace = inPlace
        return try Llama(
            config: LlamaConfig(ConfigReader(path: folder + "/config.json")), weights: weights, head: .causalLM, trainable: false)
    }

    @Test(arguments: [DType.bf16, .f16])
    func inPlaceEqualsWidened(dtype: DType) throws {
        let scratch = TemporaryFolder()
        let folder = scratch.file("half")
        _ = try CheckpointConversion.convert(Checkpoint.open(FixturePaths.path("tiny-llama")), to: dtype, output: folder)
        let inPlace = try Self.load(folder, inPlace: true), widened = try Self.load(folder, inPlace: false)
        guard case .half(let q) = inPlace.layers[0].qProj.weight, case .half = inPlace.embedTokens,
            case .dense = widened.layers[0].qProj.weight, case .dense = widened.embedTokens
        else {
            Issue.record("the in-place model should hold 16-bit weights, the other f32")
            return
        }
        #expect(q.format == (dtype == .bf16 ? .bf16 : .f16))
        let batch = TokenBatch(ids: [[5, 17, 99, 3, 42, 7, 11, 8, 60, 9], [3, 250, 42, 7, 11, 8, 1, 2, 3, 4]])
        let (a, b) = (inPlace.forward(Graph(recording: false), batch).values, widened.forward(Graph(recording: false), batch).values)
        #expect(maxDifference(a, b).difference < 1e-4, "whole sequences")
        let caches = [inPlace.makeCache(capacity: 8), widened.makeCache(capacity: 8)]
        _ = inPlace.step([5, 17], cache: caches[0])
        _ = widened.step([5, 17], cache: caches[1])
        let next = (inPlace.step([99], cache: caches[0]).values, widened.step([99], cache: caches[1]).values)
        #expect(maxDifference(next.0, next.1).difference < 1e-4, "one decoding token")
        #expect(inPlace.storedTensors.map(\.name) == ["model.embed_tokens.weight"])
        #expect(!inPlace.namedParameters.contains { $0.0 == "model.embed_tokens.weight" })
    }
}
