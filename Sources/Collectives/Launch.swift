import Foundation

/// How `tailor train` finds its fellow processes: `none` trains alone; `mpi` joins an MPI job
/// (`mpirun -np N tailor train …`); `auto` joins one when an MPI launcher started this process
/// with more than one rank, else trains alone.
public enum DistributedMode: String, Sendable, CaseIterable {
    case auto, none, mpi
}

extension DistributedMode {
    /// Whether this mode uses MPI in a process started with `environment`. Open MPI's launcher
    /// sets `OMPI_COMM_WORLD_SIZE` and `OMPI_COMM_WORLD_RANK`; a PMIx launcher (e.g. Slurm's
    /// srun) sets `PMIX_RANK`, and the size is then known only once MPI is up.
    public func usesMPI(environment: [String: String]) -> Bool {
        switch self {
        case .none: return false
        case .mpi: return true
        case .auto:
            if let size = environment["OMPI_COMM_WORLD_SIZE"].flatMap({ Int($0) }) { return size > 1 }
            return environment["PMIX_RANK"] != nil
        }
    }

    /// The communicator of this process: MPI's ranks (loading and initializing Open MPI) or this
    /// process alone.
    public func communicator(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any Communicator {
        usesMPI(environment: environment) ? try MPICommunicator() : SingleProcess()
    }
}
