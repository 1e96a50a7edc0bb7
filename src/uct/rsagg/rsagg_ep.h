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
    int                        error_reported; /* The peer's failure */
};


UCS_CLASS_DECLARE(uct_rsagg_ep_t, const uct_ep_params_t*);
UCS_CLASS_DECLARE_NEW_FUNC(uct_rsagg_ep_t, uct_ep_t, const uct_ep_params_t*);
UCS_CLASS_DECLARE_DELETE_FUNC(uct_rsagg_ep_t, uct_ep_t);

/* ep_create and ep_destroy inside the iface guard (rsagg_hold.h) */
ucs_status_t uct_rsagg_ep_t_new_guarded(const uct_ep_params_t *params,
                                        uct_ep_h *ep_p);
void uct_rsagg_ep_t_delete_guarded(uct_ep_h tl_ep);


#define UCT_RSAGG_EP_INNER(_tl_ep) \
    (ucs_derived_of(_tl_ep, uct_rsagg_ep_t)->channel->inner)

/* The inner rkey of an rkey given to an operation of this ep */
#define UCT_RSAGG_EP_RKEY(_tl_ep, _rkey) \
    uct_rsagg_rkey_inner(uct_rsagg_ep_iface(_tl_ep)->rkey_is_inner, _rkey)


static UCS_F_ALWAYS_INLINE uct_rsagg_iface_t *uct_rsagg_ep_iface(uct_ep_h tl_ep)
{
    return ucs_derived_of(tl_ep->iface, uct_rsagg_iface_t);
}

/* Requests of this ep wait in its pending queue, and the caller is not one
 * of them being dispatched: a new operation must wait too */
static UCS_F_ALWAYS_INLINE int uct_rsagg_ep_must_wait(uct_ep_h tl_ep)
{
    uct_rsagg_ep_t *ep = ucs_derived_of(tl_ep, uct_rsagg_ep_t);

    return !ucs_queue_is_empty(&ep->pending_q) &&
           (ep->channel->dispatch_ep != ep);
}

/* Nothing of this ep waits and nothing is batched on its channel: an
 * operation that is not aggregated may go to the inner ep at once */
static UCS_F_ALWAYS_INLINE int uct_rsagg_ep_is_clear(uct_ep_h tl_ep)
{
    uct_rsagg_ep_t *ep = ucs_derived_of(tl_ep, uct_rsagg_ep_t);

    return ucs_queue_is_empty(&ep->pending_q) &&
           !uct_rsagg_channel_has_batches(ep->channel);
}


ucs_status_t uct_rsagg_ep_am_short_guarded(uct_ep_h tl_ep, uint8_t id,
                                           uint64_t header, const void *payload,
                                           unsigned length);
ucs_status_t uct_rsagg_ep_am_short_idle(uct_ep_h tl_ep, uint8_t id,
                                        uint64_t header, const void *payload,
                                        unsigned length);
ucs_status_t uct_rsagg_ep_am_short_pt(uct_ep_h tl_ep, uint8_t id,
                                      uint64_t header, const void *payload,
                                      unsigned length);
ssize_t uct_rsagg_ep_am_bcopy_pt(uct_ep_h tl_ep, uint8_t id,
                                 uct_pack_callback_t pack_cb, void *arg,
                                 unsigned flags);
ucs_status_t uct_rsagg_ep_am_short_iov_guarded(uct_ep_h tl_ep, uint8_t id,
                                               const uct_iov_t *iov,
                                               size_t iovcnt);
ssize_t uct_rsagg_ep_am_bcopy_guarded(uct_ep_h tl_ep, uint8_t id,
                                      uct_pack_callback_t pack_cb, void *arg,
                                      unsigned flags);
