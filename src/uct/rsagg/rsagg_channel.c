/**
 * rsagg channel: inner endpoint ownership and pending dispatch.
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_channel.h"
#include "rsagg_ep.h"
#include "rsagg_peer.h"
#include "rsagg_ring.h"

#include <uct/base/uct_iov.inl>

#include <ucs/debug/log.h>
#include <ucs/debug/memtrack_int.h>
#include <ucs/sys/math.h>
#include <string.h>


static ucs_status_t uct_rsagg_channel_dispatch_cb(uct_pending_req_t *self);
static ucs_status_t uct_rsagg_channel_send_queued(uct_rsagg_channel_t *channel);


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

ucs_status_t uct_rsagg_channel_get(uct_rsagg_iface_t *iface,
                                   const uct_ep_params_t *params,
                                   uct_rsagg_channel_t **channel_p)
{
    uct_rsagg_channel_t *channel;
    ucs_status_t status;
    size_t key_length;
    uint8_t *key;

    if (uct_rsagg_channel_is_shareable(iface, params)) {
        status = uct_rsagg_iface_check_addr(iface, params->iface_addr);
        if (status != UCS_OK) {
            return status;
        }

        key_length = uct_rsagg_channel_key(iface, params, NULL);
        key        = ucs_alloca(key_length);
        uct_rsagg_channel_key(iface, params, key);
        ucs_list_for_each(channel, &iface->channels, list) {
            if ((channel->key != NULL) &&
                (channel->key_length == key_length) &&
                !memcmp(channel->key, key, key_length) &&
                (channel->status == UCS_OK)) {
                /* A closing channel is taken back: what it still has to
                 * send stays ahead of the new ep's messages */
                channel->closing = 0;
                ++channel->refcount;
                *channel_p = channel;
                return UCS_OK;
            }
        }
    } else {
        key_length = 0;
        key        = NULL;
    }

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
    channel->direct_epoch   = iface->progress_epoch - 1;
    channel->bcopy_large    = 0;
    channel->iface          = iface;
    channel->refcount       = 1;
    channel->status         = UCS_OK;
    channel->inner_req.func = uct_rsagg_channel_dispatch_cb;
    ucs_list_head_init(&channel->eps);
    ucs_list_head_init(&channel->pending_eps);
    ucs_list_head_init(&channel->dispatch);
    ucs_queue_head_init(&channel->queued);
    ucs_queue_head_init(&channel->free);
    ucs_queue_head_init(&channel->flush_comps);
    ucs_list_add_tail(&iface->channels, &channel->list);
    ++iface->counters.channels;

    *channel_p = channel;
    return UCS_OK;
}

