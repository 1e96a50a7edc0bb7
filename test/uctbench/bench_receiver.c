/**
 * rsagg_bench: the receiver process (the forked child). For each case it
 * opens one interface with the checking AM handler, answers pings when told
 * to (PONG), and tells the sender when every message it sent arrived
 * (EXPECT), with its rsagg counters.
 */

#include "rsagg_bench.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>


typedef struct {
    bench_uct_t                uct;
    uct_ep_h                   pong_ep;
    bench_tx_t                 pong_tx;
    uint64_t                   pong_base;    /* rx total when pong began */
    uint64_t                   pong_seq;
    int                        expecting;
    uint64_t                   expect_total;
    uint64_t                   *expect;
    uint64_t                   seen_total;   /* rx total at the last look */
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

/* Opens the interface of a case and replies with its address (or why not) */
static ucs_status_t bench_receiver_open(bench_ctl_t *ctl, bench_receiver_t *r,
                                        const bench_open_cmd_t *cmd)
{
    bench_reply_t reply;
    ucs_status_t status;
    int skipped;

    memset(r, 0, sizeof(*r));
    memset(&reply, 0, sizeof(reply));
    status = bench_uct_open(&r->uct, cmd->md_name, cmd->tl_name,
                            cmd->dev_name, cmd->size, cmd->num_eps, &skipped,
                            reply.reason);
    if (status == UCS_OK) {
        status = bench_uct_addr(&r->uct, &reply.addr);
        if (status != UCS_OK) {
            bench_set_reason(reply.reason, "receiver address: %s",
                             ucs_status_string(status));
            bench_uct_close(&r->uct);
        }
    }
    reply.status  = status;
    reply.skipped = skipped;
    bench_receiver_reply(ctl, &reply);
    return status;
}

/* Progress; then ping-pong: answer each message, in order, from the main
 * loop */
static void bench_receiver_progress(bench_receiver_t *r)
{
    ucs_status_t status;

    uct_worker_progress(r->uct.worker);
    if (r->uct.rx.total != r->seen_total) {
        r->seen_total = r->uct.rx.total;
        r->t_last_rx  = r->t_activity = bench_now();
    }

    if ((r->pong_ep != NULL) &&
        (r->uct.rx.total - r->pong_base > r->pong_seq)) {
        status = bench_tx_one(&r->pong_tx, 0); /* Advances pong_seq */
        if ((status != UCS_OK) && (status != UCS_ERR_NO_RESOURCE)) {
            bench_rx_fail(&r->uct.rx, "pong: %s", ucs_status_string(status));
        }
    }
}

/* While an EXPECT is open: reply once all messages arrived, or on the first
 * error, or after the timeout without any message */
static void bench_receiver_check_expect(bench_ctl_t *ctl, bench_receiver_t *r,
                                        unsigned count)
{
    if (!r->expecting) {
        return;
    }

    if (r->uct.rx.failed) {
        bench_receiver_expect_done(ctl, r, UCS_ERR_IO_ERROR, NULL);
    } else if (r->uct.ep_error != UCS_OK) {
        bench_rx_fail(&r->uct.rx, "transport error %s",
                      ucs_status_string(r->uct.ep_error));
        bench_receiver_expect_done(ctl, r, UCS_ERR_IO_ERROR, NULL);
    } else if (r->uct.rx.total >= r->expect_total) {
        bench_receiver_expect_done(ctl, r,
                (r->uct.rx.total == r->expect_total) ? UCS_OK :
                                           UCS_ERR_INVALID_PARAM,
                "more messages than sent");
    } else if (((count % 4096) == 0) &&
               (bench_now() - r->t_activity > bench_opts.timeout)) {
        bench_receiver_expect_done(ctl, r, UCS_ERR_TIMED_OUT,
                                   "messages missing (timed out)");
    }
}

/* PONG: an ep back to the sender, which answers every message from now on */
static void bench_receiver_start_pong(bench_ctl_t *ctl, bench_receiver_t *r,
                                      const bench_open_cmd_t *cmd,
                                      const bench_pong_cmd_t *pong,
                                      uint32_t length)
{
    bench_reply_t reply;

    memset(&reply, 0, sizeof(reply));
    if ((length != sizeof(*pong)) || (pong->op >= BENCH_OP_LAST)) {
        bench_fatal("receiver: bad PONG command");
    }
    r->pong_tx.op      = pong->op;
    r->pong_tx.size    = cmd->size;
    r->pong_tx.num_eps = 1;
    r->pong_tx.eps     = &r->pong_ep;
    r->pong_tx.seq     = &r->pong_seq;
    r->pong_base       = r->uct.rx.total;
    r->pong_seq        = 0;
    reply.status       = bench_ep_create(&r->uct, &pong->addr, &r->pong_ep);
    if (reply.status != UCS_OK) {
        r->pong_ep = NULL;
        bench_set_reason(reply.reason, "receiver: ep to sender: %s",
                         ucs_status_string(reply.status));
    }
    bench_receiver_reply(ctl, &reply);
}

/* EXPECT: the number of messages each ep sent; the reply comes from
 * bench_receiver_check_expect() */
static void bench_receiver_expect(bench_receiver_t *r,
                                  const bench_open_cmd_t *cmd,
                                  const uint64_t *counts, uint32_t length)
{
    unsigned i;

    if (length != cmd->num_eps * sizeof(uint64_t)) {
        bench_fatal("receiver: bad EXPECT command");
    }
    memcpy(r->expect, counts, length);
    r->expect_total = 0;
    for (i = 0; i < cmd->num_eps; ++i) {
        r->expect_total += r->expect[i];
    }
    r->expecting  = 1;
    r->t_activity = bench_now();
}

/* Serves one command of the sender; returns 1 when the interface is closed
 * (the case is over) */
static int bench_receiver_command(bench_ctl_t *ctl, bench_receiver_t *r,
                                  const bench_open_cmd_t *cmd)
{
    union {
        bench_pong_cmd_t       pong;
        uint64_t               counts[BENCH_MAX_EPS];
    } body;
    bench_reply_t reply;
    bench_cmd_t ctl_cmd;
    uint32_t length;

    if (bench_ctl_read(ctl, &ctl_cmd, &body, sizeof(body), &length) != 0) {
        exit(1);
    }

    memset(&reply, 0, sizeof(reply));
    switch (ctl_cmd) {
    case BENCH_CMD_PONG:
        bench_receiver_start_pong(ctl, r, cmd, &body.pong, length);
        return 0;
    case BENCH_CMD_EXPECT:
        bench_receiver_expect(r, cmd, body.counts, length);
        return 0;
    case BENCH_CMD_CLOSE_EPS:
        r->uct.teardown = 1;
        if (r->pong_ep != NULL) {
            uct_ep_destroy(r->pong_ep);
            r->pong_ep = NULL;
        }
        bench_receiver_reply(ctl, &reply);
        return 0;
    case BENCH_CMD_CLOSE:
        r->uct.teardown = 1;
        if (r->pong_ep != NULL) {
            uct_ep_destroy(r->pong_ep);
        }
        bench_uct_close(&r->uct);
        free(r->expect);
        bench_receiver_reply(ctl, &reply);
        return 1;
    default:
        bench_fatal("receiver: unexpected command %d", (int)ctl_cmd);
        return 1;
    }
}

/* Serves one case: the interface is open until BENCH_CMD_CLOSE */
static void bench_receiver_case(bench_ctl_t *ctl, const bench_open_cmd_t *cmd)
{
    bench_receiver_t r;
    unsigned count;

    if (bench_receiver_open(ctl, &r, cmd) != UCS_OK) {
        return;
    }

    r.expect = calloc(cmd->num_eps, sizeof(*r.expect));
    if (r.expect == NULL) {
        bench_fatal("receiver: out of memory");
    }

    for (count = 0;; ++count) {
        bench_receiver_progress(&r);
        bench_receiver_check_expect(ctl, &r, count);

        if (((count % BENCH_POLL_EVERY) != 0) ||
            !bench_ctl_readable(ctl, 0)) {
            continue;
        }

        if (bench_receiver_command(ctl, &r, cmd)) {
            return;
        }
    }
}

int bench_receiver_main(bench_ctl_t *ctl)
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
