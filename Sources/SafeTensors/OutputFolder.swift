import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a command may write, checked before any work starts: never onto one of its inputs
/// (paths compared by device and inode, so a symlink or `..` cannot alias them), never onto a
/// device, FIFO or socket, never beside an earlier run's checkpoint unless asked to overwrite it.
public enum OutputPaths {
    struct Identity: Equatable {
        let device: UInt64
        let inode: UInt64
    }

    /// The file or folder `path` names after following symlinks; nil when nothing is there.
    static func identity(_ path: String) -> Identity? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// Whether `a` and `b` name the same file or folder (both must exist).
    public static func sameFile(_ a: String, _ b: String) -> Bool {
        guard let left = identity(a), let right = identity(b) else { return false }
        return left == right
    }

    /// What is at `path` after following symlinks: nil when nothing, else whether it is a
    /// regular file, a folder or something else (a device, FIFO or socket).
    enum Kind { case regular, folder, other }

    static func kind(_ path: String) -> Kind? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .regular
        case S_IFDIR: return .folder
        default: return .other
        }
    }

    /// Refuses writing the file `path` when it exists as something other than a regular file or
    /// is the same file as one of `inputs`.
    public static func checkFile(_ path: String, inputs: [String] = []) throws(SafeTensorsError) {
        switch kind(path) {
        case .folder?: throw SafeTensorsError(file: path, .io("is a folder, not a file; name a file to write"))
        case .other?: throw SafeTensorsError(file: path, .io("is a device, FIFO or socket, not a regular file; choose another output"))
        case .regular?, nil: break
        }
        for input in inputs where sameFile(path, input) {
            throw SafeTensorsError(file: path, .io("is the input \(input): writing it would overwrite the input; choose another output"))
        }
    }

    /// Refuses a folder output that is one of `inputs`, or the folder holding an input file.
    static func checkFolder(_ path: String, inputs: [String]) throws(SafeTensorsError) {
        switch kind(path) {
        case .regular?, .other?: throw SafeTensorsError(file: path, .io("exists and is not a folder; choose another output"))
        case .folder?, nil: break
        }
        for input in inputs {
            let folder = kind(input) == .folder ? input : PathText.folder(of: input)
            if sameFile(path, input) || sameFile(path, folder) {
                throw SafeTensorsError(
                    file: path,
                    .io(
                        "is the input \(input): writing there would overwrite the input; "
                            + "choose another output"))
            }
        }
    }
}

/// A folder a command writes its result into. Created when missing (and removed again when the
/// command fails, so a failed run leaves no empty folder); an existing folder that already holds
/// a result is refused unless `overwrite`, and then the old result's files that the new one does
/// not replace (old shards) are removed only once the new one is complete. Temporary files that
/// an interrupted earlier run left behind are removed on the way in.
public final class OutputFolder {
    public let path: String
    public let overwrite: Bool
    private let created: Bool
    private let isResult: (String) -> Bool

    /// Safetensors files and a shard index: what a model or adapter folder's result is made of.
    public static func isCheckpointFile(_ name: String) -> Bool {
        name.hasSuffix(".safetensors") || name == Checkpoint.indexFileName
    }

    /// - Parameters:
    ///   - inputs: files and folders the command reads; the output may be none of them.
    ///   - isResult: which file names in the folder count as an earlier result.
    public init(
        _ path: String, inputs: [String], overwrite: Bool = false,
        isResult: @escaping (String) -> Bool = OutputFolder.isCheckpointFile
    ) throws(SafeTensorsError) {
        self.path = path
        self.overwrite = overwrite
        self.isResult = isResult
        try OutputPaths.checkFolder(path, inputs: inputs)
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        let exists = OutputPaths.kind(path) == .folder
        if exists, !overwrite, let old = existing.sorted().first(where: { !$0.hasPrefix(".") && isResult($0) }) {
            throw SafeTensorsError(file: path, .io("already holds \(old) from an earlier run; choose another folder or allow overwriting"))
        }
        if exists { Self.removeStaleTemporaryFiles(in: path, names: existing) }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw SafeTensorsError(file: path, .io("cannot create the folder: \(error.localizedDescription)"))
        }
        created = !exists
    }

    /// After a complete write: with `overwrite`, removes earlier result files not among `written`.
    public func finish(written: [String]) {
        guard overwrite else { return }
        let kept = Set(written.map { PathText.name(of: $0) })
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        where isResult(name) && !kept.contains(name) && !name.hasPrefix(".") {
            try? FileManager.default.removeItem(atPath: path + "/" + name)
        }
    }

    /// After a failure: removes the folder when this command created it (everything in it is
    /// ours) unless `keeping` says something in it is worth keeping (a training checkpoint).
    public func abandon(keeping: (String) -> Bool = { _ in false }) {
        guard created else { return }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        if !names.contains(where: keeping) { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Removes an earlier run's result files up front, for a command whose new result cannot
    /// sit beside the old one while it is written (training reads its own checkpoints back).
    public func removeEarlierResults() {
        guard overwrite else { return }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] where isResult(name) && !name.hasPrefix(".") {
            try? FileManager.default.removeItem(atPath: path + "/" + name)
        }
    }

    /// Removes `.NAME.PID.N.tmp` files and folders (``AtomicFile``'s and ``ScratchFolder``'s
    /// temporary names; only those for NAME `only` when given) whose process is gone.
    static func removeStaleTemporaryFiles(in folder: String, names: [String], only: String? = nil) {
        for name in names where name.hasPrefix(".") && name.hasSuffix(".tmp") {
            let parts = name.dropFirst().dropLast(4).split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count >= 3, let pid = Int32(parts[parts.count - 2]) else { continue }
            if let only, parts.dropLast(2).joined(separator: ".") != only { continue }
            if pid != getpid(), kill(pid, 0) != 0, errno == ESRCH {
                try? FileManager.default.removeItem(atPath: folder + "/" + name)
            }
        }
    }
}
