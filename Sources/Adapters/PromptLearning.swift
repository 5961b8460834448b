import Models
import TrainingCore

/// What PEFT's prompt-learning methods (prompt tuning, prefix tuning) share: their
/// `modules_to_save` keys lack LoRA's `.model` segment (`base_model.<module>.weight`), and their
/// configs name the base's geometry.
enum PromptLearning {
    static let savedKeyPrefix = "base_model."

    /// `modules_to_save` from a config, without repeats.
    static func modulesToSave(_ json: [String: Any]) -> [String] {
        var saved: [String] = []
        for name in (json["modules_to_save"] as? [String]) ?? [] where !saved.contains(name) { saved.append(name) }
        return saved
    }

    /// Checks a config's fields against those `method` understands and returns
    /// `num_virtual_tokens`; encoder-decoder configs (two transformer submodules) are refused.
    static func virtualTokenCount(_ json: [String: Any], understood: Set<String>, method: String, file: String) throws -> Int {
        for key in json.keys where !understood.contains(key) {
            throw AdapterError(file: file, "field \"\(key)\" is not supported for \(method)")
        }
        if let submodules = json["num_transformer_submodules"] as? Int, submodules != 1 {
            throw AdapterError(file: file, "num_transformer_submodules \(submodules) is not supported (encoder-decoder models)")
        }
        guard let count = json["num_virtual_tokens"] as? Int, count > 0 else {
            throw AdapterError(file: file, "\"num_virtual_tokens\" is missing")
        }
        return count
    }
}

extension PromptGeometry {
    /// Refuses a virtual-token count that leaves the text no position: BERT's learned position
    /// table would be read past its end, and any count that large is a mistake (checked
    /// before the table is allocated, so a huge count cannot exhaust memory).
    func checkVirtualTokens(_ count: Int, file: String) throws {
        guard count >= 1, count < maxPositions else {
            throw AdapterError(
                file: file,
                "num_virtual_tokens \(count) must be between 1 and \(maxPositions - 1): the base model has "
                    + "max_position_embeddings \(maxPositions), and the text needs at least one of them")
        }
    }
}
