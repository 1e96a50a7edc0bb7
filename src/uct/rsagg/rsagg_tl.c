/**
 * rsagg transport: the top of the module. The TL definition and its iface
 * open, the ops tables that name every operation (the one place where what
 * runs for each UCT call is decided), rsagg's public counters function, and
 * the module constructor that registers the component and the TL.
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_iface.h"
#include "rsagg_ep.h"
#include "rsagg_progress.h"

#include <uct/api/version.h>
#include <uct/sm/base/sm_ep.h>
#include <ucp/api/ucp.h>
#include <ucs/debug/log.h>
#include <ucs/debug/memtrack_int.h>
#include <ucs/sys/string.h>
#include <string.h>


static const uct_iface_ops_t uct_rsagg_iface_ops = {
    .ep_put_short             = uct_rsagg_ep_put_short_guarded,
    .ep_put_bcopy             = uct_rsagg_ep_put_bcopy_guarded,
    .ep_put_zcopy             = uct_rsagg_ep_put_zcopy_guarded,
    .ep_get_short             = uct_rsagg_ep_get_short_guarded,
    .ep_get_bcopy             = uct_rsagg_ep_get_bcopy_guarded,
    .ep_get_zcopy             = uct_rsagg_ep_get_zcopy_guarded,
    .ep_am_short              = uct_rsagg_ep_am_short_idle,
    .ep_am_short_iov          = uct_rsagg_ep_am_short_iov_guarded,
    .ep_am_bcopy              = uct_rsagg_ep_am_bcopy_guarded,
    .ep_am_zcopy              = uct_rsagg_ep_am_zcopy_guarded,
    .ep_atomic_cswap64        = uct_rsagg_ep_atomic_cswap64_guarded,
    .ep_atomic_cswap32        = uct_rsagg_ep_atomic_cswap32_guarded,
    .ep_atomic32_post         = uct_rsagg_ep_atomic32_post_guarded,
    .ep_atomic64_post         = uct_rsagg_ep_atomic64_post_guarded,
    .ep_atomic32_fetch        = uct_rsagg_ep_atomic32_fetch_guarded,
    .ep_atomic64_fetch        = uct_rsagg_ep_atomic64_fetch_guarded,
    .ep_pending_add           = uct_rsagg_ep_pending_add_guarded,
    .ep_pending_purge         = uct_rsagg_ep_pending_purge_guarded,
    .ep_flush                 = uct_rsagg_ep_flush_guarded,
    .ep_fence                 = uct_rsagg_ep_fence_guarded,
    .ep_check                 = uct_rsagg_ep_check_guarded,
    .ep_create                = uct_rsagg_ep_t_new_guarded,
    .ep_destroy               = uct_rsagg_ep_t_delete_guarded,
    .ep_get_address           = uct_rsagg_ep_get_address_guarded,
    .ep_connect_to_ep         = uct_rsagg_ep_connect_to_ep_guarded,
    .iface_flush              = uct_rsagg_iface_flush_idle,
    .iface_fence              = uct_rsagg_iface_fence_guarded,
    .iface_progress_enable    = uct_rsagg_iface_progress_enable,
    .iface_progress_disable   = uct_rsagg_iface_progress_disable,
    .iface_progress           = uct_rsagg_iface_progress,
    .iface_event_fd_get       = uct_rsagg_iface_event_fd_get,
    .iface_event_arm          = uct_rsagg_iface_event_arm_guarded,
    .iface_close              = UCS_CLASS_DELETE_FUNC_NAME(uct_rsagg_iface_t),
    .iface_query              = uct_rsagg_iface_query,
    .iface_get_device_address = uct_rsagg_iface_get_device_address,
    .iface_get_address        = uct_rsagg_iface_get_address,
    .iface_is_reachable       = uct_rsagg_iface_is_reachable
};

static const uct_iface_internal_ops_t uct_rsagg_iface_internal_ops = {
    .iface_estimate_perf = uct_base_iface_estimate_perf,
    .iface_vfs_refresh   = (uct_iface_vfs_refresh_func_t)ucs_empty_function,
    .ep_query            = (uct_ep_query_func_t)
                           ucs_empty_function_return_unsupported,
    .ep_invalidate       = uct_rsagg_ep_invalidate_guarded
};


/* Over shared memory the inner puts, gets and atomics are the stateless
 * functions of UCX's sm base: a store or load in the peer's mapped memory
 * through the rkey, with the ep used for nothing but its base statistics
 * (an rsagg ep is a uct_base_ep_t too). They are then rsagg's operations
 * themselves, called with the rsagg ep: nothing is added to a put
 * (OpenSHMEM's puts over shared memory cost 16 ns). Without the hold guard
 * and the batch-order check, they keep the inner transport's semantics: a
 * store is visible at once, before any active message sent earlier is
 * handled, batched or not, as with the inner transport alone. */
