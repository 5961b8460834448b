import Diagnostics

/// A problem in a job that spans modules (resolving adapters, saving results, the demo), naming
/// the file or reference concerned.
public typealias WorkflowError = FileProblem<WorkflowsModule>

/// Marks the Workflows module's errors (``WorkflowError``).
public enum WorkflowsModule {}
