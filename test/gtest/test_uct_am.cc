/*
 * Active messages: data integrity per send flavor and size, ordering per
 * endpoint, AM ids, and receive descriptors kept by the user.
 *
 * Every receive waits with progress only (no flush), so a transport that
 * holds messages back until a flush fails here: a user cannot be required to
 * flush to get a message delivered.
 */

#include "uct_test.h"

#include <string.h>

#include <algorithm>

namespace rsagg_test {

namespace {

enum am_flavor {
    AM_SHORT,
    AM_SHORT_IOV,
    AM_BCOPY,
    AM_ZCOPY
};

const char *flavor_name(am_flavor flavor)
{
    switch (flavor) {
    case AM_SHORT:     return "am_short";
    case AM_SHORT_IOV: return "am_short_iov";
    case AM_BCOPY:     return "am_bcopy";
    case AM_ZCOPY:     return "am_zcopy";
    }
    return "?";
}

/* One received message, copied in the handler */
struct received_msg {
    std::vector<uint8_t> data;
    unsigned             flags;
};

} // namespace


class uct_am_test : public uct_p2p_test {
protected:
    bool flavor_supported(am_flavor flavor)
    {
        switch (flavor) {
        case AM_SHORT:
        case AM_SHORT_IOV:
            return sender().has_cap(UCT_IFACE_FLAG_AM_SHORT);
        case AM_BCOPY:
            return sender().has_cap(UCT_IFACE_FLAG_AM_BCOPY);
        case AM_ZCOPY:
            return sender().has_cap(UCT_IFACE_FLAG_AM_ZCOPY);
        }
        return false;
    }

    /* Message sizes, as the receiver sees them, that the flavor can send */
    void size_range(am_flavor flavor, size_t *min_p, size_t *max_p)
    {
        const uct_iface_attr_t &attr = sender().attr();
        *min_p = *max_p = 0;
        switch (flavor) {
        case AM_SHORT:
            *min_p = sizeof(uint64_t); /* the header is part of the data */
            *max_p = attr.cap.am.max_short;
            break;
        case AM_SHORT_IOV:
            *min_p = 0;
            *max_p = attr.cap.am.max_short;
            break;
        case AM_BCOPY:
            *min_p = 0;
            *max_p = attr.cap.am.max_bcopy;
            break;
        case AM_ZCOPY:
            *min_p = attr.cap.am.min_zcopy;
            *max_p = attr.cap.am.max_zcopy;
            break;
        }
    }

    ucs_status_t send(am_flavor flavor, uct_ep_h ep, uint8_t id,
                      const std::vector<uint8_t> &msg)
    {
        switch (flavor) {
        case AM_SHORT:
            return send_am_short(ep, id, msg);
        case AM_SHORT_IOV:
            return send_am_short_iov(ep, id, msg);
        case AM_BCOPY:
            return send_am_bcopy(ep, id, msg);
        case AM_ZCOPY:
            return send_am_zcopy(ep, id, msg);
        }
        return UCS_ERR_INVALID_PARAM;
    }

    /* Receiver keeps a copy of every message on TEST_AM_ID */
    void record_messages(entity &e)
    {
        e.set_am_handler(TEST_AM_ID,
                         [this](void *data, size_t length, unsigned flags) {
            received_msg msg;
            msg.data.assign((uint8_t*)data, (uint8_t*)data + length);
            msg.flags = flags;
            m_received.push_back(msg);
            return UCS_OK;
        });
    }

