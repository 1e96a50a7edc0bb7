/*
 * Repeated measurements of one size in one job (option -r of the rate
 * benchmarks): the median is what the benchmark prints, with the extremes.
 * Repeating inside a job separates the noise of the moment (other
 * processes, the host of a virtual machine) from that of the job's
 * placement, which only more jobs average out.
 */

#ifndef BENCH_MEDIAN_H_
#define BENCH_MEDIAN_H_

#include <stdlib.h>


static int bench_compare_double(const void *a, const void *b)
{
    double x = *(const double*)a, y = *(const double*)b;

    return (x > y) - (x < y);
}

/* Sorts values[0..count-1] and returns their median */
static double bench_median(double *values, long count)
{
    qsort(values, count, sizeof(*values), bench_compare_double);
    return (count % 2) ? values[count / 2] :
           (values[count / 2 - 1] + values[count / 2]) / 2;
}

#endif
