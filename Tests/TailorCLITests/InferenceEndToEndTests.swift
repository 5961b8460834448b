import Foundation
import Testing

@Suite struct InferenceEndToEndTests {
    @Test func classifyPrintsLogitsAndLabelPerInput() throws {
        let folder = TemporaryFolder()
        try Data("{\"text\": \"from a file\"}\n\n{\"text\": \"second\", \"text_pair\": \"with a pair\"}\n".utf8)
            .write(to: URL(fileURLWithPath: folder.file("in.jsonl")))
        let result = try TailorProcess.run([
            "classify", "--model", TailorProcess.fixture("tiny-bert"), "a lovely day",
            "--input", folder.file("in.jsonl"), "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(lines.count == 3)
        for line in lines {
            #expect((line["logits"] as? [Double])?.count == 2)
            #expect(["negative", "positive"].contains(line["label"] as? String ?? ""))
        }
        #expect(lines.map { $0["text"] as? String } == ["a lovely day", "from a file", "second"])
    }

    @Test func generateIsDeterministicGreedyAndSeededSampling() throws {
        let model = TailorProcess.fixture("tiny-llama")
        let greedy1 = try TailorProcess.run(["generate", "--model", model, "Hello", "--max-new-tokens", "6", "--json"])
        let greedy2 = try TailorProcess.run(["generate", "--model", model, "Hello", "--max-new-tokens", "6", "--greedy", "--json"])
        #expect(greedy1.status == 0, "\(greedy1.stderr)")
        #expect(greedy1.stdout == greedy2.stdout)
        let json = try #require(greedy1.json)
        let tokens = try #require(json["tokens"] as? [Int])
        #expect(!tokens.isEmpty && tokens.count <= 6)
        #expect(json["text"] is String)
        let sampled = [
            "generate", "--model", model, "Hello", "--max-new-tokens", "6", "--temperature", "0.9", "--top-k", "20",
            "--top-p", "0.9", "--seed", "7", "--json",
        ]
        #expect(try TailorProcess.run(sampled).stdout == (try TailorProcess.run(sampled)).stdout, "the same seed, the same text")
    }

    /// T5 generates through the same command: the source encoded once, greedy tokens as
    /// transformers' generate() gives them, batched or one by one.
    @Test func generateOnAnEncoderDecoderMatchesTransformers() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: TailorProcess.fixture("models/tiny-flan-t5-generate.json")))
        let golden = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try #require(golden["inputs"] as? [[String: Any]])
        let sources = cases.compactMap { $0["source"] as? String }
        let result = try TailorProcess.run(
            ["generate", "--model", TailorProcess.fixture("models/tiny-flan-t5"), "--greedy", "--max-new-tokens", "12", "--json"]
                + sources)
        #expect(result.status == 0, "\(result.stderr)")
        let printed = result.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(printed.count == cases.count)
        for (line, entry) in zip(printed, cases) {
            // transformers' output starts with the decoder start token and keeps the end token; ours neither.
            let expected = (entry["output_ids"] as? [Int] ?? []).dropFirst().filter { $0 != 1 }
            #expect(line["tokens"] as? [Int] == Array(expected), "\(entry["source"] ?? "")")
        }
    }

    @Test func benchReportsTokensPerSecond() throws {
        for mode in ["train", "infer"] {
            let result = try TailorProcess.run([
                "bench", mode, "--model", TailorProcess.fixture("tiny-llama"), "--batch-size", "2",
                "--max-length", "16", "--steps", "2", "--json",
            ])
            #expect(result.status == 0, "\(result.stderr)")
            #expect((result.json?["tokens_per_s"] as? Double ?? 0) > 0)
        }
        // The names earlier releases used (--batch, --seq) still work.
        let lora = try TailorProcess.run([
            "bench", "train", "--model", TailorProcess.fixture("tiny-bert"), "--method", "lora",
            "--batch", "2", "--seq", "16", "--steps", "2", "--json",
        ])
        #expect(lora.status == 0, "\(lora.stderr)")
        #expect((lora.json?["tokens_per_s"] as? Double ?? 0) > 0)
        let unknown = try TailorProcess.run(["bench", "train", "--model", TailorProcess.fixture("tiny-bert"), "--method", "prefix"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("--method"))
    }

    @Test func badModelFoldersGiveOneLine() throws {
        let folder = TemporaryFolder()
        try FileManager.default.copyItem(
            atPath: TailorProcess.fixture("tiny-bert/model.safetensors"), toPath: folder.file("model.safetensors"))
        try Data(#"{"model_type": "gpt_neox", "vocab_size": 10}"#.utf8).write(to: URL(fileURLWithPath: folder.file("config.json")))
        let unknown = try TailorProcess.run(["classify", "--model", folder.path, "text"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("gpt_neox"))
        #expect(unknown.stderr.split(separator: "\n").count == 1)
        let noTokenizer = try TailorProcess.run(["generate", "--model", TailorProcess.fixture("tiny-llama-nf4"), "Hi"])
        #expect(noTokenizer.status == 1)
        #expect(noTokenizer.stderr.contains("tokenizer.json"))
        let generateWithBert = try TailorProcess.run(["generate", "--model", TailorProcess.fixture("tiny-bert"), "Hi"])
        #expect(generateWithBert.status == 1)
        #expect(generateWithBert.stderr.contains("cannot generate"))
    }
}
