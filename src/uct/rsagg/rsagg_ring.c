/**
 * rsagg ring: receiver region and slices, sender slice and credits.
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_ring.h"
#include "rsagg_peer.h"

#include <ucs/rsagg_builder.h>
#include <ucs/debug/log.h>
#include <ucs/debug/memtrack_int.h>
#include <ucs/sys/math.h>
#include <string.h>


/* A slice granted to one sending channel */
typedef struct uct_rsagg_ring_slice {
    ucs_list_link_t            list;         /* In iface->ring.slices */
    uint32_t                   offset;       /* In the region */
    uint32_t                   size;
    uint32_t                   channel_id;   /* The sender's */
    uint32_t                   expect;       /* End of the last payload, in
                                                the slice */
    uint32_t                   freed;        /* Consumed, not yet credited */
    size_t                     ret_addr_len;
    uint8_t                    ret_addr[];   /* Where credits go */
} uct_rsagg_ring_slice_t;


static uct_md_h uct_rsagg_ring_inner_md(uct_rsagg_iface_t *iface)
{
    return uct_rsagg_iface_md(iface)->inner;
}

/* The region, on the first request: memory the inner md can give a remote
 * key for (shared memory allocates it, tcp registers any memory) */
static ucs_status_t uct_rsagg_ring_alloc(uct_rsagg_iface_t *iface)
{
    uct_rsagg_md_t *md       = uct_rsagg_iface_md(iface);
    uct_md_h inner_md        = md->inner;
    uint64_t md_flags        = md->inner_attr.cap.flags;
    size_t length            = ucs_min(iface->config.ring_size, UINT32_MAX);
    void *address            = NULL;
    ucs_status_t status;

    if (md->inner_attr.rkey_packed_size + UCS_RSAGG_RING_GRANT_FIXED >
        UCS_RSAGG_CTRL_MAX_BODY) {
        ucs_diag("rsagg: inner rkey of %zu bytes does not fit a ring grant",
                 md->inner_attr.rkey_packed_size);
        return UCS_ERR_UNSUPPORTED;
    }

    if (md_flags & UCT_MD_FLAG_ALLOC) {
        status = inner_md->ops->mem_alloc(inner_md, &length, &address,
                                          UCS_MEMORY_TYPE_HOST,
                                          UCT_MD_MEM_ACCESS_ALL, "rsagg_ring",
                                          &iface->ring.memh);
        iface->ring.allocated = 1;
    } else if (md_flags & UCT_MD_FLAG_REG) {
        status = ucs_posix_memalign(&address, ucs_get_page_size(), length,
                                    "rsagg_ring") == 0 ? UCS_OK :
                 UCS_ERR_NO_MEMORY;
        if (status == UCS_OK) {
            status = uct_md_mem_reg(inner_md, address, length,
                                    UCT_MD_MEM_ACCESS_ALL, &iface->ring.memh);
            if (status != UCS_OK) {
                ucs_free(address);
            }
        }
        iface->ring.allocated = 0;
    } else {
        status = UCS_ERR_UNSUPPORTED;
    }
    if (status != UCS_OK) {
        ucs_diag("rsagg: no ring of %zu bytes on %s: %s",
                 iface->config.ring_size, md->inner_name,
                 ucs_status_string(status));
        return status;
    }

    iface->ring.rkey_length = md->inner_attr.rkey_packed_size;
    iface->ring.rkey        = ucs_malloc(ucs_max(iface->ring.rkey_length, 1),
                                         "rsagg_ring_rkey");
    status = (iface->ring.rkey == NULL) ? UCS_ERR_NO_MEMORY :
             uct_md_mkey_pack(inner_md, iface->ring.memh, iface->ring.rkey);
    iface->ring.base = address;
    iface->ring.size = ucs_min(length, UINT32_MAX);
    if (status != UCS_OK) {
        ucs_diag("rsagg: cannot pack the ring's rkey: %s",
                 ucs_status_string(status));
        uct_rsagg_ring_cleanup(iface);
        return status;
    }

    ucs_debug("rsagg iface %p: ring of %zu bytes at %p", iface,
              iface->ring.size, iface->ring.base);
    return UCS_OK;
}

