/*
 * Flush and fence.
 *
 * Flush: once an ep or iface flush completed, everything sent before it has
 * left the sender: the receiver alone, progressing without the sender ever
 * being progressed again, receives all of it. (An aggregating transport must
 * not keep a half-filled batch back across a flush.)
 *
 * Fence: a put issued before a fence is visible in the target memory when a
 * message sent after the fence arrives.
 */

#include "uct_test.h"

#include <string.h>

#include <algorithm>

namespace rsagg_test {

class uct_flush_test : public uct_p2p_test {
protected:
    static constexpr unsigned NUM_MSGS = 100;

    void SetUp() override
    {
        uct_p2p_test::SetUp();
        if (IsSkipped() || HasFatalFailure()) {
            return;
        }

        receiver().set_am_handler(TEST_AM_ID,
                                  [this](void *data, size_t length,
                                         unsigned) {
            m_received.push_back(std::vector<uint8_t>((uint8_t*)data,
                                                      (uint8_t*)data +
                                                      length));
            return UCS_OK;
        });
    }

    /* Mixed small and large messages, short and bcopy */
    void send_messages(const std::vector<uct_ep_h> &eps)
    {
        const uct_iface_attr_t &attr = sender().attr();
        bool has_short = sender().has_cap(UCT_IFACE_FLAG_AM_SHORT);
        bool has_bcopy = sender().has_cap(UCT_IFACE_FLAG_AM_BCOPY);

        for (unsigned i = 0; i < NUM_MSGS; ++i) {
            uct_ep_h ep    = eps[i % eps.size()];
            bool use_short = has_short && (!has_bcopy || (i % 2));
            size_t max     = use_short ? attr.cap.am.max_short :
                                         attr.cap.am.max_bcopy;
            size_t length  = (i % 10 == 9) ? max :
                             std::min<size_t>(8 + i, max);
            std::vector<uint8_t> msg = make_pattern(length, i);
            m_sent.push_back(msg);

            ucs_status_t status = retry([&]() {
                return use_short ? send_am_short(ep, TEST_AM_ID, msg) :
                                   send_am_bcopy(ep, TEST_AM_ID, msg);
            });
            ASSERT_EQ(UCS_OK, status) << "message " << i;
        }
    }

    void receiver_alone_gets_everything()
    {
        ASSERT_TRUE(wait_for([&]() { return m_received.size() >= NUM_MSGS; },
                             "all messages, progressing only the receiver",
                             [this]() { return receiver().progress(); }));
        ASSERT_EQ(NUM_MSGS, m_received.size());

        /* One ep keeps its order; several eps may interleave, so compare
         * as multisets */
        std::vector<std::vector<uint8_t> > sent = m_sent, got = m_received;
        std::sort(sent.begin(), sent.end());
        std::sort(got.begin(), got.end());
        EXPECT_TRUE(sent == got) << "received messages differ from sent";
    }

    std::vector<std::vector<uint8_t> > m_sent;
    std::vector<std::vector<uint8_t> > m_received;
};

TEST_P(uct_flush_test, ep_flush_completes_with_nothing_outstanding)
{
    uct_ep_h ep = connect(sender(), receiver());
    flush_ep(sender(), ep);
    flush_iface(sender());
}

TEST_P(uct_flush_test, after_ep_flush_receiver_alone_gets_all_messages)
{
    uct_ep_h ep = connect(sender(), receiver());
    ASSERT_NO_FATAL_FAILURE(send_messages(std::vector<uct_ep_h>(1, ep)));
    flush_ep(sender(), ep);
    receiver_alone_gets_everything();

    for (size_t i = 0; i < m_sent.size(); ++i) {
        EXPECT_EQ(m_sent[i], m_received[i]) << "message " << i << " order";
    }
}

TEST_P(uct_flush_test, after_iface_flush_receiver_alone_gets_all_messages)
{
    std::vector<uct_ep_h> eps;
    for (int i = 0; i < 3; ++i) {
        eps.push_back(connect(sender(), receiver()));
    }

    ASSERT_NO_FATAL_FAILURE(send_messages(eps));
    flush_iface(sender());
    receiver_alone_gets_everything();
}


class uct_fence_test : public uct_p2p_test {
protected:
    static constexpr unsigned NUM_ROUNDS = 200;

