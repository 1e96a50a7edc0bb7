/*
 * rsagg receive side: every malformed transfer is rejected whole, with a
 * precise status and reason, before any of its messages is delivered.
 */

#include "wire_test_util.h"

#include <set>

using namespace rsagg_wire_test;


/* Put regions of the receiver in these tests */
static const uint64_t KEY  = 0x5eed;
static const uint64_t BASE = 0x10000;
static const uint64_t SIZE = 0x1000;


class rsagg_wire_malformed : public testing::Test {
protected:
    rsagg_wire_malformed()
    {
        m_policy.add_region(KEY, BASE, SIZE);

        /* a batch with every kind of record:
         * AM8 (ep 0), EP 3, PUT, AM16, EP 0, AM32-sized? no: AM8 */
        m_msgs.push_back(message::am(0, 1, pattern(8, 1)));
        m_msgs.push_back(message::put(3, KEY, BASE + 16, pattern(24, 2)));
        m_msgs.push_back(message::am(3, 2, pattern(300, 3)));
        m_msgs.push_back(message::am(0, 27, pattern(0, 4)));
    }

    /* Offsets of the records in the embedded form of m_msgs */
    enum {
        OFF_AM8  = UCS_RSAGG_HDR_SIZE,
        OFF_EP3  = OFF_AM8 + UCS_RSAGG_REC_AM8_SIZE + 8,
        OFF_PUT  = OFF_EP3 + UCS_RSAGG_REC_EP_SIZE,
        OFF_AM16 = OFF_PUT + UCS_RSAGG_REC_PUT_SIZE + 24,
        OFF_EP0  = OFF_AM16 + UCS_RSAGG_REC_AM16_SIZE + 300,
        OFF_LAST = OFF_EP0 + UCS_RSAGG_REC_EP_SIZE,
        LENGTH   = OFF_LAST + UCS_RSAGG_REC_AM8_SIZE,
        COUNT    = 6
    };

    bytes batch() const
    {
        transfer t = build_embedded(m_msgs);
        EXPECT_EQ(size_t(LENGTH), t.length);
        return t.msg;
    }

    received receive(const bytes &msg) const
    {
        return receive_batch(msg, m_policy);
    }

    test_policy          m_policy;
    std::vector<message> m_msgs;
};


TEST_F(rsagg_wire_malformed, the_unmodified_batch_is_accepted)
{
    /* so that each test below fails because of its one change */
    received r = receive(batch());
    EXPECT_ACCEPTED(r);
    EXPECT_EQ(m_msgs, r.msgs);
}


TEST_F(rsagg_wire_malformed, truncated_at_every_offset)
{
    bytes msg = batch();

    for (size_t length = 0; length < msg.size(); ++length) {
        received r = receive(bytes(msg.begin(), msg.begin() + length));
        EXPECT_REJECTED(r, UCS_ERR_MESSAGE_TRUNCATED,
                        (length < UCS_RSAGG_HDR_SIZE) ?
                        UCS_RSAGG_REASON_TRUNCATED_HEADER :
                        UCS_RSAGG_REASON_TRUNCATED) << "length " << length;
    }
}


TEST_F(rsagg_wire_malformed, cut_at_every_offset_with_a_matching_length_field)
{
    /* a sender bug or an attacker: the length field agrees with the bytes,
     * but records are missing or cut */
    bytes msg = batch();
    std::set<ucs_rsagg_reason_t> seen;

    for (size_t length = UCS_RSAGG_HDR_SIZE; length < msg.size(); ++length) {
        bytes cut(msg.begin(), msg.begin() + length);
        set32(&cut, UCS_RSAGG_HDR_OFF_LENGTH, uint32_t(length));
        received r = receive(cut);
        EXPECT_NE(UCS_OK, r.status) << "length " << length;
        EXPECT_TRUE(r.msgs.empty()) << "length " << length;
        seen.insert(r.err.reason);
    }
    /* each way a record can end too early is named */
    EXPECT_TRUE(seen.count(UCS_RSAGG_REASON_COUNT_MISMATCH));
    EXPECT_TRUE(seen.count(UCS_RSAGG_REASON_RECORD_TRUNCATED));
    EXPECT_TRUE(seen.count(UCS_RSAGG_REASON_LENGTH_OVERFLOW));
}


TEST_F(rsagg_wire_malformed, bad_magic)
{
    bytes msg = batch();
    msg[0] ^= 0x01;
    received r = receive(msg);
    EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM, UCS_RSAGG_REASON_BAD_MAGIC);
    EXPECT_EQ(0u, r.err.offset);
}


TEST_F(rsagg_wire_malformed, version_mismatch_is_its_own_error)
{
    bytes msg = batch();
    msg[UCS_RSAGG_HDR_OFF_VERSION] = UCS_RSAGG_WIRE_VERSION + 1;
    received r = receive(msg);
    EXPECT_REJECTED(r, UCS_ERR_UNSUPPORTED,
                    UCS_RSAGG_REASON_VERSION_MISMATCH);
    EXPECT_EQ(uint64_t(UCS_RSAGG_WIRE_VERSION + 1), r.err.value);
}


TEST_F(rsagg_wire_malformed, version_mismatch_is_seen_in_the_first_3_bytes)
{
    /* another version may have a shorter header: magic and version suffice */
    bytes msg = batch();
    msg[UCS_RSAGG_HDR_OFF_VERSION] = 0;
    received r = receive(bytes(msg.begin(),
                               msg.begin() + UCS_RSAGG_HDR_VERSION_PREFIX));
    EXPECT_REJECTED(r, UCS_ERR_UNSUPPORTED,
                    UCS_RSAGG_REASON_VERSION_MISMATCH);
}


