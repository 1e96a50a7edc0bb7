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

#include "rsagg_bench.h"

#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>


bench_opts_t bench_opts;
uct_rsagg_iface_counters_func_t bench_counters_func;
int bench_lo_private;


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
 * The two processes and the cases
 */

/* Before any UCX object exists: both processes in the same namespace */
static void bench_setup_netns(char *why, size_t max)
{
    if (!bench_opts.netns) {
        return;
    }

    switch (bench_enter_netns(why, max)) {
    case 0:
        bench_lo_private = 1;
        break;
    case -1:
        break; /* Still in the original namespace */
    default:
        bench_fatal("private network namespace: %s (try --shared-lo)", why);
    }
}

/* The receiver is forked before either process creates UCX objects. In the
 * parent (the sender), returns the child's pid with ctl connected to it. */
static pid_t bench_fork_receiver(bench_ctl_t *ctl)
{
    int p2c[2], c2p[2];
    pid_t pid;

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
        ctl->rfd = p2c[0];
        ctl->wfd = c2p[1];
        _exit(bench_receiver_main(ctl));
    }
    bench_pin(bench_opts.cpus[0], "sender");
    close(p2c[0]);
    close(c2p[1]);
    ctl->rfd = c2p[0];
    ctl->wfd = p2c[1];
    return pid;
}

/* Tells the receiver to quit; returns nonzero when it failed */
static int bench_stop_receiver(bench_ctl_t *ctl, pid_t pid)
{
    int status;

    bench_ctl_send(ctl, BENCH_CMD_QUIT, NULL, 0);
    if ((waitpid(pid, &status, 0) != pid) || !WIFEXITED(status) ||
        (WEXITSTATUS(status) != 0)) {
        fprintf(stderr, "rsagg_bench: the receiver process failed\n");
        return 1;
    }
    return 0;
}

/* Every inner x op x size x number of eps, in this order */
static bench_case_t *bench_make_cases(unsigned *num_cases_p)
{
    unsigned i, t, o, s, e, num_cases;
    bench_case_t *cases, *c;

    num_cases = bench_opts.num_inners * bench_opts.num_ops *
                bench_opts.num_sizes * bench_opts.num_eps;
    cases     = calloc(num_cases, sizeof(*cases));
    if (cases == NULL) {
        bench_fatal("out of memory");
    }

    i = 0;
    for (t = 0; t < bench_opts.num_inners; ++t) {
        for (o = 0; o < bench_opts.num_ops; ++o) {
            for (s = 0; s < bench_opts.num_sizes; ++s) {
                for (e = 0; e < bench_opts.num_eps; ++e, ++i) {
                    c          = &cases[i];
                    c->inner   = bench_opts.inners[t];
                    c->op      = bench_opts.ops[o];
                    c->size    = bench_opts.sizes[s];
                    c->num_eps = bench_opts.eps[e];
                }
            }
        }
    }
    *num_cases_p = num_cases;
    return cases;
}

/* Runs every case, showing which on a terminal; returns nonzero when a run
 * failed */
static int bench_run_cases(bench_ctl_t *ctl, bench_case_t *cases,
                           unsigned num_cases)
{
    bench_case_t *c;
    int failed = 0;
    unsigned i;

    for (i = 0; i < num_cases; ++i) {
        c = &cases[i];
        if (isatty(STDERR_FILENO)) {
            fprintf(stderr, "\r[%u/%u] %s %s %u B x %u eps   ", i + 1,
                    num_cases, c->inner->name, bench_op_names[c->op],
                    c->size, c->num_eps);
        }
        failed |= bench_run_case(ctl, c);
    }
    if (isatty(STDERR_FILENO)) {
        fprintf(stderr, "\r%60s\r", "");
    }
    return failed;
}

static void bench_free_cases(bench_case_t *cases, unsigned num_cases)
{
    unsigned i, v;

    for (i = 0; i < num_cases; ++i) {
        for (v = 0; v < 2; ++v) {
            free(cases[i].rates[v]);
            free(cases[i].lats[v]);
        }
    }
    free(cases);
}

int main(int argc, char **argv)
{
    char netns_why[256] = "";
    bench_case_t *cases;
    unsigned num_cases;
    bench_ctl_t ctl;
    int failed = 0;
    double start;
    pid_t pid;

    bench_parse_opts(argc, argv);
    bench_pattern_init();
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    bench_setup_netns(netns_why, sizeof(netns_why));
    bench_counters_func = (uct_rsagg_iface_counters_func_t)
            dlsym(RTLD_DEFAULT, UCT_RSAGG_COUNTERS_SYMBOL);
    bench_choose_cpus();
    pid   = bench_fork_receiver(&ctl);
    cases = bench_make_cases(&num_cases);

    bench_print_intro(netns_why);
    start   = bench_now();
    failed |= bench_run_cases(&ctl, cases, num_cases);
    failed |= bench_stop_receiver(&ctl, pid);

    bench_print_tables(cases, num_cases);
    bench_print_notes(cases, num_cases);
    printf("\n%u runs in %.1f s: %s\n", num_cases * 2, bench_now() - start,
           failed ? "FAILED (see notes)" : "all checks passed");

    if ((bench_opts.csv != NULL) &&
        (bench_write_csv(bench_opts.csv, cases, num_cases) != 0)) {
        failed = 1;
    }

    bench_free_cases(cases, num_cases);
    return failed ? 1 : 0;
}
