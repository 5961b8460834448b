import Diagnostics

/// A problem with the adapter registry: its index, a blob, an adapter folder being added, or a
/// reference or name a user gave. Names the file (the registry root, the lock or index file, the
/// blob path, the adapter folder) or, where no file exists, the reference, name or tensor.
public typealias RegistryError = FileProblem<RegistryModule>

/// Marks the Registry module's errors (``RegistryError``).
public enum RegistryModule {}
