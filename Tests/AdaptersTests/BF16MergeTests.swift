import Foundation
import Models
import SafeTensors
import TailorTestSupport
import Testing

@testable import Adapters

/// A merge (what deploy and whole-model saves write) of a base whose bf16 weights and embedding
/// table stay in place lists every tensor, with exactly the values of the same base widened.
@Suite struct BF16MergeTests {
    @Test func mergedParametersOfAnInPlaceBaseAreComplete() throws {
        let scratch = TemporaryFolder()
        let folder = scratch.file("bf16")
        _ = try CheckpointConversion.convert(Checkpoint.open(FixturePaths.path("tiny-llama")), to: .bf16, output: folder)
        func load(inPlace: Bool) throws -> Llama {
            let weights = try WeightStore(Checkpoint.open(folder))
            weights.keepsHalfInPlace = inPlace
            return try Llama(
                config: LlamaConfig(ConfigReader(path: folder + "/config.json")), weights: weights, head: .causalLM, trainable: false)
        }
        let inPlace = try BaseMerge.mergedParameters(of: load(inPlace: true))
        let widened = try BaseMerge.mergedParameters(of: load(inPlace: false))
        #expect(Set(inPlace.map(\.name)) == Set(widened.map(\.name)))
        #expect(inPlace.contains { $0.name == "model.embed_tokens.weight" })
        let byName = Dictionary(uniqueKeysWithValues: widened.map { ($0.name, $0) })
        for tensor in inPlace {
            #expect(tensor.shape == byName[tensor.name]?.shape && tensor.values == byName[tensor.name]?.values, "\(tensor.name)")
        }
    }
}
