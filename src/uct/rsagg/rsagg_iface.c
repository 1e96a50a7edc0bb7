/**
 * rsagg interface: opens the inner interface of the same device on the same
 * worker, sets up the modules that work on it (receive side, return path,
 * progress and hold timer), and reports its capabilities as rsagg honours
 * them. The ops table that names these functions is rsagg_tl.c's.
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_iface.h"
#include "rsagg_addr.h"
#include "rsagg_channel.h"
#include "rsagg_hold.h"
#include "rsagg_peer.h"
#include "rsagg_progress.h"
#include "rsagg_ring_rx.h"
#include "rsagg_rx.h"
#include "rsagg_summary.h"

#include <ucs/debug/log.h>
#include <ucs/debug/memtrack_int.h>
#include <ucs/sys/string.h>
#include <string.h>


void uct_rsagg_iface_read_counters(const uct_rsagg_iface_t *iface,
                                   uct_rsagg_counters_t *counters_p)
{
    *counters_p              = iface->counters;
    counters_p->direct       = iface->direct_sent;
    counters_p->msgs        += iface->direct_sent;
    counters_p->transfers   += iface->direct_sent;
    counters_p->bytes       += iface->direct_bytes;
    counters_p->inner_bytes += iface->direct_bytes;
}

ucs_status_t uct_rsagg_iface_query(uct_iface_h tl_iface,
                                   uct_iface_attr_t *attr)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);

    *attr = iface->inner_attr;

    /* Tag offload and am-dup are inner features rsagg does not carry */
    attr->cap.flags &= ~(UCT_IFACE_FLAG_TAG_EAGER_SHORT |
                         UCT_IFACE_FLAG_TAG_EAGER_BCOPY |
                         UCT_IFACE_FLAG_TAG_EAGER_ZCOPY |
                         UCT_IFACE_FLAG_TAG_RNDV_ZCOPY |
                         UCT_IFACE_FLAG_CONNECT_TO_SOCKADDR);

    if (iface->put_aggregate) {
        attr->cap.flags       |= UCT_IFACE_FLAG_PUT_SHORT |
                                 UCT_IFACE_FLAG_PUT_BCOPY;
        attr->cap.put.max_short = iface->config.small_max;
        attr->cap.put.max_bcopy = iface->config.small_max;
    }

    attr->iface_addr_len += sizeof(uct_rsagg_addr_hdr_t);
    if (attr->cap.flags & UCT_IFACE_FLAG_CONNECT_TO_EP) {
        attr->ep_addr_len += sizeof(uct_rsagg_addr_hdr_t);
    }

    /* One indirection on each side */
    attr->overhead += 2e-9;
    return UCS_OK;
}

ucs_status_t uct_rsagg_iface_get_device_address(uct_iface_h tl_iface,
                                                uct_device_addr_t *addr)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);

    return uct_iface_get_device_address(iface->inner, addr);
}

ucs_status_t uct_rsagg_iface_get_address(uct_iface_h tl_iface,
                                         uct_iface_addr_t *addr)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);

    uct_rsagg_addr_pack_hdr(addr);
    if (!(iface->inner_attr.cap.flags & UCT_IFACE_FLAG_CONNECT_TO_IFACE)) {
        return UCS_OK;
    }
    return uct_iface_get_address(iface->inner,
                                 UCS_PTR_BYTE_OFFSET(addr,
                                        sizeof(uct_rsagg_addr_hdr_t)));
}

int uct_rsagg_iface_is_reachable(const uct_iface_h tl_iface,
                                 const uct_device_addr_t *dev_addr,
                                 const uct_iface_addr_t *iface_addr)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);

    if (iface_addr == NULL) {
        return uct_iface_is_reachable(iface->inner, dev_addr, NULL);
    }

    if (uct_rsagg_addr_check(iface, iface_addr) != UCS_OK) {
        return 0;
    }

    return uct_iface_is_reachable(iface->inner, dev_addr,
                                  UCS_PTR_BYTE_OFFSET(iface_addr,
                                        sizeof(uct_rsagg_addr_hdr_t)));
}

