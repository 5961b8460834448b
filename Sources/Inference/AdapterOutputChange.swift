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

    public static func measure(base: String, original: String, stored: String, sequences: Int = 4, length: Int = 16,
                               seed: UInt64 = 7) throws -> Result {
        func logits(_ adapter: String) throws -> [Float] {
            let (model, classification) = try PEFTAdapterFolder.loadWithBase(adapter, base: base)
            return ModelSample.logits(model, classification: classification, sequences: sequences, length: length, seed: seed)
        }
        return ModelSample.compare(try logits(original), try logits(stored))
    }
}

/// Logits on a fixed sample of random token ids: enough to compare two versions of one model
/// without a tokenizer or data.
public enum ModelSample {
    public static func logits(_ model: LoadedModel, classification: Bool, sequences: Int = 4, length: Int = 16,
                              seed: UInt64 = 7) -> [Float] {
        var rng = RandomGenerator(seed: seed)
        let graph = Graph(recording: false)
        switch model {
        case .bert(let bert):
            let n = min(length, bert.tokenCapacity)
            let ids = (0..<sequences).map { _ in (0..<n).map { _ in Int(rng.next() % UInt64(bert.config.vocabSize)) } }
            return bert.classify(graph, TokenBatch(ids: ids)).values
        case .llama(let llama):
            let ids = (0..<sequences).map { _ in (0..<length).map { _ in Int(rng.next() % UInt64(llama.config.vocabSize)) } }
            return classification ? llama.classify(graph, TokenBatch(ids: ids)).values : llama.logits(graph, TokenBatch(ids: ids)).values
        }
    }

    public static func compare(_ before: [Float], _ after: [Float]) -> AdapterOutputChange.Result {
        let changes = zip(before, after).map { abs($0 - $1) }
        return AdapterOutputChange.Result(maxChange: changes.max() ?? 0, meanChange: changes.reduce(0, +) / Float(max(changes.count, 1)),
                                          logits: changes.count)
    }
}
