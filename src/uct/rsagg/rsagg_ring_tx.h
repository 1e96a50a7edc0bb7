/**
 * rsagg ring, sender half (see rsagg_ring_rx.h for the receiver's half and
 * the protocol).
 *
 * A sending channel asks its receiver for a slice of the receiver's ring
 * (RING_REQ), puts each out-of-band payload at the slice's head (inner
 * put_zcopy or put_bcopy), fences, and lets the channel send the table.
 * Credits (CREDIT) give consumed space back. A payload never wraps: when it
 * does not fit in the slice's tail, it starts at the slice's beginning and
 * the tail is spent too.
 *
 * States, and what moves between them:
 *   NONE      -> REQUESTED  tx_request sent RING_REQ
 *   REQUESTED -> GRANTED    RING_GRANT with a usable slice and rkey
 *   REQUESTED -> DENIED     RING_DENY, or an unusable grant
 *   GRANTED   -> NONE       tx_cleanup (the channel goes)
 * Only GRANTED puts into the ring; DENIED sends its payloads as AMs.
 */

#ifndef UCT_RSAGG_RING_TX_H_
#define UCT_RSAGG_RING_TX_H_

#include "rsagg_batch.h"

#include <ucs/rsagg_parser.h>


typedef enum {
    UCT_RSAGG_RING_NONE,       /* Not asked for (yet) */
    UCT_RSAGG_RING_REQUESTED,  /* Asked, no answer yet */
    UCT_RSAGG_RING_GRANTED,
    UCT_RSAGG_RING_DENIED      /* Payloads stay active messages */
} uct_rsagg_ring_state_t;


/* A sender's slice of the receiver's ring */
typedef struct uct_rsagg_ring_tx {
    uct_rsagg_ring_state_t     state;
    int                        stalled;      /* A batch waits for credits */
    uint32_t                   offset;       /* Of the slice in the region */
    uint32_t                   size;
    uint32_t                   head;         /* Next write, in the slice */
    uint32_t                   credits;      /* Bytes we may write */
    uint64_t                   remote_addr;  /* Of the region */
    uct_rkey_bundle_t          rkey;
} uct_rsagg_ring_tx_t;


void uct_rsagg_ring_tx_init(uct_rsagg_ring_tx_t *ring);

/* Ask for a slice, once, if this iface can use one: an inner put, a way
 * back for grant and credits, and a channel to an iface (shared), whose
 * return path reaches us. channel_id names the channel in the answer. */
void uct_rsagg_ring_tx_request(uct_rsagg_ring_tx_t *ring,
                               uct_rsagg_iface_t *iface, uct_ep_h inner,
                               uint32_t channel_id, int shared);

/* RING_GRANT, RING_DENY or CREDIT for this slice. Returns 1 when batches
 * that waited for credits can go now (the caller schedules the channel). */
int uct_rsagg_ring_tx_ctrl(uct_rsagg_ring_tx_t *ring, uct_rsagg_iface_t *iface,
                           const ucs_rsagg_ctrl_t *ctrl);

/* Put the payload of a batch opened for the ring into the slice, fence,
 * and write the ring offset into its table. UCS_ERR_NO_RESOURCE when there
 * are not enough credits (tx_ctrl says when they come) or the inner ep has
 * no room. A put_zcopy in flight sets batch->put_inflight; its completion
 * is batch->put_comp, whose func the batch's owner set. */
ucs_status_t uct_rsagg_ring_tx_put(uct_rsagg_ring_tx_t *ring,
                                   uct_rsagg_iface_t *iface, uct_ep_h inner,
                                   uct_rsagg_batch_t *batch);

/* Whether the next batch goes to the ring: granted, and out-of-band is
 * asked for (mux=oob, or auto after a large batch) */
static UCS_F_ALWAYS_INLINE int
uct_rsagg_ring_tx_usable(const uct_rsagg_ring_tx_t *ring,
                         const uct_rsagg_iface_t *iface, int ring_next)
{
    return (ring->state == UCT_RSAGG_RING_GRANTED) &&
           ((iface->config.mux == UCT_RSAGG_MUX_OOB) || ring_next);
}

/* The channel goes, after its inner ep: releases the rkey */
void uct_rsagg_ring_tx_cleanup(uct_rsagg_ring_tx_t *ring,
                               uct_rsagg_iface_t *iface);

#endif
