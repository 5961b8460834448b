import Diagnostics

/// A problem in the engine itself: a missing math library or a computation that failed. Names
/// the library file or, where no file is concerned, the tensor.
public typealias TrainingCoreError = FileProblem<TrainingCoreModule>

/// Marks the TrainingCore module's errors (``TrainingCoreError``).
public enum TrainingCoreModule {}
