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

#include <ucs/rsagg_builder.h>
#include <ucs/datastruct/list.h>
#include <ucs/datastruct/queue.h>


typedef struct uct_rsagg_ep uct_rsagg_ep_t;
typedef struct uct_rsagg_channel uct_rsagg_channel_t;


/* A sender's slice of the receiver's ring (rsagg_ring.c) */
typedef enum {
    UCT_RSAGG_RING_NONE,       /* Not asked for (yet) */
    UCT_RSAGG_RING_REQUESTED,  /* Asked, no answer yet */
    UCT_RSAGG_RING_GRANTED,
    UCT_RSAGG_RING_DENIED      /* Payloads stay active messages */
} uct_rsagg_ring_state_t;


/* One consolidated transfer: open (being filled) or closed and waiting for
 * the inner transport */
typedef struct uct_rsagg_batch {
    ucs_queue_elem_t           queue;
    size_t                     length;         /* Batch, or oob table */
    size_t                     payload_length; /* Out-of-band form only */
    uint8_t                    *payload;       /* Out-of-band form only */
    int                        payload_sent;   /* Out-of-band: table next */
    int                        raw_id;         /* >= 0: one message too
                                                  large for a batch, sent
                                                  alone on this am id */
    uct_rsagg_channel_t        *channel;
    uct_mem_h                  memh;           /* payload, for put_zcopy */
    uct_completion_t           put_comp;
    uint8_t                    in_ring;        /* Payload goes to the ring */
    uint8_t                    put_inflight;   /* put_zcopy not complete:
                                                  the payload is in use */
    uint8_t                    done;           /* Sent; free once the put
                                                  completes */
    uint8_t                    data[];
} uct_rsagg_batch_t;


struct uct_rsagg_channel {
    uct_rsagg_iface_t          *iface;
    uct_ep_h                   inner;
    unsigned                   refcount;     /* rsagg eps using it */
    ucs_list_link_t            list;         /* In iface->channels */
    ucs_list_link_t            eps;          /* rsagg eps using it */
    ucs_list_link_t            pending_eps;  /* eps with pending requests */
    ucs_list_link_t            dispatch;     /* In iface->dispatch */
    uct_pending_req_t          inner_req;    /* Ours, on the inner ep */
    int                        inner_req_armed;
    int                        in_inner_cb;  /* In inner_req's callback */
    uct_rsagg_ep_t             *dispatch_ep; /* Whose request is running */
    int                        closing;      /* No ep left, still sending */
    ucs_status_t               status;       /* Error of the inner ep */
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

    /* Aggregation */
    uct_rsagg_batch_t          *open;        /* NULL: not batching now */
    ucs_rsagg_builder_t        builder;      /* Fills open->data */
    ucs_queue_head_t           queued;       /* Closed, not yet sent */
    ucs_queue_head_t           free;         /* Spare batch buffers */
    unsigned                   num_batches;  /* Allocated buffers */
    unsigned                   max_batches;  /* UCX_RSAGG_BUFFER / batch */
    uint32_t                   seq;
    uint32_t                   direct_epoch; /* Progress epoch of the last
                                                message sent alone */
    uint8_t                    active;       /* Appended since progress */
    uint8_t                    burst;        /* Last batch had several */
    uint8_t                    bcopy_large;  /* Last am_bcopy was too large
                                                for a batch */
    uint8_t                    ring_next;    /* auto: next batch to the ring
                                                (the last one was large) */

