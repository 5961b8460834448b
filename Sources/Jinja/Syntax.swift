/// The parsed template: statements (what Jinja calls nodes) and expressions, each carrying its line for errors.
indirect enum Expression: Sendable {
    case literal(Value)
    case name(String, line: Int)
    case list([Expression])
    /// A tuple literal; evaluated as a list (Python tuples and lists print differently, which no chat template
    /// relies on).
    case tuple([Expression])
    case dict([(Expression, Expression)])
    /// `value.name` (attribute first, then item, as Jinja's `getattr`).
    case attribute(Expression, String, line: Int)
    /// `value[index]` (item first, then attribute).
    case item(Expression, Expression, line: Int)
    case slice(Expression, start: Expression?, stop: Expression?, step: Expression?, line: Int)
    case call(Expression, CallArguments, line: Int)
    case filter(Expression, name: String, CallArguments, line: Int)
    case test(Expression, name: String, CallArguments, negated: Bool, line: Int)
    case unary(String, Expression, line: Int)
    case binary(String, Expression, Expression, line: Int)
    /// `a < b <= c`: every adjacent pair must hold.
    case compare(Expression, [(String, Expression)], line: Int)
    case and(Expression, Expression)
    case or(Expression, Expression)
    case not(Expression)
    /// `then if condition else otherwise`; a missing `else` yields undefined.
    case conditional(condition: Expression, then: Expression, otherwise: Expression?)
}

/// Arguments as written at a call site.
struct CallArguments: Sendable {
    var positional: [Expression] = []
    var keywords: [(String, Expression)] = []
}

/// Where a `set` or `for` stores values.
indirect enum AssignTarget: Sendable {
    case name(String)
    /// `ns.attribute`, only on namespaces.
    case attribute(String, String)
    case tuple([AssignTarget])
}

indirect enum Statement: Sendable {
    case text(String)
    case output(Expression, line: Int)
    case ifBlock(branches: [(Expression, [Statement])], otherwise: [Statement])
    case forLoop(ForLoop)
    case set(AssignTarget, Expression, line: Int)
    /// `{% set x %}…{% endset %}` with its optional filters, applied to the rendered body.
    case setBlock(AssignTarget, body: [Statement], filters: [(String, CallArguments)], line: Int)
    case macro(Macro)
    case filterBlock(filters: [(String, CallArguments)], body: [Statement], line: Int)
    case breakLoop(line: Int)
    case continueLoop(line: Int)
    /// transformers' `{% generation %}` marks the assistant's part; rendering only shows the body.
    case generation([Statement])
    /// `{% call macro(args) %}body{% endcall %}`: the body is passed to the macro as `caller()`.
    case callBlock(Expression, body: [Statement], line: Int)
}

struct ForLoop: Sendable {
    var target: AssignTarget
    var iterable: Expression
    var condition: Expression?
    var body: [Statement]
    var otherwise: [Statement]
    var line: Int
}

struct Macro: Sendable {
    var name: String
    var parameters: [(String, Expression?)]
    var body: [Statement]
}
