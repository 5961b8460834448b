import Adapters
import Inference
import Models
import Tokenizers

/// The model the engine serves, with its adapter slots.
struct ServedModel {
    enum Kind {
        case generator(any CausalLanguageModel, contextLength: Int)
        case classifier(TextClassifier)
    }

    let kind: Kind
    let tokenizer: Tokenizer
    let slots: AdapterSlots
    let chatTemplate: Result<ChatTemplate, TokenizerError>

    init(_ configuration: ServerConfiguration) throws {
        chatTemplate = Result { try ChatTemplate(folder: configuration.model) }.mapError {
            $0 as? TokenizerError ?? TokenizerError(file: configuration.model, "\($0)")
        }
        let task = try configuration.task ?? Self.defaultTask(configuration.model)
        switch task {
        case .generate:
            let generator = try TextGenerator(
                folder: configuration.model, switching: true, quantizeHead: configuration.quantizeHead ? .nf4 : nil,
                computeDType: configuration.computeDType)
            kind = .generator(generator.model, contextLength: generator.contextLength())
            tokenizer = generator.tokenizer
            slots = generator.slots!
        case .classify:
            let classifier = try TextClassifier(folder: configuration.model, switching: true)
            kind = .classifier(classifier)
            tokenizer = classifier.tokenizer
            slots = classifier.slots!
        }
    }

    var info: ModelInfo {
        switch kind {
        case let .generator(model, contextLength):
            ModelInfo(
                task: .generate, tokenizer: tokenizer, contextLength: contextLength, vocabularySize: model.vocabularySize,
                chatTemplate: chatTemplate)
        case let .classifier(classifier):
            ModelInfo(
                task: .classify, tokenizer: tokenizer, contextLength: classifier.maxLength, vocabularySize: tokenizer.vocabularySize,
                chatTemplate: chatTemplate)
        }
    }

    /// Generation when the model's family has a causal-LM head, else classification.
    static func defaultTask(_ folder: String) throws -> ServerConfiguration.Task {
        try ModelFamilies.family(ofFolder: folder).heads.contains(.causalLM) ? .generate : .classify
    }
}
