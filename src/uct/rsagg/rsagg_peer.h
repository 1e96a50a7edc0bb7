/**
 * rsagg peer: the way back from a receiver to a sender.
 *
 * UCT active messages do not say who sent them, and a connect-to-iface
 * channel is one-way. Some things a receiver owes its sender, though: the
 * acknowledgement that makes a flush of rsagg-applied puts complete, and
 * ring credits. A request that needs an answer carries the sender's return
 * address; the receiver keeps one inner ep per return address, created on
 * first use, and answers with control messages on it.
 */

#ifndef UCT_RSAGG_PEER_H_
#define UCT_RSAGG_PEER_H_

#include "rsagg_iface.h"

#include <ucs/datastruct/list.h>
#include <ucs/datastruct/queue.h>


typedef struct uct_rsagg_peer {
    ucs_list_link_t            list;         /* In conn.peers */
    ucs_list_link_t            dispatch;     /* In conn.dispatch */
    uct_ep_h                   inner;
    ucs_queue_head_t           replies;      /* Not sent yet: no resources */
    size_t                     addr_length;
    uint8_t                    addr[];       /* Return address */
} uct_rsagg_peer_t;


/* Return address: where a sender's iface can be reached by its peers */
typedef struct UCS_S_PACKED uct_rsagg_ret_addr_hdr {
    uint16_t                   dev_addr_len;
    uint16_t                   iface_addr_len;
} uct_rsagg_ret_addr_hdr_t;


/* Builds iface->conn.ret_addr; UCS_ERR_UNSUPPORTED when the inner transport
 * cannot connect to an iface (then nothing that needs an answer is used) */
ucs_status_t uct_rsagg_peer_init_ret_addr(uct_rsagg_iface_t *iface);

/* Sends a control message to the sender at ret_addr, from the next progress:
 * called from an inner AM handler, where creating an inner ep to the sender
 * could make the inner transport merge it with the ep being read from (tcp
 * does) and free that under the handler's feet */
ucs_status_t uct_rsagg_peer_reply(uct_rsagg_iface_t *iface,
                                  const void *ret_addr, size_t ret_addr_len,
                                  ucs_rsagg_ctrl_op_t op, uint32_t seq,
                                  uint32_t value);

/* A sender's channel closed (CLOSE): from the next progress, after the
 * replies queued before, the receiver drops its way back to that address,
 * since an iface opened later may have the same address */
void uct_rsagg_peer_forget(uct_rsagg_iface_t *iface, const void *ret_addr,
                           size_t ret_addr_len);

/* As uct_rsagg_peer_reply, any control message (a ring grant) */
ucs_status_t uct_rsagg_peer_reply_msg(uct_rsagg_iface_t *iface,
                                      const void *ret_addr,
                                      size_t ret_addr_len, const void *msg,
                                      size_t msg_length);

/* Sends on a channel's inner ep a control message that names this iface by
 * its return address as its body: a request the receiver answers over the
 * return path (flush request, ring request), or CLOSE. Returns what
 * uct_ep_am_bcopy returns. */
ssize_t uct_rsagg_peer_send_request(uct_rsagg_iface_t *iface, uct_ep_h inner,
                                    ucs_rsagg_ctrl_op_t op, uint32_t seq,
                                    uint32_t value);

static UCS_F_ALWAYS_INLINE int
uct_rsagg_peer_has_work(uct_rsagg_iface_t *iface)
{
    return !ucs_queue_is_empty(&iface->conn.deferred) ||
           !ucs_list_is_empty(&iface->conn.dispatch);
}

unsigned uct_rsagg_peer_progress(uct_rsagg_iface_t *iface);

void uct_rsagg_peer_init(uct_rsagg_iface_t *iface);

void uct_rsagg_peer_cleanup(uct_rsagg_iface_t *iface);

#endif
