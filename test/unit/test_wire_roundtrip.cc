/*
 * rsagg wire format: what the builder writes, the parser accepts and hands
 * back unchanged, in both forms of the multiplexing information.
 */

#include "wire_test_util.h"

#include <uct/api/uct_def.h>

using namespace rsagg_wire_test;


TEST(rsagg_wire_ids, reserved_ids_are_valid_inner_am_ids_above_user_ids)
{
    const unsigned reserved[] = {
        UCS_RSAGG_AM_ID_BATCH, UCS_RSAGG_AM_ID_OOB_TABLE,
        UCS_RSAGG_AM_ID_OOB_PAYLOAD, UCS_RSAGG_AM_ID_CTRL
    };

    /* the inner iface must accept a handler for each of them */
    EXPECT_EQ(unsigned(UCT_AM_ID_MAX), unsigned(UCS_RSAGG_INNER_AM_ID_MAX));
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_LT(reserved[i], unsigned(UCT_AM_ID_MAX));
        EXPECT_GE(reserved[i], unsigned(UCS_RSAGG_AM_ID_USER_MAX));
        for (size_t j = 0; j < i; ++j) {
            EXPECT_NE(reserved[i], reserved[j]);
        }
    }
    /* an am id must fit in the 6 bits of an AM record */
    EXPECT_LE(unsigned(UCS_RSAGG_AM_ID_USER_MAX),
              unsigned(UCS_RSAGG_REC_LOW_MASK) + 1);
}


TEST(rsagg_wire_roundtrip, am_short_is_delivered_as_header_then_payload)
{
    uint8_t buf[256];
    const uint64_t header = 0x1122334455667788ull;
    const char payload[]  = "abc";
    ucs_rsagg_builder_t b = {};
    test_policy policy;

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, buf, sizeof(buf), 7));
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_add_am_short(&b, 0, 3, header,
                                                     payload, 3));
    size_t length = ucs_rsagg_builder_finish(&b, NULL);

    received r = receive_batch(buf, length, policy);
    EXPECT_ACCEPTED(r);
    ASSERT_EQ(1u, r.msgs.size());
    EXPECT_EQ(1u, r.msg_count);

    /* the handler sees the header in host order, as from a UCT transport */
    bytes expected(sizeof(header) + 3);
    memcpy(&expected[0], &header, sizeof(header));
    memcpy(&expected[sizeof(header)], payload, 3);
    EXPECT_EQ(message::am(0, 3, expected), r.msgs[0]);
}


TEST(rsagg_wire_roundtrip, am_short_without_payload_accepts_null)
{
    uint8_t buf[64];
    ucs_rsagg_builder_t b = {};
    test_policy policy;

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, buf, sizeof(buf), 1));
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_add_am_short(&b, 0, 1, 42, NULL, 0));
    received r = receive_batch(buf, ucs_rsagg_builder_finish(&b, NULL),
                               policy);
    EXPECT_ACCEPTED(r);
    ASSERT_EQ(1u, r.msgs.size());
    EXPECT_EQ(sizeof(uint64_t), r.msgs[0].payload.size());
}


TEST(rsagg_wire_roundtrip, eight_byte_am_costs_at_most_four_bytes_of_record)
{
    uint8_t buf[8192];
    ucs_rsagg_builder_t b = {};
    unsigned n = 0;
    size_t before;

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, buf, sizeof(buf), 1));

    /* ucx_perftest's 8-byte am_short: all 8 bytes in the header */
    for (;;) {
        before = ucs_rsagg_builder_length(&b);
        if (ucs_rsagg_builder_add_am_short(&b, 5, 1, n, NULL, 0) != UCS_OK) {
            break;
        }
        size_t cost = ucs_rsagg_builder_length(&b) - before;
        if (n == 0) {
            /* the first record of ep 5 switches from the initial ep 0 */
            EXPECT_EQ(UCS_RSAGG_REC_EP_SIZE + 8 + UCS_RSAGG_REC_AM8_SIZE,
                      cost);
        } else {
            EXPECT_LE(cost - 8, 4u) << "record overhead of message " << n;
            EXPECT_EQ(8u + UCS_RSAGG_REC_AM8_SIZE, cost);
        }
        ++n;
    }

    size_t length = ucs_rsagg_builder_finish(&b, NULL);
    ASSERT_GT(n, 0u);
    /* a full batch, its header and EP record included */
    EXPECT_LE(double(length) / n, 12.0) << n << " messages in " << length
                                        << " bytes";
    /* and it is full: not even a 0-byte AM record would fit */
    EXPECT_LT(sizeof(buf) - length, size_t(UCS_RSAGG_REC_AM8_SIZE + 8));
}


