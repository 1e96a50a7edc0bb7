/*
 * Input that rsagg must refuse: transfers built by hand as a peer with a
 * broken rsagg would send them, ring tables outside a granted slice, and
 * puts outside their region.
 */

#include "rsagg_aggregation.h"

#include <ucs/rsagg_builder.h>

namespace rsagg_test {

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


INSTANTIATE_TEST_SUITE_P(rsagg, rsagg_wire_input_test,
                         testing::ValuesIn(agg_params()), agg_param_name);

} // namespace rsagg_test
