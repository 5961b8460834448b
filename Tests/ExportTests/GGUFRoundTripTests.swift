import Adapters
import Foundation
import GGUF
import Models
import SafeTensors
import TailorTestSupport
import Testing
import Tokenizers
import TrainingCore

@testable import Export

/// HF → GGUF → HF and PEFT → LoRA GGUF → PEFT lose nothing in f32: the same tensors, the same
/// tokenizer ids, the same logits.
@Suite struct GGUFRoundTripTests {
    static let llama = FixturePaths.path("tiny-llama")
    static let texts = ["Hello, world! 123", "The river ran past the mill.\n\nNew paragraph:   spaces", "héllo <|end_of_text|>"]

    @Test func aModelComesBackBitForBit() throws {
        let folder = TemporaryFolder()
        _ = try GGUFModelExport.write(model: Self.llama, adapters: [], outtype: "f32", output: folder.file("m.gguf"))
        let report = try GGUFImport.run(folder.file("m.gguf"), output: folder.file("hf"), baseModel: nil)
        #expect(report.kind == "model")
        let original = try SafeTensorsFile(path: Self.llama + "/model.safetensors")
        let imported = try SafeTensorsFile(path: folder.file("hf/model.safetensors"))
        #expect(Set(imported.tensorNames) == Set(original.tensorNames))
        for name in original.tensorNames { #expect(try imported.tensor(name).floats() == original.tensor(name).floats(), "\(name)") }
        let (a, b) = (try Tokenizer(path: Self.llama), try Tokenizer(path: folder.file("hf")))
        for text in Self.texts { #expect(a.encode(text).ids == b.encode(text).ids, "\(text)") }
        let batch = TokenBatch(ids: [[0, 5, 17, 42, 99, 7]])
        let logits = try ModelLoader.load(folder: folder.file("hf"), head: .causalLM).forward(Graph(recording: false), batch).values
        #expect(logits == (try ModelLoader.load(folder: Self.llama, head: .causalLM).forward(Graph(recording: false), batch).values))
    }

    @Test func anAdapterComesBackWithTheSameLogits() throws {
        let folder = TemporaryFolder()
        let source = FixturePaths.path("peft/tiny-llama-lora")
        _ = try GGUFLoRAExport.write(
            model: Self.llama, adapter: AdapterFiles(folder: source), outtype: "f32", output: folder.file("a.gguf"))
        let report = try GGUFImport.run(folder.file("a.gguf"), output: folder.file("peft"), baseModel: Self.llama)
        #expect(report.kind == "lora" && report.tensors == 28)
        func logits(_ adapter: String) throws -> [Float] {
            let model = try ModelLoader.load(folder: Self.llama, head: .causalLM)
            _ = try PEFTAdapterFolder.loadAny(adapter, into: model)
            return model.forward(Graph(recording: false), TokenBatch(ids: [[0, 5, 17, 42, 99, 7]])).values
        }
        let difference = zip(try logits(source), try logits(folder.file("peft"))).map { abs($0 - $1) }.max() ?? 1
        #expect(difference < 1e-5, "logits differ by \(difference)")
        #expect { _ = try GGUFImport.run(folder.file("a.gguf"), output: folder.file("x"), baseModel: nil) } throws: {
            "\($0)".contains("--base-model")
        }
    }
}
