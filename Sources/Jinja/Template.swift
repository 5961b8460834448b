import Foundation

/// A parsed Jinja template, rendered the way transformers renders chat templates: Jinja2's
/// `ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)` with loop controls, the
/// `{% generation %}` tag, and the globals `raise_exception`, `strftime_now`, `namespace`, `dict` and `range`.
///
/// ```swift
/// let template = try Template("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}")
/// let text = try template.render(["messages": [["role": "user", "content": "Hi"]]])
/// ```
///
/// Parsing checks the syntax and that every filter and test exists; rendering runs under ``RenderLimits`` so a
/// hostile template throws instead of looping forever or filling memory.
public struct Template: Sendable {
    let body: [Statement]

    /// Parses `source`; throws a ``TemplateError`` of kind `.syntax` or `.unknownFilter` naming the line.
    public init(_ source: String) throws {
        body = try Parser.parse(source)
    }

    /// Renders with `context` as the template's variables (they shadow the globals).
    public func render(_ context: [String: Value], options: RenderOptions = RenderOptions()) throws -> String {
        let interpreter = Interpreter(options: options)
        return try interpreter.render(body, context: context)
    }
}

/// What a render may use: the clock `strftime_now` reads and the budget it runs under.
public struct RenderOptions: Sendable {
    /// The current time for `strftime_now` (transformers reads the local clock; tests inject a fixed one).
    public var now: @Sendable () -> Date
    /// The time zone `strftime_now` formats in (Python's `datetime.now()` is local time).
    public var timeZone: TimeZone
    public var limits: RenderLimits

    public init(now: @escaping @Sendable () -> Date = { Date() }, timeZone: TimeZone = .current, limits: RenderLimits = RenderLimits()) {
        self.now = now
        self.timeZone = timeZone
        self.limits = limits
    }
}

/// Bounds on one render; going past any throws a ``TemplateError`` of kind `.budget`. The defaults are far above
/// what a chat template needs (thousands of steps for a long conversation) and far below what hurts a server.
public struct RenderLimits: Sendable {
    /// Expressions evaluated plus statements and loop iterations run.
    public var maxSteps: Int
    /// The size of the output and of any string or list the template builds, in UTF-8 bytes (or items).
    public var maxOutputBytes: Int
    /// Nested macro calls.
    public var maxCallDepth: Int

    public init(maxSteps: Int = 5_000_000, maxOutputBytes: Int = 32 << 20, maxCallDepth: Int = 24) {
        self.maxSteps = maxSteps
        self.maxOutputBytes = maxOutputBytes
        self.maxCallDepth = maxCallDepth
    }
}
