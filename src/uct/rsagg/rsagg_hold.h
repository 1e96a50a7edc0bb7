/**
 * rsagg hold timer: a batch never waits for a progress call that does not
 * come.
 *
 * A batch leaves on progress (see rsagg_channel.c). An application that
 * stops progressing a worker (a compute phase, or Open MPI's finalize, which
 * progresses one worker while its peer still waits on another) would keep a
 * message in the batch for good. So when a batch has been held for a whole
 * UCX_RSAGG_HOLD_TIMEOUT without any progress of its iface, a timer sends it:
 * for a thread-mode async context, rsagg's hold thread (one per process,
 * asleep between ticks) with the context blocked; otherwise a UCX async
 * timer of the context.
 *
 * The timer runs in another thread, so it and the worker's thread must not
 * be inside the iface at the same time. They exclude each other
 * asymmetrically, to keep the worker's fast path free of atomics and
 * fences: the worker's thread only marks that it is inside; the timer claims
 * the iface, makes every thread of the process execute a full memory barrier
 * (membarrier(2)), then reads the mark. Either the timer sees the mark and
 * backs off until its next tick, or the worker's thread sees the claim and
 * waits the few microseconds until the timer has sent the batches.
 */

#ifndef UCT_RSAGG_HOLD_H_
#define UCT_RSAGG_HOLD_H_

#include "rsagg_iface.h"

#include <ucs/sys/compiler_def.h>


/* The shortest UCX_RSAGG_HOLD_TIMEOUT, and what "auto" means */
#define UCT_RSAGG_HOLD_MIN_USEC  10
#define UCT_RSAGG_HOLD_AUTO_MSEC 10


/* Starts the timer if the iface aggregates and the timeout is finite
 * (UCS_TIME_AUTO: UCT_RSAGG_HOLD_AUTO_MSEC). A tick that finds work held a
 * whole timeout without progress calls send, with the iface claimed: it
 * sends what waits (batches, replies to senders) and calls nothing of the
 * user's; it returns how much it sent. */
ucs_status_t uct_rsagg_hold_init(uct_rsagg_iface_t *iface, ucs_time_t timeout,
                                 uct_rsagg_hold_send_func_t send);

/* Stops the timer; waits for a tick that is running */
void uct_rsagg_hold_cleanup(uct_rsagg_iface_t *iface);

/* The timer holds the iface: wait until it is done */
void uct_rsagg_hold_wait(uct_rsagg_iface_t *iface);


/* Enters without waiting: returns 0 when the timer holds the iface, and the
 * caller must then leave and take a path that waits (uct_rsagg_hold_enter).
 * For fast paths that must not keep values across a call. */
static UCS_F_ALWAYS_INLINE int
uct_rsagg_hold_try_enter(uct_rsagg_iface_t *iface)
{
    ++iface->hold.inside;
    ucs_compiler_fence();
    return !iface->hold.claimed;
}

/* Every entry into an aggregating iface from the worker's thread: its
 * operations, its progress and the inner interface's progress (where the
 * inner transport calls rsagg back). Nested entries count. */
static UCS_F_ALWAYS_INLINE void uct_rsagg_hold_enter(uct_rsagg_iface_t *iface)
{
    if (ucs_unlikely(!uct_rsagg_hold_try_enter(iface))) {
        uct_rsagg_hold_wait(iface);
    }
}

static UCS_F_ALWAYS_INLINE void uct_rsagg_hold_leave(uct_rsagg_iface_t *iface)
{
    ucs_compiler_fence();
    --iface->hold.inside;
}


/* Defines _func##_guarded: _func run inside the guard of _iface, an
 * expression of the arguments */
#define UCT_RSAGG_HOLD_GUARDED(_type, _func, _iface, _params, _args) \
    _type _func##_guarded _params \
    { \
        uct_rsagg_iface_t *_guard_iface = (_iface); \
        _type _ret; \
        \
        uct_rsagg_hold_enter(_guard_iface); \
        _ret = _func _args; \
        uct_rsagg_hold_leave(_guard_iface); \
        return _ret; \
    }

#define UCT_RSAGG_HOLD_GUARDED_VOID(_func, _iface, _params, _args) \
    void _func##_guarded _params \
    { \
        uct_rsagg_iface_t *_guard_iface = (_iface); \
        \
        uct_rsagg_hold_enter(_guard_iface); \
        _func _args; \
        uct_rsagg_hold_leave(_guard_iface); \
    }

#endif
