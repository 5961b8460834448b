/// A problem with an input, as every module reports one: the file (and, where it matters, the
/// field, module or tensor inside it) and what is wrong. It prints as the one line a user sees,
/// "file: problem". `Module` only tells the modules' errors apart as types (`AdapterError` is
/// `FileProblem<AdaptersModule>`), so each module's errors stay its own while sharing this code.
public struct FileProblem<Module>: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var message: String

    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}
