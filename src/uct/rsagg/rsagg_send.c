/**
 * rsagg send: the aggregated operations of a channel. A message goes out
 * alone when the channel is idle (uct_rsagg_channel_send_direct), else it is
 * appended to the open batch; a message too large for a batch goes alone
 * after what is batched. Each function here returns UCS_OK (or the packed
 * length) only when the message was taken: copied into a batch, handed to
 * the inner transport, or queued in a buffer reserved for it.
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_send.h"

#include <uct/base/uct_iov.inl>

#include <ucs/debug/log.h>
#include <ucs/sys/math.h>
#include <string.h>


/* Make room for a record: close a full open batch, open a new one. On
 * UCS_ERR_NO_RESOURCE the caller's message was not taken. */
static ucs_status_t uct_rsagg_send_make_room(uct_rsagg_channel_t *channel)
{
    ucs_status_t status;

    if (channel->open != NULL) {
        status = uct_rsagg_batch_close(channel);
        if (UCS_STATUS_IS_ERR(status) && (status != UCS_ERR_NO_RESOURCE)) {
            return status;
        }
    }

    status = uct_rsagg_batch_open(channel);
    if (status == UCS_ERR_NO_RESOURCE) {
        /* Buffer full: only what the inner takes now makes room */
        if (uct_rsagg_batch_send_queued(channel) == UCS_OK) {
            status = uct_rsagg_batch_open(channel);
        }
        if (status == UCS_ERR_NO_RESOURCE) {
            uct_rsagg_channel_arm(channel);
        }
    }
    return status;
}

static UCS_F_ALWAYS_INLINE void
uct_rsagg_send_appended(uct_rsagg_channel_t *channel, size_t length)
{
    channel->active = 1;
    ++channel->iface->counters.msgs;
    channel->iface->counters.bytes += length;
    uct_rsagg_channel_schedule(channel);
}

/* Before a message is packed: make sure that what is packed (at most
 * max_len bytes) can be taken, since a pack callback may have effects and
 * must not run for a message that then fails. Either it fits the open
 * batch, or a spare buffer is at hand (a new batch, or the queue slot of a
 * message too large for a batch). */
static ucs_status_t
uct_rsagg_send_reserve_bcopy(uct_rsagg_channel_t *channel, uint32_t ep_id,
                             size_t max_len, int put)
{
    ssize_t room;

    if (channel->open == NULL) {
        return uct_rsagg_send_make_room(channel);
    }

    room = put ? ucs_rsagg_builder_put_max_length(&channel->builder, ep_id) :
                 ucs_rsagg_builder_am_max_length(&channel->builder, ep_id);
    if ((room >= (ssize_t)max_len) || uct_rsagg_batch_has_spare(channel)) {
        return UCS_OK;
    }

    /* What the inner ep takes now frees buffers */
    if ((uct_rsagg_batch_send_queued(channel) == UCS_OK) &&
        uct_rsagg_batch_has_spare(channel)) {
        return UCS_OK;
    }

    uct_rsagg_channel_arm(channel);
    return UCS_ERR_NO_RESOURCE;
}

/* After reserve_bcopy: the open batch to append to (a spare becomes it) */
static UCS_F_ALWAYS_INLINE void
uct_rsagg_send_reserved_open(uct_rsagg_channel_t *channel)
{
    ucs_status_t UCS_V_UNUSED status;

    if (channel->open == NULL) {
        status = uct_rsagg_send_make_room(channel);
        ucs_assert(status == UCS_OK);
    }
}

ucs_status_t uct_rsagg_send_am_short_slow(uct_rsagg_channel_t *channel,
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

    status = uct_rsagg_send_make_room(channel);
    if (status != UCS_OK) {
        return status;
    }

    status = ucs_rsagg_builder_add_am_short(&channel->builder, ep_id, id,
                                            header, payload, length);
    ucs_assert(status == UCS_OK); /* An empty batch holds max_batch / 2 */
    uct_rsagg_send_appended(channel, sizeof(header) + length);
    return status;
}

typedef struct {
    const void *data;
    size_t     length;
} uct_rsagg_send_pack_arg_t;

