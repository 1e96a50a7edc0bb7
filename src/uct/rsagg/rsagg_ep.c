/**
 * rsagg endpoint operations. Each one goes through the endpoint's channel;
 * in pass-through they are the inner transport's operation on the channel's
 * inner endpoint, with the caller's completion, so completion semantics are
 * exactly the inner transport's.
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_ep.h"
#include "rsagg_addr.h"
#include "rsagg_hold.h"
#include "rsagg_send.h"

#include <ucs/debug/log.h>
#include <string.h>


#define UCT_RSAGG_CHECK_AM_ID(_id) \
    UCT_CHECK_PARAM((_id) < UCT_RSAGG_AM_ID_USER_MAX, \
                    "Invalid active message id %d (rsagg range: 0..%d)", \
                    (int)(_id), UCT_RSAGG_AM_ID_USER_MAX - 1)


UCS_CLASS_INIT_FUNC(uct_rsagg_ep_t, const uct_ep_params_t *params)
{
    uct_rsagg_iface_t *iface;
    ucs_status_t status;

    iface = ucs_derived_of(params->iface, uct_rsagg_iface_t);
    UCS_CLASS_CALL_SUPER_INIT(uct_base_ep_t, &iface->super);

    ucs_queue_head_init(&self->pending_q);
    ucs_list_head_init(&self->pending_list);
    self->error_reported = 0;

    status = uct_rsagg_channel_get(iface, params, &self->channel);
    if (status != UCS_OK) {
        return status;
    }

    ucs_list_add_tail(&self->channel->eps, &self->list);
    self->id = self->channel->next_ep_id++;
    ucs_debug("rsagg ep %p created on channel %p (inner ep %p)", self,
              self->channel, self->channel->inner);
    return UCS_OK;
}

UCS_CLASS_CLEANUP_FUNC(uct_rsagg_ep_t)
{
    if (!ucs_queue_is_empty(&self->pending_q)) {
        ucs_warn("rsagg ep %p destroyed with pending requests", self);
        uct_rsagg_channel_pending_remove(self->channel, self);
    }
    ucs_list_del(&self->list);
    uct_rsagg_channel_put(self->channel);
}

UCS_CLASS_DEFINE(uct_rsagg_ep_t, uct_base_ep_t);
UCS_CLASS_DEFINE_NEW_FUNC(uct_rsagg_ep_t, uct_ep_t, const uct_ep_params_t*);
UCS_CLASS_DEFINE_DELETE_FUNC(uct_rsagg_ep_t, uct_ep_t);


static ucs_status_t uct_rsagg_ep_am_short(uct_ep_h tl_ep, uint8_t id,
                                          uint64_t header, const void *payload,
                                          unsigned length)
{
    uct_rsagg_ep_t *ep = ucs_derived_of(tl_ep, uct_rsagg_ep_t);

    UCT_RSAGG_CHECK_AM_ID(id);
    return uct_rsagg_send_am_short(ep->channel, ep->id, id, header, payload,
                                   length);
}

/* Pass-through (UCX_RSAGG_AGGREGATE=n): the inner operation and nothing else */
ucs_status_t uct_rsagg_ep_am_short_pt(uct_ep_h tl_ep, uint8_t id,
                                      uint64_t header, const void *payload,
                                      unsigned length)
{
    UCT_RSAGG_CHECK_AM_ID(id);
    if (ucs_unlikely(uct_rsagg_ep_must_wait(tl_ep))) {
        return UCS_ERR_NO_RESOURCE;
    }
    return uct_ep_am_short(UCT_RSAGG_EP_INNER(tl_ep), id, header, payload,
                           length);
}

ssize_t uct_rsagg_ep_am_bcopy_pt(uct_ep_h tl_ep, uint8_t id,
                                 uct_pack_callback_t pack_cb, void *arg,
                                 unsigned flags)
{
    UCT_RSAGG_CHECK_AM_ID(id);
    if (ucs_unlikely(uct_rsagg_ep_must_wait(tl_ep))) {
        return UCS_ERR_NO_RESOURCE;
    }
    return uct_ep_am_bcopy(UCT_RSAGG_EP_INNER(tl_ep), id, pack_cb, arg, flags);
}

