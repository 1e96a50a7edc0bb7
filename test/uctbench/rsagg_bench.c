/**
 * rsagg_bench: UCT benchmark of rsagg against its inner transport.
 *
 * For every inner transport x operation x message size x number of
 * endpoints, it measures the inner transport alone and rsagg over it in the
 * same run: N endpoints of one sender interface, all connected to the one
 * interface of a receiver process (forked at start, so that tcp runs through
 * the kernel and posix through shared memory between processes, as they do
 * in production), sending round-robin active messages for a fixed time.
 *
 * Reported per case: message rate (sent messages over the time from the
 * first send to the last delivery; both processes read the same
 * CLOCK_MONOTONIC), half round trip latency (1 endpoint: median of a
 * ping-pong), wire bytes per message on lo (tcp; tx_bytes of lo, which counts
 * every packet once, over the measured phase, TCP acks included; in a private
 * network namespace when one can be made, so that nobody else's traffic on
 * lo is counted), rsagg's own
 * counters (messages per inner transfer, inner bytes per message) and the
 * byte utilization of an InfiniBand RC and a RoCEv2 fabric, computed with a
 * per-packet wire model from the counted transfers and bytes.
 *
 * Sender and receiver are pinned to two distinct CPUs by default (--cpus):
 * two spinning processes sharing one CPU measure the scheduler.
 *
 * Correctness first: every message carries its endpoint and a per-endpoint
 * sequence number, and its payload is a pattern derived from both; the
 * receiver checks length, order and content of each one and the counts at
 * the end. Any send or receive error or any mismatch makes the program exit
 * with status 1 (after the other cases). Missing resources (no rsagg module,
 * no posix) are reported as skipped.
 *
 * Only public UCX headers are used; the rsagg counters are read through
 * uct_rsagg_iface_counters(), found with dlsym() when the module is loaded.
 */

#ifndef _GNU_SOURCE
#  define _GNU_SOURCE
#endif

#include <uct/rsagg/rsagg_counters.h>

#include <uct/api/uct.h>
#include <ucs/async/async_fwd.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


#define BENCH_AM_ID          0
#define BENCH_HDR_SIZE       sizeof(uint64_t)    /* ep << 48 | seq */
#define BENCH_EP_SHIFT       48
#define BENCH_SEQ_MASK       ((UINT64_C(1) << BENCH_EP_SHIFT) - 1)
#define BENCH_MAX_EPS        4096
#define BENCH_MAX_SIZE       8192
#define BENCH_MAX_LIST       16
#define BENCH_ADDR_MAX       512
#define BENCH_REASON_MAX     200
#define BENCH_PATTERN_SPAN   256                 /* Payload start offsets */
#define BENCH_LAT_WARMUP     200
#define BENCH_POLL_EVERY     64                  /* Progress calls per poll */

/* Wire model (per packet of an RDMA SEND): stated, not measured */
/* LRH, BTH, ICRC, VCRC */
#define BENCH_IB_PKT_OVERHEAD    (8 + 12 + 4 + 2)
/* Ethernet header, FCS, IPv4, UDP, BTH, ICRC */
#define BENCH_ROCE_PKT_OVERHEAD  (14 + 4 + 20 + 8 + 12 + 4)
/* Ethernet preamble + start delimiter and inter-frame gap (--roce-phy) */
#define BENCH_ROCE_PHY_OVERHEAD  20
/* Inner AM header of an RC active message (uct_rc_hdr_t) */
#define BENCH_RC_AM_HDR          1


typedef enum {
    BENCH_OP_SHORT,
    BENCH_OP_BCOPY,
    BENCH_OP_LAST
} bench_op_t;

static const char *bench_op_names[] = {
    [BENCH_OP_SHORT] = "short",
    [BENCH_OP_BCOPY] = "bcopy"
};


/* An inner transport and the rsagg memory domain that wraps it */
typedef struct {
    const char                 *name;
    const char                 *md_name;
    const char                 *tl_name;
    const char                 *dev_name;
    const char                 *rsagg_md_name;
    int                        on_lo;        /* Its traffic crosses lo */
} bench_inner_t;

static const bench_inner_t bench_inners[] = {
    {"tcp",   "tcp",   "tcp",   "lo",     "rsagg_tcp",   1},
    {"posix", "posix", "posix", "memory", "rsagg_posix", 0},
    {"sysv",  "sysv",  "sysv",  "memory", "rsagg_sysv",  0},
    {NULL}
};

#define BENCH_RSAGG_TL_NAME  "rsagg"


typedef struct {
    double                     time;         /* Rate phase, seconds */
    double                     lat_time;     /* Latency phase, seconds */
    unsigned                   lat_iters;    /* Latency samples, at most */
    unsigned                   warmup;       /* Messages per ep before */
    double                     timeout;      /* Seconds without progress */
    unsigned                   eps[BENCH_MAX_LIST];
    unsigned                   num_eps;
    unsigned                   sizes[BENCH_MAX_LIST];
    unsigned                   num_sizes;
    const bench_inner_t        *inners[BENCH_MAX_LIST];
    unsigned                   num_inners;
    bench_op_t                 ops[BENCH_OP_LAST];
    unsigned                   num_ops;
    const char                 *csv;
    unsigned                   mtu;
    int                        roce_phy;
    int                        netns;
    int                        inject_gap;   /* Self-test of the checks */
    int                        cpus[2];      /* Sender, receiver; -1: any */
    int                        cpus_set;     /* Given by --cpus */
    unsigned                   repeat;       /* Rounds of each case */
} bench_opts_t;


/* Control messages between the sender (parent) and the receiver (child) */
typedef enum {
    BENCH_CMD_OPEN = 1,   /* bench_open_cmd_t -> reply with address */
    BENCH_CMD_PONG,       /* bench_pong_cmd_t: answer every message now */
    BENCH_CMD_EXPECT,     /* uint64_t[num_eps] -> reply when all arrived */
    BENCH_CMD_CLOSE_EPS,  /* Destroy own eps (teardown starts) */
    BENCH_CMD_CLOSE,      /* Close the interface */
    BENCH_CMD_QUIT,
    BENCH_CMD_REPLY       /* bench_reply_t */
} bench_cmd_t;

typedef struct {
    uint32_t                   cmd;
    uint32_t                   length;
} bench_ctl_hdr_t;

typedef struct {
    char                       md_name[UCT_MD_NAME_MAX];
    char                       tl_name[UCT_TL_NAME_MAX];
    char                       dev_name[UCT_DEVICE_NAME_MAX];
    uint32_t                   size;
    uint32_t                   num_eps;
} bench_open_cmd_t;

typedef struct {
    uint32_t                   dev_addr_len;
    uint32_t                   iface_addr_len;
    uint8_t                    data[BENCH_ADDR_MAX];
} bench_addr_t;

typedef struct {
    bench_addr_t               addr;         /* Of the sender's interface */
    uint32_t                   op;           /* bench_op_t of the pongs */
} bench_pong_cmd_t;

typedef struct {
    int32_t                    status;       /* ucs_status_t */
    int32_t                    skipped;      /* Resource missing */
    char                       reason[BENCH_REASON_MAX];
    bench_addr_t               addr;         /* OPEN */
    uint64_t                   rx_total;     /* EXPECT */
    double                     t_last_rx;
    int32_t                    have_counters;
    uct_rsagg_counters_t     counters;
} bench_reply_t;

typedef struct {
    int                        rfd;
    int                        wfd;
} bench_ctl_t;


/* Receiving side of one interface: checks every message */
typedef struct {
    unsigned                   size;
    unsigned                   num_eps;
    uint64_t                   *next;        /* Expected seq per ep */
    uint64_t                   total;
    int                        failed;
    char                       reason[BENCH_REASON_MAX];
} bench_rx_t;

/* One process's UCT objects for one case */
typedef struct {
    ucs_async_context_t        *async;
    uct_worker_h               worker;
    uct_md_h                   md;
    uct_iface_h                iface;
    uct_iface_attr_t           attr;
    ucs_status_t               ep_error;     /* From the error handler */
    int                        teardown;     /* Errors expected now */
    bench_rx_t                 rx;
} bench_uct_t;

/* Sending side: round-robin over eps */
typedef struct {
    bench_op_t                 op;
    unsigned                   size;
    unsigned                   num_eps;
    uct_ep_h                   *eps;
    uint64_t                   *seq;         /* Next seq per ep */
} bench_tx_t;

typedef struct {
    uint64_t                   hdr;
    const uint8_t              *payload;
    unsigned                   length;
} bench_pack_arg_t;


typedef enum {
    BENCH_RES_NONE,
    BENCH_RES_OK,
    BENCH_RES_SKIPPED,
    BENCH_RES_FAILED
} bench_res_state_t;

static const char *bench_res_state_names[] = {
    [BENCH_RES_NONE]    = "none",
    [BENCH_RES_OK]      = "ok",
    [BENCH_RES_SKIPPED] = "skipped",
    [BENCH_RES_FAILED]  = "failed"
};

typedef struct {
    double                     wire_per_msg;
    double                     util;
} bench_model_t;

typedef struct {
    bench_res_state_t          state;
    char                       reason[BENCH_REASON_MAX];
    uint64_t                   msgs;
    double                     seconds;
    double                     rate;         /* msgs/s */
    double                     lat_us;       /* Half round trip, median */
    unsigned                   lat_samples;
    double                     lo_per_msg;   /* NAN when not on lo */
    int                        have_counters;
    uct_rsagg_counters_t     tx;           /* Sender, measured phase */
    uct_rsagg_counters_t     rx;           /* Receiver, measured phase */
    uint64_t                   channels;     /* Sender, whole iface life */
    bench_model_t              ib;
    bench_model_t              roce;
} bench_result_t;

typedef struct {
    const bench_inner_t        *inner;
    bench_op_t                 op;
    unsigned                   size;
    unsigned                   num_eps;
    bench_result_t             res[2];       /* [0] inner, [1] rsagg */
    /* --repeat: the value of each round, and the median of the per-round
     * latency differences (rsagg - inner, same round) */
    double                     *rates[2];
    double                     *lats[2];
    double                     lat_diff_us;
} bench_case_t;


static bench_opts_t bench_opts;
static uint8_t bench_pattern[BENCH_PATTERN_SPAN + BENCH_MAX_SIZE];
static uct_rsagg_iface_counters_func_t bench_counters_func;
static int bench_lo_private;


static double bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void bench_fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "rsagg_bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void bench_set_reason(char *reason, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, BENCH_REASON_MAX, fmt, ap);
    va_end(ap);
}


/*
 * Message content
 */

static void bench_pattern_init(void)
{
    uint32_t x = 0x12345678;
    size_t i;

    for (i = 0; i < sizeof(bench_pattern); ++i) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bench_pattern[i] = (uint8_t)x;
    }
}

/* The payload of a message depends on its ep and its sequence number, so
 * that a message delivered to the wrong place or twice is noticed */
