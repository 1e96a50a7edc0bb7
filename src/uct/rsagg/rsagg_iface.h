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
    ucs_time_t                 max_delay;
    size_t                     ring_size;
    size_t                     auto_thresh;
} uct_rsagg_iface_config_t;


typedef struct uct_rsagg_iface uct_rsagg_iface_t;


/* Work of rsagg's own waiting for a progress round (rsagg_sched.c) */
typedef struct uct_rsagg_sched {
    ucs_list_link_t            dispatch;     /* Channels with work to do */
    uint32_t                   epoch;        /* Progress rounds so far */
    int                        own_work;     /* Aggregating: rsagg's own
                                                progress has work */
    uct_worker_cb_id_t         oneshot_id;   /* Pass-through: progress
                                                requested on demand */
    ucs_callback_t             oneshot_cb;   /* Handed by rsagg_progress.c */
} uct_rsagg_sched_t;


/* The receive side's state (rsagg_rx.c) */
typedef struct uct_rsagg_rx {
    uct_am_callback_t          stub_am_cb;   /* Handler of unset am ids */
    int                        malformed_warned;
    size_t                     headroom;     /* Inner descriptors' */
    ucs_list_link_t            oob_payloads; /* Waiting for their table */
    unsigned                   num_oob_payloads;
} uct_rsagg_rx_t;


/* The return path (rsagg_peer.c) */
typedef struct uct_rsagg_conn {
    void                       *ret_addr;    /* Our return address */
    size_t                     ret_addr_len; /* 0: nothing can answer us */
    ucs_list_link_t            peers;        /* Senders we answer */
    ucs_list_link_t            dispatch;     /* Peers with replies queued */
    ucs_queue_head_t           deferred;     /* Replies not yet addressed */
} uct_rsagg_conn_t;


/* The hold timer (rsagg_hold.c) */
typedef unsigned (*uct_rsagg_hold_send_func_t)(uct_rsagg_iface_t *iface);

typedef struct uct_rsagg_hold {
    unsigned                   inside;       /* Worker's thread is in; not
                                                volatile, so that entering
                                                is one add to memory (the
                                                timer reads it after a
                                                membarrier) */
    volatile int               claimed;      /* The timer is in */
    int                        timer_id;     /* UCX async timer (signal and
                                                poll modes), -1: none */
    int                        ticked;       /* On the hold thread's list */
    ucs_list_link_t            list;         /* In the hold thread's list */
    uint64_t                   next_nsec;    /* Its next tick, monotonic */
    uint32_t                   epoch;        /* sched.epoch at the last
                                                tick */
    ucs_time_t                 timeout;
    uct_rsagg_hold_send_func_t send;         /* What a tick does, handed by
                                                rsagg_progress.c */
} uct_rsagg_hold_t;


/* The receiver's ring (rsagg_ring_rx.c) */
typedef struct uct_rsagg_ring_rx {
    void                       *base;        /* NULL: not allocated yet */
    size_t                     size;
    uct_mem_h                  memh;
    int                        allocated;    /* By the md's mem_alloc */
    int                        failed;       /* Could not be set up */
    void                       *rkey;        /* Packed inner rkey */
    size_t                     rkey_length;
    ucs_list_link_t            slices;       /* Granted, by offset */
} uct_rsagg_ring_rx_t;


struct uct_rsagg_iface {
    uct_base_iface_t           super;
    uct_iface_h                inner;
    uct_iface_attr_t           inner_attr;
    char                       inner_tl[UCT_TL_NAME_MAX];
    ucs_list_link_t            channels;     /* All channels of this iface */
    uint32_t                   next_channel_id;
    int                        unflushed;    /* A channel may have something
                                                to flush (see
                                                uct_rsagg_channel_is_flushed) */
    uct_rsagg_counters_t       counters;
    uint64_t                   direct_sent;  /* Messages sent alone: counted */
    uint64_t                   direct_bytes; /* apart, see read_counters */
    int                        version_warned;
    int                        put_aggregate;
    int                        rkey_is_inner;/* Rkeys are the inner's (md) */
    void                       *scratch;     /* am_bcopy packs here first */
    int                        wrap_progress;/* Inner progress runs inside
                                                ours (see rsagg_hold.h) */
    uct_rsagg_sched_t          sched;
    uct_rsagg_rx_t             rx;
    uct_rsagg_conn_t           conn;
    uct_rsagg_hold_t           hold;
    uct_rsagg_ring_rx_t        ring;
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
        ucs_time_t             max_delay;    /* Oldest age of an open batch
                                                that keeps growing */
        int                    summary;
    } config;
};


extern ucs_config_field_t uct_rsagg_iface_config_table[];


static UCS_F_ALWAYS_INLINE uct_rsagg_md_t *
uct_rsagg_iface_md(uct_rsagg_iface_t *iface)
{
    return ucs_derived_of(iface->super.md, uct_rsagg_md_t);
}

UCS_CLASS_DECLARE(uct_rsagg_iface_t, const uct_iface_ops_t*,
                  const uct_iface_internal_ops_t*, uct_md_h, uct_worker_h,
                  const uct_iface_params_t*, const uct_iface_config_t*);
UCS_CLASS_DECLARE_NEW_FUNC(uct_rsagg_iface_t, uct_iface_t,
                           const uct_iface_ops_t*,
                           const uct_iface_internal_ops_t*, uct_md_h,
                           uct_worker_h, const uct_iface_params_t*,
                           const uct_iface_config_t*);
UCS_CLASS_DECLARE_DELETE_FUNC(uct_rsagg_iface_t, uct_iface_t);

/* The counters with every total complete */
void uct_rsagg_iface_read_counters(const uct_rsagg_iface_t *iface,
                                   uct_rsagg_counters_t *counters_p);

/* The iface operations that are the iface's own (rsagg_tl.c puts them into
 * the ops table) */
ucs_status_t uct_rsagg_iface_query(uct_iface_h tl_iface,
                                   uct_iface_attr_t *attr);
ucs_status_t uct_rsagg_iface_get_device_address(uct_iface_h tl_iface,
                                                uct_device_addr_t *addr);
ucs_status_t uct_rsagg_iface_get_address(uct_iface_h tl_iface,
                                         uct_iface_addr_t *addr);
int uct_rsagg_iface_is_reachable(const uct_iface_h tl_iface,
                                 const uct_device_addr_t *dev_addr,
                                 const uct_iface_addr_t *iface_addr);
ucs_status_t uct_rsagg_iface_flush_idle(uct_iface_h tl_iface, unsigned flags,
                                        uct_completion_t *comp);
ucs_status_t uct_rsagg_iface_fence_guarded(uct_iface_h tl_iface,
                                           unsigned flags);

/* Out-of-band tables may carry their payload in the ring, and their batch
 * buffers need room for a table and a payload */
static UCS_F_ALWAYS_INLINE int uct_rsagg_iface_may_oob(uct_rsagg_iface_t *iface)
{
    return iface->config.mux != UCT_RSAGG_MUX_EMBEDDED;
}


#endif
