// Shared by every harness (compiled into each fuzzer binary next to one Fuzz/*Fuzz.swift file,
// which defines `enum Harness`): the libFuzzer entry points, the seed-writing mode, fixtures and a
// scratch folder for readers whose real entry point takes a path.
import Foundation

#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    if let folder = ProcessInfo.processInfo.environment["TAILOR_FUZZ_WRITE_SEEDS"] {
        Harness.writeSeeds(into: folder)
        exit(0)
    }
    Harness.setUp()
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    Harness.run(bytes)
    return 0
}

enum Fuzz {
    /// fixtures/ of the repository (Scripts/fuzz sets TAILOR_FIXTURES).
    static let fixtures: String =
        ProcessInfo.processInfo.environment["TAILOR_FIXTURES"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures").path

    /// A folder of this process, removed at exit; in /dev/shm when there is one (no disk I/O).
    static let scratch: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let path = base + "/tailor-fuzz-\(getpid())"
        try? FileManager.default.removeItem(atPath: path)
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: Fuzz.scratch) }
        return path
    }()

    /// Replaces the file at `path` with `bytes` (open, write, close: no temp file, no rename).
    static func write(_ bytes: [UInt8], to path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(fd >= 0, "cannot create \(path)")
        var done = 0
        bytes.withUnsafeBytes { raw in
            while done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                precondition(n > 0, "cannot write \(path)")
                done += n
            }
        }
        close(fd)
    }

    static func read(_ path: String) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { fatalError("cannot read \(path)") }
        return [UInt8](data)
    }

    /// Fixture files under `folder` (relative to fixtures/) whose names end with `suffix`.
    static func fixtureFiles(_ folder: String = "", suffix: String) -> [String] {
        let root = folder.isEmpty ? fixtures : fixtures + "/" + folder
        let all = (FileManager.default.enumerator(atPath: root)?.allObjects as? [String]) ?? []
        return all.filter { $0.hasSuffix(suffix) }.sorted().map { root + "/" + $0 }
    }

    /// Writes one seed file named after `name` (slashes and dots flattened).
    static func seed(_ bytes: [UInt8], named name: String, into folder: String) {
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let flat = name.replacingOccurrences(of: fixtures + "/", with: "").map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }
        write(bytes, to: folder + "/" + String(flat))
    }

    /// How far an input got, printed when TAILOR_FUZZ_VERBOSE is set (with `Scripts/fuzz repro`).
    static let verbose = ProcessInfo.processInfo.environment["TAILOR_FUZZ_VERBOSE"] != nil
    static func note(_ message: @autoclosure () -> String) {
        if verbose { print("fuzz: " + message()) }
    }

    /// A deterministic choice from the input (so a reproducer replays the same way).
    static func hash(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}