/* Flushes every channel that is not flushed yet; the iface is unflushed
 * again only if one still is afterwards */
static ucs_status_t uct_rsagg_iface_flush(uct_iface_h tl_iface, unsigned flags,
                                          uct_completion_t *comp)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);
    uct_rsagg_channel_t *channel;
    ucs_status_t status = UCS_OK;

    iface->unflushed = 0;
    ucs_list_for_each(channel, &iface->channels, list) {
        if (uct_rsagg_channel_is_flushed(channel)) {
            continue;
        }

        if (!ucs_list_is_empty(&channel->pending_eps)) {
            status = UCS_INPROGRESS; /* UCP takes no NO_RESOURCE here */
        } else if (uct_rsagg_channel_flush(channel, NULL) != UCS_OK) {
            /* Still sending, or waiting for puts to be acknowledged */
            status = UCS_INPROGRESS;
        }

        if (!uct_rsagg_channel_is_flushed(channel)) {
            uct_rsagg_channel_mark_unflushed(channel);
        }
    }
    if (status != UCS_OK) {
        /* Nothing will call a completion for what waits here (a put
         * acknowledgement, a pending request): the caller asks again */
        return (comp == NULL) ? status : UCS_ERR_NO_RESOURCE;
    }
    return uct_iface_flush(iface->inner, flags, comp);
}


static UCS_F_NOINLINE
UCT_RSAGG_HOLD_GUARDED(ucs_status_t, uct_rsagg_iface_flush,
                       ucs_derived_of(tl_iface, uct_rsagg_iface_t),
                       (uct_iface_h tl_iface, unsigned flags,
                        uct_completion_t *comp),
                       (tl_iface, flags, comp))

/* shmem_quiet, MPI_Win_flush: usually no channel has had anything to flush
 * since the last flush (no batch, no put to acknowledge), and then this is
 * the inner flush and one flag test, however many peers there are */
ucs_status_t uct_rsagg_iface_flush_idle(uct_iface_h tl_iface,
                                        unsigned flags,
                                        uct_completion_t *comp)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);
    ucs_status_t status;

    uct_rsagg_hold_enter(iface);
    if (ucs_unlikely(iface->unflushed)) {
        uct_rsagg_hold_leave(iface);
        return uct_rsagg_iface_flush_guarded(tl_iface, flags, comp);
    }
    status = uct_iface_flush(iface->inner, flags, comp);
    uct_rsagg_hold_leave(iface);
    return status;
}

static ucs_status_t uct_rsagg_iface_fence(uct_iface_h tl_iface, unsigned flags)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);

    return uct_iface_fence(iface->inner, flags);
}


UCT_RSAGG_HOLD_GUARDED(ucs_status_t, uct_rsagg_iface_fence,
                       ucs_derived_of(tl_iface, uct_rsagg_iface_t),
                       (uct_iface_h tl_iface, unsigned flags),
                       (tl_iface, flags))

