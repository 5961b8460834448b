import Foundation
import Jinja
import Tokenizers

/// A chat request's prompt text, through the model's chat template as transformers'
/// `apply_chat_template(messages, tools=…, add_generation_prompt=…)` writes it.
enum ChatPrompt {
    /// Renders the request whose JSON body is `body`. The body is read again as an ordered value:
    /// tool schemas and tool-call arguments are printed with `tojson`, and their key order is part
    /// of the prompt. Content given as text parts becomes the joined string `messages` holds.
    static func render(_ body: Data, messages: [ChatMessage], addGenerationPrompt: Bool, info: ModelInfo) throws -> String {
        let template: ChatTemplate
        switch info.chatTemplate {
        case .success(let loaded): template = loaded
        case .failure(let error): throw ServingError.invalid("\(error); use /v1/completions")
        }
        guard case .object(let request) = try Value(json: body), case .array(var ordered)? = request["messages"] else {
            throw ServingError.invalid("`messages` must be a list", param: "messages")
        }
        for (index, message) in messages.enumerated() {
            guard case .object(var fields) = ordered[index] else { continue }
            fields["content"] = message.content.map { .string($0) } ?? Value.none
            ordered[index] = .object(fields)
        }
        var extra: [String: Value] = [:]
        if case .object(let kwargs)? = request["chat_template_kwargs"] {
            for (key, value) in kwargs.pairs { extra[key] = value }
        }
        var tools: Value?
        if let given = request["tools"], case .array = given { tools = given }
        do {
            return try template.render(
                messages: .array(ordered), addGenerationPrompt: addGenerationPrompt, tools: tools, extraContext: extra)
        } catch let error as ChatTemplateError {
            // A template's raise_exception is the client's mistake (roles out of order, say).
            throw ServingError.invalid(error.message, param: "messages")
        }
    }
}
