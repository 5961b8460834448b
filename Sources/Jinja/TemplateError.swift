/// Why a template could not be parsed or rendered, with the line it happened on when known.
///
/// `raise_exception(message)` in a template throws one of kind ``Kind-swift.enum/raised`` whose ``message`` is
/// exactly the template's text, so a caller can show it as the model's own refusal (transformers raises
/// `TemplateError(message)` the same way).
public struct TemplateError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The template text is not valid Jinja (or uses a tag we do not support).
        case syntax
        /// The template called `raise_exception`.
        case raised
        /// A name, attribute or item used in a way an undefined value cannot be.
        case undefined
        /// An operation on values of the wrong types (Python's `TypeError`, `ValueError`, `ZeroDivisionError`).
        case type
        /// A filter or test the template names does not exist.
        case unknownFilter
        /// Something the sandbox forbids, like `list.append` (transformers renders with an immutable sandbox).
        case security
        /// The render ran past its step, output or depth budget (``RenderLimits``).
        case budget
    }

    public var kind: Kind
    public var message: String
    /// The 1-based template line, when known.
    public var line: Int?

    public init(_ kind: Kind, _ message: String, line: Int? = nil) {
        self.kind = kind
        self.message = message
        self.line = line
    }

    public var description: String { line.map { "line \($0): \(message)" } ?? message }
}