static void uct_rsagg_channel_free_batches(uct_rsagg_channel_t *channel)
{
    uct_rsagg_batch_t *batch;

    if (channel->open != NULL) {
        ucs_queue_push(&channel->free, &channel->open->queue);
        channel->open = NULL;
    }
    while (!ucs_queue_is_empty(&channel->queued)) {
        ucs_queue_push(&channel->free,
                       ucs_queue_pull_non_empty(&channel->queued));
    }
    while (!ucs_queue_is_empty(&channel->free)) {
        batch = ucs_queue_pull_elem_non_empty(&channel->free,
                                              uct_rsagg_batch_t, queue);
        if (batch->memh != UCT_MEM_HANDLE_NULL) {
            uct_md_mem_dereg(uct_rsagg_iface_md(channel->iface)->inner,
                             batch->memh);
        }
        ucs_free(batch);
    }
    channel->num_batches = 0;
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

    if ((channel->status != UCS_OK) ||
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
    uct_rsagg_channel_free_batches(channel);
    uct_rsagg_ring_tx_cleanup(channel);
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
        (channel->status == UCS_OK) &&
        (uct_rsagg_channel_flush_batches(channel) == UCS_ERR_NO_RESOURCE)) {
        channel->closing = 1;
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
        ucs_list_add_tail(&channel->iface->dispatch, &channel->dispatch);
        uct_rsagg_iface_request_progress(channel->iface);
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
        status = uct_rsagg_channel_send_queued(channel);
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
     * its sender is still sending. One that did not grow leaves now. */
    if (channel->active) {
        channel->active = 0;
        return 0;
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

    if (channel->closing && !uct_rsagg_channel_has_batches(channel)) {
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


static size_t uct_rsagg_channel_pack_batch(void *dest, void *arg)
{
    uct_rsagg_batch_t *batch = arg;

    memcpy(dest, batch->data, batch->length);
    return batch->length;
}

static size_t uct_rsagg_channel_pack_payload(void *dest, void *arg)
{
    uct_rsagg_batch_t *batch = arg;

    memcpy(dest, batch->payload, batch->payload_length);
    return batch->payload_length;
}

static ucs_status_t uct_rsagg_channel_send_msg(uct_rsagg_channel_t *channel,
                                               uint8_t am_id,
                                               uct_pack_callback_t pack_cb,
                                               uct_rsagg_batch_t *batch)
{
    ssize_t packed;

    packed = uct_ep_am_bcopy(channel->inner, am_id, pack_cb, batch, 0);
    if (ucs_likely(packed >= 0)) {
        channel->iface->counters.inner_bytes += packed;
        return UCS_OK;
    }

    if (packed != UCS_ERR_NO_RESOURCE) {
        /* The inner ep failed: its error handler reports it to the eps */
        ucs_debug("rsagg channel %p: transfer of %zu bytes lost: %s", channel,
                  batch->length, ucs_status_string((ucs_status_t)packed));
        ++channel->iface->counters.lost;
    }
    return (ucs_status_t)packed;
}

/* Hand one closed batch to the inner transport. Out-of-band, the payload
 * goes first and the table after it on the same inner ep (the AM lane), so
 * the receiver has the payload when the table tells it how to split it. */
static ucs_status_t uct_rsagg_channel_send_batch(uct_rsagg_channel_t *channel,
                                                 uct_rsagg_batch_t *batch)
{
    ucs_status_t status;

    if (batch->raw_id >= 0) {
        /* A message too large for a batch that had to wait its turn */
        status = uct_rsagg_channel_send_msg(channel, batch->raw_id,
                                            uct_rsagg_channel_pack_batch,
                                            batch);
    } else if (batch->payload == NULL) {
        status = uct_rsagg_channel_send_msg(channel, UCS_RSAGG_AM_ID_BATCH,
                                            uct_rsagg_channel_pack_batch,
                                            batch);
    } else {
        if (!batch->payload_sent) {
            status = batch->in_ring ?
                     uct_rsagg_ring_tx_put(channel, batch) :
                     uct_rsagg_channel_send_msg(channel,
                                                UCS_RSAGG_AM_ID_OOB_PAYLOAD,
                                                uct_rsagg_channel_pack_payload,
                                                batch);
            if (status != UCS_OK) {
                return status;
            }
            batch->payload_sent = 1;
        }
        status = uct_rsagg_channel_send_msg(channel, UCS_RSAGG_AM_ID_OOB_TABLE,
                                            uct_rsagg_channel_pack_batch,
                                            batch);
    }

    if (status == UCS_OK) {
        ++channel->iface->counters.transfers;
    }
    return status;
}

/* A batch that left: free again, unless the inner transport still reads
 * its payload (put_zcopy), then when that completes */
static void uct_rsagg_channel_batch_release(uct_rsagg_channel_t *channel,
                                            uct_rsagg_batch_t *batch)
{
    if (batch->put_inflight) {
        batch->done = 1;
    } else {
        ucs_queue_push(&channel->free, &batch->queue);
    }
}

static ucs_status_t uct_rsagg_channel_send_queued(uct_rsagg_channel_t *channel)
{
    uct_rsagg_batch_t *batch;
    ucs_status_t status;

    while (!ucs_queue_is_empty(&channel->queued)) {
        batch  = ucs_queue_head_elem_non_empty(&channel->queued,
                                               uct_rsagg_batch_t, queue);
        status = uct_rsagg_channel_send_batch(channel, batch);
        if (status == UCS_ERR_NO_RESOURCE) {
            return status;
        }
        /* Sent, or lost with the inner ep: either way it is done */
        ucs_queue_pull_non_empty(&channel->queued);
        uct_rsagg_channel_batch_release(channel, batch);
        if (status != UCS_OK) {
            return status;
        }
    }
    return UCS_OK;
}

/* Close the open batch: send it, or queue it behind the others */
static ucs_status_t uct_rsagg_channel_close_batch(uct_rsagg_channel_t *channel)
{
    uct_rsagg_batch_t *batch = channel->open;
    ucs_status_t status;

    channel->open = NULL;
    batch->length = ucs_rsagg_builder_finish(&channel->builder,
                                             &batch->payload_length);
    if (batch->length == 0) {
        ucs_queue_push(&channel->free, &batch->queue);
        return UCS_OK;
    }

    if (channel->iface->config.mux == UCT_RSAGG_MUX_AUTO) {
        /* auto: a large batch goes on the ring's data path, and so does the
         * next one, which is likely large too */
        channel->ring_next = channel->iface->config.ring_auto &&
                             ((batch->length + batch->payload_length) >=
                              channel->iface->config.auto_thresh);
    }

    if (ucs_queue_is_empty(&channel->queued)) {
        status = uct_rsagg_channel_send_batch(channel, batch);
        if (status != UCS_ERR_NO_RESOURCE) {
            uct_rsagg_channel_batch_release(channel, batch);
            return status;
        }
    }

    ucs_queue_push(&channel->queued, &batch->queue);
    return UCS_ERR_NO_RESOURCE;
}

ucs_status_t uct_rsagg_channel_flush_batches(uct_rsagg_channel_t *channel)
{
    ucs_status_t status;

    /* The open batch is closed in any case, queued behind the others if
     * they cannot go now, so that no batch stays open without the channel
     * on the dispatch list */
    if (channel->open != NULL) {
        status = uct_rsagg_channel_close_batch(channel);
        if (UCS_STATUS_IS_ERR(status) && (status != UCS_ERR_NO_RESOURCE)) {
            return status;
        }
    }

    status = uct_rsagg_channel_send_queued(channel);
    if (status == UCS_ERR_NO_RESOURCE) {
        /* Come back when the inner ep has room */
        if (uct_rsagg_channel_arm(channel) != UCS_OK) {
            uct_rsagg_channel_schedule(channel);
        }
    }
    return status;
}

/* Get a buffer for a new open batch, within UCX_RSAGG_BUFFER */
/* A batch buffer from the spares, or a new one within UCX_RSAGG_BUFFER */
static uct_rsagg_batch_t *
uct_rsagg_channel_get_buffer(uct_rsagg_channel_t *channel)
{
    uct_rsagg_iface_t *iface = channel->iface;
    int oob                  = uct_rsagg_iface_may_oob(iface);
    size_t size;
    uct_rsagg_batch_t *batch;

    if (!ucs_queue_is_empty(&channel->free)) {
        return ucs_queue_pull_elem_non_empty(&channel->free,
                                             uct_rsagg_batch_t, queue);
    }

    if (channel->num_batches >= channel->max_batches) {
        return NULL;
    }

    /* Out-of-band: table and payload, each up to one inner message; and
     * room for one message too large for a batch, to queue it */
    size  = ucs_max((oob ? 2 : 1) * iface->config.max_batch,
                    iface->config.max_bcopy);
    batch = ucs_malloc(sizeof(*batch) + size, "rsagg_batch");
    if (batch == NULL) {
        ucs_error("rsagg: failed to allocate a batch of %zu bytes", size);
        return NULL;
    }
    batch->channel      = channel;
    batch->memh         = UCT_MEM_HANDLE_NULL; /* Registered on first put */
    batch->put_inflight = 0;
    ++channel->num_batches;
    return batch;
}

static ucs_status_t uct_rsagg_channel_open_batch(uct_rsagg_channel_t *channel)
{
    uct_rsagg_iface_t *iface = channel->iface;
    size_t size              = iface->config.max_batch;
    uct_rsagg_batch_t *batch;
    ucs_status_t status;

    batch = uct_rsagg_channel_get_buffer(channel);
    if (batch == NULL) {
        return UCS_ERR_NO_RESOURCE;
    }

    batch->payload_sent = 0;
    batch->raw_id       = -1;
    batch->done         = 0;
    batch->in_ring      = 0;
    if ((iface->config.mux == UCT_RSAGG_MUX_OOB) || channel->ring_next) {
        uct_rsagg_ring_tx_request(channel);
    }
    if (uct_rsagg_ring_tx_usable(channel)) {
        /* The payload goes bare into our slice of the receiver's ring */
        batch->payload = batch->data + size;
        batch->in_ring = 1;
        status = ucs_rsagg_builder_init_oob(&channel->builder, batch->data,
                                            size, batch->payload, size,
                                            ++channel->seq,
                                            UCS_RSAGG_FLAG_PAYLOAD_IN_RING);
    } else if (iface->config.mux == UCT_RSAGG_MUX_OOB) {
        batch->payload = batch->data + size;
        status = ucs_rsagg_builder_init_oob(&channel->builder, batch->data,
                                            size, batch->payload, size,
                                            ++channel->seq, 0);
    } else {
        batch->payload = NULL;
        status = ucs_rsagg_builder_init(&channel->builder, batch->data, size,
                                        ++channel->seq);
    }
    ucs_assert(status == UCS_OK); /* max_batch >= 256 */

    channel->open = batch;
    uct_rsagg_channel_mark_unflushed(channel);
    return UCS_OK;
}

/* Make room for a record: close a full open batch, open a new one. On
 * UCS_ERR_NO_RESOURCE the caller's message was not taken. */
static ucs_status_t uct_rsagg_channel_make_room(uct_rsagg_channel_t *channel)
{
    ucs_status_t status;

    if (channel->open != NULL) {
        status = uct_rsagg_channel_close_batch(channel);
        if (UCS_STATUS_IS_ERR(status) && (status != UCS_ERR_NO_RESOURCE)) {
            return status;
        }
    }

    status = uct_rsagg_channel_open_batch(channel);
    if (status == UCS_ERR_NO_RESOURCE) {
        /* Buffer full: only what the inner takes now makes room */
        if (uct_rsagg_channel_send_queued(channel) == UCS_OK) {
            status = uct_rsagg_channel_open_batch(channel);
        }
        if (status == UCS_ERR_NO_RESOURCE) {
            uct_rsagg_channel_arm(channel);
        }
    }
    return status;
}

static UCS_F_ALWAYS_INLINE void
uct_rsagg_channel_appended(uct_rsagg_channel_t *channel, size_t length)
{
    channel->active = 1;
    ++channel->iface->counters.msgs;
    channel->iface->counters.bytes += length;
    uct_rsagg_channel_schedule(channel);
}

static int uct_rsagg_channel_has_spare(uct_rsagg_channel_t *channel)
{
    return !ucs_queue_is_empty(&channel->free) ||
           (channel->num_batches < channel->max_batches);
}

/* Before a message is packed: make sure that what is packed (at most
 * max_len bytes) can be taken, since a pack callback may have effects and
 * must not run for a message that then fails. Either it fits the open
 * batch, or a spare buffer is at hand (a new batch, or the queue slot of a
 * message too large for a batch). */
static ucs_status_t
uct_rsagg_channel_reserve_bcopy(uct_rsagg_channel_t *channel, uint32_t ep_id,
                                size_t max_len, int put)
{
    ssize_t room;

    if (channel->open == NULL) {
        return uct_rsagg_channel_make_room(channel);
    }

    room = put ? ucs_rsagg_builder_put_max_length(&channel->builder, ep_id) :
                 ucs_rsagg_builder_am_max_length(&channel->builder, ep_id);
    if ((room >= (ssize_t)max_len) || uct_rsagg_channel_has_spare(channel)) {
        return UCS_OK;
    }

    /* What the inner ep takes now frees buffers */
    if ((uct_rsagg_channel_send_queued(channel) == UCS_OK) &&
        uct_rsagg_channel_has_spare(channel)) {
        return UCS_OK;
    }

    uct_rsagg_channel_arm(channel);
    return UCS_ERR_NO_RESOURCE;
}

/* After reserve_bcopy: the open batch to append to (a spare becomes it) */
static UCS_F_ALWAYS_INLINE void
uct_rsagg_channel_reserved_open(uct_rsagg_channel_t *channel)
{
    ucs_status_t UCS_V_UNUSED status;

    if (channel->open == NULL) {
        status = uct_rsagg_channel_make_room(channel);
        ucs_assert(status == UCS_OK);
    }
}

ucs_status_t uct_rsagg_channel_am_short_slow(uct_rsagg_channel_t *channel,
                                             uint32_t ep_id, uint8_t id,
                                             uint64_t header,
                                             const void *payload,
                                             unsigned length)
{
    ucs_status_t status;

    if (uct_rsagg_channel_send_direct(channel) ||
        (sizeof(header) + length > channel->iface->config.max_batch / 2)) {
        /* Large for a batch: it goes alone, after what is batched */
        UCT_RSAGG_CHANNEL_ORDER(channel);
        status = uct_ep_am_short(channel->inner, id, header, payload, length);
        if (status == UCS_OK) {
            uct_rsagg_channel_sent_direct(channel, sizeof(header) + length);
        }
        return status;
    }

    status = uct_rsagg_channel_make_room(channel);
    if (status != UCS_OK) {
        return status;
    }

    status = ucs_rsagg_builder_add_am_short(&channel->builder, ep_id, id,
                                            header, payload, length);
    ucs_assert(status == UCS_OK); /* An empty batch holds max_batch / 2 */
    uct_rsagg_channel_appended(channel, sizeof(header) + length);
    return status;
}

typedef struct {
    const void *data;
    size_t     length;
} uct_rsagg_channel_pack_arg_t;

static size_t uct_rsagg_channel_pack_buffer(void *dest, void *arg)
{
    uct_rsagg_channel_pack_arg_t *pack = arg;

    memcpy(dest, pack->data, pack->length);
    return pack->length;
}

/* A packed message too large for a batch goes alone, after everything
 * batched before it: now if the inner ep takes it, else queued behind the
 * batches in the spare buffer that reserve_bcopy made sure of */
static ssize_t uct_rsagg_channel_send_large(uct_rsagg_channel_t *channel,
                                            uint8_t id, size_t length)
{
    uct_rsagg_iface_t *iface = channel->iface;
    uct_rsagg_channel_pack_arg_t pack;
    uct_rsagg_batch_t *batch;
    ucs_status_t status;
    ssize_t sent;

    status = uct_rsagg_channel_flush_batches(channel);
    if (status == UCS_OK) {
        pack.data   = iface->scratch;
        pack.length = length;
        sent        = uct_ep_am_bcopy(channel->inner, id,
                                      uct_rsagg_channel_pack_buffer, &pack,
                                      0);
        if (sent >= 0) {
            uct_rsagg_channel_sent_direct(channel, sent);
            return sent;
        }
        status = (ucs_status_t)sent;
    }

    if (status != UCS_ERR_NO_RESOURCE) {
        return status; /* The inner ep failed */
    }

    batch = uct_rsagg_channel_get_buffer(channel);
    ucs_assert(batch != NULL); /* Reserved */
    batch->raw_id       = id;
    batch->payload      = NULL;
    batch->in_ring      = 0;
    batch->done         = 0;
    batch->payload_sent = 0;
    batch->length       = length;
    memcpy(batch->data, iface->scratch, length);
    ucs_queue_push(&channel->queued, &batch->queue);
    uct_rsagg_channel_mark_unflushed(channel);
    ++iface->counters.msgs;
    iface->counters.bytes += length;
    if (uct_rsagg_channel_arm(channel) != UCS_OK) {
        uct_rsagg_channel_schedule(channel);
    }
    return length;
}

/* An am_bcopy packed by the inner transport itself, sent alone */
static ssize_t uct_rsagg_channel_bcopy_alone(uct_rsagg_channel_t *channel,
                                             uint8_t id,
                                             uct_pack_callback_t pack_cb,
                                             void *arg, unsigned flags)
{
    ssize_t packed = uct_ep_am_bcopy(channel->inner, id, pack_cb, arg, flags);

    if (packed >= 0) {
        channel->bcopy_large = (size_t)packed >
                               channel->iface->config.small_max;
        uct_rsagg_channel_sent_direct(channel, packed);
    }
    return packed;
}

ssize_t uct_rsagg_channel_am_bcopy(uct_rsagg_channel_t *channel,
                                   uint32_t ep_id, uint8_t id,
                                   uct_pack_callback_t pack_cb, void *arg,
                                   unsigned flags)
{
    uct_rsagg_iface_t *iface = channel->iface;
    ucs_status_t status;
    ssize_t packed;

    if (uct_rsagg_channel_send_direct(channel)) {
        return uct_rsagg_channel_bcopy_alone(channel, id, pack_cb, arg, flags);
    }

    /* The last am_bcopy was too large for a batch: expect another one, and
     * let the inner transport pack it into its own buffer, after what is
     * batched (one copy instead of two). If the inner ep has no room, it
     * is packed aside and queued below, as any large one. */
    if (channel->bcopy_large) {
        status = uct_rsagg_channel_has_batches(channel) ?
                 uct_rsagg_channel_flush_batches(channel) : UCS_OK;
        if (status == UCS_OK) {
            packed = uct_rsagg_channel_bcopy_alone(channel, id, pack_cb, arg,
                                                   flags);
            if (packed >= 0) {
                return packed;
            }
            status = (ucs_status_t)packed;
        }
        if (status != UCS_ERR_NO_RESOURCE) {
            return status;
        }
    }

    status = uct_rsagg_channel_reserve_bcopy(channel, ep_id,
                                             iface->config.max_bcopy, 0);
    if (status != UCS_OK) {
        return status;
    }

    /* The length is known only after packing: pack aside, then copy into
     * the batch, so that batches fill up to their end */
    packed = pack_cb(iface->scratch, arg);
    ucs_assertv((size_t)packed <= iface->config.max_bcopy,
                "packed=%zd max_bcopy=%zu", packed, iface->config.max_bcopy);
    channel->bcopy_large = (size_t)packed > iface->config.small_max;
    if (channel->bcopy_large) {
        return uct_rsagg_channel_send_large(channel, id, packed);
    }
    uct_rsagg_channel_reserved_open(channel);

    status = ucs_rsagg_builder_add_am(&channel->builder, ep_id, id,
                                      iface->scratch, packed);
    if (status == UCS_ERR_EXCEEDS_LIMIT) {
        status = uct_rsagg_channel_make_room(channel);
        ucs_assert(status == UCS_OK); /* Reserved above */
        status = ucs_rsagg_builder_add_am(&channel->builder, ep_id, id,
                                          iface->scratch, packed);
    }
    ucs_assert(status == UCS_OK);

    uct_rsagg_channel_appended(channel, packed);
    return packed;
}

static int uct_rsagg_channel_zcopy_length(uct_rsagg_iface_t *iface,
                                          unsigned header_length,
                                          const uct_iov_t *iov, size_t iovcnt,
                                          size_t *length_p)
{
    size_t length = header_length;
    size_t i;

    for (i = 0; i < iovcnt; ++i) {
        if (iov[i].count > 1) {
            return 0; /* Strided: leave it to the inner transport */
        }
        length += uct_iov_get_length(&iov[i]);
    }

    *length_p = length;
    return length <= ucs_min(iface->config.zcopy_thresh,
                             iface->config.small_max);
}

/* A small zero-copy message is copied into the batch like a bcopy one, and
 * is then complete (UCS_OK, the completion is not called); a larger one, or
 * one on an idle channel, goes out as the inner transport's zero-copy, after
 * what is batched. */
ucs_status_t uct_rsagg_channel_am_zcopy(uct_rsagg_channel_t *channel,
                                        uint32_t ep_id, uint8_t id,
                                        const void *header,
                                        unsigned header_length,
                                        const uct_iov_t *iov, size_t iovcnt,
                                        unsigned flags, uct_completion_t *comp)
{
    uct_rsagg_iface_t *iface = channel->iface;
    ucs_status_t status;
    uint8_t *data;
    size_t i, length, iov_length;

    if (uct_rsagg_channel_send_direct(channel) ||
        !uct_rsagg_channel_zcopy_length(iface, header_length, iov, iovcnt,
                                        &length)) {
        UCT_RSAGG_CHANNEL_ORDER(channel);
        status = uct_ep_am_zcopy(channel->inner, id, header, header_length,
                                 iov, iovcnt, flags, comp);
        if (!UCS_STATUS_IS_ERR(status)) {
            uct_rsagg_channel_sent_direct(channel,
                                          header_length +
                                          uct_iov_total_length(iov, iovcnt));
        }
        return status;
    }

    status = uct_rsagg_channel_reserve_bcopy(channel, ep_id, length, 0);
    if (status != UCS_OK) {
        return status;
    }
    uct_rsagg_channel_reserved_open(channel);

    status = ucs_rsagg_builder_am_begin(&channel->builder, ep_id, id, length,
                                        (void**)&data);
    if (status == UCS_ERR_EXCEEDS_LIMIT) {
        status = uct_rsagg_channel_make_room(channel);
        ucs_assert(status == UCS_OK); /* Reserved above */
        status = ucs_rsagg_builder_am_begin(&channel->builder, ep_id, id,
                                            length, (void**)&data);
    }
    ucs_assert(status == UCS_OK);

    if (header_length > 0) { /* header may be NULL then */
        memcpy(data, header, header_length);
        data += header_length;
    }
    for (i = 0; i < iovcnt; ++i) {
        iov_length = uct_iov_get_length(&iov[i]);
        if (iov_length > 0) {
            memcpy(data, iov[i].buffer, iov_length);
        }
        data += iov_length;
    }
    status = ucs_rsagg_builder_commit(&channel->builder, length);
    ucs_assert(status == UCS_OK);

    uct_rsagg_channel_appended(channel, length);
    return UCS_OK;
}


/* A put is applied by the receiving rsagg: the record names the region by
 * the id in the rkey, and the receiver checks the target against it */
ucs_status_t uct_rsagg_channel_put_short(uct_rsagg_channel_t *channel,
                                         uint32_t ep_id, const void *buffer,
                                         unsigned length, uint64_t remote_addr,
                                         uct_rkey_t rkey)
{
    uint32_t region_id = ((uct_rsagg_rkey_t*)rkey)->region_id;
    int idle           = uct_rsagg_channel_send_direct(channel);
    ucs_status_t status;

    status = uct_rsagg_channel_reserve_bcopy(channel, ep_id, length, 1);
    if (status != UCS_OK) {
        return status;
    }
    uct_rsagg_channel_reserved_open(channel);

    status = ucs_rsagg_builder_add_put(&channel->builder, ep_id, region_id,
                                       remote_addr, buffer, length);
    if (status == UCS_ERR_EXCEEDS_LIMIT) {
        status = uct_rsagg_channel_make_room(channel);
        ucs_assert(status == UCS_OK); /* Reserved above */
        status = ucs_rsagg_builder_add_put(&channel->builder, ep_id,
                                           region_id, remote_addr, buffer,
                                           length);
    }
    ucs_assert(status == UCS_OK);

    uct_rsagg_channel_appended(channel, length);
    channel->puts_unflushed = 1;
    uct_rsagg_channel_mark_unflushed(channel);
    if (idle) {
        /* A lone put leaves at once, as a one-record transfer: the inner
         * transport has no put of its own to send it alone */
        channel->active       = 0;
        channel->direct_epoch = channel->iface->progress_epoch;
        uct_rsagg_channel_flush_batches(channel);
    }
    return UCS_OK;
}

ssize_t uct_rsagg_channel_put_bcopy(uct_rsagg_channel_t *channel,
                                    uint32_t ep_id, uct_pack_callback_t pack_cb,
                                    void *arg, uint64_t remote_addr,
                                    uct_rkey_t rkey)
{
    uct_rsagg_iface_t *iface = channel->iface;
    ucs_status_t status;
    size_t packed;

    status = uct_rsagg_channel_reserve_bcopy(channel, ep_id,
                                             iface->config.small_max, 1);
    if (status != UCS_OK) {
        return status;
    }

    packed = pack_cb(iface->scratch, arg);
    ucs_assertv(packed <= iface->config.small_max,
                "packed=%zu max put_bcopy=%zu", packed,
                iface->config.small_max);
    status = uct_rsagg_channel_put_short(channel, ep_id, iface->scratch,
                                         packed, remote_addr, rkey);
    ucs_assert(status == UCS_OK); /* Reserved above */
    return packed;
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

    if (channel->status != UCS_OK) {
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

void uct_rsagg_channel_flush_acked(uct_rsagg_iface_t *iface,
                                   uint32_t channel_id, uint32_t sn)
{
    uct_rsagg_channel_t *channel;

    ucs_list_for_each(channel, &iface->channels, list) {
        if (channel->id != channel_id) {
            continue;
        }
        if (UCS_CIRCULAR_COMPARE32(sn, >, channel->flush_req_sn) ||
            UCS_CIRCULAR_COMPARE32(sn, <=, channel->flush_ack_sn)) {
            ucs_debug("rsagg channel %p: stale flush ack %u (sent %u, "
                      "acked %u)", channel, sn, channel->flush_req_sn,
                      channel->flush_ack_sn);
            return;
        }
        channel->flush_ack_sn = sn;
        uct_rsagg_channel_complete_flushes(channel, 0, UCS_OK);
        return;
    }
    ucs_debug("rsagg iface %p: flush ack for unknown channel %u", iface,
              channel_id);
}

void uct_rsagg_channel_fail(uct_rsagg_channel_t *channel, ucs_status_t status)
{
    if (status != UCS_ERR_CANCELED) {
        channel->status = status;
        uct_rsagg_channel_mark_unflushed(channel);
    }
    uct_rsagg_channel_complete_flushes(channel, 1, status);
}
