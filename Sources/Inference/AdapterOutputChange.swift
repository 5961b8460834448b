import Adapters
import Foundation
import Models
import TrainingCore

/// How much an adapter's outputs move when it is stored lossily: the same base with the original
/// and with the stored adapter, run on a fixed sample of random token ids (no tokenizer or data
/// needed), compared logit by logit.
public enum AdapterOutputChange {
    public struct Result: Sendable {
        public var maxChange: Float
        public var meanChange: Float
        public var logits: Int
    }

    public static func measure(
        base: String, original: String, stored: String, sequences: Int = 4, length: Int = 16,
        seed: UInt64 = 7
    ) throws -> Result {
        func logits(_ adapter: String) throws -> [Float] {
            let model = try PEFTAdapterFolder.loadWithBase(adapter, base: base)
            return ModelSample.logits(model, sequences: sequences, length: length, seed: seed)
        }
        return ModelSample.compare(try logits(original), try logits(stored))
    }
}

/// Logits on a fixed sample of random token ids: enough to compare two versions of one model
/// without a tokenizer or data.
public enum ModelSample {
    /// The outputs of the model's head on `sequences` random rows of `length` tokens (fewer
    /// where the model has fewer positions).
    public static func logits(_ model: any TransformerModel, sequences: Int = 4, length: Int = 16, seed: UInt64 = 7) -> [Float] {
        var rng = RandomGenerator(seed: seed)
        let n = min(length, model.tokenCapacity ?? length)
        let ids = (0..<sequences).map { _ in (0..<n).map { _ in Int(rng.next() % UInt64(model.vocabularySize)) } }
        return model.forward(Graph(recording: false), TokenBatch(ids: ids)).values
    }

    public static func compare(_ before: [Float], _ after: [Float]) -> AdapterOutputChange.Result {
        let changes = zip(before, after).map { abs($0 - $1) }
        return AdapterOutputChange.Result(
            maxChange: changes.max() ?? 0, meanChange: changes.reduce(0, +) / Float(max(changes.count, 1)),
            logits: changes.count)
    }
}