TEST_F(rsagg_wire_malformed, wrong_message_type)
{
    const uint8_t types[] = {0, UCS_RSAGG_MSG_OOB_TABLE,
                             UCS_RSAGG_MSG_OOB_PAYLOAD, UCS_RSAGG_MSG_CTRL,
                             5, 255};

    for (size_t i = 0; i < sizeof(types); ++i) {
        bytes msg = batch();
        msg[UCS_RSAGG_HDR_OFF_TYPE] = types[i];
        received r = receive(msg);
        EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM, UCS_RSAGG_REASON_BAD_TYPE);
        EXPECT_EQ(types[i], r.err.value);
    }
}


TEST_F(rsagg_wire_malformed, unknown_flags)
{
    for (unsigned bit = 0; bit < 16; ++bit) {
        bytes msg = batch();
        set16(&msg, UCS_RSAGG_HDR_OFF_FLAGS, uint16_t(1u << bit));
        received r = receive(msg);
        /* a batch has no flags, not even the table's ring flag */
        EXPECT_REJECTED(r, UCS_ERR_UNSUPPORTED, UCS_RSAGG_REASON_BAD_FLAGS)
            << "bit " << bit;
    }
}


TEST_F(rsagg_wire_malformed, length_field_beyond_received_length)
{
    const uint32_t lengths[] = {LENGTH + 1, 0x80000000u, UINT32_MAX};

    for (size_t i = 0; i < 3; ++i) {
        bytes msg = batch();
        set32(&msg, UCS_RSAGG_HDR_OFF_LENGTH, lengths[i]);
        received r = receive(msg);
        EXPECT_REJECTED(r, UCS_ERR_MESSAGE_TRUNCATED,
                        UCS_RSAGG_REASON_TRUNCATED);
        EXPECT_EQ(lengths[i], r.err.value);
    }
}


TEST_F(rsagg_wire_malformed, length_field_below_received_length)
{
    const uint32_t lengths[] = {0, UCS_RSAGG_HDR_SIZE - 1, UCS_RSAGG_HDR_SIZE,
                                LENGTH - 1};

    for (size_t i = 0; i < 4; ++i) {
        bytes msg = batch();
        set32(&msg, UCS_RSAGG_HDR_OFF_LENGTH, lengths[i]);
        received r = receive(msg);
        EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM,
                        UCS_RSAGG_REASON_LENGTH_MISMATCH)
            << "length field " << lengths[i];
    }
}


TEST_F(rsagg_wire_malformed, bytes_after_the_message)
{
    bytes msg = batch();
    msg.push_back(0);
    received r = receive(msg);
    EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM,
                    UCS_RSAGG_REASON_LENGTH_MISMATCH);
}


TEST_F(rsagg_wire_malformed, zero_records)
{
    bytes msg = batch();
    set16(&msg, UCS_RSAGG_HDR_OFF_COUNT, 0);
    received r = receive(msg);
    EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM, UCS_RSAGG_REASON_EMPTY);

    /* also when nothing follows the header */
    bytes hdr(msg.begin(), msg.begin() + UCS_RSAGG_HDR_SIZE);
    set32(&hdr, UCS_RSAGG_HDR_OFF_LENGTH, UCS_RSAGG_HDR_SIZE);
    r = receive(hdr);
    EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM, UCS_RSAGG_REASON_EMPTY);
}


TEST_F(rsagg_wire_malformed, only_ep_records)
{
    /* well-formed, but nothing to deliver: the builder never sends that */
    bytes msg(UCS_RSAGG_HDR_SIZE + UCS_RSAGG_REC_EP_SIZE);
    ucs_rsagg_wire_put_hdr(&msg[0], UCS_RSAGG_MSG_BATCH, 0, 1, 0,
                           uint32_t(msg.size()));
    ucs_rsagg_wire_put_ep_rec(&msg[UCS_RSAGG_HDR_SIZE], 1);
    received r = receive(msg);
    EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM, UCS_RSAGG_REASON_EMPTY);
}


TEST_F(rsagg_wire_malformed, count_larger_than_records)
{
    const uint16_t counts[] = {COUNT + 1, COUNT + 100, UINT16_MAX};

    for (size_t i = 0; i < 3; ++i) {
        bytes msg = batch();
        set16(&msg, UCS_RSAGG_HDR_OFF_COUNT, counts[i]);
        received r = receive(msg);
        EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM,
                        UCS_RSAGG_REASON_COUNT_MISMATCH);
        EXPECT_EQ(uint64_t(COUNT), r.err.value) << "records found";
        EXPECT_EQ(size_t(LENGTH), r.err.offset);
    }
}


TEST_F(rsagg_wire_malformed, count_smaller_than_records)
{
    for (uint16_t count = 1; count < COUNT; ++count) {
        bytes msg = batch();
        set16(&msg, UCS_RSAGG_HDR_OFF_COUNT, count);
        received r = receive(msg);
        EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM,
                        UCS_RSAGG_REASON_TRAILING_GARBAGE) << count;
    }
}


TEST_F(rsagg_wire_malformed, am_record_length_beyond_the_message)
{
    bytes msg = batch();
    /* the last record: AM8 of 0 bytes at the very end */
    msg[OFF_LAST + 1] = 1;
    received r = receive(msg);
    EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM,
                    UCS_RSAGG_REASON_LENGTH_OVERFLOW);
    EXPECT_EQ(size_t(OFF_LAST), r.err.offset);
    EXPECT_EQ(1u, r.err.value);
}


TEST_F(rsagg_wire_malformed, am16_record_length_overflow)
{
    const uint16_t lengths[] = {301, 0x8000, UINT16_MAX};

    for (size_t i = 0; i < 3; ++i) {
        bytes msg = batch();
        set16(&msg, OFF_AM16 + 1, lengths[i]);
        received r = receive(msg);
        EXPECT_NE(UCS_OK, r.status) << lengths[i];
        EXPECT_TRUE(r.msgs.empty());
    }
    /* the largest overflow is named as such */
    bytes msg = batch();
    set16(&msg, OFF_AM16 + 1, UINT16_MAX);
    received r = receive(msg);
    EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM,
                    UCS_RSAGG_REASON_LENGTH_OVERFLOW);
}


