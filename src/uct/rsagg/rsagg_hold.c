/**
 * rsagg hold timer (see rsagg_hold.h for why and how).
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_hold.h"
#include "rsagg_sched.h"

#include <ucs/async/async.h>
#include <ucs/debug/log.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


/*
 * The ticks of thread-mode async contexts come from one thread of rsagg's
 * own, not from ucs_async_add_timer: UCX 1.13's async thread waits for its
 * timers with a timeout in whole milliseconds, rounded down, and then spins
 * in epoll_wait(0) through the rest of every interval. With the default
 * 10 ms that took 8 % of the worker's core (a bound rank's async thread
 * shares it): +24 ns on the average of ucx_perftest am_lat over posix, +5 %
 * over tcp. This thread sleeps on a condition variable until the earliest
 * tick of the ifaces on its list. It exists while the list is not empty.
 */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t  cond;     /* Signalled when the list or stop changes */
    clockid_t       clock;    /* The clock of cond's deadlines */
    ucs_list_link_t ifaces;   /* hold.list, each with hold.next_nsec */
    pthread_t       thread;   /* Running while ifaces is not empty */
    unsigned        gen;      /* A thread runs while gen is the one it was
                                 started with, so that one stopping is never
                                 taken for the one started after it */
} uct_rsagg_hold_ticker_t;


static int uct_rsagg_hold_barrier_cmd = -1; /* membarrier command, 0: none */
static pthread_once_t uct_rsagg_hold_once = PTHREAD_ONCE_INIT;
static uct_rsagg_hold_ticker_t uct_rsagg_hold_ticker;


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

/* fork(2): the child has no hold thread. Ticking ifaces of the parent stay
 * without ticks there (UCX does not support using them in a child), and an
 * iface the child opens starts a thread of its own. The prepare handler
 * takes the lock so that the child never sees the list half changed. */
static void uct_rsagg_hold_atfork_prepare(void)
{
    pthread_mutex_lock(&uct_rsagg_hold_ticker.lock);
}

static void uct_rsagg_hold_atfork_parent(void)
{
    pthread_mutex_unlock(&uct_rsagg_hold_ticker.lock);
}

static void uct_rsagg_hold_atfork_child(void)
{
    uct_rsagg_hold_ticker_t *ticker = &uct_rsagg_hold_ticker;
    uct_rsagg_iface_t *iface;

    ucs_list_for_each(iface, &ticker->ifaces, hold.list) {
        iface->hold.ticked = 0;
    }
    ucs_list_head_init(&ticker->ifaces);
    ++ticker->gen;
    pthread_mutex_init(&ticker->lock, NULL);
}

static void uct_rsagg_hold_once_init(void)
{
    uct_rsagg_hold_ticker_t *ticker = &uct_rsagg_hold_ticker;
    pthread_condattr_t attr;

    uct_rsagg_hold_barrier_init();

    pthread_mutex_init(&ticker->lock, NULL);
    pthread_condattr_init(&attr);
    ticker->clock = CLOCK_MONOTONIC;
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0) {
        ticker->clock = CLOCK_REALTIME; /* cond's default */
    }
    pthread_cond_init(&ticker->cond, &attr);
    pthread_condattr_destroy(&attr);
    ucs_list_head_init(&ticker->ifaces);
    ticker->gen = 0;
    pthread_atfork(uct_rsagg_hold_atfork_prepare,
                   uct_rsagg_hold_atfork_parent,
                   uct_rsagg_hold_atfork_child);
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

/* A quick look, without the claim or the async context: the claim costs a
 * barrier on every thread, so it is taken only when the iface seems to hold
 * something and has not been progressed for a whole tick */
static int uct_rsagg_hold_due(uct_rsagg_iface_t *iface)
{
    uint32_t epoch = *(volatile uint32_t*)&iface->sched.epoch;

    if ((epoch != iface->hold.epoch) || !uct_rsagg_sched_has_work(iface)) {
        iface->hold.epoch = epoch;
        return 0;
    }
    return 1;
}

/* Sends what has waited a whole tick without progress, unless the worker's
 * thread is in (then the next tick tries again) */
static void uct_rsagg_hold_claim_send(uct_rsagg_iface_t *iface)
{
    if (!uct_rsagg_hold_claim(iface)) {
        return;
    }

    if (iface->hold.send(iface) > 0) {
        ucs_trace("rsagg iface %p: sent what waited %.3f ms without "
                  "progress", iface, ucs_time_to_msec(iface->hold.timeout));
    }
    uct_rsagg_hold_release(iface);
}

/* UCX async timer (signal and poll modes): runs with the context blocked */
static void uct_rsagg_hold_timer(int id, ucs_event_set_types_t events,
                                 void *arg)
{
    uct_rsagg_iface_t *iface = arg;

    if (uct_rsagg_hold_due(iface)) {
        uct_rsagg_hold_claim_send(iface);
    }
}

