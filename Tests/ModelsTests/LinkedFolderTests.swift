import Foundation
import Models
import TailorTestSupport
import Testing
import Tokenizers

/// A Hugging Face cache snapshot is a folder of symbolic links into the cache's blob store
/// (`snapshots/<rev>/config.json -> ../../blobs/<sha>`): every file of a model folder is read
/// through its link.
@Suite struct LinkedFolderTests {
    @Test func aFolderOfSymbolicLinksLoadsLikeTheFolder() throws {
        let folder = TemporaryFolder()
        let blobs = folder.file("blobs"), snapshot = folder.file("snapshots/rev")
        try FileManager.default.createDirectory(atPath: blobs, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: snapshot, withIntermediateDirectories: true)
        for (index, name) in ["config.json", "model.safetensors", "tokenizer.json"].enumerated() {
            try FileManager.default.copyItem(atPath: FixturePaths.path("tiny-llama/" + name), toPath: blobs + "/blob\(index)")
            try FileManager.default.createSymbolicLink(atPath: snapshot + "/" + name, withDestinationPath: "../../blobs/blob\(index)")
        }
        let linked = try ModelLoader.loadCausalLM(folder: snapshot)
        let plain = try ModelLoader.loadCausalLM(folder: FixturePaths.path("tiny-llama"))
        #expect(linked.vocabularySize == plain.vocabularySize)
        let ids = try Tokenizer(path: snapshot).encode("hello there").ids
        let a = linked.prefill(ids, cache: linked.makeCache(capacity: 8), adapterSlot: nil)
        let b = plain.prefill(ids, cache: plain.makeCache(capacity: 8), adapterSlot: nil)
        #expect(a.values == b.values)
    }
}
