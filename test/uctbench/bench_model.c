/**
 * rsagg_bench: byte utilization of an InfiniBand RC and a RoCEv2 fabric,
 * computed with a per-packet wire model (stated, not measured: see the
 * BENCH_*_OVERHEAD constants) from the counted transfers and bytes.
 */

#include "rsagg_bench.h"

#include <math.h>


/* Bytes per RoCEv2 packet, with --roce-phy the preamble and IFG too */
unsigned bench_roce_pkt_overhead(void)
{
    return BENCH_ROCE_PKT_OVERHEAD +
           (bench_opts.roce_phy ? BENCH_ROCE_PHY_OVERHEAD : 0);
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

/* Both fabrics' model of a measured phase; rsagg's needs its counters */
void bench_model_result(const bench_case_t *c, bench_result_t *res,
                        int rsagg)
{
    bench_model(c, res, res->have_counters, BENCH_IB_PKT_OVERHEAD, &res->ib);
    bench_model(c, res, res->have_counters, bench_roce_pkt_overhead(),
                &res->roce);
    if (rsagg && !res->have_counters) {
        res->ib.util = res->roce.util = NAN;
        res->ib.wire_per_msg = res->roce.wire_per_msg = NAN;
    }
}
