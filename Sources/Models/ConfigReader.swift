import Diagnostics
import Foundation

/// Typed access to a Hugging Face `config.json`, with errors that name the field.
public struct ConfigReader: @unchecked Sendable {
    public let path: String
    /// The parsed JSON object (immutable; values are Foundation JSON types).
    public let values: [String: Any]

    public init(path: String) throws {
        self.path = path
        let data = Data(try TextFile.bytes(path, for: ModelsModule.self))
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ModelError(file: path, "not a JSON object")
        }
        values = object
    }

    public init(path: String, values: [String: Any]) {
        self.path = path
        self.values = values
    }

    func fail(_ key: String, _ why: String) -> ModelError { ModelError(file: path, "\"\(key)\" \(why)") }

    public func int(_ key: String) throws -> Int {
        guard let value = values[key] else { throw fail(key, "is missing") }
        guard let number = value as? NSNumber, Double(number.intValue) == number.doubleValue else { throw fail(key, "is not an integer") }
        return number.intValue
    }

    public func int(_ key: String, default fallback: Int) throws -> Int {
        values[key] == nil || values[key] is NSNull ? fallback : try int(key)
    }

    /// A size or count the model is built from (`int(key)`, or `fallback` when absent), which must
    /// be `minimum` or more: a negative layer count or dimension would trap building the model.
    public func int(_ key: String, default fallback: Int? = nil, atLeast minimum: Int) throws -> Int {
        let value = try fallback.map { try int(key, default: $0) } ?? int(key)
        guard value >= minimum else { throw fail(key, "must be at least \(minimum), not \(value)") }
        return value
    }

    public func double(_ key: String, default fallback: Double? = nil) throws -> Double {
        guard let value = values[key], !(value is NSNull) else {
            if let fallback { return fallback }
            throw fail(key, "is missing")
        }
        guard let number = value as? NSNumber else { throw fail(key, "is not a number") }
        return number.doubleValue
    }

    public func string(_ key: String, default fallback: String? = nil) throws -> String {
        guard let value = values[key], !(value is NSNull) else {
            if let fallback { return fallback }
            throw fail(key, "is missing")
        }
        guard let text = value as? String else { throw fail(key, "is not a string") }
        return text
    }

    public func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let value = values[key], !(value is NSNull) else { return fallback }
        guard let flag = value as? Bool else { throw fail(key, "is not true/false") }
        return flag
    }

    public func object(_ key: String) throws -> ConfigReader? {
        guard let value = values[key], !(value is NSNull) else { return nil }
        guard let object = value as? [String: Any] else { throw fail(key, "is not an object") }
        return ConfigReader(path: path + " (\(key))", values: object)
    }

    /// The label names in index order from `id2label`, or nil.
    public func labels() throws -> [String]? {
        guard let object = values["id2label"] as? [String: Any] else { return nil }
        var names = [String](repeating: "", count: object.count)
        for (key, value) in object {
            guard let index = Int(key), index >= 0, index < names.count, let name = value as? String else {
                throw fail("id2label", "must map 0…\(object.count - 1) to names")
            }
            names[index] = name
        }
        return names
    }
}