static uct_rsagg_ring_slice_t *
uct_rsagg_ring_slice_find(uct_rsagg_iface_t *iface, const void *ret_addr,
                          size_t ret_addr_len, uint32_t channel_id)
{
    uct_rsagg_ring_slice_t *slice;

    ucs_list_for_each(slice, &iface->ring.slices, list) {
        if ((slice->channel_id == channel_id) &&
            (slice->ret_addr_len == ret_addr_len) &&
            !memcmp(slice->ret_addr, ret_addr, ret_addr_len)) {
            return slice;
        }
    }
    return NULL;
}

/* First fit among the gaps between granted slices (kept by offset) */
static uct_rsagg_ring_slice_t *
uct_rsagg_ring_slice_new(uct_rsagg_iface_t *iface, const void *ret_addr,
                         size_t ret_addr_len, uint32_t channel_id,
                         uint32_t size)
{
    ucs_list_link_t *before = &iface->ring.slices;
    uint64_t cursor         = 0;
    uct_rsagg_ring_slice_t *slice, *next;

    ucs_list_for_each(next, &iface->ring.slices, list) {
        if (next->offset - cursor >= size) {
            before = &next->list;
            break;
        }
        cursor = (uint64_t)next->offset + next->size;
    }
    if ((before == &iface->ring.slices) &&
        ((cursor > iface->ring.size) || (iface->ring.size - cursor < size))) {
        return NULL;
    }

    slice = ucs_malloc(sizeof(*slice) + ret_addr_len, "rsagg_ring_slice");
    if (slice == NULL) {
        return NULL;
    }
    slice->offset       = cursor;
    slice->size         = size;
    slice->channel_id   = channel_id;
    slice->expect       = 0;
    slice->freed        = 0;
    slice->ret_addr_len = ret_addr_len;
    memcpy(slice->ret_addr, ret_addr, ret_addr_len);
    /* before->prev is the slice ahead of the gap: keep the offset order */
    ucs_list_insert_before(before, &slice->list);
    return slice;
}

void uct_rsagg_ring_rx_request(uct_rsagg_iface_t *iface,
                               const ucs_rsagg_ctrl_t *ctrl)
{
    uint8_t msg[UCS_RSAGG_CTRL_SIZE + UCS_RSAGG_CTRL_MAX_BODY];
    uint32_t channel_id = ctrl->seq;
    uct_rsagg_ring_slice_t *slice;
    size_t length;

    if ((iface->ring.base == NULL) && !iface->ring.failed &&
        (iface->config.ring_size > 0)) {
        iface->ring.failed = (uct_rsagg_ring_alloc(iface) != UCS_OK);
    }

    slice = NULL;
    if (iface->ring.base != NULL) {
        /* A repeated request (the answer was lost, or the sender asks
         * again) gets the same slice */
        slice = uct_rsagg_ring_slice_find(iface, ctrl->body,
                                          ctrl->body_length, channel_id);
        if ((slice == NULL) && (ctrl->value > 0)) {
            slice = uct_rsagg_ring_slice_new(iface, ctrl->body,
                                             ctrl->body_length, channel_id,
                                             ctrl->value);
        }
    }

    if (slice == NULL) {
        ucs_debug("rsagg iface %p: no ring slice of %u bytes for channel %u",
                  iface, ctrl->value, channel_id);
        uct_rsagg_peer_reply(iface, ctrl->body, ctrl->body_length,
                             UCS_RSAGG_CTRL_OP_RING_DENY, channel_id, 0);
        return;
    }

    length = ucs_rsagg_ring_grant_pack(msg, channel_id, slice->size,
                                       (uintptr_t)iface->ring.base,
                                       slice->offset, iface->ring.rkey,
                                       iface->ring.rkey_length);
    uct_rsagg_peer_reply_msg(iface, ctrl->body, ctrl->body_length, msg,
                             length);
}

/* The sender's channel is gone (CLOSE). CLOSE comes on the channel after its
 * last table, and tables are handled when they arrive, so nothing in the
 * slice is still to be read. */
void uct_rsagg_ring_rx_release(uct_rsagg_iface_t *iface,
                               const ucs_rsagg_ctrl_t *ctrl)
{
    uct_rsagg_ring_slice_t *slice;

    slice = uct_rsagg_ring_slice_find(iface, ctrl->body, ctrl->body_length,
                                      ctrl->seq);
    if (slice == NULL) {
        return; /* It had none */
    }

    ucs_debug("rsagg iface %p: ring slice %u+%u released", iface,
              slice->offset, slice->size);
    ucs_list_del(&slice->list);
    ucs_free(slice);
}

