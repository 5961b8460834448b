// Sharded checkpoints: Checkpoint.open on a folder whose model.safetensors.index.json is the
// input (Checkpoint.swift's openSharded: weight_map, shard names, metadata), next to the three
// real shards of fixtures/tiny-bert-sharded and two small extra files. Then what readers do with
// an opened checkpoint: every tensor's info, view and values, and the metadata bridged to
// PythonJSONText (rendered as config.json and the index are written).
// The reader only takes a path, so the input is written to the index file of a scratch folder.
import Foundation

@testable import SafeTensors

enum Harness {
    static var folder = ""

    static func setUp() {
        folder = Fuzz.scratch + "/sharded"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for name in [
            "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors",
            "config.json",
        ] {
            Fuzz.write(Fuzz.read(Fuzz.fixtures + "/tiny-bert-sharded/" + name), to: folder + "/" + name)
        }
        // A one-tensor shard the index may also name, and a file that is not a checkpoint.
        let small = try! SafeTensorsWriter.serialize([TensorData(name: "extra.weight", dtype: .f16, shape: [2], bytes: [0, 0x3C, 0, 0xC0])])
        Fuzz.write(small, to: folder + "/extra.safetensors")
        Fuzz.write(Array("not a checkpoint".utf8), to: folder + "/notes.txt")
    }

    static func run(_ bytes: [UInt8]) {
        Fuzz.write(bytes, to: folder + "/" + Checkpoint.indexFileName)
        guard let checkpoint = try? Checkpoint.open(folder) else { return }
        for info in checkpoint.tensorInfos {
            guard let view = try? checkpoint.tensor(info.name) else { fatalError("listed tensor \(info.name) cannot be read") }
            precondition(checkpoint.file(holding: info.name) != nil)
            _ = info.elementCount
            if DTypeConversion.sources.contains(view.dtype) { _ = try? view.floats() }
        }
        _ = checkpoint.metadata
        _ = PythonJSONText.render(.object(checkpoint.indexMetadata))
        _ = PythonJSONText.renderCompact(.object(checkpoint.indexMetadata))
    }

    static func writeSeeds(into folder: String) {
        for path in Fuzz.fixtureFiles(suffix: ".index.json") { Fuzz.seed(Fuzz.read(path), named: path, into: folder) }
        let extra =
            #"{"metadata":{"total_size":8,"format":"pt","nested":[1,2.5,true,null,{"a":"b"}]},"#
            + #""weight_map":{"extra.weight":"extra.safetensors"}}"#
        Fuzz.seed(Array(extra.utf8), named: "extra-only", into: folder)
    }
}
