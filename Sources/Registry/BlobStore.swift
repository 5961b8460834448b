import Crypto
import Foundation
import SafeTensors

/// Content-addressed blobs in a folder: each blob is named by the SHA-256 of its bytes
/// (`blobs/ab/cdef…`, git's fan-out so no folder grows huge). A blob is written to a temporary
/// name in the same folder, flushed to disk, then renamed into place, so a crash leaves either
/// the whole blob or none; a second writer of the same content finds it already there.
public struct BlobStore: Sendable {
    public let root: String

    public init(root: String) throws {
        self.root = root
        try FileManager.default.createDirectory(atPath: root + "/blobs", withIntermediateDirectories: true)
    }

    /// Lower-case hex SHA-256 of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    static func isHash(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    public func path(of hash: String) -> String {
        root + "/blobs/" + hash.prefix(2) + "/" + hash.dropFirst(2)
    }

    /// Stores `bytes` and returns their hash.
    @discardableResult
    public func put(_ bytes: [UInt8]) throws -> String {
        let hash = Self.hash(bytes)
        let target = path(of: hash)
        // Deduplicating onto a blob that rotted on disk would store a version that cannot be
        // exported: an existing blob counts only when it still hashes to its name, else it is
        // written again (the rename replaces the damaged file).
        if let existing = FileManager.default.contents(atPath: target), Self.hash([UInt8](existing)) == hash { return hash }
        let folder = PathText.folder(of: target)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let temporary = folder + "/.tmp-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard descriptor >= 0 else { throw RegistryError(file: temporary, "cannot create (errno \(errno))") }
        var written = 0
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            while written < raw.count {
                let n = write(descriptor, raw.baseAddress! + written, raw.count - written)
                if n <= 0 { return false }
                written += n
            }
            return fsync(descriptor) == 0
        }
        close(descriptor)
        guard ok, rename(temporary, target) == 0 else {
            unlink(temporary)
            throw RegistryError(file: target, "cannot write the blob (errno \(errno))")
        }
        // The rename itself must reach the disk before the index may point at the blob.
        let directory = open(folder, O_RDONLY)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
        return hash
    }

    /// The blob's bytes, checked against its hash; at most `maxLength` bytes are read.
    public func get(_ hash: String, maxLength: Int) throws -> [UInt8] {
        guard Self.isHash(hash) else { throw RegistryError(file: root, "\"\(hash)\" is not a blob hash") }
        let file = path(of: hash)
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: file),
            let size = (attributes[.size] as? NSNumber)?.intValue
        else { throw RegistryError(file: file, "blob is missing") }
        guard size <= maxLength else { throw RegistryError(file: file, "blob is \(size) bytes, more than the \(maxLength) recorded") }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        guard Self.hash(bytes) == hash else { throw RegistryError(file: file, "contents do not match the blob's hash (corrupted)") }
        return bytes
    }

    /// Every stored blob's hash (temporary files left by a crash are not blobs).
    public func hashes() throws -> [String] {
        let folder = root + "/blobs"
        return try FileManager.default.contentsOfDirectory(atPath: folder).sorted().flatMap { prefix -> [String] in
            guard prefix.utf8.count == 2 else { return [] }
            return try FileManager.default.contentsOfDirectory(atPath: folder + "/" + prefix).sorted()
                .map { prefix + $0 }.filter(Self.isHash)
        }
    }

    /// Blobs whose bytes no longer hash to their name.
    public func corrupted() throws -> [String] {
        try hashes().filter { hash in
            guard let bytes = try? Data(contentsOf: URL(fileURLWithPath: path(of: hash))) else { return true }
            return Self.hash([UInt8](bytes)) != hash
        }
    }

    /// Removes blobs not in `referenced`, and temporary files a crashed writer left; returns the
    /// removed hashes.
    @discardableResult
    public func removeUnreferenced(keeping referenced: Set<String>) throws -> [String] {
        var removed: [String] = []
        for hash in try hashes() where !referenced.contains(hash) {
            try FileManager.default.removeItem(atPath: path(of: hash))
            removed.append(hash)
        }
        let folder = root + "/blobs"
        for prefix in try FileManager.default.contentsOfDirectory(atPath: folder) {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder + "/" + prefix)) ?? [] where name.hasPrefix(".tmp-") {
                try? FileManager.default.removeItem(atPath: folder + "/" + prefix + "/" + name)
            }
        }
        return removed
    }
}
