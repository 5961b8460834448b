// config.json: ConfigReader (ConfigReader.swift) and the family readers BertConfig and
// LlamaConfig (Bert.swift, Llama.swift), then the whole ModelLoader.load a `tailor` command runs on
// a model folder, which builds the model the config describes over real weights, and a forward
// pass through what it built.
// The loader only takes a folder, so the input is written as config.json of a scratch folder
// whose model.safetensors links to the fixture the config's model_type names (the 4-bit one when
// it has a quantization_config), so a config close to a seed gets past the shape checks.
import Foundation
import SafeTensors
import TrainingCore

@testable import Models

enum Harness {
    static let weights = [
        "bert": "tiny-bert", "bert-4bit": "tiny-bert-nf4", "llama": "tiny-llama", "llama-4bit": "tiny-llama-nf4",
        "llama-fp4": "tiny-llama-fp4", "mistral": "models/tiny-mistral", "qwen2": "models/tiny-qwen2",
    ]

    static func setUp() {
        for (key, fixture) in weights {
            let folder = Fuzz.scratch + "/" + key
            try! FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try! FileManager.default.createSymbolicLink(
                atPath: folder + "/model.safetensors",
                withDestinationPath: Fuzz.fixtures + "/" + fixture + "/model.safetensors")
        }
    }

    static func run(_ bytes: [UInt8]) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else { return }
        let reader = ConfigReader(path: "fuzz/config.json", values: object)
        _ = try? reader.labels()
        _ = try? BertConfig(reader)
        _ = try? LlamaConfig(reader)

        let type = object["model_type"] as? String ?? "bert"
        let quantization = (object["quantization_config"] as? [String: Any]).map { $0["bnb_4bit_quant_type"] as? String ?? "nf4" }
        var key = weights[type] == nil ? "bert" : type
        if let quantization, key == "bert" || key == "llama" { key += quantization == "fp4" && key == "llama" ? "-fp4" : "-4bit" }
        let folder = Fuzz.scratch + "/" + key
        Fuzz.write(bytes, to: folder + "/config.json")
        // The heads a command asks of the family (BERT classifies or encodes, the Llama family
        // classifies or generates); the other one is refused up front.
        let heads: [ModelHead] = key.hasPrefix("bert") ? [.sequenceClassification, .encoder] : [.sequenceClassification, .causalLM]
        let head = heads[Int(Fuzz.hash(bytes) % 2)]
        let model: any TransformerModel
        do { model = try ModelLoader.load(folder: folder, head: head) } catch {
            Fuzz.note("\(key) \(head): \(error)")
            return
        }
        Fuzz.note("\(key) \(head): loaded")
        _ = model.labels
        _ = model.namedParameters.count
        let batch = TokenBatch(ids: [[1, 5, 9, 2], [3, 4, 0, 0]], mask: [[true, true, true, true], [true, true, false, false]])
        _ = model.forward(Graph(recording: false), batch).values
        if head == .causalLM, let decoder = model as? any CausalLanguageModel {
            let cache = decoder.makeCache(capacity: 8)
            _ = decoder.step([1, 2], cache: cache, adapterSlot: nil).values
        }
    }

    static func writeSeeds(into folder: String) {
        for path in Fuzz.fixtureFiles(suffix: "/config.json") {
            Fuzz.seed(Fuzz.read(path), named: path, into: folder)
        }
    }
}
