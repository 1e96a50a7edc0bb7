/**
 * rsagg peer: return addresses and replies from a receiver to its senders.
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_peer.h"
#include "rsagg_sched.h"

#include <ucs/rsagg_builder.h>
#include <ucs/debug/log.h>
#include <ucs/debug/memtrack_int.h>
#include <string.h>


typedef struct uct_rsagg_reply {
    ucs_queue_elem_t           queue;
    size_t                     length;
    uint8_t                    msg[];
} uct_rsagg_reply_t;


/* What a deferred entry asks of the next progress */
typedef enum {
    UCT_RSAGG_DEFERRED_REPLY,  /* Send msg to the peer at ret_addr */
    UCT_RSAGG_DEFERRED_FORGET  /* Drop the way back to ret_addr */
} uct_rsagg_deferred_kind_t;


/* A reply whose peer is looked up (or connected) at the next progress, or
 * a peer to forget: the control message (if any), then the return address */
typedef struct uct_rsagg_deferred_reply {
    ucs_queue_elem_t           queue;
    uct_rsagg_deferred_kind_t  kind;
    size_t                     msg_length;
    size_t                     ret_addr_len;
    uint8_t                    data[];
} uct_rsagg_deferred_reply_t;


typedef struct {
    const uint8_t              *msg;
    size_t                     length;
} uct_rsagg_peer_pack_arg_t;


ucs_status_t uct_rsagg_peer_init_ret_addr(uct_rsagg_iface_t *iface)
{
    size_t dev_len   = iface->inner_attr.device_addr_len;
    size_t iface_len = iface->inner_attr.iface_addr_len;
    uct_rsagg_ret_addr_hdr_t *hdr;
    ucs_status_t status;

    iface->conn.ret_addr     = NULL;
    iface->conn.ret_addr_len = 0;
    if (!(iface->inner_attr.cap.flags & UCT_IFACE_FLAG_CONNECT_TO_IFACE) ||
        (dev_len > UINT16_MAX) || (iface_len > UINT16_MAX)) {
        return UCS_ERR_UNSUPPORTED;
    }

    hdr = ucs_malloc(sizeof(*hdr) + dev_len + iface_len, "rsagg_ret_addr");
    if (hdr == NULL) {
        ucs_error("rsagg: failed to allocate the return address");
        return UCS_ERR_NO_MEMORY;
    }

    hdr->dev_addr_len   = dev_len;
    hdr->iface_addr_len = iface_len;
    status = uct_iface_get_device_address(iface->inner,
                                          (uct_device_addr_t*)(hdr + 1));
    if (status == UCS_OK) {
        status = uct_iface_get_address(iface->inner,
                        (uct_iface_addr_t*)UCS_PTR_BYTE_OFFSET(hdr + 1,
                                                               dev_len));
    }
    if (status != UCS_OK) {
        ucs_free(hdr);
        return status;
    }

    iface->conn.ret_addr     = hdr;
    iface->conn.ret_addr_len = sizeof(*hdr) + dev_len + iface_len;
    return UCS_OK;
}

typedef struct {
    uct_rsagg_iface_t          *iface;
    ucs_rsagg_ctrl_op_t        op;
    uint32_t                   seq;
    uint32_t                   value;
} uct_rsagg_peer_request_t;

static size_t uct_rsagg_peer_pack_request(void *dest, void *arg)
{
    uct_rsagg_peer_request_t *req = arg;

    return ucs_rsagg_ctrl_pack_body(dest, req->op, req->seq, req->value,
                                    req->iface->conn.ret_addr,
                                    req->iface->conn.ret_addr_len);
}

ssize_t uct_rsagg_peer_send_request(uct_rsagg_iface_t *iface, uct_ep_h inner,
                                    ucs_rsagg_ctrl_op_t op, uint32_t seq,
                                    uint32_t value)
{
    uct_rsagg_peer_request_t req;

    req.iface = iface;
    req.op    = op;
    req.seq   = seq;
    req.value = value;
    return uct_ep_am_bcopy(inner, UCS_RSAGG_AM_ID_CTRL,
                           uct_rsagg_peer_pack_request, &req, 0);
}

