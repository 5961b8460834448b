import Diagnostics
import Foundation

/// One training example: classification (text, optional pair, label index) or language
/// modelling (text, or prompt + completion with the loss on the completion only).
public struct Example: Sendable, Equatable {
    public var text: String
    public var pair: String?
    public var label: Int?
    public var prompt: String?
}

/// A loaded dataset and, for classification, its label names in index order.
public struct Dataset: Sendable {
    public var examples: [Example]
    public var labels: [String]
    public var path: String

    public enum Task: String, Sendable, CaseIterable { case classification, causalLM = "causal-lm" }

    /// Reads CSV (header with `text`[, `text_pair`], `label`) or JSONL. Labels may be names or
    /// integers; `knownLabels` fixes the order (e.g. from a training set or a model's id2label).
    public static func load(_ path: String, task: Task, knownLabels: [String]? = nil) throws -> Dataset {
        let rows =
            path.lowercased().hasSuffix(".csv")
            ? try CSVRows.parse(TextFile.text(path, for: TrainingModule.self), file: path)
            : try jsonlRows(TextFile.lines(path, for: TrainingModule.self), file: path)
        guard !rows.isEmpty else { throw TrainingError(file: path, "no examples") }
        var examples: [Example] = []
        var labelNames = knownLabels ?? []
        for (index, row) in rows.enumerated() {
            func field(_ key: String) -> String? { row[key].flatMap { $0 } }
            switch task {
            case .classification:
                guard let text = field("text") else { throw TrainingError(file: path, "record \(index + 1) has no \"text\"") }
                guard let labelText = field("label") else { throw TrainingError(file: path, "record \(index + 1) has no \"label\"") }
                guard !labelText.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw TrainingError(file: path, "record \(index + 1) has an empty label")
                }
                let label: Int
                if let existing = labelNames.firstIndex(of: labelText) {
                    label = existing
                } else if knownLabels != nil, let number = Int(labelText), labelNames.indices.contains(number) {
                    label = number
                } else if knownLabels != nil {
                    throw TrainingError(file: path, "record \(index + 1): label \"\(labelText)\" is not one of \(labelNames)")
                } else {
                    labelNames.append(labelText)
                    label = labelNames.count - 1
                }
                examples.append(Example(text: text, pair: field("text_pair"), label: label, prompt: nil))
            case .causalLM:
                if let prompt = field("prompt"), let completion = field("completion") {
                    examples.append(Example(text: completion, pair: nil, label: nil, prompt: prompt))
                } else if let text = field("text") {
                    examples.append(Example(text: text, pair: nil, label: nil, prompt: nil))
                } else {
                    throw TrainingError(file: path, "record \(index + 1) needs \"text\", or \"prompt\" and \"completion\"")
                }
            }
        }
        if task == .classification, knownLabels == nil {
            // Stable label order: sorted names (numeric labels in numeric order).
            let sorted = labelNames.sorted { (Int($0) ?? .max, $0) < (Int($1) ?? .max, $1) }
            let remap = labelNames.map { sorted.firstIndex(of: $0)! }
            for i in examples.indices { examples[i].label = remap[examples[i].label!] }
            labelNames = sorted
        }
        return Dataset(examples: examples, labels: labelNames, path: path)
    }

    static func jsonlRows(_ lines: [(number: Int, text: String)], file: String) throws -> [[String: String?]] {
        var rows: [[String: String?]] = []
        for (number, line) in lines {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any] else {
                throw TrainingError(file: file, "line \(number) is not a JSON object")
            }
            rows.append(
                object.mapValues { value -> String? in
                    switch value {
                    case let text as String: return text
                    case let number as NSNumber: return number.stringValue
                    default: return nil
                    }
                })
        }
        return rows
    }

    /// Splits off a seeded random `fraction` as validation data. Also returns how many
    /// validation texts occur in the training part too (a leak worth a warning).
    public func split(validationFraction fraction: Double, seed: UInt64) -> (train: Dataset, validation: Dataset, overlap: Int) {
        var order = Array(examples.indices)
        var rng = SplitMixGenerator(seed: seed)
        order.shuffle(using: &rng)
        let count = max(1, Int((Double(examples.count) * fraction).rounded()))
        let validation = order.prefix(count).sorted().map { examples[$0] }
        let train = order.dropFirst(count).sorted().map { examples[$0] }
        let trainTexts = Set(train.map { $0.text + "\u{0}" + ($0.pair ?? "") })
        let overlap = validation.filter { trainTexts.contains($0.text + "\u{0}" + ($0.pair ?? "")) }.count
        return (
            Dataset(examples: train, labels: labels, path: path),
            Dataset(examples: validation, labels: labels, path: path + " (validation)"), overlap
        )
    }
}

/// A tiny seeded generator for shuffles (the training core's RNG lives in TrainingCore).
struct SplitMixGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// RFC 4180 CSV with a header row: quoted fields, doubled quotes, newlines inside quotes.
enum CSVRows {
    static func parse(_ text: String, file: String) throws -> [[String: String?]] {
        var records: [[String]] = []
        var field = ""
        var record: [String] = []
        var quoted = false
        var iterator = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        func next() -> Unicode.Scalar? {
            if let p = pending {
                pending = nil
                return p
            }
            return iterator.next()
        }
        while let c = next() {
            if quoted {
                if c == "\"" {
                    if let following = next() {
                        if following == "\"" {
                            field.unicodeScalars.append("\"")
                        } else {
                            quoted = false
                            pending = following
                        }
                    } else {
                        quoted = false
                    }
                } else {
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"": quoted = true
            case ",":
                record.append(field)
                field = ""
            case "\n":
                record.append(field)
                field = ""
                if record != [""] { records.append(record) }
                record = []
            case "\r": continue
            default: field.unicodeScalars.append(c)
            }
        }
        if quoted { throw TrainingError(file: file, "unterminated quoted field") }
        if !field.isEmpty || !record.isEmpty {
            record.append(field)
            records.append(record)
        }
        guard let header = records.first else { return [] }
        if let repeated = header.enumerated().first(where: { header[..<$0.offset].contains($0.element) })?.element {
            throw TrainingError(file: file, "the header names the column \"\(repeated)\" twice")
        }
        return try records.dropFirst().enumerated().map { index, values in
            guard values.count == header.count else {
                throw TrainingError(file: file, "row \(index + 2) has \(values.count) fields, the header \(header.count)")
            }
            return Dictionary(uniqueKeysWithValues: zip(header, values.map { Optional($0) }))
        }
    }
}

/// A problem with training data, options or a run, naming the file.
public typealias TrainingError = FileProblem<TrainingModule>

/// Marks the Training module's errors (``TrainingError``).
public enum TrainingModule {}
