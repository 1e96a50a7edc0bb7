/*
 * UCT promises kept under cancel, failure and misuse (issue 11).
 *
 * Every test runs on the inner transports alone too, where the promise is
 * the inner transport's: an aggregating transport must keep it although
 * several endpoints share one inner connection and messages wait in
 * batches. Tests that check a limit only rsagg has say so and skip
 * elsewhere.
 */

#include "uct_test.h"

#include <string.h>
#include <time.h>

#include <algorithm>
#include <memory>

namespace rsagg_test {

class uct_reliability_test : public uct_p2p_test {
protected:
    entity::options entity_options() const override
    {
        entity::options opts;
        opts.err_handler = true;
        return opts;
    }

    /* Collects (seq, bytes) of TEST_AM_ID messages: the first 4 bytes of a
     * message are its sequence number */
    void collect_messages()
    {
        receiver().set_am_handler(TEST_AM_ID,
                                  [this](void *data, size_t length,
                                         unsigned) {
            m_received.push_back(std::vector<uint8_t>((uint8_t*)data,
                                                      (uint8_t*)data +
                                                      length));
            return UCS_OK;
        });
    }

    static uint32_t seq_of(const std::vector<uint8_t> &msg)
    {
        uint32_t seq;
        memcpy(&seq, msg.data(), sizeof(seq));
        return seq;
    }

    std::vector<std::vector<uint8_t> > m_received;
};


/*
 * UCP cancels one ep's operations (flush with UCT_FLUSH_FLAG_CANCEL) when it
 * closes that ep by force or after an error. Where eps share one inner
 * connection, the cancel must leave the other eps' messages alone: each
 * arrives whole, and each of their zero-copy sends completes successfully.
 */
TEST_P(uct_reliability_test, cancel_on_one_ep_leaves_its_siblings_byte_exact)
{
    static constexpr unsigned MAX_MSGS = 4096;

    if (mode() != CONNECT_TO_IFACE) {
        GTEST_SKIP() << "eps connected to eps have a connection each";
    }
    RSAGG_REQUIRE_CAP(sender(), UCT_IFACE_FLAG_AM_ZCOPY);
    collect_messages();

    uct_ep_h ep      = connect(sender(), receiver());
    uct_ep_h sibling = connect(sender(), receiver());
    size_t length    = std::min<size_t>(sender().attr().cap.am.max_zcopy -
                                        sizeof(uint32_t), 64 * 1024);
    mapped_buffer buf(sender(), length);
    buf.fill(make_pattern(length, 7));

    /* The sibling sends until the inner connection is full: one zero-copy
     * message is then in the middle of being written */
    std::vector<test_completion> comps(MAX_MSGS);
    unsigned sent = 0;
    for (; sent < MAX_MSGS; ++sent) {
        uint64_t header = sent;
        uct_iov_t iov   = {buf.ptr(), length, buf.memh(), 0, 1};
        comps[sent].expect(1);
        ucs_status_t status = uct_ep_am_zcopy(sibling, TEST_AM_ID, &header,
                                              sizeof(uint32_t), &iov, 1, 0,
                                              &comps[sent].uct);
        if (status == UCS_ERR_NO_RESOURCE) {
            break;
        }
        ASSERT_FALSE(UCS_STATUS_IS_ERR(status)) << status_str(status);
        if (status == UCS_OK) {
            comps[sent].done = 1;
        }
    }
    ASSERT_GT(sent, 0u);

    /* The other ep is cancelled: nothing of it was outstanding */
    test_completion cancel_comp;
    cancel_comp.expect(1);
    ucs_status_t status = uct_ep_flush(ep, UCT_FLUSH_FLAG_CANCEL,
                                       &cancel_comp.uct);
    ASSERT_TRUE((status == UCS_OK) || (status == UCS_INPROGRESS) ||
                (status == UCS_ERR_NO_RESOURCE)) << status_str(status);

    ASSERT_TRUE(wait_for([&]() { return m_received.size() >= sent; },
                         "every message of the sibling ep"));
    for (unsigned i = 0; i < sent; ++i) {
        ASSERT_TRUE(wait_for([&]() { return comps[i].done != 0; },
                             "completion of the sibling's zcopy"));
        EXPECT_EQ(UCS_OK, comps[i].status) << "zcopy " << i << " of the "
                                           << "sibling ep completed with "
                                           << status_str(comps[i].status);
    }

    ASSERT_EQ(sent, m_received.size());
    std::vector<uint8_t> payload = buf.read(0, length);
    for (unsigned i = 0; i < sent; ++i) {
        const std::vector<uint8_t> &msg = m_received[i];
        ASSERT_EQ(sizeof(uint32_t) + length, msg.size()) << "message " << i;
        EXPECT_EQ(i, seq_of(msg)) << "message " << i << " out of order";
        EXPECT_TRUE(std::equal(payload.begin(), payload.end(),
                               msg.begin() + sizeof(uint32_t)))
                << "message " << i << " corrupted";
    }
    sender().destroy_ep(ep);
}

RSAGG_INSTANTIATE_P2P(uct_reliability_test);


} // namespace rsagg_test
