import Tokenizers
import TrainingCore

/// What a loaded model computes at its top: decides which head is built and what `forward` returns.
public enum ModelHead: String, Sendable, Codable, CaseIterable {
    /// Labels per sequence: BERT's pooler + classifier, a decoder's `score` on the last token.
    case sequenceClassification = "sequence-classification"
    /// Next-token logits at every position.
    case causalLM = "causal-lm"
    /// The last hidden state alone (embeddings).
    case encoder
    /// Labels per token (named entities): a Linear `classifier` on every position.
    case tokenClassification = "token-classification"
    /// An answer span's start and end logits per token: `qa_outputs`, a Linear to 2.
    case questionAnswering = "question-answering"
    /// An encoder-decoder's next-token logits at every decoder position (T5).
    case seq2seqLM = "seq2seq-lm"

    /// PEFT's `task_type` for adapters trained with this head.
    public var peftTaskType: String {
        switch self {
        case .sequenceClassification: "SEQ_CLS"
        case .causalLM: "CAUSAL_LM"
        case .encoder: "FEATURE_EXTRACTION"
        case .tokenClassification: "TOKEN_CLS"
        case .questionAnswering: "QUESTION_ANS"
        case .seq2seqLM: "SEQ_2_SEQ_LM"
        }
    }

    /// The end of transformers' class name for a model with this head ("ForTokenClassification").
    public var classSuffix: String? {
        switch self {
        case .sequenceClassification: "ForSequenceClassification"
        case .causalLM: "ForCausalLM"
        case .encoder: nil
        case .tokenClassification: "ForTokenClassification"
        case .questionAnswering: "ForQuestionAnswering"
        case .seq2seqLM: "ForConditionalGeneration"
        }
    }

    /// The modules PEFT's task model for this head adds to `modules_to_save` (its
    /// `classifier_module_names`, `qa_module_names`), found or not.
    public var peftHeadModules: [String] {
        switch self {
        case .sequenceClassification, .tokenClassification: ["classifier", "score"]
        case .questionAnswering: ["qa_outputs"]
        case .causalLM, .encoder, .seq2seqLM: []
        }
    }

    /// Whether the head continues text (``CausalLanguageModel``): a decoder's, or an encoder-decoder's.
    public var generates: Bool { self == .causalLM || self == .seq2seqLM }

    /// Whether the head's outputs are named labels (config.json's id2label).
    public var hasLabels: Bool { self == .sequenceClassification || self == .tokenClassification }

    /// The head a PEFT `task_type` implies, nil for one this code has no head for.
    public init?(peftTaskType: String) {
        guard let head = Self.allCases.first(where: { $0.peftTaskType == peftTaskType }) else { return nil }
        self = head
    }
}

/// Which end of a row padding goes to when a batch is padded to one length.
public typealias PaddingSide = Tokenizer.PaddingSide

/// One architecture as config.json's `model_type` names it: how its config is read, which heads
/// it has, PEFT's defaults for it, and how its model is built. Everything outside `Models` sees a
/// family and its ``TransformerModel`` only through these two protocols, so a new architecture is
/// one file that implements them plus one line in ``ModelFamilies/table``.
public protocol ModelFamily: Sendable {
    /// The family's name in messages ("BERT", "Llama").
    var name: String { get }
    /// The heads a model of this family can be loaded with.
    var heads: [ModelHead] { get }
    /// The head used when nothing asks for another (an encoder classifies, a decoder generates).
    var defaultHead: ModelHead { get }
    /// PEFT's default LoRA `target_modules` (its TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING).
    var defaultLoRATargets: [String] { get }
    /// PEFT's default IA3 targets and the feed-forward ones among them (scaled on their input).
    var defaultIA3Targets: (targets: [String], feedforward: [String]) { get }
    /// The output projections Houlsby bottleneck adapters follow.
    var bottleneckTargets: [String] { get }
    /// Where batches are padded.
    var paddingSide: PaddingSide { get }
    /// Whether the checkpoint's Linear layers are Conv1D (weights stored `[in, out]`, GPT-2):
    /// PEFT's `fan_in_fan_out` is then true.
    var conv1DLinears: Bool { get }
    /// transformers' class name for a model of this family with `head` (config.json's `architectures`).
    func architecture(for head: ModelHead) -> String
    /// Prepares `weights` before the model reads them: checkpoint prefixes to accept, tensors
    /// stored in another layout (GPT-2's Conv1D keeps weights as `[in, out]`).
    func sanitize(_ weights: WeightStore)
    /// Builds the model from `config` and `weights` with `head`; `labels` overrides config.json's
    /// id2label (an adapter trained for other labels).
    func load(
        _ config: ConfigReader, weights: WeightStore, head: ModelHead, trainable: Bool,
        labels: [String]?
    ) throws -> any TransformerModel
}