ucs_status_t uct_rsagg_ep_am_zcopy_guarded(uct_ep_h tl_ep, uint8_t id,
                                           const void *header,
                                           unsigned header_length,
                                           const uct_iov_t *iov, size_t iovcnt,
                                           unsigned flags,
                                           uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_put_short_guarded(uct_ep_h tl_ep, const void *buffer,
                                            unsigned length,
                                            uint64_t remote_addr,
                                            uct_rkey_t rkey);
ssize_t uct_rsagg_ep_put_bcopy_guarded(uct_ep_h tl_ep,
                                       uct_pack_callback_t pack_cb, void *arg,
                                       uint64_t remote_addr, uct_rkey_t rkey);
ucs_status_t uct_rsagg_ep_put_short_agg_guarded(uct_ep_h tl_ep,
                                                const void *buffer,
                                                unsigned length,
                                                uint64_t remote_addr,
                                                uct_rkey_t rkey);
ssize_t uct_rsagg_ep_put_bcopy_agg_guarded(uct_ep_h tl_ep,
                                           uct_pack_callback_t pack_cb,
                                           void *arg, uint64_t remote_addr,
                                           uct_rkey_t rkey);
ucs_status_t uct_rsagg_ep_put_zcopy_guarded(uct_ep_h tl_ep,
                                            const uct_iov_t *iov, size_t iovcnt,
                                            uint64_t remote_addr,
                                            uct_rkey_t rkey,
                                            uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_get_short_guarded(uct_ep_h tl_ep, void *buffer,
                                            unsigned length,
                                            uint64_t remote_addr,
                                            uct_rkey_t rkey);
ucs_status_t uct_rsagg_ep_get_bcopy_guarded(uct_ep_h tl_ep,
                                            uct_unpack_callback_t unpack_cb,
                                            void *arg, size_t length,
                                            uint64_t remote_addr,
                                            uct_rkey_t rkey,
                                            uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_get_zcopy_guarded(uct_ep_h tl_ep,
                                            const uct_iov_t *iov, size_t iovcnt,
                                            uint64_t remote_addr,
                                            uct_rkey_t rkey,
                                            uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_atomic_cswap64_guarded(uct_ep_h tl_ep,
                                                 uint64_t compare,
                                                 uint64_t swap,
                                                 uint64_t remote_addr,
                                                 uct_rkey_t rkey,
                                                 uint64_t *result,
                                                 uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_atomic_cswap32_guarded(uct_ep_h tl_ep,
                                                 uint32_t compare,
                                                 uint32_t swap,
                                                 uint64_t remote_addr,
                                                 uct_rkey_t rkey,
                                                 uint32_t *result,
                                                 uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_atomic32_post_guarded(uct_ep_h tl_ep, unsigned opcode,
                                                uint32_t value,
                                                uint64_t remote_addr,
                                                uct_rkey_t rkey);
ucs_status_t uct_rsagg_ep_atomic64_post_guarded(uct_ep_h tl_ep, unsigned opcode,
                                                uint64_t value,
                                                uint64_t remote_addr,
                                                uct_rkey_t rkey);
ucs_status_t uct_rsagg_ep_atomic32_fetch_guarded(uct_ep_h tl_ep,
                                                 uct_atomic_op_t opcode,
                                                 uint32_t value,
                                                 uint32_t *result,
                                                 uint64_t remote_addr,
                                                 uct_rkey_t rkey,
                                                 uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_atomic64_fetch_guarded(uct_ep_h tl_ep,
                                                 uct_atomic_op_t opcode,
                                                 uint64_t value,
                                                 uint64_t *result,
                                                 uint64_t remote_addr,
                                                 uct_rkey_t rkey,
                                                 uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_pending_add_guarded(uct_ep_h tl_ep,
                                              uct_pending_req_t *req,
                                              unsigned flags);
void uct_rsagg_ep_pending_purge_guarded(uct_ep_h tl_ep,
                                        uct_pending_purge_callback_t cb,
                                        void *arg);
ucs_status_t uct_rsagg_ep_flush_guarded(uct_ep_h tl_ep, unsigned flags,
                                        uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_fence_guarded(uct_ep_h tl_ep, unsigned flags);
ucs_status_t uct_rsagg_ep_check_guarded(uct_ep_h tl_ep, unsigned flags,
                                        uct_completion_t *comp);
ucs_status_t uct_rsagg_ep_get_address_guarded(uct_ep_h tl_ep,
                                              uct_ep_addr_t *addr);
ucs_status_t
uct_rsagg_ep_connect_to_ep_guarded(uct_ep_h tl_ep,
                                   const uct_device_addr_t *dev_addr,
                                   const uct_ep_addr_t *ep_addr);
ucs_status_t uct_rsagg_ep_invalidate_guarded(uct_ep_h tl_ep, unsigned flags);

#endif
