/*
 * MPI small-message rate: ranks are paired (rank i sends to rank
 * i + size/2); each sender posts windows of MPI_Isend, its receiver windows
 * of MPI_Irecv, and the receiver acknowledges each window with an empty
 * message (the usual osu_mbw_mr scheme). Printed per message size: the
 * aggregate message rate of all pairs, measured, not estimated.
 *
 * The number of windows per size is calibrated so that each measurement
 * lasts at least the given time. The last window of every size is checked
 * byte by byte; a difference makes the program fail.
 *
 * Options: -w <window> (64)  -s <min size> (1)  -S <max size> (8192)
 *          -t <milliseconds per measurement> (500)
 *          -r <measurements per size> (1): the median is printed
 * Output: one line per size: "<size> <msgs/s> <MB/s> <windows> <min msgs/s>
 * <max msgs/s>", the last two over the measurements; lines starting with
 * '#' are comments.
 */

#include "bench_window.h"
#include "mpi_util.h"


#define TAG_DATA 1
#define TAG_ACK  2


typedef struct {
    mpi_test_t  t;
    long        window;
    long        min_size;
    long        max_size;
    double      min_time;
    long        repeat;
    int         peer;
    int         is_sender;
    uint8_t     *buf;      /* window * max_size */
    MPI_Request *req;
} rate_test_t;


/* Run the given number of windows; returns the slowest rank's time */
static double run_windows(void *arg, size_t size, long windows)
{
    rate_test_t *b = arg;
    double start, elapsed, max_elapsed;
    long w, i;

    MPI_Barrier(MPI_COMM_WORLD);
    start = MPI_Wtime();
    for (w = 0; w < windows; ++w) {
        if (b->is_sender) {
            for (i = 0; i < b->window; ++i) {
                MPI_Isend(b->buf + i * size, size, MPI_BYTE, b->peer,
                          TAG_DATA, MPI_COMM_WORLD, &b->req[i]);
            }
            MPI_Waitall(b->window, b->req, MPI_STATUSES_IGNORE);
            MPI_Recv(NULL, 0, MPI_BYTE, b->peer, TAG_ACK, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
        } else {
            for (i = 0; i < b->window; ++i) {
                MPI_Irecv(b->buf + i * size, size, MPI_BYTE, b->peer,
                          TAG_DATA, MPI_COMM_WORLD, &b->req[i]);
            }
            MPI_Waitall(b->window, b->req, MPI_STATUSES_IGNORE);
            MPI_Send(NULL, 0, MPI_BYTE, b->peer, TAG_ACK, MPI_COMM_WORLD);
        }
    }
    elapsed = MPI_Wtime() - start;
    MPI_Allreduce(&elapsed, &max_elapsed, 1, MPI_DOUBLE, MPI_MAX,
                  MPI_COMM_WORLD);
    return max_elapsed;
}


static void measure(rate_test_t *b, size_t size)
{
    mpi_test_t *t            = &b->t;
    bench_window_loop_t loop = {
        .run        = run_windows,
        .arg        = b,
        .min_time   = b->min_time,
        .repeat     = b->repeat,
        .per_window = (t->size / 2) * b->window
    };
    bench_window_result_t result;
    long i;

    if (b->is_sender) {
        for (i = 0; i < b->window; ++i) {
            pattern_fill(b->buf + i * size, size, t->rank, b->peer, i);
        }
    } else {
        memset(b->buf, 0, b->window * size);
    }

    bench_window_measure(&loop, size, &result);

    if (!b->is_sender) {
        for (i = 0; i < b->window; ++i) {
            t->errors += pattern_check(b->buf + i * size, size, b->peer,
                                       t->rank, i, t->rank, "msgrate");
        }
    }

    if (t->rank == 0) {
        bench_window_print(size, &result);
    }
}


int main(int argc, char **argv)
{
    static const char *const options[] = {"-w", "-s", "-S", "-t", "-r",
                                          NULL};
    rate_test_t b;
    mpi_test_t *t = &b.t;
    unsigned long total;
    size_t size;

    mpi_test_init(t, &argc, &argv);
    mpi_test_check_args(t, argc, argv, options);
    b.window   = mpi_test_arg(t, argc, argv, "-w", 64, 1, 65536);
    b.min_size = mpi_test_arg(t, argc, argv, "-s", 1, 0, 1 << 26);
    b.max_size = mpi_test_arg(t, argc, argv, "-S", 8192, b.min_size,
                              1 << 26);
    b.min_time = mpi_test_arg(t, argc, argv, "-t", 500, 1, 3600000) / 1000.0;
    b.repeat   = mpi_test_arg(t, argc, argv, "-r", 1, 1, 1000);
    if (t->size % 2 != 0) {
        if (t->rank == 0) {
            fprintf(stderr, "%s: needs an even number of ranks, got %d\n",
                    t->program, t->size);
        }
        MPI_Finalize();
        return 2;
    }

    b.is_sender = t->rank < t->size / 2;
    b.peer      = b.is_sender ? t->rank + t->size / 2 :
                                t->rank - t->size / 2;
    b.buf       = mpi_test_malloc(t, b.window * b.max_size);
    b.req       = mpi_test_malloc(t, b.window * sizeof(*b.req));

    if (t->rank == 0) {
        printf("# %s: %d ranks (%d pairs), window %ld, median of %ld "
               "measurements of >= %.2f s per size\n", t->program, t->size,
               t->size / 2, b.window, b.repeat, b.min_time);
        bench_window_print_columns("msgs");
    }

    for (size = b.min_size; size <= (size_t)b.max_size;
         size = (size == 0) ? 1 : size * 2) {
        measure(&b, size);
    }

    MPI_Allreduce(&t->errors, &total, 1, MPI_UNSIGNED_LONG, MPI_SUM,
                  MPI_COMM_WORLD);
    if ((t->rank == 0) && total) {
        printf("# %s: %lu bytes differed from what was sent\n", t->program,
               total);
    }
    free(b.req);
    free(b.buf);
    MPI_Finalize();
    return total ? 1 : 0;
}
