/**
 * rsagg channel: inner endpoint ownership, sharing, pending dispatch,
 * progress, and the remote completion of rsagg-applied puts (see
 * rsagg_channel.h).
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_channel.h"
#include "rsagg_addr.h"
#include "rsagg_ep.h"
#include "rsagg_peer.h"

#include <ucs/debug/log.h>
#include <ucs/debug/memtrack_int.h>
#include <ucs/sys/math.h>
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
        status = uct_rsagg_addr_check(iface, params->iface_addr);
        if (status != UCS_OK) {
            return status;
        }
        inner_params.iface_addr = UCS_PTR_BYTE_OFFSET(params->iface_addr,
                                        sizeof(uct_rsagg_addr_hdr_t));
    }

    return uct_ep_create(&inner_params, inner_ep_p);
}

/* Channels to a remote iface are shared by key: the inner device and iface
 * addresses and the path. Eps that connect to an ep have their own channel. */
static size_t uct_rsagg_channel_key(uct_rsagg_iface_t *iface,
                                    const uct_ep_params_t *params,
                                    uint8_t *key)
{
    size_t dev_len   = iface->inner_attr.device_addr_len;
    size_t iface_len = iface->inner_attr.iface_addr_len;
    unsigned path    = (params->field_mask & UCT_EP_PARAM_FIELD_PATH_INDEX) ?
                       params->path_index : 0;

    if (key != NULL) {
        memcpy(key, &path, sizeof(path));
        if (dev_len > 0) {
            memcpy(key + sizeof(path), params->dev_addr, dev_len);
        }
        memcpy(key + sizeof(path) + dev_len,
               UCS_PTR_BYTE_OFFSET(params->iface_addr,
                                   sizeof(uct_rsagg_addr_hdr_t)),
               iface_len);
    }
    return sizeof(path) + dev_len + iface_len;
}

static int uct_rsagg_channel_is_shareable(uct_rsagg_iface_t *iface,
                                          const uct_ep_params_t *params)
{
    return (params->field_mask & UCT_EP_PARAM_FIELD_IFACE_ADDR) &&
           ((iface->inner_attr.device_addr_len == 0) ||
            (params->field_mask & UCT_EP_PARAM_FIELD_DEV_ADDR)) &&
           (iface->inner_attr.cap.flags & UCT_IFACE_FLAG_CONNECT_TO_IFACE);
}

/* The working channel of this iface to the peer named by key, if any */
static uct_rsagg_channel_t *
uct_rsagg_channel_find_shared(uct_rsagg_iface_t *iface, const uint8_t *key,
                              size_t key_length)
{
    uct_rsagg_channel_t *channel;

    ucs_list_for_each(channel, &iface->channels, list) {
        if ((channel->key != NULL) && (channel->key_length == key_length) &&
            !memcmp(channel->key, key, key_length) &&
            (channel->state != UCT_RSAGG_CHANNEL_FAILED)) {
            return channel;
        }
    }
    return NULL;
}

