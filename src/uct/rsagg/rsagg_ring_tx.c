/**
 * rsagg ring, sender half: a channel's slice of its receiver's ring, the
 * credits for it, and the puts into it (see rsagg_ring_tx.h).
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_ring_tx.h"
#include "rsagg_peer.h"

#include <ucs/rsagg_builder.h>
#include <ucs/debug/log.h>
#include <ucs/sys/math.h>
#include <string.h>


void uct_rsagg_ring_tx_init(uct_rsagg_ring_tx_t *ring)
{
    memset(ring, 0, sizeof(*ring));
    ring->state = UCT_RSAGG_RING_NONE;
}

void uct_rsagg_ring_tx_request(uct_rsagg_ring_tx_t *ring,
                               uct_rsagg_iface_t *iface, uct_ep_h inner,
                               uint32_t channel_id, int shared)
{
    ssize_t packed;

    if ((ring->state != UCT_RSAGG_RING_NONE) ||
        (iface->config.ring_put == 0) || (iface->conn.ret_addr_len == 0) ||
        !shared) {
        return;
    }

    packed = uct_rsagg_peer_send_request(iface, inner,
                                         UCS_RSAGG_CTRL_OP_RING_REQ,
                                         channel_id,
                                         iface->config.ring_slice);
    if (packed >= 0) {
        ring->state = UCT_RSAGG_RING_REQUESTED;
    }
    /* else: asked again with the next batch */
}

static void uct_rsagg_ring_tx_grant(uct_rsagg_ring_tx_t *ring,
                                    uct_rsagg_iface_t *iface,
                                    const ucs_rsagg_ctrl_t *ctrl)
{
    uct_rsagg_md_t *md = uct_rsagg_iface_md(iface);
    ucs_rsagg_ring_grant_t grant;
    ucs_status_t status;

    if (ring->state != UCT_RSAGG_RING_REQUESTED) {
        ucs_debug("rsagg ring %p: unexpected ring grant", ring);
        return;
    }

    /* Smaller than 4 batches, credits returned by quarters could leave a
     * batch waiting for good */
    status = ucs_rsagg_ring_grant_unpack(ctrl, &grant);
    if ((status != UCS_OK) || (grant.size < 4 * iface->config.max_batch)) {
        ucs_diag("rsagg ring %p: unusable ring grant (%u bytes)", ring,
                 ctrl->value);
        ring->state = UCT_RSAGG_RING_DENIED;
        return;
    }

    status = uct_rkey_unpack(md->inner_component, grant.rkey, &ring->rkey);
    if (status != UCS_OK) {
        ucs_diag("rsagg ring %p: cannot unpack the ring's rkey: %s", ring,
                 ucs_status_string(status));
        ring->state = UCT_RSAGG_RING_DENIED;
        return;
    }

    ring->offset      = grant.offset;
    ring->size        = grant.size;
    ring->head        = 0;
    ring->credits     = grant.size;
    ring->remote_addr = grant.remote_addr;
    ring->state       = UCT_RSAGG_RING_GRANTED;
    ucs_debug("rsagg ring %p: slice %u+%u granted", ring, grant.offset,
              grant.size);
}

/* Credits come back for what the receiver consumed */
static int uct_rsagg_ring_tx_credit(uct_rsagg_ring_tx_t *ring, uint32_t value)
{
    if ((ring->state != UCT_RSAGG_RING_GRANTED) ||
        (value > ring->size - ring->credits)) {
        /* More than is out: a confused receiver must not make us overwrite
         * what it has not consumed */
        ucs_error("rsagg ring %p: %u ring credits returned, %u out", ring,
                  value, ring->size - ring->credits);
        return 0;
    }

    ring->credits += value;
    if (!ring->stalled) {
        return 0;
    }
    ring->stalled = 0;
    return 1;
}

int uct_rsagg_ring_tx_ctrl(uct_rsagg_ring_tx_t *ring, uct_rsagg_iface_t *iface,
                           const ucs_rsagg_ctrl_t *ctrl)
{
    switch (ctrl->op) {
    case UCS_RSAGG_CTRL_OP_RING_GRANT:
        uct_rsagg_ring_tx_grant(ring, iface, ctrl);
        return 0;
    case UCS_RSAGG_CTRL_OP_RING_DENY:
        if (ring->state == UCT_RSAGG_RING_REQUESTED) {
            ring->state = UCT_RSAGG_RING_DENIED;
        }
        return 0;
    case UCS_RSAGG_CTRL_OP_CREDIT:
        return uct_rsagg_ring_tx_credit(ring, ctrl->value);
    default:
        return 0;
    }
}

