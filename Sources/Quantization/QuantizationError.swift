import SafeTensors

/// A problem quantizing, dequantizing or reading a 4-bit checkpoint, naming the file and the
/// weight it concerns; `description` is the one line the CLI prints.
public struct QuantizationError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var tensor: String?
    public var message: String

    public init(file: String, tensor: String? = nil, _ message: String) {
        self.file = file
        self.tensor = tensor
        self.message = message
    }

    public var description: String {
        (tensor.map { "\(file): tensor '\($0)'" } ?? file) + ": " + message
    }
}
