import Foundation
import Models
import TailorTestSupport
import Testing
import Tokenizers

@testable import Training

/// Instruction tuning: a conversation rendered with the model's chat template trains on the
/// assistant's turns only (their text and end-of-turn tokens); prompt/completion records on the
/// completion; a conversation without a template is refused before training.
@Suite struct InstructionTuningTests {
    /// tiny-llama with SmolLM2's ChatML template.
    static func chatModel(_ folder: TemporaryFolder) throws -> String {
        let model = folder.file("chat-model")
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        for file in ["config.json", "model.safetensors", "tokenizer.json"] {
            try FileManager.default.copyItem(atPath: FixturePaths.path("tiny-llama/" + file), toPath: model + "/" + file)
        }
        let template = try String(contentsOfFile: FixturePaths.path("chat-templates/smollm2-instruct.jinja"), encoding: .utf8)
        let config: [String: Any] = ["chat_template": template, "bos_token": "<s>", "eos_token": "</s>"]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: model + "/tokenizer_config.json"))
        return model
    }

    static func trainedText(_ model: TaskModel, _ example: Example) -> (all: String, trained: [String]) {
        let (batch, targets) = model.encode([example])
        var pieces: [String] = [], current: [Int] = []
        for (id, target) in zip(batch.ids, targets) {
            if target >= 0 {
                #expect(target == id)
                current.append(id)
            } else if !current.isEmpty {
                pieces.append(model.tokenizer.decode(current, skipSpecialTokens: false))
                current = []
            }
        }
        if !current.isEmpty { pieces.append(model.tokenizer.decode(current, skipSpecialTokens: false)) }
        return (model.tokenizer.decode(batch.ids, skipSpecialTokens: false), pieces)
    }

    @Test func onlyAssistantTurnsAreTrained() throws {
        let folder = TemporaryFolder()
        let model = try TaskModel(
            folder: Self.chatModel(folder), task: .instructionTuning, method: .full, loraConfig: nil, maxLength: 512, seed: 0)
        #expect(model.chatTemplate != nil)
        let data = try Dataset.load(FixturePaths.path("tasks/instructions/messages.jsonl"), task: .instructionTuning)
        try model.checkTokenIds(of: data)
        let conversation = try #require(data.examples.first { ($0.messages ?? []).filter { $0["role"] == "assistant" }.count == 2 })
        let replies = conversation.messages!.filter { $0["role"] == "assistant" }.map { $0["content"]! }
        let (all, trained) = Self.trainedText(model, conversation)
        #expect(trained == replies.map { $0 + "<|im_end|>\n" })
        #expect(all.hasPrefix("<|im_start|>") && all.contains("<|im_start|>user\n"))
    }

    @Test func promptCompletionTrainsTheCompletion() throws {
        let folder = TemporaryFolder()
        let chat = try TaskModel(
            folder: Self.chatModel(folder), task: .instructionTuning, method: .full, loraConfig: nil, maxLength: 512, seed: 0)
        let example = Example(text: " licnep", prompt: "Reverse the word \"pencil\".\nAnswer:")
        #expect(Self.trainedText(chat, example).trained == [" licnep<|im_end|>\n"])
        // Without a chat template: the plain concatenation, the completion and EOS trained.
        let plain = try TaskModel(
            folder: FixturePaths.path("tiny-llama"), task: .instructionTuning, method: .full, loraConfig: nil, maxLength: 512, seed: 0)
        let eos = try #require(plain.model.eosTokenIds.first)
        let (batch, targets) = plain.encode([example])
        let trained = zip(batch.ids, targets).filter { $0.1 >= 0 }.map(\.0)
        #expect(trained.last == eos)
        #expect(plain.tokenizer.decode(Array(trained.dropLast())) == " licnep")
    }

    @Test func conversationsNeedATemplate() throws {
        let model = try TaskModel(
            folder: FixturePaths.path("tiny-llama"), task: .instructionTuning, method: .full, loraConfig: nil, maxLength: 64, seed: 0)
        let data = try Dataset.load(FixturePaths.path("tasks/instructions/messages.jsonl"), task: .instructionTuning)
        #expect(throws: TrainingError.self) { try model.checkTokenIds(of: data) }
        do {
            try model.checkTokenIds(of: data)
        } catch {
            #expect("\(error)".contains("no chat template"))
        }
    }

    @Test func badConversationRecordsAreNamed() throws {
        let folder = TemporaryFolder()
        func message(_ line: String) -> String {
            try? Data(line.utf8).write(to: URL(fileURLWithPath: folder.file("d.jsonl")))
            do {
                _ = try Dataset.load(folder.file("d.jsonl"), task: .instructionTuning)
                return "loaded"
            } catch { return "\(error)" }
        }
        #expect(message(#"{"messages": [{"role": "user", "content": "hi"}]}"#).contains("no assistant message"))
        #expect(message(#"{"messages": [{"role": "user"}]}"#).contains("messages[0]"))
        #expect(message(#"{"messages": []}"#).contains("as a list"))
        #expect(message(#"{"text": "x"}"#).contains("\"prompt\" and \"completion\""))
    }
}