TEST_F(rsagg_wire_malformed, am32_length_near_4_gib_does_not_wrap)
{
    /* replace the last AM8 by an AM32 header claiming ~4 GiB */
    bytes msg = batch();
    msg.resize(OFF_LAST);
    msg.push_back(UCS_RSAGG_REC_AM32 | 1);
    msg.resize(msg.size() + 4);
    const uint32_t lengths[] = {UINT32_MAX, UINT32_MAX - 4, 0x80000000u, 1};

    for (size_t i = 0; i < 4; ++i) {
        set32(&msg, OFF_LAST + 1, lengths[i]);
        set32(&msg, UCS_RSAGG_HDR_OFF_LENGTH, uint32_t(msg.size()));
        received r = receive(msg);
        EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM,
                        UCS_RSAGG_REASON_LENGTH_OVERFLOW);
        EXPECT_EQ(lengths[i], r.err.value);
    }
}


TEST_F(rsagg_wire_malformed, put_length_near_4_gib_does_not_wrap)
{
    bytes msg = batch();
    set32(&msg, OFF_PUT + 1, UINT32_MAX);
    received r = receive(msg);
    EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM,
                    UCS_RSAGG_REASON_LENGTH_OVERFLOW);
    EXPECT_EQ(size_t(OFF_PUT), r.err.offset);
}


TEST_F(rsagg_wire_malformed, unknown_record_kinds)
{
    /* extended records other than EP (0xc0) and PUT (0xc1) */
    for (unsigned kind = UCS_RSAGG_REC_PUT + 1; kind <= 0xff; ++kind) {
        bytes msg = batch();
        msg[OFF_AM16] = uint8_t(kind);
        received r = receive(msg);
        EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM,
                        UCS_RSAGG_REASON_BAD_RECORD_KIND) << kind;
        EXPECT_EQ(size_t(OFF_AM16), r.err.offset);
        EXPECT_EQ(kind, r.err.value);
    }
}


TEST_F(rsagg_wire_malformed, reserved_am_ids_are_never_delivered)
{
    /* even if the receiver's mask has their bits */
    m_policy.set_all_am_bits();
    for (unsigned id = UCS_RSAGG_AM_ID_USER_MAX; id < 64; ++id) {
        bytes msg = batch();
        msg[OFF_AM16] = uint8_t(UCS_RSAGG_REC_AM16 | id);
        received r = receive(msg);
        EXPECT_REJECTED(r, UCS_ERR_NO_ELEM, UCS_RSAGG_REASON_UNKNOWN_AM_ID);
        EXPECT_EQ(id, r.err.value);
        EXPECT_EQ(size_t(OFF_AM16), r.err.offset);
    }
}


TEST_F(rsagg_wire_malformed, am_id_without_handler)
{
    /* the last message (am id 27) makes the whole batch fail, so the three
     * good messages before it are not delivered either */
    m_policy.remove_handler(27);
    received r = receive(batch());
    EXPECT_REJECTED(r, UCS_ERR_NO_ELEM, UCS_RSAGG_REASON_UNKNOWN_AM_ID);
    EXPECT_EQ(27u, r.err.value);
    EXPECT_EQ(size_t(OFF_LAST), r.err.offset);
}


TEST_F(rsagg_wire_malformed, ep_id_out_of_range)
{
    m_policy.set_max_ep_id(2);
    received r = receive(batch());
    EXPECT_REJECTED(r, UCS_ERR_OUT_OF_RANGE,
                    UCS_RSAGG_REASON_EP_OUT_OF_RANGE);
    EXPECT_EQ(3u, r.err.value);
    EXPECT_EQ(size_t(OFF_EP3), r.err.offset);

    /* the largest allowed id passes */
    m_policy.set_max_ep_id(3);
    EXPECT_ACCEPTED(receive(batch()));
}


TEST_F(rsagg_wire_malformed, ep_id_beyond_any_range)
{
    bytes msg = batch();
    set32(&msg, OFF_EP3 + 1, UINT32_MAX);
    received r = receive(msg);
    EXPECT_REJECTED(r, UCS_ERR_OUT_OF_RANGE,
                    UCS_RSAGG_REASON_EP_OUT_OF_RANGE);
    EXPECT_EQ(uint64_t(UINT32_MAX), r.err.value);
}


TEST_F(rsagg_wire_malformed, put_outside_its_region)
{
    /* [addr, addr + 24) against the region [BASE, BASE + SIZE) */
    const uint64_t addrs[] = {BASE - 1, BASE + SIZE - 23, BASE + SIZE, 0,
                              UINT64_MAX - 8};

    for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); ++i) {
        bytes msg = batch();
        set64(&msg, OFF_PUT + 13, addrs[i]);
        received r = receive(msg);
        EXPECT_REJECTED(r, UCS_ERR_INVALID_ADDR,
                        UCS_RSAGG_REASON_PUT_OUT_OF_BOUNDS) << addrs[i];
        EXPECT_EQ(addrs[i], r.err.value);
        EXPECT_EQ(size_t(OFF_PUT), r.err.offset);
    }

    /* the last byte of the region is still inside */
    bytes msg = batch();
    set64(&msg, OFF_PUT + 13, BASE + SIZE - 24);
    EXPECT_ACCEPTED(receive(msg));
}


TEST_F(rsagg_wire_malformed, put_with_an_unknown_key)
{
    bytes msg = batch();
    set64(&msg, OFF_PUT + 5, KEY + 1);
    received r = receive(msg);
    EXPECT_REJECTED(r, UCS_ERR_INVALID_ADDR,
                    UCS_RSAGG_REASON_PUT_OUT_OF_BOUNDS);
}


