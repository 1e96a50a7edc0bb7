/**
 * rsagg scheduling (see rsagg_sched.h).
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_sched.h"


void uct_rsagg_sched_init(uct_rsagg_iface_t *iface, ucs_callback_t oneshot_cb)
{
    ucs_list_head_init(&iface->sched.dispatch);
    iface->sched.epoch      = 0;
    iface->sched.own_work   = 0;
    iface->sched.oneshot_id = UCS_CALLBACKQ_ID_NULL;
    iface->sched.oneshot_cb = oneshot_cb;
}

void uct_rsagg_sched_cleanup(uct_rsagg_iface_t *iface)
{
    if (iface->sched.oneshot_id != UCS_CALLBACKQ_ID_NULL) {
        uct_worker_progress_unregister_safe(&iface->super.worker->super,
                                            &iface->sched.oneshot_id);
    }
}

void uct_rsagg_sched_request(uct_rsagg_iface_t *iface)
{
    if (iface->config.aggregate) {
        iface->sched.own_work = 1;
        return;
    }

    if (iface->sched.oneshot_id != UCS_CALLBACKQ_ID_NULL) {
        return;
    }

    uct_worker_progress_register_safe(&iface->super.worker->super,
                                      iface->sched.oneshot_cb, iface,
                                      UCS_CALLBACKQ_FLAG_ONESHOT,
                                      &iface->sched.oneshot_id);
}
