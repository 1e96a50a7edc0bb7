/**
 * rsagg_bench: the output. The introduction, two tables (rate, latency and
 * lo bytes; rsagg counters and the wire model), notes of the runs skipped
 * or failed, and the CSV file of --csv. contrib/bench.sh and contrib/demo.sh
 * parse this output: change it with them.
 */

#include "rsagg_bench.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>


static const char *bench_res_state_names[] = {
    [BENCH_RES_NONE]    = "none",
    [BENCH_RES_OK]      = "ok",
    [BENCH_RES_SKIPPED] = "skipped",
    [BENCH_RES_FAILED]  = "failed"
};


void bench_print_intro(const char *netns_why)
{
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
           (int)bench_roce_pkt_overhead(),
           bench_opts.roce_phy ? " + preamble/IFG 20" :
           "; preamble/IFG not counted", BENCH_RC_AM_HDR);
}


/*
 * Tables
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

/* Message rate, half round trip, wire bytes on lo */
static void bench_print_rate_table(bench_case_t *cases, unsigned num_cases)
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
}

/* rsagg's counters, IB RC and RoCEv2 utilization of the wire model */
static void bench_print_counter_table(bench_case_t *cases, unsigned num_cases)
{
    char b[12][32];
    bench_case_t *c;
    bench_result_t *in, *ra;
    unsigned i;

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

void bench_print_tables(bench_case_t *cases, unsigned num_cases)
{
    bench_print_rate_table(cases, num_cases);
    bench_print_counter_table(cases, num_cases);
}

/* Reasons of skipped and failed runs, each once */
void bench_print_notes(bench_case_t *cases, unsigned num_cases)
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

static void bench_csv_header(FILE *f)
{
    static const char *prefix[] = {"inner", "rsagg"};
    unsigned v;

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
}

/* The columns of one variant (inner or rsagg) */
static void bench_csv_result(FILE *f, const bench_result_t *r)
{
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

static void bench_csv_row(FILE *f, const bench_case_t *c)
{
    const bench_result_t *in = &c->res[0], *ra = &c->res[1];
    unsigned v;

    fprintf(f, "%s,%s,%u,%u", c->inner->name, bench_op_names[c->op],
            c->size, c->num_eps);
    for (v = 0; v < 2; ++v) {
        bench_csv_result(f, &c->res[v]);
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
            bench_roce_pkt_overhead());
}

int bench_write_csv(const char *path, bench_case_t *cases,
                    unsigned num_cases)
{
    unsigned i;
    FILE *f;

    f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "rsagg_bench: cannot write %s: %s\n", path,
                strerror(errno));
        return -1;
    }

    bench_csv_header(f);
    for (i = 0; i < num_cases; ++i) {
        bench_csv_row(f, &cases[i]);
    }

    if (fclose(f) != 0) {
        fprintf(stderr, "rsagg_bench: error writing %s\n", path);
        return -1;
    }
    return 0;
}
