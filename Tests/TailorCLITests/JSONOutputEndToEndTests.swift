import Adapters
import Foundation
import Inference
import SafeTensors
import Testing
import Training

@testable import TailorCLI

/// A Codable result whose coding keys are the `--json` keys; lets the checks below list them.
protocol JSONSchema: Decodable {
    associatedtype CodingKeys: CodingKey & CaseIterable
}

extension ClassifiedText: JSONSchema {}
extension GeneratedText: JSONSchema {}
extension Evaluation.Result: JSONSchema {}
extension AdapterMerge.Report: JSONSchema {}
extension AdapterMerge.Report.Registered: JSONSchema {}
extension DeployMerge.Report: JSONSchema {}
extension AdapterDiff: JSONSchema {}
extension AdapterDiff.ConfigDifference: JSONSchema {}
extension AdapterDiff.Module: JSONSchema {}
extension AdapterDiff.Role: JSONSchema {}
extension StepBenchmark.Result: JSONSchema {}
extension SwitchBenchmark.Result: JSONSchema {}
extension GenerationBenchmark.Result: JSONSchema {}
extension TaggedText: JSONSchema {}
extension TaggedEntity: JSONSchema {}
extension AnswerCommand.Printed: JSONSchema {}

/// Snapshots of the `--json` schemas. Each command runs on the fixtures; every line must decode
/// into the library type it came from, and the keys seen must equal both the keys pinned here
/// (what scripts rely on) and the type's coding keys. Renaming or dropping a key, in the type or
/// in the printing, fails here.
@Suite struct JSONOutputEndToEndTests {
    typealias Object = [String: Any]

