import Diagnostics

/// A problem with an adapter: its config, its tensors, or how it fits the base model. Names the
/// file and, where one is concerned, the field, module or tensor.
public typealias AdapterError = FileProblem<AdaptersModule>

/// Marks the Adapters module's errors (``AdapterError``).
public enum AdaptersModule {}
