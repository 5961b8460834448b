import Diagnostics

/// A problem with a GGUF file, naming the file (and the key or tensor inside it).
public typealias GGUFError = FileProblem<GGUFModule>

/// Marks the GGUF module's errors (``GGUFError``).
public enum GGUFModule {}
