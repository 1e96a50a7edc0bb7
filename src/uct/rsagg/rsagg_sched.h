/**
 * rsagg scheduling: work of rsagg's own (a batch to end, a pending request
 * to dispatch, a reply to a sender) waits for a progress round. Whatever
 * creates such work requests the round here; rsagg_progress.c runs it.
 *
 * Aggregating, rsagg's progress runs on every worker progress anyway (it is
 * what ends batches), so a request only sets a flag that the round tests.
 * In pass-through rsagg's progress is needed only now and then, so a
 * request registers a one-shot progress callback, and a pass-through iface
 * adds nothing to the worker's progress loop otherwise.
 */

#ifndef UCT_RSAGG_SCHED_H_
#define UCT_RSAGG_SCHED_H_

#include "rsagg_iface.h"


/* oneshot_cb: the progress round run for a request in pass-through */
void uct_rsagg_sched_init(uct_rsagg_iface_t *iface, ucs_callback_t oneshot_cb);

void uct_rsagg_sched_cleanup(uct_rsagg_iface_t *iface);

/* rsagg's own progress is needed */
void uct_rsagg_sched_request(uct_rsagg_iface_t *iface);

/* Something waits on the dispatch list or in the return path */
static UCS_F_ALWAYS_INLINE int
uct_rsagg_sched_has_work(uct_rsagg_iface_t *iface)
{
    return !ucs_list_is_empty(&iface->sched.dispatch) ||
           !ucs_queue_is_empty(&iface->conn.deferred) ||
           !ucs_list_is_empty(&iface->conn.dispatch);
}

#endif