static const uint8_t *bench_payload(unsigned ep, uint64_t seq)
{
    return bench_pattern + ((seq * 0x9e37 + ep * 0x45) % BENCH_PATTERN_SPAN);
}

static uint64_t bench_hdr(unsigned ep, uint64_t seq)
{
    return ((uint64_t)ep << BENCH_EP_SHIFT) | (seq & BENCH_SEQ_MASK);
}

static void bench_rx_fail(bench_rx_t *rx, const char *fmt, ...)
{
    va_list ap;

    if (rx->failed) {
        return;
    }

    rx->failed = 1;
    va_start(ap, fmt);
    vsnprintf(rx->reason, sizeof(rx->reason), fmt, ap);
    va_end(ap);
}

static ucs_status_t bench_am_cb(void *arg, void *data, size_t length,
                                unsigned flags)
{
    bench_rx_t *rx = arg;
    uint64_t hdr, seq;
    unsigned ep;

    if (length != rx->size) {
        bench_rx_fail(rx, "received %zu bytes, sent %u", length, rx->size);
        return UCS_OK;
    }

    memcpy(&hdr, data, sizeof(hdr));
    ep  = hdr >> BENCH_EP_SHIFT;
    seq = hdr & BENCH_SEQ_MASK;
    if (ep >= rx->num_eps) {
        bench_rx_fail(rx, "message from unknown ep %u", ep);
    } else if (seq != rx->next[ep]) {
        bench_rx_fail(rx, "ep %u: received seq %" PRIu64 ", expected %"
                      PRIu64, ep, seq, rx->next[ep]);
    } else if (memcmp((uint8_t*)data + BENCH_HDR_SIZE, bench_payload(ep, seq),
                      length - BENCH_HDR_SIZE)) {
        bench_rx_fail(rx, "ep %u seq %" PRIu64 ": payload differs", ep, seq);
    } else {
        ++rx->next[ep];
    }

    ++rx->total;
    return UCS_OK;
}

static size_t bench_pack_cb(void *dest, void *arg)
{
    bench_pack_arg_t *pack = arg;

    memcpy(dest, &pack->hdr, sizeof(pack->hdr));
    memcpy((uint8_t*)dest + sizeof(pack->hdr), pack->payload, pack->length);
    return sizeof(pack->hdr) + pack->length;
}

static ucs_status_t bench_tx_one(bench_tx_t *tx, unsigned ep)
{
    uint64_t seq = tx->seq[ep];
    bench_pack_arg_t pack;
    ucs_status_t status;
    ssize_t packed;

    pack.hdr     = bench_hdr(ep, seq);
    pack.payload = bench_payload(ep, seq);
    pack.length  = tx->size - BENCH_HDR_SIZE;

    if (tx->op == BENCH_OP_SHORT) {
        status = uct_ep_am_short(tx->eps[ep], BENCH_AM_ID, pack.hdr,
                                 pack.payload, pack.length);
    } else {
        packed = uct_ep_am_bcopy(tx->eps[ep], BENCH_AM_ID, bench_pack_cb,
                                 &pack, 0);
        if (packed == (ssize_t)tx->size) {
            status = UCS_OK;
        } else if (packed >= 0) {
            /* Cannot happen with a correct transport: treat as an error */
            status = UCS_ERR_MESSAGE_TRUNCATED;
        } else {
            status = (ucs_status_t)packed;
        }
    }

    if (status == UCS_OK) {
        ++tx->seq[ep];
    }
    return status;
}


/*
 * UCT objects of one side
 */

static ucs_status_t bench_err_handler(void *arg, uct_ep_h ep,
                                      ucs_status_t status)
{
    bench_uct_t *u = arg;

    if (!u->teardown && (u->ep_error == UCS_OK)) {
        u->ep_error = status;
    }
    return UCS_OK;
}

static int bench_rx_init(bench_rx_t *rx, unsigned size, unsigned num_eps)
{
    memset(rx, 0, sizeof(*rx));
    rx->size    = size;
    rx->num_eps = num_eps;
    rx->next    = calloc(num_eps, sizeof(*rx->next));
    return (rx->next == NULL) ? -1 : 0;
}

static ucs_status_t bench_md_open(const char *md_name, uct_md_h *md_p)
{
    uct_component_h *components;
    uct_component_attr_t attr;
    unsigned i, j, num_components;
    uct_md_config_t *config;
    ucs_status_t status;

    status = uct_query_components(&components, &num_components);
    if (status != UCS_OK) {
        return status;
    }

    status = UCS_ERR_NO_ELEM;
    for (i = 0; (i < num_components) && (status == UCS_ERR_NO_ELEM); ++i) {
        attr.field_mask = UCT_COMPONENT_ATTR_FIELD_MD_RESOURCE_COUNT;
        if ((uct_component_query(components[i], &attr) != UCS_OK) ||
            (attr.md_resource_count == 0)) {
            continue;
        }

        attr.field_mask   = UCT_COMPONENT_ATTR_FIELD_MD_RESOURCES;
        attr.md_resources = calloc(attr.md_resource_count,
                                   sizeof(*attr.md_resources));
        if (attr.md_resources == NULL) {
            status = UCS_ERR_NO_MEMORY;
            break;
        }

        if (uct_component_query(components[i], &attr) == UCS_OK) {
            for (j = 0; j < attr.md_resource_count; ++j) {
                if (strcmp(attr.md_resources[j].md_name, md_name)) {
                    continue;
                }
                status = uct_md_config_read(components[i], NULL, NULL,
                                            &config);
                if (status == UCS_OK) {
                    status = uct_md_open(components[i], md_name, config,
                                         md_p);
                    uct_config_release(config);
                }
                break;
            }
        }
        free(attr.md_resources);
    }

    uct_release_component_list(components);
    return status;
}

static int bench_md_has_tl(uct_md_h md, const char *tl_name,
                           const char *dev_name)
{
    uct_tl_resource_desc_t *resources;
    unsigned i, num_resources;
    int found = 0;

    if (uct_md_query_tl_resources(md, &resources, &num_resources) != UCS_OK) {
        return 0;
    }

    for (i = 0; i < num_resources; ++i) {
        if (!strcmp(resources[i].tl_name, tl_name) &&
            !strcmp(resources[i].dev_name, dev_name)) {
            found = 1;
        }
    }
    uct_release_tl_resource_list(resources);
    return found;
}

static void bench_uct_close(bench_uct_t *u)
{
    if (u->iface != NULL) {
        uct_iface_close(u->iface);
    }
    if (u->md != NULL) {
        uct_md_close(u->md);
    }
    if (u->worker != NULL) {
        uct_worker_destroy(u->worker);
    }
    if (u->async != NULL) {
        ucs_async_context_destroy(u->async);
    }
    free(u->rx.next);
    memset(u, 0, sizeof(*u));
}

/* Opens md/tl/dev with a checking AM handler. On failure, *skipped_p tells
 * whether the resource does not exist here (as opposed to an error). */
static ucs_status_t bench_uct_open(bench_uct_t *u, const char *md_name,
                                   const char *tl_name, const char *dev_name,
                                   unsigned size, unsigned num_eps,
                                   int *skipped_p, char *reason)
{
    uct_iface_config_t *config;
    uct_iface_params_t params;
    ucs_status_t status;

    memset(u, 0, sizeof(*u));
    *skipped_p = 0;

    if (bench_rx_init(&u->rx, size, num_eps) != 0) {
        bench_set_reason(reason, "out of memory");
        return UCS_ERR_NO_MEMORY;
    }

    status = ucs_async_context_create(UCS_ASYNC_MODE_THREAD_SPINLOCK,
                                      &u->async);
    if (status != UCS_OK) {
        bench_set_reason(reason, "async context: %s",
                         ucs_status_string(status));
        goto err;
    }

    status = uct_worker_create(u->async, UCS_THREAD_MODE_SINGLE, &u->worker);
    if (status != UCS_OK) {
        bench_set_reason(reason, "uct worker: %s", ucs_status_string(status));
        goto err;
    }

    status = bench_md_open(md_name, &u->md);
    if (status == UCS_ERR_NO_ELEM) {
        *skipped_p = 1;
        bench_set_reason(reason, "no memory domain %s%s", md_name,
                         strncmp(md_name, "rsagg_", 6) ? "" :
                         " (rsagg module not loaded, or inner not in "
                         "UCX_RSAGG_TL)");
        goto err;
    } else if (status != UCS_OK) {
        bench_set_reason(reason, "open memory domain %s: %s", md_name,
                         ucs_status_string(status));
        goto err;
    }

    if (!bench_md_has_tl(u->md, tl_name, dev_name)) {
        *skipped_p = 1;
        status     = UCS_ERR_NO_DEVICE;
        bench_set_reason(reason, "no %s/%s on memory domain %s", tl_name,
                         dev_name, md_name);
        goto err;
    }

    status = uct_md_iface_config_read(u->md, tl_name, NULL, NULL, &config);
    if (status != UCS_OK) {
        bench_set_reason(reason, "%s configuration: %s", tl_name,
                         ucs_status_string(status));
        goto err;
    }

    memset(&params, 0, sizeof(params));
    params.field_mask           = UCT_IFACE_PARAM_FIELD_OPEN_MODE |
                                  UCT_IFACE_PARAM_FIELD_DEVICE |
                                  UCT_IFACE_PARAM_FIELD_STATS_ROOT |
                                  UCT_IFACE_PARAM_FIELD_RX_HEADROOM |
                                  UCT_IFACE_PARAM_FIELD_ERR_HANDLER |
                                  UCT_IFACE_PARAM_FIELD_ERR_HANDLER_ARG |
                                  UCT_IFACE_PARAM_FIELD_ERR_HANDLER_FLAGS;
    params.open_mode            = UCT_IFACE_OPEN_MODE_DEVICE;
    params.mode.device.tl_name  = tl_name;
    params.mode.device.dev_name = dev_name;
    params.stats_root           = NULL;
    params.rx_headroom          = 0;
    params.err_handler          = bench_err_handler;
    params.err_handler_arg      = u;
    params.err_handler_flags    = 0;

    status = uct_iface_open(u->md, u->worker, &params, config, &u->iface);
    uct_config_release(config);
    if (status != UCS_OK) {
        bench_set_reason(reason, "open %s/%s on %s: %s", tl_name, dev_name,
                         md_name, ucs_status_string(status));
        goto err;
    }

    status = uct_iface_query(u->iface, &u->attr);
    if (status != UCS_OK) {
        bench_set_reason(reason, "query %s: %s", tl_name,
                         ucs_status_string(status));
        goto err;
    }

    if (!(u->attr.cap.flags & UCT_IFACE_FLAG_CONNECT_TO_IFACE)) {
        *skipped_p = 1;
        status     = UCS_ERR_UNSUPPORTED;
        bench_set_reason(reason, "%s on %s cannot connect to an interface",
                         tl_name, md_name);
        goto err;
    }

    if ((u->attr.device_addr_len + u->attr.iface_addr_len) > BENCH_ADDR_MAX) {
        status = UCS_ERR_EXCEEDS_LIMIT;
        bench_set_reason(reason, "%s address of %zu bytes is too long",
                         tl_name,
                         u->attr.device_addr_len + u->attr.iface_addr_len);
        goto err;
    }

    status = uct_iface_set_am_handler(u->iface, BENCH_AM_ID, bench_am_cb,
                                      &u->rx, 0);
    if (status != UCS_OK) {
        bench_set_reason(reason, "set am handler on %s: %s", tl_name,
                         ucs_status_string(status));
        goto err;
    }

    uct_iface_progress_enable(u->iface,
                              UCT_PROGRESS_SEND | UCT_PROGRESS_RECV);
    return UCS_OK;

err:
    bench_uct_close(u);
    return status;
}

