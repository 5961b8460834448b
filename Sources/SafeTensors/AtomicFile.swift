#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file written under a temporary name in its destination folder and renamed into place
/// only when complete, so a reader never sees half a file and a failed write leaves nothing.
public final class AtomicFile {
    public let path: String
    public let temporaryPath: String
    private var descriptor: Int32
    private var committed = false

    /// Creates the temporary file next to `path` (same folder, so the rename is atomic).
    public init(path: String) throws(SafeTensorsError) {
        self.path = path
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let temporaryPath = "\(folder.isEmpty ? "/" : folder)/.\(base).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        self.temporaryPath = temporaryPath
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw SafeTensorsError(file: path, .io("cannot create a file in \(folder): \(String(cString: strerror(errno)))"))
        }
    }

    deinit {
        if !committed { discard() }
    }

    /// Writes all of `bytes` at absolute file offset `offset`.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(SafeTensorsError) {
        var done = 0
        while done < bytes.count {
            let result = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if result < 0 {
                if errno == EINTR { continue }
                throw SafeTensorsError(file: path, .io("write failed: \(String(cString: strerror(errno)))"))
            }
            done += result
        }
    }

    /// Sets the file's length (reserving space lets tensors be written in any order).
    public func resize(to length: Int) throws(SafeTensorsError) {
        guard ftruncate(descriptor, off_t(length)) == 0 else {
            throw SafeTensorsError(file: path, .io("cannot size the file: \(String(cString: strerror(errno)))"))
        }
    }

    /// Flushes to disk and renames into place; after this the file is at `path`.
    public func commit() throws(SafeTensorsError) {
        guard fsync(descriptor) == 0 else {
            throw SafeTensorsError(file: path, .io("fsync failed: \(String(cString: strerror(errno)))"))
        }
        close(descriptor)
        descriptor = -1
        guard rename(temporaryPath, path) == 0 else {
            throw SafeTensorsError(file: path, .io("cannot rename into place: \(String(cString: strerror(errno)))"))
        }
        committed = true
    }

    /// Removes the temporary file; the destination is untouched.
    public func discard() {
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
        }
        if !committed { unlink(temporaryPath) }
        committed = true
    }
}