    /* Our slice of the receiver's ring (rsagg_ring.c) */
    struct {
        uint8_t                state;        /* uct_rsagg_ring_state_t */
        uint8_t                stalled;      /* Waiting for credits */
        uint32_t               offset;       /* Of the slice in the region */
        uint32_t               size;
        uint32_t               head;         /* Next write, in the slice */
        uint32_t               credits;      /* Bytes we may write */
        uint64_t               remote_addr;  /* Of the region */
        uct_rkey_bundle_t      rkey;
    } ring;
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

unsigned uct_rsagg_channel_progress(uct_rsagg_channel_t *channel);

ucs_status_t uct_rsagg_channel_flush_batches(uct_rsagg_channel_t *channel);

ucs_status_t uct_rsagg_channel_am_short_slow(uct_rsagg_channel_t *channel,
                                             uint32_t ep_id, uint8_t id,
                                             uint64_t header,
                                             const void *payload,
                                             unsigned length);

ssize_t uct_rsagg_channel_am_bcopy(uct_rsagg_channel_t *channel,
                                   uint32_t ep_id, uint8_t id,
                                   uct_pack_callback_t pack_cb, void *arg,
                                   unsigned flags);

ucs_status_t uct_rsagg_channel_put_short(uct_rsagg_channel_t *channel,
                                         uint32_t ep_id, const void *buffer,
                                         unsigned length, uint64_t remote_addr,
                                         uct_rkey_t rkey);

ssize_t uct_rsagg_channel_put_bcopy(uct_rsagg_channel_t *channel,
                                    uint32_t ep_id, uct_pack_callback_t pack_cb,
                                    void *arg, uint64_t remote_addr,
                                    uct_rkey_t rkey);

/* Remote completion: UCS_OK when everything sent before is applied at the
 * receiver, UCS_INPROGRESS (comp called later) or UCS_ERR_NO_RESOURCE */
ucs_status_t uct_rsagg_channel_flush(uct_rsagg_channel_t *channel,
                                     uct_completion_t *comp);

void uct_rsagg_channel_flush_acked(uct_rsagg_iface_t *iface,
                                   uint32_t channel_id, uint32_t sn);

void uct_rsagg_channel_fail(uct_rsagg_channel_t *channel, ucs_status_t status);

ucs_status_t uct_rsagg_channel_am_zcopy(uct_rsagg_channel_t *channel,
                                        uint32_t ep_id, uint8_t id,
                                        const void *header,
                                        unsigned header_length,
                                        const uct_iov_t *iov, size_t iovcnt,
                                        unsigned flags, uct_completion_t *comp);

void uct_rsagg_channel_schedule(uct_rsagg_channel_t *channel);

uct_rsagg_channel_t *uct_rsagg_channel_find_inner(uct_rsagg_iface_t *iface,
                                                  uct_ep_h inner_ep);



static UCS_F_ALWAYS_INLINE int
uct_rsagg_channel_has_batches(const uct_rsagg_channel_t *channel)
{
    return ((channel->open != NULL) &&
            !ucs_rsagg_builder_is_empty(&channel->builder)) ||
           !ucs_queue_is_empty(&channel->queued);
}

/* Nothing of the channel is left to flush: no error, no batch open or
 * queued, every put acknowledged and no request pending
 * (uct_rsagg_channel_flush would return UCS_OK and do nothing) */
static UCS_F_ALWAYS_INLINE int
uct_rsagg_channel_is_flushed(uct_rsagg_channel_t *channel)
{
    return (channel->status == UCS_OK) && !channel->puts_unflushed &&
           (channel->flush_ack_sn == channel->flush_req_sn) &&
           ucs_list_is_empty(&channel->pending_eps) &&
           (channel->open == NULL) && ucs_queue_is_empty(&channel->queued);
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

/* A message goes out alone when the channel is idle (nothing batched, nothing
 * sent since the last progress): a lone message never waits for a batch.
 * Right after such a send, further messages are batched. "Since the last
 * progress" is an epoch compare, so a direct send costs no list operation. */
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
           uct_rsagg_channel_is_idle(channel, channel->iface->progress_epoch);
}

/* Two counters, not five: the totals are summed when they are read
 * (uct_rsagg_iface_read_counters), off the ping-pong path */
static UCS_F_ALWAYS_INLINE void
uct_rsagg_channel_sent_direct(uct_rsagg_channel_t *channel, size_t length)
{
    uct_rsagg_iface_t *iface = channel->iface;

    ++iface->direct_sent;
    iface->direct_bytes   += length;
    channel->direct_epoch  = iface->progress_epoch;
}

/* Takes back a message counted by uct_rsagg_channel_sent_direct that the
 * inner transport then refused; the channel's mark stays */
static UCS_F_ALWAYS_INLINE void
uct_rsagg_iface_unsent_direct(uct_rsagg_iface_t *iface, size_t length)
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


/* Fast path: append to the open batch; anything else is the slow path */
static UCS_F_ALWAYS_INLINE ucs_status_t
uct_rsagg_channel_am_short(uct_rsagg_channel_t *channel, uint32_t ep_id,
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

    return uct_rsagg_channel_am_short_slow(channel, ep_id, id, header, payload,
                                           length);
}

#endif
