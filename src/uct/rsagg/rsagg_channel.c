/**
 * rsagg channel: inner endpoint ownership and pending dispatch.
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_channel.h"
#include "rsagg_ep.h"

#include <ucs/debug/log.h>
#include <ucs/debug/memtrack_int.h>
#include <string.h>


static ucs_status_t uct_rsagg_channel_dispatch_cb(uct_pending_req_t *self);


static ucs_status_t
uct_rsagg_channel_inner_ep_create(uct_rsagg_iface_t *iface,
                                  const uct_ep_params_t *params,
                                  uct_ep_h *inner_ep_p)
{
    uct_ep_params_t inner_params;
    ucs_status_t status;

    inner_params            = *params;
    inner_params.field_mask = params->field_mask &
                              (UCT_EP_PARAM_FIELD_DEV_ADDR |
                               UCT_EP_PARAM_FIELD_IFACE_ADDR |
                               UCT_EP_PARAM_FIELD_PATH_INDEX);
    inner_params.field_mask |= UCT_EP_PARAM_FIELD_IFACE;
    inner_params.iface       = iface->inner;

    if (params->field_mask & UCT_EP_PARAM_FIELD_IFACE_ADDR) {
        status = uct_rsagg_iface_check_addr(iface, params->iface_addr);
        if (status != UCS_OK) {
            return status;
        }
        inner_params.iface_addr = UCS_PTR_BYTE_OFFSET(params->iface_addr,
                                        sizeof(uct_rsagg_addr_hdr_t));
    }

    return uct_ep_create(&inner_params, inner_ep_p);
}

ucs_status_t uct_rsagg_channel_get(uct_rsagg_iface_t *iface,
                                   const uct_ep_params_t *params,
                                   uct_rsagg_channel_t **channel_p)
{
    uct_rsagg_channel_t *channel;
    ucs_status_t status;

    channel = ucs_calloc(1, sizeof(*channel), "rsagg_channel");
    if (channel == NULL) {
        ucs_error("rsagg: failed to allocate channel");
        return UCS_ERR_NO_MEMORY;
    }

    status = uct_rsagg_channel_inner_ep_create(iface, params, &channel->inner);
    if (status != UCS_OK) {
        ucs_free(channel);
        return status;
    }

    channel->iface          = iface;
    channel->refcount       = 1;
    channel->status         = UCS_OK;
    channel->inner_req.func = uct_rsagg_channel_dispatch_cb;
    ucs_list_head_init(&channel->eps);
    ucs_list_head_init(&channel->pending_eps);
    ucs_list_head_init(&channel->dispatch);
    ucs_list_add_tail(&iface->channels, &channel->list);
    ++iface->counters.channels;

    *channel_p = channel;
    return UCS_OK;
}

static void uct_rsagg_channel_purge_cb(uct_pending_req_t *self, void *arg)
{
}

void uct_rsagg_channel_put(uct_rsagg_channel_t *channel)
{
    ucs_assert(channel->refcount > 0);
    if (--channel->refcount > 0) {
        return;
    }

    if (channel->inner_req_armed) {
        uct_ep_pending_purge(channel->inner, uct_rsagg_channel_purge_cb,
                             NULL);
    }
    ucs_list_del(&channel->dispatch);
    ucs_list_del(&channel->list);
    uct_ep_destroy(channel->inner);
    ucs_free(channel->key);
    ucs_free(channel);
}

uct_rsagg_channel_t *uct_rsagg_channel_find_inner(uct_rsagg_iface_t *iface,
                                                  uct_ep_h inner_ep)
{
    uct_rsagg_channel_t *channel;

    ucs_list_for_each(channel, &iface->channels, list) {
        if (channel->inner == inner_ep) {
            return channel;
        }
    }
    return NULL;
}

/* Ask to be called when the inner ep has resources. Returns UCS_ERR_BUSY when
 * it has them now. */
static ucs_status_t uct_rsagg_channel_arm(uct_rsagg_channel_t *channel)
{
    ucs_status_t status;

    if (channel->inner_req_armed) {
        return UCS_OK;
    }

    status = uct_ep_pending_add(channel->inner, &channel->inner_req, 0);
    if (status == UCS_OK) {
        channel->inner_req_armed = 1;
    }
    return status;
}

static void uct_rsagg_channel_schedule(uct_rsagg_channel_t *channel)
{
    if (ucs_list_is_empty(&channel->dispatch)) {
        ucs_list_add_tail(&channel->iface->dispatch, &channel->dispatch);
    }
}

