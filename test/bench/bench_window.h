/*
 * The measurement loop of the rate benchmarks (mpi_msgrate, shmem_putrate),
 * shared: each program says how to run a number of windows of one message
 * size (and get the slowest rank's time); this warms up, calibrates the
 * number of windows so that a measurement lasts at least the given time,
 * repeats the measurement (option -r) and prints the line of the size:
 * "<size> <rate> <MB/s> <windows> <min rate> <max rate>", the rate being
 * the median of the measurements. contrib/bench-mpi.sh parses these lines.
 */

#ifndef BENCH_WINDOW_H_
#define BENCH_WINDOW_H_

#include "bench_median.h"

#include <stddef.h>
#include <stdio.h>


/* Runs 'windows' windows of messages of 'size' bytes on every rank; returns
 * the slowest rank's time in seconds, the same on every rank */
typedef double (*bench_run_windows_t)(void *arg, size_t size, long windows);

typedef struct {
    bench_run_windows_t run;
    void                *arg;
    double              min_time;   /* Seconds per measurement, at least */
    long                repeat;     /* Measurements per size */
    long                per_window; /* Messages of all ranks per window */
} bench_window_loop_t;

typedef struct {
    long                windows;    /* Per measurement */
    double              rate;       /* Messages/s, median */
    double              min_rate;   /* Over the measurements */
    double              max_rate;
} bench_window_result_t;


/* Warm up (connections, registration caches), then grow the number of
 * windows until one run takes a tenth of the target time; returns the
 * number of windows of a measurement */
static long bench_window_calibrate(const bench_window_loop_t *loop,
                                   size_t size)
{
    long windows = 1;
    double elapsed;

    loop->run(loop->arg, size, 4);
    for (;;) {
        elapsed = loop->run(loop->arg, size, windows);
        if ((elapsed >= loop->min_time / 10) || (windows >= (1L << 40))) {
            break;
        }
        windows *= (elapsed > 0) ? 2 + (long)(loop->min_time / 10 / elapsed) :
                                   16;
    }

    /* Every rank computed the same elapsed (a MAX reduction): same count */
    return (long)(windows * (loop->min_time / elapsed)) + 1;
}

/* Calibrates, then measures loop->repeat times */
static void bench_window_measure(const bench_window_loop_t *loop,
                                 size_t size, bench_window_result_t *result)
{
    double rates[loop->repeat];
    double elapsed;
    long r;

    result->windows = bench_window_calibrate(loop, size);
    for (r = 0; r < loop->repeat; ++r) {
        elapsed  = loop->run(loop->arg, size, result->windows);
        rates[r] = loop->per_window * result->windows / elapsed;
    }
    result->rate     = bench_median(rates, loop->repeat);
    result->min_rate = rates[0];
    result->max_rate = rates[loop->repeat - 1];
}

/* The comment line naming the columns; unit: "msgs", "puts" */
static void bench_window_print_columns(const char *unit)
{
    char rate[32], min_rate[32], max_rate[32];

    snprintf(rate, sizeof(rate), "%s/s", unit);
    snprintf(min_rate, sizeof(min_rate), "min %s/s", unit);
    snprintf(max_rate, sizeof(max_rate), "max %s/s", unit);
    printf("# %6s %14s %10s %10s %14s %14s\n", "size", rate, "MB/s",
           "windows", min_rate, max_rate);
    fflush(stdout);
}

/* The line of one size */
static void bench_window_print(size_t size,
                               const bench_window_result_t *result)
{
    printf("%8zu %14.0f %10.2f %10ld %14.0f %14.0f\n", size, result->rate,
           result->rate * size / 1e6, result->windows, result->min_rate,
           result->max_rate);
    fflush(stdout);
}

#endif
