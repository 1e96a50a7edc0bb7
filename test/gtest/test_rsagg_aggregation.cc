/*
 * What rsagg adds to a transport: aggregation. These tests run only on rsagg
 * resources, with both forms of multiplexing (embedded and out-of-band), and
 * look at what a user can observe plus rsagg's counters: shared channels,
 * per-ep order under a random mix of operations, flush and backpressure,
 * malformed input on the wire, puts outside their region, address versions
 * and the memory an endpoint costs.
 */

#include "uct_test.h"

#include <uct/rsagg/rsagg_counters.h>
#include <ucs/rsagg_builder.h>

#include <dlfcn.h>
#include <malloc.h>
#include <dirent.h>
#include <algorithm>
#include <fstream>
#include <map>
#include <sched.h>
#include <sstream>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <random>

namespace rsagg_test {

namespace {

uct_rsagg_iface_counters_func_t counters_func()
{
    static uct_rsagg_iface_counters_func_t func =
            (uct_rsagg_iface_counters_func_t)dlsym(RTLD_DEFAULT,
                                                   UCT_RSAGG_COUNTERS_SYMBOL);
    return func;
}

uct_rsagg_counters_t counters(const entity &e)
{
    uct_rsagg_iface_counters_func_t func = counters_func();
    uct_rsagg_counters_t c;

    memset(&c, 0, sizeof(c));
    EXPECT_TRUE(func != NULL) << UCT_RSAGG_COUNTERS_SYMBOL << " not found";
    if (func != NULL) {
        EXPECT_EQ(UCS_OK, func(e.iface(), &c, sizeof(c)));
    }
    return c;
}

/* Message that carries its ep and sequence number, then a pattern */
std::vector<uint8_t> make_msg(unsigned ep, unsigned sn, size_t size)
{
    std::vector<uint8_t> msg = make_pattern(size, ep * 100003u + sn);
    if (size >= 8) {
        uint32_t words[2] = {ep, sn};
        memcpy(&msg[0], words, sizeof(words));
    }
    return msg;
}

double now_sec()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

long rss_kb()
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) {
            resident = 0;
        }
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

} // namespace


typedef std::tuple<resource, std::string> agg_param;

class rsagg_aggregation_test : public testing::TestWithParam<agg_param> {
protected:
    static constexpr uint8_t AM_ID = 3;

    void SetUp() override
    {
        RSAGG_SKIP_IF_ABSENT(res());
        m_mux.reset(new scoped_env("UCX_RSAGG_MUX", std::get<1>(GetParam())));
        m_aggregate.reset(new scoped_env("UCX_RSAGG_AGGREGATE", "y"));
        m_sender.reset(new entity(res()));
        m_receiver.reset(new entity(res()));
        if (!(m_sender->attr().cap.flags & UCT_IFACE_FLAG_CONNECT_TO_IFACE)) {
            GTEST_SKIP() << "inner transport connects ep to ep: no shared "
                            "channels";
        }
        m_receiver->set_am_handler(AM_ID, [this](void *data, size_t length,
                                                 unsigned flags) {
            m_received.push_back(std::vector<uint8_t>((uint8_t*)data,
                                                      (uint8_t*)data +
                                                      length));
            return UCS_OK;
        });
    }

    void TearDown() override
    {
        m_sender.reset();
        m_receiver.reset();
        m_mux.reset();
        m_aggregate.reset();
    }

    const resource &res() const { return std::get<0>(GetParam()); }

    virtual unsigned progress()
    {
        return m_sender->progress() + m_receiver->progress();
    }

    bool wait_for(const std::function<bool()> &cond, const std::string &what)
    {
        return wait_until(cond, [this] { progress(); }, what);
    }

    ucs_status_t send_short(uct_ep_h ep, const std::vector<uint8_t> &msg)
    {
        uint64_t header;
        memcpy(&header, &msg[0], sizeof(header));
        return uct_ep_am_short(ep, AM_ID, header, &msg[8], msg.size() - 8);
    }

    /* Sends, progressing the sender only while there is no room */
    void send_retry(const std::function<ucs_status_t()> &op)
    {
        double deadline = now_sec() + wait_timeout_sec();
        ucs_status_t status;
        while ((status = op()) == UCS_ERR_NO_RESOURCE) {
            ASSERT_LT(now_sec(), deadline) << "no room, ever";
            progress();
        }
        ASSERT_FALSE(UCS_STATUS_IS_ERR(status)) << status_str(status);
    }

    /* Proves the inner connection up (a connection set-up may refuse sends
     * for a while), so that tests look at the steady state */
    void wireup(entity &from, uct_ep_h ep, entity &to, size_t *received_p)
    {
        size_t before = *received_p;
        std::vector<uint8_t> msg = make_msg(0, 0, 8);
        double deadline = now_sec() + wait_timeout_sec();
        ucs_status_t status;
        while ((status = send_short(ep, msg)) == UCS_ERR_NO_RESOURCE) {
            ASSERT_LT(now_sec(), deadline) << "wire-up";
            from.progress();
            to.progress();
        }
        ASSERT_EQ(UCS_OK, status);
        while (*received_p == before) {
            ASSERT_LT(now_sec(), deadline) << "wire-up message";
            from.progress();
            to.progress();
        }
    }

    /* The receiver's handler: counts the messages in *delivered_p */
    void count_deliveries(entity &receiver, size_t *delivered_p)
    {
        receiver.set_am_handler(AM_ID, [delivered_p](void*, size_t,
                                                     unsigned) {
            ++(*delivered_p);
            return UCS_OK;
        });
    }

    /* An ep from sender to receiver, proven up; the receiver's handler
     * counts the messages in *delivered_p (the wire-up message too) */
    uct_ep_h connect_counted(entity &sender, entity &receiver,
                             size_t *delivered_p)
    {
        count_deliveries(receiver, delivered_p);
        uct_ep_h ep = sender.create_ep_to_iface(receiver);
        wireup(sender, ep, receiver, delivered_p);
        return ep;
    }

    /* The receiver's handler: counts every message in *received_p and
     * keeps all but the first (the wire-up message) in m_received */
    void record_after_wireup(entity &receiver, size_t *received_p)
    {
        receiver.set_am_handler(AM_ID, [this, received_p](void *data,
                                                          size_t length,
                                                          unsigned flags) {
            if ((*received_p)++ > 0) {
                m_received.push_back(std::vector<uint8_t>((uint8_t*)data,
                                                          (uint8_t*)data +
                                                          length));
            }
            return UCS_OK;
        });
    }

    /* An ep from the sender to the receiver, proven up; the receiver keeps
     * every later message in m_received */
    uct_ep_h connect_recorded()
    {
        uct_ep_h ep = m_sender->create_ep_to_iface(*m_receiver);
        record_after_wireup(*m_receiver, &m_wireup_received);
        wireup(*m_sender, ep, *m_receiver, &m_wireup_received);
        return ep;
    }

