// Open MPI loaded at run time: `tailor` is not linked against libmpi, so a plain run needs no MPI
// installed. tailor_mpi_load() dlopens libmpi.so.40 (else libmpi.so) and looks up the few functions
// and predefined handles data-parallel training uses; the other calls forward to them. In Open MPI
// the handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, …) are the addresses of global objects
// (`ompi_mpi_comm_world`, …), so dlsym gives them directly. Every call returns MPI's error code
// (0: success) unless it says otherwise; call nothing else before tailor_mpi_load() succeeded.
#ifndef TAILOR_MPI_LOADER_H
#define TAILOR_MPI_LOADER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Loads the library and its symbols once: `library` (a name or path) when not NULL, else
/// libmpi.so.40, else libmpi.so. Returns 0, or -1 with one line saying what is missing written to
/// `message` (`capacity` bytes, NUL-terminated).
int tailor_mpi_load(const char *library, char *message, size_t capacity);
/// MPI_Init_thread asking for MPI_THREAD_SERIALIZED (calls from any thread, one at a time), unless
/// MPI is already initialized; MPI_Finalize is then registered to run at exit (Open MPI's launcher
/// reports a rank that exits without it as failed).
int tailor_mpi_init(void);
int tailor_mpi_rank(int *rank);
int tailor_mpi_size(int *size);
/// Element-wise sum over every rank, in place (MPI_IN_PLACE), of `count` floats or doubles.
int tailor_mpi_allreduce_sum_float(float *values, int count);
int tailor_mpi_allreduce_sum_double(double *values, int count);
/// Element-wise maximum over every rank, in place.
int tailor_mpi_allreduce_max_double(double *values, int count);
int tailor_mpi_barrier(void);
/// `count` bytes from rank `root` into `bytes` on every other rank.
int tailor_mpi_broadcast(void *bytes, int count, int root);
/// Ends every process of the job with `code` (MPI_Abort on MPI_COMM_WORLD); does not return.
void tailor_mpi_abort(int code);
/// MPI's text for an error code, into `message`.
void tailor_mpi_error_string(int code, char *message, size_t capacity);

#ifdef __cplusplus
}
#endif

#endif