    /*
     * Sends one message of every sample size with one flavor, each checked
     * byte for byte on arrival, then checks nothing extra arrived.
     */
    void test_integrity(am_flavor flavor)
    {
        if (!flavor_supported(flavor)) {
            GTEST_SKIP() << "transport does not support "
                         << flavor_name(flavor);
        }

        size_t min_size, max_size;
        size_range(flavor, &min_size, &max_size);
        ASSERT_LE(min_size, max_size) << flavor_name(flavor) << " size range";

        record_messages(receiver());
        uct_ep_h ep = connect(sender(), receiver());

        std::vector<size_t> sizes = sample_sizes(min_size, max_size);
        for (size_t i = 0; i < sizes.size(); ++i) {
            std::vector<uint8_t> msg = make_pattern(sizes[i], i);
            ucs_status_t status      = retry([&]() {
                return send(flavor, ep, TEST_AM_ID, msg);
            });

            if ((status == UCS_ERR_UNSUPPORTED) && (i == 0)) {
                GTEST_SKIP() << flavor_name(flavor) << " returned "
                             << status_str(status);
            }
            ASSERT_EQ(UCS_OK, status) << flavor_name(flavor) << " of "
                                      << sizes[i] << " bytes: "
                                      << status_str(status);
            ASSERT_TRUE(wait_for([&]() { return m_received.size() > i; },
                                 std::string(flavor_name(flavor)) + " of " +
                                 std::to_string(sizes[i]) + " bytes"));

            const std::vector<uint8_t> &got = m_received[i].data;
            ASSERT_EQ(msg.size(), got.size())
                    << flavor_name(flavor) << " length";
            ASSERT_EQ(-1, first_difference(msg, got))
                    << flavor_name(flavor) << " of " << sizes[i]
                    << " bytes: first differing byte";
        }

        flush_ep(sender(), ep);
        for (int i = 0; i < 100; ++i) {
            progress();
        }
        EXPECT_EQ(sizes.size(), m_received.size())
                << "messages received vs sent (duplicates?)";
    }

    std::vector<received_msg> m_received;
};


TEST_P(uct_am_test, short_data_arrives_intact_for_all_sizes)
{
    test_integrity(AM_SHORT);
}

TEST_P(uct_am_test, short_iov_data_arrives_intact_for_all_sizes)
{
    test_integrity(AM_SHORT_IOV);
}

TEST_P(uct_am_test, bcopy_data_arrives_intact_for_all_sizes)
{
    test_integrity(AM_BCOPY);
}

TEST_P(uct_am_test, zcopy_data_arrives_intact_for_all_sizes)
{
    test_integrity(AM_ZCOPY);
}

/*
 * Every user AM id reaches the handler of that id: all ids below the ones
 * rsagg reserves for its own protocol on the inner iface.
 */
TEST_P(uct_am_test, each_am_id_reaches_its_own_handler)
{
    const unsigned num_ids = RSAGG_NUM_USER_AM_IDS;
    std::vector<std::vector<uint8_t> > got(num_ids);

    for (unsigned id = 0; id < num_ids; ++id) {
        receiver().set_am_handler(id,
                                  [&got, id](void *data, size_t length,
                                             unsigned) {
            got[id].assign((uint8_t*)data, (uint8_t*)data + length);
            return UCS_OK;
        });
    }

    uct_ep_h ep = connect(sender(), receiver());
    /* connect() replaced the handler of the wire-up id; restore ours */
    receiver().set_am_handler(WIREUP_AM_ID,
                              [&got](void *data, size_t length, unsigned) {
        got[WIREUP_AM_ID].assign((uint8_t*)data, (uint8_t*)data + length);
        return UCS_OK;
    });

    am_flavor flavor = sender().has_cap(UCT_IFACE_FLAG_AM_SHORT) ? AM_SHORT :
                                                                   AM_BCOPY;
    for (unsigned id = 0; id < num_ids; ++id) {
        std::vector<uint8_t> msg = make_pattern(16, 1000 + id);
        ASSERT_EQ(UCS_OK, retry([&]() { return send(flavor, ep, id, msg); }))
                << "am id " << id;
    }

    ASSERT_TRUE(wait_for([&]() {
        for (unsigned id = 0; id < num_ids; ++id) {
            if (got[id].empty()) {
                return false;
            }
        }
        return true;
    }, "a message on every am id"));

    for (unsigned id = 0; id < num_ids; ++id) {
        EXPECT_EQ(make_pattern(16, 1000 + id), got[id]) << "am id " << id;
    }
}

/* Bad input is rejected with an error status, it does not crash */
TEST_P(uct_am_test, am_id_out_of_range_is_an_error)
{
    if (!sender().has_cap(UCT_IFACE_FLAG_AM_SHORT)) {
        GTEST_SKIP() << "transport does not support am_short";
    }

    uct_ep_h ep = connect(sender(), receiver());
    uint64_t header = 0;

    ucs_status_t status = uct_ep_am_short(ep, UCT_AM_ID_MAX, header, NULL, 0);
    EXPECT_LT(status, UCS_OK) << "am_short with id " << UCT_AM_ID_MAX
                              << " returned " << status_str(status);
    EXPECT_NE(UCS_ERR_NO_RESOURCE, status);
}

TEST_P(uct_am_test, short_longer_than_max_short_is_an_error)
{
    if (!sender().has_cap(UCT_IFACE_FLAG_AM_SHORT)) {
        GTEST_SKIP() << "transport does not support am_short";
    }

    record_messages(receiver());
    uct_ep_h ep = connect(sender(), receiver());
    size_t length = sender().attr().cap.am.max_short - sizeof(uint64_t) + 1;
    std::vector<uint8_t> payload(length, 0x5a);

    ucs_status_t status = uct_ep_am_short(ep, TEST_AM_ID, 0, &payload[0],
                                          length);
    EXPECT_LT(status, UCS_OK) << "am_short of max_short + 1 bytes returned "
                              << status_str(status);
    EXPECT_NE(UCS_ERR_NO_RESOURCE, status);

    for (int i = 0; i < 100; ++i) {
        progress();
    }
    EXPECT_TRUE(m_received.empty()) << "rejected message was delivered";
}


/*
 * Per-endpoint ordering: several senders, several endpoints each, all to one
 * receiver iface. Every message carries (endpoint index, sequence number);
 * each endpoint's messages must arrive in sequence, with the flavors and
 * sizes mixed so small (batchable) and large messages interleave.
 */
class uct_am_order_test : public uct_am_test {
protected:
    static constexpr unsigned NUM_SENDERS     = 2;
    static constexpr unsigned EPS_PER_SENDER  = 3;
    static constexpr unsigned MSGS_PER_EP     = 200;

