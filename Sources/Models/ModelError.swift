/// A problem loading or running a model, naming the file (config.json, a checkpoint) and, where
/// one is concerned, the field or tensor.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var message: String

    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}