TEST_F(rsagg_wire_malformed, put_range_that_wraps_is_rejected_before_check)
{
    /* a region covering all addresses would accept it, if asked */
    m_policy.add_region(KEY, 0, UINT64_MAX);
    bytes msg = batch();
    set64(&msg, OFF_PUT + 13, UINT64_MAX - 8);
    received r = receive(msg);
    EXPECT_REJECTED(r, UCS_ERR_INVALID_ADDR,
                    UCS_RSAGG_REASON_PUT_OUT_OF_BOUNDS);
    EXPECT_EQ(0u, m_policy.put_checks);
}


TEST_F(rsagg_wire_malformed, put_without_a_put_check_is_rejected)
{
    m_policy.disable_puts();
    received r = receive(batch());
    EXPECT_REJECTED(r, UCS_ERR_INVALID_ADDR,
                    UCS_RSAGG_REASON_PUT_OUT_OF_BOUNDS);
}


TEST_F(rsagg_wire_malformed, failed_transfer_leaves_an_empty_iterator)
{
    bytes msg = batch();
    msg[OFF_LAST] = UCS_RSAGG_REC_AM8 | 60;
    ucs_rsagg_iter_t iter;
    ucs_rsagg_error_t err;
    ucs_rsagg_record_t rec;

    EXPECT_EQ(UCS_ERR_NO_ELEM,
              ucs_rsagg_batch_validate(&msg[0], msg.size(), m_policy.get(),
                                       &iter, &err));
    EXPECT_EQ(0, ucs_rsagg_iter_next(&iter, &rec));
    EXPECT_EQ(0u, iter.msg_count);
}


TEST_F(rsagg_wire_malformed, put_target_gone_during_delivery_is_not_written)
{
    /* a handler of an earlier message deregisters the put's region */
    bytes msg = batch();
    ucs_rsagg_iter_t iter;
    ucs_rsagg_error_t err;
    ucs_rsagg_record_t rec;

    ASSERT_EQ(UCS_OK, ucs_rsagg_batch_validate(&msg[0], msg.size(),
                                               m_policy.get(), &iter, &err));
    ASSERT_EQ(1, ucs_rsagg_iter_next(&iter, &rec));
    EXPECT_EQ(UCS_RSAGG_REC_KIND_AM, rec.kind);

    m_policy.regions.clear();
    EXPECT_EQ(0, ucs_rsagg_iter_next(&iter, &rec));
    EXPECT_EQ(UCS_RSAGG_REASON_PUT_OUT_OF_BOUNDS, iter.reason);
    EXPECT_EQ(0, ucs_rsagg_iter_next(&iter, &rec));
}


TEST_F(rsagg_wire_malformed, transfer_changed_after_validation_stops_delivery)
{
    /* e.g. a peer writing the shared memory the transfer is in */
    struct change {
        size_t             offset;
        uint8_t            byte;
        ucs_rsagg_reason_t reason;
    } changes[] = {
        {OFF_AM16,     UCS_RSAGG_REC_AM16 | 60, UCS_RSAGG_REASON_UNKNOWN_AM_ID},
        {OFF_AM16 + 2, 0xff,                   UCS_RSAGG_REASON_LENGTH_OVERFLOW},
        {OFF_AM16,     0xff,                   UCS_RSAGG_REASON_BAD_RECORD_KIND},
        {OFF_EP3 + 4,  0xff,                   UCS_RSAGG_REASON_EP_OUT_OF_RANGE}
    };

    for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); ++i) {
        bytes msg = batch();
        exact_copy copy(&msg[0], msg.size());
        uint8_t *data = const_cast<uint8_t*>(copy.data());
        ucs_rsagg_iter_t iter;
        ucs_rsagg_error_t err;
        ucs_rsagg_record_t rec;
        unsigned delivered = 0;

        ASSERT_EQ(UCS_OK, ucs_rsagg_batch_validate(data, copy.length(),
                                                   m_policy.get(), &iter,
                                                   &err));
        data[changes[i].offset] = changes[i].byte;
        while (ucs_rsagg_iter_next(&iter, &rec)) {
            ++delivered;
            EXPECT_LT(rec.am_id, UCS_RSAGG_AM_ID_USER_MAX);
            EXPECT_LE(rec.ep_id, 1000u);
        }
        EXPECT_EQ(changes[i].reason, iter.reason) << "change " << i;
        EXPECT_LT(delivered, iter.msg_count) << "change " << i;
    }
}


TEST_F(rsagg_wire_malformed, iterator_keeps_the_policy_it_was_validated_with)
{
    /* the caller's policy may be a temporary */
    bytes msg = batch();
    ucs_rsagg_iter_t iter;
    ucs_rsagg_error_t err;
    ucs_rsagg_record_t rec;
    unsigned delivered = 0;

    ASSERT_EQ(UCS_OK, ucs_rsagg_batch_validate(&msg[0], msg.size(),
                                               m_policy.get(), &iter, &err));
    m_policy.remove_handler(1);
    m_policy.set_max_ep_id(0);
    while (ucs_rsagg_iter_next(&iter, &rec)) {
        ++delivered;
    }
    EXPECT_EQ(m_msgs.size(), delivered);
    EXPECT_EQ(UCS_RSAGG_REASON_OK, iter.reason);
}


TEST_F(rsagg_wire_malformed, out_of_band_table_truncated_at_every_offset)
{
    transfer t = build_oob(m_msgs, 9);

    for (size_t length = 0; length < t.msg.size(); ++length) {
        received r = receive_oob_msg(bytes(t.msg.begin(),
                                           t.msg.begin() + length),
                                     t.payload, m_policy);
        EXPECT_REJECTED(r, UCS_ERR_MESSAGE_TRUNCATED,
                        (length < UCS_RSAGG_TABLE_HDR_SIZE) ?
                        UCS_RSAGG_REASON_TRUNCATED_HEADER :
                        UCS_RSAGG_REASON_TRUNCATED) << "length " << length;
    }
}


