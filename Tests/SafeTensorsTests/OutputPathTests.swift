import Foundation
import TailorTestSupport
import Testing

@testable import SafeTensors

/// Path splitting that Foundation gets wrong (it traps on one-character paths on Linux).
@Suite struct PathTextTests {
    @Test(arguments: [
        ("o", ".", "o"), ("a/", ".", "a"), ("/a", "/", "a"), ("ab/c", "ab", "c"), ("/x/y/", "/x", "y"), ("/", "/", "/"),
        ("out/model.safetensors", "out", "model.safetensors"),
    ])
    func splitsAtTheLastSlash(path: String, folder: String, name: String) {
        #expect(PathText.folder(of: path) == folder)
        #expect(PathText.name(of: path) == name)
    }
}

/// Where commands may write: never onto an input, never onto a device, never over an earlier
/// result without overwrite; a failed command's folder goes.
@Suite struct OutputFolderTests {
    @Test func aSymlinkToTheInputIsTheInput() throws {
        let folder = TemporaryFolder()
        try FileManager.default.createDirectory(atPath: folder.file("model"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: folder.file("link"), withDestinationPath: folder.file("model"))
        #expect(throws: SafeTensorsError.self) { try OutputFolder(folder.file("link"), inputs: [folder.file("model")]) }
        #expect(throws: SafeTensorsError.self) { try OutputFolder(folder.file("link"), inputs: [folder.file("model/model.safetensors")]) }
        #expect(throws: SafeTensorsError.self) { try OutputPaths.checkFile("/dev/null") }
        #expect(throws: SafeTensorsError.self) { try AtomicFile(path: "/dev/null") }
    }

    @Test func anEarlierResultNeedsOverwriteAndOldShardsGoAfterTheNewOne() throws {
        let folder = TemporaryFolder()
        let out = folder.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for name in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "tokenizer.json"] {
            FileManager.default.createFile(atPath: out + "/" + name, contents: Data("old".utf8))
        }
        #expect(throws: SafeTensorsError.self) { try OutputFolder(out, inputs: []) }
        let output = try OutputFolder(out, inputs: [], overwrite: true)
        FileManager.default.createFile(atPath: out + "/model.safetensors", contents: Data("new".utf8))
        output.finish(written: [out + "/model.safetensors"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == ["model.safetensors", "tokenizer.json"])
    }

    @Test func aFailedCommandRemovesOnlyTheFolderItCreated() throws {
        let folder = TemporaryFolder()
        let created = try OutputFolder(folder.file("new"), inputs: [])
        FileManager.default.createFile(atPath: folder.file("new/partial"), contents: Data())
        created.abandon()
        #expect(!FileManager.default.fileExists(atPath: folder.file("new")))
        let existing = try OutputFolder(folder.path, inputs: [])
        existing.abandon()
        #expect(FileManager.default.fileExists(atPath: folder.path), "a folder the user had stays")
    }

    @Test func temporaryFilesOfDeadProcessesAreRemoved() throws {
        let folder = TemporaryFolder()
        let out = folder.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let dead = out + "/.model.safetensors.999999999.7.tmp"
        let live = out + "/.model.safetensors.\(getpid()).7.tmp"
        for path in [dead, live] { FileManager.default.createFile(atPath: path, contents: Data()) }
        _ = try OutputFolder(out, inputs: [])
        #expect(!FileManager.default.fileExists(atPath: dead))
        #expect(FileManager.default.fileExists(atPath: live), "a running process's file stays")
    }
}
