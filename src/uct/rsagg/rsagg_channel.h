/**
 * rsagg channel: rsagg's link to one destination over the inner transport.
 *
 * Every rsagg endpoint sends through a channel. The channel owns the inner
 * endpoint, the pending requests of its endpoints (dispatched round-robin so
 * no endpoint starves the others on a shared inner connection), the batches
 * (rsagg_batch.h), its slice of the receiver's ring (rsagg_ring_tx.h) and
 * the remote completion of the puts rsagg applies at the receiver.
 *
 * States, and what moves between them:
 *   OPEN    -> CLOSING  the last ep went while batches could not leave
 *                       (channel_put); the channel stays until they have
 *   CLOSING -> OPEN     a new ep to the same peer takes it back
 *                       (channel_get): what it still has to send stays
 *                       ahead of the new ep's messages
 *   OPEN, CLOSING -> FAILED  the inner ep failed (channel_fail); no new ep
 *                       joins it, flushes complete with the error
 * A channel is destroyed when its last ep goes (OPEN with nothing to send,
 * or FAILED), at the next progress when a CLOSING one has sent its batches
 * or failed, or when the iface closes.
 */

#ifndef UCT_RSAGG_CHANNEL_H_
#define UCT_RSAGG_CHANNEL_H_

#include "rsagg_ring_tx.h"
#include "rsagg_sched.h"

#include <ucs/rsagg_builder.h>
#include <ucs/datastruct/list.h>
#include <ucs/datastruct/queue.h>


typedef struct uct_rsagg_ep uct_rsagg_ep_t;


typedef enum {
    UCT_RSAGG_CHANNEL_OPEN,
    UCT_RSAGG_CHANNEL_CLOSING,   /* No ep left, still sending */
    UCT_RSAGG_CHANNEL_FAILED     /* The inner ep failed: status says how */
} uct_rsagg_channel_state_t;


struct uct_rsagg_channel {
    uct_rsagg_iface_t          *iface;
    uct_ep_h                   inner;
    uct_rsagg_channel_state_t  state;
    ucs_status_t               status;       /* FAILED: the inner error */
    unsigned                   refcount;     /* rsagg eps using it */
    ucs_list_link_t            list;         /* In iface->channels */
    ucs_list_link_t            eps;          /* rsagg eps using it */
    ucs_list_link_t            pending_eps;  /* eps with pending requests */
    ucs_list_link_t            dispatch;     /* In iface->sched.dispatch */
    uct_pending_req_t          inner_req;    /* Ours, on the inner ep */
    int                        inner_req_armed;
    int                        in_inner_cb;  /* In inner_req's callback */
    uct_rsagg_ep_t             *dispatch_ep; /* Whose request is running */
    size_t                     key_length;
    uint8_t                    *key;         /* Peer address; NULL: not
                                                shared (connect-to-ep) */
    uint32_t                   next_ep_id;
    uint32_t                   id;           /* Unique in the iface */

    /* Remote completion of puts that rsagg applies at the receiver */
    int                        puts_unflushed;
    uint32_t                   flush_req_sn; /* Last flush request sent */
    uint32_t                   flush_ack_sn; /* Last one acknowledged */
    ucs_queue_head_t           flush_comps;  /* Waiting for an ack */

    /* Aggregation (rsagg_batch.c, rsagg_send.c) */
    uct_rsagg_batch_t          *open;        /* NULL: not batching now */
    ucs_rsagg_builder_t        builder;      /* Fills open->data */
    ucs_queue_head_t           queued;       /* Closed, not yet sent */
    ucs_queue_head_t           free;         /* Spare batch buffers */
    unsigned                   num_batches;  /* Allocated buffers */
    unsigned                   max_batches;  /* UCX_RSAGG_BUFFER / batch */
    uint32_t                   seq;
    uint32_t                   direct_epoch; /* Progress epoch of the last
                                                message sent alone */
    ucs_time_t                 open_time;    /* When the open batch opened */
    uint8_t                    active;       /* Appended since progress */
    uint8_t                    burst;        /* Last batch had several */
    uint8_t                    bcopy_large;  /* Last am_bcopy was too large
                                                for a batch */
    uint8_t                    ring_next;    /* auto: next batch to the ring
                                                (the last one was large) */

    uct_rsagg_ring_tx_t        ring;         /* Our slice of the receiver's
                                                ring */
};


ucs_status_t uct_rsagg_channel_get(uct_rsagg_iface_t *iface,
                                   const uct_ep_params_t *params,
                                   uct_rsagg_channel_t **channel_p);

void uct_rsagg_channel_put(uct_rsagg_channel_t *channel);

/* At iface close: sends what it can now, then destroys */
void uct_rsagg_channel_close(uct_rsagg_channel_t *channel);

ucs_status_t uct_rsagg_channel_pending_add(uct_rsagg_channel_t *channel,
                                           uct_rsagg_ep_t *ep,
                                           uct_pending_req_t *req);

void uct_rsagg_channel_pending_remove(uct_rsagg_channel_t *channel,
                                      uct_rsagg_ep_t *ep);

/* The channel's work in a progress round: end a batch that did not grow,
 * send queued batches, dispatch pending requests */
unsigned uct_rsagg_channel_progress(uct_rsagg_channel_t *channel);

/* Closes the open batch and sends what is queued; on UCS_ERR_NO_RESOURCE
 * the channel comes back when the inner ep has room */
