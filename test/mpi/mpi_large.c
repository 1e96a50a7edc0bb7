/*
 * Large messages, which UCX sends with the rendezvous protocol (and
 * zero-copy where the transport offers it): pairwise exchange, many large
 * messages to one rank with wildcard receives, large unexpected messages,
 * all pairs at once and a non-contiguous datatype.
 *
 * Options: -m <largest size in bytes> (default 4 MiB + 3)
 */

#include "mpi_util.h"


#define TAG_LARGE 7


typedef struct {
    mpi_test_t t;
    size_t     max_size;
    uint8_t    *sbuf;    /* size * max_size: one send buffer per peer */
    uint8_t    *rbuf;    /* size * max_size: one receive buffer per peer */
} large_test_t;


static uint8_t *peer_buf(large_test_t *l, uint8_t *buf, int peer)
{
    return buf + (size_t)peer * l->max_size;
}


/* Shift d: everyone sends to rank + d and receives from rank - d */
static void test_sendrecv(large_test_t *l, size_t length, uint64_t seq)
{
    mpi_test_t *t = &l->t;
    MPI_Status status;
    int d, to, from;

    for (d = 1; d < t->size; ++d) {
        to   = (t->rank + d) % t->size;
        from = (t->rank - d + t->size) % t->size;
        pattern_fill(l->sbuf, length, t->rank, to, seq);
        MPI_Sendrecv(l->sbuf, length, MPI_BYTE, to, TAG_LARGE, l->rbuf,
                     length, MPI_BYTE, from, TAG_LARGE, MPI_COMM_WORLD,
                     &status);
        mpi_test_check_msg(t, l->rbuf, &status, from, TAG_LARGE, length, seq,
                           "sendrecv");
    }
}


/* All ranks send to root at once, root receives with MPI_ANY_SOURCE */
static void test_fan_in(large_test_t *l, int root, size_t length,
                        uint64_t seq)
{
    mpi_test_t *t    = &l->t;
    MPI_Request *req = mpi_test_malloc(t, t->size * sizeof(*req));
    MPI_Status *st   = mpi_test_malloc(t, t->size * sizeof(*st));
    int i, n, src;

    if (t->rank != root) {
        pattern_fill(l->sbuf, length, t->rank, root, seq);
        MPI_Send(l->sbuf, length, MPI_BYTE, root, TAG_LARGE, MPI_COMM_WORLD);
    } else {
        n = t->size - 1;
        for (i = 0; i < n; ++i) {
            MPI_Irecv(peer_buf(l, l->rbuf, i), length, MPI_BYTE,
                      MPI_ANY_SOURCE, TAG_LARGE, MPI_COMM_WORLD, &req[i]);
        }
        MPI_Waitall(n, req, st);
        for (i = 0; i < n; ++i) {
            src = st[i].MPI_SOURCE;
            if ((src < 0) || (src >= t->size) || (src == root)) {
                mpi_test_error(t, "fan-in: message from rank %d", src);
                continue;
            }
            mpi_test_check_msg(t, peer_buf(l, l->rbuf, i), &st[i], src,
                               TAG_LARGE, length, seq, "fan-in");
        }
    }

    free(st);
    free(req);
}


/* Every rank sends to and receives from every rank, all at the same time;
 * receives are posted after a barrier, so the sends are unexpected */
static void test_all_pairs_unexpected(large_test_t *l, size_t length,
                                      uint64_t seq)
{
    mpi_test_t *t    = &l->t;
    MPI_Request *req = mpi_test_malloc(t, 2 * t->size * sizeof(*req));
    MPI_Status *st   = mpi_test_malloc(t, 2 * t->size * sizeof(*st));
    int peer;

    for (peer = 0; peer < t->size; ++peer) {
        pattern_fill(peer_buf(l, l->sbuf, peer), length, t->rank, peer, seq);
        MPI_Isend(peer_buf(l, l->sbuf, peer), length, MPI_BYTE, peer,
                  TAG_LARGE, MPI_COMM_WORLD, &req[t->size + peer]);
    }

    MPI_Barrier(MPI_COMM_WORLD);

    for (peer = 0; peer < t->size; ++peer) {
        MPI_Irecv(peer_buf(l, l->rbuf, peer), length, MPI_BYTE, peer,
                  TAG_LARGE, MPI_COMM_WORLD, &req[peer]);
    }
    MPI_Waitall(2 * t->size, req, st);
    for (peer = 0; peer < t->size; ++peer) {
        mpi_test_check_msg(t, peer_buf(l, l->rbuf, peer), &st[peer], peer,
                           TAG_LARGE, length, seq, "all-pairs");
    }

    free(st);
    free(req);
}


