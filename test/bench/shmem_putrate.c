/*
 * OpenSHMEM small-put rate: PEs are paired (PE i puts to PE i + npes/2);
 * each origin issues windows of puts to consecutive slots of its target and
 * completes each window with shmem_quiet. Printed per size: the aggregate
 * put rate of all origins, measured, not estimated.
 *
 * The number of windows per size is calibrated so that each measurement
 * lasts at least the given time. After the last window of every size the
 * target checks every byte; a difference makes the program fail.
 *
 * Options: -o putmem|nbi|p  operation: shmem_putmem (default),
 *                           shmem_putmem_nbi, or shmem_long_p (8 bytes only)
 *          -w <window> (64)  -s <min size> (1)  -S <max size> (8192)
 *          -t <milliseconds per measurement> (500)
 *          -r <measurements per size> (1): the median is printed
 * Output: one line per size: "<size> <puts/s> <MB/s> <windows> <min puts/s>
 * <max puts/s>", the last two over the measurements; lines starting with
 * '#' are comments.
 */

#include "bench_window.h"
#include "shmem_util.h"

#include <errno.h>


typedef enum {
    OP_PUTMEM,
    OP_NBI,
    OP_P
} put_op_t;


typedef struct {
    shm_test_t t;
    put_op_t   op;
    long       window;
    long       min_size;
    long       max_size;
    double     min_time;
    long       repeat;
    int        peer;
    int        is_origin;
    uint8_t    *dst;    /* symmetric: window * max_size */
    uint8_t    *src;    /* local: window * max_size */
} putrate_test_t;


static double shm_elapsed;
static double shm_max_elapsed;
static double shm_pwrk[SHMEM_REDUCE_MIN_WRKDATA_SIZE];
static long   shm_psync[SHMEM_REDUCE_SYNC_SIZE];


/* Run the given number of windows; returns the slowest origin's time */
static double run_windows(void *arg, size_t size, long windows)
{
    putrate_test_t *b = arg;
    double start;
    long w, i;

    shmem_barrier_all();
    start = shm_test_now();
    if (b->is_origin) {
        for (w = 0; w < windows; ++w) {
            for (i = 0; i < b->window; ++i) {
                switch (b->op) {
                case OP_PUTMEM:
                    shmem_putmem(b->dst + i * size, b->src + i * size, size,
                                 b->peer);
                    break;
                case OP_NBI:
                    shmem_putmem_nbi(b->dst + i * size, b->src + i * size,
                                     size, b->peer);
                    break;
                case OP_P:
                    shmem_long_p((long*)b->dst + i,
                                 ((long*)b->src)[i], b->peer);
                    break;
                }
            }
            shmem_quiet();
        }
    }
    shm_elapsed = shm_test_now() - start;

    /* Targets contribute 0: the origins' time is the measurement */
    if (!b->is_origin) {
        shm_elapsed = 0;
    }
    shmem_barrier_all();
    shmem_double_max_to_all(&shm_max_elapsed, &shm_elapsed, 1, 0, 0,
                            b->t.npes, shm_pwrk, shm_psync);
    shmem_barrier_all();
    return shm_max_elapsed;
}


static void measure(putrate_test_t *b, size_t size)
{
    shm_test_t *t            = &b->t;
    bench_window_loop_t loop = {
        .run        = run_windows,
        .arg        = b,
        .min_time   = b->min_time,
        .repeat     = b->repeat,
        .per_window = (t->npes / 2) * b->window
    };
    bench_window_result_t result;
    long i;

    if (b->is_origin) {
        for (i = 0; i < b->window; ++i) {
            pattern_fill(b->src + i * size, size, t->me, b->peer, i);
        }
    }
    memset(b->dst, 0, b->window * size);

    bench_window_measure(&loop, size, &result);

    if (!b->is_origin) {
        for (i = 0; i < b->window; ++i) {
            t->errors += pattern_check(b->dst + i * size, size, b->peer,
                                       t->me, i, t->me, "putrate");
        }
    }

    if (t->me == 0) {
        bench_window_print(size, &result);
    }
}


static int parse_long(const char *str, long min, long max, long *value_p)
{
    char *end;

    errno    = 0;
    *value_p = strtol(str, &end, 0);
    return (errno == 0) && (*end == '\0') && (*value_p >= min) &&
           (*value_p <= max);
}


