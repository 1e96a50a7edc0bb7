/**
 * rsagg batch: a channel's batch buffers and how a batch goes to the inner
 * transport (see rsagg_batch.h).
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_channel.h"

#include <ucs/debug/log.h>
#include <ucs/debug/memtrack_int.h>
#include <ucs/sys/math.h>
#include <string.h>


/* A put_zcopy of a ring payload completed: the buffer is free once the
 * batch has left too */
static void uct_rsagg_batch_put_done(uct_completion_t *self)
{
    uct_rsagg_batch_t *batch = ucs_container_of(self, uct_rsagg_batch_t,
                                                put_comp);

    batch->put_inflight = 0;
    if (batch->done) {
        ucs_queue_push(&batch->channel->free, &batch->queue);
    }
}

/* A batch buffer from the spares, or a new one within UCX_RSAGG_BUFFER */
static uct_rsagg_batch_t *
uct_rsagg_batch_get_buffer(uct_rsagg_channel_t *channel)
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
    batch->channel       = channel;
    batch->memh          = UCT_MEM_HANDLE_NULL; /* Registered on first put */
    batch->put_inflight  = 0;
    batch->put_comp.func = uct_rsagg_batch_put_done;
    ++channel->num_batches;
    return batch;
}

int uct_rsagg_batch_has_spare(uct_rsagg_channel_t *channel)
{
    return !ucs_queue_is_empty(&channel->free) ||
           (channel->num_batches < channel->max_batches);
}

/* The form of the next batch: embedded, or out-of-band with the payload
 * in the receiver's ring (when granted) or as an AM (mux=oob only: auto
 * never sends an AM payload, which costs a second inner message and saves
 * nothing) */
static uct_rsagg_batch_kind_t
uct_rsagg_batch_form(uct_rsagg_channel_t *channel)
{
    uct_rsagg_iface_t *iface = channel->iface;

    if ((iface->config.mux == UCT_RSAGG_MUX_OOB) || channel->ring_next) {
        uct_rsagg_ring_tx_request(&channel->ring, iface, channel->inner,
                                  channel->id, channel->key != NULL);
    }
    if (uct_rsagg_ring_tx_usable(&channel->ring, iface, channel->ring_next)) {
        return UCT_RSAGG_BATCH_OOB_RING;
    }
    return (iface->config.mux == UCT_RSAGG_MUX_OOB) ?
           UCT_RSAGG_BATCH_OOB : UCT_RSAGG_BATCH_EMBEDDED;
}

ucs_status_t uct_rsagg_batch_open(uct_rsagg_channel_t *channel)
{
    size_t size = channel->iface->config.max_batch;
    uct_rsagg_batch_t *batch;
    ucs_status_t status;

    batch = uct_rsagg_batch_get_buffer(channel);
    if (batch == NULL) {
        return UCS_ERR_NO_RESOURCE;
    }

    batch->kind         = uct_rsagg_batch_form(channel);
    batch->payload_sent = 0;
    batch->done         = 0;
    if (batch->kind == UCT_RSAGG_BATCH_EMBEDDED) {
        batch->payload = NULL;
        status = ucs_rsagg_builder_init(&channel->builder, batch->data, size,
                                        ++channel->seq);
    } else {
        /* The payload goes bare into our slice of the receiver's ring, or
         * as an AM after the table's buffer */
        batch->payload = batch->data + size;
        status = ucs_rsagg_builder_init_oob(
                &channel->builder, batch->data, size, batch->payload, size,
                                            ++channel->seq,
                (batch->kind == UCT_RSAGG_BATCH_OOB_RING) ?
                UCS_RSAGG_FLAG_PAYLOAD_IN_RING : 0);
    }
    ucs_assert(status == UCS_OK); /* max_batch >= 256 */

    channel->open      = batch;
    channel->open_time = ucs_get_time();
    uct_rsagg_channel_mark_unflushed(channel);
    return UCS_OK;
}

static size_t uct_rsagg_batch_pack(void *dest, void *arg)
{
    uct_rsagg_batch_t *batch = arg;

    memcpy(dest, batch->data, batch->length);
    return batch->length;
}

static size_t uct_rsagg_batch_pack_payload(void *dest, void *arg)
{
    uct_rsagg_batch_t *batch = arg;

    memcpy(dest, batch->payload, batch->payload_length);
    return batch->payload_length;
}