static UCS_F_ALWAYS_INLINE ucs_status_t
uct_rsagg_ep_am_short_iov(uct_ep_h tl_ep, uint8_t id, const uct_iov_t *iov,
                          size_t iovcnt)
{
    UCT_RSAGG_CHECK_AM_ID(id);
    return uct_ep_am_short_iov(UCT_RSAGG_EP_INNER(tl_ep), id, iov, iovcnt);
}

static ssize_t uct_rsagg_ep_am_bcopy(uct_ep_h tl_ep, uint8_t id,
                                     uct_pack_callback_t pack_cb, void *arg,
                                     unsigned flags)
{
    uct_rsagg_ep_t *ep = ucs_derived_of(tl_ep, uct_rsagg_ep_t);

    UCT_RSAGG_CHECK_AM_ID(id);
    return uct_rsagg_send_am_bcopy(ep->channel, ep->id, id, pack_cb, arg,
                                   flags);
}

static ucs_status_t uct_rsagg_ep_am_zcopy(uct_ep_h tl_ep, uint8_t id,
                                          const void *header,
                                          unsigned header_length,
                                          const uct_iov_t *iov, size_t iovcnt,
                                          unsigned flags,
                                          uct_completion_t *comp)
{
    uct_rsagg_ep_t *ep = ucs_derived_of(tl_ep, uct_rsagg_ep_t);

    UCT_RSAGG_CHECK_AM_ID(id);
    return uct_rsagg_send_am_zcopy(ep->channel, ep->id, id, header,
                                   header_length, iov, iovcnt, flags,
                                   comp);
}

/* Puts rsagg applies at the receiver itself (UCX_RSAGG_PUT_AGGREGATE). A
 * record has the room of half a batch (max_short), and names the region of
 * an rkey rsagg unpacked; an empty put touches nothing and needs neither. */
static ucs_status_t uct_rsagg_ep_put_short_agg(uct_ep_h tl_ep,
                                               const void *buffer,
                                               unsigned length,
                                               uint64_t remote_addr,
                                               uct_rkey_t rkey)
{
    uct_rsagg_ep_t *ep = ucs_derived_of(tl_ep, uct_rsagg_ep_t);

    if (ucs_unlikely(length == 0)) {
        return UCS_OK;
    }
    /* Worded as UCX's own UCT_CHECK_LENGTH */
    UCT_CHECK_PARAM(length <= ep->channel->iface->config.small_max,
                    "Invalid put_short length: %u (expected: <= %zu)",
                    length, ep->channel->iface->config.small_max);
    UCT_CHECK_PARAM((rkey != 0) && (rkey != UCT_INVALID_RKEY),
                    "put_short with an invalid rkey");

    return uct_rsagg_send_put_short(ep->channel, ep->id, buffer, length,
                                    remote_addr, rkey);
}

static ssize_t uct_rsagg_ep_put_bcopy_agg(uct_ep_h tl_ep,
                                          uct_pack_callback_t pack_cb,
                                          void *arg, uint64_t remote_addr,
                                          uct_rkey_t rkey)
{
    uct_rsagg_ep_t *ep = ucs_derived_of(tl_ep, uct_rsagg_ep_t);

    return uct_rsagg_send_put_bcopy(ep->channel, ep->id, pack_cb, arg,
                                    remote_addr, rkey);
}

/* The operations that are not aggregated: the inner operation alone. The
 * guarded wrappers below put them after the channel's batches. */
static UCS_F_ALWAYS_INLINE ucs_status_t
uct_rsagg_ep_put_short(uct_ep_h tl_ep, const void *buffer, unsigned length,
                       uint64_t remote_addr, uct_rkey_t rkey)
{
    return uct_ep_put_short(UCT_RSAGG_EP_INNER(tl_ep), buffer, length,
                            remote_addr, UCT_RSAGG_EP_RKEY(tl_ep, rkey));
}

static UCS_F_ALWAYS_INLINE ssize_t
uct_rsagg_ep_put_bcopy(uct_ep_h tl_ep, uct_pack_callback_t pack_cb, void *arg,
                       uint64_t remote_addr, uct_rkey_t rkey)
{
    return uct_ep_put_bcopy(UCT_RSAGG_EP_INNER(tl_ep), pack_cb, arg,
                            remote_addr, UCT_RSAGG_EP_RKEY(tl_ep, rkey));
}

