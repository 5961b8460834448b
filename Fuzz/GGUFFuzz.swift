// GGUF files: GGUFFile's parse (GGUFFile.swift), then what readers do with every tensor (bytes,
// decoding the types this code decodes).
//
// The input is a whole file. Oracles besides "no trap": a file that parses is written again by
// GGUFWriter from what was read (metadata in order, tensors re-encoded from their bytes); that file
// parses to the same keys, tensor names and shapes, and writing it again gives the same bytes.
import Foundation

@testable import GGUF
@testable import SafeTensors

enum Harness {
    static func setUp() {}

    static func run(_ bytes: [UInt8]) {
        let file: GGUFFile
        do { file = try GGUFFile(storage: MappedStorage(copying: bytes), path: "fuzz") } catch { return }
        var writer = GGUFWriter()
        writer.metadata = file.metadata
        for info in file.tensors {
            let raw = file.bytes(of: info)
            precondition(raw.count == info.byteCount)
            if GGMLBlocks.decodable.contains(info.type) { _ = try? file.floats(of: info) }
            writer.tensors.append(.init(name: info.name, shape: info.shape, type: info.type, bytes: Array(raw)))
        }
        // Re-encoding may only fail on what the reader accepts but the writer refuses (a bad alignment is caught by both).
        guard let again = try? writer.encoded(file: "fuzz") else { return }
        do {
            let reread = try GGUFFile(storage: MappedStorage(copying: again), path: "fuzz")
            precondition(reread.metadata.map(\.key) == file.metadata.map(\.key))
            precondition(
                reread.tensors.map(\.name) == file.tensors.map(\.name) && reread.tensors.map(\.dimensions) == file.tensors.map(\.dimensions)
            )
            // Values compared as bytes: a NaN metadata float is not equal to itself.
            var copy = GGUFWriter()
            copy.metadata = reread.metadata
            copy.tensors = reread.tensors.map { .init(name: $0.name, shape: $0.shape, type: $0.type, bytes: Array(reread.bytes(of: $0))) }
            let written = try copy.encoded(file: "fuzz")
            precondition(written == again, "writing what was read back does not give the same bytes")
        } catch {
            fatalError("a file GGUFWriter wrote from a parsed one does not parse: \(error)")
        }
    }

    /// Every GGUF fixture small enough as it is, and the first 4 kB of the others.
    static func writeSeeds(into folder: String) {
        for path in Fuzz.fixtureFiles(suffix: ".gguf") {
            let bytes = Fuzz.read(path)
            Fuzz.seed(Array(bytes.prefix(4096)), named: path, into: folder)
        }
    }
}