static uct_rsagg_peer_t *uct_rsagg_peer_find(uct_rsagg_iface_t *iface,
                                             const void *ret_addr,
                                             size_t ret_addr_len)
{
    uct_rsagg_peer_t *peer;

    ucs_list_for_each(peer, &iface->conn.peers, list) {
        if ((peer->addr_length == ret_addr_len) &&
            !memcmp(peer->addr, ret_addr, ret_addr_len)) {
            return peer;
        }
    }
    return NULL;
}

static void uct_rsagg_peer_destroy(uct_rsagg_peer_t *peer)
{
    while (!ucs_queue_is_empty(&peer->replies)) {
        ucs_free(ucs_queue_pull_elem_non_empty(&peer->replies,
                                               uct_rsagg_reply_t, queue));
    }
    if (!ucs_list_is_empty(&peer->dispatch)) {
        ucs_list_del(&peer->dispatch);
    }
    uct_ep_destroy(peer->inner);
    ucs_list_del(&peer->list);
    ucs_free(peer);
}

static uct_rsagg_peer_t *uct_rsagg_peer_get(uct_rsagg_iface_t *iface,
                                            const void *ret_addr,
                                            size_t ret_addr_len)
{
    const uct_rsagg_ret_addr_hdr_t *hdr = ret_addr;
    uct_ep_params_t params;
    uct_rsagg_peer_t *peer;
    ucs_status_t status;

    peer = uct_rsagg_peer_find(iface, ret_addr, ret_addr_len);
    if (peer != NULL) {
        return peer;
    }

    /* A return address is data from the wire: check it before use */
    if ((ret_addr_len < sizeof(*hdr)) ||
        (hdr->dev_addr_len != iface->inner_attr.device_addr_len) ||
        (hdr->iface_addr_len != iface->inner_attr.iface_addr_len) ||
        (ret_addr_len != sizeof(*hdr) + hdr->dev_addr_len +
         hdr->iface_addr_len)) {
        ucs_error("rsagg: malformed return address of %zu bytes",
                  ret_addr_len);
        return NULL;
    }

    params.field_mask = UCT_EP_PARAM_FIELD_IFACE |
                        UCT_EP_PARAM_FIELD_DEV_ADDR |
                        UCT_EP_PARAM_FIELD_IFACE_ADDR;
    params.iface      = iface->inner;
    params.dev_addr   = (const uct_device_addr_t*)(hdr + 1);
    params.iface_addr = (const uct_iface_addr_t*)
                        UCS_PTR_BYTE_OFFSET(hdr + 1, hdr->dev_addr_len);
    if (!uct_iface_is_reachable(iface->inner, params.dev_addr,
                                params.iface_addr)) {
        ucs_error("rsagg: a sender's return address is not reachable");
        return NULL;
    }

    peer = ucs_malloc(sizeof(*peer) + ret_addr_len, "rsagg_peer");
    if (peer == NULL) {
        ucs_error("rsagg: failed to allocate a peer");
        return NULL;
    }

    status = uct_ep_create(&params, &peer->inner);
    if (status != UCS_OK) {
        ucs_error("rsagg: failed to connect back to a sender: %s",
                  ucs_status_string(status));
        ucs_free(peer);
        return NULL;
    }

    ucs_queue_head_init(&peer->replies);
    ucs_list_head_init(&peer->dispatch);
    peer->addr_length = ret_addr_len;
    memcpy(peer->addr, ret_addr, ret_addr_len);
    ucs_list_add_tail(&iface->conn.peers, &peer->list);
    return peer;
}

static size_t uct_rsagg_peer_pack(void *dest, void *arg)
{
    uct_rsagg_peer_pack_arg_t *pack = arg;

    memcpy(dest, pack->msg, pack->length);
    return pack->length;
}