static ucs_status_t uct_rsagg_ep_put_zcopy(uct_ep_h tl_ep, const uct_iov_t *iov,
                                           size_t iovcnt, uint64_t remote_addr,
                                           uct_rkey_t rkey,
                                           uct_completion_t *comp)
{
    uct_iov_t *inner_iov = ucs_alloca(iovcnt * sizeof(*inner_iov));

    uct_rsagg_md_iov_inner(iov, iovcnt, inner_iov);
    ucs_assert(uct_rsagg_md_iov_is_inner(
            uct_rsagg_iface_md(uct_rsagg_ep_iface(tl_ep)), inner_iov, iovcnt));
    return uct_ep_put_zcopy(UCT_RSAGG_EP_INNER(tl_ep), inner_iov, iovcnt,
                            remote_addr, UCT_RSAGG_EP_RKEY(tl_ep, rkey), comp);
}

static ucs_status_t uct_rsagg_ep_get_short(uct_ep_h tl_ep, void *buffer,
                                           unsigned length,
                                           uint64_t remote_addr,
                                           uct_rkey_t rkey)
{
    return uct_ep_get_short(UCT_RSAGG_EP_INNER(tl_ep), buffer, length,
                            remote_addr, UCT_RSAGG_EP_RKEY(tl_ep, rkey));
}

static ucs_status_t uct_rsagg_ep_get_bcopy(uct_ep_h tl_ep,
                                           uct_unpack_callback_t unpack_cb,
                                           void *arg, size_t length,
                                           uint64_t remote_addr,
                                           uct_rkey_t rkey,
                                           uct_completion_t *comp)
{
    return uct_ep_get_bcopy(UCT_RSAGG_EP_INNER(tl_ep), unpack_cb, arg, length,
                            remote_addr, UCT_RSAGG_EP_RKEY(tl_ep, rkey), comp);
}

static ucs_status_t uct_rsagg_ep_get_zcopy(uct_ep_h tl_ep, const uct_iov_t *iov,
                                           size_t iovcnt, uint64_t remote_addr,
                                           uct_rkey_t rkey,
                                           uct_completion_t *comp)
{
    uct_iov_t *inner_iov = ucs_alloca(iovcnt * sizeof(*inner_iov));

    uct_rsagg_md_iov_inner(iov, iovcnt, inner_iov);
    ucs_assert(uct_rsagg_md_iov_is_inner(
            uct_rsagg_iface_md(uct_rsagg_ep_iface(tl_ep)), inner_iov, iovcnt));
    return uct_ep_get_zcopy(UCT_RSAGG_EP_INNER(tl_ep), inner_iov, iovcnt,
                            remote_addr, UCT_RSAGG_EP_RKEY(tl_ep, rkey), comp);
}

static ucs_status_t uct_rsagg_ep_atomic_cswap64(uct_ep_h tl_ep,
                                                uint64_t compare, uint64_t swap,
                                                uint64_t remote_addr,
                                                uct_rkey_t rkey,
                                                uint64_t *result,
                                                uct_completion_t *comp)
{
    return uct_ep_atomic_cswap64(UCT_RSAGG_EP_INNER(tl_ep), compare, swap,
                                 remote_addr, UCT_RSAGG_EP_RKEY(tl_ep, rkey),
                                 result, comp);
}

static ucs_status_t uct_rsagg_ep_atomic_cswap32(uct_ep_h tl_ep,
                                                uint32_t compare, uint32_t swap,
                                                uint64_t remote_addr,
                                                uct_rkey_t rkey,
                                                uint32_t *result,
                                                uct_completion_t *comp)
{
    return uct_ep_atomic_cswap32(UCT_RSAGG_EP_INNER(tl_ep), compare, swap,
                                 remote_addr, UCT_RSAGG_EP_RKEY(tl_ep, rkey),
                                 result, comp);
}

static ucs_status_t uct_rsagg_ep_atomic32_post(uct_ep_h tl_ep, unsigned opcode,
                                               uint32_t value,
                                               uint64_t remote_addr,
                                               uct_rkey_t rkey)
{
    return uct_ep_atomic32_post(UCT_RSAGG_EP_INNER(tl_ep), opcode, value,
                                remote_addr, UCT_RSAGG_EP_RKEY(tl_ep, rkey));
}