/* Every PE parses the same arguments; one message is enough */
#define ARG_ERROR(_b, ...) \
    do { \
        if ((_b)->t.me == 0) { \
            fprintf(stderr, __VA_ARGS__); \
        } \
    } while (0)


/* Returns 0 on success, prints the problem and returns -1 otherwise */
static int parse_args(putrate_test_t *b, int argc, char **argv)
{
    long value;
    int i;

    b->op       = OP_PUTMEM;
    b->window   = 64;
    b->min_size = 1;
    b->max_size = 8192;
    b->min_time = 0.5;
    b->repeat   = 1;

    for (i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) {
            ARG_ERROR(b, "option '%s' needs a value\n", argv[i]);
            return -1;
        }
        if (!strcmp(argv[i], "-o")) {
            if (!strcmp(argv[i + 1], "putmem")) {
                b->op = OP_PUTMEM;
            } else if (!strcmp(argv[i + 1], "nbi")) {
                b->op = OP_NBI;
            } else if (!strcmp(argv[i + 1], "p")) {
                b->op = OP_P;
            } else {
                ARG_ERROR(b, "unknown operation '%s' (putmem, nbi, p)\n",
                        argv[i + 1]);
                return -1;
            }
            continue;
        }
        if (!strcmp(argv[i], "-w") &&
            parse_long(argv[i + 1], 1, 65536, &value)) {
            b->window = value;
        } else if (!strcmp(argv[i], "-s") &&
                   parse_long(argv[i + 1], 1, 1 << 26, &value)) {
            b->min_size = value;
        } else if (!strcmp(argv[i], "-S") &&
                   parse_long(argv[i + 1], 1, 1 << 26, &value)) {
            b->max_size = value;
        } else if (!strcmp(argv[i], "-r") &&
                   parse_long(argv[i + 1], 1, 1000, &value)) {
            b->repeat = value;
        } else if (!strcmp(argv[i], "-t") &&
                   parse_long(argv[i + 1], 1, 3600000, &value)) {
            b->min_time = value / 1000.0;
        } else {
            ARG_ERROR(b, "unknown option or bad value: '%s %s'\n",
                    argv[i], argv[i + 1]);
            return -1;
        }
    }

    if (b->op == OP_P) {
        b->min_size = b->max_size = sizeof(long);
    }
    if (b->min_size > b->max_size) {
        ARG_ERROR(b, "min size %ld > max size %ld\n", b->min_size,
                b->max_size);
        return -1;
    }
    return 0;
}


int main(int argc, char **argv)
{
    static const char *op_names[] = {"shmem_putmem", "shmem_putmem_nbi",
                                     "shmem_long_p"};
    putrate_test_t b;
    shm_test_t *t = &b.t;
    long total;
    size_t size;
    int i;

    for (i = 0; i < SHMEM_REDUCE_SYNC_SIZE; ++i) {
        shm_psync[i] = SHMEM_SYNC_VALUE;
    }

    /* shm_test_init refuses arguments: parse them here and hide them */
    shm_test_init(t, 1, argv);
    if (parse_args(&b, argc, argv) != 0) {
        shmem_finalize();
        return 2;
    }
    if (t->npes % 2 != 0) {
        if (t->me == 0) {
            fprintf(stderr, "%s: needs an even number of PEs, got %d\n",
                    t->program, t->npes);
        }
        shmem_finalize();
        return 2;
    }

    b.is_origin = t->me < t->npes / 2;
    b.peer      = b.is_origin ? t->me + t->npes / 2 : t->me - t->npes / 2;
    b.dst       = shm_test_shmalloc(t, b.window * b.max_size);
    b.src       = shm_test_malloc(t, b.window * b.max_size);

    if (t->me == 0) {
        printf("# %s: %s, %d PEs (%d pairs), window %ld + shmem_quiet, "
               "median of %ld measurements of >= %.2f s per size\n",
               t->program, op_names[b.op], t->npes, t->npes / 2, b.window,
               b.repeat, b.min_time);
        bench_window_print_columns("puts");
    }

    for (size = b.min_size; size <= (size_t)b.max_size; size *= 2) {
        measure(&b, size);
    }

    /* Collective verdict, like the tests */
    shm_test_phase_end(t, "data check");
    total = t->failed;
    free(b.src);
    shmem_free(b.dst);
    shmem_finalize();
    return total ? 1 : 0;
}
