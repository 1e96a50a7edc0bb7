/**
 * rsagg_bench: rsagg's own counters (uct_rsagg_iface_counters(), found with
 * dlsym() when the module is loaded) over a measured phase, and the checks
 * that they add up.
 */

#include "rsagg_bench.h"

#include <inttypes.h>
#include <string.h>


/* The counters of u's interface; returns 0 when there are none (no rsagg) */
int bench_get_counters(bench_uct_t *u, uct_rsagg_counters_t *c)
{
    memset(c, 0, sizeof(*c));
    return (bench_counters_func != NULL) &&
           (bench_counters_func(u->iface, c, sizeof(*c)) == UCS_OK);
}

/* d = a - b, counter by counter */
void bench_counters_sub(uct_rsagg_counters_t *d,
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
void bench_check_counters(const bench_case_t *c, const bench_result_t *res,
                          int have_rx)
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