/* Blocks the async context without waiting, as UCX's async thread does
 * before it calls a handler: the inner transport's own async handlers (tcp
 * accepting a connection) then never run beside a tick, and a tick that
 * creates an inner ep may block the context again (it is recursive). Not
 * waiting keeps the thread from spinning behind a worker that holds it; the
 * next tick tries again. */
static int uct_rsagg_hold_async_try_block(ucs_async_context_t *async)
{
    if (async->mode == UCS_ASYNC_MODE_THREAD_SPINLOCK) {
        return ucs_recursive_spin_trylock(&async->thread.spinlock);
    }

    ucs_assert(async->mode == UCS_ASYNC_MODE_THREAD_MUTEX);
    if (pthread_mutex_trylock(&async->thread.mutex.lock) != 0) {
        return 0;
    }
#if UCS_ENABLE_ASSERT
    /* The bookkeeping of ucs_recursive_mutex_block(), which
     * UCS_ASYNC_UNBLOCK checks */
    if (async->thread.mutex.count++ == 0) {
        async->thread.mutex.owner = pthread_self();
    }
#endif
    return 1;
}

static void uct_rsagg_hold_tick(uct_rsagg_iface_t *iface)
{
    ucs_async_context_t *async = iface->super.worker->async;
    int retries                = 3;

    /* The context is blocked only for a tick with something to send, so
     * UCX's async thread rarely finds it blocked */
    if (!uct_rsagg_hold_due(iface) || !uct_rsagg_hold_async_try_block(async)) {
        return;
    }

    uct_rsagg_hold_claim_send(iface);
    /* UCX's async thread, finding the context blocked by the tick, queues
     * its handlers for the worker's next progress, which a worker asleep in
     * ucp_worker_wait() would not make: run them here, and again for one
     * missed between the last look and the unblock */
    ucs_async_check_miss(async);
    UCS_ASYNC_UNBLOCK(async);
    while (!ucs_mpmc_queue_is_empty(&async->missed) && (retries-- > 0) &&
           uct_rsagg_hold_async_try_block(async)) {
        ucs_async_check_miss(async);
        UCS_ASYNC_UNBLOCK(async);
    }
}

static uint64_t uct_rsagg_hold_now_nsec(void)
{
    struct timespec ts;

    clock_gettime(uct_rsagg_hold_ticker.clock, &ts);
    return (ts.tv_sec * UCS_NSEC_PER_SEC) + ts.tv_nsec;
}

static void *uct_rsagg_hold_thread_func(void *arg)
{
    uct_rsagg_hold_ticker_t *ticker = &uct_rsagg_hold_ticker;
    unsigned gen                    = (uintptr_t)arg;
    uct_rsagg_iface_t *iface;
    struct timespec wake;
    uint64_t now, next;

    /* For top -H and UCX's log lines */
    pthread_setname_np(pthread_self(), "rsagg-hold");
    ucs_log_set_thread_name("h");

    pthread_mutex_lock(&ticker->lock);
    while (ticker->gen == gen) {
        now  = uct_rsagg_hold_now_nsec();
        next = UINT64_MAX;
        ucs_list_for_each(iface, &ticker->ifaces, hold.list) {
            if (now >= iface->hold.next_nsec) {
                /* Under the lock: cleanup takes the iface off the list
                 * only between ticks */
                uct_rsagg_hold_tick(iface);
                /* The next tick a whole timeout after this one ended, even
                 * after a late or a long one: a tick means "a timeout
                 * without progress", and a tick longer than the timeout
                 * must not make the thread spin */
                iface->hold.next_nsec = uct_rsagg_hold_now_nsec() +
                                        ucs_time_to_nsec(iface->hold.timeout);
            }
            next = ucs_min(next, iface->hold.next_nsec);
        }

        if (next == UINT64_MAX) {
            pthread_cond_wait(&ticker->cond, &ticker->lock);
        } else {
            wake.tv_sec  = next / UCS_NSEC_PER_SEC;
            wake.tv_nsec = next % UCS_NSEC_PER_SEC;
            pthread_cond_timedwait(&ticker->cond, &ticker->lock, &wake);
        }
    }
    pthread_mutex_unlock(&ticker->lock);
    return NULL;
}

/* Puts the iface on the hold thread's list, and starts the thread if it is
 * the first */
