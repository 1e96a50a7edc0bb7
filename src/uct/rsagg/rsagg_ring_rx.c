/**
 * rsagg ring, receiver half: the region, its slices, and the credits owed
 * to their senders (see rsagg_ring_rx.h).
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_ring_rx.h"
#include "rsagg_peer.h"

#include <ucs/rsagg_builder.h>
#include <ucs/debug/log.h>
#include <ucs/debug/memtrack_int.h>
#include <ucs/sys/math.h>
#include <string.h>


/* A slice granted to one sending channel */
struct uct_rsagg_ring_slice {
    ucs_list_link_t            list;         /* In iface->ring.slices */
    uint32_t                   offset;       /* In the region */
    uint32_t                   size;
    uint32_t                   channel_id;   /* The sender's */
    uint32_t                   expect;       /* End of the last payload, in
                                                the slice */
    uint32_t                   freed;        /* Consumed, not yet credited */
    size_t                     ret_addr_len;
    uint8_t                    ret_addr[];   /* Where credits go */
};


void uct_rsagg_ring_rx_init(uct_rsagg_iface_t *iface)
{
    ucs_list_head_init(&iface->ring.slices);
    iface->ring.base   = NULL;
    iface->ring.rkey   = NULL;
    iface->ring.failed = 0;
}

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
        uct_rsagg_ring_rx_cleanup(iface);
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

ucs_status_t uct_rsagg_ring_rx_take(uct_rsagg_iface_t *iface,
                                    const ucs_rsagg_hdr_info_t *info,
                                    const void **payload_p,
                                    uct_rsagg_ring_slice_t **slice_p,
                                    const char **why_p)
{
    uct_rsagg_ring_slice_t *slice;
    uint32_t rel, consumed;

    slice = uct_rsagg_ring_slice_of(iface, info->ring_offset,
                                    info->payload_length);
    if (slice == NULL) {
        /* Outside every slice, across two, beyond the region: nothing of
         * the ring is read, and no sender is credited */
        *why_p = "ring payload outside any granted slice";
        return UCS_ERR_INVALID_ADDR;
    }

    /* Payloads follow each other in the slice, or start over at its
     * beginning when the tail was too short (the tail is spent too) */
    rel = info->ring_offset - slice->offset;
    if (rel == slice->expect) {
        consumed = info->payload_length;
    } else if (rel == 0) {
        consumed = (slice->size - slice->expect) + info->payload_length;
    } else {
        *why_p = "ring payload not where the sender's previous one ended";
        return UCS_ERR_INVALID_ADDR;
    }
    slice->expect  = rel + info->payload_length;
    slice->freed  += consumed;

    *payload_p = UCS_PTR_BYTE_OFFSET(iface->ring.base, info->ring_offset);
    *slice_p   = slice;
    return UCS_OK;
}

void uct_rsagg_ring_rx_done(uct_rsagg_iface_t *iface,
                            uct_rsagg_ring_slice_t *slice)
{
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

void uct_rsagg_ring_rx_cleanup(uct_rsagg_iface_t *iface)
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