static ucs_status_t bench_uct_addr(bench_uct_t *u, bench_addr_t *addr)
{
    ucs_status_t status;

    memset(addr, 0, sizeof(*addr));
    addr->dev_addr_len   = u->attr.device_addr_len;
    addr->iface_addr_len = u->attr.iface_addr_len;
    status = uct_iface_get_device_address(u->iface,
                                          (uct_device_addr_t*)addr->data);
    if (status != UCS_OK) {
        return status;
    }
    return uct_iface_get_address(u->iface,
                                 (uct_iface_addr_t*)(addr->data +
                                                     addr->dev_addr_len));
}

static ucs_status_t bench_ep_create(bench_uct_t *u, const bench_addr_t *addr,
                                    uct_ep_h *ep_p)
{
    const uct_device_addr_t *dev_addr = (const void*)addr->data;
    const uct_iface_addr_t *iface_addr =
            (const void*)(addr->data + addr->dev_addr_len);
    uct_ep_params_t params;

    if ((addr->dev_addr_len != u->attr.device_addr_len) ||
        (addr->iface_addr_len != u->attr.iface_addr_len) ||
        !uct_iface_is_reachable(u->iface, dev_addr, iface_addr)) {
        return UCS_ERR_UNREACHABLE;
    }

    params.field_mask = UCT_EP_PARAM_FIELD_IFACE |
                        UCT_EP_PARAM_FIELD_DEV_ADDR |
                        UCT_EP_PARAM_FIELD_IFACE_ADDR;
    params.iface      = u->iface;
    params.dev_addr   = dev_addr;
    params.iface_addr = iface_addr;
    return uct_ep_create(&params, ep_p);
}

static int bench_get_counters(bench_uct_t *u, uct_rsagg_counters_t *c)
{
    memset(c, 0, sizeof(*c));
    return (bench_counters_func != NULL) &&
           (bench_counters_func(u->iface, c, sizeof(*c)) == UCS_OK);
}


/*
 * Control channel (pipes)
 */