TEST_F(rsagg_wire_malformed, out_of_band_payload_truncated_at_every_offset)
{
    transfer t = build_oob(m_msgs, 9);

    ASSERT_EQ(UCS_OK, receive_oob_msg(t.msg, t.payload, m_policy).status);
    for (size_t length = 0; length < t.payload.size(); ++length) {
        bytes cut(t.payload.begin(), t.payload.begin() + length);
        received r = receive_oob_msg(t.msg, cut, m_policy);
        EXPECT_REJECTED(r, UCS_ERR_MESSAGE_TRUNCATED,
                        (length < UCS_RSAGG_HDR_SIZE) ?
                        UCS_RSAGG_REASON_TRUNCATED_HEADER :
                        UCS_RSAGG_REASON_TRUNCATED) << "length " << length;

        /* a ring slot has no header: only the table's length tells */
        if (length < t.payload.size() - UCS_RSAGG_HDR_SIZE) {
            bytes raw(t.payload.begin() + UCS_RSAGG_HDR_SIZE,
                      t.payload.begin() + UCS_RSAGG_HDR_SIZE + length);
            r = receive_oob_raw(t.msg, raw, m_policy);
            EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM,
                            UCS_RSAGG_REASON_PAYLOAD_LENGTH_MISMATCH)
                << "length " << length;
        }
    }
}


TEST_F(rsagg_wire_malformed, out_of_band_seq_mismatch)
{
    transfer t1 = build_oob(m_msgs, 9);
    transfer t2 = build_oob(m_msgs, 10);

    /* same shape, other transfer */
    received r = receive_oob_msg(t1.msg, t2.payload, m_policy);
    EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM, UCS_RSAGG_REASON_SEQ_MISMATCH);
    EXPECT_EQ(10u, r.err.value);
}


TEST_F(rsagg_wire_malformed, out_of_band_payload_of_other_length)
{
    std::vector<message> longer = m_msgs;
    longer[0].payload = pattern(9, 1);
    transfer t1 = build_oob(m_msgs, 9);
    transfer t2 = build_oob(longer, 9);

    received r = receive_oob_msg(t1.msg, t2.payload, m_policy);
    EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM,
                    UCS_RSAGG_REASON_PAYLOAD_LENGTH_MISMATCH);
    r = receive_oob_msg(t2.msg, t1.payload, m_policy);
    EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM,
                    UCS_RSAGG_REASON_PAYLOAD_LENGTH_MISMATCH);
}


TEST_F(rsagg_wire_malformed, out_of_band_payload_of_other_record_count)
{
    std::vector<message> more = m_msgs;
    more.push_back(message::am(0, 1, bytes()));
    transfer t1 = build_oob(m_msgs, 9);
    transfer t2 = build_oob(more, 9);

    /* lengths agree (the extra message is empty), counts do not */
    ASSERT_EQ(t1.payload.size(), t2.payload.size());
    received r = receive_oob_msg(t1.msg, t2.payload, m_policy);
    EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM,
                    UCS_RSAGG_REASON_PAYLOAD_COUNT_MISMATCH);
}


TEST_F(rsagg_wire_malformed, out_of_band_records_shorter_than_payload)
{
    transfer t = build_oob(m_msgs, 9, UCS_RSAGG_FLAG_PAYLOAD_IN_RING);
    bytes payload = t.payload;
    payload.push_back(0);
    set32(&t.msg, UCS_RSAGG_HDR_OFF_PAYLOAD_LEN, uint32_t(payload.size()));

    received r = receive_oob_raw(t.msg, payload, m_policy);
    EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM,
                    UCS_RSAGG_REASON_PAYLOAD_LENGTH_MISMATCH);
}


TEST_F(rsagg_wire_malformed, out_of_band_records_longer_than_payload)
{
    transfer t = build_oob(m_msgs, 9, UCS_RSAGG_FLAG_PAYLOAD_IN_RING);
    bytes payload(t.payload.begin(), t.payload.end() - 1);
    set32(&t.msg, UCS_RSAGG_HDR_OFF_PAYLOAD_LEN, uint32_t(payload.size()));

    received r = receive_oob_raw(t.msg, payload, m_policy);
    EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM,
                    UCS_RSAGG_REASON_LENGTH_OVERFLOW);
}


TEST_F(rsagg_wire_malformed, out_of_band_ring_table_with_a_payload_message)
{
    transfer ring = build_oob(m_msgs, 9, UCS_RSAGG_FLAG_PAYLOAD_IN_RING);
    transfer am   = build_oob(m_msgs, 9);

    received r = receive_oob_msg(ring.msg, am.payload, m_policy);
    EXPECT_REJECTED(r, UCS_ERR_UNSUPPORTED, UCS_RSAGG_REASON_BAD_FLAGS);
}


TEST_F(rsagg_wire_malformed, out_of_band_ring_offset_without_ring)
{
    transfer t = build_oob(m_msgs, 9);
    set32(&t.msg, UCS_RSAGG_HDR_OFF_RING_OFFSET, 64);
    received r = receive_oob_msg(t.msg, t.payload, m_policy);
    EXPECT_REJECTED(r, UCS_ERR_UNSUPPORTED, UCS_RSAGG_REASON_BAD_FLAGS);
    EXPECT_EQ(size_t(UCS_RSAGG_HDR_OFF_RING_OFFSET), r.err.offset);
}


TEST_F(rsagg_wire_malformed, out_of_band_table_and_payload_swapped)
{
    transfer t = build_oob(m_msgs, 9);
    received r = receive_oob_msg(t.payload, t.msg, m_policy);
    EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM, UCS_RSAGG_REASON_BAD_TYPE);
}


