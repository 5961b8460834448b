// Training data: Dataset.load (Sources/Training/Datasets.swift: the JSONL reader, the RFC 4180 CSV
// reader, label mapping) for both tasks, with and without known labels, then the seeded
// validation split. The CLI's own JSONL reader (Sources/TailorCLI/JSONLInput.swift, for classify
// and generate inputs) lives only in the executable target, so it is not reachable from here.
// Dataset.load only takes a path (the extension picks the format), so the input is written to a
// .jsonl and a .csv file in a scratch folder.
import Foundation

@testable import Training

enum Harness {
    static var jsonl = "", csv = ""

    static func setUp() {
        jsonl = Fuzz.scratch + "/data.jsonl"
        csv = Fuzz.scratch + "/data.csv"
    }

    static func run(_ bytes: [UInt8]) {
        for path in [jsonl, csv] {
            Fuzz.write(bytes, to: path)
            for known in [nil, ["negative", "positive"], ["0", "1", "2"]] as [[String]?] {
                guard let data = try? Dataset.load(path, task: .classification, knownLabels: known) else { continue }
                for example in data.examples {
                    precondition(data.labels.indices.contains(example.label!), "label index outside the labels")
                }
                if data.examples.count > 1 {
                    let (train, validation, _) = data.split(validationFraction: 0.3, seed: 7)
                    precondition(train.examples.count + validation.examples.count == data.examples.count)
                }
            }
            _ = try? Dataset.load(path, task: .causalLM)
            // Each task's record reader: labels per word inside the label list, answers inside their context.
            for task in [Dataset.Task.tokenClassification, .questionAnswering, .summarization, .instructionTuning] {
                guard let data = try? Dataset.load(path, task: task) else { continue }
                for example in data.examples {
                    precondition(example.wordLabels?.allSatisfy(data.labels.indices.contains) ?? true, "a word label outside the labels")
                    precondition(example.wordLabels?.count ?? 0 == example.words?.count ?? 0, "one label per word")
                    for answer in example.answers ?? [] {
                        precondition(answer.start + answer.text.unicodeScalars.count <= (example.pair ?? "").unicodeScalars.count)
                    }
                }
            }
        }
    }

    /// The first lines of the fixtures' JSONL files, as they are and as CSV.
    static func writeSeeds(into folder: String) {
        for path in Fuzz.fixtureFiles(suffix: ".jsonl") {
            let lines = String(decoding: Fuzz.read(path), as: UTF8.self).split(separator: "\n").prefix(12)
            Fuzz.seed(Array((lines.joined(separator: "\n") + "\n").utf8), named: path, into: folder)
            var rows = ["text,label"]
            for line in lines {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    let text = object["text"] as? String
                else { continue }
                let label = object["label"].map { "\($0)" } ?? ""
                rows.append("\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"," + label)
            }
            Fuzz.seed(Array(rows.joined(separator: "\r\n").utf8), named: path + ".csv", into: folder)
        }
        let extra = [
            #"{"prompt": "Q: 2+2?", "completion": " 4"}"# + "\n" + #"{"text": "plain", "label": 3}"# + "\n",
            "text,text_pair,label\n\"a, \"\"quoted\"\"\nline\",b,1\nc,d,0\n",
        ]
        for (i, text) in extra.enumerated() { Fuzz.seed(Array(text.utf8), named: "handmade-\(i)", into: folder) }
    }
}
