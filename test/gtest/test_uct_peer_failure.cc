/*
 * Peer failure and endpoint check, on transports that advertise them.
 *
 * With UCT_IFACE_FLAG_ERRHANDLE_PEER_FAILURE, losing the peer is reported to
 * the iface error handler, for the endpoint the user created, with an error
 * status, while the user keeps using the endpoint. With UCT_IFACE_FLAG_EP_CHECK
 * uct_ep_check is accepted on a live peer without reporting anything, and on
 * a dead one leads to the error handler.
 *
 * The peer dies by closing its iface (and its endpoints); the loops are
 * bounded by the common deadline, which only turns a hang into a failure.
 */

#include "uct_test.h"

namespace rsagg_test {

class uct_peer_failure_test : public uct_p2p_test {
protected:
    entity::options entity_options() const override
    {
        entity::options opts;
        opts.err_handler = true;
        return opts;
    }

    void SetUp() override
    {
        uct_p2p_test::SetUp();
        if (IsSkipped() || HasFatalFailure()) {
            return;
        }

        receiver().set_am_handler(TEST_AM_ID,
                                  [this](void*, size_t, unsigned) {
            ++m_num_received;
            return UCS_OK;
        });
        m_ep = connect(sender(), receiver());
    }

    ucs_status_t send_one()
    {
        std::vector<uint8_t> msg = make_pattern(64, 0);
        return sender().has_cap(UCT_IFACE_FLAG_AM_BCOPY) ?
               send_am_bcopy(m_ep, TEST_AM_ID, msg) :
               send_am_short(m_ep, TEST_AM_ID, msg);
    }

    void kill_receiver()
    {
        destroy_entity(receiver());
    }

    /* Keeps the endpoint busy until the error handler reports */
    void wait_for_error(bool send_traffic, bool ep_check)
    {
        test_completion flush_comp;
        bool flush_outstanding = false;
        unsigned iter          = 0;

        ASSERT_TRUE(wait_for([&]() {
            if (!sender().errors().empty()) {
                return true;
            }
            if ((iter++ % 64) != 0) {
                return false;
            }

            /* Errors from these calls are expected once the peer is gone */
            if (send_traffic) {
                (void)send_one();
                if (!flush_outstanding) {
                    flush_comp.expect(1);
                    ucs_status_t status = uct_ep_flush(m_ep, 0,
                                                       &flush_comp.uct);
                    flush_outstanding   = (status == UCS_INPROGRESS);
                } else if (flush_comp.done) {
                    flush_outstanding = false;
                }
            }
            if (ep_check) {
                (void)uct_ep_check(m_ep, 0, NULL);
            }
            return false;
        }, "the error handler to report the dead peer",
           [this]() { return sender().progress(); }));

        const entity::error_event &event = sender().errors().front();
        EXPECT_EQ(m_ep, event.ep) << "error reported for another endpoint";
        EXPECT_LT(event.status, UCS_OK) << "reported status "
                                        << status_str(event.status);

        /* A flush outstanding at the error still has to complete */
        if (flush_outstanding) {
            wait_for([&]() { return flush_comp.done != 0; },
                     "flush outstanding at the error to complete",
                     [this]() { return sender().progress(); });
        }
    }

    uct_ep_h m_ep;
    size_t   m_num_received = 0;
};

TEST_P(uct_peer_failure_test, sending_to_closed_peer_reports_error_for_the_ep)
{
    if (!sender().has_cap(UCT_IFACE_FLAG_ERRHANDLE_PEER_FAILURE)) {
        GTEST_SKIP() << "transport lacks UCT_IFACE_FLAG_ERRHANDLE_PEER_FAILURE";
    }

    ASSERT_EQ(UCS_OK, retry([&]() { return send_one(); }));
    ASSERT_TRUE(wait_for([&]() { return m_num_received == 1; },
                         "message to the live peer"));
    EXPECT_TRUE(sender().errors().empty()) << "error with a live peer";

    kill_receiver();
    wait_for_error(true, false);
}

TEST_P(uct_peer_failure_test, ep_check_on_live_peer_reports_nothing)
{
    if (!sender().has_cap(UCT_IFACE_FLAG_EP_CHECK)) {
        GTEST_SKIP() << "transport lacks UCT_IFACE_FLAG_EP_CHECK";
    }

    for (int i = 0; i < 10; ++i) {
        ucs_status_t status = retry([&]() {
            return uct_ep_check(m_ep, 0, NULL);
        });
        ASSERT_EQ(UCS_OK, status) << "uct_ep_check: " << status_str(status);
    }

    /* The endpoint still works, and nothing was reported */
    ASSERT_EQ(UCS_OK, retry([&]() { return send_one(); }));
    ASSERT_TRUE(wait_for([&]() { return m_num_received == 1; },
                         "message after ep_check"));
    flush_ep(sender(), m_ep);
    EXPECT_TRUE(sender().errors().empty()) << "error with a live peer";
}

TEST_P(uct_peer_failure_test, ep_check_on_closed_peer_reports_error)
{
    if (!sender().has_cap(UCT_IFACE_FLAG_EP_CHECK |
                          UCT_IFACE_FLAG_ERRHANDLE_PEER_FAILURE)) {
        GTEST_SKIP() << "transport lacks UCT_IFACE_FLAG_EP_CHECK or "
                        "UCT_IFACE_FLAG_ERRHANDLE_PEER_FAILURE";
    }

    kill_receiver();
    wait_for_error(false, true);
}

RSAGG_INSTANTIATE_P2P(uct_peer_failure_test);

} // namespace rsagg_test