static void uct_rsagg_ring_credit(uct_rsagg_iface_t *iface,
                                  uct_rsagg_ring_slice_t *slice)
{
    if (slice->freed == 0) {
        return;
    }
    uct_rsagg_peer_reply(iface, slice->ret_addr, slice->ret_addr_len,
                         UCS_RSAGG_CTRL_OP_CREDIT, slice->channel_id,
                         slice->freed);
    slice->freed = 0;
}

/* The slice that wholly holds [offset, offset + length), if any */
static uct_rsagg_ring_slice_t *
uct_rsagg_ring_slice_of(uct_rsagg_iface_t *iface, uint32_t offset,
                        uint32_t length)
{
    uct_rsagg_ring_slice_t *slice;

    if ((iface->ring.base == NULL) ||
        !ucs_rsagg_range_contains(0, iface->ring.size, offset, length)) {
        return NULL;
    }
    ucs_list_for_each(slice, &iface->ring.slices, list) {
        if (ucs_rsagg_range_contains(slice->offset, slice->size, offset,
                                     length)) {
            return slice;
        }
    }
    return NULL;
}

void uct_rsagg_ring_rx_table(uct_rsagg_iface_t *iface, const void *data,
                             size_t length, const ucs_rsagg_hdr_info_t *info)
{
    uct_rsagg_ring_slice_t *slice;
    ucs_rsagg_policy_t policy;
    ucs_rsagg_error_t err;
    ucs_rsagg_iter_t iter;
    ucs_status_t status;
    uint32_t rel, consumed;

    slice = uct_rsagg_ring_slice_of(iface, info->ring_offset,
                                    info->payload_length);
    if (slice == NULL) {
        /* Outside every slice, across two, beyond the region: nothing of
         * the ring is read, and no sender is credited */
        uct_rsagg_iface_malformed(iface, length,
                                  "ring payload outside any granted slice",
                                  UCS_RSAGG_HDR_OFF_RING_OFFSET,
                                  info->ring_offset);
        return;
    }

    /* Payloads follow each other in the slice, or start over at its
     * beginning when the tail was too short (the tail is spent too) */
    rel = info->ring_offset - slice->offset;
    if (rel == slice->expect) {
        consumed = info->payload_length;
    } else if (rel == 0) {
        consumed = (slice->size - slice->expect) + info->payload_length;
    } else {
        uct_rsagg_iface_malformed(iface, length,
                                  "ring payload not where the sender's "
                                  "previous one ended",
                                  UCS_RSAGG_HDR_OFF_RING_OFFSET,
                                  info->ring_offset);
        return;
    }
    slice->expect  = rel + info->payload_length;
    slice->freed  += consumed;

    uct_rsagg_iface_policy(iface, &policy);
    status = ucs_rsagg_oob_validate(data, length,
                                    UCS_PTR_BYTE_OFFSET(iface->ring.base,
                                                        info->ring_offset),
                                    info->payload_length, &policy, &iter,
                                    &err);
    if (status == UCS_OK) {
        ++iface->counters.rx_ring_transfers;
        uct_rsagg_iface_deliver(iface, &iter);
    } else {
        /* Dropped, but its space is free again all the same */
        uct_rsagg_iface_malformed(iface, length,
                                  ucs_rsagg_reason_str(err.reason),
                                  err.offset, err.value);
    }

    /* Credits in batches of a quarter slice: a reply per transfer would
     * double the messages */
    if (slice->freed >= slice->size / 4) {
        uct_rsagg_ring_credit(iface, slice);
    }
}

void uct_rsagg_ring_rx_flush(uct_rsagg_iface_t *iface, const void *ret_addr,
                             size_t ret_addr_len, uint32_t channel_id)
{
    uct_rsagg_ring_slice_t *slice;

    slice = uct_rsagg_ring_slice_find(iface, ret_addr, ret_addr_len,
                                      channel_id);
    if (slice != NULL) {
        uct_rsagg_ring_credit(iface, slice);
    }
}

void uct_rsagg_ring_cleanup(uct_rsagg_iface_t *iface)
{
    uct_md_h inner_md = uct_rsagg_ring_inner_md(iface);
    uct_rsagg_ring_slice_t *slice, *tmp;

    ucs_list_for_each_safe(slice, tmp, &iface->ring.slices, list) {
        ucs_list_del(&slice->list);
        ucs_free(slice);
    }

    if (iface->ring.base != NULL) {
        if (iface->ring.allocated) {
            inner_md->ops->mem_free(inner_md, iface->ring.memh);
        } else {
            uct_md_mem_dereg(inner_md, iface->ring.memh);
            ucs_free(iface->ring.base);
        }
        iface->ring.base = NULL;
    }
    ucs_free(iface->ring.rkey);
    iface->ring.rkey = NULL;
}


