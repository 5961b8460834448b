// safetensors files: SafeTensorsHeader.parse(fileBytes:) (Header.swift, HeaderJSON.swift), what
// SafeTensorsFile does on open, and what readers then do with every tensor (element counts,
// views, conversion to f32).
//
// The input is a whole file. When its header is valid but the data buffer is cut short (as in the
// seeds, which are headers cut out of the fixtures' checkpoints), the data is filled in from the
// input's bytes, so the checks after the header (views, conversions) run too.
// Oracles besides "no trap": a header that parsed parses again once its data is completed, and
// re-encoding a parsed header (encodedJSON) gives a file that parses to the same tensors.
@testable import SafeTensors

enum Harness {
    static func setUp() {}

    static func run(_ bytes: [UInt8]) {
        do {
            _ = try parse(bytes)
            exercise(bytes)
        } catch {
            guard case .incompleteBuffer(let expected, let actual) = error.kind, expected > actual, expected - actual <= 1 << 20,
                !bytes.isEmpty
            else { return }
            var file = bytes
            file.reserveCapacity(expected)
            for i in 0..<(expected - actual) { file.append(bytes[i % bytes.count] &+ UInt8(truncatingIfNeeded: i)) }
            do { _ = try parse(file) } catch { fatalError("a header that only lacked its data fails once completed: \(error)") }
            exercise(file)
        }
    }

    static func parse(_ file: [UInt8]) throws(SafeTensorsError) -> SafeTensorsHeader {
        try withBytes(of: file) { (raw) throws(SafeTensorsError) in try SafeTensorsHeader.parse(fileBytes: raw, file: "fuzz") }
    }

    /// What readers do with a valid file.
    static func exercise(_ file: [UInt8]) {
        let opened: SafeTensorsFile
        do { opened = try SafeTensorsFile(bytes: file, label: "fuzz") } catch {
            fatalError("parse succeeded, SafeTensorsFile failed: \(error)")
        }
        var elements = 0
        for info in opened.tensors {
            let view = opened.view(of: info)
            precondition(view.bytes.count == info.byteCount)
            elements &+= info.elementCount
            _ = opened.header.tensor(named: info.name)
            if DTypeConversion.sources.contains(info.dtype) {
                _ = try? view.floats()
            }
        }
        _ = opened.metadata
        // Re-encode the header and put the same data after it: the same tensors must come back.
        let header = opened.header
        let json = header.encodedJSON()
        var again: [UInt8] = []
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { again.append(contentsOf: $0) }
        again += json
        again += file[header.dataStart...]
        do {
            let reparsed = try parse(again)
            precondition(reparsed.tensors == header.tensors, "re-encoded header lists other tensors")
            precondition(reparsed.metadata == header.metadata, "re-encoded header has other metadata")
        } catch {
            fatalError("re-encoded header does not parse: \(error)")
        }
    }

    /// Every safetensors fixture small enough as it is, and the header (with a few data bytes) of the others.
    static func writeSeeds(into folder: String) {
        for path in Fuzz.fixtureFiles(suffix: ".safetensors") {
            let bytes = Fuzz.read(path)
            if bytes.count <= 4096 {
                Fuzz.seed(bytes, named: path, into: folder)
            } else if bytes.count >= 8 {
                let length = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
                guard length <= bytes.count - 8 else { continue }
                Fuzz.seed(Array(bytes.prefix(8 + length + 16)), named: path + ".header", into: folder)
            }
        }
    }
}
