/*
 * Aggregation itself: the eps to one peer share one inner connection, a
 * random mix of operations keeps every ep's order and data, the counters
 * count what the caller sees, and a flush sends what is batched.
 */

#include "rsagg_aggregation.h"

#include <algorithm>
#include <random>

namespace rsagg_test {

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

} // namespace rsagg_test
