import Foundation
import Quantization
import SafeTensors
import TrainingCore

/// A model built from a Hugging Face folder, by `model_type`.
public enum LoadedModel {
    case bert(Bert)
    case llama(Llama)

    /// Every parameter with its Hugging Face name.
    public var namedParameters: [(String, Tensor)] {
        switch self {
        case .bert(let model): return model.namedParameters
        case .llama(let model): return model.namedParameters
        }
    }

    /// Rows of the input embedding table: every token id must be below it.
    public var vocabularySize: Int {
        switch self {
        case .bert(let model): return model.config.vocabSize
        case .llama(let model): return model.config.vocabSize
        }
    }

    /// The label names of a classification head.
    public var labels: [String] {
        switch self {
        case .bert(let model): return model.config.labels
        case .llama(let model): return model.config.labels
        }
    }
}

/// Builds models from folders (config.json + safetensors, sharded or not, f32/f16/bf16 or
/// bitsandbytes 4-bit).
public enum ModelLoader {
    /// What the model is for, which decides the head.
    public enum Task: Sendable {
        /// Text classification: BERT's pooler + classifier, Llama's `score` on the last token.
        case sequenceClassification
        /// Next-token prediction (Llama family only).
        case causalLM
        /// The encoder alone (BERT): hidden states, embeddings.
        case encoder
    }

    /// `labels` overrides config.json's id2label (an adapter trained for other labels).
    public static func load(folder: String, task: Task, trainable: Bool = false, labels: [String]? = nil,
                            quantize: QuantType? = nil) throws -> LoadedModel {
        let config = try ConfigReader(path: folder + "/config.json")
        let modelType = try config.string("model_type")
        let weights = try WeightStore(Checkpoint.open(folder))
        weights.quantizeLinearWeights = quantize
        switch modelType {
        case "bert":
            guard task != .causalLM else { throw ModelError(file: config.path, "a BERT model cannot generate text (model_type bert)") }
            var bertConfig = try BertConfig(config)
            if let labels { bertConfig.labels = labels }
            return .bert(try Bert(config: bertConfig, weights: weights, withClassifier: task == .sequenceClassification,
                                  trainable: trainable))
        case "llama", "mistral", "qwen2":
            guard task != .encoder else {
                throw ModelError(file: config.path, "\(modelType) is a decoder; use classification or generation")
            }
            var llamaConfig = try LlamaConfig(config)
            if let labels { llamaConfig.labels = labels }
            return .llama(try Llama(config: llamaConfig, weights: weights,
                                    head: task == .causalLM ? .causalLM : .sequenceClassification, trainable: trainable))
        default:
            throw ModelError(file: config.path, "model_type \"\(modelType)\" is not supported (bert, llama, mistral, qwen2)")
        }
    }
}
