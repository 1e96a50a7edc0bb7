/**
 * rsagg_bench: the sender's side of a case (the parent process). A variant
 * (the inner transport alone, or rsagg over it) is measured in phases:
 * warm-up, message rate (round-robin over all eps for --time, then every
 * message must have arrived), and with 1 ep the latency (ping-pong). A case
 * runs both variants --repeat times.
 */

#include "rsagg_bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


/*
 * Sending
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

/* Tells the receiver how many messages each ep sent; returns 0 when all of
 * them arrived, in order and intact */
static int bench_expect(bench_ctl_t *ctl, bench_uct_t *u, bench_tx_t *tx,
                        bench_reply_t *reply)
{
    bench_ctl_command(ctl, BENCH_CMD_EXPECT, tx->seq,
                      tx->num_eps * sizeof(uint64_t));
    return bench_ctl_wait_reply(ctl, u, reply);
}


/*
 * Latency
 */

/* Tells the receiver to answer every message from now on, on an ep to this
 * side's interface */
static ucs_status_t bench_latency_start(bench_ctl_t *ctl, bench_uct_t *u,
                                        const bench_tx_t *tx,
                                        bench_result_t *res)
{
    bench_pong_cmd_t pong;
    bench_reply_t reply;
    ucs_status_t status;

    status = bench_uct_addr(u, &pong.addr);
    if (status != UCS_OK) {
        bench_set_reason(res->reason, "sender address: %s",
                         ucs_status_string(status));
        return status;
    }
    pong.op = tx->op;

    bench_ctl_command(ctl, BENCH_CMD_PONG, &pong, sizeof(pong));
    if (bench_ctl_wait_reply(ctl, u, &reply) != 0) {
        bench_set_reason(res->reason, "%s", reply.reason);
        return (ucs_status_t)reply.status;
    }
    return UCS_OK;
}

/* One round trip on ep 0: a ping and the receiver's pong; its time in
 * *rtt_p */
static ucs_status_t bench_ping(bench_uct_t *u, bench_tx_t *tx,
                               bench_result_t *res, double *rtt_p)
{
    uint64_t expected = u->rx.total + 1;
    double t0         = bench_now();
    ucs_status_t status;
    unsigned spins;

    status = bench_tx_blocking(u, tx, 0);
    if (status != UCS_OK) {
        bench_set_reason(res->reason, "ping: %s", ucs_status_string(status));
        return status;
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
            return status;
        }
    }

    *rtt_p = bench_now() - t0;
    return UCS_OK;
}

/* Ping-pong on ep 0: the receiver answers each message with one of the same
 * size. Half of the median round trip. */
