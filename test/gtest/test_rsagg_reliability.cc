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

/*
 * After the peer failed and the error was reported, an iface flush still
 * completes (with success or an error): nothing of the dead peer can leave
 * any more, and UCP waits for the flush before it closes the iface.
 */
TEST_P(uct_reliability_test, iface_flush_completes_after_peer_failure)
{
    RSAGG_REQUIRE_CAP(sender(), UCT_IFACE_FLAG_ERRHANDLE_PEER_FAILURE);
    collect_messages();

    uct_ep_h ep = connect(sender(), receiver());
    destroy_entity(receiver());

    std::vector<uint8_t> msg = make_pattern(64, 1);
    ASSERT_TRUE(wait_for([&]() {
        (void)(sender().has_cap(UCT_IFACE_FLAG_AM_BCOPY) ?
               send_am_bcopy(ep, TEST_AM_ID, msg) :
               send_am_short(ep, TEST_AM_ID, msg));
        return !sender().errors().empty();
    }, "the error handler to report the dead peer",
       [this]() { return sender().progress(); }));

    ucs_status_t status = UCS_INPROGRESS;
    ASSERT_TRUE(wait_for([&]() {
        status = uct_iface_flush(sender().iface(), 0, NULL);
        return status != UCS_INPROGRESS;
    }, "uct_iface_flush to complete", [this]() {
        return sender().progress();
    }));
    EXPECT_NE(UCS_ERR_NO_RESOURCE, status);
}

/*
 * rsagg reports a failed inner connection to every ep that shares it, one
 * after the other: the error handler called for one of them may destroy
 * the others, and none is reported after it was destroyed. (tcp alone does
 * not allow this: destroying an ep in another ep's error callback crashes
 * it, so this runs on rsagg only, whose eps are rsagg's own objects.)
 */
TEST_P(uct_reliability_test, error_handler_may_destroy_the_peers_other_eps)
{
    static constexpr unsigned NUM_EPS = 4;

    if (!res().is_rsagg()) {
        GTEST_SKIP() << "the inner transports crash on this themselves";
    }
    RSAGG_REQUIRE_CAP(sender(), UCT_IFACE_FLAG_ERRHANDLE_PEER_FAILURE);
    if (mode() != CONNECT_TO_IFACE) {
        GTEST_SKIP() << "eps connected to eps have a connection each";
    }
    collect_messages();

    std::vector<uct_ep_h> eps;
    for (unsigned i = 0; i < NUM_EPS; ++i) {
        eps.push_back(connect(sender(), receiver()));
    }

    std::vector<uct_ep_h> reported, destroyed_eps;
    bool destroyed = false;
    sender().set_error_callback([&](uct_ep_h ep, ucs_status_t) {
        EXPECT_TRUE(std::find(destroyed_eps.begin(), destroyed_eps.end(),
                              ep) == destroyed_eps.end())
                << "error reported for destroyed ep " << ep;
        reported.push_back(ep);
        for (uct_ep_h e : eps) {
            if ((e != ep) && !destroyed) {
                sender().destroy_ep(e);
                destroyed_eps.push_back(e);
            }
        }
        destroyed = true;
    });

    destroy_entity(receiver());
    std::vector<uint8_t> msg = make_pattern(64, 2);
    ASSERT_TRUE(wait_for([&]() {
        if (!destroyed) {
            (void)(sender().has_cap(UCT_IFACE_FLAG_AM_BCOPY) ?
                   send_am_bcopy(eps[0], TEST_AM_ID, msg) :
                   send_am_short(eps[0], TEST_AM_ID, msg));
        }
        return destroyed;
    }, "the error handler to report the dead peer",
       [this]() { return sender().progress(); }));

    /* Nothing more comes for the destroyed eps */
    for (unsigned i = 0; i < 100; ++i) {
        sender().progress();
    }
    EXPECT_EQ(1u, reported.size());
}

/*
 * uct_iface_flush with a completion: UCS_INPROGRESS means the completion
 * will be called (a transport may also refuse a completion, with
 * UCS_ERR_UNSUPPORTED: tcp and shared memory do). After an aggregated put
 * the flush waits for the receiver's acknowledgement, and nothing may be
 * promised that never comes.
 */