    struct sender_ep {
        entity   *owner;
        uct_ep_h ep;
        uint32_t next_seq;
    };

    void SetUp() override
    {
        uct_am_test::SetUp();
        if (IsSkipped() || HasFatalFailure()) {
            return;
        }

        for (unsigned s = 0; s < NUM_SENDERS; ++s) {
            entity &from = (s == 0) ? sender() : create_entity();
            for (unsigned e = 0; e < EPS_PER_SENDER; ++e) {
                sender_ep sep = {&from, connect(from, receiver()), 0};
                m_eps.push_back(sep);
            }
        }

        for (size_t i = 0; i < sizeof(m_all_flavors) / sizeof(m_all_flavors[0]);
             ++i) {
            if (flavor_supported(m_all_flavors[i])) {
                m_flavors.push_back(m_all_flavors[i]);
            }
        }

        m_expected_seq.assign(m_eps.size(), 0);
        receiver().set_am_handler(TEST_AM_ID,
                                  [this](void *data, size_t length,
                                         unsigned) {
            check_message((const uint8_t*)data, length);
            return UCS_OK;
        });
    }

    std::vector<uint8_t> message(uint32_t ep_index, uint32_t seq,
                                 am_flavor flavor)
    {
        static constexpr size_t lengths[] = {8, 24, 64, 200, 1000, 3000, 8, 16};
        size_t min_size, max_size;
        size_range(flavor, &min_size, &max_size);

        size_t length = lengths[(seq + ep_index) %
                                (sizeof(lengths) / sizeof(lengths[0]))];
        length = std::max(std::min(length, max_size),
                          std::max(min_size, (size_t)8));

        std::vector<uint8_t> msg = make_pattern(length,
                                                ep_index * 100000 + seq);
        memcpy(&msg[0], &ep_index, sizeof(ep_index));
        memcpy(&msg[4], &seq, sizeof(seq));
        return msg;
    }

    void check_message(const uint8_t *data, size_t length)
    {
        uint32_t ep_index, seq;

        ++m_num_received;
        if (length < 8) {
            record_error("message of " + std::to_string(length) + " bytes");
            return;
        }

        memcpy(&ep_index, data, sizeof(ep_index));
        memcpy(&seq, data + 4, sizeof(seq));
        if (ep_index >= m_expected_seq.size()) {
            record_error("bad ep index " + std::to_string(ep_index));
            return;
        }

        if (seq != m_expected_seq[ep_index]) {
            record_error("ep " + std::to_string(ep_index) + ": got seq " +
                         std::to_string(seq) + ", expected " +
                         std::to_string(m_expected_seq[ep_index]));
        }
        m_expected_seq[ep_index] = seq + 1;

        std::vector<uint8_t> expected = make_pattern(length,
                                                     ep_index * 100000 + seq);
        if (memcmp(&expected[8], data + 8, length - 8) != 0) {
            record_error("ep " + std::to_string(ep_index) + " seq " +
                         std::to_string(seq) + ": payload corrupted");
        }
    }

