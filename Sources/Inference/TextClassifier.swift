import Adapters
import Models
import Tokenizers
import TrainingCore

/// One classified text as `tailor classify --json` prints it (one object per line) and the server
/// returns it: the schema both share.
public struct ClassifiedText: Codable, Sendable, Equatable {
    public var text: String
    public var label: String
    public var logits: [Float]
    /// The adapter or stack the input line named ("" for the base); nil (and no key) when the
    /// line named none, so plain inputs print what they always printed.
    public var adapter: String?

    public enum CodingKeys: String, CodingKey, CaseIterable { case text, label, logits, adapter }

    public init(text: String, result: TextClassifier.Result, adapter: String? = nil) {
        self.text = text
        label = result.label
        logits = result.logits
        self.adapter = adapter
    }
}

/// Classifies texts with a model folder's classification head and tokenizer.
public final class TextClassifier {
    public struct Result: Sendable {
        public var logits: [Float]
        public var label: String
        public var labelIndex: Int
    }

    public let model: any TransformerModel
    public let tokenizer: Tokenizer
    public var maxLength: Int
    public var batchSize = 16
    /// With switching on: the attached adapter stacks (the `adapters` given at init are slot 0).
    public let slots: AdapterSlots?

    /// Loads `folder` with the stack `adapters` on top (none: the base alone). With `switching`
    /// the stack becomes slot 0 of ``slots`` and more can be attached and chosen per text.
    public init(
        folder: String, adapters: [(member: AdapterStack.Member, files: AdapterFiles)] = [], maxLength: Int? = nil,
        switching: Bool = false
    ) throws {
        model = try ModelLoader.load(folder: folder, head: .sequenceClassification, labels: adapters.lazy.compactMap(\.files.labels).first)
        slots = try AdapterSlots.serve(adapters, on: model, switching: switching)
        tokenizer = try Tokenizer(path: folder)
        // Without a length asked for, texts are cut to what the model's position table holds
        // (transformers' truncation=True), not refused for being long.
        self.maxLength = maxLength ?? min(tokenizer.configuredMaxLength ?? 512, model.tokenCapacity ?? Int.max)
        let head = model.classificationHeadName
        let headSaved = try adapters.contains { adapter in
            ((try adapter.files.configJSON())["modules_to_save"] as? [String] ?? []).contains { entry in
                head.map { ModulesToSave.covers(entry, module: $0) } ?? false
            }
        }
        untrainedWeights = headSaved ? [] : model.newlyInitialized
    }

    /// Weights of the classification head (and pooler) the model folder lacks and no adapter
    /// supplies: they were initialised at random, so the labels mean nothing. Callers warn, as
    /// transformers does ("newly initialized: ['classifier.bias', 'classifier.weight']").
    public let untrainedWeights: [String]

    /// Logits and the arg-max label for each text (with an optional second text per input).
    /// `slots` (with switching on) names each text's adapter slot (−1: the base; none given: the
    /// default slot); texts with different slots share batches, except that texts whose heads have
    /// different numbers of labels (adapters for different tasks) run in separate batches. The
    /// slots travel with each forward pass: nothing shared is changed.
    public func classify(_ texts: [String], pairs: [String]? = nil, slots textSlots: [Int]? = nil) throws -> [Result] {
        precondition(
            textSlots == nil || (slots != nil && textSlots!.count == texts.count),
            "per-text slots need switching and one slot per text")
        precondition(textSlots?.allSatisfy { slots!.contains($0) } ?? true, "a text's slot is not attached")
        precondition(pairs == nil || pairs!.count == texts.count, "one pair text per text")
        precondition(batchSize > 0, "batchSize must be positive")
        let textSlots = textSlots ?? slots.map { [Int](repeating: $0.defaultSlot, count: texts.count) }
        let head = model.classificationHeadName
        let baseWidth = head.flatMap { model.linear(named: $0)?.outFeatures } ?? model.labels.count
        func width(_ index: Int) -> Int {
            guard let slot = textSlots?[index], slot != AdapterSlots.base, let head else { return baseWidth }
            return slots?.outFeatures(of: head, slot: slot) ?? baseWidth
        }
        var groups: [Int: [Int]] = [:]
        for index in texts.indices { groups[width(index), default: []].append(index) }
        var results = [Result?](repeating: nil, count: texts.count)
        for indices in groups.keys.sorted().map({ groups[$0]! }) {
            for start in stride(from: 0, to: indices.count, by: batchSize) {
                let batchIndices = Array(indices[start..<min(indices.count, start + batchSize)])
                let encodings = tokenizer.encodeBatch(
                    batchIndices.map { texts[$0] }, pairs: pairs.map { p in batchIndices.map { p[$0] } },
                    maxLength: maxLength, padding: .longest, padId: model.padId(using: tokenizer),
                    side: model.family.paddingSide)
                let batch = TokenBatch(
                    ids: encodings.map(\.ids), mask: encodings.map { $0.attentionMask.map { $0 != 0 } },
                    tokenTypes: encodings.map(\.typeIds))
                try model.checkTokens(batch, file: tokenizer.path)
                let logits = model.forward(
                    Graph(recording: false, adapterSlots: textSlots.map { s in batchIndices.map { s[$0] } } ?? []),
                    batch)
                let values = logits.values, columns = logits.columns
                for (row, index) in batchIndices.enumerated() {
                    let slot = textSlots?[index] ?? AdapterSlots.base
                    var labels = (slot != AdapterSlots.base ? slots?.labels[slot] : nil) ?? model.labels
                    if labels.count != columns { labels = (0..<columns).map { "LABEL_\($0)" } }
                    let rowLogits = Array(values[(row * columns)..<((row + 1) * columns)])
                    let best = rowLogits.indices.max { rowLogits[$0] < rowLogits[$1] } ?? 0
                    results[index] = Result(logits: rowLogits, label: labels[best], labelIndex: best)
                }
            }
        }
        return results.map { $0! }
    }
}