    /* Checks that every ep's messages arrived whole and in order */
    void check_per_ep_order(unsigned num_eps,
                            const std::vector<std::vector<std::vector<
                            uint8_t> > > &sent)
    {
        std::vector<unsigned> next(num_eps, 0);
        for (size_t i = 0; i < m_received.size(); ++i) {
            const std::vector<uint8_t> &msg = m_received[i];
            ASSERT_GE(msg.size(), 8u);
            uint32_t words[2];
            memcpy(words, &msg[0], sizeof(words));
            ASSERT_LT(words[0], num_eps) << "message " << i;
            unsigned ep = words[0];
            ASSERT_EQ(next[ep], words[1]) << "ep " << ep << " out of order";
            ASSERT_EQ(-1, first_difference(sent[ep][next[ep]], msg))
                << "ep " << ep << " message " << next[ep];
            ++next[ep];
        }
        for (unsigned ep = 0; ep < num_eps; ++ep) {
            EXPECT_EQ(sent[ep].size(), next[ep]) << "ep " << ep;
        }
    }

    size_t                            m_wireup_received = 0;
    std::unique_ptr<scoped_env>       m_mux;
    std::unique_ptr<scoped_env>       m_aggregate;
    std::unique_ptr<entity>           m_sender;
    std::unique_ptr<entity>           m_receiver;
    std::vector<std::vector<uint8_t> > m_received;
};


TEST_P(rsagg_aggregation_test, eps_to_one_peer_share_one_inner_connection)
{
    const unsigned num_eps = 64, per_ep = 50;
    std::vector<std::vector<std::vector<uint8_t> > > sent(num_eps);
    std::vector<uct_ep_h> eps;

    for (unsigned i = 0; i < num_eps; ++i) {
        eps.push_back(m_sender->create_ep_to_iface(*m_receiver));
    }
    EXPECT_EQ(1u, counters(*m_sender).channels);

    for (unsigned sn = 0; sn < per_ep; ++sn) {
        for (unsigned ep = 0; ep < num_eps; ++ep) {
            sent[ep].push_back(make_msg(ep, sn, 8 + (sn % 24)));
            send_retry([&] { return send_short(eps[ep], sent[ep].back()); });
        }
    }

    wait_for([&] { return m_received.size() == num_eps * per_ep; },
             "all messages");
    check_per_ep_order(num_eps, sent);

    uct_rsagg_counters_t tx = counters(*m_sender);
    uct_rsagg_counters_t rx = counters(*m_receiver);
    EXPECT_EQ(num_eps * per_ep, tx.msgs);
    /* Sent without progress in between: most of them in few transfers */
    EXPECT_LT(tx.transfers * 10, tx.msgs);
    EXPECT_EQ(tx.msgs - tx.direct, rx.rx_msgs);
    EXPECT_EQ(0u, rx.malformed);
}

TEST_P(rsagg_aggregation_test, random_mix_keeps_per_ep_order_and_data)
{
    const unsigned num_eps = 16, total = 3000;
    const uct_iface_attr_t &attr = m_sender->attr();
    std::vector<std::vector<std::vector<uint8_t> > > sent(num_eps);
    std::vector<uct_ep_h> eps;
    std::mt19937 rng(12345);

    for (unsigned i = 0; i < num_eps; ++i) {
        eps.push_back(m_sender->create_ep_to_iface(*m_receiver));
    }

    mapped_buffer zbuf(*m_sender, attr.cap.am.max_zcopy ?
                                  std::min<size_t>(attr.cap.am.max_zcopy,
                                                   16384) : 64);
    test_completion comp;
    bool zcopy_busy = false;

    for (unsigned i = 0; i < total; ++i) {
        unsigned ep  = rng() % num_eps;
        unsigned sn  = sent[ep].size();
        unsigned op  = rng() % 3;
        size_t max   = (op == 0) ? attr.cap.am.max_short :
                       (op == 1) ? attr.cap.am.max_bcopy :
                       std::min<size_t>(attr.cap.am.max_zcopy, zbuf.size());
        if ((op == 2) && !(attr.cap.flags & UCT_IFACE_FLAG_AM_ZCOPY)) {
            op  = 1;
            max = attr.cap.am.max_bcopy;
        }
        /* Mostly small (batched), sometimes up to the maximum (alone) */
        size_t size = 8 + ((rng() % 8) ? rng() % 200 :
                           rng() % (std::max<size_t>(max, 9) - 8));
        size        = std::min(size, std::max<size_t>(max, 8));
        sent[ep].push_back(make_msg(ep, sn, size));
        const std::vector<uint8_t> &msg = sent[ep].back();

        if (op == 0) {
            send_retry([&] { return send_short(eps[ep], msg); });
        } else if (op == 1) {
            send_retry([&] {
                ssize_t packed = uct_ep_am_bcopy(eps[ep], AM_ID,
                        [](void *dest, void *arg) -> size_t {
                            auto *m = (const std::vector<uint8_t>*)arg;
                            memcpy(dest, &(*m)[0], m->size());
                            return m->size();
                        }, (void*)&msg, 0);
                return (packed < 0) ? (ucs_status_t)packed : UCS_OK;
            });
        } else {
            /* The buffer must stay until completion: wait for the last one */
            if (zcopy_busy) {
                wait_for([&] { return comp.done == 1; }, "zcopy completion");
            }
            zbuf.fill(msg);
            uct_iov_t iov = {zbuf.ptr(), msg.size(), zbuf.memh(), 0, 1};
            comp.expect(1);
            ucs_status_t status = UCS_OK;
            send_retry([&] {
                status = uct_ep_am_zcopy(eps[ep], AM_ID, NULL, 0, &iov, 1, 0,
                                         &comp.uct);
                return status;
            });
            zcopy_busy = (status == UCS_INPROGRESS);
        }

        if ((rng() % 64) == 0) {
            progress();
        }
    }

    wait_for([&] {
        return (m_received.size() == total) && (!zcopy_busy || comp.done);
    }, "all messages");
    check_per_ep_order(num_eps, sent);
    EXPECT_EQ(0u, counters(*m_receiver).malformed);
}