extension ModelFamily {
    public func sanitize(_ weights: WeightStore) {}
    public var paddingSide: PaddingSide { .right }
    public var conv1DLinears: Bool { false }

    /// `wanted` when this family has that head, else its default: what a folder, an adapter's
    /// task_type or a fine-tuned folder's `architectures` asks for, within what the family can do.
    public func head(for wanted: ModelHead?) -> ModelHead {
        wanted.flatMap { heads.contains($0) ? $0 : nil } ?? defaultHead
    }

    /// The head a fine-tuned folder was saved with, from config.json's `architectures`.
    public func head(savedIn config: ConfigReader) -> ModelHead {
        let architectures = config.values["architectures"] as? [String] ?? []
        let saved = ModelHead.allCases.first { head in
            !head.generates && head.classSuffix.map { suffix in architectures.contains { $0.hasSuffix(suffix) } } == true
        }
        return head(for: saved)
    }
}

/// What prompt and prefix tuning record about the base (PEFT's config fields) and need to size
/// their tables: hidden size, layers, heads, and the key/value width (narrower under GQA).
public struct PromptGeometry: Sendable, Equatable {
    public var hiddenSize, layers, heads, keyValueWidth, keyValueHeads: Int
    /// Positions the base has (`max_position_embeddings`); virtual tokens take some of them.
    public var maxPositions: Int

    public init(hiddenSize: Int, layers: Int, heads: Int, keyValueWidth: Int, keyValueHeads: Int, maxPositions: Int) {
        (self.hiddenSize, self.layers, self.heads) = (hiddenSize, layers, heads)
        (self.keyValueWidth, self.keyValueHeads, self.maxPositions) = (keyValueWidth, keyValueHeads, maxPositions)
    }
}

