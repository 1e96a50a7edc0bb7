/*
 * Helpers shared by the MPI test programs: error accounting and the final
 * verdict. Every program counts the bytes/values that differ from what it
 * expects; the verdict is decided collectively so that every rank exits with
 * the same status and mpirun reports a failure if any rank saw one.
 */

#ifndef RSAGG_TEST_MPI_UTIL_H_
#define RSAGG_TEST_MPI_UTIL_H_

#include "pattern.h"

#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct {
    int           rank;
    int           size;
    unsigned long errors;     /* local errors of the current phase */
    unsigned long failed;     /* phases that failed anywhere */
    double        start;      /* start time of the current phase */
    const char    *program;
} mpi_test_t;


static inline void mpi_test_init(mpi_test_t *t, int *argc, char ***argv)
{
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &t->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &t->size);
    t->errors  = 0;
    t->failed  = 0;
    t->start   = MPI_Wtime();
    t->program = strrchr((*argv)[0], '/') ? strrchr((*argv)[0], '/') + 1 :
                                            (*argv)[0];
}


static inline void mpi_test_error(mpi_test_t *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline void mpi_test_error(mpi_test_t *t, const char *fmt, ...)
{
    va_list ap;

    if (t->errors < PATTERN_MAX_REPORTED) {
        fprintf(stderr, "rank %d: ", t->rank);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    ++t->errors;
}


/* Check a received message: status fields and every byte */
static inline void mpi_test_check_msg(mpi_test_t *t, const void *buf,
                                      const MPI_Status *status, int src,
                                      int tag, size_t length, uint64_t seq,
                                      const char *what)
{
    int count;

    if ((status->MPI_SOURCE != src) || (status->MPI_TAG != tag)) {
        mpi_test_error(t, "%s: seq %llu: source/tag %d/%d, expected %d/%d",
                       what, (unsigned long long)seq, status->MPI_SOURCE,
                       status->MPI_TAG, src, tag);
        return;
    }

    MPI_Get_count(status, MPI_BYTE, &count);
    if (count != (int)length) {
        mpi_test_error(t, "%s: from %d seq %llu: %d bytes, expected %zu",
                       what, src, (unsigned long long)seq, count, length);
        return;
    }

    t->errors += pattern_check(buf, length, src, t->rank, seq, t->rank, what);
}


/* End of a phase: agree on the result, rank 0 prints one line */
static inline void mpi_test_phase_end(mpi_test_t *t, const char *phase)
{
    unsigned long total;

    MPI_Allreduce(&t->errors, &total, 1, MPI_UNSIGNED_LONG, MPI_SUM,
                  MPI_COMM_WORLD);
    if (t->rank == 0) {
        printf("%s: %-40s %s (%lu errors, %.3f s)\n", t->program, phase,
               total ? "FAIL" : "ok", total, MPI_Wtime() - t->start);
        fflush(stdout);
    }
    if (total) {
        ++t->failed;
    }
    t->errors = 0;
    t->start  = MPI_Wtime();
}


static inline int mpi_test_finalize(mpi_test_t *t)
{
    unsigned long failed = t->failed;

    if (t->rank == 0) {
        printf("%s: %d ranks: %s\n", t->program, t->size,
               failed ? "FAILED" : "PASSED");
        fflush(stdout);
    }
    MPI_Finalize();
    return failed ? 1 : 0;
}


static inline void *mpi_test_malloc(mpi_test_t *t, size_t size)
{
    /* Never zero bytes, so that a buffer for empty messages is valid */
    void *ptr = malloc(size ? size : 1);

    if (ptr == NULL) {
        fprintf(stderr, "rank %d: cannot allocate %zu bytes\n", t->rank,
                size);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    return ptr;
}


/* Parse "-n <count>" style options shared by the programs; exits on a bad
 * value instead of running with a wrong configuration */
static inline long mpi_test_arg(mpi_test_t *t, int argc, char **argv,
                                const char *name, long def, long min,
                                long max)
{
    char *end;
    long value;
    int i;

    for (i = 1; i + 1 < argc; ++i) {
        if (strcmp(argv[i], name) != 0) {
            continue;
        }
        value = strtol(argv[i + 1], &end, 0);
        if ((*end != '\0') || (value < min) || (value > max)) {
            if (t->rank == 0) {
                fprintf(stderr, "%s: invalid value '%s' for %s (expected "
                        "%ld..%ld)\n", t->program, argv[i + 1], name, min,
                        max);
            }
            MPI_Finalize();
            exit(2);
        }
        return value;
    }
    return def;
}


/* Reject options that no program understands (e.g. a typo), NULL-terminated
 * list of the option names that take a value */
static inline void mpi_test_check_args(mpi_test_t *t, int argc, char **argv,
                                       const char *const *names)
{
    const char *const *name;
    int i;

    for (i = 1; i < argc; i += 2) {
        for (name = names; *name != NULL; ++name) {
            if (strcmp(argv[i], *name) == 0) {
                break;
            }
        }
        if ((*name == NULL) || (i + 1 >= argc)) {
            if (t->rank == 0) {
                fprintf(stderr, "%s: unknown option or missing value: "
                        "'%s'\n", t->program, argv[i]);
            }
            MPI_Finalize();
            exit(2);
        }
    }
}

#endif