/* A new channel: its inner ep, its key (NULL: not shared) */
static ucs_status_t
uct_rsagg_channel_new(uct_rsagg_iface_t *iface, const uct_ep_params_t *params,
                      const uint8_t *key, size_t key_length,
                      uct_rsagg_channel_t **channel_p)
{
    uct_rsagg_channel_t *channel;
    ucs_status_t status;

    channel = ucs_calloc(1, sizeof(*channel), "rsagg_channel");
    if (channel == NULL) {
        ucs_error("rsagg: failed to allocate channel");
        return UCS_ERR_NO_MEMORY;
    }

    if (key != NULL) {
        channel->key = ucs_malloc(key_length, "rsagg_channel_key");
        if (channel->key == NULL) {
            ucs_error("rsagg: failed to allocate channel key");
            ucs_free(channel);
            return UCS_ERR_NO_MEMORY;
        }
        memcpy(channel->key, key, key_length);
        channel->key_length = key_length;
    }

    status = uct_rsagg_channel_inner_ep_create(iface, params, &channel->inner);
    if (status != UCS_OK) {
        ucs_free(channel->key);
        ucs_free(channel);
        return status;
    }

    channel->id             = iface->next_channel_id++;
    /* At least two: the open batch, and a spare for the next one (or for a
     * message too large for a batch) */
    channel->max_batches    = ucs_max(iface->config.buffer /
                                      (iface->config.max_batch *
                                       (uct_rsagg_iface_may_oob(iface) ?
                                        2 : 1)), 2);
    /* Out-of-band tables and payloads are paired by seq at the receiver,
     * among those of all its senders: start each channel somewhere else */
    channel->seq            = ucs_generate_uuid((uintptr_t)channel);
    channel->direct_epoch   = iface->sched.epoch - 1;
    channel->bcopy_large    = 0;
    channel->iface          = iface;
    channel->refcount       = 1;
    channel->state          = UCT_RSAGG_CHANNEL_OPEN;
    channel->status         = UCS_OK;
    channel->inner_req.func = uct_rsagg_channel_dispatch_cb;
    ucs_list_head_init(&channel->eps);
    ucs_list_head_init(&channel->pending_eps);
    ucs_list_head_init(&channel->dispatch);
    ucs_queue_head_init(&channel->queued);
    ucs_queue_head_init(&channel->free);
    ucs_queue_head_init(&channel->flush_comps);
    uct_rsagg_ring_tx_init(&channel->ring);
    ucs_list_add_tail(&iface->channels, &channel->list);
    ++iface->counters.channels;

    *channel_p = channel;
    return UCS_OK;
}

ucs_status_t uct_rsagg_channel_get(uct_rsagg_iface_t *iface,
                                   const uct_ep_params_t *params,
                                   uct_rsagg_channel_t **channel_p)
{
    uct_rsagg_channel_t *channel;
    ucs_status_t status;
    size_t key_length;
    uint8_t *key;

    if (uct_rsagg_channel_is_shareable(iface, params)) {
        status = uct_rsagg_addr_check(iface, params->iface_addr);
        if (status != UCS_OK) {
            return status;
        }

        key_length = uct_rsagg_channel_key(iface, params, NULL);
        key        = ucs_alloca(key_length);
        uct_rsagg_channel_key(iface, params, key);
        channel    = uct_rsagg_channel_find_shared(iface, key, key_length);
        if (channel != NULL) {
            /* A closing channel is taken back: what it still has to send
             * stays ahead of the new ep's messages */
            channel->state = UCT_RSAGG_CHANNEL_OPEN;
            ++channel->refcount;
            *channel_p = channel;
            return UCS_OK;
        }
    } else {
        key_length = 0;
        key        = NULL;
    }

    return uct_rsagg_channel_new(iface, params, key, key_length, channel_p);
}

static void uct_rsagg_channel_purge_cb(uct_pending_req_t *self, void *arg)
{
}

/* A receiver that answered this channel keeps a way back to our iface, and
 * maybe a ring slice for it: CLOSE frees both. Sent on the channel, so it
 * arrives after everything sent before. When it cannot leave now, the
 * receiver keeps them until it closes (a later sender at the same address
 * would find its answers going to the old connection). */
static void uct_rsagg_channel_send_close(uct_rsagg_channel_t *channel)
{
    ssize_t packed;

    if ((channel->state == UCT_RSAGG_CHANNEL_FAILED) ||
        ((channel->ring.state == UCT_RSAGG_RING_NONE) &&
         (channel->flush_req_sn == 0))) {
        return; /* The receiver holds nothing for us */
    }

    packed = uct_rsagg_peer_send_request(channel->iface, channel->inner,
                                         UCS_RSAGG_CTRL_OP_CLOSE, channel->id,
                                         0);
    if (packed < 0) {
        ucs_debug("rsagg channel %p: close not sent: %s", channel,
                  ucs_status_string((ucs_status_t)packed));
    }
}