static int bench_write_full(int fd, const void *buf, size_t length)
{
    const uint8_t *p = buf;
    ssize_t ret;

    while (length > 0) {
        ret = write(fd, p, length);
        if (ret < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p      += ret;
        length -= ret;
    }
    return 0;
}

static int bench_read_full(int fd, void *buf, size_t length)
{
    uint8_t *p = buf;
    ssize_t ret;

    while (length > 0) {
        ret = read(fd, p, length);
        if (ret < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (ret == 0) {
            return -1; /* Peer gone */
        }
        p      += ret;
        length -= ret;
    }
    return 0;
}

static int bench_ctl_send(bench_ctl_t *ctl, bench_cmd_t cmd, const void *body,
                          uint32_t length)
{
    bench_ctl_hdr_t hdr = {.cmd = cmd, .length = length};

    if ((bench_write_full(ctl->wfd, &hdr, sizeof(hdr)) != 0) ||
        ((length > 0) && (bench_write_full(ctl->wfd, body, length) != 0))) {
        return -1;
    }
    return 0;
}

/* Body of at most max_length bytes. Returns 0, or -1 if the peer is gone or
 * broke the protocol. */
static int bench_ctl_read(bench_ctl_t *ctl, bench_cmd_t *cmd_p, void *body,
                          uint32_t max_length, uint32_t *length_p)
{
    bench_ctl_hdr_t hdr;

    if ((bench_read_full(ctl->rfd, &hdr, sizeof(hdr)) != 0) ||
        (hdr.length > max_length) ||
        ((hdr.length > 0) &&
         (bench_read_full(ctl->rfd, body, hdr.length) != 0))) {
        return -1;
    }

    *cmd_p    = hdr.cmd;
    *length_p = hdr.length;
    return 0;
}

static int bench_ctl_readable(bench_ctl_t *ctl, int timeout_ms)
{
    struct pollfd pfd = {.fd = ctl->rfd, .events = POLLIN};

    return poll(&pfd, 1, timeout_ms) > 0;
}

/* Waits for the peer's reply while progressing this side's worker. */
static int bench_ctl_wait_reply(bench_ctl_t *ctl, bench_uct_t *u,
                                bench_reply_t *reply)
{
    uint32_t length;
    bench_cmd_t cmd;
    unsigned i;

    while (!bench_ctl_readable(ctl, (u == NULL) ? -1 : 0)) {
        for (i = 0; i < BENCH_POLL_EVERY; ++i) {
            uct_worker_progress(u->worker);
        }
    }

    memset(reply, 0, sizeof(*reply));
    if ((bench_ctl_read(ctl, &cmd, reply, sizeof(*reply), &length) != 0) ||
        (cmd != BENCH_CMD_REPLY)) {
        bench_fatal("the receiver process does not answer (see its errors "
                    "above)");
    }
    return (reply->status == UCS_OK) ? 0 : -1;
}


/*
 * Receiver process
 */

typedef struct {
    bench_uct_t                uct;
    uct_ep_h                   pong_ep;
    bench_tx_t                 pong_tx;
    uint64_t                   pong_base;    /* rx total when pong began */
    uint64_t                   pong_seq;
    int                        expecting;
    uint64_t                   expect_total;
    uint64_t                   *expect;
    double                     t_last_rx;
    double                     t_activity;
} bench_receiver_t;

static void bench_receiver_reply(bench_ctl_t *ctl, bench_reply_t *reply)
{
    if (bench_ctl_send(ctl, BENCH_CMD_REPLY, reply, sizeof(*reply)) != 0) {
        exit(1); /* The sender is gone */
    }
}

static void bench_receiver_expect_done(bench_ctl_t *ctl, bench_receiver_t *r,
                                       ucs_status_t status, const char *why)
{
    bench_reply_t reply;
    unsigned i;

    memset(&reply, 0, sizeof(reply));
    reply.status    = status;
    reply.rx_total  = r->uct.rx.total;
    reply.t_last_rx = r->t_last_rx;
    if ((status == UCS_OK) && !r->uct.rx.failed) {
        for (i = 0; i < r->uct.rx.num_eps; ++i) {
            if (r->uct.rx.next[i] != r->expect[i]) {
                bench_rx_fail(&r->uct.rx, "ep %u: %" PRIu64 " messages in "
                              "order, %" PRIu64 " sent", i, r->uct.rx.next[i],
                              r->expect[i]);
            }
        }
    }
    if (r->uct.rx.failed) {
        reply.status = UCS_ERR_IO_ERROR;
        bench_set_reason(reply.reason, "receiver: %s", r->uct.rx.reason);
    } else if (status != UCS_OK) {
        bench_set_reason(reply.reason, "receiver: %s", why);
    }
    reply.have_counters = bench_get_counters(&r->uct, &reply.counters);
    r->expecting        = 0;
    bench_receiver_reply(ctl, &reply);
}

/* Serves one case: the interface is open until BENCH_CMD_CLOSE */
static void bench_receiver_case(bench_ctl_t *ctl, const bench_open_cmd_t *cmd)
{
    union {
        bench_pong_cmd_t       pong;
        uint64_t               counts[BENCH_MAX_EPS];
    } body;
    bench_receiver_t r;
    bench_reply_t reply;
    uint64_t prev_total;
    bench_cmd_t ctl_cmd;
    ucs_status_t status;
    uint32_t length;
    unsigned i, count;
    int skipped;

    memset(&r, 0, sizeof(r));
    memset(&reply, 0, sizeof(reply));
    status = bench_uct_open(&r.uct, cmd->md_name, cmd->tl_name,
                            cmd->dev_name, cmd->size, cmd->num_eps, &skipped,
                            reply.reason);
    if (status == UCS_OK) {
        status = bench_uct_addr(&r.uct, &reply.addr);
        if (status != UCS_OK) {
            bench_set_reason(reply.reason, "receiver address: %s",
                             ucs_status_string(status));
            bench_uct_close(&r.uct);
        }
    }
    reply.status  = status;
    reply.skipped = skipped;
    bench_receiver_reply(ctl, &reply);
    if (status != UCS_OK) {
        return;
    }

    r.expect = calloc(cmd->num_eps, sizeof(*r.expect));
    if (r.expect == NULL) {
        bench_fatal("receiver: out of memory");
    }

    prev_total = 0;
    for (count = 0;; ++count) {
        uct_worker_progress(r.uct.worker);
        if (r.uct.rx.total != prev_total) {
            prev_total = r.uct.rx.total;
            r.t_last_rx = r.t_activity = bench_now();
        }

        /* Ping-pong: answer each message, in order, from the main loop */
        if ((r.pong_ep != NULL) &&
            (r.uct.rx.total - r.pong_base > r.pong_seq)) {
            status = bench_tx_one(&r.pong_tx, 0); /* Advances pong_seq */
            if ((status != UCS_OK) && (status != UCS_ERR_NO_RESOURCE)) {
                bench_rx_fail(&r.uct.rx, "pong: %s",
                              ucs_status_string(status));
            }
        }

        if (r.expecting) {
            if (r.uct.rx.failed) {
                bench_receiver_expect_done(ctl, &r, UCS_ERR_IO_ERROR, NULL);
            } else if (r.uct.ep_error != UCS_OK) {
                bench_rx_fail(&r.uct.rx, "transport error %s",
                              ucs_status_string(r.uct.ep_error));
                bench_receiver_expect_done(ctl, &r, UCS_ERR_IO_ERROR, NULL);
            } else if (r.uct.rx.total >= r.expect_total) {
                bench_receiver_expect_done(ctl, &r,
                        (r.uct.rx.total == r.expect_total) ? UCS_OK :
                                                   UCS_ERR_INVALID_PARAM,
                        "more messages than sent");
            } else if (((count % 4096) == 0) &&
                       (bench_now() - r.t_activity > bench_opts.timeout)) {
                bench_receiver_expect_done(ctl, &r, UCS_ERR_TIMED_OUT,
                                           "messages missing (timed out)");
            }
        }

        if (((count % BENCH_POLL_EVERY) != 0) ||
            !bench_ctl_readable(ctl, 0)) {
            continue;
        }

        if (bench_ctl_read(ctl, &ctl_cmd, &body, sizeof(body), &length) != 0) {
            exit(1);
        }

        memset(&reply, 0, sizeof(reply));
        switch (ctl_cmd) {
        case BENCH_CMD_PONG:
            if ((length != sizeof(body.pong)) ||
                (body.pong.op >= BENCH_OP_LAST)) {
                bench_fatal("receiver: bad PONG command");
            }
            r.pong_tx.op      = body.pong.op;
            r.pong_tx.size    = cmd->size;
            r.pong_tx.num_eps = 1;
            r.pong_tx.eps     = &r.pong_ep;
            r.pong_tx.seq     = &r.pong_seq;
            r.pong_base       = r.uct.rx.total;
            r.pong_seq        = 0;
            reply.status      = bench_ep_create(&r.uct, &body.pong.addr,
                                                &r.pong_ep);
            if (reply.status != UCS_OK) {
                r.pong_ep = NULL;
                bench_set_reason(reply.reason, "receiver: ep to sender: %s",
                                 ucs_status_string(reply.status));
            }
            bench_receiver_reply(ctl, &reply);
            break;
        case BENCH_CMD_EXPECT:
            if (length != cmd->num_eps * sizeof(uint64_t)) {
                bench_fatal("receiver: bad EXPECT command");
            }
            memcpy(r.expect, body.counts, length);
            r.expect_total = 0;
            for (i = 0; i < cmd->num_eps; ++i) {
                r.expect_total += r.expect[i];
            }
            r.expecting  = 1;
            r.t_activity = bench_now();
            break;
        case BENCH_CMD_CLOSE_EPS:
            r.uct.teardown = 1;
            if (r.pong_ep != NULL) {
                uct_ep_destroy(r.pong_ep);
                r.pong_ep = NULL;
            }
            bench_receiver_reply(ctl, &reply);
            break;
        case BENCH_CMD_CLOSE:
            r.uct.teardown = 1;
            if (r.pong_ep != NULL) {
                uct_ep_destroy(r.pong_ep);
            }
            bench_uct_close(&r.uct);
            free(r.expect);
            bench_receiver_reply(ctl, &reply);
            return;
        default:
            bench_fatal("receiver: unexpected command %d", (int)ctl_cmd);
        }
    }
}

static int bench_receiver_main(bench_ctl_t *ctl)
{
    bench_open_cmd_t cmd;
    bench_cmd_t ctl_cmd;
    uint32_t length;

    for (;;) {
        if (bench_ctl_read(ctl, &ctl_cmd, &cmd, sizeof(cmd), &length) != 0) {
            return 1;
        }

        if (ctl_cmd == BENCH_CMD_QUIT) {
            return 0;
        } else if ((ctl_cmd != BENCH_CMD_OPEN) || (length != sizeof(cmd))) {
            fprintf(stderr, "rsagg_bench: receiver: unexpected command %d\n",
                    (int)ctl_cmd);
            return 1;
        }

        bench_receiver_case(ctl, &cmd);
    }
}


/*
 * Sender (parent process)
 */

/* Retries on UCS_ERR_NO_RESOURCE, progressing; fails after the timeout
 * without any progress */
static ucs_status_t bench_tx_blocking(bench_uct_t *u, bench_tx_t *tx,
                                      unsigned ep)
{
    double deadline = 0;
    ucs_status_t status;
    unsigned tries;

    for (tries = 1;; ++tries) {
        status = bench_tx_one(tx, ep);
        if (status != UCS_ERR_NO_RESOURCE) {
            return status;
        }

        uct_worker_progress(u->worker);
        if (u->ep_error != UCS_OK) {
            return u->ep_error;
        }
        if ((tries % 1024) == 0) {
            if (deadline == 0) {
                deadline = bench_now() + bench_opts.timeout;
            } else if (bench_now() > deadline) {
                return UCS_ERR_TIMED_OUT;
            }
        }
    }
}

static ucs_status_t bench_flush(bench_uct_t *u)
{
    double deadline = bench_now() + bench_opts.timeout;
    ucs_status_t status;
    unsigned tries;

    for (tries = 1;; ++tries) {
        status = uct_iface_flush(u->iface, 0, NULL);
        if (status == UCS_OK) {
            return UCS_OK;
        } else if ((status != UCS_INPROGRESS) &&
                   (status != UCS_ERR_NO_RESOURCE)) {
            return status;
        }

        uct_worker_progress(u->worker);
        if (u->ep_error != UCS_OK) {
            return u->ep_error;
        }
        if (((tries % 1024) == 0) && (bench_now() > deadline)) {
            return UCS_ERR_TIMED_OUT;
        }
    }
}

/* Round-robin over all eps: total messages, or until the time is up when
 * duration > 0 */
static ucs_status_t bench_tx_run(bench_uct_t *u, bench_tx_t *tx,
                                 uint64_t per_ep, double duration,
                                 uint64_t *sent_p)
{
    /* Look at the clock about every 64 messages, between rounds */
    unsigned stride = (tx->num_eps < 64) ? (64 / tx->num_eps) : 1;
    double end      = bench_now() + duration;
    uint64_t sent   = 0, rounds = 0;
    ucs_status_t status;
    unsigned ep     = 0;

    for (;;) {
        if (ep != 0) {
            /* Finish the round: every ep sends as many */
        } else if (duration > 0) {
            if (((rounds++ % stride) == 0) && (bench_now() >= end)) {
                break;
            }
        } else if (tx->seq[0] >= per_ep) {
            break;
        }

        status = bench_tx_blocking(u, tx, ep);
        if (status != UCS_OK) {
            *sent_p = sent;
            return status;
        }

        ++sent;
        if (++ep == tx->num_eps) {
            ep = 0;
        }
    }

    *sent_p = sent;
    return UCS_OK;
}

static int bench_expect(bench_ctl_t *ctl, bench_uct_t *u, bench_tx_t *tx,
                        bench_reply_t *reply)
{
    if (bench_ctl_send(ctl, BENCH_CMD_EXPECT, tx->seq,
                       tx->num_eps * sizeof(uint64_t)) != 0) {
        bench_fatal("the receiver process is gone");
    }
    return bench_ctl_wait_reply(ctl, u, reply);
}

static int bench_lo_tx_bytes(uint64_t *bytes_p)
{
    unsigned long long v[9];
    char line[512], *p;
    int found = 0;
    FILE *f;

    /* The lo of this process' network namespace (the counters of
     * /sys/class/net/lo/statistics, but namespace-correct) */
    f = fopen("/proc/self/net/dev", "r");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        p = strchr(line, ':');
        if (p == NULL) {
            continue;
        }
        *p = '\0';
        if (strcmp(line + strspn(line, " "), "lo")) {
            continue;
        }
        if (sscanf(p + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu",
                   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
                   &v[8]) == 9) {
            *bytes_p = v[8]; /* Transmit bytes */
            found    = 1;
        }
        break;
    }
    fclose(f);
    return found ? 0 : -1;
}

static void bench_counters_sub(uct_rsagg_counters_t *d,
                               const uct_rsagg_counters_t *a,
                               const uct_rsagg_counters_t *b)
{
    const uint64_t *pa = (const uint64_t*)a, *pb = (const uint64_t*)b;
    uint64_t *pd       = (uint64_t*)d;
    unsigned i;

    for (i = 0; i < (sizeof(uct_rsagg_counters_t) / sizeof(uint64_t)); ++i) {
        pd[i] = pa[i] - pb[i];
    }
}

static void bench_counters_warn(const bench_case_t *c, const char *what,
                                uint64_t a, uint64_t b)
{
    fprintf(stderr, "rsagg_bench: warning: %s %s %u B x %u eps: rsagg "
            "counters: %s (%" PRIu64 " != %" PRIu64 ")\n", c->inner->name,
            bench_op_names[c->op], c->size, c->num_eps, what, a, b);
}

/* The counters the results are computed from must add up: every message
 * sent was accepted, and the receiver got every transfer that was not sent
 * alone. Not fatal (the messages themselves were checked), but the numbers
 * derived from them would be wrong. */
static void bench_check_counters(const bench_case_t *c,
                                 const bench_result_t *res, int have_rx)
{
    if (res->tx.msgs != res->msgs) {
        bench_counters_warn(c, "messages accepted != sent", res->tx.msgs,
                            res->msgs);
    }
    if (!have_rx) {
        return;
    }
    if (res->tx.transfers != res->rx.rx_transfers + res->tx.direct) {
        bench_counters_warn(c, "transfers != received + direct",
                            res->tx.transfers,
                            res->rx.rx_transfers + res->tx.direct);
    }
    if (res->tx.msgs != res->rx.rx_msgs + res->tx.direct) {
        bench_counters_warn(c, "messages != unpacked + direct", res->tx.msgs,
                            res->rx.rx_msgs + res->tx.direct);
    }
    if (res->rx.malformed != 0) {
        bench_counters_warn(c, "malformed transfers at the receiver",
                            res->rx.malformed, 0);
    }
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double*)a, y = *(const double*)b;

    return (x > y) - (x < y);
}

/* Ping-pong on ep 0: the receiver answers each message with one of the same
 * size. Half of the median round trip. */
static double bench_ok_value(const bench_result_t *res, double v)
{
    return (res->state == BENCH_RES_OK) ? v : NAN;
}

/* Median of the values that are numbers; NAN when there is none */
static double bench_median(const double *values, unsigned n)
{
    double sorted[n + 1];
    unsigned i, m = 0;

    for (i = 0; i < n; ++i) {
        if (!isnan(values[i])) {
            sorted[m++] = values[i];
        }
    }
    if (m == 0) {
        return NAN;
    }
    qsort(sorted, m, sizeof(*sorted), bench_cmp_double);
    return (m % 2) ? sorted[m / 2] : (sorted[m / 2 - 1] + sorted[m / 2]) / 2;
}