void uct_rsagg_ring_tx_request(uct_rsagg_channel_t *channel)
{
    uct_rsagg_iface_t *iface = channel->iface;
    ssize_t packed;

    /* Needs a put of the inner transport, a way back for grant and credits,
     * and a channel to an iface (its return path reaches this iface) */
    if ((channel->ring.state != UCT_RSAGG_RING_NONE) ||
        (iface->config.ring_put == 0) || (iface->ret_addr_len == 0) ||
        (channel->key == NULL)) {
        return;
    }

    packed = uct_rsagg_peer_send_request(iface, channel->inner,
                                         UCS_RSAGG_CTRL_OP_RING_REQ,
                                         channel->id,
                                         iface->config.ring_slice);
    if (packed >= 0) {
        channel->ring.state = UCT_RSAGG_RING_REQUESTED;
    }
    /* else: asked again with the next batch */
}

static void uct_rsagg_ring_tx_grant(uct_rsagg_channel_t *channel,
                                    const ucs_rsagg_ctrl_t *ctrl)
{
    uct_rsagg_iface_t *iface = channel->iface;
    uct_rsagg_md_t *md       = uct_rsagg_iface_md(iface);
    ucs_rsagg_ring_grant_t grant;
    ucs_status_t status;

    if (channel->ring.state != UCT_RSAGG_RING_REQUESTED) {
        ucs_debug("rsagg channel %p: unexpected ring grant", channel);
        return;
    }

    /* Smaller than 4 batches, credits returned by quarters could leave a
     * batch waiting for good */
    status = ucs_rsagg_ring_grant_unpack(ctrl, &grant);
    if ((status != UCS_OK) || (grant.size < 4 * iface->config.max_batch)) {
        ucs_diag("rsagg channel %p: unusable ring grant (%u bytes)", channel,
                 ctrl->value);
        channel->ring.state = UCT_RSAGG_RING_DENIED;
        return;
    }

    status = uct_rkey_unpack(md->inner_component, grant.rkey,
                             &channel->ring.rkey);
    if (status != UCS_OK) {
        ucs_diag("rsagg channel %p: cannot unpack the ring's rkey: %s",
                 channel, ucs_status_string(status));
        channel->ring.state = UCT_RSAGG_RING_DENIED;
        return;
    }

    channel->ring.offset      = grant.offset;
    channel->ring.size        = grant.size;
    channel->ring.head        = 0;
    channel->ring.credits     = grant.size;
    channel->ring.remote_addr = grant.remote_addr;
    channel->ring.state       = UCT_RSAGG_RING_GRANTED;
    ucs_debug("rsagg channel %p: ring slice %u+%u granted", channel,
              grant.offset, grant.size);
}

void uct_rsagg_ring_tx_ctrl(uct_rsagg_iface_t *iface,
                            const ucs_rsagg_ctrl_t *ctrl)
{
    uct_rsagg_channel_t *channel;

    ucs_list_for_each(channel, &iface->channels, list) {
        if (channel->id == ctrl->seq) {
            break;
        }
    }
    if (&channel->list == &iface->channels) {
        ucs_debug("rsagg iface %p: ring op %d for unknown channel %u", iface,
                  ctrl->op, ctrl->seq);
        return;
    }

    switch (ctrl->op) {
    case UCS_RSAGG_CTRL_OP_RING_GRANT:
        uct_rsagg_ring_tx_grant(channel, ctrl);
        break;
    case UCS_RSAGG_CTRL_OP_RING_DENY:
        if (channel->ring.state == UCT_RSAGG_RING_REQUESTED) {
            channel->ring.state = UCT_RSAGG_RING_DENIED;
        }
        break;
    case UCS_RSAGG_CTRL_OP_CREDIT:
        if ((channel->ring.state != UCT_RSAGG_RING_GRANTED) ||
            (ctrl->value > channel->ring.size - channel->ring.credits)) {
            /* More than is out: a confused receiver must not make us
             * overwrite what it has not consumed */
            ucs_error("rsagg channel %p: %u ring credits returned, %u out",
                      channel, ctrl->value,
                      channel->ring.size - channel->ring.credits);
            return;
        }
        channel->ring.credits += ctrl->value;
        if (channel->ring.stalled) {
            /* Batches wait for these: send them from progress */
            channel->ring.stalled = 0;
            uct_rsagg_channel_schedule(channel);
        }
        break;
    default:
        break;
    }
}

