/*
 * OpenSHMEM synchronization and collectives: barrier_all (visibility of puts
 * made before it), barrier on an active set, broadcast from every root,
 * reductions (sum, max, min, xor in several types), fcollect, collect with
 * uneven contributions and alltoall. Every PE recomputes the expected result
 * from the inputs of all PEs.
 */

#include "shmem_util.h"


#define MAX_ELEMS   (1 << 17)      /* 64-bit elements per collective */
#define NUM_ROUNDS  50


/* Symmetric work arrays; each collective call uses its own pSync, reused
 * only after a barrier */
static long psync_bcast[SHMEM_BCAST_SYNC_SIZE];
static long psync_reduce[SHMEM_REDUCE_SYNC_SIZE];
static long psync_collect[SHMEM_COLLECT_SYNC_SIZE];
static long psync_a2a[SHMEM_ALLTOALL_SYNC_SIZE];
static long psync_barrier[SHMEM_BARRIER_SYNC_SIZE];
static long ring[2];


typedef struct {
    shm_test_t t;
    uint64_t   *src;     /* symmetric, npes * MAX_ELEMS */
    uint64_t   *dst;     /* symmetric, npes * MAX_ELEMS */
    void       *pwrk;    /* symmetric, reduction work array */
} coll_test_t;


static void init_psync(long *psync, int count)
{
    int i;

    for (i = 0; i < count; ++i) {
        psync[i] = SHMEM_SYNC_VALUE;
    }
}


/* Round r: put r into slot r % 2 of the next PE, barrier, the previous PE's
 * value must be visible. Two slots, so that the put of round r + 1 cannot
 * overwrite a value the next PE has not checked yet. */
static void test_barrier_all(coll_test_t *c)
{
    shm_test_t *t = &c->t;
    int next      = (t->me + 1) % t->npes;
    long r;

    ring[0] = ring[1] = -1;
    shmem_barrier_all();
    for (r = 0; r < NUM_ROUNDS; ++r) {
        shmem_long_p(&ring[r % 2], r * t->npes + t->me, next);
        shmem_barrier_all();
        if (ring[r % 2] != r * t->npes + (t->me + t->npes - 1) % t->npes) {
            shm_test_error(t, "barrier_all round %ld: slot has %ld", r,
                           ring[r % 2]);
        }
    }
    shmem_barrier_all();
}


/* The same on the active set of the even PEs, with shmem_barrier; odd PEs
 * do not take part */
static void test_barrier_even(coll_test_t *c)
{
    shm_test_t *t = &c->t;
    int size      = (t->npes + 1) / 2;
    int next      = (t->me + 2) % (2 * size);
    int prev      = (t->me + 2 * size - 2) % (2 * size);
    long r;

    ring[0] = ring[1] = -1;
    shmem_barrier_all();
    if (t->me % 2 == 0) {
        for (r = 0; r < NUM_ROUNDS; ++r) {
            shmem_long_p(&ring[r % 2], r * t->npes + t->me, next);
            shmem_barrier(0, 1, size, psync_barrier);
            if (ring[r % 2] != r * t->npes + prev) {
                shm_test_error(t, "barrier even PEs round %ld: slot has "
                               "%ld", r, ring[r % 2]);
            }
        }
    }
    shmem_barrier_all();
}


static void test_broadcast(coll_test_t *c, size_t nelems, uint64_t seq)
{
    shm_test_t *t = &c->t;
    char what[64];
    int root;

    for (root = 0; root < t->npes; ++root) {
        pattern_fill(c->src, nelems * 8, root, -1, seq + root);
        memset(c->dst, 0, nelems * 8);
        shmem_barrier_all();
        shmem_broadcast64(c->dst, c->src, nelems, root, 0, 0, t->npes,
                          psync_bcast);
        shmem_barrier_all();
        /* OpenSHMEM 1.4: the root's destination is not written */
        if (t->me != root) {
            snprintf(what, sizeof(what), "broadcast64 from %d", root);
            t->errors += pattern_check(c->dst, nelems * 8, root, -1,
                                       seq + root, t->me, what);
        }

        pattern_fill(c->src, nelems * 4, root, -2, seq + root);
        shmem_barrier_all();
        shmem_broadcast32(c->dst, c->src, nelems, root, 0, 0, t->npes,
                          psync_bcast);
        shmem_barrier_all();
        if (t->me != root) {
            snprintf(what, sizeof(what), "broadcast32 from %d", root);
            t->errors += pattern_check(c->dst, nelems * 4, root, -2,
                                       seq + root, t->me, what);
        }
    }
}


/* Input element i of PE pe in round seq, exact in long/int/double */
static long reduce_input(int pe, size_t i, uint64_t seq, int bits)
{
    return (long)(pattern_seed(pe, (int)i, seq) >> (64 - bits));
}


#define CHECK_REDUCE(_type, _fmt, _name, _bits, _init, _combine) \
    { \
        _type *in  = (_type*)c->src; \
        _type *out = (_type*)c->dst; \
        _type expected, v; \
        size_t i; \
        int pe; \
        \
        for (i = 0; i < nelems; ++i) { \
            in[i] = (_type)reduce_input(t->me, i, seq, _bits); \
        } \
        shmem_barrier_all(); \
        shmem_##_name##_to_all(out, in, nelems, 0, 0, t->npes, c->pwrk, \
                               psync_reduce); \
        shmem_barrier_all(); \
        for (i = 0; i < nelems; ++i) { \
            expected = _init; \
            for (pe = 0; pe < t->npes; ++pe) { \
                v        = (_type)reduce_input(pe, i, seq, _bits); \
                expected = _combine; \
            } \
            if (out[i] != expected) { \
                shm_test_error(t, #_name "_to_all[%zu] of %zu: " _fmt \
                               ", expected " _fmt, i, nelems, out[i], \
                               expected); \
            } \
        } \
        ++seq; \
    }


