import Adapters
import Foundation
import GGUF
import Models
import SafeTensors
import TailorTestSupport
import Testing
import TrainingCore

@testable import Export

/// A Llama-family model and a LoRA adapter written as llama.cpp's converters write them: names,
/// rotary row order, hyper-parameters and tokenizer metadata; every tensor decodes back to the
/// Hugging Face values (exactly in f32).
@Suite struct GGUFExportTests {
    static let llama = FixturePaths.path("tiny-llama")

    @Test func aBaseModelInLlamaCppsLayout() throws {
        let folder = TemporaryFolder()
        let report = try GGUFModelExport.write(model: Self.llama, adapters: [], outtype: "f32", output: folder.file("m.gguf"))
        let file = try GGUFFile(path: folder.file("m.gguf"))
        #expect(report.tensors == file.tensors.count)
        #expect(file["general.architecture"] == .string("llama") && file["llama.block_count"] == .uint32(2))
        #expect(file["llama.attention.head_count"] == .uint32(4) && file["llama.attention.head_count_kv"] == .uint32(2))
        #expect(file["llama.rope.dimension_count"] == .uint32(16) && file["llama.context_length"] == .uint32(128))
        #expect(file["tokenizer.ggml.model"] == .string("gpt2") && file["tokenizer.ggml.pre"] == .string("llama-bpe"))
        #expect(file["tokenizer.ggml.tokens"]?.strings?.count == 384 && file["tokenizer.ggml.bos_token_id"] == .uint32(0))
        let checkpoint = try SafeTensorsFile(path: Self.llama + "/model.safetensors")
        for (hfName, ggufName) in [
            ("model.embed_tokens.weight", "token_embd.weight"), ("model.layers.1.mlp.down_proj.weight", "blk.1.ffn_down.weight"),
            ("model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"), ("lm_head.weight", "output.weight"),
            ("model.layers.0.self_attn.v_proj.weight", "blk.0.attn_v.weight"),
        ] {
            #expect(try file.floats(of: file.tensor(ggufName)) == checkpoint.tensor(hfName).floats(), "\(ggufName)")
        }
        // q and k: each head's two halves interleaved (q over 4 heads, k over the 2 key/value heads).
        for (hfName, ggufName, heads) in [
            ("model.layers.1.self_attn.q_proj.weight", "blk.1.attn_q.weight", 4),
            ("model.layers.1.self_attn.k_proj.weight", "blk.1.attn_k.weight", 2),
        ] {
            let original = try checkpoint.tensor(hfName), exported = try file.floats(of: file.tensor(ggufName))
            let (rows, columns) = (original.shape[0], original.shape[1]), headRows = rows / heads
            let values = try original.floats()
            for row in [0, 1, 2, headRows - 1, rows - 1] {
                let h = row / headRows, within = row % headRows
                let source = h * headRows + (within % 2) * (headRows / 2) + within / 2
                #expect(
                    Array(exported[(row * columns)..<((row + 1) * columns)]) == Array(values[(source * columns)..<((source + 1) * columns)])
                )
            }
        }
    }

    @Test(arguments: ["f16", "bf16", "q8_0", "q4_0"]) func quantizedModelsDecodeWithinTheirPrecision(_ outtype: String) throws {
        let folder = TemporaryFolder()
        _ = try GGUFModelExport.write(model: Self.llama, adapters: [], outtype: outtype, output: folder.file("m.gguf"))
        let file = try GGUFFile(path: folder.file("m.gguf"))
        let tensor = try file.tensor("blk.0.ffn_up.weight")
        #expect(tensor.type.name.lowercased() == outtype)
        #expect(try file.tensor("blk.0.ffn_norm.weight").type == .f32)
        let original = try SafeTensorsFile(path: Self.llama + "/model.safetensors").tensor("model.layers.0.mlp.up_proj.weight").floats()
        let decoded = try file.floats(of: tensor)
        let worst = zip(original, decoded).map { abs($0 - $1) }.max()!, scale = original.map(abs).max()!
        let bound: Float = ["f16": 1e-3, "bf16": 8e-3, "q8_0": 1e-2, "q4_0": 0.15][outtype]!
        #expect(worst <= bound * scale, "\(outtype): worst error \(worst) of \(scale)")
    }

    @Test func aLoRAAdapterForLlamaCpp() throws {
        let folder = TemporaryFolder()
        let source = FixturePaths.path("peft/tiny-llama-lora")
        let report = try GGUFLoRAExport.write(
            model: Self.llama, adapter: AdapterFiles(folder: source), outtype: "f32", output: folder.file("a.gguf"))
        let file = try GGUFFile(path: folder.file("a.gguf"))
        #expect(file["general.type"] == .string("adapter") && file["adapter.type"] == .string("lora"))
        // rsLoRA: llama.cpp scales by alpha / r, so alpha is written as the scale α/√r times r.
        #expect(report.alpha == 32 && file["adapter.lora.alpha"] == .float32(32))
        let peft = try SafeTensorsFile(path: source + "/adapter_model.safetensors")
        let a = try peft.tensor("base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight")
        let b = try peft.tensor("base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight")
        #expect(try file.floats(of: file.tensor("blk.0.attn_v.weight.lora_a")) == a.floats())
        // v_proj has alpha_pattern 4: its scale 4/√4 = 2 is folded in against the file's 32/4 = 8.
        let folded = try file.floats(of: file.tensor("blk.0.attn_v.weight.lora_b"))
        #expect(zip(folded, try b.floats()).allSatisfy { abs($0 - $1 * 0.25) <= 1e-7 * max(1, abs($1)) })
        #expect(try file.tensor("blk.0.attn_q.weight.lora_a").shape == [8, 64], "q_proj's rank_pattern 8 is kept")
    }

    @Test func whatLlamaCppCannotTakeIsRefused() throws {
        let folder = TemporaryFolder()
        #expect {
            _ = try GGUFLoRAExport.write(
                model: Self.llama, adapter: AdapterFiles(folder: FixturePaths.path("peft/tiny-llama-dora")), outtype: "f32",
                output: folder.file("d.gguf"))
        } throws: {
            "\($0)".contains("DoRA") && "\($0)".contains("merge")
        }
        #expect {
            _ = try GGUFLoRAExport.write(
                model: Self.llama, adapter: AdapterFiles(folder: FixturePaths.path("peft/tiny-llama-ia3")), outtype: "f32",
                output: folder.file("i.gguf"))
        } throws: {
            "\($0)".contains("merge it into the base first")
        }
        #expect {
            _ = try GGUFModelExport.write(
                model: FixturePaths.path("tiny-bert"), adapters: [], outtype: "f16", output: folder.file("b.gguf"))
        } throws: {
            "\($0)".contains("llama, mistral and qwen2")
        }
        #expect { _ = try GGUFModelExport.write(model: Self.llama, adapters: [], outtype: "q2_k", output: folder.file("x.gguf")) } throws: {
            "\($0)".contains("not one of")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty, "nothing half-written")
    }

    /// An output that is an input (directly or through a symlink) is refused; an existing file
    /// is replaced only with overwrite.
    @Test func outputsNeverReplaceInputs() throws {
        let folder = TemporaryFolder()
        let model = folder.file("model")
        try FileManager.default.copyItem(atPath: Self.llama, toPath: model)
        let before = try Data(contentsOf: URL(fileURLWithPath: model + "/model.safetensors"))
        #expect {
            _ = try GGUFModelExport.write(model: model, adapters: [], outtype: "f16", output: model + "/model.safetensors")
        } throws: {
            "\($0)".contains("overwrite the input")
        }
        try FileManager.default.createSymbolicLink(atPath: folder.file("link.gguf"), withDestinationPath: model + "/config.json")
        #expect {
            _ = try GGUFModelExport.write(model: model, adapters: [], outtype: "f16", output: folder.file("link.gguf"), overwrite: true)
        } throws: {
            "\($0)".contains("overwrite the input")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: model + "/model.safetensors")) == before)
        _ = try GGUFModelExport.write(model: model, adapters: [], outtype: "f16", output: folder.file("m.gguf"))
        #expect { _ = try GGUFModelExport.write(model: model, adapters: [], outtype: "f16", output: folder.file("m.gguf")) } throws: {
            "\($0)".contains("already exists")
        }
        _ = try GGUFModelExport.write(model: model, adapters: [], outtype: "q8_0", output: folder.file("m.gguf"), overwrite: true)
        #expect(try GGUFFile(path: folder.file("m.gguf"))["general.file_type"] == .uint32(7))
    }
}
