/*
 * Pending queue: when a send returns UCS_ERR_NO_RESOURCE the user queues a
 * request with uct_ep_pending_add; progress later calls the requests in the
 * order they were added, and the messages they send arrive after the ones
 * sent before, in order. uct_ep_pending_purge hands every queued request back
 * exactly once and none of them is dispatched afterwards.
 *
 * The send queue is filled by sending without ever progressing the receiver;
 * the number of attempts is bounded so a transport that never runs out of
 * resources fails instead of looping.
 */

#include "uct_test.h"

#include <string.h>

namespace rsagg_test {

class uct_pending_test : public uct_p2p_test {
protected:
    static constexpr unsigned NUM_PENDING = 8;
    static constexpr unsigned MAX_FILL    = 200000;

    struct pending_send {
        uct_pending_req_t uct; /* first: UCT passes this pointer back */
        uct_pending_test  *test;
        uint32_t          seq;
        unsigned          dispatched;
        unsigned          purged;
    };

    void SetUp() override
    {
        uct_p2p_test::SetUp();
        if (IsSkipped() || HasFatalFailure()) {
            return;
        }
        if (!sender().has_cap(UCT_IFACE_FLAG_PENDING)) {
            GTEST_SKIP() << "transport lacks UCT_IFACE_FLAG_PENDING";
        }

        receiver().set_am_handler(TEST_AM_ID,
                                  [this](void *data, size_t length,
                                         unsigned) {
            uint32_t seq = UINT32_MAX;
            if (length >= sizeof(seq)) {
                memcpy(&seq, data, sizeof(seq));
            }
            m_received.push_back(seq);
            return UCS_OK;
        });
        m_ep = connect(sender(), receiver());
    }

    ucs_status_t send_seq(uint32_t seq)
    {
        std::vector<uint8_t> msg = make_pattern(m_msg_size, seq);
        memcpy(&msg[0], &seq, sizeof(seq));
        return sender().has_cap(UCT_IFACE_FLAG_AM_BCOPY) ?
               send_am_bcopy(m_ep, TEST_AM_ID, msg) :
               send_am_short(m_ep, TEST_AM_ID, msg);
    }

    void set_message_size(size_t size)
    {
        const uct_iface_attr_t &attr = sender().attr();
        size_t max = sender().has_cap(UCT_IFACE_FLAG_AM_BCOPY) ?
                     attr.cap.am.max_bcopy : attr.cap.am.max_short;
        m_msg_size = std::max<size_t>(std::min(size, max), 8);
    }

    /* Sends until the transport runs out of resources; returns # sent */
    uint32_t fill()
    {
        for (uint32_t seq = 0; seq < MAX_FILL; ++seq) {
            ucs_status_t status = send_seq(seq);
            if (status == UCS_ERR_NO_RESOURCE) {
                return seq;
            }
            if (status != UCS_OK) {
                ADD_FAILURE() << "send " << seq << ": " << status_str(status);
                return seq;
            }
        }
        ADD_FAILURE() << "no UCS_ERR_NO_RESOURCE after " << MAX_FILL
                      << " sends of " << m_msg_size << " bytes without "
                      << "receiver progress";
        return MAX_FILL;
    }

    void add_pending(uint32_t first_seq)
    {
        m_reqs.resize(NUM_PENDING);
        for (unsigned i = 0; i < NUM_PENDING; ++i) {
            pending_send &req = m_reqs[i];
            req.uct.func   = pending_cb;
            req.test       = this;
            req.seq        = first_seq + i;
            req.dispatched = 0;
            req.purged     = 0;

            ucs_status_t status = uct_ep_pending_add(m_ep, &req.uct, 0);
            ASSERT_EQ(UCS_OK, status)
                    << "uct_ep_pending_add of request " << i
                    << " right after UCS_ERR_NO_RESOURCE: "
                    << status_str(status);
        }
    }

    static ucs_status_t pending_cb(uct_pending_req_t *self)
    {
        pending_send *req   = reinterpret_cast<pending_send*>(self);
        ucs_status_t status = req->test->send_seq(req->seq);

        if (status == UCS_OK) {
            ++req->dispatched;
            req->test->m_dispatch_order.push_back(req->seq);
        } else if (status != UCS_ERR_NO_RESOURCE) {
            ADD_FAILURE() << "send from pending callback: "
                          << status_str(status);
            return UCS_OK; /* drop it, the failure is recorded */
        }
        return status;
    }

    static void purge_cb(uct_pending_req_t *self, void *arg)
    {
        ++reinterpret_cast<pending_send*>(self)->purged;
    }

    void test_dispatch_order(size_t msg_size)
    {
        set_message_size(msg_size);
        uint32_t num_sent = fill();
        ASSERT_FALSE(HasFailure());
        ASSERT_NO_FATAL_FAILURE(add_pending(num_sent));

        uint32_t total = num_sent + NUM_PENDING;
        ASSERT_TRUE(wait_for([&]() {
            return m_dispatch_order.size() == NUM_PENDING &&
                   m_received.size() >= total;
        }, "pending requests dispatched and all messages received"))
                << m_dispatch_order.size() << " of " << NUM_PENDING
                << " requests dispatched, " << m_received.size() << " of "
                << total << " messages of " << m_msg_size
                << " bytes received";

        for (unsigned i = 0; i < NUM_PENDING; ++i) {
            EXPECT_EQ(1u, m_reqs[i].dispatched) << "request " << i;
            EXPECT_EQ(num_sent + i, m_dispatch_order[i])
                    << "dispatch order, position " << i;
        }

        ASSERT_EQ(total, m_received.size()) << "messages received";
        for (uint32_t seq = 0; seq < total; ++seq) {
            ASSERT_EQ(seq, m_received[seq]) << "arrival order, position "
                                            << seq << " (" << num_sent
                                            << " sent before the queue)";
        }
    }

    void test_purge(size_t msg_size)
    {
        set_message_size(msg_size);
        uint32_t num_sent = fill();
        ASSERT_FALSE(HasFailure());
        ASSERT_NO_FATAL_FAILURE(add_pending(num_sent));

        uct_ep_pending_purge(m_ep, purge_cb, NULL);
        for (unsigned i = 0; i < NUM_PENDING; ++i) {
            EXPECT_EQ(1u, m_reqs[i].purged) << "purge callbacks of request "
                                            << i;
        }

        ASSERT_TRUE(wait_for([&]() { return m_received.size() >= num_sent; },
                             "messages sent before the queue"))
                << m_received.size() << " of " << num_sent << " messages of "
                << m_msg_size << " bytes received, "
                << m_dispatch_order.size() << " purged requests dispatched";
        flush_ep(sender(), m_ep);
        for (int i = 0; i < 1000; ++i) {
            progress();
        }

        EXPECT_TRUE(m_dispatch_order.empty())
                << m_dispatch_order.size() << " purged requests dispatched";
        EXPECT_EQ(num_sent, m_received.size()) << "messages received";
    }

    uct_ep_h                  m_ep;
    size_t                    m_msg_size = 8;
    std::vector<pending_send> m_reqs;
    std::vector<uint32_t>     m_dispatch_order;
    std::vector<uint32_t>     m_received;
};

TEST_P(uct_pending_test, small_messages_dispatch_in_order_after_no_resource)
{
    test_dispatch_order(64);
}

TEST_P(uct_pending_test, large_messages_dispatch_in_order_after_no_resource)
{
    test_dispatch_order(8192);
}

TEST_P(uct_pending_test, purge_returns_each_queued_request_once)
{
    test_purge(64);
}

RSAGG_INSTANTIATE_P2P(uct_pending_test);

} // namespace rsagg_test