static ucs_status_t bench_latency(bench_ctl_t *ctl, bench_uct_t *u,
                                  bench_tx_t *tx, bench_result_t *res)
{
    unsigned max_samples = bench_opts.lat_iters;
    unsigned i, n = 0, spins;
    bench_pong_cmd_t pong;
    bench_reply_t reply;
    double *samples;
    ucs_status_t status;
    double t0, start = 0, warmup_end;
    uint64_t expected;
    int warm;

    status = bench_uct_addr(u, &pong.addr);
    if (status != UCS_OK) {
        bench_set_reason(res->reason, "sender address: %s",
                         ucs_status_string(status));
        return status;
    }
    pong.op = tx->op;

    if (bench_ctl_send(ctl, BENCH_CMD_PONG, &pong, sizeof(pong)) != 0) {
        bench_fatal("the receiver process is gone");
    }
    if (bench_ctl_wait_reply(ctl, u, &reply) != 0) {
        bench_set_reason(res->reason, "%s", reply.reason);
        return (ucs_status_t)reply.status;
    }

    samples = malloc(sizeof(*samples) * max_samples);
    if (samples == NULL) {
        bench_fatal("out of memory");
    }

    /* Warm-up: BENCH_LAT_WARMUP round trips, or a quarter of the time */
    warmup_end = bench_now() + bench_opts.lat_time / 4;
    for (i = 0, warm = 1; n < max_samples; ++i) {
        if (warm) {
            if ((i >= BENCH_LAT_WARMUP) || (bench_now() >= warmup_end)) {
                warm  = 0;
                start = bench_now();
            }
        } else if (bench_now() - start >= bench_opts.lat_time) {
            break;
        }

        expected = u->rx.total + 1;
        t0       = bench_now();
        status   = bench_tx_blocking(u, tx, 0);
        if (status != UCS_OK) {
            bench_set_reason(res->reason, "ping: %s",
                             ucs_status_string(status));
            goto out;
        }

        for (spins = 1; u->rx.total < expected; ++spins) {
            uct_worker_progress(u->worker);
            if ((spins % 4096) == 0) {
                if (u->ep_error != UCS_OK) {
                    status = u->ep_error;
                } else if (bench_now() - t0 > bench_opts.timeout) {
                    status = UCS_ERR_TIMED_OUT;
                } else {
                    continue;
                }
                bench_set_reason(res->reason, "pong: %s",
                                 ucs_status_string(status));
                goto out;
            }
        }

        if (!warm) {
            samples[n++] = bench_now() - t0;
        }
    }

    if (u->rx.failed) {
        status = UCS_ERR_IO_ERROR;
        bench_set_reason(res->reason, "sender: %s", u->rx.reason);
        goto out;
    }

    qsort(samples, n, sizeof(*samples), bench_cmp_double);
    res->lat_samples = n;
    res->lat_us      = (n == 0) ? NAN : samples[n / 2] / 2 * 1e6;
    status           = UCS_OK;

out:
    free(samples);
    return status;
}

/* Per-packet wire model of an RDMA fabric. Inner alone: every message is one
 * transfer of its size plus the inner AM header. rsagg: the messages it sent
 * alone likewise, its consolidated transfers at their average length (from
 * its counters) plus the inner AM header each. */
static void bench_model(const bench_case_t *c, const bench_result_t *res,
                        int rsagg, unsigned pkt_overhead, bench_model_t *m)
{
    double mtu = bench_opts.mtu, msgs = res->msgs, size = c->size;
    double direct, batched, batch_bytes, batch_len, bytes, packets;

    if (rsagg) {
        direct      = res->tx.direct;
        batched     = (double)res->tx.transfers - res->tx.direct;
        batch_bytes = (double)res->tx.inner_bytes - direct * size;
    } else {
        direct      = msgs;
        batched     = 0;
        batch_bytes = 0;
    }

    bytes   = direct * (size + BENCH_RC_AM_HDR);
    packets = direct * ceil((size + BENCH_RC_AM_HDR) / mtu);
    if (batched > 0) {
        batch_len = batch_bytes / batched + BENCH_RC_AM_HDR;
        bytes    += batch_bytes + batched * BENCH_RC_AM_HDR;
        packets  += batched * ceil(batch_len / mtu);
    }

    bytes          += packets * pkt_overhead;
    m->wire_per_msg = (msgs > 0) ? bytes / msgs : NAN;
    m->util         = (bytes > 0) ? msgs * size / bytes : NAN;
}

static void bench_run_variant(bench_ctl_t *ctl, bench_case_t *c, int rsagg)
{
    const bench_inner_t *inner = c->inner;
    bench_result_t *res        = &c->res[rsagg];
    const char *md_name        = rsagg ? inner->rsagg_md_name : inner->md_name;
    const char *tl_name        = rsagg ? BENCH_RSAGG_TL_NAME : inner->tl_name;
    uct_rsagg_counters_t tx0, tx1, rx0;
    uint64_t lo0 = 0, lo1 = 0, sent;
    bench_open_cmd_t cmd;
    bench_reply_t reply;
    bench_addr_t peer;
    ucs_status_t status;
    bench_tx_t tx;
    bench_uct_t u;
    unsigned i, created = 0;
    int skipped, have_lo;
    double t0;

    memset(res, 0, sizeof(*res));
    res->lat_us     = NAN;
    res->lo_per_msg = NAN;
    memset(&tx, 0, sizeof(tx));

    memset(&cmd, 0, sizeof(cmd));
    snprintf(cmd.md_name, sizeof(cmd.md_name), "%s", md_name);
    snprintf(cmd.tl_name, sizeof(cmd.tl_name), "%s", tl_name);
    snprintf(cmd.dev_name, sizeof(cmd.dev_name), "%s", inner->dev_name);
    cmd.size    = c->size;
    cmd.num_eps = c->num_eps;
    if (bench_ctl_send(ctl, BENCH_CMD_OPEN, &cmd, sizeof(cmd)) != 0) {
        bench_fatal("the receiver process is gone");
    }
    if (bench_ctl_wait_reply(ctl, NULL, &reply) != 0) {
        res->state = reply.skipped ? BENCH_RES_SKIPPED : BENCH_RES_FAILED;
        bench_set_reason(res->reason, "%s", reply.reason);
        return;
    }
    peer = reply.addr;

    /* From here on the receiver has an open interface: close it at the end */
    status = bench_uct_open(&u, md_name, tl_name, inner->dev_name, c->size, 1,
                            &skipped, res->reason);
    if (status != UCS_OK) {
        res->state = skipped ? BENCH_RES_SKIPPED : BENCH_RES_FAILED;
        goto close_receiver;
    }

    if ((c->op == BENCH_OP_SHORT) &&
        (!(u.attr.cap.flags & UCT_IFACE_FLAG_AM_SHORT) ||
         (c->size > u.attr.cap.am.max_short))) {
        res->state = BENCH_RES_SKIPPED;
        bench_set_reason(res->reason, "%u B > max am_short %zu B", c->size,
                         (u.attr.cap.flags & UCT_IFACE_FLAG_AM_SHORT) ?
                         u.attr.cap.am.max_short : 0);
        goto close_sender;
    } else if ((c->op == BENCH_OP_BCOPY) &&
               (!(u.attr.cap.flags & UCT_IFACE_FLAG_AM_BCOPY) ||
                (c->size > u.attr.cap.am.max_bcopy))) {
        res->state = BENCH_RES_SKIPPED;
        bench_set_reason(res->reason, "%u B > max am_bcopy %zu B", c->size,
                         (u.attr.cap.flags & UCT_IFACE_FLAG_AM_BCOPY) ?
                         u.attr.cap.am.max_bcopy : 0);
        goto close_sender;
    }

    res->state    = BENCH_RES_FAILED; /* Until it succeeds */
    tx.op         = c->op;
    tx.size       = c->size;
    tx.num_eps    = c->num_eps;
    tx.eps        = calloc(c->num_eps, sizeof(*tx.eps));
    tx.seq        = calloc(c->num_eps, sizeof(*tx.seq));
    if ((tx.eps == NULL) || (tx.seq == NULL)) {
        bench_fatal("out of memory");
    }

    for (created = 0; created < c->num_eps; ++created) {
        status = bench_ep_create(&u, &peer, &tx.eps[created]);
        if (status != UCS_OK) {
            bench_set_reason(res->reason, "ep %u to the receiver: %s",
                             created, ucs_status_string(status));
            goto destroy_eps;
        }
    }

    /* Warm-up: connections established, buffers allocated */
    status = bench_tx_run(&u, &tx, bench_opts.warmup, 0, &sent);
    if (status == UCS_OK) {
        status = bench_flush(&u);
    }
    if (status != UCS_OK) {
        bench_set_reason(res->reason, "warm-up send: %s",
                         ucs_status_string(status));
        goto destroy_eps;
    }
    if (bench_expect(ctl, &u, &tx, &reply) != 0) {
        bench_set_reason(res->reason, "warm-up: %s", reply.reason);
        goto destroy_eps;
    }
    rx0 = reply.counters;

    if (bench_opts.inject_gap) {
        ++tx.seq[0]; /* The receiver must notice the missing message */
    }

    /* Measured phase */
    have_lo = inner->on_lo && (bench_lo_tx_bytes(&lo0) == 0);
    res->have_counters = bench_get_counters(&u, &tx0);
    t0     = bench_now();
    status = bench_tx_run(&u, &tx, 0, bench_opts.time, &res->msgs);
    if (status == UCS_OK) {
        status = bench_flush(&u);
    }
    if (status != UCS_OK) {
        bench_set_reason(res->reason, "send: %s", ucs_status_string(status));
        goto destroy_eps;
    }
    if (bench_expect(ctl, &u, &tx, &reply) != 0) {
        bench_set_reason(res->reason, "%s", reply.reason);
        goto destroy_eps;
    }
    if (u.rx.failed) {
        bench_set_reason(res->reason, "sender received: %s", u.rx.reason);
        goto destroy_eps;
    }

    res->seconds = reply.t_last_rx - t0;
    res->rate    = (res->seconds > 0) ? res->msgs / res->seconds : NAN;
    if (have_lo && (bench_lo_tx_bytes(&lo1) == 0) && (res->msgs > 0)) {
        res->lo_per_msg = (double)(lo1 - lo0) / res->msgs;
    }
    if (res->have_counters) {
        bench_get_counters(&u, &tx1);
        bench_counters_sub(&res->tx, &tx1, &tx0);
        res->channels = tx1.channels;
        if (reply.have_counters) {
            bench_counters_sub(&res->rx, &reply.counters, &rx0);
        }
        bench_check_counters(c, res, reply.have_counters);
    }
    bench_model(c, res, res->have_counters, BENCH_IB_PKT_OVERHEAD, &res->ib);
    bench_model(c, res, res->have_counters,
                BENCH_ROCE_PKT_OVERHEAD +
                (bench_opts.roce_phy ? BENCH_ROCE_PHY_OVERHEAD : 0),
                &res->roce);
    if (rsagg && !res->have_counters) {
        res->ib.util = res->roce.util = NAN;
        res->ib.wire_per_msg = res->roce.wire_per_msg = NAN;
    }

    if ((c->num_eps == 1) && (bench_opts.lat_time > 0) &&
        (bench_opts.lat_iters > 0)) {
        status = bench_latency(ctl, &u, &tx, res);
        if (status != UCS_OK) {
            goto destroy_eps;
        }
        if (bench_expect(ctl, &u, &tx, &reply) != 0) {
            bench_set_reason(res->reason, "ping-pong: %s", reply.reason);
            goto destroy_eps;
        }
    }

    res->state = BENCH_RES_OK;

destroy_eps:
    /* Teardown: the peer's closing is no error any more */
    if (bench_ctl_send(ctl, BENCH_CMD_CLOSE_EPS, NULL, 0) != 0) {
        bench_fatal("the receiver process is gone");
    }
    bench_ctl_wait_reply(ctl, &u, &reply);
    u.teardown = 1;
    for (i = 0; i < created; ++i) {
        uct_ep_destroy(tx.eps[i]);
    }
    free(tx.eps);
    free(tx.seq);
close_sender:
    bench_uct_close(&u);
close_receiver:
    if (bench_ctl_send(ctl, BENCH_CMD_CLOSE, NULL, 0) != 0) {
        bench_fatal("the receiver process is gone");
    }
    bench_ctl_wait_reply(ctl, NULL, &reply);
}


