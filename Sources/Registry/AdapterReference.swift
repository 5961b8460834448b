/// A registry reference as users write it: `NAME` (the latest version), `NAME@N` or `NAME@TAG`.
/// Parsed in one place so an empty or malformed reference (`""`, `@`, `@1`, `a@`, `a@b@c`) is one
/// clear error, never an index past the end of a split.
public struct AdapterReference: Sendable, Equatable, CustomStringConvertible {
    public enum Selector: Sendable, Equatable {
        case latest
        case number(Int)
        case tag(String)
    }

    public var name: String
    public var selector: Selector

    public init(parsing text: String) throws {
        // No file is involved: the error names the reference as the user wrote it.
        func invalid(_ why: String) -> RegistryError {
            RegistryError(file: "\"\(text)\"", "\(why) (a registry reference is NAME, NAME@N or NAME@TAG)")
        }
        guard !text.isEmpty else { throw invalid("the adapter reference is empty") }
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard !parts[0].isEmpty else { throw invalid("the adapter name is missing before '@'") }
        do { try AdapterStore.checkName(parts[0]) } catch let error as RegistryError { throw invalid(error.file + " " + error.message) }
        name = parts[0]
        guard parts.count == 2 else {
            selector = .latest
            return
        }
        let version = parts[1]
        guard !version.isEmpty else { throw invalid("a version number or tag must follow '@'") }
        if let number = Int(version) {
            guard number > 0 else { throw invalid("version numbers start at 1") }
            selector = .number(number)
        } else {
            do { try AdapterStore.checkTag(version) } catch let error as RegistryError { throw invalid(error.file + " " + error.message) }
            selector = .tag(version)
        }
    }

    public var description: String {
        switch selector {
        case .latest: name
        case .number(let number): "\(name)@\(number)"
        case .tag(let tag): "\(name)@\(tag)"
        }
    }
}