/// A model of any family, loaded with one head: what training, inference, adapters and merges use.
public protocol TransformerModel: AdaptableModel {
    var family: any ModelFamily { get }
    var head: ModelHead { get }
    /// Every parameter with its Hugging Face name (for optimizers, saving, merges).
    var namedParameters: [(String, Tensor)] { get }
    /// Rows of the input embedding table: every token id must be below it.
    var vocabularySize: Int { get }
    /// The label names of the classification head.
    var labels: [String] { get }
    /// `max_position_embeddings`.
    var maxPositions: Int { get }
    /// The most tokens one sequence may hold where positions are a learned table that ends (less
    /// what virtual tokens and a prefix take); nil where positions are computed (rotary).
    var tokenCapacity: Int? { get }
    /// End-of-sequence ids: generation stops there, causal-LM examples end with the first.
    var eosTokenIds: [Int] { get }
    /// The id padding uses with `tokenizer`.
    func padId(using tokenizer: Tokenizer) -> Int
    /// An encoder-decoder's first decoder input (`decoder_start_token_id`); nil for other models.
    var decoderStartTokenId: Int? { get }
    /// The checkpoint's classification head had another number of labels than asked for, so a new
    /// one was initialised (transformers' `ignore_mismatched_sizes`): the stored one's count.
    var replacedHeadLabels: Int? { get }
    /// The output Linear that shares the input embedding table (tied `lm_head`), nil when none.
    var tiedOutputModule: String? { get }
    /// Frozen tensors outside Linear layers kept in their stored form (a bf16 embedding table),
    /// which ``namedParameters`` (f32 tensors) cannot list: saves and merges widen them.
    var storedTensors: [(name: String, weight: any StoredLinearWeight)] { get }
    /// Gives dropout a generator derived from (seed, step): reproducible, resumable training.
    func reseedDropout(seed: UInt64, step: Int)
    /// Whether training recomputes each layer in backward (``Graph/checkpoint(_:_:)``) rather than
    /// keep its activations: less memory for one more forward pass.
    var gradientCheckpointing: Bool { get set }
    /// The precision of the passes the model runs itself (``CausalLanguageModel/step(_:cache:adapterSlot:)``);
    /// a caller's graph carries its own.
    var computeDType: ComputeDType { get set }
    /// The causal-LM head's input `[B·T, C]` and the head itself, so that the loss can run the
    /// head a few rows at a time; nil without a causal-LM head.
    func causalLMHidden(_ graph: Graph, _ batch: TokenBatch) -> (hidden: Tensor, head: LinearLayer)?
    /// A parameter as the checkpoint stores it: `values` in the layout held here (every Linear
    /// `[out, in]`) turned into the family's file layout (GPT-2's Conv1D keeps `[in, out]`).
    func checkpointLayout(_ name: String, values: [Float], shape: [Int]) -> (values: [Float], shape: [Int])
    /// The head's output: `[B, labels]` (sequence classification), `[B·T, V]` (causal LM, virtual
    /// tokens' rows included), `[B·T, C]` (encoder).
    func forward(_ graph: Graph, _ batch: TokenBatch) -> Tensor
}

extension TransformerModel {
    public var decoderStartTokenId: Int? { nil }
    public func causalLMHidden(_ graph: Graph, _ batch: TokenBatch) -> (hidden: Tensor, head: LinearLayer)? { nil }
    public func checkpointLayout(_ name: String, values: [Float], shape: [Int]) -> (values: [Float], shape: [Int]) { (values, shape) }

    /// Virtual tokens prompt tuning puts before every sequence.
    var virtualTokenCount: Int { virtualTokens?.rows ?? 0 }

    /// The causal-LM loss as transformers computes it: position t predicts label t+1; labels
    /// below 0 (−100), virtual tokens and the last position are ignored.
    public func causalLMLoss(_ graph: Graph, _ batch: TokenBatch, labels: [Int]) -> Tensor {
        let shifted = causalLMTargets(batch, labels: labels)
        if let (hidden, head) = causalLMHidden(graph, batch) { return graph.crossEntropy(hidden: hidden, head: head, targets: shifted) }
        return graph.crossEntropy(forward(graph, batch), targets: shifted)
    }

    /// What each output row `[B·(T + virtual)]` of a causal LM predicts: the label after it.
    func causalLMTargets(_ batch: TokenBatch, labels: [Int]) -> [Int] {
        let n = virtualTokenCount
        let (b, t) = (batch.batch, batch.length + n)
        var full = [Int](repeating: -100, count: b * t)
        for row in 0..<b {
            for position in 0..<batch.length { full[row * t + n + position] = labels[row * batch.length + position] }
        }
        var shifted = [Int](repeating: -100, count: b * t)
        for row in 0..<b {
            for position in 0..<(t - 1) { shifted[row * t + position] = full[row * t + position + 1] }
        }
        return shifted
    }

