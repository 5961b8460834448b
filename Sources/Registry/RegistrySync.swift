import Foundation

/// Copies versions and tags from one registry to another (folder ↔ PostgreSQL, or two of a kind).
/// A version keeps its number, creation time and blobs; every blob is read through the source's
/// hash check and must hash the same where it lands. A version the destination already holds
/// with the same files is skipped, so a second sync copies nothing; one it holds with other
/// files is a conflict, reported and left alone. Tags are set to the versions they name in the
/// source; tags only the destination has stay.
public enum RegistrySync {
    public struct Report: Sendable {
        /// `NAME@N` of each version copied.
        public var copied: [String] = []
        /// Versions already present with the same files.
        public var unchanged = 0
        /// `NAME@TAG` of each tag set or moved.
        public var tagged: [String] = []
        /// Versions the destination holds with other files, not overwritten.
        public var conflicts: [String] = []
        public var copiedBytes = 0
    }

    /// `progress` hears each version as it is dealt with ("copied a@3", "unchanged a@2", …).
    public static func run(from source: AdapterStore, to destination: AdapterStore, progress: (String) -> Void = { _ in }) throws -> Report
    {
        guard source.backend.location != destination.backend.location else {
            throw RegistryError(file: source.backend.location, "is both the source and the destination of the sync")
        }
        var report = Report()
        let present = Dictionary(
            try destination.list().map { ("\($0.name)@\($0.version)", $0) }, uniquingKeysWith: { first, _ in first })
        let versions = try source.list()
        /// A version the destination already holds: the same files, or a conflict.
        func settle(_ reference: String, _ files: [StoredFile]) throws {
            if try destination.backend.files(AdapterReference(parsing: reference)) == files {
                report.unchanged += 1
                progress("unchanged \(reference)")
            } else {
                report.conflicts.append(reference)
                progress("conflict \(reference): the destination holds other files under this number")
            }
        }
        for version in versions {
            let reference = "\(version.name)@\(version.version)"
            let files = try source.backend.files(AdapterReference(parsing: reference))
            guard present[reference] == nil else {
                try settle(reference, files)
                continue
            }
            var bytes = 0
            do {
                _ = try destination.backend.add(name: version.name, number: version.version, tags: []) { sink in
                    bytes = 0
                    for file in files {
                        let blob = try source.backend.blob(file.blob, maxLength: AdapterStore.maxBlobLength(raw: file.rawBytes))
                        guard try sink.put(blob) == file.blob else {
                            throw RegistryError(file: destination.backend.location, "stored a blob of \(reference) under another hash")
                        }
                        bytes += blob.count
                    }
                    return NewVersion(
                        created: version.created, peftType: version.peftType, config: version.config, baseModel: version.baseModel,
                        baseFingerprint: version.baseFingerprint, metadata: version.metadata, storedDType: version.storedDType,
                        rawBytes: version.rawBytes, storedBytes: version.storedBytes, files: files)
                }
            } catch let error as RegistryError where error.namesTakenNumber {
                // Another sync (or an add with this number) got there first.
                try settle(reference, files)
                continue
            }
            report.copied.append(reference)
            report.copiedBytes += bytes
            progress("copied \(reference)")
        }
        // Tags after versions, so each tag's version exists on the other side.
        let landed = Dictionary(
            try destination.list().map { ("\($0.name)@\($0.version)", Set($0.tags)) }, uniquingKeysWith: { first, _ in first })
        for version in versions {
            let reference = "\(version.name)@\(version.version)"
            guard !report.conflicts.contains(reference) else { continue }
            for tag in version.tags where landed[reference]?.contains(tag) != true {
                try destination.tag(reference, as: tag)
                report.tagged.append("\(version.name)@\(tag)")
                progress("tagged \(version.name)@\(tag) -> \(version.version)")
            }
        }
        return report
    }
}
