/*
 * OpenSHMEM puts and gets from every PE to every PE (itself included):
 * blocking putmem/getmem at small and large sizes, many small non-blocking
 * puts completed by shmem_quiet and then announced with a flag, puts ordered
 * by shmem_fence, non-blocking gets, single-element and strided puts.
 * Each PE writes into the slot of the target that belongs to it, so a
 * misdirected put shows up as a wrong byte in someone else's slot.
 */

#include "shmem_util.h"


#define MAX_SIZE     (1 << 20)
#define NUM_CHUNKS   256         /* non-blocking operations per target */
#define CHUNK_STRIDE 64          /* chunks are 1..64 bytes, one per stride */


typedef struct {
    shm_test_t t;
    uint8_t    *dst;     /* symmetric: npes slots of MAX_SIZE, written by
                            the PE of the same index */
    uint8_t    *src;     /* symmetric: npes slots of MAX_SIZE, read by the
                            PE of the same index */
    long       *flags;   /* symmetric: npes flags */
    uint8_t    *obuf;    /* local: npes slots of MAX_SIZE */
} rma_test_t;


static uint8_t *slot(uint8_t *buf, int index)
{
    return buf + (size_t)index * MAX_SIZE;
}


static void check_slots(rma_test_t *r, size_t length, uint64_t seq,
                        const char *what)
{
    int s;

    for (s = 0; s < r->t.npes; ++s) {
        r->t.errors += pattern_check(slot(r->dst, s), length, s, r->t.me,
                                     seq, r->t.me, what);
    }
}


static void test_put_get(rma_test_t *r, size_t length, uint64_t seq)
{
    shm_test_t *t = &r->t;
    int pe;

    for (pe = 0; pe < t->npes; ++pe) {
        pattern_fill(slot(r->obuf, pe), length, t->me, pe, seq);
        shmem_putmem(slot(r->dst, t->me), slot(r->obuf, pe), length, pe);
    }
    shmem_barrier_all();
    check_slots(r, length, seq, "putmem");

    for (pe = 0; pe < t->npes; ++pe) {
        pattern_fill(slot(r->src, pe), length, t->me, pe, seq + 1);
    }
    memset(r->obuf, 0, (size_t)t->npes * MAX_SIZE);
    shmem_barrier_all();
    for (pe = 0; pe < t->npes; ++pe) {
        shmem_getmem(slot(r->obuf, pe), slot(r->src, t->me), length, pe);
        t->errors += pattern_check(slot(r->obuf, pe), length, pe, t->me,
                                   seq + 1, t->me, "getmem");
    }
    shmem_barrier_all();
}


static size_t chunk_length(int k)
{
    return 1 + k % CHUNK_STRIDE;
}


/*
 * NUM_CHUNKS small putmem_nbi per target, one shmem_quiet, then a flag per
 * target. The target waits only for the flags (no barrier): after the quiet
 * all chunks must be there.
 */
static void test_nbi_quiet(rma_test_t *r, uint64_t seq)
{
    shm_test_t *t = &r->t;
    size_t offset;
    int pe, k, s;

    for (k = 0; k < NUM_CHUNKS; ++k) {
        for (pe = 0; pe < t->npes; ++pe) {
            offset = (size_t)k * CHUNK_STRIDE;
            pattern_fill(slot(r->obuf, pe) + offset, chunk_length(k), t->me,
                         pe, seq * NUM_CHUNKS + k);
            shmem_putmem_nbi(slot(r->dst, t->me) + offset,
                             slot(r->obuf, pe) + offset, chunk_length(k),
                             pe);
        }
    }
    shmem_quiet();
    for (pe = 0; pe < t->npes; ++pe) {
        shmem_long_p(&r->flags[t->me], (long)seq, pe);
    }

    for (s = 0; s < t->npes; ++s) {
        shmem_long_wait_until(&r->flags[s], SHMEM_CMP_EQ, (long)seq);
        for (k = 0; k < NUM_CHUNKS; ++k) {
            t->errors += pattern_check(slot(r->dst, s) + k * CHUNK_STRIDE,
                                       chunk_length(k), s, t->me,
                                       seq * NUM_CHUNKS + k, t->me,
                                       "putmem_nbi+quiet");
        }
    }
    shmem_barrier_all();
}


/* Data put, shmem_fence, flag put: the target that sees the flag must see
 * the data, for every size (small and large puts may take other paths) */
static void test_fence(rma_test_t *r, size_t length, uint64_t seq)
{
    shm_test_t *t = &r->t;
    int pe, s;

    for (pe = 0; pe < t->npes; ++pe) {
        pattern_fill(slot(r->obuf, pe), length, t->me, pe, seq);
        shmem_putmem(slot(r->dst, t->me), slot(r->obuf, pe), length, pe);
        shmem_fence();
        shmem_long_p(&r->flags[t->me], (long)seq, pe);
    }

    for (s = 0; s < t->npes; ++s) {
        shmem_long_wait_until(&r->flags[s], SHMEM_CMP_EQ, (long)seq);
        t->errors += pattern_check(slot(r->dst, s), length, s, t->me, seq,
                                   t->me, "putmem+fence+flag");
    }
    shmem_barrier_all();
}


