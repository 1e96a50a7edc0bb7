/**
 * rsagg_bench: the command line. Options fill bench_opts; --help prints
 * what each one does and its default.
 */

#include "rsagg_bench.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>


const char *bench_op_names[] = {
    [BENCH_OP_SHORT] = "short",
    [BENCH_OP_BCOPY] = "bcopy"
};

static const bench_inner_t bench_inners[] = {
    {"tcp",   "tcp",   "tcp",   "lo",     "rsagg_tcp",   1},
    {"posix", "posix", "posix", "memory", "rsagg_posix", 0},
    {"sysv",  "sysv",  "sysv",  "memory", "rsagg_sysv",  0},
    {NULL}
};


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

/* One number of min..max, or exit with the option's range */
static unsigned bench_parse_uint(const char *arg, unsigned min, unsigned max,
                                 const char *opt)
{
    unsigned list[BENCH_MAX_LIST], n;

    if (bench_parse_uints(arg, list, &n, min, max) || (n != 1)) {
        bench_fatal("%s: %u..%u", opt, min, max);
    }
    return list[0];
}

/* --cpus SENDER,RECEIVER or none */
static void bench_parse_cpus(const char *arg)
{
    unsigned list[BENCH_MAX_LIST], n;

    if (!strcmp(arg, "none")) {
        bench_opts.cpus[0] = bench_opts.cpus[1] = -1;
    } else if (bench_parse_uints(arg, list, &n, 0, CPU_SETSIZE - 1) ||
               (n != 2)) {
        bench_fatal("--cpus: SENDER,RECEIVER (CPU numbers) or none");
    } else {
        bench_opts.cpus[0] = list[0];
        bench_opts.cpus[1] = list[1];
    }
    bench_opts.cpus_set = 1;
}

/* --tls: names of bench_inners[] */
static void bench_parse_inners(const char *tls)
{
    char *copy, *tok, *save;
    unsigned i;

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
}

/* --ops: names of bench_op_names[] */
static void bench_parse_ops(const char *ops)
{
    char *copy, *tok, *save;
    unsigned i;

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
}

static void bench_opts_defaults(void)
{
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
}

enum {
    OPT_LAT_ITERS = 256,
    OPT_MTU,
    OPT_ROCE_PHY,
    OPT_SHARED_LO,
    OPT_TIMEOUT,
    OPT_INJECT_GAP,
    OPT_CPUS
};

/* One option of getopt_long(); --tls and --ops are parsed at the end */
static void bench_parse_opt(int opt, const char **tls_p, const char **ops_p)
{
    switch (opt) {
    case 't':
        bench_opts.time = bench_parse_seconds(optarg, "--time", 0.001);
        break;
    case 'l':
        bench_opts.lat_time = bench_parse_seconds(optarg, "--lat-time", 0);
        break;
    case OPT_LAT_ITERS:
        bench_opts.lat_iters = bench_parse_uint(optarg, 1, 10000000,
                                                "--lat-iters");
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
        *tls_p = optarg;
        break;
    case 'o':
        *ops_p = optarg;
        break;
    case 'w':
        bench_opts.warmup = bench_parse_uint(optarg, 1, 1000000, "--warmup");
        break;
    case 'c':
        bench_opts.csv = optarg;
        break;
    case OPT_MTU:
        bench_opts.mtu = bench_parse_uint(optarg, 256, 65536, "--mtu");
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
        bench_parse_cpus(optarg);
        break;
    case 'r':
        bench_opts.repeat = bench_parse_uint(optarg, 1, 1000, "--repeat");
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

void bench_parse_opts(int argc, char **argv)
{
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
    const char *tls = "tcp,posix", *ops = "short,bcopy";
    int opt;

    bench_opts_defaults();
    while ((opt = getopt_long(argc, argv, "t:l:n:s:x:o:w:c:r:h", long_opts,
                              NULL)) != -1) {
        bench_parse_opt(opt, &tls, &ops);
    }
    if (optind < argc) {
        bench_fatal("unexpected argument '%s' (see --help)", argv[optind]);
    }

    bench_parse_inners(tls);
    bench_parse_ops(ops);
    if ((bench_opts.num_inners == 0) || (bench_opts.num_ops == 0)) {
        bench_fatal("--tls and --ops need at least one name each");
    }
}