TEST(rsagg_wire_roundtrip, consecutive_records_of_one_ep_carry_no_ep_id)
{
    std::vector<message> one_ep, two_eps;
    for (unsigned i = 0; i < 3; ++i) {
        one_ep.push_back(message::am(7, 1, pattern(8, i)));
    }
    two_eps = one_ep;
    two_eps.push_back(message::am(9, 1, pattern(8, 3)));

    transfer t1 = build_embedded(one_ep);
    transfer t2 = build_embedded(two_eps);

    /* one switch from the initial ep 0 to ep 7, then none */
    EXPECT_EQ(UCS_RSAGG_HDR_SIZE + UCS_RSAGG_REC_EP_SIZE +
              3 * (UCS_RSAGG_REC_AM8_SIZE + 8), t1.length);
    /* another ep costs one EP record more */
    EXPECT_EQ(t1.length + UCS_RSAGG_REC_EP_SIZE + UCS_RSAGG_REC_AM8_SIZE + 8,
              t2.length);
}


TEST(rsagg_wire_roundtrip, ep_0_needs_no_ep_record)
{
    transfer t = build_embedded(std::vector<message>(
            1, message::am(0, 1, pattern(8, 0))));
    EXPECT_EQ(UCS_RSAGG_HDR_SIZE + UCS_RSAGG_REC_AM8_SIZE + 8, t.length);
}


TEST(rsagg_wire_roundtrip, records_keep_their_originating_ep)
{
    const uint32_t eps[] = {0, 0, 5, 5, 0, 9, 1000, 9};
    std::vector<message> msgs;
    test_policy policy;

    for (unsigned i = 0; i < sizeof(eps) / sizeof(eps[0]); ++i) {
        msgs.push_back(message::am(eps[i], i % 4, pattern(i, i)));
    }
    transfer t = build_embedded(msgs);
    received r = receive_batch(t.msg, policy);
    EXPECT_ACCEPTED(r);
    EXPECT_EQ(msgs, r.msgs);
}


TEST(rsagg_wire_roundtrip, put_carries_key_address_and_data)
{
    std::vector<message> msgs;
    test_policy policy;

    policy.add_region(0xabcdef0123ull, 0x10000, 4096);
    msgs.push_back(message::put(2, 0xabcdef0123ull, 0x10000, pattern(8, 1)));
    msgs.push_back(message::put(2, 0xabcdef0123ull, 0x10ff0, pattern(16, 2)));
    msgs.push_back(message::put(3, 0xabcdef0123ull, 0x11000, bytes()));
    transfer t = build_embedded(msgs);

    EXPECT_EQ(UCS_RSAGG_HDR_SIZE + 2 * UCS_RSAGG_REC_EP_SIZE +
              3 * UCS_RSAGG_REC_PUT_SIZE + 8 + 16, t.length);
    received r = receive_batch(t.msg, policy);
    EXPECT_ACCEPTED(r);
    EXPECT_EQ(msgs, r.msgs);
    /* each put is checked when validated and again when delivered */
    EXPECT_EQ(2 * 3u, policy.put_checks);
}


TEST(rsagg_wire_roundtrip, am_length_field_widens_with_the_length)
{
    /* length -> record overhead */
    const size_t lengths[]  = {0, 1, 255, 256, 65535, 65536, 100000};
    const size_t overhead[] = {2, 2, 2,   3,   3,     5,     5};
    test_policy policy;

    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); ++i) {
        std::vector<message> msgs(1, message::am(0, 27, pattern(lengths[i],
                                                                unsigned(i))));
        transfer t = build_embedded(msgs, 1, 200000);
        EXPECT_EQ(UCS_RSAGG_HDR_SIZE + overhead[i] + lengths[i], t.length)
            << "length " << lengths[i];
        received r = receive_batch(t.msg, policy);
        EXPECT_ACCEPTED(r);
        EXPECT_EQ(msgs, r.msgs) << "length " << lengths[i];
    }
}


