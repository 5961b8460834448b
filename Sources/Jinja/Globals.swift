import Foundation

/// The functions every template sees: Jinja's `range`, `namespace`, `dict`, plus transformers' `raise_exception`
/// and `strftime_now`.
enum Globals {
    static func make(options: RenderOptions) -> [String: Value] {
        var globals: [String: Value] = [:]
        func add(_ name: String, _ body: @escaping @Sendable (Value.Arguments) throws -> Value) {
            globals[name] = .callable(Value.Callable(name: name, display: "<function \(name)>") { arguments, _ in try body(arguments) })
        }
        add("raise_exception") { arguments in
            throw TemplateError(.raised, arguments.positional.first.map(PythonText.str) ?? "")
        }
        let now = options.now
        let timeZone = options.timeZone
        add("strftime_now") { arguments in
            guard case let .string(format)? = arguments.positional.first else {
                throw TemplateError(.type, "strftime() argument 1 must be str")
            }
            return .string(Strftime.format(now(), format, timeZone: timeZone))
        }
        add("range") { arguments in try range(arguments.positional) }
        add("namespace") { arguments in
            var attributes = Value.Object()
            for initial in arguments.positional {
                guard case let .object(object) = initial else { throw TemplateError(.type, "namespace() takes a dict") }
                for (key, value) in object.pairs { attributes[key] = value }
            }
            for (key, value) in arguments.keywords {
                guard !key.hasPrefix("_") else {
                    throw TemplateError(.security, "Chat templates cannot store underscore-prefixed attributes on a namespace")
                }
                attributes[key] = value
            }
            return .namespace(Value.Namespace(attributes))
        }
        add("dict") { arguments in
            var object = Value.Object()
            if let initial = arguments.positional.first {
                switch initial {
                case let .object(source): object = source
                case let .array(pairs):
                    for pair in pairs {
                        guard case let .array(entry) = pair, entry.count == 2 else {
                            throw TemplateError(.type, "dictionary update sequence element has the wrong length")
                        }
                        object[PythonText.str(entry[0])] = entry[1]
                    }
                default: throw TemplateError(.type, "'\(initial.typeName)' object is not iterable")
                }
            }
            for (key, value) in arguments.keywords { object[key] = value }
            return .object(object)
        }
        return globals
    }

    /// The list Python's `range` would iterate (a template only ever loops over it).
    private static func range(_ arguments: [Value]) throws -> Value {
        let bounds = try arguments.map { value -> Int in
            guard case let .int(i)? = value.number else {
                throw TemplateError(.type, "'\(value.typeName)' object cannot be interpreted as an integer")
            }
            return i
        }
        let (start, stop, step): (Int, Int, Int)
        switch bounds.count {
        case 1: (start, stop, step) = (0, bounds[0], 1)
        case 2: (start, stop, step) = (bounds[0], bounds[1], 1)
        case 3: (start, stop, step) = (bounds[0], bounds[1], bounds[2])
        default: throw TemplateError(.type, "range expected 1 to 3 arguments, got \(bounds.count)")
        }
        guard step != 0 else { throw TemplateError(.type, "range() arg 3 must not be zero") }
        let span = step > 0 ? Double(stop) - Double(start) : Double(start) - Double(stop)
        let count = span <= 0 ? 0 : Int((span / Double(abs(step))).rounded(.up))
        // Far past any template's need: refuse before allocating (the step budget would stop the loop anyway).
        guard count <= 10_000_000 else { throw TemplateError(.budget, "range of \(count) items is too large") }
        return .array(Swift.stride(from: start, to: stop, by: step).map { .int($0) })
    }
}

/// Python's `datetime.strftime` for the directives templates use, in the C locale (English names).
enum Strftime {
    private static let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    private static let months = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December",
    ]

    static func format(_ date: Date, _ format: String, timeZone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday, .nanosecond], from: date)
        let (year, month, day) = (c.year ?? 1970, c.month ?? 1, c.day ?? 1)
        let (hour, minute, second) = (c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
        let weekday = (c.weekday ?? 1) - 1
        let dayOfYear = calendar.ordinality(of: .day, in: .year, for: date) ?? 1
        func pad(_ value: Int, _ width: Int = 2, _ fill: Character = "0") -> String {
            let text = String(value)
            return String(repeating: fill, count: max(0, width - text.count)) + text
        }
        var out = ""
        var iterator = format.makeIterator()
        while let character = iterator.next() {
            guard character == "%", let directive = iterator.next() else {
                out.append(character)
                continue
            }
            switch directive {
            case "d": out += pad(day)
            case "e": out += pad(day, 2, " ")
            case "m": out += pad(month)
            case "Y": out += String(year)
            case "y": out += pad(year % 100)
            case "b", "h": out += String(months[month - 1].prefix(3))
            case "B": out += months[month - 1]
            case "a": out += String(days[weekday].prefix(3))
            case "A": out += days[weekday]
            case "w": out += String(weekday)
            case "H": out += pad(hour)
            case "I": out += pad(hour % 12 == 0 ? 12 : hour % 12)
            case "p": out += hour < 12 ? "AM" : "PM"
            case "M": out += pad(minute)
            case "S": out += pad(second)
            case "f": out += pad((c.nanosecond ?? 0) / 1000, 6)
            case "j": out += pad(dayOfYear, 3)
            case "F": out += "\(year)-\(pad(month))-\(pad(day))"
            case "T": out += "\(pad(hour)):\(pad(minute)):\(pad(second))"
            case "%": out += "%"
            default: out += "%" + String(directive)
            }
        }
        return out
    }
}
