/*
 * The receiver's ring: out-of-band payloads go through it once a slice is
 * granted, credits bound a sender to its slice, and a released slice
 * serves the next sender.
 */

#include "rsagg_aggregation.h"

namespace rsagg_test {

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

} // namespace rsagg_test