static ucs_status_t uct_rsagg_ep_atomic64_post(uct_ep_h tl_ep, unsigned opcode,
                                               uint64_t value,
                                               uint64_t remote_addr,
                                               uct_rkey_t rkey)
{
    return uct_ep_atomic64_post(UCT_RSAGG_EP_INNER(tl_ep), opcode, value,
                                remote_addr, UCT_RSAGG_EP_RKEY(tl_ep, rkey));
}

static ucs_status_t uct_rsagg_ep_atomic32_fetch(uct_ep_h tl_ep,
                                                uct_atomic_op_t opcode,
                                                uint32_t value,
                                                uint32_t *result,
                                                uint64_t remote_addr,
                                                uct_rkey_t rkey,
                                                uct_completion_t *comp)
{
    return uct_ep_atomic32_fetch(UCT_RSAGG_EP_INNER(tl_ep), opcode, value,
                                 result, remote_addr,
                                 UCT_RSAGG_EP_RKEY(tl_ep, rkey), comp);
}

static ucs_status_t uct_rsagg_ep_atomic64_fetch(uct_ep_h tl_ep,
                                                uct_atomic_op_t opcode,
                                                uint64_t value,
                                                uint64_t *result,
                                                uint64_t remote_addr,
                                                uct_rkey_t rkey,
                                                uct_completion_t *comp)
{
    return uct_ep_atomic64_fetch(UCT_RSAGG_EP_INNER(tl_ep), opcode, value,
                                 result, remote_addr,
                                 UCT_RSAGG_EP_RKEY(tl_ep, rkey), comp);
}

static ucs_status_t uct_rsagg_ep_pending_add(uct_ep_h tl_ep,
                                             uct_pending_req_t *req,
                                             unsigned flags)
{
    uct_rsagg_ep_t *ep = ucs_derived_of(tl_ep, uct_rsagg_ep_t);

    return uct_rsagg_channel_pending_add(ep->channel, ep, req);
}

static void uct_rsagg_ep_pending_purge(uct_ep_h tl_ep,
                                       uct_pending_purge_callback_t cb,
                                       void *arg)
{
    uct_rsagg_ep_t *ep = ucs_derived_of(tl_ep, uct_rsagg_ep_t);
    uct_pending_req_t *req;

    /* Take the ep out of the channel first: a purge callback may destroy
     * the request or queue another one */
    uct_rsagg_channel_pending_remove(ep->channel, ep);
    while (!ucs_queue_is_empty(&ep->pending_q)) {
        req = ucs_container_of(ucs_queue_pull_non_empty(&ep->pending_q),
                               uct_pending_req_t, priv);
        if (cb != NULL) {
            cb(req, arg);
        }
    }
}

/* A cancel or an invalidate may reach the inner ep only when no other ep
 * uses it, or when it failed anyway: on an inner connection shared with
 * other eps it would act on their operations too (tcp's cancel completes a
 * half-written zero-copy message and moves on, cutting it short in the
 * stream) */
static int uct_rsagg_ep_owns_inner(const uct_rsagg_ep_t *ep)
{
    return (ep->channel->refcount == 1) ||
           (ep->channel->state == UCT_RSAGG_CHANNEL_FAILED);
}

static ucs_status_t uct_rsagg_ep_flush(uct_ep_h tl_ep, unsigned flags,
                                       uct_completion_t *comp)
{
    uct_rsagg_ep_t *ep = ucs_derived_of(tl_ep, uct_rsagg_ep_t);
    ucs_status_t status;

    if (flags & UCT_FLUSH_FLAG_CANCEL) {
        if (uct_rsagg_ep_owns_inner(ep)) {
            return uct_ep_flush(ep->channel->inner, flags, comp);
        }
        /* Shared: this ep's operations complete as sent (UCT's cancel is
         * a best effort), and its pending requests are the caller's to
         * purge */
        flags &= ~UCT_FLUSH_FLAG_CANCEL;
    } else if (uct_rsagg_ep_must_wait(tl_ep)) {
        /* Requests of this ep still waiting: not flushed yet. Unless this
         * flush is itself the ep's pending request being dispatched: what
         * is queued then came after it. */
        return UCS_ERR_NO_RESOURCE;
    }

    status = uct_rsagg_channel_flush(ep->channel, comp);
    if (status != UCS_OK) {
        return status;
    }
    return uct_ep_flush(ep->channel->inner, flags, comp);
}