    void record_error(const std::string &error)
    {
        if (m_errors.size() < 10) {
            m_errors.push_back(error);
        }
        ++m_num_errors;
    }

    void send_next(unsigned ep_index)
    {
        sender_ep &sep   = m_eps[ep_index];
        uint32_t seq     = sep.next_seq++;
        am_flavor flavor = m_flavors[(seq / 3 + ep_index) % m_flavors.size()];
        std::vector<uint8_t> msg = message(ep_index, seq, flavor);

        ucs_status_t status = retry([&]() {
            return send(flavor, sep.ep, TEST_AM_ID, msg);
        });
        ASSERT_EQ(UCS_OK, status) << flavor_name(flavor) << " ep " << ep_index
                                  << " seq " << seq;
    }

    void wait_all_and_check()
    {
        size_t total = m_eps.size() * MSGS_PER_EP;
        ASSERT_TRUE(wait_for([&]() { return m_num_received >= total; },
                             "all messages of all endpoints"));

        for (size_t i = 0; i < m_errors.size(); ++i) {
            ADD_FAILURE() << m_errors[i];
        }
        EXPECT_EQ(0u, m_num_errors) << "ordering/integrity errors";
        EXPECT_EQ(total, m_num_received);
        for (size_t i = 0; i < m_eps.size(); ++i) {
            EXPECT_EQ(MSGS_PER_EP, m_expected_seq[i]) << "ep " << i;
        }
    }

    const am_flavor m_all_flavors[3] = {AM_SHORT, AM_BCOPY, AM_ZCOPY};
    std::vector<am_flavor>   m_flavors;
    std::vector<sender_ep>   m_eps;
    std::vector<uint32_t>    m_expected_seq;
    std::vector<std::string> m_errors;
    size_t                   m_num_received = 0;
    size_t                   m_num_errors   = 0;
};

TEST_P(uct_am_order_test, interleaved_endpoints_keep_per_ep_order)
{
    for (unsigned seq = 0; seq < MSGS_PER_EP; ++seq) {
        for (unsigned i = 0; i < m_eps.size(); ++i) {
            ASSERT_NO_FATAL_FAILURE(send_next(i));
        }
    }
    wait_all_and_check();
}

TEST_P(uct_am_order_test, bursts_per_endpoint_keep_per_ep_order)
{
    for (unsigned i = 0; i < m_eps.size(); ++i) {
        for (unsigned seq = 0; seq < MSGS_PER_EP; ++seq) {
            ASSERT_NO_FATAL_FAILURE(send_next(i));
        }
    }
    wait_all_and_check();
}


/*
 * Receive descriptors: when the handler gets UCT_CB_PARAM_FLAG_DESC it may
 * keep the data by returning UCS_INPROGRESS, and may use the rx_headroom bytes
 * in front of it, until uct_iface_release_desc().
 */
class uct_am_desc_test : public uct_am_test {
protected:
    static constexpr size_t HEADROOM = 32;
    static constexpr unsigned NUM_MSGS = 32;

    struct kept_desc {
        uint8_t *data;
        size_t   length;
        unsigned seq;
    };

    entity::options entity_options() const override
    {
        entity::options opts;
        opts.rx_headroom = HEADROOM;
        return opts;
    }

    /* Sizes and flavors most likely to be delivered in a descriptor */
    void send_messages(uct_ep_h ep, unsigned first_seq)
    {
        std::vector<am_flavor> flavors;
        if (flavor_supported(AM_BCOPY)) {
            flavors.push_back(AM_BCOPY);
        }
        if (flavor_supported(AM_ZCOPY)) {
            flavors.push_back(AM_ZCOPY);
        }
        if (flavor_supported(AM_SHORT)) {
            flavors.push_back(AM_SHORT);
        }
        ASSERT_FALSE(flavors.empty());

        for (unsigned i = 0; i < NUM_MSGS; ++i) {
            unsigned seq     = first_seq + i;
            am_flavor flavor = flavors[i % flavors.size()];
            size_t min_size, max_size;
            size_range(flavor, &min_size, &max_size);
            size_t length = (i & 1) ? max_size :
                            std::max(min_size, (size_t)(8 + i));
            std::vector<uint8_t> msg = make_pattern(length, seq);
            ASSERT_EQ(UCS_OK, retry([&]() {
                return send(flavor, ep, TEST_AM_ID, msg);
            })) << flavor_name(flavor);
            m_lengths[seq] = length;
        }
    }

