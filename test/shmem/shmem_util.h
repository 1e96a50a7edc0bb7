/*
 * Helpers shared by the OpenSHMEM test programs: error accounting and the
 * final verdict, decided collectively so that every PE exits with the same
 * status and oshrun reports a failure if any PE saw one.
 */

#ifndef RSAGG_TEST_SHMEM_UTIL_H_
#define RSAGG_TEST_SHMEM_UTIL_H_

#include "pattern.h"

#include <shmem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


typedef struct {
    int           me;
    int           npes;
    long          errors;   /* local errors of the current phase */
    long          failed;   /* phases that failed anywhere */
    double        start;    /* start time of the current phase */
    const char    *program;
} shm_test_t;


/* Work arrays of the verdict reduction; global, hence symmetric */
static long shm_test_psync[SHMEM_REDUCE_SYNC_SIZE];
static long shm_test_pwrk[SHMEM_REDUCE_MIN_WRKDATA_SIZE];
static long shm_test_local;
static long shm_test_total;


static inline double shm_test_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}


static inline void shm_test_init(shm_test_t *t, int argc, char **argv)
{
    int i;

    shmem_init();
    t->me      = shmem_my_pe();
    t->npes    = shmem_n_pes();
    t->errors  = 0;
    t->failed  = 0;
    t->start   = shm_test_now();
    t->program = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 :
                                         argv[0];
    for (i = 0; i < SHMEM_REDUCE_SYNC_SIZE; ++i) {
        shm_test_psync[i] = SHMEM_SYNC_VALUE;
    }

    /* None of the programs takes options: refuse instead of ignoring */
    if (argc > 1) {
        if (t->me == 0) {
            fprintf(stderr, "%s: unexpected argument '%s'\n", t->program,
                    argv[1]);
        }
        shmem_finalize();
        exit(2);
    }
    shmem_barrier_all();
}


static inline void shm_test_error(shm_test_t *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline void shm_test_error(shm_test_t *t, const char *fmt, ...)
{
    va_list ap;

    if (t->errors < PATTERN_MAX_REPORTED) {
        fprintf(stderr, "PE %d: ", t->me);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    ++t->errors;
}


/* End of a phase: agree on the result, PE 0 prints one line */
static inline void shm_test_phase_end(shm_test_t *t, const char *phase)
{
    shm_test_local = t->errors;
    /* Barriers around the reduction: pSync may be reused only after one */
    shmem_barrier_all();
    shmem_long_sum_to_all(&shm_test_total, &shm_test_local, 1, 0, 0,
                          t->npes, shm_test_pwrk, shm_test_psync);
    shmem_barrier_all();
    if (t->me == 0) {
        printf("%s: %-40s %s (%ld errors, %.3f s)\n", t->program, phase,
               shm_test_total ? "FAIL" : "ok", shm_test_total,
               shm_test_now() - t->start);
        fflush(stdout);
    }
    if (shm_test_total) {
        ++t->failed;
    }
    t->errors = 0;
    t->start  = shm_test_now();
}


static inline int shm_test_finalize(shm_test_t *t)
{
    if (t->me == 0) {
        printf("%s: %d PEs: %s\n", t->program, t->npes,
               t->failed ? "FAILED" : "PASSED");
        fflush(stdout);
    }
    shmem_finalize();
    return t->failed ? 1 : 0;
}


static inline void *shm_test_malloc(shm_test_t *t, size_t size)
{
    void *ptr = malloc(size ? size : 1);

    if (ptr == NULL) {
        fprintf(stderr, "PE %d: cannot allocate %zu bytes\n", t->me, size);
        shmem_global_exit(2);
    }
    return ptr;
}


/* Symmetric allocation; collective, like shmem_malloc */
static inline void *shm_test_shmalloc(shm_test_t *t, size_t size)
{
    void *ptr = shmem_malloc(size ? size : 1);

    if (ptr == NULL) {
        fprintf(stderr, "PE %d: cannot allocate %zu symmetric bytes\n",
                t->me, size);
        shmem_global_exit(2);
    }
    memset(ptr, 0, size);
    shmem_barrier_all();
    return ptr;
}

#endif