/*
 * Private network namespace: the lo byte counts then hold this benchmark's
 * traffic only, also on a machine where others use lo at the same time.
 */

/* Runs a case --repeat times, inner and rsagg alternating which goes first
 * (so that neither always runs on a warmer machine). A variant's result is
 * that of its last round with the rate and latency replaced by the medians;
 * a round that fails or is skipped stays the result. Returns nonzero when a
 * run failed. */
static int bench_run_case(bench_ctl_t *ctl, bench_case_t *c)
{
    unsigned rounds = bench_opts.repeat;
    bench_result_t kept[2];
    double diffs[rounds];
    unsigned r, k, v;
    int bad[2] = {0, 0};

    for (v = 0; v < 2; ++v) {
        c->rates[v] = calloc(rounds, sizeof(double));
        c->lats[v]  = calloc(rounds, sizeof(double));
        if ((c->rates[v] == NULL) || (c->lats[v] == NULL)) {
            bench_fatal("out of memory");
        }
    }

    for (r = 0; r < rounds; ++r) {
        for (k = 0; k < 2; ++k) {
            v = (r % 2) ? !k : k;
            bench_run_variant(ctl, c, v);
            c->rates[v][r] = bench_ok_value(&c->res[v], c->res[v].rate);
            c->lats[v][r]  = bench_ok_value(&c->res[v], c->res[v].lat_us);
            if ((c->res[v].state != BENCH_RES_OK) && !bad[v]) {
                kept[v] = c->res[v];
                bad[v]  = 1;
            }
        }
        diffs[r] = c->lats[1][r] - c->lats[0][r];
    }

    for (v = 0; v < 2; ++v) {
        if (bad[v]) {
            c->res[v] = kept[v];
        } else {
            c->res[v].rate   = bench_median(c->rates[v], rounds);
            c->res[v].lat_us = bench_median(c->lats[v], rounds);
        }
    }
    c->lat_diff_us = bench_median(diffs, rounds);
    return (c->res[0].state == BENCH_RES_FAILED) ||
           (c->res[1].state == BENCH_RES_FAILED);
}

static int bench_write_file(const char *path, const char *text)
{
    int fd  = open(path, O_WRONLY);
    int ret = -1;

    if (fd >= 0) {
        ret = (write(fd, text, strlen(text)) == (ssize_t)strlen(text)) ? 0 :
                                                                         -1;
        close(fd);
    }
    return ret;
}

static int bench_enter_netns(char *why, size_t max)
{
    char map[64];
    struct ifreq ifr;
    uid_t uid = getuid();
    gid_t gid = getgid();
    int fd, ret;

    if (unshare(CLONE_NEWNET) != 0) {
        /* Without privileges: a user namespace mapping only ourselves */
        if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
            snprintf(why, max, "unshare: %s", strerror(errno));
            return -1;
        }
        bench_write_file("/proc/self/setgroups", "deny");
        snprintf(map, sizeof(map), "%u %u 1", (unsigned)uid, (unsigned)uid);
        bench_write_file("/proc/self/uid_map", map);
        snprintf(map, sizeof(map), "%u %u 1", (unsigned)gid, (unsigned)gid);
        bench_write_file("/proc/self/gid_map", map);
    }

    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        snprintf(why, max, "socket: %s", strerror(errno));
        return -2;
    }
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    ret = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (ret == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        ret = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    if (ret != 0) {
        snprintf(why, max, "bringing lo up: %s", strerror(errno));
    }
    close(fd);
    return (ret == 0) ? 0 : -2;
}


/*
 * CPU placement. Sender and receiver each spin; on one CPU they would take
 * turns, and the receiver would drain at most one inner queue (e.g. a posix
 * FIFO of 64 messages) per time slice. Distinct CPUs make the numbers those
 * of the transports, not of the scheduler.
 */

static void bench_choose_cpus(void)
{
    cpu_set_t set;
    int cpu, n = 0;

    if (bench_opts.cpus_set) {
        return;
    }

    bench_opts.cpus[0] = bench_opts.cpus[1] = -1;
    if (sched_getaffinity(0, sizeof(set), &set) != 0) {
        return;
    }
    for (cpu = 0; (cpu < CPU_SETSIZE) && (n < 2); ++cpu) {
        if (CPU_ISSET(cpu, &set)) {
            bench_opts.cpus[n++] = cpu;
        }
    }
    if (n < 2) {
        bench_opts.cpus[0] = bench_opts.cpus[1] = -1;
    }
}

static void bench_pin(int cpu, const char *who)
{
    cpu_set_t set;

    if (cpu < 0) {
        return;
    }

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) {
        bench_fatal("cannot run the %s on CPU %d: %s (see --cpus)", who, cpu,
                    strerror(errno));
    }
}


/*
 * Output
 */

static const char *bench_fmt(char *buf, size_t max, double v, int prec)
{
    if (isnan(v)) {
        snprintf(buf, max, "-");
    } else {
        snprintf(buf, max, "%.*f", prec, v);
    }
    return buf;
}

static double bench_ratio(double a, double b)
{
    return (isnan(a) || isnan(b) || (b == 0)) ? NAN : a / b;
}

static const char *bench_cell(char *buf, size_t max, const bench_result_t *res,
                              double v, int prec)
{
    if (res->state == BENCH_RES_SKIPPED) {
        return "skip";
    } else if (res->state == BENCH_RES_FAILED) {
        return "FAIL";
    }
    return bench_fmt(buf, max, v, prec);
}

static double bench_rsagg_stat(const bench_result_t *r, int which)
{
    if ((r->state != BENCH_RES_OK) || !r->have_counters) {
        return NAN;
    }
    switch (which) {
    case 0: /* Messages per inner transfer */
        return r->tx.transfers ? (double)r->tx.msgs / r->tx.transfers : NAN;
    case 1: /* Inner bytes per message */
        return r->tx.msgs ? (double)r->tx.inner_bytes / r->tx.msgs : NAN;
    case 2: /* Share of messages sent alone, % */
        return r->tx.msgs ? 100.0 * r->tx.direct / r->tx.msgs : NAN;
    default:
        return (double)r->channels;
    }
}

static void bench_print_tables(bench_case_t *cases, unsigned num_cases)
{
    char b[12][32];
    bench_case_t *c;
    bench_result_t *in, *ra;
    unsigned i;

    printf("\n%-32s%-25s%-25s%s\n", "",
           "message rate [Mmsg/s]", "half round trip [ns]",
           "wire bytes/msg on lo");
    printf("%-6s %-5s %5s %4s    %7s %7s %7s  %7s %7s %7s  %7s %7s %7s\n",
           "inner", "op", "size", "eps", "inner", "rsagg", "ratio",
           "inner", "rsagg", "diff", "inner", "rsagg", "ratio");
    for (i = 0; i < num_cases; ++i) {
        c  = &cases[i];
        in = &c->res[0];
        ra = &c->res[1];
        printf("%-6s %-5s %5u %4u    %7s %7s %7s  %7s %7s %7s  %7s %7s %7s\n",
               c->inner->name, bench_op_names[c->op], c->size, c->num_eps,
               bench_cell(b[0], 32, in, in->rate / 1e6, 3),
               bench_cell(b[1], 32, ra, ra->rate / 1e6, 3),
               bench_fmt(b[2], 32,
                         bench_ratio(bench_ok_value(ra, ra->rate),
                                     bench_ok_value(in, in->rate)), 2),
               bench_cell(b[3], 32, in, in->lat_us * 1e3, 0),
               bench_cell(b[4], 32, ra, ra->lat_us * 1e3, 0),
               bench_fmt(b[5], 32, c->lat_diff_us * 1e3, 0),
               bench_cell(b[6], 32, in, in->lo_per_msg, 1),
               bench_cell(b[7], 32, ra, ra->lo_per_msg, 1),
               bench_fmt(b[8], 32,
                         bench_ratio(bench_ok_value(ra, ra->lo_per_msg),
                                     bench_ok_value(in, in->lo_per_msg)), 3));
    }

    printf("\n%-32s%-38s%-22s%s\n", "",
           "rsagg counters (sender)", "IB RC utilization",
           "RoCEv2 utilization");
    printf("%-6s %-5s %5s %4s    %8s %8s %7s %5s  %6s %6s %6s  %6s %6s %6s\n",
           "inner", "op", "size", "eps", "msg/xfer", "innerB/m", "direct%",
           "chan", "inner", "rsagg", "ratio", "inner", "rsagg", "ratio");
    for (i = 0; i < num_cases; ++i) {
        c  = &cases[i];
        in = &c->res[0];
        ra = &c->res[1];
        printf("%-6s %-5s %5u %4u    %8s %8s %7s %5s  %6s %6s %6s  %6s %6s "
               "%6s\n",
               c->inner->name, bench_op_names[c->op], c->size, c->num_eps,
               bench_fmt(b[0], 32, bench_rsagg_stat(ra, 0), 1),
               bench_fmt(b[1], 32, bench_rsagg_stat(ra, 1), 2),
               bench_fmt(b[2], 32, bench_rsagg_stat(ra, 2), 2),
               bench_fmt(b[3], 32, bench_rsagg_stat(ra, 3), 0),
               bench_cell(b[4], 32, in, in->ib.util, 3),
               bench_cell(b[5], 32, ra, ra->ib.util, 3),
               bench_fmt(b[6], 32,
                         bench_ratio(bench_ok_value(ra, ra->ib.util),
                                     bench_ok_value(in, in->ib.util)), 2),
               bench_cell(b[7], 32, in, in->roce.util, 3),
               bench_cell(b[8], 32, ra, ra->roce.util, 3),
               bench_fmt(b[9], 32,
                         bench_ratio(bench_ok_value(ra, ra->roce.util),
                                     bench_ok_value(in, in->roce.util)), 2));
    }
}

