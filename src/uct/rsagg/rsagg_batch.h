/**
 * rsagg batch: one consolidated transfer of a channel, and the channel's
 * batch buffers (at most UCX_RSAGG_BUFFER of them): the open batch being
 * filled, closed batches queued for the inner transport, spares.
 *
 * The functions here fill, close, queue and send a channel's batches. They
 * use the channel's fields but call nothing of the channel's: whether to
 * arm the inner ep or schedule the channel after UCS_ERR_NO_RESOURCE is
 * the caller's decision (rsagg_channel.c).
 */

#ifndef UCT_RSAGG_BATCH_H_
#define UCT_RSAGG_BATCH_H_

#include "rsagg_iface.h"

#include <ucs/rsagg_builder.h>
#include <ucs/datastruct/queue.h>


typedef struct uct_rsagg_channel uct_rsagg_channel_t;


/* What a batch buffer holds, and so how it goes to the inner transport */
typedef enum {
    UCT_RSAGG_BATCH_EMBEDDED,  /* Table inside: one inner AM */
    UCT_RSAGG_BATCH_OOB,       /* Payload, then table: two inner AMs */
    UCT_RSAGG_BATCH_OOB_RING,  /* Payload put into the receiver's ring, then
                                  the table as an inner AM */
    UCT_RSAGG_BATCH_ALONE      /* One message too large for a batch, sent
                                  alone on its own am id after the batches
                                  before it */
} uct_rsagg_batch_kind_t;


typedef struct uct_rsagg_batch {
    ucs_queue_elem_t           queue;          /* In the channel's queued
                                                  or free queue */
    uct_rsagg_batch_kind_t     kind;
    uint8_t                    am_id;          /* ALONE: the message's */
    uint8_t                    payload_sent;   /* OOB*: the table is next */
    uint8_t                    put_inflight;   /* OOB_RING put_zcopy not
                                                  complete: the payload is
                                                  the inner's */
    uint8_t                    done;           /* Sent; free once the put
                                                  completes */
    size_t                     length;         /* Batch, table or message */
    size_t                     payload_length; /* OOB*: the payload's */
    uint8_t                    *payload;       /* OOB*: after the table */
    uct_rsagg_channel_t        *channel;
    uct_mem_h                  memh;           /* payload, for put_zcopy */
    uct_completion_t           put_comp;
    uint8_t                    data[];
} uct_rsagg_batch_t;


/* Opens a new batch of the form the channel uses now. UCS_ERR_NO_RESOURCE
 * when the channel's buffers are all in use. */
ucs_status_t uct_rsagg_batch_open(uct_rsagg_channel_t *channel);

/* Closes the open batch: sent now, or queued behind the others
 * (UCS_ERR_NO_RESOURCE); another error: lost with the inner ep */
ucs_status_t uct_rsagg_batch_close(uct_rsagg_channel_t *channel);

/* Sends queued batches in order until the inner ep has no room */
ucs_status_t uct_rsagg_batch_send_queued(uct_rsagg_channel_t *channel);

/* A spare buffer is at hand (free, or one more may be allocated) */
int uct_rsagg_batch_has_spare(uct_rsagg_channel_t *channel);

/* Queues one message too large for a batch, behind the batches, in a spare
 * buffer that the caller made sure of */
void uct_rsagg_batch_queue_alone(uct_rsagg_channel_t *channel, uint8_t am_id,
                                 const void *data, size_t length);

/* Frees every buffer (the channel goes, after its inner ep) */
void uct_rsagg_batch_free_all(uct_rsagg_channel_t *channel);

#endif
