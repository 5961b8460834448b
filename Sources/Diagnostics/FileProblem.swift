/// A problem with an input, as every module reports one: the file (and, where it matters, the
/// field, module or tensor inside it) and what is wrong. It prints as the one line a user sees,
/// "file: problem". Modules name it for their concern (`AdapterError`, `ModelError`, …).
public struct FileProblem: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var message: String

    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}