static ucs_status_t uct_rsagg_ep_fence(uct_ep_h tl_ep, unsigned flags)
{
    /* Batched messages stay ahead of later operations even if they cannot
     * leave now: every later operation goes after the channel's batches */
    uct_rsagg_channel_t *channel = ucs_derived_of(tl_ep,
                                                  uct_rsagg_ep_t)->channel;

    if (uct_rsagg_channel_has_batches(channel)) {
        uct_rsagg_channel_flush_batches(channel);
    }
    return uct_ep_fence(UCT_RSAGG_EP_INNER(tl_ep), flags);
}

static ucs_status_t uct_rsagg_ep_check(uct_ep_h tl_ep, unsigned flags,
                                       uct_completion_t *comp)
{
    return uct_ep_check(UCT_RSAGG_EP_INNER(tl_ep), flags, comp);
}

static ucs_status_t uct_rsagg_ep_get_address(uct_ep_h tl_ep,
                                             uct_ep_addr_t *addr)
{
    void *inner_addr = UCS_PTR_BYTE_OFFSET(addr, sizeof(uct_rsagg_addr_hdr_t));

    uct_rsagg_addr_pack_hdr(addr);
    return uct_ep_get_address(UCT_RSAGG_EP_INNER(tl_ep), inner_addr);
}

static ucs_status_t
uct_rsagg_ep_connect_to_ep(uct_ep_h tl_ep, const uct_device_addr_t *dev_addr,
                           const uct_ep_addr_t *ep_addr)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_ep->iface,
                                              uct_rsagg_iface_t);
    ucs_status_t status;

    status = uct_rsagg_addr_check(iface, ep_addr);
    if (status != UCS_OK) {
        return status;
    }

    return uct_ep_connect_to_ep(UCT_RSAGG_EP_INNER(tl_ep), dev_addr,
                                UCS_PTR_BYTE_OFFSET(ep_addr,
                                        sizeof(uct_rsagg_addr_hdr_t)));
}

static ucs_status_t uct_rsagg_ep_invalidate(uct_ep_h tl_ep, unsigned flags)
{
    uct_rsagg_ep_t *ep = ucs_derived_of(tl_ep, uct_rsagg_ep_t);

    if (!uct_rsagg_ep_owns_inner(ep)) {
        return UCS_ERR_UNSUPPORTED; /* It would fail the other eps too */
    }
    return uct_ep_invalidate(ep->channel->inner, flags);
}


/* The operations as UCT calls them: inside the iface guard of the hold
 * timer (rsagg_hold.h), which is taken once more when they nest */

/* A send operation also waits behind the ep's pending requests: UCT keeps
 * an ep's order, so while requests of this ep wait, a new operation returns
 * UCS_ERR_NO_RESOURCE too, unless it is one of them being dispatched */
#define UCT_RSAGG_EP_SEND_GUARDED(_type, _func, _params, _args) \
    _type _func##_guarded _params \
    { \
        uct_rsagg_iface_t *_guard_iface = uct_rsagg_ep_iface(tl_ep); \
        _type _ret; \
        \
        if (ucs_unlikely(uct_rsagg_ep_must_wait(tl_ep))) { \
            return UCS_ERR_NO_RESOURCE; \
        } \
        uct_rsagg_hold_enter(_guard_iface); \
        _ret = _func _args; \
        uct_rsagg_hold_leave(_guard_iface); \
        return _ret; \
    }

/* An operation that is not aggregated goes to the inner ep after the
 * channel's batches and the ep's pending requests. The common case, nothing
 * batched and nothing pending, is checked inside the guard (the hold timer
 * may send batches) and then the inner operation is the only call: only the
 * iface stays live across it. Anything else takes _func##_ordered, which
 * keeps the order as a send does (must-wait, then batches first). */
