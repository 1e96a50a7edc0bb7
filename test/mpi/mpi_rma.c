/*
 * One-sided communication through osc ucx: MPI_Put, MPI_Get and
 * MPI_Accumulate under fence and under lock/unlock (exclusive, shared and
 * lock_all with flush), plus the atomics MPI_Fetch_and_op and
 * MPI_Compare_and_swap handing out unique tickets. Every rank targets every
 * rank (itself included) at a displacement that identifies the origin.
 *
 * Options: -n <tickets per origin and target> (default 20)
 */

#include "mpi_util.h"


#define ACC_COUNT 1024           /* uint64 elements accumulated into */
#define MAX_RMA_SIZE (262144 + 1)
#define SLOT ((MAX_RMA_SIZE + 63) & ~(size_t)63)


typedef struct {
    mpi_test_t t;
    long       num_tickets;
    MPI_Win    win;
    uint8_t    *base;     /* data: size slots, then acc, then 2 tickets */
    uint64_t   *acc;
    uint64_t   *tickets;
    MPI_Aint   acc_disp;
    MPI_Aint   ticket_disp;
    uint8_t    *obuf;     /* origin buffers, one slot per target */
} rma_test_t;


static uint8_t *data_slot(uint8_t *buf, int index)
{
    return buf + (size_t)index * SLOT;
}


/* Value that origin adds to element i of the target in round seq */
static uint64_t acc_value(int origin, int target, int i, uint64_t seq)
{
    return pattern_seed(origin, target * ACC_COUNT + i, seq) >> 8;
}


/* Expected accumulate results at this rank: first half sums, second half
 * maxima of the values of all origins */
static void check_acc(rma_test_t *r, uint64_t seq, const char *what)
{
    mpi_test_t *t = &r->t;
    uint64_t expected, v;
    int i, origin;

    for (i = 0; i < ACC_COUNT; ++i) {
        expected = 0;
        for (origin = 0; origin < t->size; ++origin) {
            v = acc_value(origin, t->rank, i, seq);
            if (i < ACC_COUNT / 2) {
                expected += v;
            } else {
                expected = (v > expected) ? v : expected;
            }
        }
        if (r->acc[i] != expected) {
            mpi_test_error(t, "%s: element %d is %llu, expected %llu", what,
                           i, (unsigned long long)r->acc[i],
                           (unsigned long long)expected);
        }
    }
}


static void start_acc(rma_test_t *r, int target, uint64_t seq,
                      uint64_t *vals)
{
    int i;

    for (i = 0; i < ACC_COUNT; ++i) {
        vals[i] = acc_value(r->t.rank, target, i, seq);
    }
    MPI_Accumulate(vals, ACC_COUNT / 2, MPI_UINT64_T, target, r->acc_disp,
                   ACC_COUNT / 2, MPI_UINT64_T, MPI_SUM, r->win);
    MPI_Accumulate(vals + ACC_COUNT / 2, ACC_COUNT / 2, MPI_UINT64_T, target,
                   r->acc_disp + (ACC_COUNT / 2) * sizeof(uint64_t),
                   ACC_COUNT / 2, MPI_UINT64_T, MPI_MAX, r->win);
}


/* Slot s of this rank's window holds what origin s put */
static void check_put_slots(rma_test_t *r, size_t length, uint64_t seq,
                            const char *what)
{
    int s;

    for (s = 0; s < r->t.size; ++s) {
        r->t.errors += pattern_check(data_slot(r->base, s), length, s,
                                     r->t.rank, seq, r->t.rank, what);
    }
}


static void test_fence(rma_test_t *r, size_t length, uint64_t seq)
{
    mpi_test_t *t   = &r->t;
    uint64_t *vals  = mpi_test_malloc(t, t->size * ACC_COUNT *
                                         sizeof(uint64_t));
    int target, s;

    /* Put: origin o writes slot o of every target */
    memset(r->base, 0, (size_t)t->size * SLOT);
    memset(r->acc, 0, ACC_COUNT * sizeof(uint64_t));
    MPI_Win_fence(0, r->win);
    for (target = 0; target < t->size; ++target) {
        pattern_fill(data_slot(r->obuf, target), length, t->rank, target,
                     seq);
        MPI_Put(data_slot(r->obuf, target), length, MPI_BYTE, target,
                (MPI_Aint)t->rank * SLOT, length, MPI_BYTE, r->win);
        start_acc(r, target, seq, vals + target * ACC_COUNT);
    }
    MPI_Win_fence(0, r->win);
    check_put_slots(r, length, seq, "fence put");
    check_acc(r, seq, "fence accumulate");

    /* Get: every target offers slot s for origin s */
    for (s = 0; s < t->size; ++s) {
        pattern_fill(data_slot(r->base, s), length, t->rank, s, seq + 1);
    }
    memset(r->obuf, 0, (size_t)t->size * SLOT);
    MPI_Win_fence(0, r->win);
    for (target = 0; target < t->size; ++target) {
        MPI_Get(data_slot(r->obuf, target), length, MPI_BYTE, target,
                (MPI_Aint)t->rank * SLOT, length, MPI_BYTE, r->win);
    }
    MPI_Win_fence(0, r->win);
    for (target = 0; target < t->size; ++target) {
        t->errors += pattern_check(data_slot(r->obuf, target), length,
                                   target, t->rank, seq + 1, t->rank,
                                   "fence get");
    }

    free(vals);
}