static ucs_status_t uct_rsagg_batch_send_msg(uct_rsagg_channel_t *channel,
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

/* Out-of-band, the payload goes first and the table after it on the same
 * inner ep (the AM lane), so the receiver has the payload when the table
 * tells it how to split it */
static ucs_status_t uct_rsagg_batch_send_oob(uct_rsagg_channel_t *channel,
                                             uct_rsagg_batch_t *batch)
{
    ucs_status_t status;

    if (!batch->payload_sent) {
        status = (batch->kind == UCT_RSAGG_BATCH_OOB_RING) ?
                 uct_rsagg_ring_tx_put(&channel->ring, channel->iface,
                                       channel->inner, batch) :
                 uct_rsagg_batch_send_msg(channel,
                                          UCS_RSAGG_AM_ID_OOB_PAYLOAD,
                                          uct_rsagg_batch_pack_payload, batch);
        if (status != UCS_OK) {
            return status;
        }
        batch->payload_sent = 1;
    }
    return uct_rsagg_batch_send_msg(channel, UCS_RSAGG_AM_ID_OOB_TABLE,
                                    uct_rsagg_batch_pack, batch);
}

/* Hand one closed batch to the inner transport */
static ucs_status_t uct_rsagg_batch_send(uct_rsagg_channel_t *channel,
                                         uct_rsagg_batch_t *batch)
{
    ucs_status_t status;

    switch (batch->kind) {
    case UCT_RSAGG_BATCH_ALONE:
        status = uct_rsagg_batch_send_msg(channel, batch->am_id,
                                          uct_rsagg_batch_pack, batch);
        break;
    case UCT_RSAGG_BATCH_EMBEDDED:
        status = uct_rsagg_batch_send_msg(channel, UCS_RSAGG_AM_ID_BATCH,
                                          uct_rsagg_batch_pack, batch);
        break;
    default:
        status = uct_rsagg_batch_send_oob(channel, batch);
        break;
    }

    if (status == UCS_OK) {
        ++channel->iface->counters.transfers;
    }
    return status;
}

/* A batch that left: free again, unless the inner transport still reads
 * its payload (put_zcopy), then when that completes */
static void uct_rsagg_batch_release(uct_rsagg_channel_t *channel,
                                    uct_rsagg_batch_t *batch)
{
    if (batch->put_inflight) {
        batch->done = 1;
    } else {
        ucs_queue_push(&channel->free, &batch->queue);
    }
}

ucs_status_t uct_rsagg_batch_send_queued(uct_rsagg_channel_t *channel)
{
    uct_rsagg_batch_t *batch;
    ucs_status_t status;

    while (!ucs_queue_is_empty(&channel->queued)) {
        batch  = ucs_queue_head_elem_non_empty(&channel->queued,
                                               uct_rsagg_batch_t, queue);
        status = uct_rsagg_batch_send(channel, batch);
        if (status == UCS_ERR_NO_RESOURCE) {
            return status;
        }
        /* Sent, or lost with the inner ep: either way it is done */
        ucs_queue_pull_non_empty(&channel->queued);
        uct_rsagg_batch_release(channel, batch);
        if (status != UCS_OK) {
            return status;
        }
    }
    return UCS_OK;
}

ucs_status_t uct_rsagg_batch_close(uct_rsagg_channel_t *channel)
{
    uct_rsagg_batch_t *batch = channel->open;
    uct_rsagg_iface_t *iface = channel->iface;
    ucs_status_t status;

    channel->open = NULL;
    batch->length = ucs_rsagg_builder_finish(&channel->builder,
                                             &batch->payload_length);
    if (batch->length == 0) {
        ucs_queue_push(&channel->free, &batch->queue);
        return UCS_OK;
    }

    if (iface->config.mux == UCT_RSAGG_MUX_AUTO) {
        /* auto: a large batch goes on the ring's data path, and so does the
         * next one, which is likely large too */
        channel->ring_next = iface->config.ring_auto &&
                             ((batch->length + batch->payload_length) >=
                              iface->config.auto_thresh);
    }

    if (ucs_queue_is_empty(&channel->queued)) {
        status = uct_rsagg_batch_send(channel, batch);
        if (status != UCS_ERR_NO_RESOURCE) {
            uct_rsagg_batch_release(channel, batch);
            return status;
        }
    }

    ucs_queue_push(&channel->queued, &batch->queue);
    return UCS_ERR_NO_RESOURCE;
}

void uct_rsagg_batch_queue_alone(uct_rsagg_channel_t *channel, uint8_t am_id,
                                 const void *data, size_t length)
{
    uct_rsagg_batch_t *batch = uct_rsagg_batch_get_buffer(channel);

    ucs_assert(batch != NULL); /* Reserved by the caller */
    batch->kind         = UCT_RSAGG_BATCH_ALONE;
    batch->am_id        = am_id;
    batch->payload      = NULL;
    batch->done         = 0;
    batch->payload_sent = 0;
    batch->length       = length;
    memcpy(batch->data, data, length);
    ucs_queue_push(&channel->queued, &batch->queue);
    uct_rsagg_channel_mark_unflushed(channel);
}

void uct_rsagg_batch_free_all(uct_rsagg_channel_t *channel)
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