TEST_P(uct_reliability_test, iface_flush_in_progress_calls_its_completion)
{
    RSAGG_REQUIRE_CAP(sender(), UCT_IFACE_FLAG_PUT_SHORT);

    uct_ep_h ep = connect(sender(), receiver());
    mapped_buffer target(receiver(), 64);
    remote_key rkey(sender(), target);
    std::vector<uint8_t> data = make_pattern(8, 3);

    ASSERT_EQ(UCS_OK, retry([&]() {
        return uct_ep_put_short(ep, data.data(), data.size(), target.addr(),
                                rkey.rkey());
    }));

    test_completion comp;
    comp.expect(1);
    ucs_status_t status = UCS_ERR_NO_RESOURCE;
    ASSERT_TRUE(wait_for([&]() {
        status = uct_iface_flush(sender().iface(), 0, &comp.uct);
        return status != UCS_ERR_NO_RESOURCE;
    }, "uct_iface_flush to start"));
    ASSERT_TRUE((status == UCS_OK) || (status == UCS_INPROGRESS) ||
                (status == UCS_ERR_UNSUPPORTED)) << status_str(status);
    if (status == UCS_INPROGRESS) {
        wait_completion(comp, "the iface flush's completion");
    } else if (status == UCS_ERR_UNSUPPORTED) {
        flush_iface(sender());
    }
    EXPECT_EQ(data, target.read(0, data.size()));
}

/*
 * A zero-length put needs no valid buffer, address or rkey (UCX's own tests
 * send one); it must not crash, and the ep keeps working.
 */
TEST_P(uct_reliability_test, zero_length_put_short_needs_no_rkey)
{
    RSAGG_REQUIRE_CAP(sender(), UCT_IFACE_FLAG_PUT_SHORT);
    collect_messages();

    uct_ep_h ep = connect(sender(), receiver());
    ucs_status_t status = uct_ep_put_short(ep, NULL, 0, 0, 0);
    EXPECT_TRUE((status == UCS_OK) || (status == UCS_ERR_NO_RESOURCE))
            << status_str(status);

    std::vector<uint8_t> msg = make_pattern(16, 4);
    ASSERT_EQ(UCS_OK, retry([&]() {
        return send_am_short(ep, TEST_AM_ID, msg);
    }));
    ASSERT_TRUE(wait_for([&]() { return !m_received.empty(); },
                         "a message after the empty put"));
    EXPECT_EQ(msg, m_received.front());
}

/*
 * A put larger than the max_short rsagg reports is refused, not applied:
 * rsagg's own put (aggregated, over an inner transport without one) has
 * only the room of half a batch. (A shared-memory put is a store with no
 * such limit, and tcp has no put.)
 */
TEST_P(uct_reliability_test, put_short_above_max_short_is_refused)
{
    if (!res().is_rsagg() ||
        !sender().has_cap(UCT_IFACE_FLAG_PUT_SHORT)) {
        GTEST_SKIP() << "the limit is checked by rsagg's aggregated put";
    }

    size_t max_short = sender().attr().cap.put.max_short;
    if (max_short > (1u << 20)) {
        GTEST_SKIP() << "puts are the inner transport's stores, max_short "
                     << max_short;
    }

    uct_ep_h ep = connect(sender(), receiver());
    mapped_buffer target(receiver(), max_short + 64);
    remote_key rkey(sender(), target);
    std::vector<uint8_t> data = make_pattern(max_short + 1, 5);
    target.fill(std::vector<uint8_t>(target.size(), 0));

    ucs_status_t status = uct_ep_put_short(ep, data.data(), data.size(),
                                           target.addr(), rkey.rkey());
    if (status == UCS_OK) {
        /* Let a wrongly taken put land, so that the check below sees it */
        flush_ep(sender(), ep);
    }
    EXPECT_EQ(UCS_ERR_INVALID_PARAM, status)
            << "put of " << data.size() << " bytes, max_short " << max_short;
    EXPECT_EQ(std::vector<uint8_t>(data.size(), 0),
              target.read(0, data.size()));
}

RSAGG_INSTANTIATE_P2P(uct_reliability_test);


/*
 * Interface parameters rsagg cannot honour are refused at open, as UCT's
 * own transports do: an alignment that is not a power of two, an alignment
 * offset without an alignment, or one not below it.
 */