static void uct_rsagg_channel_destroy(uct_rsagg_channel_t *channel)
{
    if (uct_rsagg_channel_has_batches(channel)) {
        ucs_diag("rsagg channel %p destroyed with unsent messages", channel);
    }
    uct_rsagg_channel_send_close(channel);
    uct_rsagg_channel_fail(channel, UCS_ERR_CANCELED);

    if (channel->inner_req_armed) {
        uct_ep_pending_purge(channel->inner, uct_rsagg_channel_purge_cb,
                             NULL);
    }
    ucs_list_del(&channel->dispatch);
    ucs_list_del(&channel->list);
    /* The inner ep completes (cancels) its puts from our batch buffers as it
     * goes, which returns those buffers to the free queue: free them after */
    uct_ep_destroy(channel->inner);
    uct_rsagg_batch_free_all(channel);
    uct_rsagg_ring_tx_cleanup(&channel->ring, channel->iface);
    ucs_free(channel->key);
    ucs_free(channel);
}

void uct_rsagg_channel_put(uct_rsagg_channel_t *channel)
{
    ucs_assert(channel->refcount > 0);
    if (--channel->refcount > 0) {
        return;
    }

    /* Messages the last ep handed over with UCS_OK still go out: the
     * channel stays until they have left (progress), or until the iface
     * closes */
    if (uct_rsagg_channel_has_batches(channel) &&
        (channel->state != UCT_RSAGG_CHANNEL_FAILED) &&
        (uct_rsagg_channel_flush_batches(channel) == UCS_ERR_NO_RESOURCE)) {
        channel->state = UCT_RSAGG_CHANNEL_CLOSING;
        uct_rsagg_channel_schedule(channel);
        return;
    }

    uct_rsagg_channel_destroy(channel);
}

void uct_rsagg_channel_close(uct_rsagg_channel_t *channel)
{
    if (uct_rsagg_channel_has_batches(channel)) {
        uct_rsagg_channel_flush_batches(channel); /* Last chance */
    }
    uct_rsagg_channel_destroy(channel);
}

static uct_rsagg_channel_t *
uct_rsagg_channel_find_inner(uct_rsagg_iface_t *iface, uct_ep_h inner_ep)
{
    uct_rsagg_channel_t *channel;

    ucs_list_for_each(channel, &iface->channels, list) {
        if (channel->inner == inner_ep) {
            return channel;
        }
    }
    return NULL;
}

ucs_status_t uct_rsagg_channel_arm(uct_rsagg_channel_t *channel)
{
    ucs_status_t status;

    /* Inside its own callback the request is the inner ep's to keep or
     * drop (by what the callback returns): adding it again would corrupt
     * the inner pending queue */
    if (channel->inner_req_armed || channel->in_inner_cb) {
        return UCS_OK;
    }

    status = uct_ep_pending_add(channel->inner, &channel->inner_req, 0);
    if (status == UCS_OK) {
        channel->inner_req_armed = 1;
    }
    return status;
}

void uct_rsagg_channel_schedule(uct_rsagg_channel_t *channel)
{
    if (ucs_list_is_empty(&channel->dispatch)) {
        ucs_list_add_tail(&channel->iface->sched.dispatch,
                          &channel->dispatch);
        uct_rsagg_sched_request(channel->iface);
    }
}

