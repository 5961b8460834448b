import ArgumentParser
import Foundation
import SafeTensors

/// `--json`: machine output on standard output instead of text, and no progress display.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print one JSON object on standard output instead of text.")
    var json = false

    /// Prints a JSON value on one line. A NaN or infinite number prints as `null`: Python writes
    /// `NaN`, which is not JSON, and Node's and Go's parsers reject the whole line.
    func emit(_ value: PythonJSONText.Value) {
        print(PythonJSONText.renderCompact(Self.finite(value)))
        // A pipe would otherwise hold training events until exit; consumers follow them live
        // (nil flushes every stream: stdout itself is not concurrency-safe to name).
        fflush(nil)
    }

    /// Prints one of the modules' Codable results as one JSON object on a line, keys sorted, a
    /// non-finite number as `null` as above.
    func emit<Result: Encodable>(_ result: Result) throws {
        print(try Self.line(result))
        fflush(nil)
    }

    /// `result` as compact JSON with sorted keys. JSONEncoder can only refuse a NaN or write it
    /// as a string, so it writes a marker string that is then replaced by `null`. No string
    /// value can end up as the quoted marker by accident: the marker is random per run, and a
    /// quote inside a string is escaped.
    static func line<Result: Encodable>(_ result: Result) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: nonFiniteMarker, negativeInfinity: nonFiniteMarker,
            nan: nonFiniteMarker)
        let line = String(decoding: try encoder.encode(result), as: UTF8.self)
        return line.replacingOccurrences(of: "\"\(nonFiniteMarker)\"", with: "null")
    }

    private static let nonFiniteMarker = "tailor-non-finite-" + UUID().uuidString
}

extension OutputOptions {
    /// `value` with every non-finite number replaced by null.
    static func finite(_ value: PythonJSONText.Value) -> PythonJSONText.Value {
        switch value {
        case .double(let number) where !number.isFinite: .null
        case .array(let items): .array(items.map(finite))
        case .object(let members): .object(members.mapValues(finite))
        default: value
        }
    }
}

/// Parses sizes like "5GB", "200MB", "1.5GiB" or a plain byte count, as transformers'
/// `max_shard_size` does (decimal kB/MB/GB, binary KiB/MiB/GiB).
func parseByteSize(_ text: String) throws -> Int {
    let units: [(String, Double)] = [
        ("KIB", 0x1p10), ("MIB", 0x1p20), ("GIB", 0x1p30), ("TIB", 0x1p40),
        ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("B", 1),
    ]
    let upper = text.uppercased().trimmingCharacters(in: .whitespaces)
    for (suffix, scale) in units where upper.hasSuffix(suffix) {
        if let number = Double(upper.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), number > 0 {
            return Int(number * scale)
        }
    }
    if let bytes = Int(upper), bytes > 0 { return bytes }
    throw UsageProblem(description: "invalid size '\(text)': use e.g. 500MB, 5GB or 2GiB")
}

/// Refuses an option value outside its range, naming the option, the range and the value given
/// (checked before any work, so a NaN rate or a negative size never reaches the engine).
func requireRange(_ isValid: Bool, _ option: String, _ range: String, _ value: Any) throws {
    guard isValid else { throw ValidationError("\(option) must be \(range), not \(value)") }
}
