/**
 * rsagg endpoint: the caller's view of a destination. It owns no inner
 * resources; its operations go through its channel.
 */

#ifndef UCT_RSAGG_EP_H_
#define UCT_RSAGG_EP_H_

#include "rsagg_channel.h"

#include <ucs/datastruct/queue.h>


struct uct_rsagg_ep {
    uct_base_ep_t              super;
    uct_rsagg_channel_t        *channel;
    ucs_list_link_t            list;         /* In channel->eps */
    ucs_list_link_t            pending_list; /* In channel->pending_eps */
    ucs_queue_head_t           pending_q;
    uint32_t                   id;           /* Within the channel */
};


UCS_CLASS_DECLARE(uct_rsagg_ep_t, const uct_ep_params_t*);
UCS_CLASS_DECLARE_NEW_FUNC(uct_rsagg_ep_t, uct_ep_t, const uct_ep_params_t*);
UCS_CLASS_DECLARE_DELETE_FUNC(uct_rsagg_ep_t, uct_ep_t);


#define UCT_RSAGG_EP_INNER(_tl_ep) \
    (ucs_derived_of(_tl_ep, uct_rsagg_ep_t)->channel->inner)


ucs_status_t uct_rsagg_ep_am_short(uct_ep_h tl_ep, uint8_t id, uint64_t header,
                                   const void *payload, unsigned length);
ucs_status_t uct_rsagg_ep_am_short_pt(uct_ep_h tl_ep, uint8_t id,
                                      uint64_t header, const void *payload,
                                      unsigned length);
ssize_t uct_rsagg_ep_am_bcopy_pt(uct_ep_h tl_ep, uint8_t id,
                                 uct_pack_callback_t pack_cb, void *arg,
                                 unsigned flags);
ucs_status_t uct_rsagg_ep_am_short_iov(uct_ep_h tl_ep, uint8_t id,
                                       const uct_iov_t *iov, size_t iovcnt);
ssize_t uct_rsagg_ep_am_bcopy(uct_ep_h tl_ep, uint8_t id,
                              uct_pack_callback_t pack_cb, void *arg,
                              unsigned flags);
ucs_status_t uct_rsagg_ep_am_zcopy(uct_ep_h tl_ep, uint8_t id,
                                   const void *header, unsigned header_length,
                                   const uct_iov_t *iov, size_t iovcnt,
                                   unsigned flags, uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_put_short(uct_ep_h tl_ep, const void *buffer,
                                    unsigned length, uint64_t remote_addr,
                                    uct_rkey_t rkey);
ssize_t uct_rsagg_ep_put_bcopy(uct_ep_h tl_ep, uct_pack_callback_t pack_cb,
                               void *arg, uint64_t remote_addr,
                               uct_rkey_t rkey);
ucs_status_t uct_rsagg_ep_put_zcopy(uct_ep_h tl_ep, const uct_iov_t *iov,
                                    size_t iovcnt, uint64_t remote_addr,
                                    uct_rkey_t rkey, uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_get_short(uct_ep_h tl_ep, void *buffer,
                                    unsigned length, uint64_t remote_addr,
                                    uct_rkey_t rkey);
ucs_status_t uct_rsagg_ep_get_bcopy(uct_ep_h tl_ep,
                                    uct_unpack_callback_t unpack_cb,
                                    void *arg, size_t length,
                                    uint64_t remote_addr, uct_rkey_t rkey,
                                    uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_get_zcopy(uct_ep_h tl_ep, const uct_iov_t *iov,
                                    size_t iovcnt, uint64_t remote_addr,
                                    uct_rkey_t rkey, uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_atomic_cswap64(uct_ep_h tl_ep, uint64_t compare,
                                         uint64_t swap, uint64_t remote_addr,
                                         uct_rkey_t rkey, uint64_t *result,
                                         uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_atomic_cswap32(uct_ep_h tl_ep, uint32_t compare,
                                         uint32_t swap, uint64_t remote_addr,
                                         uct_rkey_t rkey, uint32_t *result,
                                         uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_atomic32_post(uct_ep_h tl_ep, unsigned opcode,
                                        uint32_t value, uint64_t remote_addr,
                                        uct_rkey_t rkey);
ucs_status_t uct_rsagg_ep_atomic64_post(uct_ep_h tl_ep, unsigned opcode,
                                        uint64_t value, uint64_t remote_addr,
                                        uct_rkey_t rkey);
ucs_status_t uct_rsagg_ep_atomic32_fetch(uct_ep_h tl_ep,
                                         uct_atomic_op_t opcode,
                                         uint32_t value, uint32_t *result,
                                         uint64_t remote_addr,
                                         uct_rkey_t rkey,
                                         uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_atomic64_fetch(uct_ep_h tl_ep,
                                         uct_atomic_op_t opcode,
                                         uint64_t value, uint64_t *result,
                                         uint64_t remote_addr,
                                         uct_rkey_t rkey,
                                         uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_pending_add(uct_ep_h tl_ep, uct_pending_req_t *req,
                                      unsigned flags);
void uct_rsagg_ep_pending_purge(uct_ep_h tl_ep, uct_pending_purge_callback_t cb,
                                void *arg);
ucs_status_t uct_rsagg_ep_flush(uct_ep_h tl_ep, unsigned flags,
                                uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_fence(uct_ep_h tl_ep, unsigned flags);
ucs_status_t uct_rsagg_ep_check(uct_ep_h tl_ep, unsigned flags,
                                uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_get_address(uct_ep_h tl_ep, uct_ep_addr_t *addr);
ucs_status_t uct_rsagg_ep_connect_to_ep(uct_ep_h tl_ep,
                                        const uct_device_addr_t *dev_addr,
                                        const uct_ep_addr_t *ep_addr);
ucs_status_t uct_rsagg_ep_invalidate(uct_ep_h tl_ep, unsigned flags);

#endif