static ucs_status_t bench_latency(bench_ctl_t *ctl, bench_uct_t *u,
                                  bench_tx_t *tx, bench_result_t *res)
{
    unsigned max_samples = bench_opts.lat_iters;
    unsigned i, n = 0;
    double *samples;
    ucs_status_t status;
    double rtt, start = 0, warmup_end;
    int warm;

    status = bench_latency_start(ctl, u, tx, res);
    if (status != UCS_OK) {
        return status;
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

        status = bench_ping(u, tx, res, &rtt);
        if (status != UCS_OK) {
            goto out;
        }
        if (!warm) {
            samples[n++] = rtt;
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


/*
 * One variant of a case: the inner transport alone, or rsagg over it
 */

/* Opens the receiver's interface of the variant; its address in *peer.
 * Returns 0, or -1 with the result skipped or failed. */
static int bench_variant_open_receiver(bench_ctl_t *ctl,
                                       const bench_case_t *c,
                                       const char *md_name,
                                       const char *tl_name,
                                       bench_result_t *res,
                                       bench_addr_t *peer)
{
    bench_open_cmd_t cmd;
    bench_reply_t reply;

    memset(&cmd, 0, sizeof(cmd));
    snprintf(cmd.md_name, sizeof(cmd.md_name), "%s", md_name);
    snprintf(cmd.tl_name, sizeof(cmd.tl_name), "%s", tl_name);
    snprintf(cmd.dev_name, sizeof(cmd.dev_name), "%s", c->inner->dev_name);
    cmd.size    = c->size;
    cmd.num_eps = c->num_eps;
    bench_ctl_command(ctl, BENCH_CMD_OPEN, &cmd, sizeof(cmd));
    if (bench_ctl_wait_reply(ctl, NULL, &reply) != 0) {
        res->state = reply.skipped ? BENCH_RES_SKIPPED : BENCH_RES_FAILED;
        bench_set_reason(res->reason, "%s", reply.reason);
        return -1;
    }
    *peer = reply.addr;
    return 0;
}

/* Whether the sender's interface sends messages of the case's size with
 * its operation; if not, the result is skipped */
static int bench_variant_op_fits(const bench_case_t *c, const bench_uct_t *u,
                                 bench_result_t *res)
{
    uint64_t flags = u->attr.cap.flags;

    if ((c->op == BENCH_OP_SHORT) &&
        (!(flags & UCT_IFACE_FLAG_AM_SHORT) ||
         (c->size > u->attr.cap.am.max_short))) {
        res->state = BENCH_RES_SKIPPED;
        bench_set_reason(res->reason, "%u B > max am_short %zu B", c->size,
                         (flags & UCT_IFACE_FLAG_AM_SHORT) ?
                         u->attr.cap.am.max_short : 0);
        return 0;
    } else if ((c->op == BENCH_OP_BCOPY) &&
               (!(flags & UCT_IFACE_FLAG_AM_BCOPY) ||
                (c->size > u->attr.cap.am.max_bcopy))) {
        res->state = BENCH_RES_SKIPPED;
        bench_set_reason(res->reason, "%u B > max am_bcopy %zu B", c->size,
                         (flags & UCT_IFACE_FLAG_AM_BCOPY) ?
                         u->attr.cap.am.max_bcopy : 0);
        return 0;
    }
    return 1;
}

/* The case's eps, all to the receiver's interface. *created_p of them exist
 * (to destroy), also when this fails. */
static ucs_status_t bench_variant_connect(bench_uct_t *u,
                                          const bench_case_t *c,
                                          const bench_addr_t *peer,
                                          bench_tx_t *tx, unsigned *created_p,
                                          bench_result_t *res)
{
    ucs_status_t status;
    unsigned created;

    tx->op      = c->op;
    tx->size    = c->size;
    tx->num_eps = c->num_eps;
    tx->eps     = calloc(c->num_eps, sizeof(*tx->eps));
    tx->seq     = calloc(c->num_eps, sizeof(*tx->seq));
    if ((tx->eps == NULL) || (tx->seq == NULL)) {
        bench_fatal("out of memory");
    }

    for (created = 0; created < c->num_eps; ++created) {
        status = bench_ep_create(u, peer, &tx->eps[created]);
        if (status != UCS_OK) {
            bench_set_reason(res->reason, "ep %u to the receiver: %s",
                             created, ucs_status_string(status));
            *created_p = created;
            return status;
        }
    }
    *created_p = created;
    return UCS_OK;
}

/* Warm-up: connections established, buffers allocated. The receiver's
 * counters after it in *rx0. Returns 0, or -1 when it failed. */
static int bench_variant_warmup(bench_ctl_t *ctl, bench_uct_t *u,
                                bench_tx_t *tx, bench_result_t *res,
                                uct_rsagg_counters_t *rx0)
{
    bench_reply_t reply;
    ucs_status_t status;
    uint64_t sent;

    status = bench_tx_run(u, tx, bench_opts.warmup, 0, &sent);
    if (status == UCS_OK) {
        status = bench_flush(u);
    }
    if (status != UCS_OK) {
        bench_set_reason(res->reason, "warm-up send: %s",
                         ucs_status_string(status));
        return -1;
    }
    if (bench_expect(ctl, u, tx, &reply) != 0) {
        bench_set_reason(res->reason, "warm-up: %s", reply.reason);
        return -1;
    }
    *rx0 = reply.counters;
    return 0;
}

/* Measured phase: messages for --time, every one of them delivered; then
 * the rate, the lo bytes, rsagg's counters and the wire model. Returns 0,
 * or -1 when it failed. */
static int bench_variant_measure(bench_ctl_t *ctl, const bench_case_t *c,
                                 bench_uct_t *u, bench_tx_t *tx,
                                 bench_result_t *res, int rsagg,
                                 const uct_rsagg_counters_t *rx0)
{
    uct_rsagg_counters_t tx0, tx1;
    uint64_t lo0 = 0, lo1 = 0;
    bench_reply_t reply;
    ucs_status_t status;
    int have_lo;
    double t0;

    if (bench_opts.inject_gap) {
        ++tx->seq[0]; /* The receiver must notice the missing message */
    }

    have_lo = c->inner->on_lo && (bench_lo_tx_bytes(&lo0) == 0);
    res->have_counters = bench_get_counters(u, &tx0);
    t0     = bench_now();
    status = bench_tx_run(u, tx, 0, bench_opts.time, &res->msgs);
    if (status == UCS_OK) {
        status = bench_flush(u);
    }
    if (status != UCS_OK) {
        bench_set_reason(res->reason, "send: %s", ucs_status_string(status));
        return -1;
    }
    if (bench_expect(ctl, u, tx, &reply) != 0) {
        bench_set_reason(res->reason, "%s", reply.reason);
        return -1;
    }
    if (u->rx.failed) {
        bench_set_reason(res->reason, "sender received: %s", u->rx.reason);
        return -1;
    }

    res->seconds = reply.t_last_rx - t0;
    res->rate    = (res->seconds > 0) ? res->msgs / res->seconds : NAN;
    if (have_lo && (bench_lo_tx_bytes(&lo1) == 0) && (res->msgs > 0)) {
        res->lo_per_msg = (double)(lo1 - lo0) / res->msgs;
    }
    if (res->have_counters) {
        bench_get_counters(u, &tx1);
        bench_counters_sub(&res->tx, &tx1, &tx0);
        res->channels = tx1.channels;
        if (reply.have_counters) {
            bench_counters_sub(&res->rx, &reply.counters, rx0);
        }
        bench_check_counters(c, res, reply.have_counters);
    }
    bench_model_result(c, res, rsagg);
    return 0;
}

/* With 1 ep: the latency, then every message must have arrived. Returns 0,
 * or -1 when it failed. */
static int bench_variant_latency(bench_ctl_t *ctl, const bench_case_t *c,
                                 bench_uct_t *u, bench_tx_t *tx,
                                 bench_result_t *res)
{
    bench_reply_t reply;

    if (!((c->num_eps == 1) && (bench_opts.lat_time > 0) &&
          (bench_opts.lat_iters > 0))) {
        return 0;
    }

    if (bench_latency(ctl, u, tx, res) != UCS_OK) {
        return -1;
    }
    if (bench_expect(ctl, u, tx, &reply) != 0) {
        bench_set_reason(res->reason, "ping-pong: %s", reply.reason);
        return -1;
    }
    return 0;
}

/* Teardown: the peer's closing is no error any more */
static void bench_variant_destroy_eps(bench_ctl_t *ctl, bench_uct_t *u,
                                      bench_tx_t *tx, unsigned created)
{
    bench_reply_t reply;
    unsigned i;

    bench_ctl_command(ctl, BENCH_CMD_CLOSE_EPS, NULL, 0);
    bench_ctl_wait_reply(ctl, u, &reply);
    u->teardown = 1;
    for (i = 0; i < created; ++i) {
        uct_ep_destroy(tx->eps[i]);
    }
    free(tx->eps);
    free(tx->seq);
}

/* On the sender's open interface: eps to the receiver, warm-up, measured
 * phase, latency. The result is OK when every phase passed. */
static void bench_variant_run(bench_ctl_t *ctl, const bench_case_t *c,
                              bench_uct_t *u, bench_result_t *res, int rsagg,
                              const bench_addr_t *peer)
{
    uct_rsagg_counters_t rx0;
    unsigned created = 0;
    bench_tx_t tx;

    memset(&tx, 0, sizeof(tx));
    res->state = BENCH_RES_FAILED; /* Until it succeeds */
    if ((bench_variant_connect(u, c, peer, &tx, &created, res) == UCS_OK) &&
        (bench_variant_warmup(ctl, u, &tx, res, &rx0) == 0) &&
        (bench_variant_measure(ctl, c, u, &tx, res, rsagg, &rx0) == 0) &&
        (bench_variant_latency(ctl, c, u, &tx, res) == 0)) {
        res->state = BENCH_RES_OK;
    }
    bench_variant_destroy_eps(ctl, u, &tx, created);
}

static void bench_run_variant(bench_ctl_t *ctl, bench_case_t *c, int rsagg)
{
    const bench_inner_t *inner = c->inner;
    bench_result_t *res        = &c->res[rsagg];
    const char *md_name        = rsagg ? inner->rsagg_md_name : inner->md_name;
    const char *tl_name        = rsagg ? BENCH_RSAGG_TL_NAME : inner->tl_name;
    bench_reply_t reply;
    bench_addr_t peer;
    ucs_status_t status;
    bench_uct_t u;
    int skipped;

    memset(res, 0, sizeof(*res));
    res->lat_us     = NAN;
    res->lo_per_msg = NAN;

    if (bench_variant_open_receiver(ctl, c, md_name, tl_name, res,
                                    &peer) != 0) {
        return;
    }

    /* From here on the receiver has an open interface: close it at the end */
    status = bench_uct_open(&u, md_name, tl_name, inner->dev_name, c->size, 1,
                            &skipped, res->reason);
    if (status != UCS_OK) {
        res->state = skipped ? BENCH_RES_SKIPPED : BENCH_RES_FAILED;
    } else {
        if (bench_variant_op_fits(c, &u, res)) {
            bench_variant_run(ctl, c, &u, res, rsagg, &peer);
        }
        bench_uct_close(&u);
    }

    bench_ctl_command(ctl, BENCH_CMD_CLOSE, NULL, 0);
    bench_ctl_wait_reply(ctl, NULL, &reply);
}


/*
 * A case: both variants, --repeat rounds
 */

/* Runs a case --repeat times, inner and rsagg alternating which goes first
 * (so that neither always runs on a warmer machine). A variant's result is
 * that of its last round with the rate and latency replaced by the medians;
 * a round that fails or is skipped stays the result. Returns nonzero when a
 * run failed. */
int bench_run_case(bench_ctl_t *ctl, bench_case_t *c)
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