    /// The objects `tailor arguments…` prints, one per line, after checking it succeeded.
    static func run(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> [(data: Data, object: Object)] {
        let result = try TailorProcess.run(arguments)
        #expect(result.status == 0, "\(arguments.prefix(2)): \(result.stderr)", sourceLocation: sourceLocation)
        let lines = result.stdout.split(separator: "\n").map { Data($0.utf8) }
        #expect(!lines.isEmpty, "\(arguments.prefix(2)) printed nothing", sourceLocation: sourceLocation)
        return try lines.map { line in
            (line, try #require(try JSONSerialization.jsonObject(with: line) as? Object, sourceLocation: sourceLocation))
        }
    }

    static func codingKeys<T: JSONSchema>(of type: T.Type) -> Set<String> { Set(T.CodingKeys.allCases.map(\.stringValue)) }

    /// Checks that `objects` (all of one type) together use exactly `pinned`, the type's coding
    /// keys, and that each decodes as `T`; returns them decoded.
    @discardableResult
    static func expectSchema<T: JSONSchema>(
        _ type: T.Type, _ objects: [Object], pinned: Set<String>,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> [T] {
        let seen = objects.reduce(into: Set<String>()) { $0.formUnion($1.keys) }
        #expect(seen == pinned, "\(T.self): printed \(seen.sorted())", sourceLocation: sourceLocation)
        #expect(codingKeys(of: type) == pinned, "\(T.self): coding keys \(codingKeys(of: type).sorted())", sourceLocation: sourceLocation)
        return try objects.map { object in
            try JSONDecoder().decode(T.self, from: JSONSerialization.data(withJSONObject: object))
        }
    }

    static let peft = TailorProcess.fixture("peft")
    static let tinyBert = TailorProcess.fixture("tiny-bert")
    static let tinyLlama = TailorProcess.fixture("tiny-llama")

    @Test func classify() throws {
        let folder = TemporaryFolder()
        let input = [#"{"text": "so so", "adapter": ""}"#, #"{"text": "great", "adapter": "\#(Self.peft)/tiny-bert-lora"}"#]
        try Data(input.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: folder.file("in.jsonl")))
        let lines = try Self.run(["classify", "--model", Self.tinyBert, "a lovely day", "--input", folder.file("in.jsonl"), "--json"])
        let results = try Self.expectSchema(ClassifiedText.self, lines.map(\.object), pinned: ["text", "label", "logits", "adapter"])
        #expect(results.map(\.adapter) == [nil, "", Self.peft + "/tiny-bert-lora"], "a line naming no adapter prints no adapter key")
        #expect(results.allSatisfy { $0.logits.count == 2 })
    }

    @Test func generate() throws {
        let folder = TemporaryFolder()
        try Data(#"{"prompt": "Dear team", "adapter": ""}"#.utf8).write(to: URL(fileURLWithPath: folder.file("in.jsonl")))
        let lines = try Self.run([
            "generate", "--model", Self.tinyLlama, "Hello", "--input", folder.file("in.jsonl"),
            "--max-new-tokens", "3", "--json",
        ])
        let results = try Self.expectSchema(
            GeneratedText.self, lines.map(\.object),
            pinned: ["prompt", "tokens", "text", "truncated_prompt_tokens", "adapter"])
        #expect(results.map(\.prompt) == ["Hello", "Dear team"] && results.map(\.adapter) == [nil, ""])
    }

    /// Each task prints its metrics (classification accuracy and f1, causal LM perplexity, token
    /// classification entity precision/recall/f1, QA exact match and f1, summarization ROUGE):
    /// together every key.
    @Test func eval() throws {
        let folder = TemporaryFolder()
        let text = (0..<4).map { #"{"prompt": "Q\#($0)", "completion": " A\#($0)"}"# }.joined(separator: "\n")
        try Data(text.utf8).write(to: URL(fileURLWithPath: folder.file("qa.jsonl")))
        let classification = try Self.run([
            "eval", "--model", Self.tinyBert, "--adapter", Self.peft + "/tiny-bert-lora",
            "--data", TailorProcess.fixture("sentiment/test.jsonl"), "--json",
        ])
        let causal = try Self.run(["eval", "--model", Self.tinyLlama, "--task", "causal-lm", "--data", folder.file("qa.jsonl"), "--json"])
        let entities = try Self.run([
            "eval", "--model", TailorProcess.fixture("models/tiny-bert-ner"), "--task", "token-classification",
            "--data", TailorProcess.fixture("tasks/ner/test.jsonl"), "--json",
        ])
        let answers = try Self.run([
            "eval", "--model", TailorProcess.fixture("models/tiny-bert-qa"), "--task", "question-answering", "--max-length", "40",
            "--data", TailorProcess.fixture("tasks/qa/test.jsonl"), "--json",
        ])
        let summaries = try Self.run([
            "eval", "--model", TailorProcess.fixture("models/tiny-t5"), "--task", "summarization",
            "--data", TailorProcess.fixture("tasks/summarization/test.jsonl"), "--json",
        ])
        #expect(Set(classification.flatMap(\.object.keys)) == ["examples", "loss", "accuracy", "f1"])
        #expect(Set(summaries.flatMap(\.object.keys)) == ["examples", "loss", "rouge1", "rouge2", "rougeL", "rougeLsum"])
        #expect(Set(causal.flatMap(\.object.keys)) == ["examples", "loss", "perplexity"])
        #expect(Set(entities.flatMap(\.object.keys)) == ["examples", "loss", "accuracy", "precision", "recall", "f1"])
        #expect(Set(answers.flatMap(\.object.keys)) == ["examples", "loss", "exact_match", "f1"])
        let results = try Self.expectSchema(
            Evaluation.Result.self, (classification + causal + entities + answers + summaries).map(\.object),
            pinned: [
                "examples", "loss", "accuracy", "f1", "perplexity", "precision", "recall", "exact_match", "rouge1", "rouge2", "rougeL",
                "rougeLsum",
            ])
        #expect(results.map(\.examples) == [300, 4, 80, 80, 40])
    }

    @Test func entitiesAndAnswers() throws {
        let tagged = try Self.run([
            "classify", "--task", "token-classification", "--model", TailorProcess.fixture("models/tiny-bert-ner"),
            "Ada Lovelace met Bob in Paris .", "nothing here", "--json",
        ])
        let texts = try Self.expectSchema(TaggedText.self, tagged.map(\.object), pinned: ["text", "entities"])
        #expect(texts.map(\.text) == ["Ada Lovelace met Bob in Paris .", "nothing here"])
        // The fixture's (random, seeded) head tags entities in both texts: every entity's span is its text.
        let found = tagged.flatMap { $0.object["entities"] as? [Object] ?? [] }
        #expect(!found.isEmpty)
        _ = try Self.expectSchema(TaggedEntity.self, found, pinned: ["type", "text", "start", "end", "score"])
        for text in texts {
            for entity in text.entities {
                let scalars = Array(text.text.unicodeScalars)[entity.start..<entity.end]
                #expect(String(String.UnicodeScalarView(scalars)) == entity.text)
            }
        }
        let answered = try Self.run([
            "answer", "--model", TailorProcess.fixture("models/tiny-bert-qa"), "--question", "Who founded it?",
            "--context", "It was founded by Ada Lovelace in 1843.", "--max-length", "40", "--doc-stride", "8", "--json",
        ])
        let answers = try Self.expectSchema(
            AnswerCommand.Printed.self, answered.map(\.object), pinned: ["question", "answer", "start", "end", "score"])
        let context = Array("It was founded by Ada Lovelace in 1843.".unicodeScalars)
        #expect(answers.count == 1 && answers[0].start < answers[0].end)
        #expect(String(String.UnicodeScalarView(context[answers[0].start..<answers[0].end])) == answers[0].answer)
    }

    @Test func mergeIntoANewAdapter() throws {
        let folder = TemporaryFolder()
        let lines = try Self.run([
            "merge", Self.peft + "/tiny-llama-lora", Self.peft + "/tailor-tiny-llama-lora", "--method", "cat",
            "--output", folder.file("cat"), "--name", "both", "--registry", folder.file("registry"), "--json",
        ])
        let report = try #require(
            try Self.expectSchema(
                AdapterMerge.Report.self, lines.map(\.object),
                pinned: [
                    "method", "adapters", "weights", "rank", "modules", "seconds", "max_relative_error", "output", "registered",
                ]
            ).first)
        #expect(report.method == .cat && report.output == folder.file("cat") && report.registered?.version == 1)
        try Self.expectSchema(
            AdapterMerge.Report.Registered.self, lines.compactMap { $0.object["registered"] as? Object },
            pinned: ["name", "version"])
        let unsaved = try Self.run([
            "merge", Self.peft + "/tiny-llama-lora", "--name", "again", "--registry", folder.file("registry"),
            "--json",
        ])
        #expect(unsaved.first?.object["output"] is NSNull, "no --output prints output: null")
    }

    @Test func mergeIntoTheBase() throws {
        let folder = TemporaryFolder()
        let lines = try Self.run([
            "merge", "--into-base", "--model", Self.tinyBert, Self.peft + "/tiny-bert-lora",
            "--output", folder.file("deploy"), "--dtype", "f16", "--json",
        ])
        let report = try #require(
            try Self.expectSchema(
                DeployMerge.Report.self, lines.map(\.object),
                pinned: [
                    "output", "dtype", "tensors", "max_logit_difference", "mean_logit_difference",
                ]
            ).first)
        #expect(report.dtype == "f16" && report.tensors > 0 && report.change.maxChange >= report.change.meanChange)
    }

    @Test func diff() throws {
        let lines = try Self.run([
            "diff", Self.peft + "/tiny-bert-lora", Self.peft + "/tiny-bert-dora", "--model", Self.tinyBert,
            "--json",
        ])
        let diffs = try Self.expectSchema(AdapterDiff.self, lines.map(\.object), pinned: ["config", "modules", "summary"])
        let diff = try #require(diffs.first)
        let object = try #require(lines.first?.object)
        let config = object["config"] as? [Object] ?? [], modules = object["modules"] as? [Object] ?? []
        let summary = object["summary"] as? [Object] ?? []
        #expect(!config.isEmpty && !modules.isEmpty && !summary.isEmpty, "the fixtures differ in config (use_dora) and modules")
        try Self.expectSchema(AdapterDiff.ConfigDifference.self, config, pinned: ["key", "a", "b"])
        try Self.expectSchema(
            AdapterDiff.Module.self, modules,
            pinned: [
                "name", "norm_a", "norm_b", "norm_difference", "cosine", "subspace_similarity",
            ])
        try Self.expectSchema(AdapterDiff.Role.self, summary, pinned: ["kind", "modules", "cosine", "subspace_similarity"])
        #expect(diff.summary.count == summary.count, "the summary read back is the one printed")
    }

    /// Training prints the last loss, inference none: together every key.
    @Test func benchTrainAndInfer() throws {
        let shape = ["--model", Self.tinyBert, "--batch", "2", "--seq", "8", "--steps", "1", "--json"]
        let train = try Self.run(["bench", "train", "--method", "lora"] + shape)
        let infer = try Self.run(["bench", "infer"] + shape)
        #expect(train.first?.object["loss"] != nil && infer.first?.object["loss"] == nil)
        let results = try Self.expectSchema(
            StepBenchmark.Result.self, (train + infer).map(\.object),
            pinned: [
                "mode", "method", "batch", "seq", "steps", "tokens_per_s", "seconds_per_step", "blas", "threads", "gemm_share",
                "optimizer_share", "other_share", "dequantize_share", "base_weight_bytes", "linear_weight_bytes", "loss",
                "task", "gradient_checkpointing", "peak_memory_bytes", "compute_dtype",
            ])
        #expect(results.map(\.mode) == [.train, .infer] && results.allSatisfy { $0.tokensPerStep == 16 })
        #expect(results.allSatisfy { $0.task == .sequenceClassification && $0.peakMemoryBytes > 1 << 20 })
    }

    /// A decoder trains as a causal LM by default; --gradient-checkpointing is reported back, and
    /// a head the family lacks is one error line.
    @Test func benchTrainCausalLMWithCheckpointing() throws {
        let shape = ["--model", Self.tinyLlama, "--batch-size", "2", "--max-length", "8", "--steps", "1", "--json"]
        let train = try Self.run(["bench", "train", "--method", "qlora", "--task", "causal-lm", "--gradient-checkpointing"] + shape)
        let result = try JSONDecoder().decode(StepBenchmark.Result.self, from: try #require(train.first).data)
        #expect(result.task == .causalLM && result.gradientCheckpointing && result.finalLoss?.isFinite == true)
        let refused = try TailorProcess.run(["bench", "train", "--model", Self.tinyBert, "--task", "causal-lm", "--steps", "1"])
        #expect(refused.status != 0 && refused.stderr.contains("has no causal-lm head"))
    }

    @Test func benchSwitch() throws {
        let lines = try Self.run([
            "bench", "switch", "--model", Self.tinyBert, "--adapter", Self.peft + "/tiny-bert-lora",
            "--adapter", Self.peft + "/tiny-bert-ia3", "--batch", "2", "--seq", "8", "--steps", "1", "--json",
        ])
        let result = try #require(
            try Self.expectSchema(
                SwitchBenchmark.Result.self, lines.map(\.object),
                pinned: [
                    "mode", "adapters", "batch", "seq", "load_seconds", "switch_seconds", "single_tokens_per_s", "mixed_tokens_per_s",
                    "merge_seconds",
                ]
            ).first)
        #expect(lines.first?.object["mode"] as? String == "switch" && lines.first?.object["adapters"] as? Int == 2)
        #expect(result.loadSeconds.count == 2)
    }

    /// bench generate: load, first token, prefill and decode rates, weight bytes per step, memory.
    @Test func benchGenerate() throws {
        let lines = try Self.run([
            "bench", "generate", "--model", Self.tinyLlama, "--prompt-tokens", "8", "--new-tokens", "5", "--batch-size", "3", "--json",
        ])
        let result = try #require(
            try Self.expectSchema(
                GenerationBenchmark.Result.self, lines.map(\.object),
                pinned: [
                    "load_s", "first_token_s", "prefill_tokens_per_s", "decode_tokens_per_s", "bytes_per_token", "peak_memory_bytes",
                    "prompt_tokens", "new_tokens", "batch", "compute_dtype",
                ]
            ).first)
        #expect(result.loadSeconds > 0 && result.firstTokenSeconds >= result.loadSeconds)
        #expect(result.prefillTokensPerSecond > 0 && result.decodeTokensPerSecond > 0 && result.peakMemoryBytes > 0)
        #expect(result.batch == 3 && result.promptTokens == 8 && result.newTokens == 5)
        #expect(result.computeDType == .f32, "an f32 folder computes in f32 unless asked")
        // tiny-llama's Linear weights in f32: every one read once per step (the head included).
        let checkpoint = try Checkpoint.open(Self.tinyLlama)
        let bytes = checkpoint.tensorNames.filter { $0.hasSuffix("proj.weight") || $0 == "lm_head.weight" }
            .reduce(0) { $0 + (checkpoint.info($1)?.byteCount ?? 0) }
        #expect(result.bytesPerToken == bytes)
    }

    /// JSON has no NaN or infinity; Python writes them anyway and other parsers then reject the
    /// line, so a non-finite number prints as null, in arrays too.
    @Test func nonFiniteNumbersPrintAsNull() throws {
        struct Sample: Encodable {
            var loss = Double.nan
            var logits: [Float] = [1, .infinity, -.infinity]
            var text = "NaN"
        }
        #expect(try OutputOptions.line(Sample()) == #"{"logits":[1,null,null],"loss":null,"text":"NaN"}"#)
    }
}
