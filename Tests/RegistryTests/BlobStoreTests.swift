import Foundation
import Registry
import TailorTestSupport
import Testing

@Suite struct BlobStoreTests {
    @Test func storesByContentAndDetectsCorruption() throws {
        let folder = TemporaryFolder()
        let store = try BlobStore(root: folder.path)
        let bytes: [UInt8] = Array("adapter bytes".utf8)
        let hash = try store.put(bytes)
        #expect(BlobStore.hash(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hash == BlobStore.hash(bytes))
        #expect(try store.put(bytes) == hash, "the same content is one blob")
        #expect(try store.get(hash, maxLength: bytes.count) == bytes)
        #expect(try store.hashes() == [hash])
        #expect(throws: RegistryError.self) { try store.get(hash, maxLength: bytes.count - 1) }
        #expect(throws: RegistryError.self) { try store.get("../../etc/passwd", maxLength: 100) }

        var damaged = bytes
        damaged[0] ^= 1
        try Data(damaged).write(to: URL(fileURLWithPath: store.path(of: hash)))
        #expect(try store.corrupted() == [hash])
        #expect { try store.get(hash, maxLength: bytes.count) } throws: { "\($0)".contains("corrupted") }

        let other = try store.put([1, 2, 3])
        try Data("partial".utf8).write(
            to: URL(fileURLWithPath: (store.path(of: other) as NSString).deletingLastPathComponent + "/.tmp-1-x"))
        #expect(try store.removeUnreferenced(keeping: [other]) == [hash])
        #expect(try store.hashes() == [other])
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: (store.path(of: other) as NSString).deletingLastPathComponent)
                .allSatisfy { !$0.hasPrefix(".tmp-") })
    }
}
