/// A problem with an adapter: its config, its tensors, or how it fits the base model. Names the
/// file and, where one is concerned, the field, module or tensor.
public struct AdapterError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var message: String

    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}