/*
 * Send every other 64-byte block of a buffer (MPI_Type_vector), receive
 * contiguously: the sender packs, the receiver gets only the selected blocks
 */
static void test_vector(large_test_t *l, size_t length, uint64_t seq)
{
    mpi_test_t *t = &l->t;
    const int block = 64;
    int count       = (int)(length / (2 * block));
    int to          = (t->rank + 1) % t->size;
    int from        = (t->rank - 1 + t->size) % t->size;
    MPI_Datatype vec;
    MPI_Status status;
    uint8_t *packed;
    int i;

    if (count == 0) {
        return;
    }

    MPI_Type_vector(count, block, 2 * block, MPI_BYTE, &vec);
    MPI_Type_commit(&vec);

    /* The blocks that are sent carry the pattern, the gaps carry garbage */
    packed = mpi_test_malloc(t, (size_t)count * block);
    pattern_fill(packed, (size_t)count * block, t->rank, to, seq);
    memset(l->sbuf, 0xa5, (size_t)count * 2 * block);
    for (i = 0; i < count; ++i) {
        memcpy(l->sbuf + (size_t)i * 2 * block, packed + (size_t)i * block,
               block);
    }

    MPI_Sendrecv(l->sbuf, 1, vec, to, TAG_LARGE, l->rbuf,
                 count * block, MPI_BYTE, from, TAG_LARGE, MPI_COMM_WORLD,
                 &status);
    mpi_test_check_msg(t, l->rbuf, &status, from, TAG_LARGE,
                       (size_t)count * block, seq, "vector");

    free(packed);
    MPI_Type_free(&vec);
}


int main(int argc, char **argv)
{
    static const char *const options[] = {"-m", NULL};
    large_test_t l;
    mpi_test_t *t = &l.t;
    size_t sizes[8];
    char name[80];
    int num_sizes, i, root;
    uint64_t seq = 0;

    mpi_test_init(t, &argc, &argv);
    mpi_test_check_args(t, argc, argv, options);
    l.max_size = mpi_test_arg(t, argc, argv, "-m", (4 << 20) + 3, 1,
                              1 << 30);
    l.sbuf     = mpi_test_malloc(t, t->size * l.max_size);
    l.rbuf     = mpi_test_malloc(t, t->size * l.max_size);

    /* Sizes between the eager limits and the largest one, plus odd ones */
    num_sizes = 0;
    sizes[num_sizes++] = 16384 + 1;
    sizes[num_sizes++] = 65536;
    sizes[num_sizes++] = 262144 + 5;
    sizes[num_sizes++] = 1 << 20;
    sizes[num_sizes++] = l.max_size;
    for (i = 0; i < num_sizes; ++i) {
        if (sizes[i] > l.max_size) {
            sizes[i] = l.max_size;
        }
    }

    for (i = 0; i < num_sizes; ++i) {
        snprintf(name, sizeof(name), "sendrecv shifts, %zu bytes", sizes[i]);
        test_sendrecv(&l, sizes[i], seq++);
        mpi_test_phase_end(t, name);

        for (root = 0; root < t->size; ++root) {
            test_fan_in(&l, root, sizes[i], seq++);
        }
        snprintf(name, sizeof(name), "fan-in any-source, %zu bytes",
                 sizes[i]);
        mpi_test_phase_end(t, name);

        snprintf(name, sizeof(name), "all pairs unexpected, %zu bytes",
                 sizes[i]);
        test_all_pairs_unexpected(&l, sizes[i], seq++);
        mpi_test_phase_end(t, name);
    }

    snprintf(name, sizeof(name), "vector datatype, %zu bytes", l.max_size);
    test_vector(&l, l.max_size, seq++);
    mpi_test_phase_end(t, name);

    free(l.rbuf);
    free(l.sbuf);
    return mpi_test_finalize(t);
}
