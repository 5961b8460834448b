import Foundation
import SafeTensors

/// PEFT's rules for which modules an adapter changes and with which rank and alpha.
public struct ModuleMatcher: Sendable {
    /// `target_modules`: a list of names or suffixes, a regex string, or "all-linear".
    public enum Targets: Sendable, Equatable {
        case names([String])
        case regex(String)
        case allLinear
    }

    public var targets: Targets
    public var exclude: Targets?
    /// Only these layer indices (the number after "layers."/"layer."/"h." in the name).
    public var layersToTransform: [Int]?

    public init(targets: Targets, exclude: Targets? = nil, layersToTransform: [Int]? = nil) {
        self.targets = targets
        self.exclude = exclude
        self.layersToTransform = layersToTransform
    }

    /// Whether `name` matches `targets` as PEFT matches: a list entry equal to the name or to its
    /// last components (`name` ends with "." + entry); a string as a regex on the whole name.
    static func matches(_ targets: Targets, _ name: String) -> Bool {
        switch targets {
        case .names(let entries): return entries.contains { name == $0 || name.hasSuffix("." + $0) }
        case .regex(let pattern): return fullMatch(pattern, name)
        case .allLinear: return true
        }
    }

    /// The modules of `candidates` (Linear module names) to adapt. "all-linear" leaves out the
    /// output layer, as PEFT does.
    public func select(_ candidates: [String], outputModule: String?) -> [String] {
        candidates.filter { name in
            if targets == .allLinear, name == outputModule { return false }
            guard Self.matches(targets, name) else { return false }
            if let exclude, Self.matches(exclude, name) { return false }
            if let layersToTransform {
                guard let index = Self.layerIndex(name) else { return false }
                return layersToTransform.contains(index)
            }
            return true
        }
    }

    /// The value of a `rank_pattern`/`alpha_pattern` entry matching `name` (the regex
    /// `(.*\.)?(key)$`), or nil.
    public static func patternValue<T>(_ patterns: [String: T], for name: String) -> T? {
        for key in patterns.keys.sorted() where fullMatch("(.*\\.)?(\(key))", name) {
            return patterns[key]
        }
        return nil
    }

    static func layerIndex(_ name: String) -> Int? {
        let parts = name.split(separator: ".")
        for (i, part) in parts.enumerated() where ["layers", "layer", "h", "blocks"].contains(part) && i + 1 < parts.count {
            if let index = Int(parts[i + 1]) { return index }
        }
        return nil
    }

    static func fullMatch(_ pattern: String, _ text: String) -> Bool {
        guard let regex = try? Regex(pattern) else { return false }
        return (try? regex.wholeMatch(in: text)) != nil
    }
}

/// The one place module lists are read and written, in PEFT's JSON form and a command line's.
extension ModuleMatcher.Targets {
    /// A config field (`target_modules`, `exclude_modules`, `feedforward_modules`) as PEFT writes
    /// it: a list of names, "all-linear", or a regex string; nil when absent or null.
    public init?(json value: Any?, field: String, file: String) throws {
        switch value {
        case nil, is NSNull: return nil
        case let list as [String]: self = .names(list)
        case "all-linear" as String: self = .allLinear
        case let pattern as String:
            guard (try? Regex(pattern)) != nil else { throw AdapterError(file: file, "\"\(field)\" is an invalid regex: \(pattern)") }
            self = .regex(pattern)
        default: throw AdapterError(file: file, "\"\(field)\" must be a list of module names or a regex string")
        }
    }

    /// As a command line or a request gives it (`field` names where): names separated by
    /// commas, "all-linear", or "re:REGEX".
    public init(listing text: String, field: String) throws {
        if text.hasPrefix("re:") {
            let pattern = String(text.dropFirst(3))
            guard (try? Regex(pattern)) != nil else { throw AdapterError(file: field, "invalid regex '\(pattern)'") }
            self = .regex(pattern)
        } else if text == "all-linear" {
            self = .allLinear
        } else {
            let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !names.isEmpty else { throw AdapterError(file: field, "names no module") }
            self = .names(names)
        }
    }

    /// PEFT's JSON for it.
    public var jsonValue: PythonJSONText.Value {
        switch self {
        case .names(let names): .array(names.map { .string($0) })
        case .regex(let text): .string(text)
        case .allLinear: .string("all-linear")
        }
    }
}