TEST_F(rsagg_wire_malformed, out_of_band_zero_length_table)
{
    transfer t = build_oob(m_msgs, 9, UCS_RSAGG_FLAG_PAYLOAD_IN_RING);
    bytes table(t.msg.begin(), t.msg.begin() + UCS_RSAGG_TABLE_HDR_SIZE);
    set16(&table, UCS_RSAGG_HDR_OFF_COUNT, 0);
    set32(&table, UCS_RSAGG_HDR_OFF_LENGTH, UCS_RSAGG_TABLE_HDR_SIZE);
    set32(&table, UCS_RSAGG_HDR_OFF_PAYLOAD_LEN, 0);
    received r = receive_oob_raw(table, bytes(), m_policy);
    EXPECT_REJECTED(r, UCS_ERR_INVALID_PARAM, UCS_RSAGG_REASON_EMPTY);
}


TEST_F(rsagg_wire_malformed, out_of_band_policy_applies_to_table_records)
{
    transfer t = build_oob(m_msgs, 9);
    m_policy.remove_handler(2);
    received r = receive_oob_msg(t.msg, t.payload, m_policy);
    EXPECT_REJECTED(r, UCS_ERR_NO_ELEM, UCS_RSAGG_REASON_UNKNOWN_AM_ID);
}


TEST(rsagg_wire_ctrl, malformed_control_messages)
{
    uint8_t good[UCS_RSAGG_CTRL_SIZE];
    ucs_rsagg_ctrl_t ctrl;
    ucs_rsagg_error_t err;

    ucs_rsagg_ctrl_pack(good, UCS_RSAGG_CTRL_OP_CREDIT, 1, 2);
    for (size_t length = 0; length < sizeof(good); ++length) {
        exact_copy c(good, length);
        EXPECT_EQ(UCS_ERR_MESSAGE_TRUNCATED,
                  ucs_rsagg_ctrl_unpack(c.data(), c.length(), &ctrl, &err))
            << length;
    }

    bytes msg(good, good + sizeof(good));
    set32(&msg, UCS_RSAGG_CTRL_OFF_OP, 0);
    EXPECT_EQ(UCS_ERR_INVALID_PARAM,
              ucs_rsagg_ctrl_unpack(&msg[0], msg.size(), &ctrl, &err));
    EXPECT_EQ(UCS_RSAGG_REASON_BAD_CTRL_OP, err.reason);

    msg.assign(good, good + sizeof(good));
    msg.push_back(0);
    set32(&msg, UCS_RSAGG_HDR_OFF_LENGTH, uint32_t(msg.size()));
    EXPECT_EQ(UCS_ERR_INVALID_PARAM,
              ucs_rsagg_ctrl_unpack(&msg[0], msg.size(), &ctrl, &err));
    EXPECT_EQ(UCS_RSAGG_REASON_LENGTH_MISMATCH, err.reason);

    msg.assign(good, good + sizeof(good));
    set16(&msg, UCS_RSAGG_HDR_OFF_COUNT, 1);
    EXPECT_EQ(UCS_ERR_INVALID_PARAM,
              ucs_rsagg_ctrl_unpack(&msg[0], msg.size(), &ctrl, &err));
    EXPECT_EQ(UCS_RSAGG_REASON_COUNT_MISMATCH, err.reason);
}


TEST(rsagg_wire_ctrl, flush_request_has_a_body_credit_and_ack_have_none)
{
    bytes body = pattern(UCS_RSAGG_CTRL_MAX_BODY + 1, 5);
    bytes msg(UCS_RSAGG_CTRL_SIZE + body.size());
    ucs_rsagg_ctrl_t ctrl;
    ucs_rsagg_error_t err;
    size_t length;

    /* the largest body passes */
    length = ucs_rsagg_ctrl_pack_body(&msg[0], UCS_RSAGG_CTRL_OP_FLUSH_REQ, 3,
                                      4, &body[0], UCS_RSAGG_CTRL_MAX_BODY);
    {
        exact_copy c(&msg[0], length);
        ASSERT_EQ(UCS_OK, ucs_rsagg_ctrl_unpack(c.data(), c.length(), &ctrl,
                                                &err)) << err;
        EXPECT_EQ(UCS_RSAGG_CTRL_OP_FLUSH_REQ, ctrl.op);
        EXPECT_EQ(3u, ctrl.seq);
        EXPECT_EQ(4u, ctrl.value);
        ASSERT_EQ(size_t(UCS_RSAGG_CTRL_MAX_BODY), ctrl.body_length);
        EXPECT_EQ(c.data() + UCS_RSAGG_CTRL_SIZE, ctrl.body);
        EXPECT_EQ(0, memcmp(ctrl.body, &body[0], ctrl.body_length));
    }

    /* one byte more does not */
    length = ucs_rsagg_ctrl_pack_body(&msg[0], UCS_RSAGG_CTRL_OP_FLUSH_REQ, 3,
                                      4, &body[0], body.size());
    EXPECT_EQ(UCS_ERR_INVALID_PARAM,
              ucs_rsagg_ctrl_unpack(&msg[0], length, &ctrl, &err));
    EXPECT_EQ(UCS_RSAGG_REASON_LENGTH_MISMATCH, err.reason);

    /* a flush request without a body */
    length = ucs_rsagg_ctrl_pack(&msg[0], UCS_RSAGG_CTRL_OP_FLUSH_REQ, 3, 4);
    EXPECT_EQ(UCS_ERR_INVALID_PARAM,
              ucs_rsagg_ctrl_unpack(&msg[0], length, &ctrl, &err));
    EXPECT_EQ(UCS_RSAGG_REASON_LENGTH_MISMATCH, err.reason);

    /* credits and flush acks with one */
    const ucs_rsagg_ctrl_op_t bodyless[] = {UCS_RSAGG_CTRL_OP_CREDIT,
                                            UCS_RSAGG_CTRL_OP_FLUSH_ACK};
    for (size_t i = 0; i < 2; ++i) {
        length = ucs_rsagg_ctrl_pack(&msg[0], bodyless[i], 3, 4);
        ASSERT_EQ(UCS_OK, ucs_rsagg_ctrl_unpack(&msg[0], length, &ctrl, &err))
            << err;
        EXPECT_EQ(0u, ctrl.body_length);
        EXPECT_TRUE(ctrl.body == NULL);

        length = ucs_rsagg_ctrl_pack_body(&msg[0], bodyless[i], 3, 4,
                                          &body[0], 1);
        EXPECT_EQ(UCS_ERR_INVALID_PARAM,
                  ucs_rsagg_ctrl_unpack(&msg[0], length, &ctrl, &err));
        EXPECT_EQ(UCS_RSAGG_REASON_LENGTH_MISMATCH, err.reason);
    }
}