ucs_status_t uct_rsagg_channel_pending_add(uct_rsagg_channel_t *channel,
                                           uct_rsagg_ep_t *ep,
                                           uct_pending_req_t *req)
{
    ucs_status_t status;

    if (ucs_list_is_empty(&channel->pending_eps)) {
        status = uct_rsagg_channel_arm(channel);
        if (status == UCS_ERR_BUSY) {
            /* The inner ep has room: what the send missed is rsagg's own
             * (ring credits, a batch buffer whose put is in flight). A
             * caller told to retry at once (UCS_ERR_BUSY) would retry
             * forever without the progress that brings them; the request
             * waits, and rsagg's progress calls it back. */
            uct_rsagg_channel_schedule(channel);
        } else if (status != UCS_OK) {
            return status;
        }
    }

    if (ucs_queue_is_empty(&ep->pending_q)) {
        ucs_list_add_tail(&channel->pending_eps, &ep->pending_list);
    }
    uct_pending_req_queue_push(&ep->pending_q, req);
    uct_rsagg_channel_mark_unflushed(channel);
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
    /* Queued batches still need the call when the inner ep has room */
    if (ucs_list_is_empty(&channel->pending_eps) && channel->inner_req_armed &&
        ucs_queue_is_empty(&channel->queued)) {
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

        channel->dispatch_ep = ep;
        status               = req->func(req);
        channel->dispatch_ep = NULL;
        if (status == UCS_OK) {
            ++(*count_p);
            continue;
        }

        /* Not done: back at the head of its ep's queue */
        if (ucs_queue_is_empty(&ep->pending_q)) {
            ucs_list_add_tail(&channel->pending_eps, &ep->pending_list);
        }
        ucs_queue_push_head(&ep->pending_q, elem);
        /* The callback may have flushed the iface meanwhile */
        uct_rsagg_channel_mark_unflushed(channel);
        if (status == UCS_ERR_NO_RESOURCE) {
            return UCS_ERR_NO_RESOURCE;
        }
    }

    return UCS_OK;
}

static int uct_rsagg_channel_has_work(uct_rsagg_channel_t *channel)
{
    return !ucs_queue_is_empty(&channel->queued) ||
           !ucs_list_is_empty(&channel->pending_eps);
}

/* Queued batches first, then the eps' pending requests: both in order */
static ucs_status_t uct_rsagg_channel_do_work(uct_rsagg_channel_t *channel,
                                              unsigned *count_p)
{
    ucs_status_t status;

    if (!ucs_queue_is_empty(&channel->queued)) {
        status = uct_rsagg_batch_send_queued(channel);
        if (status != UCS_OK) {
            return status;
        }
        ++(*count_p);
    }

    if (ucs_list_is_empty(&channel->pending_eps)) {
        return UCS_OK;
    }
    return uct_rsagg_channel_dispatch(channel, count_p);
}

static ucs_status_t uct_rsagg_channel_dispatch_cb(uct_pending_req_t *self)
{
    uct_rsagg_channel_t *channel = ucs_container_of(self, uct_rsagg_channel_t,
                                                    inner_req);
    unsigned count               = 0;

    channel->inner_req_armed = 0;
    channel->in_inner_cb     = 1;
    uct_rsagg_channel_do_work(channel, &count);
    channel->in_inner_cb     = 0;

    if ((channel->open != NULL) &&
        !ucs_rsagg_builder_is_empty(&channel->builder)) {
        uct_rsagg_channel_schedule(channel); /* Leaves from progress */
    }

    /* Off the inner queue even with work left (the inner ep filled up
     * again, or a pending request declined): a transport may require that
     * a callback that stays queued has used its resources (tcp asserts it
     * when its send buffer is empty). rsagg's progress retries and re-arms
     * the request when the inner ep has no room. */
    if (uct_rsagg_channel_has_work(channel)) {
        uct_rsagg_channel_schedule(channel);
    }
    return UCS_OK;
}