class rsagg_iface_params_test : public testing::TestWithParam<resource> {
};

TEST_P(rsagg_iface_params_test, invalid_am_alignment_is_refused)
{
    const resource &res = GetParam();
    RSAGG_SKIP_IF_ABSENT(res);

    static const struct {
        size_t   alignment;
        size_t   offset;
        uint64_t fields;
    } cases[] = {
        {0, 0, UCT_IFACE_PARAM_FIELD_AM_ALIGNMENT},
        {3, 1, UCT_IFACE_PARAM_FIELD_AM_ALIGNMENT},
        {0, 11, UCT_IFACE_PARAM_FIELD_AM_ALIGN_OFFSET},
        {8, 8, UCT_IFACE_PARAM_FIELD_AM_ALIGNMENT |
               UCT_IFACE_PARAM_FIELD_AM_ALIGN_OFFSET}
    };

    entity e(res);
    for (const auto &c : cases) {
        uct_iface_config_t *config;
        ASSERT_EQ(UCS_OK, uct_md_iface_config_read(e.md(),
                                                   res.tl_name.c_str(), NULL,
                                                   NULL, &config));
        uct_iface_params_t params;
        memset(&params, 0, sizeof(params));
        params.field_mask           = UCT_IFACE_PARAM_FIELD_OPEN_MODE |
                                      UCT_IFACE_PARAM_FIELD_DEVICE |
                                      c.fields;
        params.open_mode            = UCT_IFACE_OPEN_MODE_DEVICE;
        params.mode.device.tl_name  = res.tl_name.c_str();
        params.mode.device.dev_name = res.dev_name.c_str();
        params.am_alignment         = c.alignment;
        params.am_align_offset      = c.offset;

        uct_iface_h iface   = NULL;
        ucs_status_t status = uct_iface_open(e.md(), e.worker(), &params,
                                             config, &iface);
        uct_config_release(config);
        if (status == UCS_OK) {
            uct_iface_close(iface);
        }
        EXPECT_EQ(UCS_ERR_INVALID_PARAM, status)
                << "alignment " << c.alignment << " offset " << c.offset;
    }
}

INSTANTIATE_TEST_SUITE_P(uct, rsagg_iface_params_test,
                         testing::ValuesIn(rsagg_resources()),
                         resource_param_name);


/*
 * A batched message waits a bounded time (UCX_RSAGG_MAX_DELAY), even when
 * its sender keeps appending to the batch between progress calls, so that
 * the batch keeps growing and would otherwise stay open until full.
 */
class rsagg_delay_test : public uct_p2p_test {
protected:
    rsagg_delay_test() : m_delay("UCX_RSAGG_MAX_DELAY", "1ms") {}

private:
    scoped_env m_delay;
};

TEST_P(rsagg_delay_test, batch_age_is_bounded_while_its_sender_appends)
{
    static constexpr unsigned ROUNDS = 40;

    if (!res().is_rsagg()) {
        GTEST_SKIP() << "only rsagg batches";
    }
    RSAGG_REQUIRE_CAP(sender(), UCT_IFACE_FLAG_AM_SHORT);

    size_t received = 0;
    receiver().set_am_handler(TEST_AM_ID, [&](void*, size_t, unsigned) {
        ++received;
        return UCS_OK;
    });
    uct_ep_h ep = connect(sender(), receiver());

    /* Two messages per round, one progress per round, 2 ms apart */
    std::vector<uint8_t> msg = make_pattern(8, 6);
    for (unsigned round = 0; round < ROUNDS; ++round) {
        for (unsigned i = 0; i < 2; ++i) {
            ASSERT_EQ(UCS_OK, retry([&]() {
                return send_am_short(ep, TEST_AM_ID, msg);
            }));
        }
        sender().progress();
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        for (unsigned i = 0; i < 10; ++i) {
            receiver().progress();
        }
    }

    /* Every batch but the last few left within its bound */
    EXPECT_GE(received, 2 * (ROUNDS - 4))
            << "messages received in " << ROUNDS << " rounds of 2";
}

RSAGG_INSTANTIATE_P2P(rsagg_delay_test);

} // namespace rsagg_test
