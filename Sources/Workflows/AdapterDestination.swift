import Adapters
import Foundation
import Registry
import SafeTensors

/// Where a job that makes a new adapter (merge, extract) puts it: a PEFT folder (written whole
/// or not at all), a registry version under a name, or both.
public struct AdapterDestination: Sendable {
    public var output: String?
    public var name: String?
    public var tags: [String]
    public var registryRoot: String

    public init(output: String?, name: String?, tags: [String] = [], registryRoot: String) {
        (self.output, self.name, self.tags, self.registryRoot) = (output, name, tags, registryRoot)
    }

    /// Refuses an output folder that exists; jobs call it before their work, too.
    public func checkOutputFree() throws {
        if let output, FileManager.default.fileExists(atPath: output) { throw WorkflowError(file: output, "already exists") }
    }

    /// Saves `adapter` (with its label names); `base` is the model folder whose fingerprint the
    /// registry records, when known. A registry-only save goes through a scratch folder.
    public func save(_ adapter: any PEFTAdapter, labels: [String]?, base: String?) throws -> SavedAdapter {
        try checkOutputFree()
        let folder = output ?? NSTemporaryDirectory() + "tailor-adapter-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
        try ScratchFolder.build(folder) { scratch in try PEFTAdapterFolder.save(adapter, to: scratch, labels: labels) }
        defer { if output == nil { try? FileManager.default.removeItem(atPath: folder) } }
        guard let name else { return SavedAdapter(output: output, registered: nil) }
        let version = try AdapterStore(root: registryRoot).add(folder: folder, name: name, tags: tags, base: base)
        return SavedAdapter(output: output, registered: .init(name: version.name, version: version.version))
    }
}
