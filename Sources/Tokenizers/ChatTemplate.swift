import Diagnostics
import Foundation
import Jinja

/// A model's chat template, rendering conversations exactly as transformers'
/// `apply_chat_template(messages, tokenize=False, add_generation_prompt=…)` does.
///
/// Read from a model folder: `chat_template.jinja` when present (recent transformers saves it there), otherwise
/// `chat_template` in `tokenizer_config.json` (a string, or a list of `{name, template}` of which "default" is
/// used, and "tool_use" when tools are given). The template sees `messages`, `tools`, `documents`,
/// `add_generation_prompt`, the special tokens as strings (`bos_token`, `eos_token`, `unk_token`, `sep_token`,
/// `pad_token`, `cls_token`, `mask_token`) and any extra variables.
///
/// Templates such as Llama 3's print the BOS themselves; transformers therefore tokenizes a rendered chat
/// without adding special tokens. Do the same (`addSpecialTokens: false`), or check ``beginsWithBOS(_:)``.
public struct ChatTemplate: Sendable {
    /// Where the template came from, for errors.
    public let file: String
    /// The template used without tools (transformers' "default").
    public let source: String
    /// Named templates (`tool_use`, `rag`…) from a list-valued `chat_template`.
    public let named: [String: String]
    /// Special token strings passed to the template, by attribute name (`bos_token` …).
    public let specialTokens: [String: String]
    private let compiled: [String: Template]

    /// The BOS token the template is given, if the tokenizer has one.
    public var bosToken: String? { specialTokens["bos_token"] }
    public var eosToken: String? { specialTokens["eos_token"] }

    static let specialTokenNames = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]

    /// A template from its source and the special tokens it should see.
    public init(
        source: String, named: [String: String] = [:], specialTokens: [String: String] = [:], file: String = "chat_template"
    )
        throws
    {
        self.file = file
        self.source = source
        self.named = named
        self.specialTokens = specialTokens
        var compiled: [String: Template] = [:]
        for (name, text) in [("default", source)] + named.sorted(by: { $0.key < $1.key }) {
            do {
                compiled[name] = try Template(text)
            } catch let error as TemplateError {
                throw TokenizerError(file: file, "chat template\(name == "default" ? "" : " '\(name)'"): \(error)")
            }
        }
        self.compiled = compiled
    }

    /// Reads the chat template and special tokens of a model folder (or of a `tokenizer_config.json` path).
    public init(folder path: String) throws {
        var isFolder: ObjCBool = false
        let folder =
            FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
            ? path : (path as NSString).deletingLastPathComponent
        let configFile = folder + "/tokenizer_config.json"
        let config = try Self.readObject(configFile, required: true)
        var tokens: [String: String] = [:]
        // special_tokens_map.json fills what tokenizer_config.json leaves out, as transformers merges them.
        let map = try Self.readObject(folder + "/special_tokens_map.json", required: false)
        for name in Self.specialTokenNames {
            if let token = Self.tokenString(config[name]) ?? Self.tokenString(map[name]) { tokens[name] = token }
        }
        let jinjaFile = folder + "/chat_template.jinja"
        if FileManager.default.fileExists(atPath: jinjaFile) {
            let bytes = try TextFile.bytes(jinjaFile, for: TokenizersModule.self)
            guard let text = String(validating: bytes, as: UTF8.self) else { throw TokenizerError(file: jinjaFile, "is not valid UTF-8") }
            try self.init(source: text, specialTokens: tokens, file: jinjaFile)
            return
        }
        switch config["chat_template"] {
        case let text as String:
            try self.init(source: text, specialTokens: tokens, file: configFile)
        case let list as [Any]:
            var named: [String: String] = [:]
            for entry in list {
                guard let entry = entry as? [String: Any], let name = entry["name"] as? String, let text = entry["template"] as? String
                else { throw TokenizerError(file: configFile, "chat_template list entries need a name and a template") }
                named[name] = text
            }
            guard let fallback = named.removeValue(forKey: "default") else {
                throw TokenizerError(file: configFile, "chat_template has no \"default\" template (has \(named.keys.sorted()))")
            }
            try self.init(source: fallback, named: named, specialTokens: tokens, file: configFile)
        default:
            throw TokenizerError(file: configFile, "has no chat_template (and there is no chat_template.jinja)")
        }
    }

    private static func readObject(_ file: String, required: Bool) throws -> [String: Any] {
        guard required || FileManager.default.fileExists(atPath: file) else { return [:] }
        let data = Data(try TextFile.bytes(file, for: TokenizersModule.self))
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TokenizerError(file: file, "not a JSON object")
        }
        return object
    }

    /// A special token written as a string or as an AddedToken object (`{"content": …}`).
    private static func tokenString(_ value: Any?) -> String? {
        if let text = value as? String { return text }
        if let object = value as? [String: Any] { return object["content"] as? String }
        return nil
    }

    /// Renders a conversation. `messages` and `tools` are JSON-like values (an OpenAI request's `messages`,
    /// nested `tool_calls` included); pass them as ``Value`` parsed with `Value(json:)` to keep key order.
    /// - Parameters:
    ///   - addGenerationPrompt: end with the header of an assistant turn, for generation.
    ///   - tools: tool schemas; selects the "tool_use" template when the model has one.
    ///   - extraContext: more variables (`date_string`, `enable_thinking`…); they override special tokens.
    /// - Throws: ``TokenizerError`` naming the template file; a template's `raise_exception` message is kept
    ///   whole after "chat template: " (transformers raises it as `TemplateError(message)`).
    public func render(
        messages: Value, addGenerationPrompt: Bool = false, tools: Value? = nil, documents: Value? = nil,
        extraContext: [String: Value] = [:], options: RenderOptions = RenderOptions()
    ) throws -> String {
        let name = tools != nil && compiled["tool_use"] != nil ? "tool_use" : "default"
        var context: [String: Value] = specialTokens.mapValues { .string($0) }
        for (key, value) in extraContext { context[key] = value }
        context["messages"] = messages
        context["tools"] = tools ?? Value.none
        context["documents"] = documents ?? Value.none
        context["add_generation_prompt"] = .bool(addGenerationPrompt)
        do {
            return try compiled[name]!.render(context, options: options)
        } catch let error as TemplateError {
            throw ChatTemplateError(file: file, error: error)
        }
    }

    /// ``render(messages:addGenerationPrompt:tools:documents:extraContext:options:)`` for `JSONSerialization`-style
    /// messages (`[[String: Any]]`).
    public func render(
        messages: [[String: Any]], addGenerationPrompt: Bool = false, tools: [[String: Any]]? = nil,
        extraContext: [String: Value] = [:], options: RenderOptions = RenderOptions()
    ) throws -> String {
        try render(
            messages: Value(any: messages), addGenerationPrompt: addGenerationPrompt, tools: tools.map { Value(any: $0) },
            extraContext: extraContext, options: options)
    }

    /// Whether `rendered` already starts with the BOS token, so encoding must not add another.
    public func beginsWithBOS(_ rendered: String) -> Bool {
        guard let bos = bosToken, !bos.isEmpty else { return false }
        return rendered.hasPrefix(bos)
    }
}

/// A chat template that failed to render: the file, and the template's error (for `raise_exception`, its
/// message unchanged in ``templateError``).
public struct ChatTemplateError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let templateError: TemplateError

    init(file: String, error: TemplateError) {
        self.file = file
        self.templateError = error
    }

    /// The template's own message when it refused the conversation (`raise_exception`), else the error.
    public var message: String { templateError.kind == .raised ? templateError.message : templateError.description }

    public var description: String { "\(file): chat template: \(message)" }
}
