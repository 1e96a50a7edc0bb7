/**
 * The counters of an rsagg interface, as the benchmark reads them.
 *
 * The benchmark uses only public UCX headers, so it cannot include
 * src/uct/rsagg/rsagg_iface.h (which needs UCX's internal headers). This is a
 * copy of uct_rsagg_counters_t.
 *
 * KEEP IN SYNC: same fields, same types, same order as uct_rsagg_counters_t in
 * src/uct/rsagg/rsagg_iface.h. The only check the compiler can make here is
 * the size below (STATIC ASSERT); a field added or moved there must be added
 * or moved here too, and RSAGG_BENCH_NUM_COUNTERS updated.
 *
 * uct_rsagg_iface_counters() is looked up at run time (dlsym), so the
 * benchmark also runs, without the rsagg rows, where the module is not
 * loaded.
 */

#ifndef RSAGG_BENCH_COUNTERS_H_
#define RSAGG_BENCH_COUNTERS_H_

#include <uct/api/uct_def.h>
#include <ucs/type/status.h>
#include <stdint.h>


typedef struct rsagg_bench_counters {
    uint64_t                   msgs;          /* Messages accepted */
    uint64_t                   bytes;         /* Payload bytes accepted */
    uint64_t                   direct;        /* Sent alone (pass-through) */
    uint64_t                   transfers;     /* Inner transfers sent */
    uint64_t                   inner_bytes;   /* Bytes given to the inner */
    uint64_t                   rx_msgs;       /* Messages delivered */
    uint64_t                   rx_transfers;  /* Consolidated transfers in */
    uint64_t                   malformed;     /* Transfers dropped */
    uint64_t                   rejected_puts; /* Puts outside their region */
    uint64_t                   channels;      /* Inner connections opened */
    uint64_t                   lost;          /* Batches lost with a peer */
} rsagg_bench_counters_t;

#define RSAGG_BENCH_NUM_COUNTERS   11

/* STATIC ASSERT: sizeof(uct_rsagg_counters_t), src/uct/rsagg/rsagg_iface.h */
_Static_assert(sizeof(rsagg_bench_counters_t) ==
               RSAGG_BENCH_NUM_COUNTERS * sizeof(uint64_t),
               "rsagg_bench_counters_t must mirror uct_rsagg_counters_t");


/* ucs_status_t uct_rsagg_iface_counters(uct_iface_h, uct_rsagg_counters_t*) */
typedef ucs_status_t (*rsagg_bench_counters_func_t)(
        uct_iface_h iface, rsagg_bench_counters_t *counters_p);

#define RSAGG_BENCH_COUNTERS_SYMBOL "uct_rsagg_iface_counters"

#endif
