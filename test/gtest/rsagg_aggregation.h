/*
 * The fixture of the aggregation tests (test_rsagg_*.cc): what rsagg adds to
 * a transport. These tests run only on rsagg resources, with both forms of
 * multiplexing (embedded and out-of-band), and look at what a user can
 * observe plus rsagg's counters.
 *
 *   test_rsagg_batching.cc      shared channels, per-ep order, counters, flush
 *   test_rsagg_backpressure.cc  no room: pending requests, bounded memory
 *   test_rsagg_hold.cc          the hold timer: a batch of a sender that
 *                               stops progressing
 *   test_rsagg_ring.cc          out-of-band payloads through the receiver's
 *                               ring, credits, slices
 *   test_rsagg_wire_input.cc    hostile or broken input on the wire, puts
 *                               outside their region
 *   test_rsagg_setup.cc         memory per ep, address versions, bad
 *                               configuration values
 */

#ifndef RSAGG_AGGREGATION_H_
#define RSAGG_AGGREGATION_H_

#include "uct_test.h"

#include <uct/rsagg/rsagg_counters.h>

#include <functional>
#include <memory>
#include <string.h>
#include <string>
#include <tuple>
#include <vector>

namespace rsagg_test {

/* uct_rsagg_iface_counters() of the module, NULL when it is not loaded */
uct_rsagg_iface_counters_func_t counters_func();

/* rsagg's counters of e's iface (a test failure when there are none) */
uct_rsagg_counters_t counters(const entity &e);

/* Message that carries its ep and sequence number, then a pattern */
std::vector<uint8_t> make_msg(unsigned ep, unsigned sn, size_t size);

double now_sec();

/* Resident memory of the process, KB */
long rss_kb();

/* The inner transport can put into a receiver's ring: a put of its own
 * (tcp: put_zcopy; shared memory: put_bcopy) and a way back */
bool ring_capable(const entity &e);

/* Sends rounds of one message per ep until the sender's batches go through
 * the ring (the slice is granted after the first out-of-band batch) */
void ring_wireup(const std::function<void(unsigned)> &send_round,
                 const std::function<unsigned()> &progress,
                 const entity &sender);


/* An rsagg resource and its multiplexing (UCX_RSAGG_MUX) */
typedef std::tuple<resource, std::string> agg_param;

/* Every rsagg resource, embedded and out-of-band */
std::vector<agg_param> agg_params();
std::string agg_param_name(const testing::TestParamInfo<agg_param> &info);

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

} // namespace rsagg_test

#endif
