import TrainingCore

/// RoBERTa encoders (`RobertaModel`, `RobertaForSequenceClassification`): BERT's layers under
/// "roberta.", with positions that count real tokens from `pad_token_id + 1` (padding sits at
/// `pad_token_id`), one segment embedding, and a head of dense + tanh on `<s>` then `out_proj`
/// (dropout before each, no pooler).
public struct RobertaFamily: EncoderFamily {
    public init() {}
    public var name: String { "RoBERTa" }
    public var classPrefix: String { "Roberta" }
    public var layout: EncoderLayout { .roberta }
}

extension EncoderLayout {
    /// transformers' `create_position_ids_from_input_ids`: a token that is not padding gets
    /// `pad + (its count among real tokens) + offset`, padding gets `pad`. Given input embeddings
    /// (prompt tuning's virtual tokens first) it counts every position from `pad + 1` instead.
    public static let roberta = EncoderLayout(
        prefix: "roberta.", family: RobertaFamily(),
        positions: { ids, pad, offset, virtual in
            if virtual > 0 { return (0..<(ids.count + virtual)).map { pad + 1 + $0 } }
            var seen = 0
            return ids.map { id in
                guard id != pad else { return pad }
                seen += 1
                return pad + seen + offset
            }
        },
        headDense: "classifier.dense", headOutput: "classifier.out_proj", dropoutBeforeHeadDense: true, padsPositions: true)
}