TEST_P(rsagg_aggregation_test, counters_follow_the_size_the_caller_knows)
{
    /* A program built against an older header (fewer counters) must not
     * get more bytes than it has; one built against a newer header gets
     * zeros for counters this module does not have */
    uct_rsagg_iface_counters_func_t func = counters_func();
    ASSERT_TRUE(func != NULL);
    connect_recorded(); /* one message sent: msgs == 1 */

    const size_t older = offsetof(uct_rsagg_counters_t, transfers);
    uct_rsagg_counters_t small;
    memset(&small, 0xab, sizeof(small));
    ASSERT_EQ(UCS_OK, func(m_sender->iface(), &small, older));
    EXPECT_EQ(1u, small.msgs);
    std::vector<uint8_t> untouched((uint8_t*)&small + older,
                                   (uint8_t*)(&small + 1));
    EXPECT_EQ(std::vector<uint8_t>(sizeof(small) - older, 0xab), untouched);

    struct {
        uct_rsagg_counters_t known;
        uint64_t             newer[4];
    } big;
    memset(&big, 0xab, sizeof(big));
    ASSERT_EQ(UCS_OK, func(m_sender->iface(), &big.known, sizeof(big)));
    EXPECT_EQ(1u, big.known.msgs);
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(0u, big.newer[i]) << i;
    }
}

TEST_P(rsagg_aggregation_test, flush_sends_what_is_batched)
{
    uct_ep_h ep = connect_recorded();
    std::vector<std::vector<std::vector<uint8_t> > > sent(1);
    m_sender->progress(); /* a progress round: the channel is idle again */
    m_sender->progress();
    uint64_t transfers0 = counters(*m_sender).transfers;

    for (unsigned sn = 0; sn < 20; ++sn) {
        sent[0].push_back(make_msg(0, sn, 16));
        ASSERT_EQ(UCS_OK, send_short(ep, sent[0].back()));
    }
    /* The first went alone; the rest wait in the open batch */
    EXPECT_EQ(transfers0 + 1, counters(*m_sender).transfers);

    /* The flush pushes the batch out without any sender progress */
    ucs_status_t status = uct_ep_flush(ep, 0, NULL);
    EXPECT_NE(UCS_ERR_NO_RESOURCE, status) << "room for one batch";
    EXPECT_EQ(transfers0 + 2, counters(*m_sender).transfers);

    double deadline = now_sec() + wait_timeout_sec();
    while ((m_received.size() < 20) && (now_sec() < deadline)) {
        m_receiver->progress();
    }
    check_per_ep_order(1, sent);
}

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

TEST_P(rsagg_aggregation_test, a_send_waits_behind_its_eps_pending_request)
{
    /* UCP (tag sends from several ranks to one, MPI's unexpected messages)
     * sends on an ep right after it queued a pending request there: the new
     * message must not overtake the pending one, even when the channel has
     * room again before the request is called back */
    uct_ep_h ep = connect_recorded();
    std::vector<std::vector<std::vector<uint8_t> > > sent(1);

    /* No receiver progress: fill the inner transport and rsagg's buffer */
    ucs_status_t status;
    do {
        sent[0].push_back(make_msg(0, sent[0].size(), 64));
        status = send_short(ep, sent[0].back());
        if ((sent[0].size() % 16) == 0) {
            m_sender->progress();
        }
    } while ((status == UCS_OK) && (sent[0].size() < 10000000));
    ASSERT_EQ(UCS_ERR_NO_RESOURCE, status);

    /* The refused message goes as a pending request, which declines its
     * call backs until allowed (as a UCP request that finds no room yet) */
    struct pending : uct_pending_req_t {
        uct_ep_h             ep;
        uint8_t              am_id;
        int                  calls;
        bool                 allow;
        std::vector<uint8_t> msg;
    } req;
    req.ep    = ep;
    req.am_id = AM_ID;
    req.calls = 0;
    req.allow = false;
    req.msg   = sent[0].back();
    req.func  = [](uct_pending_req_t *self) -> ucs_status_t {
        pending *p = static_cast<pending*>(self);
        uint64_t header;
        ++p->calls;
        if (!p->allow) {
            return UCS_ERR_NO_RESOURCE;
        }
        memcpy(&header, &p->msg[0], sizeof(header));
        return uct_ep_am_short(p->ep, p->am_id, header, &p->msg[8],
                               p->msg.size() - 8);
    };
    ASSERT_EQ(UCS_OK, uct_ep_pending_add(ep, &req, 0));

    double deadline = now_sec() + wait_timeout_sec();
    while (req.calls == 0) {
        ASSERT_LT(now_sec(), deadline) << "pending request never called";
        m_receiver->progress();
        m_sender->progress();
    }

    /* Called and declined: the channel has room now, the ep's request
     * still waits, so a new send on that ep must wait too */
    sent[0].push_back(make_msg(0, sent[0].size(), 64));
    EXPECT_EQ(UCS_ERR_NO_RESOURCE, send_short(ep, sent[0].back()));
    req.allow = true;
    send_retry([&] { return send_short(ep, sent[0].back()); });

    wait_for([&] { return m_received.size() == sent[0].size(); },
             "all messages");
    check_per_ep_order(1, sent);
}

TEST_P(rsagg_aggregation_test, stalled_receiver_bounds_sender_memory)
{
    const size_t buffer = 64 * 1024;
    scoped_env env_buffer("UCX_RSAGG_BUFFER", "64k");
    entity sender(res());
    entity receiver(res());
    size_t delivered = 0;
    uct_ep_h ep = connect_counted(sender, receiver, &delivered);
    uint64_t header = 0;

    delivered = 0;

    /* The receiver never progresses: the inner transport fills up, then
     * rsagg's own buffer, then every send says no room. 10 million
     * attempts in all; the sender's memory grows by the buffer at most. */
    const unsigned attempts = 10000000;
    long rss_start          = rss_kb();
    size_t accepted         = 0;
    ucs_status_t status     = UCS_OK;
    unsigned i;
    for (i = 0; (i < attempts) && (status == UCS_OK); ++i) {
        status = uct_ep_am_short(ep, AM_ID, ++header, NULL, 0);
        accepted += (status == UCS_OK);
        if ((i % 16) == 0) {
            sender.progress();
        }
    }
    ASSERT_EQ(UCS_ERR_NO_RESOURCE, status) << accepted << " accepted";

    /* The rest of the attempts take nothing more */
    size_t accepted_more = 0;
    for (; i < attempts; ++i) {
        accepted_more += (uct_ep_am_short(ep, AM_ID, ++header, NULL, 0) ==
                          UCS_OK);
        if ((i % 16) == 0) {
            sender.progress();
        }
    }
    long growth_kb = rss_kb() - rss_start;
    EXPECT_LT(growth_kb, (long)(buffer / 1024) + 1024)
        << "RSS grew by more than the buffer and 1 MB";
    EXPECT_LE(accepted_more * 10, buffer) << "accepted beyond the buffer";

    /* Pending: called back once the receiver drains */
    struct pending : uct_pending_req_t {
        uct_ep_h ep;
        int      calls;
    } req;
    req.ep    = ep;
    req.calls = 0;
    req.func  = [](uct_pending_req_t *self) -> ucs_status_t {
        pending *p = static_cast<pending*>(self);
        ++p->calls;
        return uct_ep_am_short(p->ep, AM_ID, 0, NULL, 0);
    };
    status = uct_ep_pending_add(ep, &req, 0);
    if (status == UCS_OK) {
        double deadline = now_sec() + wait_timeout_sec();
        while ((req.calls == 0) || (delivered < accepted + accepted_more)) {
            ASSERT_LT(now_sec(), deadline)
                << "delivered " << delivered << " of " << accepted;
            sender.progress();
            receiver.progress();
        }
    } else {
        EXPECT_EQ(UCS_ERR_BUSY, status);
    }

    std::cout << "[ INFO     ] accepted " << accepted << " 8-byte messages "
              << "before the first UCS_ERR_NO_RESOURCE; RSS growth over "
              << attempts << " attempts: " << growth_kb << " KB (buffer "
              << buffer / 1024 << " KB)" << std::endl;
}

