#ifndef NEO_CMPI_SHIM_H
#define NEO_CMPI_SHIM_H
#include <mpi.h>
// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM …) are macros over the addresses of
// library globals, which Swift cannot import; each gets a static inline accessor.
static inline MPI_Comm neo_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype neo_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype neo_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype neo_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype neo_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Op neo_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op neo_mpi_max(void) { return MPI_MAX; }
static inline MPI_Errhandler neo_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline MPI_Request neo_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *neo_mpi_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
static inline void *neo_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int neo_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int neo_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int neo_mpi_success(void) { return MPI_SUCCESS; }
static inline int neo_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
#endif
