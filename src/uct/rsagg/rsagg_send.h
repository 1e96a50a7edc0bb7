/**
 * rsagg send: the aggregated operations of a channel (rsagg_send.c), and
 * the fast path of am_short, appending to the open batch.
 */

#ifndef UCT_RSAGG_SEND_H_
#define UCT_RSAGG_SEND_H_

#include "rsagg_channel.h"


ucs_status_t uct_rsagg_send_am_short_slow(uct_rsagg_channel_t *channel,
                                          uint32_t ep_id, uint8_t id,
                                          uint64_t header, const void *payload,
                                          unsigned length);

ssize_t uct_rsagg_send_am_bcopy(uct_rsagg_channel_t *channel, uint32_t ep_id,
                                uint8_t id, uct_pack_callback_t pack_cb,
                                void *arg, unsigned flags);

ucs_status_t uct_rsagg_send_am_zcopy(uct_rsagg_channel_t *channel,
                                     uint32_t ep_id, uint8_t id,
                                     const void *header,
                                     unsigned header_length,
                                     const uct_iov_t *iov, size_t iovcnt,
                                     unsigned flags, uct_completion_t *comp);

/* A put applied by the receiving rsagg: the record names the region by the
 * id in the rkey, and the receiver checks the target against it */
ucs_status_t uct_rsagg_send_put_short(uct_rsagg_channel_t *channel,
                                      uint32_t ep_id, const void *buffer,
                                      unsigned length, uint64_t remote_addr,
                                      uct_rkey_t rkey);

ssize_t uct_rsagg_send_put_bcopy(uct_rsagg_channel_t *channel, uint32_t ep_id,
                                 uct_pack_callback_t pack_cb, void *arg,
                                 uint64_t remote_addr, uct_rkey_t rkey);


/* Fast path: append to the open batch; anything else is the slow path */
static UCS_F_ALWAYS_INLINE ucs_status_t
uct_rsagg_send_am_short(uct_rsagg_channel_t *channel, uint32_t ep_id,
                        uint8_t id, uint64_t header, const void *payload,
                        unsigned length)
{
    if (ucs_likely(channel->open != NULL) &&
        ucs_likely(ucs_rsagg_builder_add_am_short(&channel->builder, ep_id, id,
                                                  header, payload,
                                                  length) == UCS_OK)) {
        channel->active = 1;
        ++channel->iface->counters.msgs;
        channel->iface->counters.bytes += length + sizeof(header);
        return UCS_OK;
    }

    return uct_rsagg_send_am_short_slow(channel, ep_id, id, header, payload,
                                        length);
}

#endif
