#include "CMPILoader.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Open MPI's handle types are pointers to its internal structs; only their addresses travel here.
typedef void *handle;
#define MPI_IN_PLACE ((void *)1)
#define MPI_THREAD_SERIALIZED 2
#define MPI_MAX_ERROR_STRING 256

static struct {
    int (*init_thread)(int *, char ***, int, int *);
    int (*initialized)(int *);
    int (*finalized)(int *);
    int (*comm_rank)(handle, int *);
    int (*comm_size)(handle, int *);
    int (*allreduce)(const void *, void *, int, handle, handle, handle);
    int (*barrier)(handle);
    int (*bcast)(void *, int, handle, int, handle);
    int (*abort)(handle, int);
    int (*finalize)(void);
    int (*error_string)(int, char *, int *);
    handle comm_world, mpi_float, mpi_double, mpi_byte, op_sum, op_max;
    int loaded;
} mpi;

static void *symbol(void *library, const char *name, const char *path, char *message, size_t capacity) {
    void *address = dlsym(library, name);
    if (!address) {
        snprintf(message, capacity, "MPI: %s has no symbol %s (Open MPI 4 or 5 is needed: install openmpi-bin / libopenmpi-dev)",
                 path, name);
    }
    return address;
}

int tailor_mpi_load(const char *requested, char *message, size_t capacity) {
    if (mpi.loaded) return 0;
    // RTLD_GLOBAL: Open MPI's plugins (mca_*.so) resolve their calls into libmpi against the
    // global namespace, which a library opened with RTLD_LOCAL is not part of.
    const char *names[] = {requested ? requested : "libmpi.so.40", requested ? NULL : "libmpi.so"};
    void *library = NULL;
    const char *path = NULL;
    char first[512] = "";
    for (size_t i = 0; i < sizeof names / sizeof names[0] && names[i] && !library; i++) {
        library = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
        if (library) path = names[i];
        else if (i == 0) snprintf(first, sizeof first, "%s", dlerror());
    }
    if (!library) {
        snprintf(message, capacity, "MPI: cannot load %s (install openmpi-bin / libopenmpi-dev): %s", names[0], first);
        return -1;
    }
#define LOOKUP(field, name)                                                   \
    do {                                                                      \
        void *address = symbol(library, name, path, message, capacity);       \
        if (!address) return -1;                                              \
        *(void **)&mpi.field = address;                                       \
    } while (0)
    LOOKUP(init_thread, "MPI_Init_thread");
    LOOKUP(initialized, "MPI_Initialized");
    LOOKUP(finalized, "MPI_Finalized");
    LOOKUP(comm_rank, "MPI_Comm_rank");
    LOOKUP(comm_size, "MPI_Comm_size");
    LOOKUP(allreduce, "MPI_Allreduce");
    LOOKUP(barrier, "MPI_Barrier");
    LOOKUP(bcast, "MPI_Bcast");
    LOOKUP(abort, "MPI_Abort");
    LOOKUP(finalize, "MPI_Finalize");
    LOOKUP(error_string, "MPI_Error_string");
    // The predefined handles: MPI_COMM_WORLD is &ompi_mpi_comm_world, and so on.
    LOOKUP(comm_world, "ompi_mpi_comm_world");
    LOOKUP(mpi_float, "ompi_mpi_float");
    LOOKUP(mpi_double, "ompi_mpi_double");
    LOOKUP(mpi_byte, "ompi_mpi_byte");
    LOOKUP(op_sum, "ompi_mpi_op_sum");
    LOOKUP(op_max, "ompi_mpi_op_max");
#undef LOOKUP
    mpi.loaded = 1;
    return 0;
}

static void finalize_at_exit(void) {
    int initialized = 0, finalized = 0;
    mpi.initialized(&initialized);
    mpi.finalized(&finalized);
    if (initialized && !finalized) mpi.finalize();
}

int tailor_mpi_init(void) {
    int initialized = 0;
    int code = mpi.initialized(&initialized);
    if (code != 0 || initialized) return code;
    int provided = 0;
    code = mpi.init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
    if (code == 0) atexit(finalize_at_exit);
    return code;
}

int tailor_mpi_rank(int *rank) { return mpi.comm_rank(mpi.comm_world, rank); }

int tailor_mpi_size(int *size) { return mpi.comm_size(mpi.comm_world, size); }

int tailor_mpi_allreduce_sum_float(float *values, int count) {
    return mpi.allreduce(MPI_IN_PLACE, values, count, mpi.mpi_float, mpi.op_sum, mpi.comm_world);
}

int tailor_mpi_allreduce_sum_double(double *values, int count) {
    return mpi.allreduce(MPI_IN_PLACE, values, count, mpi.mpi_double, mpi.op_sum, mpi.comm_world);
}

int tailor_mpi_allreduce_max_double(double *values, int count) {
    return mpi.allreduce(MPI_IN_PLACE, values, count, mpi.mpi_double, mpi.op_max, mpi.comm_world);
}

int tailor_mpi_barrier(void) { return mpi.barrier(mpi.comm_world); }

int tailor_mpi_broadcast(void *bytes, int count, int root) { return mpi.bcast(bytes, count, mpi.mpi_byte, root, mpi.comm_world); }

void tailor_mpi_abort(int code) {
    mpi.abort(mpi.comm_world, code);
    // MPI_Abort should not return; if it does, the process still must end.
    _exit(code);
}

void tailor_mpi_error_string(int code, char *message, size_t capacity) {
    char text[MPI_MAX_ERROR_STRING] = "";
    int length = 0;
    if (mpi.error_string(code, text, &length) != 0) snprintf(text, sizeof text, "MPI error %d", code);
    snprintf(message, capacity, "%s", text);
}