TEST(rsagg_wire_roundtrip, largest_am_fills_the_largest_batch_exactly)
{
    /* 64 KiB - 1 of payload in a buffer that holds exactly that */
    std::vector<message> msgs(1, message::am(0, 0, pattern(65535, 3)));
    size_t capacity = UCS_RSAGG_HDR_SIZE + UCS_RSAGG_REC_AM16_SIZE + 65535;
    transfer t = build_embedded(msgs, 1, capacity);
    test_policy policy;

    EXPECT_EQ(capacity, t.length);
    received r = receive_batch(t.msg, policy);
    EXPECT_ACCEPTED(r);
    EXPECT_EQ(msgs, r.msgs);
}


/* A reproducible mix of AMs, puts and ep switches */
static std::vector<message> mixed_messages(unsigned n, unsigned seed)
{
    std::vector<message> msgs;
    uint32_t x = seed * 2654435761u + 1;

    for (unsigned i = 0; i < n; ++i) {
        x = x * 1103515245u + 12345u;
        uint32_t ep    = (x >> 8) % 4 == 0 ? (x >> 12) % 1001 : 0;
        size_t   len   = (x >> 16) % 3 == 0 ? (x >> 4) % 600 : (x >> 4) % 24;
        if (((x >> 20) % 5) == 0) {
            msgs.push_back(message::put(ep, 1 + (x >> 24) % 2,
                                        0x1000 + (x >> 3) % 1024,
                                        pattern(len, i)));
        } else {
            msgs.push_back(message::am(ep, uint8_t((x >> 24) %
                                                   UCS_RSAGG_AM_ID_USER_MAX),
                                       pattern(len, i)));
        }
    }
    return msgs;
}


static void add_mixed_regions(test_policy *policy)
{
    policy->add_region(1, 0x1000, 4096);
    policy->add_region(2, 0x1000, 4096);
}


TEST(rsagg_wire_roundtrip, many_mixed_records_embedded)
{
    std::vector<message> msgs = mixed_messages(2000, 1);
    test_policy policy;

    add_mixed_regions(&policy);
    transfer t = build_embedded(msgs, 1, 1 << 20);
    received r = receive_batch(t.msg, policy);
    EXPECT_ACCEPTED(r);
    EXPECT_EQ(msgs.size(), r.msg_count);
    EXPECT_EQ(msgs, r.msgs);
}


TEST(rsagg_wire_roundtrip, many_mixed_records_out_of_band)
{
    std::vector<message> msgs = mixed_messages(2000, 2);
    test_policy policy;

    add_mixed_regions(&policy);
    transfer t = build_oob(msgs, 77, 0, 0, 1 << 20);
    received r = receive_oob_msg(t.msg, t.payload, policy);
    EXPECT_ACCEPTED(r);
    EXPECT_EQ(msgs, r.msgs);
}


TEST(rsagg_wire_roundtrip, most_records_in_one_batch)
{
    std::vector<uint8_t> buf(UCS_RSAGG_HDR_SIZE +
                             UCS_RSAGG_MAX_RECORDS * UCS_RSAGG_REC_AM8_SIZE +
                             100);
    ucs_rsagg_builder_t b = {};
    test_policy policy;
    ucs_rsagg_iter_t iter;
    ucs_rsagg_error_t err;
    ucs_rsagg_record_t rec;
    unsigned i;

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, &buf[0], buf.size(), 1));
    for (i = 0; i < UCS_RSAGG_MAX_RECORDS; ++i) {
        ASSERT_EQ(UCS_OK, ucs_rsagg_builder_add_am(&b, 0, 0, NULL, 0));
    }
    /* room left, but the count field is full */
    EXPECT_EQ(UCS_ERR_EXCEEDS_LIMIT,
              ucs_rsagg_builder_add_am(&b, 0, 0, NULL, 0));
    EXPECT_EQ(UCS_ERR_EXCEEDS_LIMIT, ucs_rsagg_builder_am_max_length(&b, 0));

    size_t length = ucs_rsagg_builder_finish(&b, NULL);
    ASSERT_EQ(UCS_OK, ucs_rsagg_batch_validate(&buf[0], length, policy.get(),
                                               &iter, &err)) << err;
    for (i = 0; ucs_rsagg_iter_next(&iter, &rec); ++i) {
        EXPECT_EQ(0u, rec.length);
    }
    EXPECT_EQ(unsigned(UCS_RSAGG_MAX_RECORDS), i);
}


