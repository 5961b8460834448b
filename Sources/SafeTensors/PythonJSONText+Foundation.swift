import Foundation

extension PythonJSONText.Value {
    /// Bridges what `JSONSerialization` returns, keeping the int/float/bool distinction Python
    /// keeps (so `1.0` stays `1.0` and `true` does not become `1` when re-written).
    public init?(jsonObject: Any) {
        switch jsonObject {
        case is NSNull: self = .null
        case let text as String: self = .string(text)
        case let number as NSNumber:
            if String(describing: type(of: number)).contains("Boolean") {
                self = .bool(number.boolValue)
            } else if ["d", "f"].contains(String(cString: number.objCType)) {
                self = .double(number.doubleValue)
            } else {
                self = .int(number.intValue)
            }
        case let array as [Any]:
            var elements: [PythonJSONText.Value] = []
            for element in array {
                guard let value = PythonJSONText.Value(jsonObject: element) else { return nil }
                elements.append(value)
            }
            self = .array(elements)
        case let object as [String: Any]:
            var members: [String: PythonJSONText.Value] = [:]
            for (key, element) in object {
                guard let value = PythonJSONText.Value(jsonObject: element) else { return nil }
                members[key] = value
            }
            self = .object(members)
        default:
            return nil
        }
    }

    /// Parses JSON text (a file's contents).
    public init?(jsonData: Data) {
        guard let object = try? JSONSerialization.jsonObject(with: jsonData, options: [.fragmentsAllowed]) else { return nil }
        self.init(jsonObject: object)
    }
}
