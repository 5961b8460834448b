import Foundation

/// A value a template reads, computes or prints: the JSON types plus Jinja's undefined, namespaces and callables.
///
/// Objects keep their keys in insertion order, as Python dicts do, because templates print them (`tojson`,
/// `items()`) and the order is part of the prompt a model was trained on. Build values from JSON text with
/// ``init(json:)`` (order kept), from `JSONSerialization` output with ``init(any:)``, or from Swift literals.
public enum Value: Sendable {
    /// A name or attribute that does not exist: prints as "", is falsy, iterates as empty (Jinja's `Undefined`).
    /// The payload says what was missing, for the error when it is used in arithmetic or accessed.
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([Value])
    case object(Object)
    /// A mutable attribute bag made by `namespace()`, shared by reference so loops can update it.
    case namespace(Namespace)
    /// A global function, a bound method or a macro.
    case callable(Callable)

    /// An ordered string-keyed dictionary (a Python dict with string keys).
    public struct Object: Sendable, Equatable {
        public private(set) var keys: [String] = []
        private var storage: [String: Value] = [:]

        public init() {}

        public init(_ pairs: [(String, Value)]) {
            for (key, value) in pairs { self[key] = value }
        }

        public subscript(key: String) -> Value? {
            get { storage[key] }
            set {
                if let newValue {
                    if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
                } else if storage.removeValue(forKey: key) != nil {
                    keys.removeAll { $0 == key }
                }
            }
        }

        public var count: Int { keys.count }
        public var isEmpty: Bool { keys.isEmpty }
        public var pairs: [(key: String, value: Value)] { keys.map { ($0, storage[$0]!) } }
        public var values: [Value] { keys.map { storage[$0]! } }

        public static func == (a: Object, b: Object) -> Bool {
            // Python dict equality ignores order.
            a.storage.count == b.storage.count && a.storage.allSatisfy { key, value in b.storage[key].map { $0 == value } ?? false }
        }
    }

    /// The object `namespace()` returns; `{% set ns.x = … %}` writes into it from any scope.
    public final class Namespace: @unchecked Sendable {
        var attributes: Object
        init(_ attributes: Object) { self.attributes = attributes }
    }

    /// A function a template can call: positional and keyword arguments in, a value out.
    public final class Callable: @unchecked Sendable {
        public let name: String
        let call: (Arguments, Interpreter) throws -> Value
        /// How Python's `str()` shows it (`<Macro 'f'>`, `<built-in method upper of str object>`…).
        let display: String

        init(name: String, display: String? = nil, _ call: @escaping (Arguments, Interpreter) throws -> Value) {
            self.name = name
            self.display = display ?? "<function \(name)>"
            self.call = call
        }

        /// A global function that needs no interpreter state.
        public convenience init(name: String, _ call: @escaping @Sendable ([Value], [String: Value]) throws -> Value) {
            self.init(name: name) { arguments, _ in
                try call(arguments.positional, Dictionary(uniqueKeysWithValues: arguments.keywords.map { ($0.0, $0.1) }))
            }
        }
    }

    /// Arguments of one call, keywords in the order written.
    public struct Arguments: Sendable {
        public var positional: [Value]
        public var keywords: [(String, Value)]
    }
}

// MARK: - Conversions from Swift and JSON

extension Value {
    /// A value from `JSONSerialization` output or plain Swift values (`String`, `Int`, `Double`, `Bool`, `NSNull`,
    /// arrays, `[String: Any]`). Dictionaries have no order, so their keys are sorted to keep renders reproducible;
    /// pass JSON text to ``init(json:)`` when the order matters (tool schemas printed with `tojson`).
    public init(any: Any?) {
        guard let any, !(any is NSNull) else {
            self = .none
            return
        }
        switch any {
        case let value as Value: self = value
        case let value as String: self = .string(value)
        // Native Swift numbers first: bridged to NSNumber they would lose the difference between 1 and true.
        case let value as Bool where type(of: any) == Bool.self: self = .bool(value)
        case let value as Int where type(of: any) == Int.self: self = .int(value)
        case let value as Double where type(of: any) == Double.self: self = .double(value)
        case let value as NSNumber:
            // JSONSerialization's numbers: booleans are chars, floats doubles.
            switch String(cString: value.objCType) {
            case "c", "B": self = .bool(value.boolValue)
            case "d", "f": self = .double(value.doubleValue)
            default: self = .int(value.intValue)
            }
        case let value as [Any?]: self = .array(value.map { Value(any: $0) })
        case let value as [Any]: self = .array(value.map { Value(any: $0) })
        case let value as [String: Any?]:
            self = .object(Object(value.keys.sorted().map { ($0, Value(any: value[$0] ?? nil)) }))
        case let value as [String: Any]:
            self = .object(Object(value.keys.sorted().map { ($0, Value(any: value[$0])) }))
        default: self = .string(String(describing: any))
        }
    }

    /// A value parsed from JSON text, keeping the order of object keys.
    public init(json: Data) throws {
        var reader = JSONReader(Array(json))
        self = try reader.document()
    }

    /// A value parsed from JSON text, keeping the order of object keys.
    public init(json: String) throws {
        try self.init(json: Data(json.utf8))
    }
}

extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: Value...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, Value)...) { self = .object(Object(elements)) }
}

// MARK: - Python semantics

extension Value: Equatable {
    /// Python `==`: numbers compare by value across int, float and bool; containers compare deeply; undefined
    /// equals only undefined.
    public static func == (a: Value, b: Value) -> Bool {
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case let (.string(x), .string(y)): return x.unicodeScalars.elementsEqual(y.unicodeScalars)
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x == y
        case let (.namespace(x), .namespace(y)): return x === y
        case let (.callable(x), .callable(y)): return x === y
        default:
            if let x = a.number, let y = b.number {
                switch (x, y) {
                case let (.int(i), .int(j)): return i == j
                default: return x.asDouble == y.asDouble
                }
            }
            return false
        }
    }

    /// The value as a Python number (bools are ints), or nil.
    var number: Value? {
        switch self {
        case .int, .double: return self
        case let .bool(flag): return .int(flag ? 1 : 0)
        default: return nil
        }
    }

    var asDouble: Double {
        switch self {
        case let .int(i): return Double(i)
        case let .double(d): return d
        case let .bool(b): return b ? 1 : 0
        default: return .nan
        }
    }

    /// Python truthiness: empty strings and containers, zero, none and undefined are false.
    public var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case let .bool(b): return b
        case let .int(i): return i != 0
        case let .double(d): return d != 0
        case let .string(s): return !s.isEmpty
        case let .array(a): return !a.isEmpty
        case let .object(o): return !o.isEmpty
        case .namespace, .callable: return true
        }
    }

    public var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// The Python type name used in error messages.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .array: return "list"
        case .object: return "dict"
        case .namespace: return "Namespace"
        case .callable: return "function"
        }
    }
}
