import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A folder built under a hidden temporary name beside its destination and renamed into place
/// only when complete, so a new adapter or model folder appears whole or not at all; removed on
/// failure and on SIGINT/SIGTERM (``TemporaryFiles``), and by the next run if a kill -9 left it.
public enum ScratchFolder {
    /// Builds the folder `output` (which must not exist) by running `body` on the scratch path.
    public static func build<T>(_ output: String, _ body: (String) throws -> T) throws -> T {
        let folder = PathText.folder(of: output)
        let base = PathText.name(of: output)
        guard OutputPaths.kind(output) == nil else { throw SafeTensorsError(file: output, .io("already exists; choose a new folder")) }
        OutputFolder.removeStaleTemporaryFiles(
            in: folder, names: (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [],
            only: base)
        let scratch = "\(folder)/.\(base).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        guard TemporaryFiles.register(scratch) else { throw SafeTensorsError(file: output, .io("interrupted")) }
        defer { TemporaryFiles.unregister(scratch) }
        do {
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            let value = try body(scratch)
            guard rename(scratch, output) == 0 else {
                throw SafeTensorsError(file: output, .io("cannot move the folder into place: \(String(cString: strerror(errno)))"))
            }
            return value
        } catch {
            try? FileManager.default.removeItem(atPath: scratch)
            throw error
        }
    }
}