static void test_get_nbi(rma_test_t *r, uint64_t seq)
{
    shm_test_t *t = &r->t;
    size_t offset;
    int pe, k;

    for (pe = 0; pe < t->npes; ++pe) {
        for (k = 0; k < NUM_CHUNKS; ++k) {
            pattern_fill(slot(r->src, pe) + (size_t)k * CHUNK_STRIDE,
                         chunk_length(k), t->me, pe, seq * NUM_CHUNKS + k);
        }
    }
    memset(r->obuf, 0, (size_t)t->npes * MAX_SIZE);
    shmem_barrier_all();

    for (k = 0; k < NUM_CHUNKS; ++k) {
        for (pe = 0; pe < t->npes; ++pe) {
            offset = (size_t)k * CHUNK_STRIDE;
            shmem_getmem_nbi(slot(r->obuf, pe) + offset,
                             slot(r->src, t->me) + offset, chunk_length(k),
                             pe);
        }
    }
    shmem_quiet();
    for (pe = 0; pe < t->npes; ++pe) {
        for (k = 0; k < NUM_CHUNKS; ++k) {
            t->errors += pattern_check(slot(r->obuf, pe) +
                                       (size_t)k * CHUNK_STRIDE,
                                       chunk_length(k), pe, t->me,
                                       seq * NUM_CHUNKS + k, t->me,
                                       "getmem_nbi+quiet");
        }
    }
    shmem_barrier_all();
}


/* shmem_long_p/shmem_long_g of single elements and a strided shmem_int_iput
 * that must leave the elements in between alone */
static void test_elements(rma_test_t *r, uint64_t seq)
{
    shm_test_t *t = &r->t;
    long *lslots  = (long*)r->dst;        /* npes longs */
    int *islots   = (int*)r->src;         /* npes * 64 ints */
    int *ivals    = (int*)r->obuf;
    long expected, got;
    int pe, s, i;

    memset(r->src, 0, (size_t)t->npes * 64 * sizeof(int));
    shmem_barrier_all();

    for (pe = 0; pe < t->npes; ++pe) {
        shmem_long_p(&lslots[t->me], (long)pattern_seed(t->me, pe, seq), pe);
        for (i = 0; i < 32; ++i) {
            ivals[i] = (int)pattern_seed(t->me, pe, seq + i + 1);
        }
        /* 32 ints to every other int of this PE's 64-int slot */
        shmem_int_iput(&islots[t->me * 64], ivals, 2, 1, 32, pe);
    }
    shmem_barrier_all();

    for (s = 0; s < t->npes; ++s) {
        expected = (long)pattern_seed(s, t->me, seq);
        if (lslots[s] != expected) {
            shm_test_error(t, "long_p from %d: %ld, expected %ld", s,
                           lslots[s], expected);
        }
        for (i = 0; i < 64; ++i) {
            expected = (i % 2) ? 0 :
                       (int)pattern_seed(s, t->me, seq + i / 2 + 1);
            if (islots[s * 64 + i] != (int)expected) {
                shm_test_error(t, "int_iput from %d: element %d is %d, "
                               "expected %d", s, i, islots[s * 64 + i],
                               (int)expected);
            }
        }
    }

    for (pe = 0; pe < t->npes; ++pe) {
        got      = shmem_long_g(&lslots[pe], pe);
        expected = (long)pattern_seed(pe, pe, seq);
        if (got != expected) {
            shm_test_error(t, "long_g of element %d at %d: %ld, expected "
                           "%ld", pe, pe, got, expected);
        }
    }
    shmem_barrier_all();
}


int main(int argc, char **argv)
{
    static const size_t sizes[] = {1, 8, 100, 4096, 65536 + 1, MAX_SIZE};
    rma_test_t r;
    shm_test_t *t = &r.t;
    char name[80];
    uint64_t seq  = 1;
    size_t i;

    shm_test_init(t, argc, argv);
    r.dst   = shm_test_shmalloc(t, (size_t)t->npes * MAX_SIZE);
    r.src   = shm_test_shmalloc(t, (size_t)t->npes * MAX_SIZE);
    r.flags = shm_test_shmalloc(t, t->npes * sizeof(long));
    r.obuf  = shm_test_malloc(t, (size_t)t->npes * MAX_SIZE);

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); ++i) {
        snprintf(name, sizeof(name), "putmem/getmem all pairs, %zu bytes",
                 sizes[i]);
        test_put_get(&r, sizes[i], seq);
        seq += 2;
        shm_test_phase_end(t, name);

        snprintf(name, sizeof(name), "putmem+fence+flag, %zu bytes",
                 sizes[i]);
        test_fence(&r, sizes[i], seq++);
        shm_test_phase_end(t, name);
    }

    test_nbi_quiet(&r, seq++);
    shm_test_phase_end(t, "putmem_nbi x256 + quiet + flag");

    test_get_nbi(&r, seq++);
    shm_test_phase_end(t, "getmem_nbi x256 + quiet");

    test_elements(&r, seq++);
    shm_test_phase_end(t, "long_p/long_g, int_iput strided");

    free(r.obuf);
    shmem_free(r.flags);
    shmem_free(r.src);
    shmem_free(r.dst);
    return shm_test_finalize(t);
}