static void uct_rsagg_ring_put_comp(uct_completion_t *self)
{
    uct_rsagg_batch_t *batch = ucs_container_of(self, uct_rsagg_batch_t,
                                                put_comp);

    batch->put_inflight = 0;
    if (batch->done) {
        ucs_queue_push(&batch->channel->free, &batch->queue);
    }
}

static size_t uct_rsagg_ring_pack_payload(void *dest, void *arg)
{
    uct_rsagg_batch_t *batch = arg;

    memcpy(dest, batch->payload, batch->payload_length);
    return batch->payload_length;
}

ucs_status_t uct_rsagg_ring_tx_put(uct_rsagg_channel_t *channel,
                                   uct_rsagg_batch_t *batch)
{
    uct_rsagg_iface_t *iface = channel->iface;
    uint32_t length          = batch->payload_length;
    uint32_t pos             = channel->ring.head;
    uint32_t need            = length;
    uct_md_h inner_md;
    uint64_t remote_addr;
    ucs_status_t status;
    uct_iov_t iov;
    ssize_t packed;

    if ((uint64_t)pos + length > channel->ring.size) {
        need += channel->ring.size - pos; /* The tail is skipped */
        pos   = 0;
    }
    if (need > channel->ring.credits) {
        if (!channel->ring.stalled) {
            channel->ring.stalled = 1;
            ++iface->counters.credit_stalls;
        }
        return UCS_ERR_NO_RESOURCE;
    }

    remote_addr = channel->ring.remote_addr + channel->ring.offset + pos;
    if (length == 0) {
        status = UCS_OK;
    } else if (iface->config.ring_put == UCT_IFACE_FLAG_PUT_ZCOPY) {
        if (batch->memh == UCT_MEM_HANDLE_NULL) {
            /* Once per buffer: buffers are reused */
            inner_md = uct_rsagg_iface_md(iface)->inner;
            status   = uct_md_mem_reg(inner_md, batch->payload,
                                      iface->config.max_batch,
                                      UCT_MD_MEM_ACCESS_LOCAL_READ,
                                      &batch->memh);
            if (status != UCS_OK) {
                return status;
            }
        }
        iov.buffer = batch->payload;
        iov.length = length;
        iov.memh   = batch->memh;
        iov.stride = 0;
        iov.count  = 1;
        batch->put_comp.func   = uct_rsagg_ring_put_comp;
        batch->put_comp.count  = 1;
        batch->put_comp.status = UCS_OK;
        status = uct_ep_put_zcopy(channel->inner, &iov, 1, remote_addr,
                                  channel->ring.rkey.rkey, &batch->put_comp);
        if (status == UCS_INPROGRESS) {
            /* The payload buffer is the inner transport's until then */
            batch->put_inflight = 1;
            status              = UCS_OK;
        }
    } else {
        packed = uct_ep_put_bcopy(channel->inner, uct_rsagg_ring_pack_payload,
                                  batch, remote_addr,
                                  channel->ring.rkey.rkey);
        status = (packed < 0) ? (ucs_status_t)packed : UCS_OK;
    }
    if (status != UCS_OK) {
        return status;
    }

    channel->ring.credits -= need;
    channel->ring.head     = pos + length;
    ucs_rsagg_wire_put32(batch->data + UCS_RSAGG_HDR_OFF_RING_OFFSET,
                         channel->ring.offset + pos);
    iface->counters.inner_bytes += length;
    ++iface->counters.ring_transfers;

    /* UCT orders neither puts against active messages nor the other way:
     * the table must not overtake its payload. The put is done either way;
     * an ep that cannot fence has failed, and its error handler says so. */
    status = uct_ep_fence(channel->inner, 0);
    if (status != UCS_OK) {
        ucs_debug("rsagg channel %p: fence after a ring put failed: %s",
                  channel, ucs_status_string(status));
    }
    return UCS_OK;
}

void uct_rsagg_ring_tx_cleanup(uct_rsagg_channel_t *channel)
{
    if (channel->ring.state == UCT_RSAGG_RING_GRANTED) {
        uct_rkey_release(uct_rsagg_iface_md(channel->iface)->inner_component,
                         &channel->ring.rkey);
        channel->ring.state = UCT_RSAGG_RING_NONE;
    }
}
