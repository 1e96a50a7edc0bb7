/*
 * The hold timer: a batch of a sender that stops progressing leaves
 * anyway (or, without the timer, waits for progress); the timer thread
 * sleeps between its ticks and races the sender without losing, doubling
 * or reordering anything.
 */

#include "rsagg_aggregation.h"

#include <algorithm>
#include <dirent.h>
#include <fstream>
#include <map>
#include <random>
#include <sched.h>
#include <sstream>
#include <unistd.h>

namespace rsagg_test {

/* A sender that stops progressing its worker (a compute phase; Open MPI's
 * finalize progressing another worker while its peer still waits on this
 * one) must not keep a message in a batch for good */
class rsagg_hold_test : public rsagg_aggregation_test {
protected:
    /* Sends 20 messages with no sender progress (the first goes alone, the
     * rest wait in the open batch), then progresses only the receiver for
     * up to 'seconds'; returns how many arrived */
    size_t send_then_watch(double seconds, uct_rsagg_counters_t *tx_p)
    {
        entity sender(res());
        entity receiver(res());
        std::vector<std::vector<std::vector<uint8_t> > > sent(1);
        size_t received = 0;
        record_after_wireup(receiver, &received);
        uct_ep_h ep = sender.create_ep_to_iface(receiver);
        wireup(sender, ep, receiver, &received);
        sender.progress();
        sender.progress();
        uint64_t transfers0 = counters(sender).transfers;

        for (unsigned sn = 0; sn < 20; ++sn) {
            sent[0].push_back(make_msg(0, sn, 16));
            EXPECT_EQ(UCS_OK, send_short(ep, sent[0].back()));
        }
        EXPECT_EQ(transfers0 + 1, counters(sender).transfers)
            << "the first alone, the rest held";

        double deadline = now_sec() + seconds;
        while ((m_received.size() < 20) && (now_sec() < deadline)) {
            receiver.progress();
        }
        *tx_p = counters(sender);
        if (m_received.size() == 20) {
            check_per_ep_order(1, sent);
        }
        return m_received.size();
    }
};

TEST_P(rsagg_hold_test, held_batch_leaves_when_the_sender_stops_progressing)
{
    scoped_env timeout("UCX_RSAGG_HOLD_TIMEOUT", "2ms");
    uct_rsagg_counters_t tx;

    EXPECT_EQ(20u, send_then_watch(wait_timeout_sec(), &tx));
    EXPECT_GE(tx.timeouts, 1u);
}

TEST_P(rsagg_hold_test, auto_timeout_is_the_default_one)
{
    scoped_env timeout("UCX_RSAGG_HOLD_TIMEOUT", "auto");
    uct_rsagg_counters_t tx;

    EXPECT_EQ(20u, send_then_watch(wait_timeout_sec(), &tx));
    EXPECT_GE(tx.timeouts, 1u);
}

TEST_P(rsagg_hold_test, without_timeout_a_held_batch_waits_for_progress)
{
    /* The control: what the timer prevents */
    scoped_env timeout("UCX_RSAGG_HOLD_TIMEOUT", "inf");
    uct_rsagg_counters_t tx;

    EXPECT_EQ(1u, send_then_watch(0.2, &tx));
    EXPECT_EQ(0u, tx.timeouts);
}

/* The ids of the process's threads */
static std::vector<pid_t> process_threads()
{
    std::vector<pid_t> tids;
    DIR *dir = opendir("/proc/self/task");
    struct dirent *entry;

    while ((dir != NULL) && ((entry = readdir(dir)) != NULL)) {
        if (entry->d_name[0] != '.') {
            tids.push_back(atoi(entry->d_name));
        }
    }
    if (dir != NULL) {
        closedir(dir);
    }
    return tids;
}

/* CPU time of the process's threads other than the calling one, seconds */
static double other_threads_cpu_sec()
{
    double total = 0;

    for (pid_t tid : process_threads()) {
        if (tid == gettid()) {
            continue;
        }
        std::ifstream stat("/proc/self/task/" + std::to_string(tid) +
                           "/stat");
        std::string line;
        std::getline(stat, line);
        size_t paren = line.rfind(')');
        if (paren == std::string::npos) {
            continue; /* the thread is gone */
        }
        /* After "pid (comm) ": fields 3.., utime and stime are 14 and 15 */
        std::istringstream fields(line.substr(paren + 2));
        std::string field;
        unsigned long ticks = 0;
        for (int i = 3; (i <= 15) && (fields >> field); ++i) {
            if (i >= 14) {
                ticks += std::stoul(field);
            }
        }
        total += (double)ticks / sysconf(_SC_CLK_TCK);
    }
    return total;
}

/* The name of a thread of the process (its comm) */
static std::string thread_name(pid_t tid)
{
    std::ifstream comm("/proc/self/task/" + std::to_string(tid) + "/comm");
    std::string name;
    std::getline(comm, name);
    return name;
}

/* Binds every thread of the process to one core; returns their affinities */
static std::map<pid_t, cpu_set_t> bind_process(int cpu)
{
    std::map<pid_t, cpu_set_t> saved;
    cpu_set_t here;

    CPU_ZERO(&here);
    CPU_SET(cpu, &here);
    for (pid_t tid : process_threads()) {
        if (sched_getaffinity(tid, sizeof(cpu_set_t), &saved[tid]) == 0) {
            sched_setaffinity(tid, sizeof(here), &here);
        } else {
            saved.erase(tid); /* the thread is gone */
        }
    }
    return saved;
}

static void unbind_process(const std::map<pid_t, cpu_set_t> &saved)
{
    for (const auto &thread : saved) {
        sched_setaffinity(thread.first, sizeof(thread.second),
                          &thread.second);
    }
}

TEST_P(rsagg_hold_test, timer_sleeps_between_ticks)
{
    /* The tick is a wake-up, not a busy wait. UCX 1.13's own async timers
     * spin in epoll_wait(0) through the fraction of a millisecond left of
     * each interval; on the worker's core (where a bound rank's other
     * threads run) that is CPU taken from the worker. With the worker
     * polling for 300 ms, the other threads may use the CPU only for the
     * ticks themselves (bound: 10 % of the time). */
    scoped_env timeout("UCX_RSAGG_HOLD_TIMEOUT", "1ms");
    entity sender(res());
    entity receiver(res());
    size_t delivered = 0;
    connect_counted(sender, receiver, &delivered);

    /* The ticks come from rsagg's hold thread: without it, this test would
     * measure nothing */
    std::vector<pid_t> tids = process_threads();
    EXPECT_TRUE(std::any_of(tids.begin(), tids.end(), [](pid_t tid) {
        return thread_name(tid) == "rsagg-hold";
    })) << "no thread named rsagg-hold";

    /* All threads on this one core, as a bound rank's */
    std::map<pid_t, cpu_set_t> saved = bind_process(sched_getcpu());
    double cpu0  = other_threads_cpu_sec();
    double start = now_sec();
    while (now_sec() < start + 0.3) {
        sender.progress();
    }
    double wall = now_sec() - start;
    double cpu  = other_threads_cpu_sec() - cpu0;
    unbind_process(saved);
    ASSERT_GE(cpu0, 0);
    EXPECT_LT(cpu, 0.1 * wall) << "other threads: CPU " << cpu << " s in "
                               << wall << " s";
}

TEST_P(rsagg_hold_test, timer_and_sender_keep_order_and_data)
{
    /* A timer that fires often, a sender that pauses between bursts without
     * progress: the timer sends batches while the sender is about to append
     * to them, many times; nothing may be lost, doubled or reordered */
    scoped_env timeout("UCX_RSAGG_HOLD_TIMEOUT", "50us");
    const unsigned num_eps = 4, bursts = 100, per_burst = 2000;
    entity sender(res());
    entity receiver(res());
    std::vector<std::vector<std::vector<uint8_t> > > sent(num_eps);
    size_t received = 0;
    record_after_wireup(receiver, &received);
    std::vector<uct_ep_h> eps;
    for (unsigned i = 0; i < num_eps; ++i) {
        eps.push_back(sender.create_ep_to_iface(receiver));
    }
    wireup(sender, eps[0], receiver, &received);
    received = 1; /* only the wire-up message is not a test message */
    m_received.clear();

    std::mt19937 rng(777);
    for (unsigned b = 0; b < bursts; ++b) {
        for (unsigned i = 0; i < per_burst; ++i) {
            unsigned ep = rng() % num_eps;
            sent[ep].push_back(make_msg(ep, sent[ep].size(), 8 + rng() % 64));
            const std::vector<uint8_t> &msg = sent[ep].back();
            double deadline = now_sec() + wait_timeout_sec();
            ucs_status_t status;
            while ((status = send_short(eps[ep], msg)) ==
                   UCS_ERR_NO_RESOURCE) {
                ASSERT_LT(now_sec(), deadline) << "no room, ever";
                sender.progress();
                receiver.progress();
            }
            ASSERT_EQ(UCS_OK, status);
        }
        /* A pause without sender progress, progressing only the receiver:
         * two to six ticks, so that the timer races the next burst; and
         * every tenth burst until the timer has sent (at most 1 s), so that
         * the test sees it act rather than hopes to: a tick can come late
         * on a loaded machine, and the timer acts only on the second tick
         * without progress */
        const bool until_sent = (b % 10) == 0;
        uint64_t timeouts     = counters(sender).timeouts;
        double until          = now_sec() +
                                (until_sent ? 1.0 : (100 + rng() % 200) * 1e-6);
        while ((now_sec() < until) &&
               !(until_sent && (counters(sender).timeouts > timeouts))) {
            receiver.progress();
        }
        if ((b % 8) == 0) {
            sender.progress();
        }
    }

    /* What the inner transport could not take yet needs the sender's
     * progress, as it would without rsagg */
    size_t total = bursts * per_burst;
    double deadline = now_sec() + wait_timeout_sec();
    while ((m_received.size() < total) && (now_sec() < deadline)) {
        sender.progress();
        receiver.progress();
    }
    check_per_ep_order(num_eps, sent);
    EXPECT_GT(counters(sender).timeouts, 0u);
    EXPECT_EQ(0u, counters(receiver).malformed);
}


INSTANTIATE_TEST_SUITE_P(rsagg, rsagg_hold_test,
                         testing::ValuesIn(agg_params()), agg_param_name);

} // namespace rsagg_test
