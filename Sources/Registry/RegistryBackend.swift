import Diagnostics
import Foundation

/// One stored item of an adapter version: a companion file (`kind` "file"), the safetensors
/// header ("header") or one tensor ("tensor"), whose encoded bytes are the blob `blob` names.
public struct StoredFile: Sendable, Equatable {
    public var name: String
    public var kind: String
    public var position: Int
    public var dtype: String?
    /// `[d0,d1,…]` for a tensor.
    public var shape: String?
    public var rawBytes: Int
    public var blob: String
    /// The lossy factor encoding (``FactorQuantization``) of a tensor's payload, if any.
    public var encoding: String?

    public init(
        name: String, kind: String, position: Int, dtype: String?, shape: String?, rawBytes: Int, blob: String,
        encoding: String?
    ) {
        (self.name, self.kind, self.position, self.dtype, self.shape) = (name, kind, position, dtype, shape)
        (self.rawBytes, self.blob, self.encoding) = (rawBytes, blob, encoding)
    }
}

/// What one add commits besides its name, number and tags.
public struct NewVersion: Sendable {
    public var created: Date
    public var peftType: String
    public var config: String
    public var baseModel: String?
    public var baseFingerprint: String?
    public var metadata: String?
    public var storedDType: String?
    public var rawBytes: Int
    public var storedBytes: Int
    public var files: [StoredFile]

    public init(
        created: Date, peftType: String, config: String, baseModel: String? = nil, baseFingerprint: String? = nil,
        metadata: String? = nil, storedDType: String? = nil, rawBytes: Int, storedBytes: Int, files: [StoredFile]
    ) {
        (self.created, self.peftType, self.config, self.baseModel, self.baseFingerprint) = (
            created, peftType, config, baseModel, baseFingerprint
        )
        (self.metadata, self.storedDType, self.rawBytes, self.storedBytes, self.files) = (
            metadata, storedDType, rawBytes, storedBytes, files
        )
    }
}

/// Where an add puts its blobs; returns each blob's SHA-256.
public protocol BlobSink {
    func put(_ blob: [UInt8]) throws -> String
}

/// Storage of the registry's index and blobs. ``AdapterStore`` does everything that is the same
/// whatever the storage (reading adapter folders, the tensor codec, checks, export); a backend
/// keeps versions, tags and content-addressed blobs with these guarantees:
/// - an add is all or nothing: a version becomes visible with every blob it references, or never
///   (a killed client or a lost server leaves no half-written version);
/// - version numbers of a name are assigned in the add's transaction: concurrent adds get
///   distinct numbers and a failed add leaves no gap;
/// - garbage collection never removes a blob an in-flight add has stored or is about to reference;
/// - every blob read is checked against its hash.
/// `FolderRegistry` (SQLite + files) and `PostgresRegistry` (one database) are the two backends.
public protocol RegistryBackend: AnyObject, Sendable {
    /// The registry as messages name it: a folder, or a PostgreSQL URL without its password.
    var location: String { get }
    /// Runs `body`, which stores its blobs through the sink and returns the version, then commits
    /// that version as `name`'s next number (or as `number`, refused when taken) with `tags`.
    /// `body` may run more than once (a transaction retried after a deadlock).
    func add(name: String, number: Int?, tags: [String], _ body: (any BlobSink) throws -> NewVersion) throws -> Int
    /// The blob's bytes, at most `maxLength`, checked against `hash`.
    func blob(_ hash: String, maxLength: Int) throws -> [UInt8]
    /// Where errors say the blob is.
    func blobLocation(_ hash: String) -> String
    func version(_ reference: AdapterReference) throws -> AdapterStore.Version
    /// Every version of every adapter, by name then number.
    func list() throws -> [AdapterStore.Version]
    /// The version's stored items: companion files first, then the header and tensors in order.
    func files(_ reference: AdapterReference) throws -> [StoredFile]
    func tag(_ reference: AdapterReference, as tag: String) throws
    /// One version (`NAME@N`, `NAME@TAG`) or, for a bare name, the adapter and all its versions.
    func remove(_ reference: AdapterReference) throws
    /// Blobs whose bytes no longer match their hash, and referenced blobs that are missing.
    func verify() throws -> (corrupted: [String], missing: [String])
    /// Removes unreferenced blobs; returns how many.
    func collectGarbage() throws -> Int
}

extension RegistryBackend {
    /// The error for a reference that names no version.
    func noVersion(_ reference: AdapterReference) -> RegistryError {
        RegistryError(file: location, "no adapter version \(reference) (no such version or tag)")
    }

    func noAdapter(_ name: String) -> RegistryError {
        RegistryError(file: location, "no adapter named \"\(name)\"")
    }

    func numberTaken(_ name: String, _ number: Int) -> RegistryError {
        RegistryError(file: location, "\(name)@\(number) already exists")
    }
}

extension FileProblem where Module == RegistryModule {
    /// Whether this says a reference names nothing (the two errors above), rather than that the
    /// registry could not be read.
    var namesNothing: Bool { message.hasPrefix("no adapter named ") || message.hasPrefix("no adapter version ") }

    /// Whether this says an add with an explicit number found it taken (`numberTaken`).
    var namesTakenNumber: Bool { message.hasSuffix(" already exists") }
}