static void test_reductions(coll_test_t *c, size_t nelems, uint64_t seq)
{
    shm_test_t *t = &c->t;

    CHECK_REDUCE(long, "%ld", long_sum, 40, 0, expected + v);
    CHECK_REDUCE(long, "%ld", long_max, 63, 0, (v > expected) ? v : expected);
    CHECK_REDUCE(long, "%ld", long_xor, 63, 0, expected ^ v);
    CHECK_REDUCE(int, "%d", int_min, 31, 0x7fffffff,
                 (v < expected) ? v : expected);
    CHECK_REDUCE(int, "%d", int_sum, 20, 0, expected + v);
    CHECK_REDUCE(double, "%.17g", double_sum, 40, 0.0, expected + v);
}


/* fcollect: nelems from every PE; collect: PE pe contributes
 * (pe % 3) * nelems / 2 elements, placed in PE order */
static void test_collect(coll_test_t *c, size_t nelems, uint64_t seq)
{
    shm_test_t *t = &c->t;
    size_t offset = 0;
    size_t mine   = (t->me % 3) * nelems / 2;
    size_t count;
    int pe;

    pattern_fill(c->src, nelems * 8, t->me, -1, seq);
    shmem_barrier_all();
    shmem_fcollect64(c->dst, c->src, nelems, 0, 0, t->npes, psync_collect);
    shmem_barrier_all();
    for (pe = 0; pe < t->npes; ++pe) {
        t->errors += pattern_check(c->dst + pe * nelems, nelems * 8, pe, -1,
                                   seq, t->me, "fcollect64");
    }

    pattern_fill(c->src, mine * 8, t->me, -2, seq);
    shmem_barrier_all();
    shmem_collect64(c->dst, c->src, mine, 0, 0, t->npes, psync_collect);
    shmem_barrier_all();
    for (pe = 0; pe < t->npes; ++pe) {
        count = (pe % 3) * nelems / 2;
        t->errors += pattern_check(c->dst + offset, count * 8, pe, -2, seq,
                                   t->me, "collect64");
        offset += count;
    }
}


static void test_alltoall(coll_test_t *c, size_t nelems, uint64_t seq)
{
    shm_test_t *t = &c->t;
    int pe;

    for (pe = 0; pe < t->npes; ++pe) {
        pattern_fill(c->src + pe * nelems, nelems * 8, t->me, pe, seq);
    }
    shmem_barrier_all();
    shmem_alltoall64(c->dst, c->src, nelems, 0, 0, t->npes, psync_a2a);
    shmem_barrier_all();
    for (pe = 0; pe < t->npes; ++pe) {
        t->errors += pattern_check(c->dst + pe * nelems, nelems * 8, pe,
                                   t->me, seq, t->me, "alltoall64");
    }
}


int main(int argc, char **argv)
{
    static const size_t counts[] = {1, 16, 1000, MAX_ELEMS};
    coll_test_t c;
    shm_test_t *t = &c.t;
    size_t wrk_size, i;
    char name[80];
    uint64_t seq = 1;

    init_psync(psync_bcast, SHMEM_BCAST_SYNC_SIZE);
    init_psync(psync_reduce, SHMEM_REDUCE_SYNC_SIZE);
    init_psync(psync_collect, SHMEM_COLLECT_SYNC_SIZE);
    init_psync(psync_a2a, SHMEM_ALLTOALL_SYNC_SIZE);
    init_psync(psync_barrier, SHMEM_BARRIER_SYNC_SIZE);

    shm_test_init(t, argc, argv);
    c.src    = shm_test_shmalloc(t, (size_t)t->npes * MAX_ELEMS * 8);
    c.dst    = shm_test_shmalloc(t, (size_t)t->npes * MAX_ELEMS * 8);
    /* Large enough for every type: max(nreduce / 2 + 1, MIN_WRKDATA) */
    wrk_size = (MAX_ELEMS / 2 + 1 + SHMEM_REDUCE_MIN_WRKDATA_SIZE) * 8;
    c.pwrk   = shm_test_shmalloc(t, wrk_size);

    test_barrier_all(&c);
    shm_test_phase_end(t, "barrier_all ring");

    test_barrier_even(&c);
    shm_test_phase_end(t, "barrier on even PEs ring");

    for (i = 0; i < sizeof(counts) / sizeof(counts[0]); ++i) {
        snprintf(name, sizeof(name), "broadcast32/64, %zu elements",
                 counts[i]);
        test_broadcast(&c, counts[i], seq);
        seq += t->npes;
        shm_test_phase_end(t, name);

        snprintf(name, sizeof(name), "reductions, %zu elements", counts[i]);
        test_reductions(&c, counts[i], seq);
        seq += 10;
        shm_test_phase_end(t, name);

        snprintf(name, sizeof(name), "fcollect64/collect64, %zu elements",
                 counts[i]);
        test_collect(&c, counts[i] / (i + 1), seq++);
        shm_test_phase_end(t, name);

        snprintf(name, sizeof(name), "alltoall64, %zu elements per PE",
                 counts[i]);
        test_alltoall(&c, counts[i], seq++);
        shm_test_phase_end(t, name);
    }

    shmem_free(c.pwrk);
    shmem_free(c.dst);
    shmem_free(c.src);
    return shm_test_finalize(t);
}
