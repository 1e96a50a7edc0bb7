/*
 * OpenSHMEM atomics from every PE on every PE (itself included): inc, add
 * (64 and 32 bit), fetch-add and compare-swap handing out unique tickets,
 * swap chains, fetch and set. A lost, duplicated or torn atomic update shows
 * up as a wrong final counter or a ticket handed out twice.
 */

#include "shmem_util.h"


#define NUM_ROUNDS 40     /* atomics per origin and target */


/* Symmetric counters (globals are symmetric) */
static long ctr_inc;
static long ctr_add;
static int  ctr_add32;
static long ctr_fadd;
static long ctr_cswap;
static long ctr_swap;
static int  swap_initial;
static long ctr_set;


typedef struct {
    shm_test_t t;
    long       total;     /* npes * NUM_ROUNDS */
    int        *seen;     /* symmetric: total counters per ticket kind */
    long       *mine;     /* local: values fetched, per target and round */
} amo_test_t;


static void reset(amo_test_t *a, long *counter, long value)
{
    *counter = value;
    memset(a->seen, 0, a->total * sizeof(int));
    shmem_barrier_all();
}


static void test_inc_add(amo_test_t *a)
{
    shm_test_t *t = &a->t;
    long expected_add;
    int k, pe;

    ctr_add32 = 0;
    ctr_add   = 0;
    reset(a, &ctr_inc, 0);
    for (k = 0; k < NUM_ROUNDS; ++k) {
        for (pe = 0; pe < t->npes; ++pe) {
            shmem_long_atomic_inc(&ctr_inc, pe);
            shmem_long_atomic_add(&ctr_add, t->me + 1 + pattern_corrupt_now(),
                                  pe);
            shmem_int_atomic_add(&ctr_add32, t->me + 1, pe);
        }
    }
    shmem_barrier_all();

    expected_add = (long)NUM_ROUNDS * t->npes * (t->npes + 1) / 2;
    if (ctr_inc != a->total) {
        shm_test_error(t, "atomic_inc: counter %ld, expected %ld", ctr_inc,
                       a->total);
    }
    if (ctr_add != expected_add) {
        shm_test_error(t, "long atomic_add: counter %ld, expected %ld",
                       ctr_add, expected_add);
    }
    if (ctr_add32 != (int)expected_add) {
        shm_test_error(t, "int atomic_add: counter %d, expected %ld",
                       ctr_add32, expected_add);
    }
}


/*
 * Every fetched ticket value is reported to the target's seen[] with an
 * atomic inc; afterwards every ticket 0..total-1 must have been seen once,
 * and the tickets an origin got from one target must increase
 */
static void check_tickets(amo_test_t *a, long *counter, const char *what)
{
    shm_test_t *t = &a->t;
    long i;
    int pe, k;

    for (pe = 0; pe < t->npes; ++pe) {
        for (k = 0; k < NUM_ROUNDS; ++k) {
            i = a->mine[pe * NUM_ROUNDS + k];
            if ((i < 0) || (i >= a->total)) {
                shm_test_error(t, "%s: got ticket %ld from %d, expected "
                               "0..%ld", what, i, pe, a->total - 1);
                continue;
            }
            if ((k > 0) && (i <= a->mine[pe * NUM_ROUNDS + k - 1])) {
                shm_test_error(t, "%s: ticket %ld from %d after %ld", what,
                               i, pe, a->mine[pe * NUM_ROUNDS + k - 1]);
            }
            shmem_int_atomic_inc(&a->seen[i], pe);
        }
    }
    shmem_barrier_all();

    if (*counter != a->total) {
        shm_test_error(t, "%s: counter %ld, expected %ld", what, *counter,
                       a->total);
    }
    for (i = 0; i < a->total; ++i) {
        if (a->seen[i] != 1) {
            shm_test_error(t, "%s: ticket %ld handed out %d times", what, i,
                           a->seen[i]);
        }
    }
}


static void test_fetch_add(amo_test_t *a)
{
    shm_test_t *t = &a->t;
    int k, pe;

    reset(a, &ctr_fadd, 0);
    for (k = 0; k < NUM_ROUNDS; ++k) {
        for (pe = 0; pe < t->npes; ++pe) {
            a->mine[pe * NUM_ROUNDS + k] =
                    shmem_long_atomic_fetch_add(&ctr_fadd, 1, pe);
        }
    }
    check_tickets(a, &ctr_fadd, "atomic_fetch_add");
}