/* A slice request and a channel's close both name the sender by its return
 * address */
TEST(rsagg_wire_ctrl, ring_request_and_close_need_a_return_address)
{
    bytes body = pattern(UCS_RSAGG_CTRL_MAX_BODY + 1, 7);
    bytes msg(UCS_RSAGG_CTRL_SIZE + body.size());
    ucs_rsagg_ctrl_t ctrl;
    ucs_rsagg_error_t err;
    size_t length;

    const ucs_rsagg_ctrl_op_t ops[] = {UCS_RSAGG_CTRL_OP_RING_REQ,
                                       UCS_RSAGG_CTRL_OP_CLOSE};
    for (ucs_rsagg_ctrl_op_t op : ops) {
        length = ucs_rsagg_ctrl_pack_body(&msg[0], op, 9, 65536, &body[0],
                                          20);
        {
            exact_copy c(&msg[0], length);
            ASSERT_EQ(UCS_OK, ucs_rsagg_ctrl_unpack(c.data(), c.length(),
                                                    &ctrl, &err)) << err;
            EXPECT_EQ(op, ctrl.op);
            EXPECT_EQ(9u, ctrl.seq);
            EXPECT_EQ(65536u, ctrl.value);
            ASSERT_EQ(20u, ctrl.body_length);
            EXPECT_EQ(0, memcmp(ctrl.body, &body[0], 20));
            /* every truncation is refused */
            for (size_t l = 0; l < length; ++l) {
                exact_copy t(&msg[0], l);
                EXPECT_NE(UCS_OK, ucs_rsagg_ctrl_unpack(t.data(), t.length(),
                                                        &ctrl, &err)) << l;
            }
        }

        /* without a body, and with one too long */
        length = ucs_rsagg_ctrl_pack(&msg[0], op, 9, 1);
        EXPECT_EQ(UCS_ERR_INVALID_PARAM,
                  ucs_rsagg_ctrl_unpack(&msg[0], length, &ctrl, &err)) << op;
        EXPECT_EQ(UCS_RSAGG_REASON_LENGTH_MISMATCH, err.reason);
        length = ucs_rsagg_ctrl_pack_body(&msg[0], op, 9, 1, &body[0],
                                          body.size());
        EXPECT_EQ(UCS_ERR_INVALID_PARAM,
                  ucs_rsagg_ctrl_unpack(&msg[0], length, &ctrl, &err)) << op;
        EXPECT_EQ(UCS_RSAGG_REASON_LENGTH_MISMATCH, err.reason);
    }
}


TEST(rsagg_wire_ctrl, ring_grant_roundtrip_and_malformed)
{
    bytes rkey = pattern(40, 11);
    bytes msg(UCS_RSAGG_CTRL_SIZE + UCS_RSAGG_CTRL_MAX_BODY + 1);
    ucs_rsagg_ring_grant_t grant;
    ucs_rsagg_ctrl_t ctrl;
    ucs_rsagg_error_t err;
    size_t length;

    length = ucs_rsagg_ring_grant_pack(&msg[0], 5, 1 << 20,
                                       0x7f0012345000ull, 3 << 20,
                                       &rkey[0], rkey.size());
    EXPECT_EQ(UCS_RSAGG_CTRL_SIZE + UCS_RSAGG_RING_GRANT_FIXED + rkey.size(),
              length);
    {
        exact_copy c(&msg[0], length);
        ASSERT_EQ(UCS_OK, ucs_rsagg_ctrl_unpack(c.data(), c.length(), &ctrl,
                                                &err)) << err;
        EXPECT_EQ(UCS_RSAGG_CTRL_OP_RING_GRANT, ctrl.op);
        EXPECT_EQ(5u, ctrl.seq);
        ASSERT_EQ(UCS_OK, ucs_rsagg_ring_grant_unpack(&ctrl, &grant));
        EXPECT_EQ(0x7f0012345000ull, grant.remote_addr);
        EXPECT_EQ(3u << 20, grant.offset);
        EXPECT_EQ(1u << 20, grant.size);
        ASSERT_EQ(rkey.size(), grant.rkey_length);
        EXPECT_EQ(0, memcmp(grant.rkey, &rkey[0], rkey.size()));
        for (size_t l = 0; l < length; ++l) {
            exact_copy t(&msg[0], l);
            EXPECT_NE(UCS_OK, ucs_rsagg_ctrl_unpack(t.data(), t.length(),
                                                    &ctrl, &err)) << l;
        }
    }

    /* an empty rkey (tcp has none) is fine */
    length = ucs_rsagg_ring_grant_pack(&msg[0], 5, 4096, 0x1000, 0, NULL, 0);
    ASSERT_EQ(UCS_OK, ucs_rsagg_ctrl_unpack(&msg[0], length, &ctrl, &err));
    ASSERT_EQ(UCS_OK, ucs_rsagg_ring_grant_unpack(&ctrl, &grant));
    EXPECT_EQ(0u, grant.rkey_length);

    /* a body shorter than the fixed part */
    for (size_t body = 1; body < UCS_RSAGG_RING_GRANT_FIXED; ++body) {
        length = ucs_rsagg_ctrl_pack_body(&msg[0],
                                          UCS_RSAGG_CTRL_OP_RING_GRANT, 5,
                                          4096, &rkey[0], body);
        EXPECT_EQ(UCS_ERR_INVALID_PARAM,
                  ucs_rsagg_ctrl_unpack(&msg[0], length, &ctrl, &err));
        EXPECT_EQ(UCS_RSAGG_REASON_LENGTH_MISMATCH, err.reason) << body;
    }

    /* a body beyond the largest */
    bytes big = pattern(UCS_RSAGG_CTRL_MAX_BODY, 3);
    length = ucs_rsagg_ring_grant_pack(&msg[0], 5, 4096, 0x1000, 0, &big[0],
                                       UCS_RSAGG_CTRL_MAX_BODY + 1 -
                                       UCS_RSAGG_RING_GRANT_FIXED);
    EXPECT_EQ(UCS_ERR_INVALID_PARAM,
              ucs_rsagg_ctrl_unpack(&msg[0], length, &ctrl, &err));
    EXPECT_EQ(UCS_RSAGG_REASON_LENGTH_MISMATCH, err.reason);

    /* empty slices and slices past the 32-bit offsets are refused */
    length = ucs_rsagg_ring_grant_pack(&msg[0], 5, 0, 0x1000, 0, NULL, 0);
    ASSERT_EQ(UCS_OK, ucs_rsagg_ctrl_unpack(&msg[0], length, &ctrl, &err));
    EXPECT_EQ(UCS_ERR_INVALID_PARAM, ucs_rsagg_ring_grant_unpack(&ctrl,
                                                                 &grant));
    length = ucs_rsagg_ring_grant_pack(&msg[0], 5, 8192, 0x1000,
                                       UINT32_MAX - 4096, NULL, 0);
    ASSERT_EQ(UCS_OK, ucs_rsagg_ctrl_unpack(&msg[0], length, &ctrl, &err));
    EXPECT_EQ(UCS_ERR_INVALID_PARAM, ucs_rsagg_ring_grant_unpack(&ctrl,
                                                                 &grant));
}


