import Diagnostics

/// A problem loading or running a model, naming the file (config.json, a checkpoint) and, where
/// one is concerned, the field or tensor.
public typealias ModelError = FileProblem<ModelsModule>

/// Marks the Models module's errors (``ModelError``).
public enum ModelsModule {}