TEST_P(rsagg_aggregation_test, refused_lone_messages_are_not_counted)
{
    /* A message alone in its progress round goes straight to the inner
     * transport, and is counted before the inner call. Once a receiver that
     * does not progress has filled the inner transport, it refuses; what it
     * refused must be taken back from the counters. */
    size_t delivered = 0;
    uct_ep_h ep = connect_counted(*m_sender, *m_receiver, &delivered);

    size_t accepted = delivered; /* the wire-up message */
    size_t refused  = 0;
    uint64_t header = 0;
    for (unsigned i = 0; (i < 4000000) && (refused < 100); ++i) {
        ucs_status_t status = uct_ep_am_short(ep, AM_ID, ++header, NULL, 0);
        if (status == UCS_OK) {
            ++accepted;
        } else {
            ASSERT_EQ(UCS_ERR_NO_RESOURCE, status);
            ++refused;
        }
        m_sender->progress(); /* a new round: the next one is alone too */
    }
    ASSERT_GT(refused, 0u) << "the inner transport never refused";
    EXPECT_EQ(accepted, counters(*m_sender).msgs);
    EXPECT_EQ(accepted, counters(*m_sender).direct);

    ASSERT_TRUE(wait_for([&] { return delivered >= accepted; },
                         "deliveries"));
    EXPECT_EQ(accepted, delivered);
}

/* The inner transport can put into a receiver's ring: a put of its own
 * (tcp: put_zcopy; shared memory: put_bcopy) and a way back */
static bool ring_capable(const entity &e)
{
    return (e.attr().cap.flags & UCT_IFACE_FLAG_CONNECT_TO_IFACE) &&
           (e.attr().cap.flags & (UCT_IFACE_FLAG_PUT_ZCOPY |
                                  UCT_IFACE_FLAG_PUT_BCOPY));
}

/* Sends rounds of one message per ep until the sender's batches go through
 * the ring (the slice is granted after the first out-of-band batch) */
static void ring_wireup(const std::function<void(unsigned)> &send_round,
                        const std::function<unsigned()> &progress,
                        const entity &sender)
{
    double deadline = now_sec() + wait_timeout_sec();
    for (unsigned round = 0; counters(sender).ring_transfers == 0;
         ++round) {
        ASSERT_LT(now_sec(), deadline) << "no ring slice granted";
        send_round(round);
        progress();
    }
}

TEST_P(rsagg_aggregation_test, oob_payloads_go_through_the_receivers_ring)
{
    if (std::get<1>(GetParam()) != "oob") {
        GTEST_SKIP() << "the ring carries out-of-band payloads";
    }
    if (!ring_capable(*m_sender)) {
        GTEST_SKIP() << "inner transport has no put";
    }

    const unsigned num_eps = 32, rounds = 200;
    std::vector<std::vector<std::vector<uint8_t> > > sent(num_eps);
    std::vector<uct_ep_h> eps;
    for (unsigned i = 0; i < num_eps; ++i) {
        eps.push_back(m_sender->create_ep_to_iface(*m_receiver));
    }

    auto send_round = [&](unsigned) {
        for (unsigned ep = 0; ep < num_eps; ++ep) {
            unsigned sn = sent[ep].size();
            sent[ep].push_back(make_msg(ep, sn, 8 + ((sn * 7 + ep) % 120)));
            send_retry([&] { return send_short(eps[ep], sent[ep].back()); });
        }
    };
    ring_wireup(send_round, [&] { return progress(); }, *m_sender);
    uint64_t ring0 = counters(*m_sender).ring_transfers;
    for (unsigned round = 0; round < rounds; ++round) {
        send_round(round);
        if ((round % 4) == 0) {
            progress();
        }
    }

    size_t total = 0;
    for (unsigned ep = 0; ep < num_eps; ++ep) {
        total += sent[ep].size();
    }
    wait_for([&] { return m_received.size() == total; }, "all messages");
    check_per_ep_order(num_eps, sent);

    uct_rsagg_counters_t tx = counters(*m_sender);
    uct_rsagg_counters_t rx = counters(*m_receiver);
    /* after the grant, every batch went through the ring */
    EXPECT_GT(tx.ring_transfers, ring0 + rounds / 8);
    EXPECT_EQ(tx.ring_transfers, rx.rx_ring_transfers);
    EXPECT_EQ(0u, rx.malformed);
    std::cout << "[ INFO     ] " << tx.ring_transfers << " of "
              << tx.transfers << " transfers through the ring ("
              << ((m_sender->attr().cap.flags & UCT_IFACE_FLAG_PUT_ZCOPY) ?
                  "put_zcopy" : "put_bcopy") << ")" << std::endl;
}

/* A receiver that stops progressing returns no credits: the sender fills its
 * slice, then its buffer, then says no; once the receiver progresses again,
 * credits come back and everything arrives in order and intact. Over shared
 * memory the put writes straight into the receiver's memory, so a sender
 * that ignored credits would overwrite payloads not yet delivered, and the
 * data comparison would fail. */
