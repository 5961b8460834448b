import Foundation
import Testing

@testable import SafeTensors

/// Every malformed file of `fixtures/safetensors/malformed/` gets the official reader's verdict
/// (accepted or rejected, from `verdicts.json`) and, when rejected, the error case of the rule
/// it breaks.
@Suite struct MalformedFileTests {
    /// The rule each rejected case breaks. A case missing here fails the test, so a new golden
    /// needs a decision.
    static let expectedRule: [String: @Sendable (SafeTensorsError.Kind) -> Bool] = {
        @Sendable func json(_ kind: SafeTensorsError.Kind) -> Bool { if case .invalidHeaderJSON = kind { true } else { false } }
        return [
            "empty-file": { if case .headerTooSmall(0) = $0 { true } else { false } },
            "seven-bytes": { if case .headerTooSmall(7) = $0 { true } else { false } },
            "header-too-large": { if case .headerTooLarge(100_000_001) = $0 { true } else { false } },
            "header-length-huge": { if case .headerTooLarge = $0 { true } else { false } },
            "header-past-end": { if case .invalidHeaderLength(200, _) = $0 { true } else { false } },
            "header-not-utf8": { if case .headerNotUTF8(2) = $0 { true } else { false } },
            "header-not-json": json, "header-nul-padding": json, "header-top-level-array": json,
            "header-trailing-comma": json, "header-comment": json, "unknown-dtype": json,
            "lowercase-dtype": json, "metadata-value-not-string": json, "metadata-not-object": json,
            "metadata-duplicate": json, "offsets-float": json, "offsets-exponent": json,
            "offsets-negative": json, "offsets-minus-zero": json, "offsets-three": json,
            "offsets-one": json, "offsets-string": json, "offsets-too-big": json,
            "shape-negative": json, "shape-float": json, "shape-not-array": json,
            "missing-dtype": json, "missing-offsets": json, "duplicate-field": json,
            "entry-not-object": json, "lone-surrogate-name": json, "deep-nesting": json,
            "leading-zero": json, "control-char-in-name": json,
            "offsets-gap": { $0 == .invalidOffset }, "offsets-overlap": { $0 == .invalidOffset },
            "offsets-not-from-zero": { $0 == .invalidOffset }, "offsets-reversed": { $0 == .invalidOffset },
            "json-attack": { $0 == .invalidOffset },
            "shape-overflow": { $0 == .validationOverflow },
            "shape-times-size-overflow": { $0 == .validationOverflow },
            "f4-misaligned": { $0 == .misalignedSlice(dtype: .f4, elements: 3) },
            "f6-misaligned": { $0 == .misalignedSlice(dtype: .f6E2M3, elements: 3) },
            "size-mismatch": { $0 == .tensorInvalidInfo(expectedBytes: 16, actualBytes: 4) },
            "trailing-bytes": { if case .incompleteBuffer(let e, let a) = $0 { a > e } else { false } },
            "truncated-data": { if case .incompleteBuffer(let e, let a) = $0 { a < e } else { false } },
        ]
    }()

    static func verdicts() throws -> [(String, [String: Any])] {
        let root = try Fixtures.json("safetensors/malformed/verdicts.json") as! [String: Any]
        return (root["verdicts"] as! [String: [String: Any]]).sorted { $0.key < $1.key }
    }

    @Test func sameVerdictAsTheOfficialReader() throws {
        let verdicts = try Self.verdicts()
        #expect(verdicts.count > 50)
        for (name, verdict) in verdicts {
            let path = Fixtures.path("safetensors/malformed/\(name).safetensors")
            let accepted = verdict["accepted"] as! Bool
            do {
                let file = try SafeTensorsFile(path: path)
                #expect(accepted, "\(name): we accept a file the crate rejects (\(verdict["error"] ?? ""))")
                #expect(file.tensorNames.sorted() == (verdict["tensors"] as? [String]), "\(name)")
                #expect(file.metadata == (verdict["metadata"] as? [String: String]), "\(name)")
                if let shape = verdict["shape_of_a"] as? [Int] { #expect(try file.tensor("a").shape == shape) }
            } catch {
                #expect(!accepted, "\(name): we reject a file the crate accepts: \(error)")
                guard let rule = Self.expectedRule[name] else {
                    Issue.record("\(name): no expected rule recorded for this rejected case")
                    continue
                }
                #expect(rule(error.kind), "\(name): wrong rule: \(error)")
                #expect(error.file == path)
                #expect(!error.description.contains("\n"), "errors are one line")
            }
        }
    }
}
