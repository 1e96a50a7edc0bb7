/**
 * rsagg_bench: clock, errors, medians.
 */

#include "rsagg_bench.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>


double bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void bench_fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "rsagg_bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

void bench_set_reason(char *reason, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, BENCH_REASON_MAX, fmt, ap);
    va_end(ap);
}

int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double*)a, y = *(const double*)b;

    return (x > y) - (x < y);
}

/* A value of a run that passed; NAN for a run skipped or failed */
double bench_ok_value(const bench_result_t *res, double v)
{
    return (res->state == BENCH_RES_OK) ? v : NAN;
}

/* Median of the values that are numbers; NAN when there is none */
double bench_median(const double *values, unsigned n)
{
    double sorted[n + 1];
    unsigned i, m = 0;

    for (i = 0; i < n; ++i) {
        if (!isnan(values[i])) {
            sorted[m++] = values[i];
        }
    }
    if (m == 0) {
        return NAN;
    }
    qsort(sorted, m, sizeof(*sorted), bench_cmp_double);
    return (m % 2) ? sorted[m / 2] : (sorted[m / 2 - 1] + sorted[m / 2]) / 2;
}