static void uct_rsagg_iface_direct_rma(uct_rsagg_iface_t *iface)
{
    const uct_iface_ops_t *inner = &iface->inner->ops;
    uct_iface_ops_t *ops         = &iface->super.super.ops;

#define UCT_RSAGG_IFACE_DIRECT(_op, _sm_func) \
    if (inner->_op == _sm_func) { \
        ops->_op = inner->_op; \
    }

    UCT_RSAGG_IFACE_DIRECT(ep_put_short, uct_sm_ep_put_short);
    UCT_RSAGG_IFACE_DIRECT(ep_put_bcopy, uct_sm_ep_put_bcopy);
    UCT_RSAGG_IFACE_DIRECT(ep_get_bcopy, uct_sm_ep_get_bcopy);
    UCT_RSAGG_IFACE_DIRECT(ep_atomic_cswap64, uct_sm_ep_atomic_cswap64);
    UCT_RSAGG_IFACE_DIRECT(ep_atomic_cswap32, uct_sm_ep_atomic_cswap32);
    UCT_RSAGG_IFACE_DIRECT(ep_atomic64_post, uct_sm_ep_atomic64_post);
    UCT_RSAGG_IFACE_DIRECT(ep_atomic32_post, uct_sm_ep_atomic32_post);
    UCT_RSAGG_IFACE_DIRECT(ep_atomic64_fetch, uct_sm_ep_atomic64_fetch);
    UCT_RSAGG_IFACE_DIRECT(ep_atomic32_fetch, uct_sm_ep_atomic32_fetch);
#undef UCT_RSAGG_IFACE_DIRECT
}


/* Which function runs for an operation depends on the iface's settings,
 * decided here once per iface: pass-through takes the shortest path to the
 * inner am_short/am_bcopy; over shared memory puts, gets and atomics are the
 * inner functions themselves; aggregated puts go into batches. */
static void uct_rsagg_tl_select_ops(uct_rsagg_iface_t *iface)
{
    uct_iface_ops_t *ops = &iface->super.super.ops;

    if (!iface->config.aggregate) {
        ops->ep_am_short = uct_rsagg_ep_am_short_pt;
        ops->ep_am_bcopy = uct_rsagg_ep_am_bcopy_pt;
    }

    if (iface->rkey_is_inner) {
        uct_rsagg_iface_direct_rma(iface);
    }

    if (iface->put_aggregate) {
        ops->ep_put_short = uct_rsagg_ep_put_short_agg_guarded;
        ops->ep_put_bcopy = uct_rsagg_ep_put_bcopy_agg_guarded;
    }
}

/* The TL's iface_open (UCS_CLASS_NEW_FUNC_NAME(uct_rsagg_tl_iface)) */
static ucs_status_t uct_rsagg_tl_iface_new(uct_md_h md, uct_worker_h worker,
                                           const uct_iface_params_t *params,
                                           const uct_iface_config_t *config,
                                           uct_iface_h *iface_p)
{
    ucs_status_t status;

    status = UCS_CLASS_NEW_FUNC_NAME(uct_rsagg_iface_t)(
            &uct_rsagg_iface_ops, &uct_rsagg_iface_internal_ops, md, worker,
            params, config, iface_p);
    if (status == UCS_OK) {
        uct_rsagg_tl_select_ops(ucs_derived_of(*iface_p, uct_rsagg_iface_t));
    }
    return status;
}

static ucs_status_t uct_rsagg_query_devices(uct_md_h tl_md,
                                            uct_tl_device_resource_t **devs_p,
                                            unsigned *num_devs_p)
{
    uct_rsagg_md_t *md = ucs_derived_of(tl_md, uct_rsagg_md_t);
    uct_tl_device_resource_t *devices;
    unsigned i;

    devices = ucs_calloc(ucs_max(md->num_resources, 1), sizeof(*devices),
                         "rsagg_devices");
    if (devices == NULL) {
        ucs_error("rsagg: failed to allocate device list");
        return UCS_ERR_NO_MEMORY;
    }

    for (i = 0; i < md->num_resources; ++i) {
        ucs_strncpy_zero(devices[i].name, md->resources[i].dev_name,
                         sizeof(devices[i].name));
        devices[i].type       = md->resources[i].dev_type;
        devices[i].sys_device = md->resources[i].sys_device;
    }

    *devs_p     = devices;
    *num_devs_p = md->num_resources;
    return UCS_OK;
}

ucs_status_t uct_rsagg_iface_counters(uct_iface_h tl_iface,
                                      uct_rsagg_counters_t *counters_p,
                                      size_t size)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);
    size_t known             = ucs_min(size, sizeof(uct_rsagg_counters_t));
    uct_rsagg_counters_t counters;

    if (tl_iface->ops.iface_query != uct_rsagg_iface_query) {
        return UCS_ERR_INVALID_PARAM;
    }

    uct_rsagg_iface_read_counters(iface, &counters);
    memcpy(counters_p, &counters, known);
    memset(UCS_PTR_BYTE_OFFSET(counters_p, known), 0, size - known);
    return UCS_OK;
}


UCT_TL_DEFINE_ENTRY(&uct_rsagg_component, rsagg, uct_rsagg_query_devices,
                    uct_rsagg_tl_iface, UCT_RSAGG_CONFIG_PREFIX,
                    uct_rsagg_iface_config_table, uct_rsagg_iface_config_t);


/* UCX 1.13 has no module ABI check of its own: a module built against other
 * headers would corrupt memory. Register only into the UCX we were built
 * for. */
static void UCS_F_CTOR uct_rsagg_module_init(void)
{
    unsigned major, minor, release;

    ucp_get_version(&major, &minor, &release);
    if ((major != UCT_VERNO_MAJOR) || (minor != UCT_VERNO_MINOR) ||
        (release != UCT_VERNO_PATCH)) {
        ucs_warn("rsagg: built for UCX %d.%d.%d but running with UCX "
                 "%u.%u.%u: the rsagg transport is disabled (rebuild rsagg "
                 "against this UCX)", UCT_VERNO_MAJOR, UCT_VERNO_MINOR,
                 UCT_VERNO_PATCH, major, minor, release);
        return;
    }

    uct_component_register(&uct_rsagg_component);
    uct_tl_register(&uct_rsagg_component, &uct_rsagg_tl);
}
