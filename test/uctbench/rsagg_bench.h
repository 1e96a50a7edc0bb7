/**
 * rsagg_bench: the pieces of the UCT benchmark and how they fit together.
 *
 *   rsagg_bench.c      main: the cases, the forked receiver, CPU placement
 *   bench_opts.c       command line (options, defaults, --help)
 *   bench_util.c       clock, errors, medians
 *   bench_msg.c        message content, the checking AM handler, one send
 *   bench_uct.c        UCT objects of one side: md, iface, address, ep
 *   bench_ctl.c        control channel between sender and receiver (pipes)
 *   bench_receiver.c   the receiver process
 *   bench_measure.c    the sender's rate and latency measurement of a case
 *   bench_lo.c         wire bytes on lo, in a private network namespace
 *   bench_counters.c   rsagg's counters of a measured phase
 *   bench_model.c      IB RC / RoCEv2 per-packet wire model
 *   bench_output.c     tables, notes and CSV
 *
 * See rsagg_bench.c for what is measured and how.
 */

#ifndef RSAGG_BENCH_H_
#define RSAGG_BENCH_H_

#ifndef _GNU_SOURCE
#  define _GNU_SOURCE
#endif

#include <uct/rsagg/rsagg_counters.h>

#include <uct/api/uct.h>
#include <ucs/async/async_fwd.h>

#include <stdint.h>
#include <stdio.h>


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


/* An inner transport and the rsagg memory domain that wraps it */
typedef struct {
    const char                 *name;
    const char                 *md_name;
    const char                 *tl_name;
    const char                 *dev_name;
    const char                 *rsagg_md_name;
    int                        on_lo;        /* Its traffic crosses lo */
} bench_inner_t;

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


typedef enum {
    BENCH_RES_NONE,
    BENCH_RES_OK,
    BENCH_RES_SKIPPED,
    BENCH_RES_FAILED
} bench_res_state_t;

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


/* rsagg_bench.c */
extern bench_opts_t bench_opts;
extern uct_rsagg_iface_counters_func_t bench_counters_func;
extern int bench_lo_private;

/* bench_opts.c */
extern const char *bench_op_names[];
void bench_parse_opts(int argc, char **argv);

/* bench_util.c */
double bench_now(void);
void bench_fatal(const char *fmt, ...);
void bench_set_reason(char *reason, const char *fmt, ...);
int bench_cmp_double(const void *a, const void *b);
double bench_median(const double *values, unsigned n);
double bench_ok_value(const bench_result_t *res, double v);

/* bench_msg.c */
void bench_pattern_init(void);
void bench_rx_fail(bench_rx_t *rx, const char *fmt, ...);
int bench_rx_init(bench_rx_t *rx, unsigned size, unsigned num_eps);
ucs_status_t bench_am_cb(void *arg, void *data, size_t length,
                         unsigned flags);
ucs_status_t bench_tx_one(bench_tx_t *tx, unsigned ep);

/* bench_uct.c */
void bench_uct_close(bench_uct_t *u);
ucs_status_t bench_uct_open(bench_uct_t *u, const char *md_name,
                            const char *tl_name, const char *dev_name,
                            unsigned size, unsigned num_eps,
                            int *skipped_p, char *reason);
ucs_status_t bench_uct_addr(bench_uct_t *u, bench_addr_t *addr);
ucs_status_t bench_ep_create(bench_uct_t *u, const bench_addr_t *addr,
                             uct_ep_h *ep_p);

/* bench_ctl.c */
int bench_ctl_send(bench_ctl_t *ctl, bench_cmd_t cmd, const void *body,
                   uint32_t length);
void bench_ctl_command(bench_ctl_t *ctl, bench_cmd_t cmd, const void *body,
                       uint32_t length);
int bench_ctl_read(bench_ctl_t *ctl, bench_cmd_t *cmd_p, void *body,
                   uint32_t max_length, uint32_t *length_p);
int bench_ctl_readable(bench_ctl_t *ctl, int timeout_ms);
int bench_ctl_wait_reply(bench_ctl_t *ctl, bench_uct_t *u,
                         bench_reply_t *reply);

/* bench_receiver.c */
int bench_receiver_main(bench_ctl_t *ctl);

/* bench_measure.c */
int bench_run_case(bench_ctl_t *ctl, bench_case_t *c);

/* bench_lo.c */
int bench_lo_tx_bytes(uint64_t *bytes_p);
int bench_enter_netns(char *why, size_t max);

/* bench_counters.c */
int bench_get_counters(bench_uct_t *u, uct_rsagg_counters_t *c);
void bench_counters_sub(uct_rsagg_counters_t *d,
                        const uct_rsagg_counters_t *a,
                        const uct_rsagg_counters_t *b);
void bench_check_counters(const bench_case_t *c, const bench_result_t *res,
                          int have_rx);

/* bench_model.c */
unsigned bench_roce_pkt_overhead(void);
void bench_model_result(const bench_case_t *c, bench_result_t *res,
                        int rsagg);

/* bench_output.c */
void bench_print_intro(const char *netns_why);
void bench_print_tables(bench_case_t *cases, unsigned num_cases);
void bench_print_notes(bench_case_t *cases, unsigned num_cases);
int bench_write_csv(const char *path, bench_case_t *cases,
                    unsigned num_cases);

#endif