/* Local window accesses are made under a lock on oneself, so they are
 * ordered with the remote ones in the separate and the unified model */
static void local_lock(rma_test_t *r, int type)
{
    MPI_Win_lock(type, r->t.rank, 0, r->win);
}


static void local_unlock(rma_test_t *r)
{
    MPI_Win_unlock(r->t.rank, r->win);
}


static void test_lock(rma_test_t *r, size_t length, uint64_t seq)
{
    mpi_test_t *t  = &r->t;
    uint64_t *vals = mpi_test_malloc(t, t->size * ACC_COUNT *
                                        sizeof(uint64_t));
    int i, target, s;

    local_lock(r, MPI_LOCK_EXCLUSIVE);
    memset(r->base, 0, (size_t)t->size * SLOT);
    memset(r->acc, 0, ACC_COUNT * sizeof(uint64_t));
    local_unlock(r);
    MPI_Barrier(MPI_COMM_WORLD);

    /* Exclusive lock per target; start with the next rank so that the
     * origins do not all queue on the same target */
    for (i = 0; i < t->size; ++i) {
        target = (t->rank + 1 + i) % t->size;
        pattern_fill(data_slot(r->obuf, target), length, t->rank, target,
                     seq);
        MPI_Win_lock(MPI_LOCK_EXCLUSIVE, target, 0, r->win);
        MPI_Put(data_slot(r->obuf, target), length, MPI_BYTE, target,
                (MPI_Aint)t->rank * SLOT, length, MPI_BYTE, r->win);
        MPI_Win_unlock(target, r->win);
    }

    /* Accumulate to all under lock_all, completed by flush */
    MPI_Win_lock_all(0, r->win);
    for (i = 0; i < t->size; ++i) {
        target = (t->rank + 1 + i) % t->size;
        start_acc(r, target, seq, vals + target * ACC_COUNT);
        MPI_Win_flush(target, r->win);
    }
    MPI_Win_unlock_all(r->win);
    MPI_Barrier(MPI_COMM_WORLD);

    local_lock(r, MPI_LOCK_SHARED);
    check_put_slots(r, length, seq, "lock put");
    check_acc(r, seq, "lock_all accumulate");
    local_unlock(r);
    MPI_Barrier(MPI_COMM_WORLD);

    /* Get under shared locks */
    local_lock(r, MPI_LOCK_EXCLUSIVE);
    for (s = 0; s < t->size; ++s) {
        pattern_fill(data_slot(r->base, s), length, t->rank, s, seq + 1);
    }
    local_unlock(r);
    MPI_Barrier(MPI_COMM_WORLD);
    memset(r->obuf, 0, (size_t)t->size * SLOT);
    for (i = 0; i < t->size; ++i) {
        target = (t->rank + 1 + i) % t->size;
        MPI_Win_lock(MPI_LOCK_SHARED, target, 0, r->win);
        MPI_Get(data_slot(r->obuf, target), length, MPI_BYTE, target,
                (MPI_Aint)t->rank * SLOT, length, MPI_BYTE, r->win);
        MPI_Win_unlock(target, r->win);
        t->errors += pattern_check(data_slot(r->obuf, target), length,
                                   target, t->rank, seq + 1, t->rank,
                                   "lock get");
    }
    MPI_Barrier(MPI_COMM_WORLD);

    free(vals);
}


/*
 * Every origin takes num_tickets tickets from a counter on every target,
 * with MPI_Fetch_and_op (use_cas = 0) or a MPI_Compare_and_swap retry loop.
 * The targets then receive all tickets handed out from their counter: each
 * value 0..size*num_tickets-1 exactly once, and the counter is at the end.
 */