    /// How many terms ``loss(_:_:targets:)`` averages for this batch: the targets its
    /// cross-entropies count (after the causal LM's shift), or the rows of a span loss. A loss of
    /// several parts weighted by these counts is the loss of the parts together, which is how
    /// data-parallel ranks combine theirs.
    public func lossTermCount(_ batch: TokenBatch, targets: [Int]) -> Int {
        switch head {
        case .causalLM: causalLMTargets(batch, labels: targets).reduce(0) { $1 >= 0 ? $0 + 1 : $0 }
        case .sequenceClassification, .encoder, .tokenClassification, .seq2seqLM: targets.reduce(0) { $1 >= 0 ? $0 + 1 : $0 }
        case .questionAnswering: batch.batch
        }
    }

    /// The training loss for the loaded head (cross-entropy on labels per row, or the causal-LM
    /// loss on labels per token) and, for classification, the logits its metrics need.
    public func loss(_ graph: Graph, _ batch: TokenBatch, targets: [Int]) -> (loss: Tensor, logits: Tensor?) {
        switch head {
        case .causalLM:
            return (causalLMLoss(graph, batch, labels: targets), nil)
        case .sequenceClassification, .encoder, .tokenClassification, .seq2seqLM:
            let logits = forward(graph, batch)
            return (graph.crossEntropy(logits, targets: targets), logits)
        case .questionAnswering:
            return questionAnsweringLoss(graph, batch, targets: targets)
        }
    }

    /// transformers' span loss: cross-entropy of the start logits `[B, T]` against each row's
    /// start token and of the end logits against its end token, averaged. `targets` holds every
    /// row's start, then every row's end. The logits returned are the head's `[B·T, 2]`.
    func questionAnsweringLoss(_ graph: Graph, _ batch: TokenBatch, targets: [Int]) -> (loss: Tensor, logits: Tensor?) {
        let logits = forward(graph, batch)
        let (b, t) = (batch.batch, batch.length)
        let starts = graph.reshape(graph.columns(logits, 0..<1), [b, t])
        let ends = graph.reshape(graph.columns(logits, 1..<2), [b, t])
        let sum = graph.add(
            graph.crossEntropy(starts, targets: Array(targets.prefix(b))), graph.crossEntropy(ends, targets: Array(targets.suffix(b))))
        let loss = graph.scale(sum, by: 0.5)
        return (loss, logits)
    }

    /// Refuses ids outside the embedding table (the lookup reads rows unchecked) and sequences
    /// longer than the positions the model has; `file` is the tokenizer that made them.
    public func checkTokens(_ batch: TokenBatch, file: String) throws {
        if let bad = batch.ids.first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw ModelError(file: file, "token id \(bad) is outside the model's vocabulary of \(vocabularySize)")
        }
        if let capacity = tokenCapacity, batch.length > capacity {
            throw ModelError(
                file: file,
                "\(batch.length) tokens exceed the \(capacity) positions the model has for them; "
                    + "truncate the input")
        }
    }
}

/// A model that continues text token by token with a ``KVCache``: stepping needs the causal-LM
/// head (``ModelLoader/loadCausalLM(folder:)`` loads one).
public protocol CausalLanguageModel: TransformerModel {
    /// A cache for up to `capacity` tokens of one sequence (prefix tuning's entries come first).
    func makeCache(capacity: Int) -> KVCache
    /// Logits `[T, V]` for `ids` following what `cache` holds; appends their keys and values.
    /// `adapterSlot` routes the pass on a switchable model (nil: its default slot).
    func step(_ ids: [Int], cache: KVCache, adapterSlot: Int?) -> Tensor
    /// ``step(_:cache:adapterSlot:)`` returning the last position's logits `[1, V]` only: a
    /// prompt's pass before generation.
    func prefill(_ ids: [Int], cache: KVCache, adapterSlot: Int?) -> Tensor
    /// Next-token logits `[B, V]` for one token per sequence, each with its own cache and, on a
    /// switchable model, its own adapter slot.
    func step(batch tokens: [Int], caches: [KVCache], adapterSlots: [Int]?) -> Tensor
}
