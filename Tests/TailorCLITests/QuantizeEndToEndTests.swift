import Foundation
import SafeTensors
import Testing

@Suite struct QuantizeEndToEndTests {
    @Test func quantizeThenDequantizeTheTinyLlama() throws {
        let folder = TemporaryFolder()
        let quantized = try TailorProcess.run(["quantize", TailorProcess.fixture("tiny-llama"), "--output", folder.file("nf4"), "--json"])
        #expect(quantized.status == 0, "\(quantized.stderr)")
        let report = try #require(quantized.json)
        #expect(report["quantized"] as? Int == 14)
        #expect((report["bytes_after"] as? Int ?? .max) < (report["bytes_before"] as? Int ?? 0))
        #expect((report["snr_db"] as? Double ?? 0) > 15, "NF4 keeps about 20 dB on Gaussian weights")
        #expect((report["weights"] as? [Any])?.count == 14)

        let inspect = try TailorProcess.run(["inspect", folder.file("nf4"), "--json"])
        let weights = try #require(inspect.json?["quantized_weights"] as? [[String: Any]])
        #expect(weights.count == 14)
        #expect(weights.allSatisfy { $0["quant_type"] as? String == "nf4" && $0["nested"] as? Bool == true })
        #expect(inspect.json?["parameters"] as? Int == 123_200, "the logical count of the original model")

        let restored = try TailorProcess.run(["dequantize", folder.file("nf4"), "--output", folder.file("deq"), "--dtype", "bf16"])
        #expect(restored.status == 0, "\(restored.stderr)")
        let checkpoint = try Checkpoint.open(folder.file("deq"))
        #expect(checkpoint.info("model.layers.0.self_attn.q_proj.weight")?.dtype == .bf16)
        #expect(checkpoint.info("model.layers.0.self_attn.q_proj.weight")?.shape == [64, 64])
        #expect(checkpoint.info("model.embed_tokens.weight")?.dtype == .f32, "unquantized tensors keep their dtype")
    }

    @Test func skipModulesKeepsTheClassifier() throws {
        let folder = TemporaryFolder()
        let result = try TailorProcess.run([
            "quantize", TailorProcess.fixture("tiny-bert"), "--output", folder.path,
            "--skip-modules", "classifier,pooler", "--type", "fp4", "--no-double-quant",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let checkpoint = try Checkpoint.open(folder.path)
        #expect(checkpoint.info("classifier.weight")?.dtype == .f32)
        #expect(checkpoint.info("bert.pooler.dense.weight")?.dtype == .f32)
        #expect(checkpoint.info("bert.encoder.layer.0.attention.self.query.weight.quant_state.bitsandbytes__fp4") != nil)
        let config = try String(contentsOfFile: folder.file("config.json"), encoding: .utf8)
        #expect(config.contains("\"llm_int8_skip_modules\": [\n      \"classifier\",\n      \"pooler\"\n    ]"))
    }

    @Test func brokenFourBitCheckpointsGiveOneLine() throws {
        let source = try SafeTensorsFile(path: TailorProcess.fixture("tiny-bert-nf4/model.safetensors"))
        let weight = "bert.pooler.dense.weight"
        func variant(_ name: String, _ edit: (inout [TensorData]) -> Void) throws -> (TemporaryFolder, String) {
            let folder = TemporaryFolder()
            var tensors = source.tensors.map {
                TensorData(name: $0.name, dtype: $0.dtype, shape: $0.shape, bytes: source.view(of: $0).data)
            }
            edit(&tensors)
            try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: folder.file("model.safetensors"))
            try FileManager.default.copyItem(atPath: TailorProcess.fixture("tiny-bert-nf4/config.json"), toPath: folder.file("config.json"))
            return (folder, name)
        }
        let cases = [
            try variant("missing companion") { $0.removeAll { $0.spec.name == weight + ".nested_absmax" } },
            try variant("bad quant state JSON") { tensors in
                let i = tensors.firstIndex { $0.spec.name == weight + ".quant_state.bitsandbytes__nf4" }!
                tensors[i] = TensorData(name: tensors[i].spec.name, dtype: .u8, shape: [5], bytes: Array("{nope".utf8))
            },
            try variant("wrong packed size") { tensors in
                let i = tensors.firstIndex { $0.spec.name == weight }!
                tensors[i] = TensorData(name: weight, dtype: .u8, shape: [100, 1], bytes: [UInt8](repeating: 0, count: 100))
            },
        ]
        for (folder, label) in cases {
            let out = TemporaryFolder()
            let result = try TailorProcess.run(["dequantize", folder.path, "--output", out.file("deq")])
            #expect(result.status == 1, "\(label)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(label): \(result.stderr)")
            #expect(result.stderr.contains(weight), "\(label): names the weight: \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out.file("deq/model.safetensors")), "\(label): no output")
        }
    }

    @Test func refusesWhatItCannotQuantize() throws {
        let folder = TemporaryFolder()
        let already = try TailorProcess.run(["quantize", TailorProcess.fixture("tiny-bert-nf4"), "--output", folder.file("x")])
        #expect(already.status == 1)
        #expect(already.stderr.contains("already"))
        let badBlock = try TailorProcess.run([
            "quantize", TailorProcess.fixture("tiny-bert"), "--output", folder.file("y"), "--blocksize", "48",
        ])
        #expect(badBlock.status != 0)
        #expect(badBlock.stderr.contains("--blocksize"))
        let notQuantized = try TailorProcess.run(["dequantize", TailorProcess.fixture("tiny-bert"), "--output", folder.file("z")])
        #expect(notQuantized.status == 1)
        #expect(notQuantized.stderr.contains("not a bitsandbytes 4-bit checkpoint"))
    }
}
