import Diagnostics
import Foundation

/// Marks problems with the command's own input files (``FileProblem``).
enum InputModule {}

/// Reads a JSON Lines file of objects (blank lines skipped); errors name the file and line.
enum JSONLInput {
    static func read(_ path: String) throws -> [[String: Any]] {
        var rows: [[String: Any]] = []
        for (number, line) in try TextFile.lines(path, for: InputModule.self) {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any] else {
                throw UsageProblem(description: "\(path): line \(number) is not a JSON object")
            }
            rows.append(object)
        }
        return rows
    }

    /// The string field `key` of every row, or an error naming the line.
    static func strings(_ rows: [[String: Any]], key: String, path: String, optional: Bool = false) throws -> [String]? {
        var values: [String] = []
        for (index, row) in rows.enumerated() {
            guard let value = row[key] as? String else {
                if optional, row[key] == nil { return nil }
                throw UsageProblem(description: "\(path): record \(index + 1) has no string \"\(key)\"")
            }
            values.append(value)
        }
        return values
    }

    /// The optional string field `key` of every row (nil where absent); a non-string is an error.
    static func optionalStrings(_ rows: [[String: Any]], key: String, path: String) throws -> [String?] {
        try rows.enumerated().map { index, row in
            guard let value = row[key] else { return nil }
            guard let text = value as? String else {
                throw UsageProblem(description: "\(path): record \(index + 1): \"\(key)\" must be a string")
            }
            return text
        }
    }
}
