import Adapters
import Models
import Tokenizers
import TrainingCore

/// Classifies texts with a model folder's classification head and tokenizer.
public final class TextClassifier {
    public struct Result: Sendable {
        public var logits: [Float]
        public var label: String
        public var labelIndex: Int
    }

    public let model: LoadedModel
    public let tokenizer: Tokenizer
    public var maxLength: Int
    public var batchSize = 16

    /// Loads `folder`, with the PEFT adapter in `adapter` on top when given.
    public init(folder: String, adapter: String? = nil, maxLength: Int? = nil) throws {
        let labels = try adapter.flatMap { try PEFTAdapterFolder.labels(in: $0) }
        model = try ModelLoader.load(folder: folder, task: .sequenceClassification, labels: labels)
        if let adapter {
            switch model {
            case .bert(let bert): _ = try PEFTAdapterFolder.loadAny(adapter, into: bert)
            case .llama(let llama): _ = try PEFTAdapterFolder.loadAny(adapter, into: llama)
            }
        }
        tokenizer = try Tokenizer(path: folder)
        self.maxLength = maxLength ?? tokenizer.configuredMaxLength ?? 512
    }

    /// Logits and the arg-max label for each text (with an optional second text per input).
    public func classify(_ texts: [String], pairs: [String]? = nil) throws -> [Result] {
        var results: [Result] = []
        for start in stride(from: 0, to: texts.count, by: batchSize) {
            let range = start..<min(texts.count, start + batchSize)
            let encodings = tokenizer.encodeBatch(Array(texts[range]), pairs: pairs.map { Array($0[range]) }, maxLength: maxLength,
                                                  padding: .longest, padId: padId)
            let batch = TokenBatch(ids: encodings.map(\.ids), mask: encodings.map { $0.attentionMask.map { $0 != 0 } },
                                   tokenTypes: encodings.map(\.typeIds))
            try checkIds(batch)
            let graph = Graph(recording: false)
            let logits: Tensor
            switch model {
            case .bert(let bert): logits = bert.classify(graph, batch)
            case .llama(let llama): logits = llama.classify(graph, batch)
            }
            let labels = model.labels
            let values = logits.values
            for row in 0..<batch.batch {
                let rowLogits = Array(values[(row * labels.count)..<((row + 1) * labels.count)])
                let best = rowLogits.indices.max { rowLogits[$0] < rowLogits[$1] } ?? 0
                results.append(Result(logits: rowLogits, label: labels[best], labelIndex: best))
            }
        }
        return results
    }

    private var padId: Int {
        switch model {
        case .bert: return tokenizer.configuredPadId ?? tokenizer.id(of: "[PAD]") ?? 0
        case .llama(let llama): return llama.config.padTokenId ?? tokenizer.configuredPadId ?? 0
        }
    }

    private func checkIds(_ batch: TokenBatch) throws {
        let vocab: Int
        switch model {
        case .bert(let bert): vocab = bert.config.vocabSize
        case .llama(let llama): vocab = llama.config.vocabSize
        }
        if let bad = batch.ids.first(where: { $0 < 0 || $0 >= vocab }) {
            throw ModelError(file: tokenizer.path, "token id \(bad) is outside the model's vocabulary of \(vocab)")
        }
        if case .bert(let bert) = model, batch.length > bert.tokenCapacity {
            throw ModelError(file: tokenizer.path, "\(batch.length) tokens exceed the \(bert.tokenCapacity) positions the model has for them; lower --max-length")
        }
    }
}