TEST_P(rsagg_aggregation_test, ring_credits_bound_a_sender_to_its_slice)
{
    if (std::get<1>(GetParam()) != "oob") {
        GTEST_SKIP() << "the ring carries out-of-band payloads";
    }
    /* slice = max(buffer, 8 batches) = 8k, 4 batch buffers of 1k + 1k */
    scoped_env env_batch("UCX_RSAGG_MAX_BATCH", "1k");
    scoped_env env_buffer("UCX_RSAGG_BUFFER", "8k");
    scoped_env env_hold("UCX_RSAGG_HOLD_TIMEOUT", "inf");
    const size_t slice = 8192, buffer = 8192;
    entity sender(res());
    entity receiver(res());
    if (!ring_capable(sender)) {
        GTEST_SKIP() << "inner transport has no put";
    }
    const bool zcopy = sender.attr().cap.flags & UCT_IFACE_FLAG_PUT_ZCOPY;

    std::vector<std::vector<uint8_t> > received;
    receiver.set_am_handler(AM_ID, [&](void *data, size_t length, unsigned) {
        received.push_back(std::vector<uint8_t>((uint8_t*)data,
                                                (uint8_t*)data + length));
        return UCS_OK;
    });
    const unsigned num_eps = 4;
    std::vector<uct_ep_h> eps;
    for (unsigned i = 0; i < num_eps; ++i) {
        eps.push_back(sender.create_ep_to_iface(receiver));
    }
    std::vector<std::vector<std::vector<uint8_t> > > sent(num_eps);
    auto try_send = [&](unsigned ep) {
        unsigned sn = sent[ep].size();
        std::vector<uint8_t> msg = make_msg(ep, sn, 100 + (sn % 60));
        uint64_t header;
        memcpy(&header, &msg[0], sizeof(header));
        ucs_status_t status = uct_ep_am_short(eps[ep], AM_ID, header, &msg[8],
                                              msg.size() - 8);
        if (status == UCS_OK) {
            sent[ep].push_back(msg);
        }
        return status;
    };

    auto both = [&] { return sender.progress() + receiver.progress(); };
    /* Bursts, so that batches form (a lone message goes alone) */
    ring_wireup([&](unsigned round) {
        for (unsigned k = 0; k < 8; ++k) {
            double deadline = now_sec() + wait_timeout_sec();
            while (try_send((round + k) % num_eps) == UCS_ERR_NO_RESOURCE) {
                ASSERT_LT(now_sec(), deadline);
                both();
            }
        }
    }, both, sender);
    size_t total = 0;
    for (unsigned ep = 0; ep < num_eps; ++ep) {
        total += sent[ep].size();
    }
    double deadline = now_sec() + wait_timeout_sec();
    while (received.size() < total) {
        ASSERT_LT(now_sec(), deadline) << "wire-up messages";
        both();
    }

    /* The receiver stops: send until no room, progressing the sender only */
    uct_rsagg_counters_t tx0 = counters(sender);
    ucs_status_t status  = UCS_OK;
    unsigned attempts    = 0;
    for (unsigned no_room = 0; (no_room < 1000) && (attempts < 1000000);
         ++attempts) {
        status   = try_send(attempts % num_eps);
        no_room  = (status == UCS_ERR_NO_RESOURCE) ? no_room + 1 : 0;
        if ((attempts % 8) == 0) {
            sender.progress();
        }
    }
    ASSERT_EQ(UCS_ERR_NO_RESOURCE, status) << "never out of room";
    uct_rsagg_counters_t tx1 = counters(sender);
    uint64_t accepted_bytes = tx1.bytes - tx0.bytes;
    /* What the slice holds, plus what the buffer holds, plus one batch */
    EXPECT_LE(accepted_bytes, slice + buffer + 1024) << "credits ignored";
    if (!zcopy) {
        /* put_bcopy is done at once: only credits stop the sender */
        EXPECT_GT(tx1.credit_stalls, tx0.credit_stalls);
    }

    /* A pending request is taken and called once there is room again. Not
     * UCS_ERR_BUSY ("retry now"): the inner ep has room, what is missing is
     * rsagg's (credits, buffers), and a caller that retries at once without
     * progress would never get them (UCP's flush did, and hung) */
    struct pending : uct_pending_req_t {
        int calls;
    } req;
    req.calls = 0;
    req.func  = [](uct_pending_req_t *self) -> ucs_status_t {
        ++static_cast<pending*>(self)->calls;
        return UCS_OK;
    };
    ASSERT_EQ(UCS_OK, uct_ep_pending_add(eps[0], &req, 0));
    const bool added = true;

    /* The receiver resumes: credits return, the rest goes, all arrives */
    total = 0;
    for (unsigned ep = 0; ep < num_eps; ++ep) {
        total += sent[ep].size();
    }
    deadline = now_sec() + wait_timeout_sec();
    while ((received.size() < total) || (added && (req.calls == 0))) {
        ASSERT_LT(now_sec(), deadline)
            << "delivered " << received.size() << " of " << total;
        both();
    }
    EXPECT_EQ(total, received.size());

    /* and sending goes on past several laps of the slice */
    for (unsigned i = 0; i < 2000; ++i) {
        deadline = now_sec() + wait_timeout_sec();
        while (try_send(i % num_eps) == UCS_ERR_NO_RESOURCE) {
            ASSERT_LT(now_sec(), deadline);
            both();
        }
    }
    total = 0;
    for (unsigned ep = 0; ep < num_eps; ++ep) {
        total += sent[ep].size();
    }
    deadline = now_sec() + wait_timeout_sec();
    while (received.size() < total) {
        ASSERT_LT(now_sec(), deadline);
        both();
    }

    std::vector<unsigned> next(num_eps, 0);
    for (size_t i = 0; i < received.size(); ++i) {
        uint32_t words[2];
        ASSERT_GE(received[i].size(), 8u);
        memcpy(words, &received[i][0], sizeof(words));
        ASSERT_LT(words[0], num_eps);
        unsigned ep = words[0];
        ASSERT_EQ(next[ep], words[1]) << "ep " << ep << " out of order";
        ASSERT_EQ(-1, first_difference(sent[ep][next[ep]], received[i]))
            << "ep " << ep << " message " << next[ep] << " overwritten";
        ++next[ep];
    }
    uct_rsagg_counters_t tx = counters(sender);
    EXPECT_GT(tx.ring_transfers - tx0.ring_transfers, 2 * slice / 1024)
        << "did not lap the slice";
    EXPECT_EQ(0u, counters(receiver).malformed);
    std::cout << "[ INFO     ] stalled receiver: " << accepted_bytes
              << " bytes accepted (slice " << slice << ", buffer " << buffer
              << "), " << tx.credit_stalls << " credit stalls, "
              << tx.ring_transfers << " ring transfers" << std::endl;
}

/* A receiver's ring holds a bounded number of slices: one that a closed
 * channel gave back (CLOSE) serves the next sender. The ring here has room
 * for one slice only, so the second sender gets one only if the first
 * released it. Over posix the second sender's iface has the address the
 * first one had, so its grant arrives only if the receiver also forgot its
 * way back to the first (else the grant goes to the old, dead FIFO). */