static ucs_status_t
uct_rsagg_iface_open_inner(uct_rsagg_iface_t *self, uct_rsagg_md_t *md,
                           uct_worker_h worker,
                           const uct_iface_params_t *params,
                           const uct_rsagg_md_resource_t *resource)
{
    uct_iface_params_t inner_params;
    uct_iface_config_t *inner_config;
    ucs_status_t status;

    status = uct_md_iface_config_read(md->inner, resource->tl_name, NULL, NULL,
                                      &inner_config);
    if (status != UCS_OK) {
        return status;
    }

    inner_params                     = *params;
    inner_params.field_mask          = params->field_mask &
                                       (UCT_IFACE_PARAM_FIELD_CPU_MASK |
                                        UCT_IFACE_PARAM_FIELD_STATS_ROOT |
                                        UCT_IFACE_PARAM_FIELD_RX_HEADROOM |
                                        UCT_IFACE_PARAM_FIELD_ERR_HANDLER_FLAGS |
                                        UCT_IFACE_PARAM_FIELD_ASYNC_EVENT_ARG |
                                        UCT_IFACE_PARAM_FIELD_ASYNC_EVENT_CB |
                                        UCT_IFACE_PARAM_FIELD_KEEPALIVE_INTERVAL |
                                        UCT_IFACE_PARAM_FIELD_AM_ALIGNMENT |
                                        UCT_IFACE_PARAM_FIELD_AM_ALIGN_OFFSET |
                                        UCT_IFACE_PARAM_FIELD_FEATURES);
    inner_params.field_mask         |= UCT_IFACE_PARAM_FIELD_OPEN_MODE |
                                       UCT_IFACE_PARAM_FIELD_DEVICE |
                                       UCT_IFACE_PARAM_FIELD_ERR_HANDLER |
                                       UCT_IFACE_PARAM_FIELD_ERR_HANDLER_ARG;
    inner_params.open_mode           = UCT_IFACE_OPEN_MODE_DEVICE;
    inner_params.mode.device.tl_name  = resource->tl_name;
    inner_params.mode.device.dev_name = resource->dev_name;
    inner_params.err_handler         = uct_rsagg_channel_inner_failed;
    inner_params.err_handler_arg     = self;
    if (params->field_mask & UCT_IFACE_PARAM_FIELD_FEATURES) {
        /* Consolidated transfers travel as inner active messages */
        inner_params.features |= UCT_IFACE_FEATURE_AM;
    }

    status = uct_iface_open(md->inner, worker, &inner_params, inner_config,
                            &self->inner);
    uct_config_release(inner_config);
    return status;
}


/* Fields that hold no resource, before anything can fail */
static void uct_rsagg_iface_init_state(uct_rsagg_iface_t *self,
                                       const uct_rsagg_iface_config_t *config,
                                       const uct_rsagg_md_resource_t *resource)
{
    ucs_list_head_init(&self->channels);
    self->hold.ticked         = 0;
    self->hold.timer_id       = -1;
    uct_rsagg_progress_init(self);
    uct_rsagg_peer_init(self);
    uct_rsagg_ring_rx_init(self);
    memset(&self->counters, 0, sizeof(self->counters));
    self->direct_sent         = 0;
    self->direct_bytes        = 0;
    self->next_channel_id     = 1;
    self->unflushed           = 0;
    self->scratch             = NULL;
    self->put_aggregate       = 0;
    self->rkey_is_inner       = 0;
    self->version_warned      = 0;
    self->config.aggregate    = config->aggregate;
    self->config.mux          = config->mux;
    self->config.ring_size    = config->ring_size;
    self->config.auto_thresh  = config->auto_thresh;
    self->config.ring_put     = 0;
    self->config.max_batch    = config->max_batch;
    self->config.buffer       = config->buffer;
    self->config.zcopy_thresh = config->zcopy_thresh;
    self->config.max_delay    = config->max_delay;
    self->config.summary      = config->summary;
    ucs_strncpy_zero(self->inner_tl, resource->tl_name,
                     sizeof(self->inner_tl));
}

/* The sizes rsagg works with, checked against the inner transport's */
static ucs_status_t
uct_rsagg_iface_init_sizes(uct_rsagg_iface_t *self,
                           const uct_rsagg_iface_config_t *config,
                           const uct_rsagg_md_resource_t *resource)
{
    /* A batch is one inner am_bcopy */
    self->config.max_batch = ucs_min(self->config.max_batch,
                                     self->inner_attr.cap.am.max_bcopy);
    if (self->config.max_batch < 256) {
        ucs_error("rsagg: UCX_RSAGG_MAX_BATCH=%zu is too small (inner "
                  "%s max_bcopy %zu, need at least 256)",
                  self->config.max_batch, resource->tl_name,
                  self->inner_attr.cap.am.max_bcopy);
        return UCS_ERR_INVALID_PARAM;
    }
    if (self->config.buffer < self->config.max_batch) {
        ucs_error("rsagg: UCX_RSAGG_BUFFER=%zu is smaller than one batch "
                  "(%zu)", self->config.buffer, self->config.max_batch);
        return UCS_ERR_INVALID_PARAM;
    }
    /* A tick shorter than a wake-up of the hold thread would only spin */
    if (config->hold_timeout < ucs_time_from_usec(UCT_RSAGG_HOLD_MIN_USEC)) {
        ucs_error("rsagg: UCX_RSAGG_HOLD_TIMEOUT=%.3fus is too short (at "
                  "least %dus, or inf)", ucs_time_to_usec(config->hold_timeout),
                  UCT_RSAGG_HOLD_MIN_USEC);
        return UCS_ERR_INVALID_PARAM;
    }
    /* Messages up to half a batch are batched; larger ones go alone */
    self->config.small_max = self->config.max_batch / 2 - 32;
    self->config.max_bcopy = self->inner_attr.cap.am.max_bcopy;

    self->scratch = ucs_malloc(self->config.max_bcopy, "rsagg_scratch");
    if (self->scratch == NULL) {
        ucs_error("rsagg: failed to allocate %zu bytes",
                  self->config.max_bcopy);
        return UCS_ERR_NO_MEMORY;
    }
    return UCS_OK;
}