static ucs_status_t uct_rsagg_hold_thread_add(uct_rsagg_iface_t *iface)
{
    uct_rsagg_hold_ticker_t *ticker = &uct_rsagg_hold_ticker;
    ucs_status_t status             = UCS_OK;
    sigset_t mask, saved;
    int ret;

    pthread_mutex_lock(&ticker->lock);
    iface->hold.next_nsec = uct_rsagg_hold_now_nsec() +
                            ucs_time_to_nsec(iface->hold.timeout);
    if (ucs_list_is_empty(&ticker->ifaces)) {
        /* Asynchronous signals stay with the application's threads; a
         * fault in this thread still reaches UCX's or the sanitizer's
         * handler (a blocked SIGSEGV would kill without a backtrace) */
        sigfillset(&mask);
        sigdelset(&mask, SIGSEGV);
        sigdelset(&mask, SIGBUS);
        sigdelset(&mask, SIGFPE);
        sigdelset(&mask, SIGILL);
        sigdelset(&mask, SIGTRAP);
        sigdelset(&mask, SIGSYS);
        sigdelset(&mask, SIGABRT);
        pthread_sigmask(SIG_SETMASK, &mask, &saved);
        ret = pthread_create(&ticker->thread, NULL,
                             uct_rsagg_hold_thread_func,
                             (void*)(uintptr_t)ticker->gen);
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
        if (ret != 0) {
            ucs_diag("rsagg iface %p: could not start the hold thread (%s), "
                     "UCX's async timer ticks instead", iface,
                     strerror(ret));
            status = UCS_ERR_IO_ERROR;
            goto out;
        }
    }

    ucs_list_add_tail(&ticker->ifaces, &iface->hold.list);
    iface->hold.ticked = 1;
    pthread_cond_signal(&ticker->cond);
out:
    pthread_mutex_unlock(&ticker->lock);
    return status;
}

/* Takes the iface off the list (after a tick that is running), and stops
 * the thread if it was the last */
static void uct_rsagg_hold_thread_remove(uct_rsagg_iface_t *iface)
{
    uct_rsagg_hold_ticker_t *ticker = &uct_rsagg_hold_ticker;
    int stopped                     = 0;
    pthread_t thread;

    pthread_mutex_lock(&ticker->lock);
    ucs_list_del(&iface->hold.list);
    iface->hold.ticked = 0;
    if (ucs_list_is_empty(&ticker->ifaces)) {
        ++ticker->gen;
        thread  = ticker->thread;
        stopped = 1;
    }
    pthread_cond_signal(&ticker->cond);
    pthread_mutex_unlock(&ticker->lock);

    if (stopped) {
        pthread_join(thread, NULL);
    }
}

ucs_status_t uct_rsagg_hold_init(uct_rsagg_iface_t *iface, ucs_time_t timeout,
                                 uct_rsagg_hold_send_func_t send)
{
    ucs_async_context_t *async = iface->super.worker->async;
    ucs_status_t status;

    iface->hold.inside   = 0;
    iface->hold.claimed  = 0;
    iface->hold.timer_id = -1;
    iface->hold.ticked   = 0;
    iface->hold.epoch    = 0;
    iface->hold.send     = send;
    iface->hold.timeout  = (timeout == UCS_TIME_AUTO) ?
                           ucs_time_from_msec(UCT_RSAGG_HOLD_AUTO_MSEC) :
                           timeout;

    if (!iface->config.aggregate || (timeout == UCS_TIME_INFINITY)) {
        return UCS_OK;
    }

    if (async == NULL) {
        ucs_diag("rsagg iface %p: the worker has no async context, batches "
                 "leave only when the worker is progressed", iface);
        return UCS_OK;
    }

    pthread_once(&uct_rsagg_hold_once, uct_rsagg_hold_once_init);
    if (uct_rsagg_hold_barrier_cmd == 0) {
        ucs_diag("rsagg: membarrier(2) is not available, batches leave only "
                 "when the worker is progressed (UCX_RSAGG_HOLD_TIMEOUT "
                 "ignored)");
        return UCS_OK;
    }

    if (((async->mode == UCS_ASYNC_MODE_THREAD_SPINLOCK) ||
         (async->mode == UCS_ASYNC_MODE_THREAD_MUTEX)) &&
        (uct_rsagg_hold_thread_add(iface) == UCS_OK)) {
        return UCS_OK;
    }

    status = ucs_async_add_timer(async->mode, iface->hold.timeout,
                                 uct_rsagg_hold_timer, iface, async,
                                 &iface->hold.timer_id);
    if (status != UCS_OK) {
        ucs_error("rsagg iface %p: failed to start the hold timer: %s",
                  iface, ucs_status_string(status));
        iface->hold.timer_id = -1;
    }
    return status;
}

void uct_rsagg_hold_cleanup(uct_rsagg_iface_t *iface)
{
    if (iface->hold.ticked) {
        uct_rsagg_hold_thread_remove(iface);
    }
    if (iface->hold.timer_id >= 0) {
        ucs_async_remove_handler(iface->hold.timer_id, 1);
        iface->hold.timer_id = -1;
    }
}