unsigned uct_rsagg_channel_progress(uct_rsagg_channel_t *channel)
{
    unsigned count = 0;

    /* A batch that grew since the last progress stays open one more round:
     * its sender is still sending, unless it is older than the bound. One
     * that did not grow leaves now. */
    if (channel->active) {
        channel->active = 0;
        if ((ucs_get_time() - channel->open_time) <
            channel->iface->config.max_delay) {
            return 0;
        }
    }

    ucs_list_del(&channel->dispatch);
    ucs_list_head_init(&channel->dispatch);

    uct_rsagg_channel_do_work(channel, &count);
    if (channel->open != NULL) {
        /* A batch of several messages: the sender sends in bursts, and the
         * first message of its next burst joins a batch too (one inner
         * transfer per burst, not two). A batch of one: back to sending
         * the first message alone. */
        channel->burst = ucs_rsagg_builder_count(&channel->builder) > 1;
        /* Closed now, sent or queued behind the others: an open batch is
         * always on the dispatch list, so the fast path of appending to it
         * needs no check of its own */
        count += (uct_rsagg_channel_flush_batches(channel) == UCS_OK);
    }

    if (((channel->state == UCT_RSAGG_CHANNEL_CLOSING) &&
         !uct_rsagg_channel_has_batches(channel)) ||
        ((channel->state == UCT_RSAGG_CHANNEL_FAILED) &&
         (channel->refcount == 0))) {
        uct_rsagg_channel_destroy(channel);
        return count;
    }

    if ((uct_rsagg_channel_has_work(channel) ||
         uct_rsagg_channel_has_batches(channel)) &&
        (uct_rsagg_channel_arm(channel) != UCS_OK)) {
        /* The inner ep has room already: try again next time */
        uct_rsagg_channel_schedule(channel);
    }
    return count;
}

ucs_status_t uct_rsagg_channel_flush_batches(uct_rsagg_channel_t *channel)
{
    ucs_status_t status;

    /* The open batch is closed in any case, queued behind the others if
     * they cannot go now, so that no batch stays open without the channel
     * on the dispatch list */
    if (channel->open != NULL) {
        status = uct_rsagg_batch_close(channel);
        if (UCS_STATUS_IS_ERR(status) && (status != UCS_ERR_NO_RESOURCE)) {
            return status;
        }
    }

    status = uct_rsagg_batch_send_queued(channel);
    if (status == UCS_ERR_NO_RESOURCE) {
        /* Come back when the inner ep has room */
        if (uct_rsagg_channel_arm(channel) != UCS_OK) {
            uct_rsagg_channel_schedule(channel);
        }
    }
    return status;
}


typedef struct {
    ucs_queue_elem_t queue;
    uint32_t         sn;
    uct_completion_t *comp;
} uct_rsagg_flush_comp_t;

ucs_status_t uct_rsagg_channel_flush(uct_rsagg_channel_t *channel,
                                     uct_completion_t *comp)
{
    uct_rsagg_flush_comp_t *fcomp;
    ssize_t packed;

    if (channel->state == UCT_RSAGG_CHANNEL_FAILED) {
        return channel->status;
    }

    UCT_RSAGG_CHANNEL_ORDER(channel);

    if (channel->puts_unflushed) {
        /* Everything before the request is applied when the answer comes */
        packed = uct_rsagg_peer_send_request(channel->iface, channel->inner,
                                             UCS_RSAGG_CTRL_OP_FLUSH_REQ,
                                             channel->flush_req_sn + 1,
                                             channel->id);
        if (packed < 0) {
            if (packed == UCS_ERR_NO_RESOURCE) {
                uct_rsagg_channel_arm(channel);
            }
            return (ucs_status_t)packed;
        }
        ++channel->flush_req_sn;
        channel->puts_unflushed = 0;
    }

    if (channel->flush_ack_sn == channel->flush_req_sn) {
        return UCS_OK;
    }

    if (comp != NULL) {
        fcomp = ucs_malloc(sizeof(*fcomp), "rsagg_flush_comp");
        if (fcomp == NULL) {
            ucs_error("rsagg: failed to allocate a flush completion");
            return UCS_ERR_NO_MEMORY;
        }
        fcomp->sn   = channel->flush_req_sn;
        fcomp->comp = comp;
        ucs_queue_push(&channel->flush_comps, &fcomp->queue);
    }
    return UCS_INPROGRESS;
}

