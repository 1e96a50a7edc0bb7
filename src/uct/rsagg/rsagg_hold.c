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
#include <sys/timerfd.h>
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
    uint64_t expirations;

    if (iface->hold.timer_fd >= 0) {
        /* Edge-triggered: reading is tidiness, not a condition of the next
         * tick; EAGAIN (another thread read it) is fine */
        (void)!read(iface->hold.timer_fd, &expirations, sizeof(expirations));
    }

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

/* The tick of a thread-mode async context comes from a timerfd of ours, not
 * from ucs_async_add_timer: UCX 1.13's async thread waits for its timers with
 * a timeout in whole milliseconds, rounded down, and so spins in
 * epoll_wait(0) through the last fraction of every interval. With the
 * default 10 ms that was 8 % of a CPU (the worker's, whose core the async
 * thread shares), measured as +24 ns on the average of ucx_perftest am_lat
 * over posix and -13 % on am_bw over tcp. A timerfd is an event like any
 * other; the async thread sleeps until it fires. */
static ucs_status_t uct_rsagg_hold_timer_fd_start(uct_rsagg_iface_t *iface,
                                                  ucs_async_context_t *async,
                                                  ucs_time_t timeout)
{
    uint64_t nsec = ucs_max((uint64_t)ucs_time_to_nsec(timeout), 1000);
    struct itimerspec spec;
    ucs_status_t status;
    int fd;

    fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) {
        ucs_error("rsagg iface %p: timerfd_create() failed: %m", iface);
        return UCS_ERR_IO_ERROR;
    }

    spec.it_interval.tv_sec  = nsec / UCS_NSEC_PER_SEC;
    spec.it_interval.tv_nsec = nsec % UCS_NSEC_PER_SEC;
    spec.it_value            = spec.it_interval;
    if (timerfd_settime(fd, 0, &spec, NULL) != 0) {
        ucs_error("rsagg iface %p: timerfd_settime() failed: %m", iface);
        close(fd);
        return UCS_ERR_IO_ERROR;
    }

    iface->hold.timer_fd = fd;
    status = ucs_async_set_event_handler(async->mode, fd,
                                         UCS_EVENT_SET_EVREAD |
                                         UCS_EVENT_SET_EDGE_TRIGGERED,
                                         uct_rsagg_hold_timer, iface, async);
    if (status != UCS_OK) {
        iface->hold.timer_fd = -1;
        close(fd);
        return status;
    }

    iface->hold.timer_id = fd; /* An event handler's id is its fd */
    return UCS_OK;
}

ucs_status_t uct_rsagg_hold_init(uct_rsagg_iface_t *iface, ucs_time_t timeout)
{
    ucs_async_context_t *async = iface->super.worker->async;
    ucs_status_t status;

    iface->hold.inside   = 0;
    iface->hold.claimed  = 0;
    iface->hold.timer_id = -1;
    iface->hold.timer_fd = -1;
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

    if (async->mode == UCS_ASYNC_MODE_SIGNAL) {
        status = ucs_async_add_timer(async->mode, timeout,
                                     uct_rsagg_hold_timer, iface, async,
                                     &iface->hold.timer_id);
    } else {
        status = uct_rsagg_hold_timer_fd_start(iface, async, timeout);
    }
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
    if (iface->hold.timer_fd >= 0) {
        close(iface->hold.timer_fd);
        iface->hold.timer_fd = -1;
    }
}