/* Reasons of skipped and failed runs, each once */
static void bench_print_notes(bench_case_t *cases, unsigned num_cases)
{
    char line[BENCH_REASON_MAX + 64], **seen;
    unsigned i, j, v, num_seen = 0;
    bench_result_t *res;
    int header = 0;

    seen = calloc(num_cases * 2, sizeof(*seen));
    if (seen == NULL) {
        return;
    }

    for (i = 0; i < num_cases; ++i) {
        for (v = 0; v < 2; ++v) {
            res = &cases[i].res[v];
            if ((res->state != BENCH_RES_SKIPPED) &&
                (res->state != BENCH_RES_FAILED)) {
                continue;
            }
            if (res->state == BENCH_RES_FAILED) {
                snprintf(line, sizeof(line), "%s %s %u B %u eps %s: FAILED: "
                         "%s", cases[i].inner->name,
                         bench_op_names[cases[i].op], cases[i].size,
                         cases[i].num_eps, v ? "rsagg" : "inner",
                         res->reason);
            } else {
                snprintf(line, sizeof(line), "%s %s %s: skipped: %s",
                         cases[i].inner->name, bench_op_names[cases[i].op],
                         v ? "rsagg" : "inner", res->reason);
            }
            for (j = 0; (j < num_seen) && strcmp(seen[j], line); ++j) {
            }
            if (j < num_seen) {
                continue;
            }
            seen[num_seen++] = strdup(line);
            if (!header) {
                printf("\n");
                header = 1;
            }
            printf("note: %s\n", line);
        }
    }

    for (j = 0; j < num_seen; ++j) {
        free(seen[j]);
    }
    free(seen);
}

static void bench_csv_num(FILE *f, double v)
{
    if (isnan(v)) {
        fprintf(f, ",");
    } else {
        fprintf(f, ",%.10g", v); /* Counts stay exact */
    }
}

static void bench_csv_str(FILE *f, const char *s)
{
    fputs(",\"", f);
    for (; *s != '\0'; ++s) {
        if (*s == '"') {
            fputc('"', f);
        }
        fputc(*s, f);
    }
    fputc('"', f);
}

static int bench_write_csv(const char *path, bench_case_t *cases,
                           unsigned num_cases)
{
    static const char *prefix[] = {"inner", "rsagg"};
    bench_result_t *r, *in, *ra;
    bench_case_t *c;
    unsigned i, v;
    FILE *f;

    f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "rsagg_bench: cannot write %s: %s\n", path,
                strerror(errno));
        return -1;
    }

    fprintf(f, "inner_tl,op,size,eps");
    for (v = 0; v < 2; ++v) {
        fprintf(f, ",%1$s_status,%1$s_note,%1$s_msgs,%1$s_seconds,"
                "%1$s_rate,%1$s_lat_us,%1$s_lat_samples,%1$s_lo_bytes_per_msg,"
                "%1$s_ib_wire_bytes_per_msg,%1$s_ib_util,"
                "%1$s_roce_wire_bytes_per_msg,%1$s_roce_util", prefix[v]);
    }
    fprintf(f, ",rsagg_msgs_per_transfer,rsagg_inner_bytes_per_msg,"
            "rsagg_direct,rsagg_transfers,rsagg_inner_bytes,rsagg_channels,"
            "rsagg_rx_transfers,rsagg_rx_msgs,rate_ratio,lat_diff_us,"
            "lo_bytes_ratio,ib_util_ratio,roce_util_ratio,mtu,"
            "ib_pkt_overhead,roce_pkt_overhead\n");

    for (i = 0; i < num_cases; ++i) {
        c  = &cases[i];
        in = &c->res[0];
        ra = &c->res[1];
        fprintf(f, "%s,%s,%u,%u", c->inner->name, bench_op_names[c->op],
                c->size, c->num_eps);
        for (v = 0; v < 2; ++v) {
            r = &c->res[v];
            fprintf(f, ",%s", bench_res_state_names[r->state]);
            bench_csv_str(f, r->reason);
            bench_csv_num(f, bench_ok_value(r, r->msgs));
            bench_csv_num(f, bench_ok_value(r, r->seconds));
            bench_csv_num(f, bench_ok_value(r, r->rate));
            bench_csv_num(f, bench_ok_value(r, r->lat_us));
            bench_csv_num(f, isnan(r->lat_us) ? NAN : r->lat_samples);
            bench_csv_num(f, bench_ok_value(r, r->lo_per_msg));
            bench_csv_num(f, bench_ok_value(r, r->ib.wire_per_msg));
            bench_csv_num(f, bench_ok_value(r, r->ib.util));
            bench_csv_num(f, bench_ok_value(r, r->roce.wire_per_msg));
            bench_csv_num(f, bench_ok_value(r, r->roce.util));
        }
        bench_csv_num(f, bench_rsagg_stat(ra, 0));
        bench_csv_num(f, bench_rsagg_stat(ra, 1));
        if ((ra->state == BENCH_RES_OK) && ra->have_counters) {
            fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
                    ",%" PRIu64 ",%" PRIu64, ra->tx.direct, ra->tx.transfers,
                    ra->tx.inner_bytes, ra->channels, ra->rx.rx_transfers,
                    ra->rx.rx_msgs);
        } else {
            fprintf(f, ",,,,,,");
        }
        bench_csv_num(f, bench_ratio(bench_ok_value(ra, ra->rate),
                                     bench_ok_value(in, in->rate)));
        bench_csv_num(f, c->lat_diff_us);
        bench_csv_num(f, bench_ratio(bench_ok_value(ra, ra->lo_per_msg),
                                     bench_ok_value(in, in->lo_per_msg)));
        bench_csv_num(f, bench_ratio(bench_ok_value(ra, ra->ib.util),
                                     bench_ok_value(in, in->ib.util)));
        bench_csv_num(f, bench_ratio(bench_ok_value(ra, ra->roce.util),
                                     bench_ok_value(in, in->roce.util)));
        fprintf(f, ",%u,%u,%u\n", bench_opts.mtu, BENCH_IB_PKT_OVERHEAD,
                BENCH_ROCE_PKT_OVERHEAD +
                (bench_opts.roce_phy ? BENCH_ROCE_PHY_OVERHEAD : 0));
    }

    if (fclose(f) != 0) {
        fprintf(stderr, "rsagg_bench: error writing %s\n", path);
        return -1;
    }
    return 0;
}


/*
 * Options
 */

static void bench_usage(FILE *f)
{
    fprintf(f,
"Usage: rsagg_bench [OPTIONS]\n"
"Benchmark of rsagg against its inner UCT transport: N endpoints of one\n"
"interface send round-robin active messages to one interface of a forked\n"
"receiver process; each inner transport alone and rsagg over it, same run.\n"
"Load the rsagg module first (contrib/bench.sh, or contrib/rsagg-run);\n"
"without it the rsagg runs are reported as skipped.\n"
"\n"
"  -t, --time SEC       message rate phase per run (default 0.4)\n"
"  -l, --lat-time SEC   ping-pong phase per run with 1 ep, 0: none (0.1)\n"
"      --lat-iters N    at most N ping-pong samples (20000)\n"
"  -n, --eps LIST       numbers of endpoints (1,8,64)\n"
"  -s, --sizes LIST     message sizes in bytes, >= 8: an 8-byte header with\n"
"                       the ep and sequence number, then payload (8,64,256)\n"
"  -x, --tls LIST       inner transports: tcp (on lo), posix, sysv\n"
"                       (tcp,posix)\n"
"  -o, --ops LIST       short (am_short), bcopy (am_bcopy) (short,bcopy)\n"
"  -w, --warmup N       messages per ep before measuring (16)\n"
"  -r, --repeat N       rounds of every case, inner and rsagg alternating in\n"
"                       the same pair of processes; reported: the median\n"
"                       of the rounds, and for latency the median of the\n"
"                       per-round differences (1)\n"
"  -c, --csv FILE       also write the results as CSV\n"
"      --mtu N          wire model MTU (4096)\n"
"      --roce-phy       wire model: count Ethernet preamble and IFG (20 B)\n"
"      --shared-lo      do not use a private network namespace (lo bytes\n"
"                       then include other traffic on lo)\n"
"      --cpus S,R       pin the sender to CPU S and the receiver to CPU R;\n"
"                       \"none\": no pinning (default: the first two CPUs\n"
"                       this process may use, when there are two)\n"
"      --timeout SEC    fail a run after SEC without progress (10)\n"
"      --inject-gap     self-test: skip one sequence number per run, which\n"
"                       the receiver must report (every run FAILS)\n"
"  -h, --help\n"
"\n"
"Exit status: 0 when every run that was not skipped passed its checks\n"
"(every message delivered once, in order per ep, with its content).\n");
}