TEST_P(rsagg_aggregation_test, released_ring_slice_serves_the_next_sender)
{
    if (std::get<1>(GetParam()) != "oob") {
        GTEST_SKIP() << "the ring carries out-of-band payloads";
    }
    scoped_env env_batch("UCX_RSAGG_MAX_BATCH", "1k");
    scoped_env env_buffer("UCX_RSAGG_BUFFER", "8k");
    scoped_env env_ring("UCX_RSAGG_RING_SIZE", "8k");
    entity receiver(res());
    if (!ring_capable(receiver)) {
        GTEST_SKIP() << "inner transport has no put";
    }

    unsigned received = 0;
    receiver.set_am_handler(AM_ID, [&](void*, size_t, unsigned) {
        ++received;
        return UCS_OK;
    });

    unsigned sent = 0;
    for (unsigned s = 0; s < 2; ++s) {
        entity sender(res());
        std::vector<uct_ep_h> eps;
        for (unsigned i = 0; i < 2; ++i) {
            eps.push_back(sender.create_ep_to_iface(receiver));
        }
        auto both = [&] { return sender.progress() + receiver.progress(); };
        /* Bursts, so that batches form (a lone message goes alone) */
        ring_wireup([&](unsigned round) {
            for (unsigned k = 0; k < 8; ++k) {
                std::vector<uint8_t> msg = make_msg(k % 2, sent, 64);
                double deadline = now_sec() + wait_timeout_sec();
                while (send_short(eps[k % 2], msg) == UCS_ERR_NO_RESOURCE) {
                    ASSERT_LT(now_sec(), deadline) << "no room, ever";
                    both();
                }
                ++sent;
            }
        }, both, sender);
        wait_until([&] { return received == sent; }, both, "all messages");
        EXPECT_GT(counters(sender).ring_transfers, 0u) << "sender " << s;

        for (uct_ep_h ep : eps) {
            sender.destroy_ep(ep);
        }
        /* The release arrives after everything the sender sent */
        wait_until([&] { return receiver.progress() == 0; }, [] {}, "quiet");
    }
    EXPECT_EQ(0u, counters(receiver).malformed);
}

/* UCP queues its flush as a pending request: that flush must not be refused
 * because of requests queued after it (that livelocked an MPI job) */
TEST_P(rsagg_aggregation_test, pending_flush_is_not_blocked_by_later_requests)
{
    scoped_env env_buffer("UCX_RSAGG_BUFFER", "16k");
    entity sender(res());
    entity receiver(res());
    size_t delivered = 0;
    uct_ep_h ep = connect_counted(sender, receiver, &delivered);

    /* No room: the receiver does not progress yet */
    ucs_status_t status = UCS_OK;
    for (unsigned i = 0; (i < 10000000) && (status == UCS_OK); ++i) {
        status = uct_ep_am_short(ep, AM_ID, i, NULL, 0);
    }
    ASSERT_EQ(UCS_ERR_NO_RESOURCE, status);

    struct request : uct_pending_req_t {
        uct_ep_h     ep;
        bool         flush;
        ucs_status_t status;
        int          calls;
    };
    request flush_req, send_req;
    flush_req.ep = send_req.ep = ep;
    flush_req.flush = true;
    send_req.flush  = false;
    flush_req.calls = send_req.calls = 0;
    flush_req.status = send_req.status = UCS_ERR_NO_RESOURCE;
    flush_req.func = send_req.func = [](uct_pending_req_t *self) {
        request *r = static_cast<request*>(self);
        ++r->calls;
        r->status  = r->flush ? uct_ep_flush(r->ep, 0, NULL) :
                     uct_ep_am_short(r->ep, AM_ID, 0, NULL, 0);
        return (r->status == UCS_ERR_NO_RESOURCE) ? r->status : UCS_OK;
    };
    status = uct_ep_pending_add(ep, &flush_req, 0);
    if (status == UCS_ERR_BUSY) {
        GTEST_SKIP() << "room came back before the requests could queue";
    }
    ASSERT_EQ(UCS_OK, status);
    ASSERT_EQ(UCS_OK, uct_ep_pending_add(ep, &send_req, 0));

    double deadline = now_sec() + wait_timeout_sec();
    while ((flush_req.status == UCS_ERR_NO_RESOURCE) ||
           (send_req.status == UCS_ERR_NO_RESOURCE)) {
        ASSERT_LT(now_sec(), deadline)
            << "flush called " << flush_req.calls << " times, last "
            << status_str(flush_req.status) << "; send called "
            << send_req.calls << " times";
        sender.progress();
        receiver.progress();
    }
    EXPECT_FALSE(UCS_STATUS_IS_ERR(flush_req.status))
        << status_str(flush_req.status);
    EXPECT_EQ(UCS_OK, send_req.status);
}

TEST_P(rsagg_aggregation_test, ten_thousand_eps_cost_little_memory)
{
    const unsigned num_eps = 10000;
    iface_ep_params to_receiver(m_sender->iface(), *m_receiver);
    const uct_ep_params_t &params = to_receiver.params;
    std::vector<uct_ep_h> eps(num_eps);

    /* The first ep opens the channel, the others only join it */
    ASSERT_EQ(UCS_OK, uct_ep_create(&params, &eps[0]));
    struct mallinfo2 before = mallinfo2();
    for (unsigned i = 1; i < num_eps; ++i) {
        ASSERT_EQ(UCS_OK, uct_ep_create(&params, &eps[i]));
    }
    struct mallinfo2 after = mallinfo2();
    double per_ep = (double)(after.uordblks - before.uordblks) /
                    (num_eps - 1);

    EXPECT_EQ(1u, counters(*m_sender).channels);
    EXPECT_LE(per_ep, 256.0);
    std::cout << "[ INFO     ] " << per_ep << " bytes of heap per rsagg ep "
              << "on a shared channel" << std::endl;

    for (unsigned i = 0; i < num_eps; ++i) {
        uct_ep_destroy(eps[i]);
    }
}

TEST_P(rsagg_aggregation_test, peer_of_another_format_version_is_unreachable)
{
    iface_ep_params to_receiver(m_sender->iface(), *m_receiver);
    const uct_ep_params_t &params = to_receiver.params;
    uct_ep_h ep;

    ASSERT_GE(to_receiver.iface_addr.size(), 4u);
    EXPECT_TRUE(uct_iface_is_reachable(m_sender->iface(), params.dev_addr,
                                       params.iface_addr));

    ++to_receiver.iface_addr[1]; /* the format version */
    EXPECT_FALSE(uct_iface_is_reachable(m_sender->iface(), params.dev_addr,
                                        params.iface_addr));
    EXPECT_EQ(UCS_ERR_UNREACHABLE, uct_ep_create(&params, &ep));
}

TEST_P(rsagg_aggregation_test, bad_config_values_fail_the_open_cleanly)
{
    {
        scoped_env env("UCX_RSAGG_MAX_BATCH", "16");
        EXPECT_THROW(entity e(res()), std::runtime_error);
    }
    {
        scoped_env env("UCX_RSAGG_BUFFER", "1k");
        EXPECT_THROW(entity e(res()), std::runtime_error);
    }
    {
        scoped_env env("UCX_RSAGG_MUX", "sideways");
        EXPECT_THROW(entity e(res()), std::runtime_error);
    }
    {
        scoped_env env("UCX_RSAGG_AGGREGATE", "perhaps");
        EXPECT_THROW(entity e(res()), std::runtime_error);
    }
    {
        /* a tick shorter than a thread's wake-up would only spin */
        scoped_env env("UCX_RSAGG_HOLD_TIMEOUT", "5us");
        EXPECT_THROW(entity e(res()), std::runtime_error);
    }
    if ((res().tl_name == "rsagg") &&
        ((res().md_name == "rsagg_posix") || (res().md_name == "rsagg_sysv"))) {
        /* over shared memory a put is a store; there is nothing to batch */
        scoped_env env("UCX_RSAGG_PUT_AGGREGATE", "yes");
        EXPECT_THROW(entity e(res()), std::runtime_error);
    }
}