ucs_status_t uct_rsagg_channel_pending_add(uct_rsagg_channel_t *channel,
                                           uct_rsagg_ep_t *ep,
                                           uct_pending_req_t *req)
{
    ucs_status_t status;

    if (ucs_list_is_empty(&channel->pending_eps)) {
        /* Nothing queued: the caller may retry at once if the inner ep has
         * resources again */
        status = uct_rsagg_channel_arm(channel);
        if (status != UCS_OK) {
            return status;
        }
    }

    if (ucs_queue_is_empty(&ep->pending_q)) {
        ucs_list_add_tail(&channel->pending_eps, &ep->pending_list);
    }
    uct_pending_req_queue_push(&ep->pending_q, req);
    return UCS_OK;
}

void uct_rsagg_channel_pending_remove(uct_rsagg_channel_t *channel,
                                      uct_rsagg_ep_t *ep)
{
    if (ucs_queue_is_empty(&ep->pending_q)) {
        return;
    }

    ucs_list_del(&ep->pending_list);
    ucs_list_head_init(&ep->pending_list);
    if (ucs_list_is_empty(&channel->pending_eps) && channel->inner_req_armed) {
        uct_ep_pending_purge(channel->inner, uct_rsagg_channel_purge_cb,
                             NULL);
        channel->inner_req_armed = 0;
    }
}

/* Round-robin over the eps of the channel, one request each per round, as the
 * UCX arbiter does: a request that made partial progress (UCS_INPROGRESS)
 * stays first in its ep's queue, one that found no resources stops the
 * dispatch. Returns UCS_OK when every queue is empty. */
static ucs_status_t uct_rsagg_channel_dispatch(uct_rsagg_channel_t *channel,
                                               unsigned *count_p)
{
    uct_pending_req_t *req;
    ucs_queue_elem_t *elem;
    uct_rsagg_ep_t *ep;
    ucs_status_t status;

    channel->in_dispatch = 1;
    while (!ucs_list_is_empty(&channel->pending_eps)) {
        ep   = ucs_list_head(&channel->pending_eps, uct_rsagg_ep_t,
                             pending_list);
        elem = ucs_queue_pull_non_empty(&ep->pending_q);
        req  = ucs_container_of(elem, uct_pending_req_t, priv);

        /* The ep goes to the back of the round first: the callback may purge
         * or destroy it */
        ucs_list_del(&ep->pending_list);
        if (!ucs_queue_is_empty(&ep->pending_q)) {
            ucs_list_add_tail(&channel->pending_eps, &ep->pending_list);
        }

        status = req->func(req);
        if (status == UCS_OK) {
            ++(*count_p);
            continue;
        }

        /* Not done: back at the head of its ep's queue */
        if (ucs_queue_is_empty(&ep->pending_q)) {
            ucs_list_add_tail(&channel->pending_eps, &ep->pending_list);
        }
        ucs_queue_push_head(&ep->pending_q, elem);
        if (status == UCS_ERR_NO_RESOURCE) {
            channel->in_dispatch = 0;
            return UCS_ERR_NO_RESOURCE;
        }
    }

    channel->in_dispatch = 0;
    return UCS_OK;
}

static ucs_status_t uct_rsagg_channel_dispatch_cb(uct_pending_req_t *self)
{
    uct_rsagg_channel_t *channel = ucs_container_of(self, uct_rsagg_channel_t,
                                                    inner_req);
    unsigned count               = 0;
    ucs_status_t status;

    channel->inner_req_armed = 0;
    status = uct_rsagg_channel_dispatch(channel, &count);
    if (status == UCS_OK) {
        return UCS_OK; /* Removed from the inner queue */
    }

    /* Stays on the inner queue and is called again when resources return */
    channel->inner_req_armed = 1;
    return UCS_ERR_NO_RESOURCE;
}

unsigned uct_rsagg_channel_progress(uct_rsagg_channel_t *channel)
{
    unsigned count = 0;
    ucs_status_t status;

    ucs_list_del(&channel->dispatch);
    ucs_list_head_init(&channel->dispatch);

    if (ucs_list_is_empty(&channel->pending_eps) || channel->inner_req_armed) {
        return 0;
    }

    status = uct_rsagg_channel_dispatch(channel, &count);
    if ((status != UCS_OK) && (uct_rsagg_channel_arm(channel) != UCS_OK)) {
        uct_rsagg_channel_schedule(channel);
    }
    return count;
}
