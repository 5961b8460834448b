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

    /// Our f16 export holds the same tensor bytes as llama.cpp's convert_hf_to_gguf.py made of the
    /// same folder (Scripts/reference/gguf_goldens.py), and the converter's file imports back to
    /// the folder's weights rounded to f16, with the same tokenizer.
    @Test func llamaCppsConverterAndOursAgree() throws {
        let folder = TemporaryFolder()
        _ = try GGUFModelExport.write(model: Self.llama, adapters: [], outtype: "f16", output: folder.file("ours.gguf"))
        let ours = try GGUFFile(path: folder.file("ours.gguf"))
        let theirs = try GGUFFile(path: FixturePaths.path("gguf/tiny-llama-f16.gguf"))
        #expect(Set(ours.tensors.map(\.name)) == Set(theirs.tensors.map(\.name)))
        for info in theirs.tensors {
            let mine = try ours.tensor(info.name)
            #expect(mine.type == info.type && mine.dimensions == info.dimensions, "\(info.name)")
            #expect(Array(ours.bytes(of: mine)) == Array(theirs.bytes(of: info)), "\(info.name): bytes")
        }
        for key in [
            "llama.block_count", "llama.context_length", "llama.embedding_length", "llama.feed_forward_length",
            "llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon",
            "llama.rope.dimension_count", "general.file_type", "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
            "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.padding_token_id", "tokenizer.ggml.add_bos_token",
        ] {
            #expect(ours[key] == theirs[key], "\(key)")
        }
        _ = try GGUFImport.run(FixturePaths.path("gguf/tiny-llama-f16.gguf"), output: folder.file("hf"), baseModel: nil)
        let original = try SafeTensorsFile(path: Self.llama + "/model.safetensors")
        let imported = try SafeTensorsFile(path: folder.file("hf/model.safetensors"))
        for name in original.tensorNames {
            let rounded =
                try original.tensor(name).shape.count == 1
                ? try original.tensor(name).floats() : try original.tensor(name).floats().map { Float(Float16($0)) }
            #expect(try imported.tensor(name).floats() == rounded, "\(name)")
        }
        let (a, b) = (try Tokenizer(path: Self.llama), try Tokenizer(path: folder.file("hf")))
        for text in Self.texts { #expect(a.encode(text).ids == b.encode(text).ids, "\(text)") }
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