/* Aggregated puts: where the inner transport has none of its own (try), or
 * always (yes); both need a return path for flush acknowledgements */
static ucs_status_t
uct_rsagg_iface_init_puts(uct_rsagg_iface_t *self, uct_rsagg_md_t *md,
                          const uct_rsagg_iface_config_t *config,
                          const uct_rsagg_md_resource_t *resource)
{
    ucs_status_t status;

    self->rkey_is_inner = uct_rsagg_component_rkey_is_inner(
                              md->inner_component->name);
    if (self->rkey_is_inner && (config->put_aggregate == UCS_YES)) {
        ucs_error("rsagg: UCX_RSAGG_PUT_AGGREGATE=yes is not available over "
                  "%s: a put there is a store into the peer's memory",
                  resource->tl_name);
        return UCS_ERR_INVALID_PARAM;
    }

    status = uct_rsagg_peer_init_ret_addr(self);
    if (status == UCS_OK) {
        self->put_aggregate = self->config.aggregate &&
                              ((config->put_aggregate == UCS_YES) ||
                               ((config->put_aggregate == UCS_TRY) &&
                                !(self->inner_attr.cap.flags &
                                  (UCT_IFACE_FLAG_PUT_SHORT |
                                   UCT_IFACE_FLAG_PUT_BCOPY))));
        return UCS_OK;
    } else if ((status == UCS_ERR_UNSUPPORTED) &&
               (config->put_aggregate == UCS_YES)) {
        ucs_error("rsagg: UCX_RSAGG_PUT_AGGREGATE=yes needs an inner "
                  "transport that connects to an interface (%s does not)",
                  resource->tl_name);
        return UCS_ERR_INVALID_PARAM;
    }
    return (status == UCS_ERR_UNSUPPORTED) ? UCS_OK : status;
}

/* The ring: a put of the inner transport, and the way back for grants and
 * credits. put_zcopy (tcp) sends straight from the batch buffer; put_bcopy
 * (shared memory) copies into the ring. */
static void uct_rsagg_iface_init_ring(uct_rsagg_iface_t *self)
{
    const uct_iface_attr_t *attr = &self->inner_attr;

    if (self->config.aggregate && (self->conn.ret_addr_len > 0) &&
        uct_rsagg_iface_may_oob(self)) {
        if ((attr->cap.flags & UCT_IFACE_FLAG_PUT_ZCOPY) &&
            (attr->cap.put.max_zcopy >= self->config.max_batch) &&
            (attr->cap.put.max_iov >= 1)) {
            self->config.ring_put = UCT_IFACE_FLAG_PUT_ZCOPY;
        } else if ((attr->cap.flags & UCT_IFACE_FLAG_PUT_BCOPY) &&
                   (attr->cap.put.max_bcopy >= self->config.max_batch)) {
            self->config.ring_put = UCT_IFACE_FLAG_PUT_BCOPY;
        }
    }
    /* auto takes the ring only where the inner put is one-sided (shared
     * memory, RDMA: the inner transport has put_bcopy too). tcp's put_zcopy
     * is a request and an acknowledgement on the same stream: a batch on
     * the ring then costs more than one embedded batch (docs/DESIGN.md) */
    self->config.ring_auto = (self->config.ring_put != 0) &&
                             (attr->cap.flags &
                              (UCT_IFACE_FLAG_PUT_SHORT |
                               UCT_IFACE_FLAG_PUT_BCOPY));

    /* A slice of at least 8 batches: credits come back by quarters */
    self->config.ring_slice = ucs_min(ucs_max(self->config.buffer,
                                              8 * self->config.max_batch),
                                      UINT32_MAX / 2);
}