TEST(rsagg_wire_roundtrip, bcopy_begin_commit_keeps_what_was_written)
{
    uint8_t buf[1024];
    ucs_rsagg_builder_t b = {};
    test_policy policy;
    void *dst;

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, buf, sizeof(buf), 1));
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_am_begin(&b, 4, 9, 100, &dst));
    bytes data = pattern(40, 9);
    memcpy(dst, &data[0], data.size());
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_commit(&b, data.size()));

    /* the length field was sized for max_len, not for what was packed */
    EXPECT_EQ(UCS_RSAGG_HDR_SIZE + UCS_RSAGG_REC_EP_SIZE +
              UCS_RSAGG_REC_AM8_SIZE + 40, ucs_rsagg_builder_length(&b));

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_am_begin(&b, 4, 10, 300, &dst));
    memcpy(dst, &data[0], data.size());
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_commit(&b, data.size()));
    EXPECT_EQ(UCS_RSAGG_HDR_SIZE + UCS_RSAGG_REC_EP_SIZE +
              UCS_RSAGG_REC_AM8_SIZE + UCS_RSAGG_REC_AM16_SIZE + 80,
              ucs_rsagg_builder_length(&b));

    policy.add_region(5, 0, 1 << 20);
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_put_begin(&b, 4, 5, 64, 50, &dst));
    memcpy(dst, &data[0], 30);
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_commit(&b, 30));

    received r = receive_batch(buf, ucs_rsagg_builder_finish(&b, NULL),
                               policy);
    EXPECT_ACCEPTED(r);
    std::vector<message> expected;
    expected.push_back(message::am(4, 9, data));
    expected.push_back(message::am(4, 10, data));
    expected.push_back(message::put(4, 5, 64, bytes(data.begin(),
                                                    data.begin() + 30)));
    EXPECT_EQ(expected, r.msgs);
}


TEST(rsagg_wire_roundtrip, out_of_band_table_carries_no_payload)
{
    std::vector<message> small, large;
    test_policy policy;

    small.push_back(message::am(0, 1, pattern(8, 1)));
    small.push_back(message::am(3, 2, pattern(16, 2)));
    large.push_back(message::am(0, 1, pattern(200, 1)));
    large.push_back(message::am(3, 2, pattern(250, 2)));

    transfer ts = build_oob(small, 5);
    transfer tl = build_oob(large, 5);

    /* same records, same widths: the table does not grow with payload */
    EXPECT_EQ(UCS_RSAGG_TABLE_HDR_SIZE + UCS_RSAGG_REC_EP_SIZE +
              2 * UCS_RSAGG_REC_AM8_SIZE, ts.length);
    EXPECT_EQ(ts.length, tl.length);
    /* the payload message is its header plus the concatenated payloads */
    EXPECT_EQ(UCS_RSAGG_HDR_SIZE + 8 + 16, ts.payload_length);
    EXPECT_EQ(0, memcmp(&ts.payload[UCS_RSAGG_HDR_SIZE],
                        &small[0].payload[0], 8));
    EXPECT_EQ(0, memcmp(&ts.payload[UCS_RSAGG_HDR_SIZE + 8],
                        &small[1].payload[0], 16));

    received r = receive_oob_msg(tl.msg, tl.payload, policy);
    EXPECT_ACCEPTED(r);
    EXPECT_EQ(large, r.msgs);
}


TEST(rsagg_wire_roundtrip, out_of_band_payload_in_a_ring_slot)
{
    std::vector<message> msgs = mixed_messages(50, 3);
    test_policy policy;
    ucs_rsagg_hdr_info_t info;
    ucs_rsagg_error_t err;

    add_mixed_regions(&policy);
    transfer t = build_oob(msgs, 0xfffffff0u, UCS_RSAGG_FLAG_PAYLOAD_IN_RING,
                           12345);

    /* the receiver finds the slot from the table alone */
    ASSERT_EQ(UCS_OK, ucs_rsagg_hdr_peek(&t.msg[0], t.msg.size(),
                                         UCS_RSAGG_MSG_OOB_TABLE, &info,
                                         &err)) << err;
    EXPECT_EQ(UCS_RSAGG_FLAG_PAYLOAD_IN_RING, info.flags);
    EXPECT_EQ(12345u, info.ring_offset);
    EXPECT_EQ(0xfffffff0u, info.seq);
    EXPECT_EQ(t.payload.size(), info.payload_length);

    received r = receive_oob_raw(t.msg, t.payload, policy);
    EXPECT_ACCEPTED(r);
    EXPECT_EQ(msgs, r.msgs);
}


