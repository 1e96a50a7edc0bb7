/**
 * rsagg channel: rsagg's link to one destination over the inner transport.
 *
 * Every rsagg endpoint sends through a channel. The channel owns the inner
 * endpoint, the pending requests of its endpoints (dispatched round-robin so
 * no endpoint starves the others on a shared inner connection) and, when
 * aggregation is on, the open batch.
 */

#ifndef UCT_RSAGG_CHANNEL_H_
#define UCT_RSAGG_CHANNEL_H_

#include "rsagg_iface.h"

#include <ucs/datastruct/list.h>
#include <ucs/datastruct/queue.h>


typedef struct uct_rsagg_ep uct_rsagg_ep_t;


typedef struct uct_rsagg_channel {
    uct_rsagg_iface_t          *iface;
    uct_ep_h                   inner;
    unsigned                   refcount;     /* rsagg eps using it */
    ucs_list_link_t            list;         /* In iface->channels */
    ucs_list_link_t            eps;          /* rsagg eps using it */
    ucs_list_link_t            pending_eps;  /* eps with pending requests */
    ucs_list_link_t            dispatch;     /* In iface->dispatch */
    uct_pending_req_t          inner_req;    /* Ours, on the inner ep */
    int                        inner_req_armed;
    int                        in_dispatch;
    int                        shared;       /* Found by peer address */
    ucs_status_t               status;       /* Error of the inner ep */
    size_t                     key_length;
    uint8_t                    *key;         /* Peer address, when shared */
} uct_rsagg_channel_t;


ucs_status_t uct_rsagg_channel_get(uct_rsagg_iface_t *iface,
                                   const uct_ep_params_t *params,
                                   uct_rsagg_channel_t **channel_p);

void uct_rsagg_channel_put(uct_rsagg_channel_t *channel);

ucs_status_t uct_rsagg_channel_pending_add(uct_rsagg_channel_t *channel,
                                           uct_rsagg_ep_t *ep,
                                           uct_pending_req_t *req);

void uct_rsagg_channel_pending_remove(uct_rsagg_channel_t *channel,
                                      uct_rsagg_ep_t *ep);

unsigned uct_rsagg_channel_progress(uct_rsagg_channel_t *channel);

uct_rsagg_channel_t *uct_rsagg_channel_find_inner(uct_rsagg_iface_t *iface,
                                                  uct_ep_h inner_ep);

#endif
