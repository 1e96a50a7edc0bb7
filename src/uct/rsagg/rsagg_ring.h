/**
 * rsagg ring: out-of-band payloads written by the inner transport's put into
 * a region the receiver registered, with credit-based flow control.
 *
 * The receiving iface owns one region (UCX_RSAGG_RING_SIZE, allocated on the
 * first request) and grants each sending channel that asks (RING_REQ, with
 * its return address) a slice of it (RING_GRANT: region address, slice
 * offset, packed inner rkey), or refuses (RING_DENY). The sender puts a
 * batch's payload into its slice, fences the inner ep, and sends the table
 * with UCS_RSAGG_FLAG_PAYLOAD_IN_RING and the absolute ring offset. The
 * receiver accepts a table only if its payload lies wholly inside one granted
 * slice, whose owner it credits (CREDIT over the return path) once it has
 * consumed a quarter of the slice, or on a flush request.
 *
 * A payload never wraps: when it does not fit in the slice's tail, it starts
 * at the slice's beginning and the skipped tail is spent as credits too; the
 * receiver sees the same skip (the payload starts at 0, not where the
 * previous one ended) and credits it back.
 */

#ifndef UCT_RSAGG_RING_H_
#define UCT_RSAGG_RING_H_

#include "rsagg_channel.h"

#include <ucs/rsagg_parser.h>


/* Receiver: a sender asks for a slice (from the control AM handler; the
 * answer goes from progress) */
void uct_rsagg_ring_rx_request(uct_rsagg_iface_t *iface,
                               const ucs_rsagg_ctrl_t *ctrl);

/* Receiver: a sender's channel closed; its slice, if any, is free again */
void uct_rsagg_ring_rx_release(uct_rsagg_iface_t *iface,
                               const ucs_rsagg_ctrl_t *ctrl);

/* Receiver: a table with UCS_RSAGG_FLAG_PAYLOAD_IN_RING, already peeked */
void uct_rsagg_ring_rx_table(uct_rsagg_iface_t *iface, const void *data,
                             size_t length,
                             const ucs_rsagg_hdr_info_t *info);

/* Receiver: a flush request of channel_id from ret_addr: return the credits
 * of its slice now, so that a sender that waits for them is not left
 * waiting for a quarter of the slice */
void uct_rsagg_ring_rx_flush(uct_rsagg_iface_t *iface, const void *ret_addr,
                             size_t ret_addr_len, uint32_t channel_id);

/* Receiver: at iface close, after the inner iface is gone */
void uct_rsagg_ring_cleanup(uct_rsagg_iface_t *iface);


/* Sender: ask for a slice if the channel may use one and has not asked */
void uct_rsagg_ring_tx_request(uct_rsagg_channel_t *channel);

/* Sender: RING_GRANT, RING_DENY or CREDIT arrived for one of our channels */
void uct_rsagg_ring_tx_ctrl(uct_rsagg_iface_t *iface,
                            const ucs_rsagg_ctrl_t *ctrl);

/* Sender: put the payload of a batch opened for the ring into the slice,
 * fence, and write the ring offset into its table. UCS_ERR_NO_RESOURCE when
 * there are not enough credits (the channel is scheduled again when they
 * come) or the inner ep has no room. */
ucs_status_t uct_rsagg_ring_tx_put(uct_rsagg_channel_t *channel,
                                   uct_rsagg_batch_t *batch);

/* Sender: whether the next batch should be opened for the ring */
static UCS_F_ALWAYS_INLINE int
uct_rsagg_ring_tx_usable(uct_rsagg_channel_t *channel)
{
    return (channel->ring.state == UCT_RSAGG_RING_GRANTED) &&
           ((channel->iface->config.mux == UCT_RSAGG_MUX_OOB) ||
            channel->ring_next);
}

/* Sender: at channel destroy, after the inner ep is gone */
void uct_rsagg_ring_tx_cleanup(uct_rsagg_channel_t *channel);

#endif