TEST(rsagg_wire_roundtrip, out_of_band_with_only_empty_payloads)
{
    std::vector<message> msgs(3, message::am(1, 1, bytes()));
    test_policy policy;

    transfer t = build_oob(msgs, 1, UCS_RSAGG_FLAG_PAYLOAD_IN_RING);
    EXPECT_EQ(0u, t.payload_length);
    received r = receive_oob_raw(t.msg, t.payload, policy);
    EXPECT_ACCEPTED(r);
    EXPECT_EQ(msgs, r.msgs);

    /* also with no payload buffer at all */
    ucs_rsagg_iter_t iter;
    ucs_rsagg_error_t err;
    EXPECT_EQ(UCS_OK, ucs_rsagg_oob_validate(&t.msg[0], t.msg.size(), NULL, 0,
                                             policy.get(), &iter, &err))
        << err;
}


TEST(rsagg_wire_roundtrip, sequence_number_is_in_every_header)
{
    std::vector<message> msgs(1, message::am(0, 1, pattern(8, 1)));
    ucs_rsagg_hdr_info_t info;
    ucs_rsagg_error_t err;

    transfer te = build_embedded(msgs, 0xdeadbeefu);
    ASSERT_EQ(UCS_OK, ucs_rsagg_hdr_peek(&te.msg[0], te.msg.size(),
                                         UCS_RSAGG_MSG_BATCH, &info, &err));
    EXPECT_EQ(0xdeadbeefu, info.seq);
    EXPECT_EQ(1u, info.count);
    EXPECT_EQ(te.msg.size(), info.length);

    transfer to = build_oob(msgs, 0xcafef00du);
    ASSERT_EQ(UCS_OK, ucs_rsagg_hdr_peek(&to.payload[0], to.payload.size(),
                                         UCS_RSAGG_MSG_OOB_PAYLOAD, &info,
                                         &err));
    EXPECT_EQ(0xcafef00du, info.seq);
    EXPECT_EQ(1u, info.count);
}


TEST(rsagg_wire_roundtrip, fields_are_little_endian)
{
    std::vector<message> msgs(1, message::am(0x01020304u, 1, pattern(300, 1)));
    transfer t = build_embedded(msgs, 0x0a0b0c0du);
    const uint8_t *p = &t.msg[0];

    EXPECT_EQ('R', p[0]);
    EXPECT_EQ('A', p[1]);
    EXPECT_EQ(UCS_RSAGG_WIRE_VERSION, p[2]);
    EXPECT_EQ(UCS_RSAGG_MSG_BATCH, p[3]);
    EXPECT_EQ(0x0d, p[UCS_RSAGG_HDR_OFF_SEQ]);
    EXPECT_EQ(0x0a, p[UCS_RSAGG_HDR_OFF_SEQ + 3]);
    EXPECT_EQ(2, p[UCS_RSAGG_HDR_OFF_COUNT]);
    EXPECT_EQ(0, p[UCS_RSAGG_HDR_OFF_COUNT + 1]);
    /* EP record, then AM16 record with length 300 = 0x012c */
    p += UCS_RSAGG_HDR_SIZE;
    EXPECT_EQ(UCS_RSAGG_REC_EP, p[0]);
    EXPECT_EQ(0x04, p[1]);
    EXPECT_EQ(0x01, p[4]);
    p += UCS_RSAGG_REC_EP_SIZE;
    EXPECT_EQ(UCS_RSAGG_REC_AM16 | 1, p[0]);
    EXPECT_EQ(0x2c, p[1]);
    EXPECT_EQ(0x01, p[2]);
}


TEST(rsagg_wire_roundtrip, control_message)
{
    uint8_t buf[UCS_RSAGG_CTRL_SIZE];
    ucs_rsagg_ctrl_t ctrl;
    ucs_rsagg_error_t err;

    ASSERT_EQ(size_t(UCS_RSAGG_CTRL_SIZE),
              ucs_rsagg_ctrl_pack(buf, UCS_RSAGG_CTRL_OP_CREDIT, 99, 4096));
    ASSERT_EQ(UCS_OK, ucs_rsagg_ctrl_unpack(buf, sizeof(buf), &ctrl, &err))
        << err;
    EXPECT_EQ(UCS_RSAGG_CTRL_OP_CREDIT, ctrl.op);
    EXPECT_EQ(99u, ctrl.seq);
    EXPECT_EQ(4096u, ctrl.value);
}