static int bench_parse_uints(const char *arg, unsigned *list, unsigned *num_p,
                             unsigned min, unsigned max)
{
    char *copy = strdup(arg), *tok, *save, *end;
    unsigned long v;
    unsigned n = 0;
    int ret    = 0;

    for (tok = strtok_r(copy, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        errno = 0;
        v     = strtoul(tok, &end, 10);
        if ((errno != 0) || (*end != '\0') || (end == tok) || (v < min) ||
            (v > max) || (n == BENCH_MAX_LIST)) {
            ret = -1;
            break;
        }
        list[n++] = v;
    }
    free(copy);
    *num_p = n;
    return ((ret == 0) && (n > 0)) ? 0 : -1;
}

static double bench_parse_seconds(const char *arg, const char *opt,
                                  double min)
{
    char *end;
    double v;

    errno = 0;
    v     = strtod(arg, &end);
    if ((errno != 0) || (*end != '\0') || (end == arg) || !(v >= min) ||
        (v > 3600)) {
        bench_fatal("%s: '%s' is not a number of seconds (%g..3600)", opt,
                    arg, min);
    }
    return v;
}

static void bench_parse_opts(int argc, char **argv)
{
    enum {
        OPT_LAT_ITERS = 256,
        OPT_MTU,
        OPT_ROCE_PHY,
        OPT_SHARED_LO,
        OPT_TIMEOUT,
        OPT_INJECT_GAP,
        OPT_CPUS
    };
    static const struct option long_opts[] = {
        {"time",      required_argument, NULL, 't'},
        {"lat-time",  required_argument, NULL, 'l'},
        {"lat-iters", required_argument, NULL, OPT_LAT_ITERS},
        {"eps",       required_argument, NULL, 'n'},
        {"sizes",     required_argument, NULL, 's'},
        {"tls",       required_argument, NULL, 'x'},
        {"ops",       required_argument, NULL, 'o'},
        {"warmup",    required_argument, NULL, 'w'},
        {"csv",       required_argument, NULL, 'c'},
        {"mtu",       required_argument, NULL, OPT_MTU},
        {"roce-phy",  no_argument,       NULL, OPT_ROCE_PHY},
        {"shared-lo", no_argument,       NULL, OPT_SHARED_LO},
        {"timeout",   required_argument, NULL, OPT_TIMEOUT},
        {"inject-gap", no_argument,      NULL, OPT_INJECT_GAP},
        {"cpus",      required_argument, NULL, OPT_CPUS},
        {"repeat",    required_argument, NULL, 'r'},
        {"help",      no_argument,       NULL, 'h'},
        {NULL}
    };
    char *copy, *tok, *save;
    unsigned n, list[BENCH_MAX_LIST], i;
    const char *tls = "tcp,posix", *ops = "short,bcopy";
    int opt;

    bench_opts.time      = 0.4;
    bench_opts.lat_time  = 0.1;
    bench_opts.lat_iters = 20000;
    bench_opts.warmup    = 16;
    bench_opts.timeout   = 10;
    bench_opts.mtu       = 4096;
    bench_opts.netns     = 1;
    bench_opts.repeat    = 1;
    bench_parse_uints("1,8,64", bench_opts.eps, &bench_opts.num_eps, 1,
                      BENCH_MAX_EPS);
    bench_parse_uints("8,64,256", bench_opts.sizes, &bench_opts.num_sizes,
                      BENCH_HDR_SIZE, BENCH_MAX_SIZE);

    while ((opt = getopt_long(argc, argv, "t:l:n:s:x:o:w:c:r:h", long_opts,
                              NULL)) != -1) {
        switch (opt) {
        case 't':
            bench_opts.time = bench_parse_seconds(optarg, "--time", 0.001);
            break;
        case 'l':
            bench_opts.lat_time = bench_parse_seconds(optarg, "--lat-time", 0);
            break;
        case OPT_LAT_ITERS:
            if (bench_parse_uints(optarg, list, &n, 1, 10000000) || (n != 1)) {
                bench_fatal("--lat-iters: 1..10000000");
            }
            bench_opts.lat_iters = list[0];
            break;
        case 'n':
            if (bench_parse_uints(optarg, bench_opts.eps, &bench_opts.num_eps,
                                  1, BENCH_MAX_EPS)) {
                bench_fatal("--eps: a list of 1..%d", BENCH_MAX_EPS);
            }
            break;
        case 's':
            if (bench_parse_uints(optarg, bench_opts.sizes,
                                  &bench_opts.num_sizes, BENCH_HDR_SIZE,
                                  BENCH_MAX_SIZE)) {
                bench_fatal("--sizes: a list of %zu..%d (bytes)",
                            BENCH_HDR_SIZE, BENCH_MAX_SIZE);
            }
            break;
        case 'x':
            tls = optarg;
            break;
        case 'o':
            ops = optarg;
            break;
        case 'w':
            if (bench_parse_uints(optarg, list, &n, 1, 1000000) || (n != 1)) {
                bench_fatal("--warmup: 1..1000000");
            }
            bench_opts.warmup = list[0];
            break;
        case 'c':
            bench_opts.csv = optarg;
            break;
        case OPT_MTU:
            if (bench_parse_uints(optarg, list, &n, 256, 65536) || (n != 1)) {
                bench_fatal("--mtu: 256..65536");
            }
            bench_opts.mtu = list[0];
            break;
        case OPT_ROCE_PHY:
            bench_opts.roce_phy = 1;
            break;
        case OPT_SHARED_LO:
            bench_opts.netns = 0;
            break;
        case OPT_TIMEOUT:
            bench_opts.timeout = bench_parse_seconds(optarg, "--timeout", 0.1);
            break;
        case OPT_CPUS:
            if (!strcmp(optarg, "none")) {
                bench_opts.cpus[0] = bench_opts.cpus[1] = -1;
            } else if (bench_parse_uints(optarg, list, &n, 0,
                                         CPU_SETSIZE - 1) || (n != 2)) {
                bench_fatal("--cpus: SENDER,RECEIVER (CPU numbers) or none");
            } else {
                bench_opts.cpus[0] = list[0];
                bench_opts.cpus[1] = list[1];
            }
            bench_opts.cpus_set = 1;
            break;
        case 'r':
            if (bench_parse_uints(optarg, list, &n, 1, 1000) || (n != 1)) {
                bench_fatal("--repeat: 1..1000");
            }
            bench_opts.repeat = list[0];
            break;
        case OPT_INJECT_GAP:
            bench_opts.inject_gap = 1;
            break;
        case 'h':
            bench_usage(stdout);
            exit(0);
        default:
            bench_usage(stderr);
            exit(2);
        }
    }
    if (optind < argc) {
        bench_fatal("unexpected argument '%s' (see --help)", argv[optind]);
    }

    copy = strdup(tls);
    for (tok = strtok_r(copy, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        for (i = 0; (bench_inners[i].name != NULL) &&
                    strcmp(bench_inners[i].name, tok); ++i) {
        }
        if ((bench_inners[i].name == NULL) ||
            (bench_opts.num_inners == BENCH_MAX_LIST)) {
            bench_fatal("--tls: unknown inner transport '%s' (tcp, posix, "
                        "sysv)", tok);
        }
        bench_opts.inners[bench_opts.num_inners++] = &bench_inners[i];
    }
    free(copy);

    copy = strdup(ops);
    for (tok = strtok_r(copy, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        for (i = 0; (i < BENCH_OP_LAST) && strcmp(bench_op_names[i], tok);
             ++i) {
        }
        if ((i == BENCH_OP_LAST) || (bench_opts.num_ops == BENCH_OP_LAST)) {
            bench_fatal("--ops: unknown operation '%s' (short, bcopy)", tok);
        }
        bench_opts.ops[bench_opts.num_ops++] = i;
    }
    free(copy);

    if ((bench_opts.num_inners == 0) || (bench_opts.num_ops == 0)) {
        bench_fatal("--tls and --ops need at least one name each");
    }
}


int main(int argc, char **argv)
{
    int p2c[2], c2p[2], status, failed = 0;
    unsigned i, t, o, s, e, num_cases;
    char netns_why[256] = "";
    bench_case_t *cases, *c;
    bench_ctl_t ctl;
    double start;
    pid_t pid;

    bench_parse_opts(argc, argv);
    bench_pattern_init();
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Before any UCX object exists: both processes in the same namespace */
    if (bench_opts.netns) {
        switch (bench_enter_netns(netns_why, sizeof(netns_why))) {
        case 0:
            bench_lo_private = 1;
            break;
        case -1:
            break; /* Still in the original namespace */
        default:
            bench_fatal("private network namespace: %s (try --shared-lo)",
                        netns_why);
        }
    }

    bench_counters_func = (uct_rsagg_iface_counters_func_t)
            dlsym(RTLD_DEFAULT, UCT_RSAGG_COUNTERS_SYMBOL);

    bench_choose_cpus();

    /* The receiver is forked before either process creates UCX objects */
    if ((pipe(p2c) != 0) || (pipe(c2p) != 0)) {
        bench_fatal("pipe: %s", strerror(errno));
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        bench_fatal("fork: %s", strerror(errno));
    } else if (pid == 0) {
        bench_pin(bench_opts.cpus[1], "receiver");
        close(p2c[1]);
        close(c2p[0]);
        ctl.rfd = p2c[0];
        ctl.wfd = c2p[1];
        _exit(bench_receiver_main(&ctl));
    }
    bench_pin(bench_opts.cpus[0], "sender");
    close(p2c[0]);
    close(c2p[1]);
    ctl.rfd = c2p[0];
    ctl.wfd = p2c[1];

    num_cases = bench_opts.num_inners * bench_opts.num_ops *
                bench_opts.num_sizes * bench_opts.num_eps;
    cases     = calloc(num_cases, sizeof(*cases));
    if (cases == NULL) {
        bench_fatal("out of memory");
    }

    printf("rsagg_bench: UCT active messages, N eps of one interface -> one "
           "interface of a forked receiver\n");
    printf("  %.3g s message rate per run, %.3g s ping-pong (1 ep); "
           "module: %s\n", bench_opts.time, bench_opts.lat_time,
           (bench_counters_func != NULL) ? "rsagg loaded" :
           "rsagg NOT loaded (rsagg runs skipped)");
    if (bench_opts.cpus[0] >= 0) {
        printf("  sender on CPU %d, receiver on CPU %d\n", bench_opts.cpus[0],
               bench_opts.cpus[1]);
    } else {
        printf("  sender and receiver not pinned to CPUs\n");
    }
    printf("  lo bytes: %s\n", bench_lo_private ?
           "private network namespace (this benchmark's traffic only)" :
           "shared lo: other traffic on lo is counted too");
    if (!bench_lo_private && bench_opts.netns) {
        printf("  (no private network namespace: %s)\n", netns_why);
    }
    printf("  wire model: MTU %u; IB RC %d B/packet (LRH 8 + BTH 12 + ICRC 4 "
           "+ VCRC 2);\n"
           "    RoCEv2 %d B/packet (Eth 14 + FCS 4 + IPv4 20 + UDP 8 + BTH 12 "
           "+ ICRC 4%s);\n"
           "    %d B inner AM header per transfer (RC); utilization = message "
           "bytes / wire bytes\n", bench_opts.mtu, BENCH_IB_PKT_OVERHEAD,
           BENCH_ROCE_PKT_OVERHEAD +
           (bench_opts.roce_phy ? BENCH_ROCE_PHY_OVERHEAD : 0),
           bench_opts.roce_phy ? " + preamble/IFG 20" :
           "; preamble/IFG not counted", BENCH_RC_AM_HDR);

    start = bench_now();
    i     = 0;
    for (t = 0; t < bench_opts.num_inners; ++t) {
        for (o = 0; o < bench_opts.num_ops; ++o) {
            for (s = 0; s < bench_opts.num_sizes; ++s) {
                for (e = 0; e < bench_opts.num_eps; ++e, ++i) {
                    c          = &cases[i];
                    c->inner   = bench_opts.inners[t];
                    c->op      = bench_opts.ops[o];
                    c->size    = bench_opts.sizes[s];
                    c->num_eps = bench_opts.eps[e];
                    if (isatty(STDERR_FILENO)) {
                        fprintf(stderr, "\r[%u/%u] %s %s %u B x %u eps   ",
                                i + 1, num_cases, c->inner->name,
                                bench_op_names[c->op], c->size, c->num_eps);
                    }
                    failed |= bench_run_case(&ctl, c);
                }
            }
        }
    }
    if (isatty(STDERR_FILENO)) {
        fprintf(stderr, "\r%60s\r", "");
    }

    bench_ctl_send(&ctl, BENCH_CMD_QUIT, NULL, 0);
    if ((waitpid(pid, &status, 0) != pid) || !WIFEXITED(status) ||
        (WEXITSTATUS(status) != 0)) {
        fprintf(stderr, "rsagg_bench: the receiver process failed\n");
        failed = 1;
    }

    bench_print_tables(cases, num_cases);
    bench_print_notes(cases, num_cases);
    printf("\n%u runs in %.1f s: %s\n", num_cases * 2, bench_now() - start,
           failed ? "FAILED (see notes)" : "all checks passed");

    if ((bench_opts.csv != NULL) &&
        (bench_write_csv(bench_opts.csv, cases, num_cases) != 0)) {
        failed = 1;
    }

    for (i = 0; i < num_cases; ++i) {
        for (t = 0; t < 2; ++t) {
            free(cases[i].rates[t]);
            free(cases[i].lats[t]);
        }
    }
    free(cases);
    return failed ? 1 : 0;
}