#define UCT_RSAGG_EP_INNER_GUARDED(_type, _func, _params, _args) \
    static UCS_F_NOINLINE _type _func##_ordered _params \
    { \
        uct_rsagg_iface_t *_guard_iface = uct_rsagg_ep_iface(tl_ep); \
        uct_rsagg_channel_t *_channel   = \
            ucs_derived_of(tl_ep, uct_rsagg_ep_t)->channel; \
        _type _ret; \
        \
        if (ucs_unlikely(uct_rsagg_ep_must_wait(tl_ep))) { \
            return UCS_ERR_NO_RESOURCE; \
        } \
        uct_rsagg_hold_enter(_guard_iface); \
        _ret = uct_rsagg_channel_has_batches(_channel) ? \
               uct_rsagg_channel_flush_batches(_channel) : UCS_OK; \
        if (_ret == UCS_OK) { \
            _ret = _func _args; \
        } \
        uct_rsagg_hold_leave(_guard_iface); \
        return _ret; \
    } \
    \
    _type _func##_guarded _params \
    { \
        uct_rsagg_iface_t *_guard_iface = uct_rsagg_ep_iface(tl_ep); \
        _type _ret; \
        \
        uct_rsagg_hold_enter(_guard_iface); \
        if (ucs_unlikely(!uct_rsagg_ep_is_clear(tl_ep))) { \
            uct_rsagg_hold_leave(_guard_iface); \
            return _func##_ordered _args; \
        } \
        _ret = _func _args; \
        uct_rsagg_hold_leave(_guard_iface); \
        return _ret; \
    }

UCT_RSAGG_EP_SEND_GUARDED(ucs_status_t, uct_rsagg_ep_am_short,
                          (uct_ep_h tl_ep, uint8_t id, uint64_t header,
                           const void *payload, unsigned length),
                          (tl_ep, id, header, payload, length))

/* The ping-pong path, the one UCT operation whose every instruction shows in
 * am_lat: a message to an idle channel, from an ep with nothing pending,
 * goes to the inner transport at once. Anything else (the timer holds the
 * iface, a bad am id, a batch or a request waits) takes the guarded path,
 * which checks again and batches. */
ucs_status_t uct_rsagg_ep_am_short_idle(uct_ep_h tl_ep, uint8_t id,
                                        uint64_t header, const void *payload,
                                        unsigned length)
{
    uct_rsagg_ep_t *ep           = ucs_derived_of(tl_ep, uct_rsagg_ep_t);
    uct_rsagg_channel_t *channel = ep->channel;
    uct_rsagg_iface_t *iface     = channel->iface;
    ucs_status_t status;

    if (ucs_unlikely(!uct_rsagg_hold_try_enter(iface) ||
                     (id >= UCT_RSAGG_AM_ID_USER_MAX) ||
                     !uct_rsagg_channel_is_idle(channel,
                                                iface->sched.epoch) ||
                     !ucs_queue_is_empty(&ep->pending_q))) {
        uct_rsagg_hold_leave(iface);
        return uct_rsagg_ep_am_short_guarded(tl_ep, id, header, payload,
                                             length);
    }

    /* Counted before the call, while channel and iface are at hand: after
     * it, only the iface and the length are live. A refused message is
     * taken back; the channel stays marked, so that a retry before the next
     * progress round takes the guarded path. */
    uct_rsagg_channel_sent_direct(channel, sizeof(header) + length);
    status = uct_ep_am_short(channel->inner, id, header, payload, length);
    if (ucs_unlikely(status != UCS_OK)) {
        uct_rsagg_channel_unsent_direct(iface, sizeof(header) + length);
    }
    uct_rsagg_hold_leave(iface);
    return status;
}

UCT_RSAGG_EP_INNER_GUARDED(ucs_status_t, uct_rsagg_ep_am_short_iov,
                           (uct_ep_h tl_ep, uint8_t id, const uct_iov_t *iov,
                            size_t iovcnt),
                           (tl_ep, id, iov, iovcnt))

UCT_RSAGG_EP_SEND_GUARDED(ssize_t, uct_rsagg_ep_am_bcopy,
                          (uct_ep_h tl_ep, uint8_t id,
                           uct_pack_callback_t pack_cb, void *arg,
                           unsigned flags),
                          (tl_ep, id, pack_cb, arg, flags))

