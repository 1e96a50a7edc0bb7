/**
 * rsagg interface: wraps one inner interface on the same worker.
 */

#ifndef UCT_RSAGG_IFACE_H_
#define UCT_RSAGG_IFACE_H_

#include "rsagg_md.h"
#include "rsagg_counters.h"

#include <ucs/rsagg_wire.h>
#include <ucs/rsagg_parser.h>
#include <uct/base/uct_iface.h>
#include <ucs/datastruct/list.h>
#include <ucs/datastruct/queue.h>
#include <ucs/time/time.h>


/* User active message ids that pass through; the ids above them are
 * rsagg's own on the inner interface (see src/ucs/rsagg_wire.h) */
#define UCT_RSAGG_AM_ID_USER_MAX   UCS_RSAGG_AM_ID_USER_MAX

/* Every rsagg address starts with this, so that peers built from another
 * rsagg format refuse each other clearly instead of misreading bytes */
#define UCT_RSAGG_ADDR_MAGIC       0xa9
#define UCT_RSAGG_ADDR_VERSION     1


typedef struct UCS_S_PACKED uct_rsagg_addr_hdr {
    uint8_t                    magic;
    uint8_t                    version;
    uint8_t                    flags;
    uint8_t                    reserved;
} uct_rsagg_addr_hdr_t;


typedef enum {
    UCT_RSAGG_MUX_EMBEDDED,
    UCT_RSAGG_MUX_OOB,
    UCT_RSAGG_MUX_AUTO,
    UCT_RSAGG_MUX_LAST
} uct_rsagg_mux_t;


typedef struct uct_rsagg_iface_config {
    uct_iface_config_t         super;
    int                        aggregate;
    uct_rsagg_mux_t            mux;
    size_t                     max_batch;
    size_t                     buffer;
    size_t                     zcopy_thresh;
    int                        summary;
    int                        put_aggregate;   /* ucs_ternary_auto_value_t */
    ucs_time_t                 hold_timeout;
    size_t                     ring_size;
    size_t                     auto_thresh;
} uct_rsagg_iface_config_t;


typedef struct uct_rsagg_iface uct_rsagg_iface_t;


struct uct_rsagg_iface {
    uct_base_iface_t           super;
    uct_iface_h                inner;
    uct_iface_attr_t           inner_attr;
    char                       inner_tl[UCT_TL_NAME_MAX];
    ucs_list_link_t            channels;     /* All channels of this iface */
    ucs_list_link_t            dispatch;     /* Channels with work to do */
    int                        unflushed;    /* A channel may have something
                                                to flush (see
                                                uct_rsagg_channel_is_flushed) */
    uct_rsagg_counters_t       counters;
    uint64_t                   direct_sent;  /* Messages sent alone: counted */
    uint64_t                   direct_bytes; /* apart, see read_counters */
    int                        version_warned;
    int                        malformed_warned;
    uct_am_callback_t          stub_am_cb;   /* Handler of unset am ids */
    void                       *ret_addr;    /* Our return address */
    size_t                     ret_addr_len; /* 0: nothing can answer us */
    ucs_list_link_t            peers;        /* Senders we answer */
    ucs_list_link_t            peer_dispatch;/* Peers with replies queued */
    ucs_queue_head_t           peer_deferred;/* Replies not yet addressed */
    uint32_t                   next_channel_id;
    uint32_t                   progress_epoch; /* Progress calls so far */
    int                        own_work;     /* Aggregating: rsagg's own
                                                progress has work */
    uct_worker_cb_id_t         oneshot_id;   /* Pass-through: progress
                                                requested on demand */
    size_t                     rx_headroom;
    ucs_list_link_t            oob_payloads; /* Waiting for their table */
    unsigned                   num_oob_payloads;
    int                        put_aggregate;
    int                        rkey_is_inner;/* Rkeys are the inner's (md) */
    void                       *scratch;     /* am_bcopy packs here first */
    int                        wrap_progress;/* Inner progress runs inside
                                                ours (see rsagg_hold.h) */
    struct {
        unsigned               inside;       /* Worker's thread is in; not
                                                volatile, so that entering
                                                is one add to memory (the
                                                timer reads it after a
                                                membarrier) */
        volatile int           claimed;      /* The timer is in */
        int                    timer_id;     /* UCX async timer (signal and
                                                poll modes), -1: none */
        int                    ticked;       /* On the hold thread's list */
        ucs_list_link_t        list;         /* In the hold thread's list */
        uint64_t               next_nsec;    /* Its next tick, monotonic */
        uint32_t               epoch;        /* progress_epoch at the last
                                                tick */
        ucs_time_t             timeout;
    } hold;
    struct {                                 /* Receiver ring, rsagg_ring.c */
        void                   *base;        /* NULL: not allocated yet */
        size_t                 size;
        uct_mem_h              memh;
        int                    allocated;    /* By the md's mem_alloc */
        int                    failed;       /* Could not be set up */
        void                   *rkey;        /* Packed inner rkey */
        size_t                 rkey_length;
        ucs_list_link_t        slices;       /* Granted, by offset */
    } ring;
    struct {
        int                    aggregate;
        uct_rsagg_mux_t        mux;
        int                    ring_put;     /* Sender: inner put to use for
                                                ring payloads (0: none) */
        size_t                 ring_size;    /* Receiver region */
        size_t                 ring_slice;   /* Slice a sender asks for */
        size_t                 auto_thresh;  /* auto: ring-oob from here */
        int                    ring_auto;    /* auto may use the ring */
        size_t                 max_batch;
        size_t                 max_bcopy;    /* am_bcopy: the inner's */
        size_t                 small_max;    /* Largest message batched */
        size_t                 buffer;
        size_t                 zcopy_thresh;
        int                    summary;
    } config;
};


extern uct_tl_t uct_rsagg_tl;


static UCS_F_ALWAYS_INLINE uct_rsagg_md_t *
uct_rsagg_iface_md(uct_rsagg_iface_t *iface)
{
    return ucs_derived_of(iface->super.md, uct_rsagg_md_t);
}

/* rsagg's own progress is needed (a channel or a reply waits) */
void uct_rsagg_iface_request_progress(uct_rsagg_iface_t *iface);

/* The counters with every total complete */
void uct_rsagg_iface_read_counters(const uct_rsagg_iface_t *iface,
                                   uct_rsagg_counters_t *counters_p);

/* Checks a peer's rsagg address header; logs once per iface on mismatch */
ucs_status_t uct_rsagg_iface_check_addr(uct_rsagg_iface_t *iface,
                                        const void *addr);

void uct_rsagg_iface_pack_addr_hdr(void *addr);

/* Receive side, shared with the ring (rsagg_ring.c) */
void uct_rsagg_iface_malformed(uct_rsagg_iface_t *iface, size_t length,
                               const char *why, size_t offset,
                               uint64_t value);

void uct_rsagg_iface_policy(uct_rsagg_iface_t *iface,
                            ucs_rsagg_policy_t *policy);

/* Delivers a validated transfer, in order */
void uct_rsagg_iface_deliver(uct_rsagg_iface_t *iface, ucs_rsagg_iter_t *iter);

/* Out-of-band tables may carry their payload in the ring, and their batch
 * buffers need room for a table and a payload */
static UCS_F_ALWAYS_INLINE int uct_rsagg_iface_may_oob(uct_rsagg_iface_t *iface)
{
    return iface->config.mux != UCT_RSAGG_MUX_EMBEDDED;
}


#endif