static size_t uct_rsagg_send_pack_buffer(void *dest, void *arg)
{
    uct_rsagg_send_pack_arg_t *pack = arg;

    memcpy(dest, pack->data, pack->length);
    return pack->length;
}

/* A packed message too large for a batch goes alone, after everything
 * batched before it: now if the inner ep takes it, else queued behind the
 * batches in the spare buffer that reserve_bcopy made sure of */
static ssize_t uct_rsagg_send_large(uct_rsagg_channel_t *channel,
                                    uint8_t id, size_t length)
{
    uct_rsagg_iface_t *iface = channel->iface;
    uct_rsagg_send_pack_arg_t pack;
    ucs_status_t status;
    ssize_t sent;

    status = uct_rsagg_channel_flush_batches(channel);
    if (status == UCS_OK) {
        pack.data   = iface->scratch;
        pack.length = length;
        sent        = uct_ep_am_bcopy(channel->inner, id,
                                      uct_rsagg_send_pack_buffer, &pack,
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

    uct_rsagg_batch_queue_alone(channel, id, iface->scratch, length);
    ++iface->counters.msgs;
    iface->counters.bytes += length;
    if (uct_rsagg_channel_arm(channel) != UCS_OK) {
        uct_rsagg_channel_schedule(channel);
    }
    return length;
}

/* An am_bcopy packed by the inner transport itself, sent alone */
static ssize_t uct_rsagg_send_bcopy_alone(uct_rsagg_channel_t *channel,
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

ssize_t uct_rsagg_send_am_bcopy(uct_rsagg_channel_t *channel,
                                uint32_t ep_id, uint8_t id,
                                uct_pack_callback_t pack_cb, void *arg,
                                unsigned flags)
{
    uct_rsagg_iface_t *iface = channel->iface;
    ucs_status_t status;
    ssize_t packed;

    if (uct_rsagg_channel_send_direct(channel)) {
        return uct_rsagg_send_bcopy_alone(channel, id, pack_cb, arg, flags);
    }

    /* The last am_bcopy was too large for a batch: expect another one, and
     * let the inner transport pack it into its own buffer, after what is
     * batched (one copy instead of two). If the inner ep has no room, it
     * is packed aside and queued below, as any large one. */
    if (channel->bcopy_large) {
        status = uct_rsagg_channel_has_batches(channel) ?
                 uct_rsagg_channel_flush_batches(channel) : UCS_OK;
        if (status == UCS_OK) {
            packed = uct_rsagg_send_bcopy_alone(channel, id, pack_cb, arg,
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

    status = uct_rsagg_send_reserve_bcopy(channel, ep_id,
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
        return uct_rsagg_send_large(channel, id, packed);
    }
    uct_rsagg_send_reserved_open(channel);

    status = ucs_rsagg_builder_add_am(&channel->builder, ep_id, id,
                                      iface->scratch, packed);
    if (status == UCS_ERR_EXCEEDS_LIMIT) {
        status = uct_rsagg_send_make_room(channel);
        ucs_assert(status == UCS_OK); /* Reserved above */
        status = ucs_rsagg_builder_add_am(&channel->builder, ep_id, id,
                                          iface->scratch, packed);
    }
    ucs_assert(status == UCS_OK);

    uct_rsagg_send_appended(channel, packed);
    return packed;
}

static int uct_rsagg_send_zcopy_length(uct_rsagg_iface_t *iface,
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

/* A zero-copy message sent alone: the inner transport's own, from the
 * caller's buffers, with the inner memory handles of rsagg's */
static ucs_status_t
uct_rsagg_send_zcopy_alone(uct_rsagg_channel_t *channel, uint8_t id,
                           const void *header, unsigned header_length,
                           const uct_iov_t *iov, size_t iovcnt,
                           unsigned flags, uct_completion_t *comp)
{
    uct_iov_t *inner_iov = ucs_alloca(iovcnt * sizeof(*inner_iov));
    ucs_status_t status;

    uct_rsagg_md_iov_inner(iov, iovcnt, inner_iov);
    ucs_assert(uct_rsagg_md_iov_is_inner(uct_rsagg_iface_md(channel->iface),
                                         inner_iov, iovcnt));
    status = uct_ep_am_zcopy(channel->inner, id, header, header_length,
                             inner_iov, iovcnt, flags, comp);
    if (!UCS_STATUS_IS_ERR(status)) {
        uct_rsagg_channel_sent_direct(channel,
                                      header_length +
                                      uct_iov_total_length(iov, iovcnt));
    }
    return status;
}

/* A small zero-copy message is copied into the batch like a bcopy one, and
 * is then complete (UCS_OK, the completion is not called); a larger one, or
 * one on an idle channel, goes out as the inner transport's zero-copy, after
 * what is batched. */
ucs_status_t uct_rsagg_send_am_zcopy(uct_rsagg_channel_t *channel,
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
        !uct_rsagg_send_zcopy_length(iface, header_length, iov, iovcnt,
                                     &length)) {
        UCT_RSAGG_CHANNEL_ORDER(channel);
        return uct_rsagg_send_zcopy_alone(channel, id, header, header_length,
                                          iov, iovcnt, flags, comp);
    }

    status = uct_rsagg_send_reserve_bcopy(channel, ep_id, length, 0);
    if (status != UCS_OK) {
        return status;
    }
    uct_rsagg_send_reserved_open(channel);

    status = ucs_rsagg_builder_am_begin(&channel->builder, ep_id, id, length,
                                        (void**)&data);
    if (status == UCS_ERR_EXCEEDS_LIMIT) {
        status = uct_rsagg_send_make_room(channel);
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

    uct_rsagg_send_appended(channel, length);
    return UCS_OK;
}

/* A put is applied by the receiving rsagg: the record names the region by
 * the id in the rkey, and the receiver checks the target against it */
ucs_status_t uct_rsagg_send_put_short(uct_rsagg_channel_t *channel,
                                      uint32_t ep_id, const void *buffer,
                                      unsigned length, uint64_t remote_addr,
                                      uct_rkey_t rkey)
{
    uint32_t region_id = ((uct_rsagg_rkey_t*)rkey)->region_id;
    int idle           = uct_rsagg_channel_send_direct(channel);
    ucs_status_t status;

    status = uct_rsagg_send_reserve_bcopy(channel, ep_id, length, 1);
    if (status != UCS_OK) {
        return status;
    }
    uct_rsagg_send_reserved_open(channel);

    status = ucs_rsagg_builder_add_put(&channel->builder, ep_id, region_id,
                                       remote_addr, buffer, length);
    if (status == UCS_ERR_EXCEEDS_LIMIT) {
        status = uct_rsagg_send_make_room(channel);
        ucs_assert(status == UCS_OK); /* Reserved above */
        status = ucs_rsagg_builder_add_put(&channel->builder, ep_id,
                                           region_id, remote_addr, buffer,
                                           length);
    }
    ucs_assert(status == UCS_OK);

    uct_rsagg_send_appended(channel, length);
    channel->puts_unflushed = 1;
    uct_rsagg_channel_mark_unflushed(channel);
    if (idle) {
        /* A lone put leaves at once, as a one-record transfer: the inner
         * transport has no put of its own to send it alone */
        channel->active       = 0;
        channel->direct_epoch = channel->iface->sched.epoch;
        uct_rsagg_channel_flush_batches(channel);
    }
    return UCS_OK;
}

ssize_t uct_rsagg_send_put_bcopy(uct_rsagg_channel_t *channel,
                                 uint32_t ep_id, uct_pack_callback_t pack_cb,
                                 void *arg, uint64_t remote_addr,
                                 uct_rkey_t rkey)
{
    uct_rsagg_iface_t *iface = channel->iface;
    ucs_status_t status;
    size_t packed;

    status = uct_rsagg_send_reserve_bcopy(channel, ep_id,
                                          iface->config.small_max, 1);
    if (status != UCS_OK) {
        return status;
    }

    packed = pack_cb(iface->scratch, arg);
    ucs_assertv(packed <= iface->config.small_max,
                "packed=%zu max put_bcopy=%zu", packed,
                iface->config.small_max);
    status = uct_rsagg_send_put_short(channel, ep_id, iface->scratch,
                                      packed, remote_addr, rkey);
    ucs_assert(status == UCS_OK); /* Reserved above */
    return packed;
}
