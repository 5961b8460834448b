import Diagnostics
import Foundation

/// A tokenizer.json we cannot read or a component we do not support, naming the file and the
/// part of the pipeline.
public typealias TokenizerError = FileProblem<TokenizersModule>

/// Marks the Tokenizers module's errors (``TokenizerError``).
public enum TokenizersModule {}

/// A JSON object from tokenizer.json with typed getters that report the component on error.
struct JSONObject: @unchecked Sendable {
    let values: [String: Any]
    let file: String
    let context: String

    init(_ value: Any?, file: String, context: String) throws {
        guard let values = value as? [String: Any] else { throw TokenizerError(file: file, "\(context) is not an object") }
        self.values = values
        self.file = file
        self.context = context
    }

    func fail(_ why: String) -> TokenizerError { TokenizerError(file: file, "\(context): \(why)") }

    /// Token ids are u32 in tokenizers; anything else would index embeddings out of range (or, at
    /// Int.max, overflow the vocabulary size).
    static let tokenIds = 0...Int(UInt32.max)

    /// `value` as a token id, or an error naming `what`.
    func tokenId(_ value: Any?, _ what: String) throws -> Int {
        guard let id = value as? Int, Self.tokenIds.contains(id) else {
            throw fail("\(what) is not a token id (an integer in 0…\(UInt32.max))")
        }
        return id
    }

    var type: String? { values["type"] as? String }

    func string(_ key: String) throws -> String {
        guard let value = values[key] as? String else { throw fail("\"\(key)\" is missing or not a string") }
        return value
    }
    func optionalString(_ key: String) -> String? { values[key] as? String }
    func bool(_ key: String, default fallback: Bool) -> Bool { values[key] as? Bool ?? fallback }
    func int(_ key: String, default fallback: Int) -> Int { (values[key] as? NSNumber)?.intValue ?? fallback }
    func object(_ key: String, context: String) throws -> JSONObject { try JSONObject(values[key], file: file, context: context) }
    func array(_ key: String) -> [Any]? { values[key] as? [Any] }
    func isNull(_ key: String) -> Bool { values[key] == nil || values[key] is NSNull }
}