ucs_status_t uct_rsagg_channel_flush_batches(uct_rsagg_channel_t *channel);

/* Ask to be called when the inner ep has resources. UCS_ERR_BUSY when it
 * has them now. */
ucs_status_t uct_rsagg_channel_arm(uct_rsagg_channel_t *channel);

/* Put the channel on the iface's dispatch list for the next progress */
void uct_rsagg_channel_schedule(uct_rsagg_channel_t *channel);

/* Remote completion: UCS_OK when everything sent before is applied at the
 * receiver, UCS_INPROGRESS (comp called later) or UCS_ERR_NO_RESOURCE */
ucs_status_t uct_rsagg_channel_flush(uct_rsagg_channel_t *channel,
                                     uct_completion_t *comp);

/* A FLUSH_ACK for flush request sn */
void uct_rsagg_channel_flush_acked(uct_rsagg_channel_t *channel, uint32_t sn);

void uct_rsagg_channel_fail(uct_rsagg_channel_t *channel, ucs_status_t status);

/* The channel of this iface with this id; NULL: none (it went) */
uct_rsagg_channel_t *uct_rsagg_channel_find(uct_rsagg_iface_t *iface,
                                            uint32_t channel_id);

/* The inner transport's error handler: the channel of inner_ep failed, and
 * every rsagg ep on it is told */
ucs_status_t uct_rsagg_channel_inner_failed(void *arg, uct_ep_h inner_ep,
                                            ucs_status_t status);


static UCS_F_ALWAYS_INLINE int
uct_rsagg_channel_has_batches(const uct_rsagg_channel_t *channel)
{
    return ((channel->open != NULL) &&
            !ucs_rsagg_builder_is_empty(&channel->builder)) ||
           !ucs_queue_is_empty(&channel->queued);
}

/* Nothing of the channel is left to flush: no batch open or queued, every
 * put acknowledged and no request pending (uct_rsagg_channel_flush would
 * return UCS_OK and do nothing); or it failed, and nothing of it will ever
 * leave (its flushes completed with the error) */
static UCS_F_ALWAYS_INLINE int
uct_rsagg_channel_is_flushed(uct_rsagg_channel_t *channel)
{
    return (channel->state == UCT_RSAGG_CHANNEL_FAILED) ||
           (!channel->puts_unflushed &&
           (channel->flush_ack_sn == channel->flush_req_sn) &&
           ucs_list_is_empty(&channel->pending_eps) &&
           (channel->open == NULL) && ucs_queue_is_empty(&channel->queued));
}

/* Whatever makes a channel not flushed (a batch opened or queued, a request
 * pending, a put to acknowledge, an error) says so to the iface: an iface
 * flush whose channels were all flushed at its last look then looks at none
 * (shmem_quiet, MPI_Win_flush: O(1), not O(peers)) */
static UCS_F_ALWAYS_INLINE void
uct_rsagg_channel_mark_unflushed(uct_rsagg_channel_t *channel)
{
    channel->iface->unflushed = 1;
}

/* The send policy's first half: a message goes out alone when the channel
 * is idle (nothing batched, nothing sent since the last progress round), so
 * a lone message never waits for a batch; right after such a send, further
 * messages are batched. A sender whose last batch held several messages
 * (burst) batches the first message of its next burst too. "Since the last
 * progress" is an epoch compare, so a direct send costs no list operation.
 * The second half, which form a batch takes, is uct_rsagg_batch_form(). */
static UCS_F_ALWAYS_INLINE int
uct_rsagg_channel_is_idle(const uct_rsagg_channel_t *channel, uint32_t epoch)
{
    return (channel->direct_epoch != epoch) && !channel->burst &&
           (channel->open == NULL) && ucs_queue_is_empty(&channel->queued);
}

static UCS_F_ALWAYS_INLINE int
uct_rsagg_channel_send_direct(const uct_rsagg_channel_t *channel)
{
    return !channel->iface->config.aggregate ||
           uct_rsagg_channel_is_idle(channel, channel->iface->sched.epoch);
}

/* Two counters, not five: the totals are summed when they are read
 * (uct_rsagg_iface_read_counters), off the ping-pong path */
static UCS_F_ALWAYS_INLINE void
uct_rsagg_channel_sent_direct(uct_rsagg_channel_t *channel, size_t length)
{
    uct_rsagg_iface_t *iface = channel->iface;

    ++iface->direct_sent;
    iface->direct_bytes   += length;
    channel->direct_epoch  = iface->sched.epoch;
}

/* Takes back a message counted by uct_rsagg_channel_sent_direct that the
 * inner transport then refused; the channel's mark stays */
static UCS_F_ALWAYS_INLINE void
uct_rsagg_channel_unsent_direct(uct_rsagg_iface_t *iface, size_t length)
{
    --iface->direct_sent;
    iface->direct_bytes -= length;
}


/* Operations that are not aggregated go after everything batched before them,
 * so that per-ep order holds */
#define UCT_RSAGG_CHANNEL_ORDER(_channel) \
    do { \
        if (ucs_unlikely(uct_rsagg_channel_has_batches(_channel))) { \
            ucs_status_t _status = uct_rsagg_channel_flush_batches(_channel); \
            if (_status != UCS_OK) { \
                return _status; \
            } \
        } \
    } while (0)

#endif
