import Foundation

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

    /// Creates the temporary file next to `path` (same folder, so the rename is atomic). A
    /// device, FIFO or folder at `path` is refused: the rename would replace it with a file.
    public init(path: String) throws(SafeTensorsError) {
        self.path = path
        try OutputPaths.checkFile(path)
        let folder = PathText.folder(of: path)
        let base = PathText.name(of: path)
        let temporaryPath = "\(folder)/.\(base).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        self.temporaryPath = temporaryPath
        guard TemporaryFiles.register(temporaryPath) else {
            descriptor = -1
            committed = true
            throw SafeTensorsError(file: path, .io("interrupted"))
        }
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            TemporaryFiles.unregister(temporaryPath)
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
        TemporaryFiles.unregister(temporaryPath)
    }

    /// Removes the temporary file; the destination is untouched.
    public func discard() {
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
        }
        if !committed {
            unlink(temporaryPath)
            TemporaryFiles.unregister(temporaryPath)
        }
        committed = true
    }
}

/// The temporary files of every ``AtomicFile`` still being written, so that a command stopped
/// by SIGINT or SIGTERM can remove them before it exits (a signal does not run deinits).
public enum TemporaryFiles {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var paths: Set<String> = []
    nonisolated(unsafe) private static var closed = false

    /// Records `path`; false once ``removeAllAndClose()`` ran (the process is exiting).
    static func register(_ path: String) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard !closed else { return false }
        paths.insert(path)
        return true
    }

    static func unregister(_ path: String) {
        lock.lock()
        defer { lock.unlock() }
        paths.remove(path)
    }

    /// Removes every temporary file still open and refuses new ones: called on the way out
    /// of an interrupted process, from a thread other than the one writing.
    public static func removeAllAndClose() {
        lock.lock()
        defer { lock.unlock() }
        closed = true
        // Scratch folders (ScratchFolder) as well as files.
        for path in paths { try? FileManager.default.removeItem(atPath: path) }
        paths.removeAll()
    }
}