static void test_compare_swap(amo_test_t *a)
{
    shm_test_t *t = &a->t;
    long cond, old;
    int k, pe;

    reset(a, &ctr_cswap, 0);
    for (k = 0; k < NUM_ROUNDS; ++k) {
        for (pe = 0; pe < t->npes; ++pe) {
            /* Guess the value; a failed swap returns the actual one */
            cond = (k == 0) ? 0 : a->mine[pe * NUM_ROUNDS + k - 1] + 1;
            for (;;) {
                old = shmem_long_atomic_compare_swap(&ctr_cswap, cond,
                                                     cond + 1, pe);
                if (old == cond) {
                    break;
                }
                cond = old;
            }
            a->mine[pe * NUM_ROUNDS + k] = cond;
        }
    }
    check_tickets(a, &ctr_cswap, "atomic_compare_swap");
}


/*
 * Every origin swaps its values me*NUM_ROUNDS+k into a counter that starts
 * at -1. Each value must come back exactly once from some swap, except the
 * one left in the counter, which never comes back; -1 comes back once.
 */
static void test_swap(amo_test_t *a)
{
    shm_test_t *t = &a->t;
    long old, v;
    int k, pe;

    swap_initial = 0;
    reset(a, &ctr_swap, -1);
    for (k = 0; k < NUM_ROUNDS; ++k) {
        for (pe = 0; pe < t->npes; ++pe) {
            v   = (long)t->me * NUM_ROUNDS + k;
            old = shmem_long_atomic_swap(&ctr_swap, v, pe);
            if (old == -1) {
                shmem_int_atomic_inc(&swap_initial, pe);
            } else if ((old < 0) || (old >= a->total)) {
                shm_test_error(t, "atomic_swap: got %ld from %d", old, pe);
            } else {
                shmem_int_atomic_inc(&a->seen[old], pe);
            }
        }
    }
    shmem_barrier_all();

    if (swap_initial != 1) {
        shm_test_error(t, "atomic_swap: initial value returned %d times",
                       swap_initial);
    }
    if ((ctr_swap < 0) || (ctr_swap >= a->total)) {
        shm_test_error(t, "atomic_swap: final value %ld", ctr_swap);
        return;
    }
    for (v = 0; v < a->total; ++v) {
        if (a->seen[v] != ((v == ctr_swap) ? 0 : 1)) {
            shm_test_error(t, "atomic_swap: value %ld returned %d times%s",
                           v, a->seen[v],
                           (v == ctr_swap) ? " but is the final value" : "");
        }
    }
}


/* atomic_set of a value derived from the origin, atomic_fetch by all: the
 * value read must be one of the values set, never a mix */
static void test_set_fetch(amo_test_t *a)
{
    shm_test_t *t = &a->t;
    long v, low;
    int k, pe;

    reset(a, &ctr_set, 0);
    for (k = 0; k < NUM_ROUNDS; ++k) {
        for (pe = 0; pe < t->npes; ++pe) {
            /* high and low half carry the same number */
            v = ((long)(t->me + 1) << 32) | (t->me + 1);
            shmem_long_atomic_set(&ctr_set, v, pe);
            v   = shmem_long_atomic_fetch(&ctr_set, pe);
            low = v & 0xffffffffl;
            if (((v >> 32) != low) || (low < 1) || (low > t->npes)) {
                shm_test_error(t, "atomic_fetch from %d: torn or unknown "
                               "value 0x%lx", pe, v);
            }
        }
    }
    shmem_barrier_all();
}


int main(int argc, char **argv)
{
    amo_test_t a;
    shm_test_t *t = &a.t;

    shm_test_init(t, argc, argv);
    a.total = (long)t->npes * NUM_ROUNDS;
    a.seen  = shm_test_shmalloc(t, a.total * sizeof(int));
    a.mine  = shm_test_malloc(t, a.total * sizeof(long));

    test_inc_add(&a);
    shm_test_phase_end(t, "atomic_inc, atomic_add (long and int)");

    test_fetch_add(&a);
    shm_test_phase_end(t, "atomic_fetch_add tickets");

    test_compare_swap(&a);
    shm_test_phase_end(t, "atomic_compare_swap tickets");

    test_swap(&a);
    shm_test_phase_end(t, "atomic_swap chain");

    test_set_fetch(&a);
    shm_test_phase_end(t, "atomic_set/atomic_fetch");

    free(a.mine);
    shmem_free(a.seen);
    return shm_test_finalize(t);
}