/*
 * Hostile or broken senders: transfers built by hand and sent on the
 * receiver's inner interface, as a peer with a broken rsagg would.
 */
class rsagg_wire_input_test : public rsagg_aggregation_test {
protected:
    void SetUp() override
    {
        rsagg_aggregation_test::SetUp();
        if (IsSkipped() || HasFatalFailure()) {
            return;
        }

        /* The inner resource: same device, the component of the inner md */
        resource inner;
        inner.md_name  = res().md_name.substr(strlen("rsagg_"));
        inner.tl_name  = inner.md_name;
        inner.component = inner.md_name;
        inner.dev_name = res().dev_name;
        inner.label    = "raw_" + inner.md_name;
        inner.required = false;
        m_raw.reset(new entity(inner));

        /* rsagg's address = its 4-byte header + the inner address */
        iface_ep_params to_receiver(m_raw->iface(), *m_receiver, 4);
        ASSERT_EQ(UCS_OK, uct_ep_create(&to_receiver.params, &m_raw_ep));
    }

    void TearDown() override
    {
        if (m_raw) {
            uct_ep_destroy(m_raw_ep);
            m_raw.reset();
        }
        rsagg_aggregation_test::TearDown();
    }

    unsigned progress() override
    {
        return rsagg_aggregation_test::progress() + m_raw->progress();
    }

    void send_raw(uint8_t am_id, const std::vector<uint8_t> &bytes)
    {
        send_retry([&] {
            ssize_t packed = uct_ep_am_bcopy(m_raw_ep, am_id,
                    [](void *dest, void *arg) -> size_t {
                        auto *m = (const std::vector<uint8_t>*)arg;
                        if (!m->empty()) {
                            memcpy(dest, m->data(), m->size());
                        }
                        return m->size();
                    }, (void*)&bytes, 0);
            return (packed < 0) ? (ucs_status_t)packed : UCS_OK;
        });
        uct_ep_flush(m_raw_ep, 0, NULL);
    }

    /* A valid embedded batch of three messages to AM_ID */
    std::vector<uint8_t> good_batch()
    {
        std::vector<uint8_t> buf(512);
        ucs_rsagg_builder_t b;
        EXPECT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, &buf[0], buf.size(), 7));
        for (unsigned sn = 0; sn < 3; ++sn) {
            std::vector<uint8_t> msg = make_msg(0, sn, 16);
            EXPECT_EQ(UCS_OK, ucs_rsagg_builder_add_am(&b, 0, AM_ID, &msg[0],
                                                       msg.size()));
        }
        buf.resize(ucs_rsagg_builder_finish(&b, NULL));
        return buf;
    }

    /* Sends 'bytes', then a valid batch as a marker: once the marker's
     * three messages are in, the receiver has processed 'bytes' too */
    void send_then_marker(uint8_t am_id, const std::vector<uint8_t> &bytes)
    {
        size_t before = m_received.size();
        send_raw(am_id, bytes);
        send_raw(UCS_RSAGG_AM_ID_BATCH, good_batch());
        wait_for([&] { return m_received.size() >= before + 3; }, "marker");
        EXPECT_EQ(before + 3, m_received.size())
            << "a malformed transfer delivered something";
    }

    std::unique_ptr<entity> m_raw;
    uct_ep_h                m_raw_ep;
};


TEST_P(rsagg_wire_input_test, malformed_transfers_are_dropped_whole)
{
    std::vector<uint8_t> good = good_batch();
    uint64_t malformed0 = counters(*m_receiver).malformed;
    unsigned cases      = 0;

    /* Truncated at every length: the header's length no longer matches */
    for (size_t length = 0; length < good.size(); length += 5, ++cases) {
        send_then_marker(UCS_RSAGG_AM_ID_BATCH,
                         std::vector<uint8_t>(good.begin(),
                                              good.begin() + length));
    }

    /* An am id without a handler, in the last record: nothing of the
     * transfer is delivered, not even the records before it */
    {
        std::vector<uint8_t> buf(512);
        ucs_rsagg_builder_t b;
        ucs_rsagg_builder_init(&b, &buf[0], buf.size(), 8);
        std::vector<uint8_t> msg = make_msg(0, 0, 16);
        ucs_rsagg_builder_add_am(&b, 0, AM_ID, &msg[0], msg.size());
        ucs_rsagg_builder_add_am(&b, 0, AM_ID + 1, &msg[0], msg.size());
        buf.resize(ucs_rsagg_builder_finish(&b, NULL));
        send_then_marker(UCS_RSAGG_AM_ID_BATCH, buf);
        ++cases;
    }

    /* Another format version */
    {
        std::vector<uint8_t> bad = good;
        bad[UCS_RSAGG_HDR_OFF_VERSION] = UCS_RSAGG_WIRE_VERSION + 1;
        send_then_marker(UCS_RSAGG_AM_ID_BATCH, bad);
        ++cases;
    }

    /* Record count that disagrees with the records */
    {
        std::vector<uint8_t> bad = good;
        ucs_rsagg_wire_put16(&bad[UCS_RSAGG_HDR_OFF_COUNT], 4);
        send_then_marker(UCS_RSAGG_AM_ID_BATCH, bad);
        ++cases;
    }

    /* A record whose length runs past the end */
    {
        std::vector<uint8_t> bad = good;
        bad[UCS_RSAGG_HDR_SIZE + 1] = 0xff;
        send_then_marker(UCS_RSAGG_AM_ID_BATCH, bad);
        ++cases;
    }

    /* Out-of-band table without its payload, and garbage control */
    send_then_marker(UCS_RSAGG_AM_ID_OOB_TABLE, good);
    send_then_marker(UCS_RSAGG_AM_ID_CTRL, good);
    cases += 2;

    EXPECT_EQ(malformed0 + cases, counters(*m_receiver).malformed);
}

/* A ring table names where its payload is; one that does not lie wholly in
 * a slice the receiver granted is dropped before any byte of the ring is
 * read, and nothing of it is delivered */
