/*
 * Collectives over pml ucx: bcast from every root, allreduce with several
 * operations (also in place), alltoall, alltoallv with uneven counts and
 * allgather, each at small and large sizes. Every rank recomputes what the
 * result must be from the inputs of all ranks.
 */

#include "mpi_util.h"


/* Input element i of a rank for reduction round seq: exact in uint64_t and
 * in double (below 2^40), different for every rank and element */
static uint64_t reduce_input(int rank, size_t i, uint64_t seq)
{
    return pattern_seed(rank, (int)i, seq) >> 24;
}


static void test_bcast(mpi_test_t *t, size_t length, uint64_t seq)
{
    uint8_t *buf = mpi_test_malloc(t, length);
    char what[64];
    int root;

    for (root = 0; root < t->size; ++root) {
        if (t->rank == root) {
            pattern_fill(buf, length, root, -1, seq);
        } else {
            memset(buf, 0, length);
        }
        MPI_Bcast(buf, (int)length, MPI_BYTE, root, MPI_COMM_WORLD);
        snprintf(what, sizeof(what), "bcast from %d", root);
        t->errors += pattern_check(buf, length, root, -1, seq, t->rank,
                                   what);
    }

    free(buf);
}


static void test_allreduce(mpi_test_t *t, size_t count, uint64_t seq)
{
    uint64_t *in   = mpi_test_malloc(t, count * sizeof(*in));
    uint64_t *out  = mpi_test_malloc(t, count * sizeof(*out));
    uint64_t *sum  = mpi_test_malloc(t, count * sizeof(*sum));
    uint64_t *max  = mpi_test_malloc(t, count * sizeof(*max));
    uint64_t *bxor = mpi_test_malloc(t, count * sizeof(*bxor));
    double *din    = mpi_test_malloc(t, count * sizeof(*din));
    double *dout   = mpi_test_malloc(t, count * sizeof(*dout));
    uint64_t v;
    size_t i;
    int r;

    for (i = 0; i < count; ++i) {
        sum[i] = max[i] = bxor[i] = 0;
        for (r = 0; r < t->size; ++r) {
            v        = reduce_input(r, i, seq);
            sum[i]  += v;
            max[i]   = (v > max[i]) ? v : max[i];
            bxor[i] ^= v;
        }
        in[i]  = reduce_input(t->rank, i, seq);
        din[i] = (double)in[i];
    }

    MPI_Allreduce(in, out, (int)count, MPI_UINT64_T, MPI_SUM,
                  MPI_COMM_WORLD);
    for (i = 0; i < count; ++i) {
        if (out[i] != sum[i]) {
            mpi_test_error(t, "allreduce sum[%zu] of %zu: %llu, expected "
                           "%llu", i, count, (unsigned long long)out[i],
                           (unsigned long long)sum[i]);
        }
    }

    MPI_Allreduce(in, out, (int)count, MPI_UINT64_T, MPI_MAX,
                  MPI_COMM_WORLD);
    for (i = 0; i < count; ++i) {
        if (out[i] != max[i]) {
            mpi_test_error(t, "allreduce max[%zu] of %zu: %llu, expected "
                           "%llu", i, count, (unsigned long long)out[i],
                           (unsigned long long)max[i]);
        }
    }

    /* In place: the input buffer is also the output */
    memcpy(out, in, count * sizeof(*in));
    MPI_Allreduce(MPI_IN_PLACE, out, (int)count, MPI_UINT64_T, MPI_BXOR,
                  MPI_COMM_WORLD);
    for (i = 0; i < count; ++i) {
        if (out[i] != bxor[i]) {
            mpi_test_error(t, "allreduce in-place bxor[%zu] of %zu: %llu, "
                           "expected %llu", i, count,
                           (unsigned long long)out[i],
                           (unsigned long long)bxor[i]);
        }
    }

    /* Sums of a few integers below 2^40 are exact in double */
    MPI_Allreduce(din, dout, (int)count, MPI_DOUBLE, MPI_SUM,
                  MPI_COMM_WORLD);
    for (i = 0; i < count; ++i) {
        if (dout[i] != (double)sum[i]) {
            mpi_test_error(t, "allreduce double sum[%zu] of %zu: %.17g, "
                           "expected %.17g", i, count, dout[i],
                           (double)sum[i]);
        }
    }

    free(dout);
    free(din);
    free(bxor);
    free(max);
    free(sum);
    free(out);
    free(in);
}


static void test_alltoall(mpi_test_t *t, size_t length, uint64_t seq)
{
    uint8_t *sbuf = mpi_test_malloc(t, t->size * length);
    uint8_t *rbuf = mpi_test_malloc(t, t->size * length);
    int peer;

    for (peer = 0; peer < t->size; ++peer) {
        pattern_fill(sbuf + peer * length, length, t->rank, peer, seq);
    }
    memset(rbuf, 0, t->size * length);
    MPI_Alltoall(sbuf, (int)length, MPI_BYTE, rbuf, (int)length, MPI_BYTE,
                 MPI_COMM_WORLD);
    for (peer = 0; peer < t->size; ++peer) {
        t->errors += pattern_check(rbuf + peer * length, length, peer,
                                   t->rank, seq, t->rank, "alltoall");
    }

    free(rbuf);
    free(sbuf);
}