static size_t uct_rsagg_ring_tx_pack_payload(void *dest, void *arg)
{
    uct_rsagg_batch_t *batch = arg;

    memcpy(dest, batch->payload, batch->payload_length);
    return batch->payload_length;
}

/* put_zcopy straight from the batch buffer, registered with the inner md
 * once per buffer (buffers are reused), not reused until the put completes */
static ucs_status_t uct_rsagg_ring_tx_put_zcopy(uct_rsagg_ring_tx_t *ring,
                                                uct_rsagg_iface_t *iface,
                                                uct_ep_h inner,
                                                uct_rsagg_batch_t *batch,
                                                uint64_t remote_addr)
{
    ucs_status_t status;
    uct_iov_t iov;

    if (batch->memh == UCT_MEM_HANDLE_NULL) {
        status = uct_md_mem_reg(uct_rsagg_iface_md(iface)->inner,
                                batch->payload, iface->config.max_batch,
                                UCT_MD_MEM_ACCESS_LOCAL_READ, &batch->memh);
        if (status != UCS_OK) {
            return status;
        }
    }

    iov.buffer = batch->payload;
    iov.length = batch->payload_length;
    iov.memh   = batch->memh;
    iov.stride = 0;
    iov.count  = 1;
    batch->put_comp.count  = 1;
    batch->put_comp.status = UCS_OK;
    status = uct_ep_put_zcopy(inner, &iov, 1, remote_addr, ring->rkey.rkey,
                              &batch->put_comp);
    if (status == UCS_INPROGRESS) {
        /* The payload buffer is the inner transport's until then */
        batch->put_inflight = 1;
        status              = UCS_OK;
    }
    return status;
}

ucs_status_t uct_rsagg_ring_tx_put(uct_rsagg_ring_tx_t *ring,
                                   uct_rsagg_iface_t *iface, uct_ep_h inner,
                                   uct_rsagg_batch_t *batch)
{
    uint32_t length = batch->payload_length;
    uint32_t pos    = ring->head;
    uint32_t need   = length;
    uint64_t remote_addr;
    ucs_status_t status;
    ssize_t packed;

    if ((uint64_t)pos + length > ring->size) {
        need += ring->size - pos; /* The tail is skipped */
        pos   = 0;
    }
    if (need > ring->credits) {
        if (!ring->stalled) {
            ring->stalled = 1;
            ++iface->counters.credit_stalls;
        }
        return UCS_ERR_NO_RESOURCE;
    }

    remote_addr = ring->remote_addr + ring->offset + pos;
    if (length == 0) {
        status = UCS_OK;
    } else if (iface->config.ring_put == UCT_IFACE_FLAG_PUT_ZCOPY) {
        status = uct_rsagg_ring_tx_put_zcopy(ring, iface, inner, batch,
                                             remote_addr);
    } else {
        packed = uct_ep_put_bcopy(inner, uct_rsagg_ring_tx_pack_payload,
                                  batch, remote_addr, ring->rkey.rkey);
        status = (packed < 0) ? (ucs_status_t)packed : UCS_OK;
    }
    if (status != UCS_OK) {
        return status;
    }

    ring->credits -= need;
    ring->head     = pos + length;
    ucs_rsagg_wire_put32(batch->data + UCS_RSAGG_HDR_OFF_RING_OFFSET,
                         ring->offset + pos);
    iface->counters.inner_bytes += length;
    ++iface->counters.ring_transfers;

    /* UCT orders neither puts against active messages nor the other way:
     * the table must not overtake its payload. The put is done either way;
     * an ep that cannot fence has failed, and its error handler says so. */
    status = uct_ep_fence(inner, 0);
    if (status != UCS_OK) {
        ucs_debug("rsagg ring %p: fence after a ring put failed: %s", ring,
                  ucs_status_string(status));
    }
    return UCS_OK;
}

void uct_rsagg_ring_tx_cleanup(uct_rsagg_ring_tx_t *ring,
                               uct_rsagg_iface_t *iface)
{
    if (ring->state == UCT_RSAGG_RING_GRANTED) {
        uct_rkey_release(uct_rsagg_iface_md(iface)->inner_component,
                         &ring->rkey);
        ring->state = UCT_RSAGG_RING_NONE;
    }
}