/* A fixed-size reply is one am_short; a ring grant carries an rkey of the
 * inner transport's size, so it goes as an am_bcopy */
static ucs_status_t uct_rsagg_peer_send(uct_rsagg_peer_t *peer,
                                        const uint8_t *msg, size_t length)
{
    uct_rsagg_peer_pack_arg_t pack;
    uint64_t header;
    ssize_t packed;

    if (length == UCS_RSAGG_CTRL_SIZE) {
        memcpy(&header, msg, sizeof(header));
        return uct_ep_am_short(peer->inner, UCS_RSAGG_AM_ID_CTRL, header,
                               msg + sizeof(header),
                               UCS_RSAGG_CTRL_SIZE - sizeof(header));
    }

    pack.msg    = msg;
    pack.length = length;
    packed      = uct_ep_am_bcopy(peer->inner, UCS_RSAGG_AM_ID_CTRL,
                                  uct_rsagg_peer_pack, &pack, 0);
    return (packed < 0) ? (ucs_status_t)packed : UCS_OK;
}

static ucs_status_t uct_rsagg_peer_send_reply(uct_rsagg_iface_t *iface,
                                              const void *ret_addr,
                                              size_t ret_addr_len,
                                              const uint8_t *msg,
                                              size_t length)
{
    uct_rsagg_reply_t *reply;
    uct_rsagg_peer_t *peer;
    ucs_status_t status;

    peer = uct_rsagg_peer_get(iface, ret_addr, ret_addr_len);
    if (peer == NULL) {
        return UCS_ERR_UNREACHABLE;
    }

    if (ucs_queue_is_empty(&peer->replies)) {
        status = uct_rsagg_peer_send(peer, msg, length);
        if (status != UCS_ERR_NO_RESOURCE) {
            return status;
        }
    }

    /* Replies keep their order: behind the ones already waiting */
    reply = ucs_malloc(sizeof(*reply) + length, "rsagg_reply");
    if (reply == NULL) {
        ucs_error("rsagg: failed to allocate a reply");
        return UCS_ERR_NO_MEMORY;
    }
    reply->length = length;
    memcpy(reply->msg, msg, length);
    ucs_queue_push(&peer->replies, &reply->queue);
    if (ucs_list_is_empty(&peer->dispatch)) {
        ucs_list_add_tail(&iface->conn.dispatch, &peer->dispatch);
        uct_rsagg_sched_request(iface);
    }
    return UCS_OK;
}

static ucs_status_t
uct_rsagg_peer_defer(uct_rsagg_iface_t *iface, uct_rsagg_deferred_kind_t kind,
                     const void *ret_addr, size_t ret_addr_len,
                     const void *msg, size_t msg_length)
{
    uct_rsagg_deferred_reply_t *deferred;

    deferred = ucs_malloc(sizeof(*deferred) + msg_length + ret_addr_len,
                          "rsagg_deferred_reply");
    if (deferred == NULL) {
        ucs_error("rsagg: failed to allocate a reply");
        return UCS_ERR_NO_MEMORY;
    }

    deferred->kind         = kind;
    deferred->msg_length   = msg_length;
    deferred->ret_addr_len = ret_addr_len;
    if (msg_length > 0) {
        memcpy(deferred->data, msg, msg_length);
    }
    memcpy(deferred->data + msg_length, ret_addr, ret_addr_len);
    ucs_queue_push(&iface->conn.deferred, &deferred->queue);
    uct_rsagg_sched_request(iface);
    return UCS_OK;
}

ucs_status_t uct_rsagg_peer_reply_msg(uct_rsagg_iface_t *iface,
                                      const void *ret_addr,
                                      size_t ret_addr_len, const void *msg,
                                      size_t msg_length)
{
    return uct_rsagg_peer_defer(iface, UCT_RSAGG_DEFERRED_REPLY, ret_addr,
                                ret_addr_len, msg, msg_length);
}