/* Bytes that rank src sends to rank dst in alltoallv round seq: uneven,
 * sometimes zero */
static int alltoallv_count(int src, int dst, size_t scale, uint64_t seq)
{
    return (int)(((src * 7 + dst * 3 + seq) % 5) * scale);
}


static void test_alltoallv(mpi_test_t *t, size_t scale, uint64_t seq)
{
    int *scounts = mpi_test_malloc(t, t->size * sizeof(int));
    int *sdispls = mpi_test_malloc(t, t->size * sizeof(int));
    int *rcounts = mpi_test_malloc(t, t->size * sizeof(int));
    int *rdispls = mpi_test_malloc(t, t->size * sizeof(int));
    uint8_t *sbuf, *rbuf;
    int peer, stotal = 0, rtotal = 0;

    for (peer = 0; peer < t->size; ++peer) {
        scounts[peer] = alltoallv_count(t->rank, peer, scale, seq);
        rcounts[peer] = alltoallv_count(peer, t->rank, scale, seq);
        /* Receive displacements in reverse peer order: layouts differ */
        sdispls[peer] = stotal;
        stotal       += scounts[peer];
    }
    for (peer = t->size - 1; peer >= 0; --peer) {
        rdispls[peer] = rtotal;
        rtotal       += rcounts[peer];
    }

    sbuf = mpi_test_malloc(t, stotal);
    rbuf = mpi_test_malloc(t, rtotal);
    for (peer = 0; peer < t->size; ++peer) {
        pattern_fill(sbuf + sdispls[peer], scounts[peer], t->rank, peer,
                     seq);
    }
    MPI_Alltoallv(sbuf, scounts, sdispls, MPI_BYTE, rbuf, rcounts, rdispls,
                  MPI_BYTE, MPI_COMM_WORLD);
    for (peer = 0; peer < t->size; ++peer) {
        t->errors += pattern_check(rbuf + rdispls[peer], rcounts[peer], peer,
                                   t->rank, seq, t->rank, "alltoallv");
    }

    free(rbuf);
    free(sbuf);
    free(rdispls);
    free(rcounts);
    free(sdispls);
    free(scounts);
}


static void test_allgather(mpi_test_t *t, size_t length, uint64_t seq)
{
    uint8_t *sbuf = mpi_test_malloc(t, length);
    uint8_t *rbuf = mpi_test_malloc(t, t->size * length);
    int peer;

    pattern_fill(sbuf, length, t->rank, -1, seq);
    MPI_Allgather(sbuf, (int)length, MPI_BYTE, rbuf, (int)length, MPI_BYTE,
                  MPI_COMM_WORLD);
    for (peer = 0; peer < t->size; ++peer) {
        t->errors += pattern_check(rbuf + peer * length, length, peer, -1,
                                   seq, t->rank, "allgather");
    }

    free(rbuf);
    free(sbuf);
}


int main(int argc, char **argv)
{
    static const char *const options[] = {NULL};
    static const size_t bcast_sizes[]  = {1, 100, 8192, 65536 + 5,
                                          (1 << 20) + 3};
    static const size_t reduce_counts[] = {1, 7, 1000, 65536 + 1};
    static const size_t a2a_sizes[]    = {1, 8, 1000, 65536 + 3};
    mpi_test_t t;
    char name[80];
    uint64_t seq = 0;
    size_t i;
    int iter;

    mpi_test_init(&t, &argc, &argv);
    mpi_test_check_args(&t, argc, argv, options);

    for (iter = 0; iter < 100; ++iter) {
        MPI_Barrier(MPI_COMM_WORLD);
    }
    mpi_test_phase_end(&t, "100 barriers");

    for (i = 0; i < sizeof(bcast_sizes) / sizeof(bcast_sizes[0]); ++i) {
        snprintf(name, sizeof(name), "bcast from each root, %zu bytes",
                 bcast_sizes[i]);
        test_bcast(&t, bcast_sizes[i], seq++);
        mpi_test_phase_end(&t, name);
    }

    for (i = 0; i < sizeof(reduce_counts) / sizeof(reduce_counts[0]); ++i) {
        snprintf(name, sizeof(name), "allreduce sum/max/bxor, %zu elements",
                 reduce_counts[i]);
        test_allreduce(&t, reduce_counts[i], seq++);
        mpi_test_phase_end(&t, name);
    }

    for (i = 0; i < sizeof(a2a_sizes) / sizeof(a2a_sizes[0]); ++i) {
        snprintf(name, sizeof(name), "alltoall, %zu bytes per peer",
                 a2a_sizes[i]);
        test_alltoall(&t, a2a_sizes[i], seq++);
        mpi_test_phase_end(&t, name);

        snprintf(name, sizeof(name), "alltoallv, up to %zu bytes per peer",
                 4 * a2a_sizes[i]);
        test_alltoallv(&t, a2a_sizes[i], seq++);
        mpi_test_phase_end(&t, name);

        snprintf(name, sizeof(name), "allgather, %zu bytes per rank",
                 a2a_sizes[i]);
        test_allgather(&t, a2a_sizes[i], seq++);
        mpi_test_phase_end(&t, name);
    }

    return mpi_test_finalize(&t);
}