    static void fill_headroom(uint8_t *data)
    {
        memset(data - HEADROOM, 0xa5, HEADROOM);
    }

    static bool headroom_intact(const uint8_t *data)
    {
        for (size_t i = 1; i <= HEADROOM; ++i) {
            if (data[-(ssize_t)i] != 0xa5) {
                return false;
            }
        }
        return true;
    }

    std::map<unsigned, size_t> m_lengths;
};

TEST_P(uct_am_desc_test, kept_descriptor_stays_intact_until_released)
{
    std::vector<kept_desc> kept;
    unsigned seq = 0;
    bool keep    = true;
    size_t num_received = 0;

    receiver().set_am_handler(TEST_AM_ID,
                              [&](void *data, size_t length, unsigned flags) {
        ++num_received;
        unsigned this_seq = seq++;
        if (keep && (flags & UCT_CB_PARAM_FLAG_DESC)) {
            kept_desc desc = {(uint8_t*)data, length, this_seq};
            fill_headroom(desc.data);
            kept.push_back(desc);
            return UCS_INPROGRESS;
        }
        return UCS_OK;
    });

    uct_ep_h ep = connect(sender(), receiver());
    ASSERT_NO_FATAL_FAILURE(send_messages(ep, 0));
    ASSERT_TRUE(wait_for([&]() { return num_received == NUM_MSGS; },
                         "first batch of messages"));

    if (kept.empty()) {
        GTEST_SKIP() << "transport passed no message with "
                        "UCT_CB_PARAM_FLAG_DESC";
    }

    /* More traffic, so a transport reusing kept buffers would overwrite */
    keep = false;
    ASSERT_NO_FATAL_FAILURE(send_messages(ep, NUM_MSGS));
    ASSERT_TRUE(wait_for([&]() { return num_received == 2 * NUM_MSGS; },
                         "second batch of messages"));

    for (size_t i = 0; i < kept.size(); ++i) {
        std::vector<uint8_t> expected = make_pattern(
                m_lengths[kept[i].seq], kept[i].seq);
        std::vector<uint8_t> got(kept[i].data, kept[i].data + kept[i].length);
        EXPECT_EQ(-1, first_difference(expected, got))
                << "kept message " << kept[i].seq << " of " << got.size()
                << " bytes changed before release";
        EXPECT_TRUE(headroom_intact(kept[i].data))
                << "headroom of kept message " << kept[i].seq << " changed";
        uct_iface_release_desc(kept[i].data - HEADROOM);
    }
}

TEST_P(uct_am_desc_test, rx_headroom_is_writable_without_touching_data)
{
    size_t num_received = 0, num_desc = 0, num_bad = 0;
    unsigned seq = 0;

    receiver().set_am_handler(TEST_AM_ID,
                              [&](void *data, size_t length, unsigned flags) {
        ++num_received;
        unsigned this_seq = seq++;
        if (flags & UCT_CB_PARAM_FLAG_DESC) {
            ++num_desc;
            fill_headroom((uint8_t*)data);
            std::vector<uint8_t> expected = make_pattern(m_lengths[this_seq],
                                                         this_seq);
            if ((length != expected.size()) ||
                ((length > 0) && memcmp(&expected[0], data, length))) {
                ++num_bad;
            }
        }
        return UCS_OK;
    });

    uct_ep_h ep = connect(sender(), receiver());
    ASSERT_NO_FATAL_FAILURE(send_messages(ep, 0));
    ASSERT_TRUE(wait_for([&]() { return num_received == NUM_MSGS; },
                         "messages"));

    if (num_desc == 0) {
        GTEST_SKIP() << "transport passed no message with "
                        "UCT_CB_PARAM_FLAG_DESC";
    }
    EXPECT_EQ(0u, num_bad) << "writing " << HEADROOM
                           << " headroom bytes changed the data of "
                           << num_bad << " of " << num_desc << " messages";
}


RSAGG_INSTANTIATE_P2P(uct_am_test);
RSAGG_INSTANTIATE_P2P(uct_am_order_test);
RSAGG_INSTANTIATE_P2P(uct_am_desc_test);

} // namespace rsagg_test