void uct_rsagg_peer_forget(uct_rsagg_iface_t *iface, const void *ret_addr,
                           size_t ret_addr_len)
{
    uct_rsagg_peer_defer(iface, UCT_RSAGG_DEFERRED_FORGET, ret_addr,
                         ret_addr_len, NULL, 0);
}

ucs_status_t uct_rsagg_peer_reply(uct_rsagg_iface_t *iface,
                                  const void *ret_addr, size_t ret_addr_len,
                                  ucs_rsagg_ctrl_op_t op, uint32_t seq,
                                  uint32_t value)
{
    uint8_t msg[UCS_RSAGG_CTRL_SIZE];

    ucs_rsagg_ctrl_pack(msg, op, seq, value);
    return uct_rsagg_peer_reply_msg(iface, ret_addr, ret_addr_len, msg,
                                    sizeof(msg));
}

unsigned uct_rsagg_peer_progress(uct_rsagg_iface_t *iface)
{
    uct_rsagg_deferred_reply_t *deferred;
    uct_rsagg_peer_t *peer, *tmp;
    uct_rsagg_reply_t *reply;
    unsigned count = 0;
    ucs_status_t status;

    while (!ucs_queue_is_empty(&iface->conn.deferred)) {
        deferred = ucs_queue_pull_elem_non_empty(&iface->conn.deferred,
                                                 uct_rsagg_deferred_reply_t,
                                                 queue);
        if (deferred->kind == UCT_RSAGG_DEFERRED_REPLY) {
            uct_rsagg_peer_send_reply(iface,
                                      deferred->data + deferred->msg_length,
                                      deferred->ret_addr_len, deferred->data,
                                      deferred->msg_length);
        } else {
            /* Replies before it have been sent or queued on the peer: a
             * closed sender has no use for those still queued */
            peer = uct_rsagg_peer_find(iface, deferred->data,
                                       deferred->ret_addr_len);
            if (peer != NULL) {
                ucs_debug("rsagg iface %p: way back to peer %p closed", iface,
                          peer);
                uct_rsagg_peer_destroy(peer);
            }
        }
        ucs_free(deferred);
        ++count;
    }

    ucs_list_for_each_safe(peer, tmp, &iface->conn.dispatch, dispatch) {
        while (!ucs_queue_is_empty(&peer->replies)) {
            reply  = ucs_queue_head_elem_non_empty(&peer->replies,
                                                   uct_rsagg_reply_t, queue);
            status = uct_rsagg_peer_send(peer, reply->msg, reply->length);
            if (status == UCS_ERR_NO_RESOURCE) {
                break;
            }
            if (status != UCS_OK) {
                ucs_debug("rsagg: reply to a sender lost: %s",
                          ucs_status_string(status));
            }
            ucs_queue_pull_non_empty(&peer->replies);
            ucs_free(reply);
            ++count;
        }
        if (ucs_queue_is_empty(&peer->replies)) {
            ucs_list_del(&peer->dispatch);
            ucs_list_head_init(&peer->dispatch);
        }
    }
    return count;
}

void uct_rsagg_peer_init(uct_rsagg_iface_t *iface)
{
    iface->conn.ret_addr     = NULL;
    iface->conn.ret_addr_len = 0;
    ucs_list_head_init(&iface->conn.peers);
    ucs_list_head_init(&iface->conn.dispatch);
    ucs_queue_head_init(&iface->conn.deferred);
}

void uct_rsagg_peer_cleanup(uct_rsagg_iface_t *iface)
{
    uct_rsagg_peer_t *peer, *tmp;

    while (!ucs_queue_is_empty(&iface->conn.deferred)) {
        ucs_free(ucs_queue_pull_elem_non_empty(&iface->conn.deferred,
                                               uct_rsagg_deferred_reply_t,
                                               queue));
    }

    ucs_list_for_each_safe(peer, tmp, &iface->conn.peers, list) {
        uct_rsagg_peer_destroy(peer);
    }
    ucs_free(iface->conn.ret_addr);
}