    void test_fence(bool iface_fence)
    {
        bool has_put = sender().has_cap(UCT_IFACE_FLAG_PUT_SHORT) ||
                       sender().has_cap(UCT_IFACE_FLAG_PUT_BCOPY) ||
                       sender().has_cap(UCT_IFACE_FLAG_PUT_ZCOPY);
        if (!has_put) {
            GTEST_SKIP() << "transport has no put";
        }

        uct_ep_h ep = connect(sender(), receiver());
        mapped_buffer target(receiver(), sizeof(uint64_t));
        mapped_buffer source(sender(), sizeof(uint64_t));
        remote_key rkey(sender(), target);
        memset(target.ptr(), 0, sizeof(uint64_t));

        unsigned num_received = 0, num_stale = 0;
        receiver().set_am_handler(TEST_AM_ID,
                                  [&](void *data, size_t length, unsigned) {
            uint64_t round, visible;
            memcpy(&round, data, sizeof(round));
            memcpy(&visible, target.ptr(), sizeof(visible));
            if (visible < round) {
                ++num_stale;
            }
            ++num_received;
            return UCS_OK;
        });

        for (uint64_t round = 1; round <= NUM_ROUNDS; ++round) {
            memcpy(source.ptr(), &round, sizeof(round));
            ASSERT_EQ(UCS_OK, put_word(ep, source, target, rkey.rkey()))
                    << "put in round " << round;

            ucs_status_t status = iface_fence ?
                                  uct_iface_fence(sender().iface(), 0) :
                                  uct_ep_fence(ep, 0);
            ASSERT_EQ(UCS_OK, status) << "fence: " << status_str(status);

            std::vector<uint8_t> msg(sizeof(round));
            memcpy(&msg[0], &round, sizeof(round));
            ASSERT_EQ(UCS_OK, retry([&]() {
                return sender().has_cap(UCT_IFACE_FLAG_AM_SHORT) ?
                       send_am_short(ep, TEST_AM_ID, msg) :
                       send_am_bcopy(ep, TEST_AM_ID, msg);
            })) << "message in round " << round;
        }

        ASSERT_TRUE(wait_for([&]() { return num_received == NUM_ROUNDS; },
                             "all messages"));
        EXPECT_EQ(0u, num_stale) << "messages that arrived before the put "
                                    "issued before the fence was visible";
    }

    static size_t pack_word(void *dest, void *arg)
    {
        memcpy(dest, arg, sizeof(uint64_t));
        return sizeof(uint64_t);
    }

    ucs_status_t put_word(uct_ep_h ep, mapped_buffer &source,
                          const mapped_buffer &target, uct_rkey_t rkey)
    {
        test_completion comp;
        ucs_status_t status = retry([&]() -> ucs_status_t {
            if (sender().has_cap(UCT_IFACE_FLAG_PUT_SHORT)) {
                return uct_ep_put_short(ep, source.ptr(), sizeof(uint64_t),
                                        target.addr(), rkey);
            }

            if (sender().has_cap(UCT_IFACE_FLAG_PUT_ZCOPY)) {
                uct_iov_t iov = {source.ptr(), sizeof(uint64_t),
                                 source.memh(), 0, 1};
                return uct_ep_put_zcopy(ep, &iov, 1, target.addr(), rkey,
                                        &comp.uct);
            }

            ssize_t packed = uct_ep_put_bcopy(ep, pack_word, source.ptr(),
                                              target.addr(), rkey);
            return (packed < 0) ? (ucs_status_t)packed : UCS_OK;
        });

        if (status == UCS_INPROGRESS) {
            /* the source word is rewritten next round: wait local completion */
            wait_completion(comp, "put_zcopy");
            status = comp.status;
        }
        return status;
    }
};

TEST_P(uct_fence_test, put_before_ep_fence_is_visible_to_later_message)
{
    test_fence(false);
}

TEST_P(uct_fence_test, put_before_iface_fence_is_visible_to_later_message)
{
    test_fence(true);
}

RSAGG_INSTANTIATE_P2P(uct_flush_test);
RSAGG_INSTANTIATE_P2P(uct_fence_test);

} // namespace rsagg_test
