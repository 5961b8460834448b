import Foundation
import Jinja
import TailorTestSupport
import Testing

@testable import Tokenizers

/// Where a model folder keeps its chat template and special tokens, as transformers reads them.
@Suite struct ChatTemplateFolderTests {
    func folder(config: [String: Any], jinja: String? = nil, specialTokensMap: [String: Any]? = nil) throws -> TemporaryFolder {
        let folder = TemporaryFolder()
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder.file("tokenizer_config.json")))
        if let jinja { try jinja.write(toFile: folder.file("chat_template.jinja"), atomically: true, encoding: .utf8) }
        if let specialTokensMap {
            try JSONSerialization.data(withJSONObject: specialTokensMap).write(
                to: URL(fileURLWithPath: folder.file("special_tokens_map.json")))
        }
        return folder
    }

    let user: [[String: Any]] = [["role": "user", "content": "Hi"]]

    @Test func readsAStringTemplateAndAddedTokenObjects() throws {
        let folder = try folder(config: [
            "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.role }}:{{ m.content }}{{ eos_token }}{% endfor %}",
            "bos_token": ["__type": "AddedToken", "content": "<s>", "lstrip": false], "eos_token": "</s>",
        ])
        let template = try ChatTemplate(folder: folder.path)
        let text = try template.render(messages: user)
        #expect(text == "<s>user:Hi</s>")
        #expect(template.beginsWithBOS(text))
        #expect(!template.beginsWithBOS("user:Hi"))
        #expect(try ChatTemplate(folder: folder.file("tokenizer_config.json")).source == template.source)
    }

    @Test func chatTemplateJinjaTakesPrecedence() throws {
        let folder = try folder(config: ["chat_template": "from config"], jinja: "from the jinja file\n")
        let template = try ChatTemplate(folder: folder.path)
        #expect(try template.render(messages: user) == "from the jinja file")
        #expect(template.file.hasSuffix("chat_template.jinja"))
    }

    @Test func namedTemplatesPickToolUseWhenToolsAreGiven() throws {
        let folder = try folder(config: [
            "chat_template": [["name": "default", "template": "plain"], ["name": "tool_use", "template": "tools: {{ tools | length }}"]]
        ])
        let template = try ChatTemplate(folder: folder.path)
        #expect(try template.render(messages: user) == "plain")
        #expect(try template.render(messages: user, tools: [["type": "function"]]) == "tools: 1")
    }

    @Test func specialTokensMapFillsMissingTokens() throws {
        let folder = try folder(
            config: ["chat_template": "{{ bos_token }}|{{ pad_token }}|{{ unk_token is defined }}", "pad_token": "<pad>"],
            specialTokensMap: ["bos_token": ["content": "<|begin|>"], "pad_token": "<ignored>"])
        #expect(try ChatTemplate(folder: folder.path).render(messages: user) == "<|begin|>|<pad>|False")
    }

    @Test func missingTemplateNamesTheFile() throws {
        let folder = try folder(config: ["bos_token": "<s>"])
        #expect {
            try ChatTemplate(folder: folder.path)
        } throws: { error in
            "\(error)".hasSuffix("tokenizer_config.json: has no chat_template (and there is no chat_template.jinja)")
        }
        let broken = try self.folder(config: ["chat_template": "{% for %}"])
        #expect {
            try ChatTemplate(folder: broken.path)
        } throws: { error in
            "\(error)".contains("tokenizer_config.json: chat template: line 1: expected a name")
        }
    }

    @Test func toolsAndDocumentsAreNoneUnlessGivenAndExtraContextOverrides() throws {
        let template = try ChatTemplate(
            source: "{{ tools is none }} {{ documents is none }} {{ add_generation_prompt }} {{ bos_token }} {{ date_string }}",
            specialTokens: ["bos_token": "<s>"])
        let text = try template.render(messages: user, addGenerationPrompt: true, extraContext: ["bos_token": "B", "date_string": "today"])
        #expect(text == "True True True B today")
    }

    @Test func refusalsKeepTheTemplatesMessage() throws {
        let template = try ChatTemplate(source: "{{ raise_exception('Roles must alternate') }}", file: "model/tokenizer_config.json")
        #expect {
            try template.render(messages: user)
        } throws: { error in
            guard let error = error as? ChatTemplateError else { return false }
            return error.message == "Roles must alternate"
                && error.description == "model/tokenizer_config.json: chat template: Roles must alternate"
        }
    }

    /// OpenAI requests arrive as JSON: key order survives into tojson, and nested tool_calls work.
    @Test func openAIMessagesFromJSONKeepKeyOrder() throws {
        let request = """
            {"messages": [{"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
              "function": {"name": "lookup", "arguments": {"zeta": 1, "alpha": [true, 2.5, null]}}}]}]}
            """
        guard case let .object(body) = try Value(json: request), let messages = body["messages"] else {
            throw TemplateError(.type, "no messages")
        }
        let template = try ChatTemplate(
            source: "{% for m in messages %}{{ m.content }}|{{ m.tool_calls[0].function.arguments | tojson }}{% endfor %}")
        #expect(try template.render(messages: messages) == "None|{\"zeta\": 1, \"alpha\": [true, 2.5, null]}")
    }
}