static void uct_rsagg_channel_complete_flushes(uct_rsagg_channel_t *channel,
                                               int all, ucs_status_t status)
{
    uct_rsagg_flush_comp_t *fcomp;

    while (!ucs_queue_is_empty(&channel->flush_comps)) {
        fcomp = ucs_queue_head_elem_non_empty(&channel->flush_comps,
                                              uct_rsagg_flush_comp_t, queue);
        if (!all &&
            UCS_CIRCULAR_COMPARE32(fcomp->sn, >, channel->flush_ack_sn)) {
            break;
        }
        ucs_queue_pull_non_empty(&channel->flush_comps);
        uct_invoke_completion(fcomp->comp, status);
        ucs_free(fcomp);
    }
}

void uct_rsagg_channel_flush_acked(uct_rsagg_channel_t *channel, uint32_t sn)
{
    if (UCS_CIRCULAR_COMPARE32(sn, >, channel->flush_req_sn) ||
        UCS_CIRCULAR_COMPARE32(sn, <=, channel->flush_ack_sn)) {
        ucs_debug("rsagg channel %p: stale flush ack %u (sent %u, acked %u)",
                  channel, sn, channel->flush_req_sn, channel->flush_ack_sn);
        return;
    }
    channel->flush_ack_sn = sn;
    uct_rsagg_channel_complete_flushes(channel, 0, UCS_OK);
}

void uct_rsagg_channel_fail(uct_rsagg_channel_t *channel, ucs_status_t status)
{
    if (status != UCS_ERR_CANCELED) {
        channel->state  = UCT_RSAGG_CHANNEL_FAILED;
        channel->status = status;
        uct_rsagg_channel_mark_unflushed(channel);
    }
    uct_rsagg_channel_complete_flushes(channel, 1, status);
}

uct_rsagg_channel_t *uct_rsagg_channel_find(uct_rsagg_iface_t *iface,
                                            uint32_t channel_id)
{
    uct_rsagg_channel_t *channel;

    ucs_list_for_each(channel, &iface->channels, list) {
        if (channel->id == channel_id) {
            return channel;
        }
    }
    return NULL;
}

static uct_rsagg_ep_t *
uct_rsagg_channel_unreported_ep(uct_rsagg_channel_t *channel)
{
    uct_rsagg_ep_t *ep;

    ucs_list_for_each(ep, &channel->eps, list) {
        if (!ep->error_reported) {
            return ep;
        }
    }
    return NULL;
}

ucs_status_t uct_rsagg_channel_inner_failed(void *arg, uct_ep_h inner_ep,
                                            ucs_status_t status)
{
    uct_rsagg_iface_t *iface = arg;
    uct_rsagg_channel_t *channel;
    uct_rsagg_ep_t *ep;
    ucs_status_t ret;

    channel = uct_rsagg_channel_find_inner(iface, inner_ep);
    if (channel == NULL) {
        /* A way back to a sender that is gone: nothing of the user's */
        ucs_debug("rsagg iface %p: error %s on unknown inner ep %p", iface,
                  ucs_status_string(status), inner_ep);
        return UCS_OK;
    }

    ucs_debug("rsagg iface %p: channel %p failed: %s", iface, channel,
              ucs_status_string(status));
    uct_rsagg_channel_fail(channel, status);
    if (channel->refcount == 0) {
        /* No ep left to tell: a closing channel, or one being destroyed
         * (its CLOSE can fail the inner ep inside the send) */
        return UCS_OK;
    }

    /* Every rsagg ep of the channel lost its peer, and is told once. The
     * user's handler may destroy any of them (and with the last one the
     * channel, which the reference held here keeps), so the list is looked
     * at afresh after each call. */
    ret = UCS_OK;
    ++channel->refcount;
    while ((ep = uct_rsagg_channel_unreported_ep(channel)) != NULL) {
        ep->error_reported = 1;
        if (uct_iface_handle_ep_err(&iface->super.super, &ep->super.super,
                                    status) != UCS_OK) {
            ret = status;
        }
    }
    uct_rsagg_channel_put(channel);
    return ret;
}