UCT_RSAGG_EP_SEND_GUARDED(ucs_status_t, uct_rsagg_ep_am_zcopy,
                          (uct_ep_h tl_ep, uint8_t id, const void *header,
                           unsigned header_length, const uct_iov_t *iov,
                           size_t iovcnt, unsigned flags,
                           uct_completion_t *comp),
                          (tl_ep, id, header, header_length, iov, iovcnt, flags,
                           comp))

UCT_RSAGG_EP_SEND_GUARDED(ucs_status_t, uct_rsagg_ep_put_short_agg,
                          (uct_ep_h tl_ep, const void *buffer, unsigned length,
                           uint64_t remote_addr, uct_rkey_t rkey),
                          (tl_ep, buffer, length, remote_addr, rkey))

UCT_RSAGG_EP_SEND_GUARDED(ssize_t, uct_rsagg_ep_put_bcopy_agg,
                          (uct_ep_h tl_ep, uct_pack_callback_t pack_cb,
                           void *arg, uint64_t remote_addr, uct_rkey_t rkey),
                          (tl_ep, pack_cb, arg, remote_addr, rkey))

UCT_RSAGG_EP_INNER_GUARDED(ucs_status_t, uct_rsagg_ep_put_short,
                           (uct_ep_h tl_ep, const void *buffer, unsigned length,
                            uint64_t remote_addr, uct_rkey_t rkey),
                           (tl_ep, buffer, length, remote_addr, rkey))

UCT_RSAGG_EP_INNER_GUARDED(ssize_t, uct_rsagg_ep_put_bcopy,
                           (uct_ep_h tl_ep, uct_pack_callback_t pack_cb,
                            void *arg, uint64_t remote_addr, uct_rkey_t rkey),
                           (tl_ep, pack_cb, arg, remote_addr, rkey))

UCT_RSAGG_EP_INNER_GUARDED(ucs_status_t, uct_rsagg_ep_put_zcopy,
                           (uct_ep_h tl_ep, const uct_iov_t *iov, size_t iovcnt,
                            uint64_t remote_addr, uct_rkey_t rkey,
                            uct_completion_t *comp),
                           (tl_ep, iov, iovcnt, remote_addr, rkey, comp))

UCT_RSAGG_EP_INNER_GUARDED(ucs_status_t, uct_rsagg_ep_get_short,
                           (uct_ep_h tl_ep, void *buffer, unsigned length,
                            uint64_t remote_addr, uct_rkey_t rkey),
                           (tl_ep, buffer, length, remote_addr, rkey))

UCT_RSAGG_EP_INNER_GUARDED(ucs_status_t, uct_rsagg_ep_get_bcopy,
                           (uct_ep_h tl_ep, uct_unpack_callback_t unpack_cb,
                            void *arg, size_t length, uint64_t remote_addr,
                            uct_rkey_t rkey, uct_completion_t *comp),
                           (tl_ep, unpack_cb, arg, length, remote_addr, rkey,
                            comp))

UCT_RSAGG_EP_INNER_GUARDED(ucs_status_t, uct_rsagg_ep_get_zcopy,
                           (uct_ep_h tl_ep, const uct_iov_t *iov, size_t iovcnt,
                            uint64_t remote_addr, uct_rkey_t rkey,
                            uct_completion_t *comp),
                           (tl_ep, iov, iovcnt, remote_addr, rkey, comp))

UCT_RSAGG_EP_INNER_GUARDED(ucs_status_t, uct_rsagg_ep_atomic_cswap64,
                           (uct_ep_h tl_ep, uint64_t compare, uint64_t swap,
                            uint64_t remote_addr, uct_rkey_t rkey,
                            uint64_t *result, uct_completion_t *comp),
                           (tl_ep, compare, swap, remote_addr, rkey, result,
                            comp))

UCT_RSAGG_EP_INNER_GUARDED(ucs_status_t, uct_rsagg_ep_atomic_cswap32,
                           (uct_ep_h tl_ep, uint32_t compare, uint32_t swap,
                            uint64_t remote_addr, uct_rkey_t rkey,
                            uint32_t *result, uct_completion_t *comp),
                           (tl_ep, compare, swap, remote_addr, rkey, result,
                            comp))

UCT_RSAGG_EP_INNER_GUARDED(ucs_status_t, uct_rsagg_ep_atomic32_post,
                           (uct_ep_h tl_ep, unsigned opcode, uint32_t value,
                            uint64_t remote_addr, uct_rkey_t rkey),
                           (tl_ep, opcode, value, remote_addr, rkey))

