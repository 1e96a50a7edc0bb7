/**
 * rsagg hold timer (see rsagg_hold.h for why and how).
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_hold.h"
#include "rsagg_channel.h"
#include "rsagg_peer.h"

#include <ucs/async/async.h>
#include <ucs/debug/log.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>


static int uct_rsagg_hold_barrier_cmd = -1; /* membarrier command, 0: none */
static pthread_once_t uct_rsagg_hold_once = PTHREAD_ONCE_INIT;


/* The cheapest membarrier(2) the kernel has: the private expedited one takes
 * a registration, the global one (RCU grace period, milliseconds) none */
static void uct_rsagg_hold_barrier_init(void)
{
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

    if ((cmds > 0) && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
        (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                 0, 0) == 0)) {
        uct_rsagg_hold_barrier_cmd = MEMBARRIER_CMD_PRIVATE_EXPEDITED;
    } else if ((cmds > 0) && (cmds & MEMBARRIER_CMD_GLOBAL)) {
        uct_rsagg_hold_barrier_cmd = MEMBARRIER_CMD_GLOBAL;
    } else {
        uct_rsagg_hold_barrier_cmd = 0;
    }
}

/* Claims the iface for the timer, or fails if the worker's thread is in */
static int uct_rsagg_hold_claim(uct_rsagg_iface_t *iface)
{
    iface->hold.claimed = 1;
    if (syscall(SYS_membarrier, uct_rsagg_hold_barrier_cmd, 0, 0) != 0) {
        iface->hold.claimed = 0;
        return 0;
    }
    if (*(volatile unsigned*)&iface->hold.inside != 0) {
        iface->hold.claimed = 0;
        return 0;
    }
    return 1;
}

static void uct_rsagg_hold_release(uct_rsagg_iface_t *iface)
{
    ucs_compiler_fence(); /* x86: stores are not reordered with stores */
    iface->hold.claimed = 0;
}

void uct_rsagg_hold_wait(uct_rsagg_iface_t *iface)
{
    /* The timer may share this core: let it finish */
    while (iface->hold.claimed) {
        sched_yield();
    }
    ucs_compiler_fence();
}

/* Sends what waits: batches, and replies to senders (a flush acknowledgement
 * held here would hold a remote flush). Nothing here calls the user: pending
 * requests and completions stay for the worker's next progress. */
static unsigned uct_rsagg_hold_send(uct_rsagg_iface_t *iface)
{
    uct_rsagg_channel_t *channel, *tmp;
    unsigned count = 0;

    ucs_list_for_each_safe(channel, tmp, &iface->dispatch, dispatch) {
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

static void uct_rsagg_hold_timer(int id, ucs_event_set_types_t events,
                                 void *arg)
{
    uct_rsagg_iface_t *iface = arg;
    uint32_t epoch           = *(volatile uint32_t*)&iface->progress_epoch;

    /* A quick look without the claim: the claim costs a barrier on every
     * thread, so it is taken only when the iface seems to hold something
     * and has not been progressed for a whole tick */
    if ((epoch != iface->hold.epoch) ||
        (ucs_list_is_empty(&iface->dispatch) &&
         !uct_rsagg_peer_has_work(iface))) {
        iface->hold.epoch = epoch;
        return;
    }

    if (!uct_rsagg_hold_claim(iface)) {
        return; /* The worker's thread is in: try at the next tick */
    }

    if (uct_rsagg_hold_send(iface) > 0) {
        ucs_trace("rsagg iface %p: sent what waited %.3f ms without "
                  "progress", iface, ucs_time_to_msec(iface->hold.timeout));
    }
    uct_rsagg_hold_release(iface);
}

ucs_status_t uct_rsagg_hold_init(uct_rsagg_iface_t *iface, ucs_time_t timeout)
{
    ucs_async_context_t *async = iface->super.worker->async;
    ucs_status_t status;

    iface->hold.inside   = 0;
    iface->hold.claimed  = 0;
    iface->hold.timer_id = -1;
    iface->hold.epoch    = 0;
    iface->hold.timeout  = timeout;

    if (!iface->config.aggregate || (timeout == UCS_TIME_INFINITY)) {
        return UCS_OK;
    }

    if (async == NULL) {
        ucs_diag("rsagg iface %p: the worker has no async context, batches "
                 "leave only when the worker is progressed", iface);
        return UCS_OK;
    }

    pthread_once(&uct_rsagg_hold_once, uct_rsagg_hold_barrier_init);
    if (uct_rsagg_hold_barrier_cmd == 0) {
        ucs_diag("rsagg: membarrier(2) is not available, batches leave only "
                 "when the worker is progressed (UCX_RSAGG_HOLD_TIMEOUT "
                 "ignored)");
        return UCS_OK;
    }

    status = ucs_async_add_timer(async->mode, timeout, uct_rsagg_hold_timer,
                                 iface, async, &iface->hold.timer_id);
    if (status != UCS_OK) {
        ucs_error("rsagg iface %p: failed to start the hold timer: %s",
                  iface, ucs_status_string(status));
        iface->hold.timer_id = -1;
    }
    return status;
}

void uct_rsagg_hold_cleanup(uct_rsagg_iface_t *iface)
{
    if (iface->hold.timer_id >= 0) {
        ucs_async_remove_handler(iface->hold.timer_id, 1);
        iface->hold.timer_id = -1;
    }
}
