/**
 * rsagg progress: every way rsagg's work runs. The worker's progress
 * callbacks (aggregating: on every poll; pass-through: a one-shot when work
 * was requested, rsagg_sched.h), uct_iface_progress, the hold timer's tick
 * when the worker is not progressed (rsagg_hold.h), and event arming.
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_progress.h"
#include "rsagg_channel.h"
#include "rsagg_hold.h"
#include "rsagg_peer.h"

#include <ucs/debug/log.h>


/* rsagg's own work: batches to end, pending requests to dispatch, replies
 * to senders. Whatever creates such work requests it (own_work), so that a
 * progress round with nothing to do costs a flag test. */
static unsigned uct_rsagg_progress_own(uct_rsagg_iface_t *iface)
{
    uct_rsagg_channel_t *channel, *tmp;
    unsigned count = 0;

    iface->sched.own_work = 0;

    if (ucs_unlikely(uct_rsagg_peer_has_work(iface))) {
        count += uct_rsagg_peer_progress(iface);
    }

    ucs_list_for_each_safe(channel, tmp, &iface->sched.dispatch, dispatch) {
        count += uct_rsagg_channel_progress(channel);
    }

    if (uct_rsagg_sched_has_work(iface)) {
        uct_rsagg_sched_request(iface);
    }
    return count;
}

/* One progress round of an aggregating iface: the epoch tells senders that
 * a round passed (see uct_rsagg_channel_send_direct) */
static UCS_F_ALWAYS_INLINE unsigned
uct_rsagg_progress_round(uct_rsagg_iface_t *iface)
{
    ++iface->sched.epoch;
    if (ucs_unlikely(iface->sched.own_work)) {
        return uct_rsagg_progress_own(iface);
    }
    return 0;
}

/* The rest of a progress round that found own work, and the guard's exit */
static UCS_F_NOINLINE unsigned
uct_rsagg_progress_wrap_own(uct_rsagg_iface_t *iface, unsigned count)
{
    count += uct_rsagg_progress_own(iface);
    uct_rsagg_hold_leave(iface);
    return count;
}

/* Aggregating over tcp or shared memory: rsagg's progress callback runs the
 * inner interface's progress too, so that the hold timer never runs while
 * the inner transport is in use (rsagg_hold.h). It is called on every poll
 * of the worker: with own work handled out of line, only the iface is live
 * across the inner call. */
static unsigned uct_rsagg_progress_wrap_cb(void *arg)
{
    uct_rsagg_iface_t *iface = arg;
    unsigned count;

    uct_rsagg_hold_enter(iface);
    count = uct_iface_progress(iface->inner);
    ++iface->sched.epoch;
    if (ucs_unlikely(iface->sched.own_work)) {
        return uct_rsagg_progress_wrap_own(iface, count);
    }
    uct_rsagg_hold_leave(iface);
    return count;
}

/* Aggregating over a transport that keeps its own progress callback */
static unsigned uct_rsagg_progress_cb(void *arg)
{
    return uct_rsagg_progress_round(arg);
}

static unsigned uct_rsagg_progress_oneshot_cb(void *arg)
{
    uct_rsagg_iface_t *iface = arg;

    iface->sched.oneshot_id = UCS_CALLBACKQ_ID_NULL;
    return uct_rsagg_progress_own(iface);
}

unsigned uct_rsagg_iface_progress(uct_iface_h tl_iface)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);
    unsigned count;

    uct_rsagg_hold_enter(iface);
    count  = uct_iface_progress(iface->inner);
    count += iface->config.aggregate ?
             uct_rsagg_progress_round(iface) :
             uct_rsagg_progress_own(iface);
    uct_rsagg_hold_leave(iface);
    return count;
}

/* The inner interface keeps its own progress callback on the worker, with its
 * own flags; rsagg adds one for its own work (batches, pending dispatch) */
void uct_rsagg_iface_progress_enable(uct_iface_h tl_iface,
                                     unsigned flags)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);

    if (!iface->wrap_progress) {
        uct_iface_progress_enable(iface->inner, flags);
    }
    if (iface->config.aggregate) {
        uct_base_iface_progress_enable_cb(&iface->super,
                                          iface->wrap_progress ?
                                          uct_rsagg_progress_wrap_cb :
                                          uct_rsagg_progress_cb,
                                          flags);
    }
}

void uct_rsagg_iface_progress_disable(uct_iface_h tl_iface,
                                      unsigned flags)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);

    if (!iface->wrap_progress) {
        uct_iface_progress_disable(iface->inner, flags);
    }
    uct_base_iface_progress_disable(tl_iface, flags);
}

ucs_status_t uct_rsagg_iface_event_fd_get(uct_iface_h tl_iface,
                                          int *fd_p)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);

    return uct_iface_event_fd_get(iface->inner, fd_p);
}

static ucs_status_t uct_rsagg_iface_event_arm(uct_iface_h tl_iface,
                                              unsigned events)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);

    /* Work of rsagg's own would not wake the fd up */
    if (uct_rsagg_sched_has_work(iface)) {
        return UCS_ERR_BUSY;
    }
    return uct_iface_event_arm(iface->inner, events);
}


UCT_RSAGG_HOLD_GUARDED(ucs_status_t, uct_rsagg_iface_event_arm,
                       ucs_derived_of(tl_iface, uct_rsagg_iface_t),
                       (uct_iface_h tl_iface, unsigned events),
                       (tl_iface, events))

/* What the hold timer sends when the worker was not progressed for a whole
 * tick: batches, and replies to senders (a flush acknowledgement held here
 * would hold a remote flush). Nothing here calls the user: pending requests
 * and completions stay for the worker's next progress. */
static unsigned uct_rsagg_progress_held(uct_rsagg_iface_t *iface)
{
    uct_rsagg_channel_t *channel, *tmp;
    unsigned count = 0;

    ucs_list_for_each_safe(channel, tmp, &iface->sched.dispatch, dispatch) {
        if (uct_rsagg_channel_has_batches(channel)) {
            /* Counted first: the peer may see the batch before the store */
            ++iface->counters.timeouts;
            uct_rsagg_channel_flush_batches(channel);
            ++count;
        }
    }

    if (uct_rsagg_peer_has_work(iface)) {
        count += uct_rsagg_peer_progress(iface);
    }
    return count;
}

void uct_rsagg_progress_init(uct_rsagg_iface_t *iface)
{
    uct_rsagg_sched_init(iface, uct_rsagg_progress_oneshot_cb);
}

ucs_status_t uct_rsagg_progress_start_hold(uct_rsagg_iface_t *iface,
                                           ucs_time_t timeout)
{
    return uct_rsagg_hold_init(iface, timeout, uct_rsagg_progress_held);
}

void uct_rsagg_progress_cleanup(uct_rsagg_iface_t *iface)
{
    uct_rsagg_hold_cleanup(iface);
    uct_base_iface_progress_disable(&iface->super.super,
                                    UCT_PROGRESS_SEND | UCT_PROGRESS_RECV);
    uct_rsagg_sched_cleanup(iface);
}