static ucs_status_t
uct_rsagg_iface_resource(uct_rsagg_md_t *md, const uct_iface_params_t *params,
                         const uct_rsagg_md_resource_t **resource_p)
{
    UCT_CHECK_PARAM(params->field_mask & UCT_IFACE_PARAM_FIELD_OPEN_MODE,
                    "UCT_IFACE_PARAM_FIELD_OPEN_MODE is not defined");
    if (!(params->open_mode & UCT_IFACE_OPEN_MODE_DEVICE)) {
        ucs_error("rsagg supports only UCT_IFACE_OPEN_MODE_DEVICE");
        return UCS_ERR_UNSUPPORTED;
    }

    /* Alignment applies to messages that reach the user in an inner
     * descriptor (those sent alone), as the inner transport honours it;
     * one that no transport could honour is refused here, whatever the
     * inner transport would say */
    if (params->field_mask & UCT_IFACE_PARAM_FIELD_AM_ALIGNMENT) {
        UCT_CHECK_PARAM(ucs_is_pow2(params->am_alignment),
                        "am_alignment %zu is not a power of 2",
                        params->am_alignment);
        UCT_CHECK_PARAM(!(params->field_mask &
                          UCT_IFACE_PARAM_FIELD_AM_ALIGN_OFFSET) ||
                        (params->am_align_offset < params->am_alignment),
                        "am_align_offset %zu is not below am_alignment %zu",
                        params->am_align_offset, params->am_alignment);
    } else {
        UCT_CHECK_PARAM(!(params->field_mask &
                          UCT_IFACE_PARAM_FIELD_AM_ALIGN_OFFSET),
                        "am_align_offset without am_alignment");
    }

    *resource_p = uct_rsagg_md_find_resource(md,
                                             params->mode.device.dev_name);
    if (*resource_p == NULL) {
        ucs_error("rsagg: no device '%s' on memory domain rsagg_%s",
                  params->mode.device.dev_name, md->inner_name);
        return UCS_ERR_NO_DEVICE;
    }
    return UCS_OK;
}

/* Everything that needs the inner iface open: sizes, puts, ring, handlers
 * and the hold timer */
static ucs_status_t
uct_rsagg_iface_init_inner(uct_rsagg_iface_t *self, uct_rsagg_md_t *md,
                           const uct_iface_params_t *params,
                           const uct_rsagg_iface_config_t *config,
                           const uct_rsagg_md_resource_t *resource)
{
    ucs_status_t status;

    status = uct_iface_query(self->inner, &self->inner_attr);
    if (status != UCS_OK) {
        return status;
    }

    status = uct_rsagg_iface_init_sizes(self, config, resource);
    if (status != UCS_OK) {
        return status;
    }

    status = uct_rsagg_iface_init_puts(self, md, config, resource);
    if (status != UCS_OK) {
        return status;
    }
    uct_rsagg_iface_init_ring(self);

    if (!(self->inner_attr.cap.flags & UCT_IFACE_FLAG_AM_BCOPY)) {
        ucs_error("rsagg: inner transport %s/%s has no active messages",
                  resource->tl_name, resource->dev_name);
        return UCS_ERR_UNSUPPORTED;
    }

    status = uct_rsagg_rx_init(self, (params->field_mask &
                                      UCT_IFACE_PARAM_FIELD_RX_HEADROOM) ?
                                     params->rx_headroom : 0);
    if (status != UCS_OK) {
        return status;
    }

    /* Aggregating over a transport whose progress is a plain callback (tcp,
     * shared memory), rsagg runs it from its own, inside the guard of the
     * hold timer; otherwise it stays the inner transport's, and batches
     * leave only on progress */
    self->wrap_progress = self->config.aggregate &&
                          (self->inner->ops.iface_progress_enable ==
                           uct_base_iface_progress_enable);
    return uct_rsagg_progress_start_hold(self, self->wrap_progress ?
                                               config->hold_timeout :
                                               UCS_TIME_INFINITY);
}