TEST_P(rsagg_wire_input_test, ring_table_outside_a_granted_slice_is_dropped)
{
    /* Two senders, granted [0, 64k) and [64k, 128k) of the 4 MB ring */
    scoped_env env_mux("UCX_RSAGG_MUX", "oob");
    scoped_env env_buffer("UCX_RSAGG_BUFFER", "64k");
    scoped_env env_batch("UCX_RSAGG_MAX_BATCH", "8k");
    scoped_env env_ring("UCX_RSAGG_RING_SIZE", "4m");
    const uint32_t slice = 64 * 1024, ring = 4 * 1024 * 1024;
    if (!ring_capable(*m_sender)) {
        GTEST_SKIP() << "inner transport has no put";
    }

    std::unique_ptr<entity> senders[2];
    for (int i = 0; i < 2; ++i) {
        senders[i].reset(new entity(res()));
        uct_ep_h ep = senders[i]->create_ep_to_iface(*m_receiver);
        unsigned sn = 0;
        auto both = [&] { return progress() + senders[i]->progress(); };
        ring_wireup([&](unsigned) {
            for (int k = 0; k < 4; ++k) {
                std::vector<uint8_t> msg = make_msg(0, sn++, 32);
                double deadline = now_sec() + wait_timeout_sec();
                while (send_short(ep, msg) == UCS_ERR_NO_RESOURCE) {
                    ASSERT_LT(now_sec(), deadline);
                    both();
                }
            }
        }, both, *senders[i]);
        /* let everything of this sender arrive */
        double deadline = now_sec() + wait_timeout_sec();
        while ((counters(*m_receiver).rx_ring_transfers <
                counters(*senders[i]).ring_transfers) ||
               (counters(*m_receiver).rx_msgs <
                counters(*senders[i]).msgs - counters(*senders[i]).direct +
                (i ? counters(*senders[0]).msgs -
                     counters(*senders[0]).direct : 0))) {
            ASSERT_LT(now_sec(), deadline);
            progress();
            senders[i]->progress();
        }
    }

    auto ring_table = [&](uint32_t offset, uint32_t length) {
        std::vector<uint8_t> table(512), payload(length);
        ucs_rsagg_builder_t b = {};
        EXPECT_EQ(UCS_OK, ucs_rsagg_builder_init_oob(
                &b, &table[0], table.size(), &payload[0], payload.size(), 99,
                UCS_RSAGG_FLAG_PAYLOAD_IN_RING));
        ucs_rsagg_builder_set_ring_offset(&b, offset);
        std::vector<uint8_t> msg = make_msg(0, 0, length);
        EXPECT_EQ(UCS_OK, ucs_rsagg_builder_add_am(&b, 0, AM_ID, &msg[0],
                                                   msg.size()));
        table.resize(ucs_rsagg_builder_finish(&b, NULL));
        return table;
    };

    uint64_t malformed0 = counters(*m_receiver).malformed;
    uint64_t rx_ring0   = counters(*m_receiver).rx_ring_transfers;
    const uint32_t cases[][2] = {
        {slice - 16, 64},          /* straddles the two slices */
        {2 * slice + 4096, 64},    /* in no slice */
        {ring - 16, 64},           /* across the end of the region */
        {ring + 4096, 64},         /* beyond the region */
        {UINT32_MAX - 16, 64},     /* wraps the 32-bit offset */
        {0, 2 * slice},            /* bigger than the slice it starts in */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        send_then_marker(UCS_RSAGG_AM_ID_OOB_TABLE,
                         ring_table(cases[i][0], cases[i][1]));
    }
    EXPECT_EQ(malformed0 + sizeof(cases) / sizeof(cases[0]),
              counters(*m_receiver).malformed);
    EXPECT_EQ(rx_ring0, counters(*m_receiver).rx_ring_transfers);
}

TEST_P(rsagg_aggregation_test, put_outside_its_region_is_rejected)
{
    const size_t size = 4096;
    mapped_buffer target(*m_receiver, size);
    std::vector<uint8_t> zeros(size, 0);
    target.fill(zeros);
    remote_key rkey(*m_sender, target);
    uct_ep_h ep = m_sender->create_ep_to_iface(*m_receiver);

    if (!(m_sender->attr().cap.flags & UCT_IFACE_FLAG_PUT_SHORT) ||
        !(m_receiver->md_attr().cap.flags & UCT_MD_FLAG_REG)) {
        GTEST_SKIP() << "puts are the inner transport's here";
    }

    uint64_t value = 0x1122334455667788ull;
    /* Inside: lands once flushed */
    send_retry([&] {
        return uct_ep_put_short(ep, &value, sizeof(value), target.addr() + 64,
                                rkey.rkey());
    });
    /* Remote completion: the flush completes once the receiver applied it */
    ucs_status_t status;
    double deadline = now_sec() + wait_timeout_sec();
    while ((status = uct_ep_flush(ep, 0, NULL)) != UCS_OK) {
        ASSERT_TRUE((status == UCS_INPROGRESS) ||
                    (status == UCS_ERR_NO_RESOURCE)) << status_str(status);
        ASSERT_LT(now_sec(), deadline) << "flush";
        progress();
    }
    EXPECT_EQ(0, memcmp(target.ptr() + 64, &value, sizeof(value)));

    /* Straddling the end of the region: nothing written, counted */
    uint64_t rejected0 = counters(*m_receiver).rejected_puts;
    send_retry([&] {
        return uct_ep_put_short(ep, &value, sizeof(value),
                                target.addr() + size - 4, rkey.rkey());
    });
    wait_for([&] {
        return counters(*m_receiver).rejected_puts > rejected0;
    }, "the rejection");
    EXPECT_EQ(rejected0 + 1, counters(*m_receiver).rejected_puts);

    /* The region holds the first put and nothing else */
    std::vector<uint8_t> expected(size, 0);
    memcpy(&expected[64], &value, sizeof(value));
    EXPECT_EQ(-1, first_difference(expected, target.read(0, size)));
}


namespace {

std::vector<agg_param> agg_params()
{
    std::vector<agg_param> result;
    std::vector<resource> resources = rsagg_resources();
    for (size_t i = 0; i < resources.size(); ++i) {
        result.push_back(agg_param(resources[i], "embedded"));
        result.push_back(agg_param(resources[i], "oob"));
    }
    return result;
}

std::string agg_param_name(const testing::TestParamInfo<agg_param> &info)
{
    return std::get<0>(info.param).label + "_" + std::get<1>(info.param);
}

} // namespace

INSTANTIATE_TEST_SUITE_P(rsagg, rsagg_aggregation_test,
                         testing::ValuesIn(agg_params()), agg_param_name);
INSTANTIATE_TEST_SUITE_P(rsagg, rsagg_wire_input_test,
                         testing::ValuesIn(agg_params()), agg_param_name);
INSTANTIATE_TEST_SUITE_P(rsagg, rsagg_hold_test,
                         testing::ValuesIn(agg_params()), agg_param_name);

} // namespace rsagg_test