static void test_tickets(rma_test_t *r, int use_cas)
{
    mpi_test_t *t       = &r->t;
    long n              = r->num_tickets;
    long total          = n * t->size;
    MPI_Aint disp       = r->ticket_disp + use_cas * sizeof(uint64_t);
    const char *what    = use_cas ? "compare_and_swap" : "fetch_and_op";
    uint64_t *mine      = mpi_test_malloc(t, total * sizeof(uint64_t));
    uint64_t *handed    = mpi_test_malloc(t, total * sizeof(uint64_t));
    unsigned char *seen = mpi_test_malloc(t, total);
    const uint64_t one  = 1;
    uint64_t got, compare, next;
    long k, i;
    int target;

    local_lock(r, MPI_LOCK_EXCLUSIVE);
    r->tickets[use_cas] = 0;
    local_unlock(r);
    MPI_Barrier(MPI_COMM_WORLD);

    MPI_Win_lock_all(0, r->win);
    for (k = 0; k < n; ++k) {
        for (target = 0; target < t->size; ++target) {
            if (!use_cas) {
                MPI_Fetch_and_op(&one, &got, MPI_UINT64_T, target, disp,
                                 MPI_SUM, r->win);
                MPI_Win_flush(target, r->win);
            } else {
                compare = (k == 0) ? 0 : mine[target * n + k - 1] + 1;
                for (;;) {
                    next = compare + 1;
                    MPI_Compare_and_swap(&next, &compare, &got, MPI_UINT64_T,
                                         target, disp, r->win);
                    MPI_Win_flush(target, r->win);
                    if (got == compare) {
                        break;
                    }
                    compare = got;
                }
            }
            mine[target * n + k] = got;
        }
    }
    MPI_Win_unlock_all(r->win);

    /* mine[target * n ...] goes to target */
    MPI_Alltoall(mine, n, MPI_UINT64_T, handed, n, MPI_UINT64_T,
                 MPI_COMM_WORLD);
    memset(seen, 0, total);
    for (i = 0; i < total; ++i) {
        if (handed[i] >= (uint64_t)total) {
            mpi_test_error(t, "%s: rank %ld got ticket %llu of %ld", what,
                           i / n, (unsigned long long)handed[i], total);
        } else if (seen[handed[i]]++) {
            mpi_test_error(t, "%s: ticket %llu handed out twice", what,
                           (unsigned long long)handed[i]);
        }
    }

    local_lock(r, MPI_LOCK_SHARED);
    if (r->tickets[use_cas] != (uint64_t)total) {
        mpi_test_error(t, "%s: counter is %llu, expected %ld", what,
                       (unsigned long long)r->tickets[use_cas], total);
    }
    local_unlock(r);
    MPI_Barrier(MPI_COMM_WORLD);

    free(seen);
    free(handed);
    free(mine);
}


int main(int argc, char **argv)
{
    static const char *const options[] = {"-n", NULL};
    static const size_t sizes[]        = {8, 1000, 65536, MAX_RMA_SIZE};
    rma_test_t r;
    mpi_test_t *t = &r.t;
    MPI_Aint win_size;
    char name[80];
    uint64_t seq = 0;
    size_t i;

    mpi_test_init(t, &argc, &argv);
    mpi_test_check_args(t, argc, argv, options);
    r.num_tickets = mpi_test_arg(t, argc, argv, "-n", 20, 1, 100000);

    r.acc_disp    = (MPI_Aint)t->size * SLOT;
    r.ticket_disp = r.acc_disp + ACC_COUNT * sizeof(uint64_t);
    win_size      = r.ticket_disp + 2 * sizeof(uint64_t);
    MPI_Win_allocate(win_size, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &r.base,
                     &r.win);
    r.acc     = (uint64_t*)(r.base + r.acc_disp);
    r.tickets = (uint64_t*)(r.base + r.ticket_disp);
    r.obuf    = mpi_test_malloc(t, (size_t)t->size * SLOT);

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); ++i) {
        snprintf(name, sizeof(name), "fence put/get/accumulate, %zu bytes",
                 sizes[i]);
        test_fence(&r, sizes[i], seq);
        seq += 2;
        mpi_test_phase_end(t, name);

        snprintf(name, sizeof(name), "lock put/get/accumulate, %zu bytes",
                 sizes[i]);
        test_lock(&r, sizes[i], seq);
        seq += 2;
        mpi_test_phase_end(t, name);
    }

    test_tickets(&r, 0);
    mpi_test_phase_end(t, "fetch_and_op tickets");

    test_tickets(&r, 1);
    mpi_test_phase_end(t, "compare_and_swap tickets");

    free(r.obuf);
    MPI_Win_free(&r.win);
    return mpi_test_finalize(t);
}