UCS_CLASS_INIT_FUNC(uct_rsagg_iface_t, const uct_iface_ops_t *ops,
                    const uct_iface_internal_ops_t *internal_ops,
                    uct_md_h tl_md, uct_worker_h worker,
                    const uct_iface_params_t *params,
                    const uct_iface_config_t *tl_config)
{
    uct_rsagg_md_t *md = ucs_derived_of(tl_md, uct_rsagg_md_t);
    const uct_rsagg_iface_config_t *config =
            ucs_derived_of(tl_config, uct_rsagg_iface_config_t);
    const uct_rsagg_md_resource_t *resource;
    ucs_status_t status;

    status = uct_rsagg_iface_resource(md, params, &resource);
    if (status != UCS_OK) {
        return status;
    }

    UCS_CLASS_CALL_SUPER_INIT(uct_base_iface_t, (uct_iface_ops_t*)ops,
                              (uct_iface_internal_ops_t*)internal_ops, tl_md,
                              worker, params, tl_config
                              UCS_STATS_ARG((params->field_mask &
                                             UCT_IFACE_PARAM_FIELD_STATS_ROOT) ?
                                            params->stats_root : NULL)
                              UCS_STATS_ARG(UCT_RSAGG_NAME));

    uct_rsagg_iface_init_state(self, config, resource);

    status = uct_rsagg_iface_open_inner(self, md, worker, params, resource);
    if (status != UCS_OK) {
        return status;
    }

    status = uct_rsagg_iface_init_inner(self, md, params, config, resource);
    if (status != UCS_OK) {
        uct_rsagg_progress_cleanup(self);
        uct_rsagg_peer_cleanup(self);
        ucs_free(self->scratch);
        uct_iface_close(self->inner);
        return status;
    }

    ucs_debug("rsagg iface %p over %s/%s (inner iface %p)", self,
              resource->tl_name, resource->dev_name, self->inner);
    return UCS_OK;
}

UCS_CLASS_CLEANUP_FUNC(uct_rsagg_iface_t)
{
    uct_rsagg_channel_t *channel, *tmp;
    uct_rsagg_counters_t counters;

    uct_rsagg_progress_cleanup(self);

    ucs_list_for_each_safe(channel, tmp, &self->channels, list) {
        if (channel->state != UCT_RSAGG_CHANNEL_CLOSING) {
            ucs_warn("rsagg iface %p closed with channel %p still in use",
                     self, channel);
        }
        uct_rsagg_channel_close(channel);
    }

    if (self->config.summary) {
        uct_rsagg_iface_read_counters(self, &counters);
        uct_rsagg_summary_print(self->inner_tl, &counters);
    }

    uct_rsagg_peer_cleanup(self);
    uct_rsagg_rx_cleanup(self);
    uct_iface_close(self->inner);
    /* No inner ep can write to it any more */
    uct_rsagg_ring_rx_cleanup(self);
    ucs_free(self->scratch);
}

UCS_CLASS_DEFINE(uct_rsagg_iface_t, uct_base_iface_t);

UCS_CLASS_DEFINE_NEW_FUNC(uct_rsagg_iface_t, uct_iface_t,
                          const uct_iface_ops_t*,
                          const uct_iface_internal_ops_t*, uct_md_h,
                          uct_worker_h, const uct_iface_params_t*,
                          const uct_iface_config_t*);
UCS_CLASS_DEFINE_DELETE_FUNC(uct_rsagg_iface_t, uct_iface_t);
