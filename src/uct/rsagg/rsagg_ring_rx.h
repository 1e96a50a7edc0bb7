/**
 * rsagg ring, receiver half: out-of-band payloads written by the inner
 * transport's put into a region the receiver registered, with credit-based
 * flow control (the sender's half is rsagg_ring_tx.h).
 *
 * The receiving iface owns one region (UCX_RSAGG_RING_SIZE, allocated on the
 * first request) and grants each sending channel that asks (RING_REQ, with
 * its return address) a slice of it (RING_GRANT: region address, slice
 * offset, packed inner rkey), or refuses (RING_DENY). The sender puts a
 * batch's payload into its slice, fences the inner ep, and sends the table
 * with UCS_RSAGG_FLAG_PAYLOAD_IN_RING and the absolute ring offset. The
 * receiver accepts a table only if its payload lies wholly inside one granted
 * slice, where the sender's previous payload ended or at the slice's
 * beginning (a skipped tail); it credits the owner (CREDIT over the return
 * path) once it has consumed a quarter of the slice, or on a flush request.
 */

#ifndef UCT_RSAGG_RING_RX_H_
#define UCT_RSAGG_RING_RX_H_

#include "rsagg_iface.h"

#include <ucs/rsagg_parser.h>


typedef struct uct_rsagg_ring_slice uct_rsagg_ring_slice_t;


void uct_rsagg_ring_rx_init(uct_rsagg_iface_t *iface);

/* A sender asks for a slice (from the control AM handler; the answer goes
 * from progress) */
void uct_rsagg_ring_rx_request(uct_rsagg_iface_t *iface,
                               const ucs_rsagg_ctrl_t *ctrl);

/* A sender's channel closed; its slice, if any, is free again */
void uct_rsagg_ring_rx_release(uct_rsagg_iface_t *iface,
                               const ucs_rsagg_ctrl_t *ctrl);

/* A table with UCS_RSAGG_FLAG_PAYLOAD_IN_RING, already peeked: where its
 * payload is. On UCS_OK the payload's space counts as consumed, and
 * rx_done() must follow once the table is handled (delivered or dropped).
 * An error (*why_p says which) means nothing of the ring is read and
 * nobody is credited. */
ucs_status_t uct_rsagg_ring_rx_take(uct_rsagg_iface_t *iface,
                                   const ucs_rsagg_hdr_info_t *info,
                                   const void **payload_p,
                                   uct_rsagg_ring_slice_t **slice_p,
                                   const char **why_p);

/* After a taken table: credits the slice's owner by quarters */
void uct_rsagg_ring_rx_done(uct_rsagg_iface_t *iface,
                            uct_rsagg_ring_slice_t *slice);

/* A flush request of channel_id from ret_addr: return the credits of its
 * slice now, so that a sender that waits for them is not left waiting for
 * a quarter of the slice */
void uct_rsagg_ring_rx_flush(uct_rsagg_iface_t *iface, const void *ret_addr,
                             size_t ret_addr_len, uint32_t channel_id);

/* At iface close, after the inner iface is gone */
void uct_rsagg_ring_rx_cleanup(uct_rsagg_iface_t *iface);

#endif