UCT_RSAGG_EP_INNER_GUARDED(ucs_status_t, uct_rsagg_ep_atomic64_post,
                           (uct_ep_h tl_ep, unsigned opcode, uint64_t value,
                            uint64_t remote_addr, uct_rkey_t rkey),
                           (tl_ep, opcode, value, remote_addr, rkey))

UCT_RSAGG_EP_INNER_GUARDED(ucs_status_t, uct_rsagg_ep_atomic32_fetch,
                           (uct_ep_h tl_ep, uct_atomic_op_t opcode,
                            uint32_t value, uint32_t *result,
                            uint64_t remote_addr, uct_rkey_t rkey,
                            uct_completion_t *comp),
                           (tl_ep, opcode, value, result, remote_addr, rkey,
                            comp))

UCT_RSAGG_EP_INNER_GUARDED(ucs_status_t, uct_rsagg_ep_atomic64_fetch,
                           (uct_ep_h tl_ep, uct_atomic_op_t opcode,
                            uint64_t value, uint64_t *result,
                            uint64_t remote_addr, uct_rkey_t rkey,
                            uct_completion_t *comp),
                           (tl_ep, opcode, value, result, remote_addr, rkey,
                            comp))

UCT_RSAGG_HOLD_GUARDED(ucs_status_t, uct_rsagg_ep_pending_add,
                       uct_rsagg_ep_iface(tl_ep),
                       (uct_ep_h tl_ep, uct_pending_req_t *req, unsigned flags),
                       (tl_ep, req, flags))

UCT_RSAGG_HOLD_GUARDED_VOID(uct_rsagg_ep_pending_purge,
                            uct_rsagg_ep_iface(tl_ep),
                            (uct_ep_h tl_ep, uct_pending_purge_callback_t cb,
                             void *arg),
                            (tl_ep, cb, arg))

UCT_RSAGG_HOLD_GUARDED(ucs_status_t, uct_rsagg_ep_flush,
                       uct_rsagg_ep_iface(tl_ep),
                       (uct_ep_h tl_ep, unsigned flags, uct_completion_t *comp),
                       (tl_ep, flags, comp))

UCT_RSAGG_HOLD_GUARDED(ucs_status_t, uct_rsagg_ep_fence,
                       uct_rsagg_ep_iface(tl_ep),
                       (uct_ep_h tl_ep, unsigned flags),
                       (tl_ep, flags))

UCT_RSAGG_HOLD_GUARDED(ucs_status_t, uct_rsagg_ep_check,
                       uct_rsagg_ep_iface(tl_ep),
                       (uct_ep_h tl_ep, unsigned flags, uct_completion_t *comp),
                       (tl_ep, flags, comp))

UCT_RSAGG_HOLD_GUARDED(ucs_status_t, uct_rsagg_ep_get_address,
                       uct_rsagg_ep_iface(tl_ep),
                       (uct_ep_h tl_ep, uct_ep_addr_t *addr),
                       (tl_ep, addr))

UCT_RSAGG_HOLD_GUARDED(ucs_status_t, uct_rsagg_ep_connect_to_ep,
                       uct_rsagg_ep_iface(tl_ep),
                       (uct_ep_h tl_ep, const uct_device_addr_t *dev_addr,
                        const uct_ep_addr_t *ep_addr),
                       (tl_ep, dev_addr, ep_addr))

UCT_RSAGG_HOLD_GUARDED(ucs_status_t, uct_rsagg_ep_invalidate,
                       uct_rsagg_ep_iface(tl_ep),
                       (uct_ep_h tl_ep, unsigned flags),
                       (tl_ep, flags))

UCT_RSAGG_HOLD_GUARDED(ucs_status_t, uct_rsagg_ep_t_new,
                       ucs_derived_of(params->iface, uct_rsagg_iface_t),
                       (const uct_ep_params_t *params, uct_ep_h *ep_p),
                       (params, ep_p))

UCT_RSAGG_HOLD_GUARDED_VOID(uct_rsagg_ep_t_delete,
                            uct_rsagg_ep_iface(tl_ep), (uct_ep_h tl_ep),
                            (tl_ep))