TEST(rsagg_wire_ctrl, ring_deny_and_credit_have_no_body)
{
    bytes body = pattern(16, 2);
    bytes msg(UCS_RSAGG_CTRL_SIZE + body.size());
    ucs_rsagg_ctrl_t ctrl;
    ucs_rsagg_error_t err;
    size_t length;

    const ucs_rsagg_ctrl_op_t ops[] = {UCS_RSAGG_CTRL_OP_RING_DENY,
                                       UCS_RSAGG_CTRL_OP_CREDIT};
    for (size_t i = 0; i < 2; ++i) {
        length = ucs_rsagg_ctrl_pack(&msg[0], ops[i], 7, 512);
        ASSERT_EQ(UCS_OK, ucs_rsagg_ctrl_unpack(&msg[0], length, &ctrl,
                                                &err)) << err;
        EXPECT_EQ(ops[i], ctrl.op);
        EXPECT_EQ(7u, ctrl.seq);
        EXPECT_EQ(512u, ctrl.value);
        length = ucs_rsagg_ctrl_pack_body(&msg[0], ops[i], 7, 512, &body[0],
                                          body.size());
        EXPECT_EQ(UCS_ERR_INVALID_PARAM,
                  ucs_rsagg_ctrl_unpack(&msg[0], length, &ctrl, &err));
        EXPECT_EQ(UCS_RSAGG_REASON_LENGTH_MISMATCH, err.reason);
    }

    /* the op after the last one is unknown */
    length = ucs_rsagg_ctrl_pack(&msg[0], UCS_RSAGG_CTRL_OP_RING_DENY, 7, 0);
    set32(&msg, UCS_RSAGG_CTRL_OFF_OP, UCS_RSAGG_CTRL_OP_LAST + 1);
    EXPECT_EQ(UCS_ERR_INVALID_PARAM,
              ucs_rsagg_ctrl_unpack(&msg[0], length, &ctrl, &err));
    EXPECT_EQ(UCS_RSAGG_REASON_BAD_CTRL_OP, err.reason);
}


TEST(rsagg_wire_peek, zero_record_table_is_empty_before_any_record_is_read)
{
    /* the receiver peeks at a table to pair it with its payload; an empty
     * one is refused already there */
    std::vector<message> msgs(1, message::am(0, 1, pattern(8, 1)));
    transfer t = build_oob(msgs, 4);
    ucs_rsagg_hdr_info_t info;
    ucs_rsagg_error_t err;

    set16(&t.msg, UCS_RSAGG_HDR_OFF_COUNT, 0);
    EXPECT_EQ(UCS_ERR_INVALID_PARAM,
              ucs_rsagg_hdr_peek(&t.msg[0], t.msg.size(),
                                 UCS_RSAGG_MSG_OOB_TABLE, &info, &err));
    EXPECT_EQ(UCS_RSAGG_REASON_EMPTY, err.reason);
}


TEST(rsagg_wire_reason, every_reason_has_a_distinct_name_and_status)
{
    std::set<std::string> names;

    for (int r = 0; r < UCS_RSAGG_REASON_LAST; ++r) {
        ucs_rsagg_reason_t reason = ucs_rsagg_reason_t(r);
        std::string name          = ucs_rsagg_reason_str(reason);

        EXPECT_FALSE(name.empty()) << r;
        EXPECT_TRUE(names.insert(name).second) << "duplicate: " << name;
        EXPECT_EQ(r == UCS_RSAGG_REASON_OK,
                  ucs_rsagg_reason_status(reason) == UCS_OK) << name;
    }
    EXPECT_EQ(UCS_ERR_UNSUPPORTED,
              ucs_rsagg_reason_status(UCS_RSAGG_REASON_VERSION_MISMATCH));
    EXPECT_STREQ("invalid reason",
                 ucs_rsagg_reason_str(UCS_RSAGG_REASON_LAST));
}
