/*
 * rsagg batch builder: limits, the bcopy begin/commit protocol and the
 * "does it fit" queries the sender uses to decide when a batch leaves.
 */

#include "wire_test_util.h"

using namespace rsagg_wire_test;


TEST(rsagg_wire_builder, buffer_too_small_for_one_record_is_refused)
{
    uint8_t buf[64];
    ucs_rsagg_builder_t b = {};

    EXPECT_EQ(UCS_ERR_BUFFER_TOO_SMALL,
              ucs_rsagg_builder_init(&b, buf, UCS_RSAGG_HDR_SIZE + 1, 0));
    EXPECT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, buf, UCS_RSAGG_HDR_SIZE + 2,
                                             0));
    EXPECT_EQ(UCS_ERR_BUFFER_TOO_SMALL,
              ucs_rsagg_builder_init_oob(&b, buf, UCS_RSAGG_TABLE_HDR_SIZE + 1,
                                         buf, 64, 0, 0));
    /* a payload message needs room for its header */
    EXPECT_EQ(UCS_ERR_BUFFER_TOO_SMALL,
              ucs_rsagg_builder_init_oob(&b, buf, 64, buf,
                                         UCS_RSAGG_HDR_SIZE - 1, 0, 0));
    /* a ring payload has none */
    EXPECT_EQ(UCS_OK,
              ucs_rsagg_builder_init_oob(&b, buf, 64, NULL, 0, 0,
                                         UCS_RSAGG_FLAG_PAYLOAD_IN_RING));
}


TEST(rsagg_wire_builder, unknown_oob_flags_are_refused)
{
    uint8_t tbl[64], pl[64];
    ucs_rsagg_builder_t b = {};

    EXPECT_EQ(UCS_ERR_INVALID_PARAM,
              ucs_rsagg_builder_init_oob(&b, tbl, sizeof(tbl), pl, sizeof(pl),
                                         0, 0x8000));
}


TEST(rsagg_wire_builder, empty_batch_is_not_sent)
{
    uint8_t buf[64];
    ucs_rsagg_builder_t b = {};
    size_t payload_length = 123;

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, buf, sizeof(buf), 0));
    EXPECT_TRUE(ucs_rsagg_builder_is_empty(&b));
    EXPECT_EQ(0u, ucs_rsagg_builder_finish(&b, &payload_length));
    EXPECT_EQ(0u, payload_length);
}


TEST(rsagg_wire_builder, reserved_am_ids_are_refused)
{
    uint8_t buf[256];
    ucs_rsagg_builder_t b = {};
    void *dst;

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, buf, sizeof(buf), 0));
    for (unsigned id = UCS_RSAGG_AM_ID_USER_MAX; id < 256; ++id) {
        EXPECT_EQ(UCS_ERR_INVALID_PARAM,
                  ucs_rsagg_builder_add_am_short(&b, 0, uint8_t(id), 0, NULL,
                                                 0)) << id;
        EXPECT_EQ(UCS_ERR_INVALID_PARAM,
                  ucs_rsagg_builder_add_am(&b, 0, uint8_t(id), NULL, 0)) << id;
        EXPECT_EQ(UCS_ERR_INVALID_PARAM,
                  ucs_rsagg_builder_am_begin(&b, 0, uint8_t(id), 8, &dst))
            << id;
    }
    EXPECT_TRUE(ucs_rsagg_builder_is_empty(&b));
    EXPECT_EQ(UCS_OK, ucs_rsagg_builder_add_am(&b, 0,
                                               UCS_RSAGG_AM_ID_USER_MAX - 1,
                                               NULL, 0));
}


TEST(rsagg_wire_builder, record_that_does_not_fit_writes_nothing)
{
    uint8_t buf[64];
    ucs_rsagg_builder_t b = {};
    test_policy policy;
    bytes data = pattern(64, 1);

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, buf, sizeof(buf), 0));
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_add_am(&b, 0, 1, &data[0], 20));
    size_t length = ucs_rsagg_builder_length(&b);
    memset(buf + length, 0xee, sizeof(buf) - length);

    EXPECT_EQ(UCS_ERR_EXCEEDS_LIMIT,
              ucs_rsagg_builder_add_am(&b, 0, 1, &data[0], 40));
    EXPECT_EQ(UCS_ERR_EXCEEDS_LIMIT,
              ucs_rsagg_builder_add_am_short(&b, 2, 1, 0, &data[0], 20));
    EXPECT_EQ(UCS_ERR_EXCEEDS_LIMIT,
              ucs_rsagg_builder_add_put(&b, 0, 1, 0, &data[0], 10));

    EXPECT_EQ(length, ucs_rsagg_builder_length(&b));
    EXPECT_EQ(1u, ucs_rsagg_builder_count(&b));
    for (size_t i = length; i < sizeof(buf); ++i) {
        EXPECT_EQ(0xee, buf[i]) << "byte " << i << " was written";
    }

    received r = receive_batch(buf, ucs_rsagg_builder_finish(&b, NULL),
                               policy);
    EXPECT_ACCEPTED(r);
    EXPECT_EQ(1u, r.msgs.size());
}


TEST(rsagg_wire_builder, huge_lengths_do_not_wrap_the_space_check)
{
    uint8_t buf[64];
    ucs_rsagg_builder_t b = {};
    void *dst;

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, buf, sizeof(buf), 0));
    EXPECT_EQ(UCS_ERR_EXCEEDS_LIMIT,
              ucs_rsagg_builder_add_am(&b, 0, 1, buf, SIZE_MAX));
    EXPECT_EQ(UCS_ERR_EXCEEDS_LIMIT,
              ucs_rsagg_builder_add_am(&b, 0, 1, buf, SIZE_MAX - 3));
    EXPECT_EQ(UCS_ERR_EXCEEDS_LIMIT,
              ucs_rsagg_builder_add_put(&b, 0, 1, 0, buf, SIZE_MAX - 20));
    EXPECT_EQ(UCS_ERR_EXCEEDS_LIMIT,
              ucs_rsagg_builder_am_begin(&b, 0, 1, SIZE_MAX, &dst));
    EXPECT_EQ(UCS_ERR_EXCEEDS_LIMIT,
              ucs_rsagg_builder_put_begin(&b, 0, 1, 0, SIZE_MAX, &dst));
    EXPECT_EQ(UCS_ERR_EXCEEDS_LIMIT,
              ucs_rsagg_builder_add_am_short(&b, 0, 1, 0, buf, UINT32_MAX));
    EXPECT_TRUE(ucs_rsagg_builder_is_empty(&b));
}


/*
 * For every fill level and ep, max_length is exact: a record of that length
 * fits and one byte more does not.
 */
static void check_max_length_is_exact(bool oob, bool put)
{
    test_policy policy;

    for (size_t capacity = 20; capacity < 330; capacity += 7) {
        for (size_t first = 0; first < 40; first += 13) {
            for (uint32_t ep = 0; ep < 2; ++ep) {
                bytes tbl(capacity + 300), pl(capacity), data(capacity);
                ucs_rsagg_builder_t b = {}, copy;
                ucs_status_t status;
                ssize_t max;

                if (oob) {
                    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init_oob(
                            &b, &tbl[0], (capacity / 8) + 26, &pl[0],
                            capacity, 0, 0));
                } else {
                    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init(
                            &b, &tbl[0], capacity, 0));
                }
                if (ucs_rsagg_builder_add_am(&b, 0, 1, &data[0], first) !=
                    UCS_OK) {
                    continue;
                }

                max = put ? ucs_rsagg_builder_put_max_length(&b, ep) :
                            ucs_rsagg_builder_am_max_length(&b, ep);
                SCOPED_TRACE(testing::Message()
                             << "capacity " << capacity << " first " << first
                             << " ep " << ep << " max " << max);
                copy = b;
                status = put ? ucs_rsagg_builder_add_put(&b, ep, 1, 0,
                                                         &data[0], max + 1) :
                               ucs_rsagg_builder_add_am(&b, ep, 1, &data[0],
                                                        max + 1);
                EXPECT_EQ(UCS_ERR_EXCEEDS_LIMIT, status);
                if (max < 0) {
                    /* not even an empty record fits */
                    status = put ? ucs_rsagg_builder_add_put(&b, ep, 1, 0,
                                                             NULL, 0) :
                                   ucs_rsagg_builder_add_am(&b, ep, 1, NULL,
                                                            0);
                    EXPECT_EQ(UCS_ERR_EXCEEDS_LIMIT, status);
                    EXPECT_EQ(UCS_ERR_EXCEEDS_LIMIT, max);
                    continue;
                }
                b = copy;
                status = put ? ucs_rsagg_builder_add_put(&b, ep, 1, 0,
                                                         &data[0], max) :
                               ucs_rsagg_builder_add_am(&b, ep, 1, &data[0],
                                                        max);
                EXPECT_EQ(UCS_OK, status);
            }
        }
    }
}


TEST(rsagg_wire_builder, am_max_length_is_exact_embedded)
{
    check_max_length_is_exact(false, false);
}


TEST(rsagg_wire_builder, am_max_length_is_exact_out_of_band)
{
    check_max_length_is_exact(true, false);
}


TEST(rsagg_wire_builder, put_max_length_is_exact_embedded)
{
    check_max_length_is_exact(false, true);
}


TEST(rsagg_wire_builder, put_max_length_is_exact_out_of_band)
{
    check_max_length_is_exact(true, true);
}


TEST(rsagg_wire_builder, am_max_length_at_the_width_boundaries)
{
    /* room for exactly 255 + AM8, 256 + AM16 would not fit */
    const size_t rooms[]    = {2, 257, 258, 259, 65537, 65538, 65539, 65540,
                               65541, 70000};
    const ssize_t expect[]  = {0, 255, 255, 256, 65534, 65535, 65535, 65535,
                               65536, 69995};
    bytes buf(UCS_RSAGG_HDR_SIZE + 70000);
    ucs_rsagg_builder_t b = {};

    for (size_t i = 0; i < sizeof(rooms) / sizeof(rooms[0]); ++i) {
        ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, &buf[0],
                                                 UCS_RSAGG_HDR_SIZE + rooms[i],
                                                 0));
        EXPECT_EQ(expect[i], ucs_rsagg_builder_am_max_length(&b, 0))
            << "room " << rooms[i];
    }
}


TEST(rsagg_wire_builder, commit_without_begin_fails)
{
    uint8_t buf[64];
    ucs_rsagg_builder_t b = {};

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, buf, sizeof(buf), 0));
    EXPECT_EQ(UCS_ERR_INVALID_PARAM, ucs_rsagg_builder_commit(&b, 0));
    EXPECT_TRUE(ucs_rsagg_builder_is_empty(&b));
}


TEST(rsagg_wire_builder, commit_twice_fails)
{
    uint8_t buf[64];
    ucs_rsagg_builder_t b = {};
    void *dst;

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, buf, sizeof(buf), 0));
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_am_begin(&b, 0, 1, 8, &dst));
    EXPECT_EQ(UCS_OK, ucs_rsagg_builder_commit(&b, 8));
    EXPECT_EQ(UCS_ERR_INVALID_PARAM, ucs_rsagg_builder_commit(&b, 8));
    EXPECT_EQ(1u, ucs_rsagg_builder_count(&b));
}


TEST(rsagg_wire_builder, commit_longer_than_max_len_fails)
{
    uint8_t buf[64];
    ucs_rsagg_builder_t b = {};
    void *dst;

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, buf, sizeof(buf), 0));
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_am_begin(&b, 0, 1, 8, &dst));
    EXPECT_EQ(UCS_ERR_INVALID_PARAM, ucs_rsagg_builder_commit(&b, 9));
    EXPECT_TRUE(ucs_rsagg_builder_is_empty(&b));
}


TEST(rsagg_wire_builder, commit_after_another_add_fails)
{
    uint8_t buf[128];
    ucs_rsagg_builder_t b = {};
    void *dst;

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, buf, sizeof(buf), 0));
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_am_begin(&b, 0, 1, 8, &dst));
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_add_am(&b, 0, 2, NULL, 0));
    EXPECT_EQ(UCS_ERR_INVALID_PARAM, ucs_rsagg_builder_commit(&b, 8));
    EXPECT_EQ(1u, ucs_rsagg_builder_count(&b));
}


TEST(rsagg_wire_builder, begin_that_does_not_fit_leaves_nothing_pending)
{
    uint8_t buf[64];
    ucs_rsagg_builder_t b = {};
    void *dst;

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, buf, sizeof(buf), 0));
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_am_begin(&b, 0, 1, 8, &dst));
    EXPECT_EQ(UCS_ERR_EXCEEDS_LIMIT,
              ucs_rsagg_builder_am_begin(&b, 0, 1, 1000, &dst));
    EXPECT_EQ(UCS_ERR_INVALID_PARAM, ucs_rsagg_builder_commit(&b, 8));
    EXPECT_TRUE(ucs_rsagg_builder_is_empty(&b));
}


TEST(rsagg_wire_builder, uncommitted_begin_is_dropped)
{
    uint8_t buf[128];
    ucs_rsagg_builder_t b = {};
    test_policy policy;
    void *dst;

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, buf, sizeof(buf), 0));
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_add_am(&b, 0, 1, NULL, 0));
    /* a begin from another ep, abandoned */
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_am_begin(&b, 9, 2, 16, &dst));
    memset(dst, 0xaa, 16);
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_add_am(&b, 0, 3, NULL, 0));

    received r = receive_batch(buf, ucs_rsagg_builder_finish(&b, NULL),
                               policy);
    EXPECT_ACCEPTED(r);
    std::vector<message> expected;
    expected.push_back(message::am(0, 1, bytes()));
    expected.push_back(message::am(0, 3, bytes()));
    EXPECT_EQ(expected, r.msgs);
}


TEST(rsagg_wire_builder, finish_drops_a_pending_begin)
{
    uint8_t buf[128];
    ucs_rsagg_builder_t b = {};
    void *dst;

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, buf, sizeof(buf), 0));
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_add_am(&b, 0, 1, NULL, 0));
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_am_begin(&b, 0, 2, 16, &dst));
    size_t length = ucs_rsagg_builder_finish(&b, NULL);
    EXPECT_EQ(UCS_ERR_INVALID_PARAM, ucs_rsagg_builder_commit(&b, 16));
    EXPECT_EQ(length, ucs_rsagg_builder_length(&b));
}


TEST(rsagg_wire_builder, out_of_band_begin_points_into_the_payload)
{
    uint8_t tbl[64], pl[64];
    ucs_rsagg_builder_t b = {};
    test_policy policy;
    void *dst;

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init_oob(&b, tbl, sizeof(tbl), pl,
                                                 sizeof(pl), 3, 0));
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_am_begin(&b, 0, 1, 20, &dst));
    EXPECT_EQ(static_cast<void*>(pl + UCS_RSAGG_HDR_SIZE), dst);
    memset(dst, 0x5a, 20);
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_commit(&b, 20));
    /* payload full: 64 - 16 header - 20 = 28 left */
    EXPECT_EQ(28, ucs_rsagg_builder_am_max_length(&b, 0));
    EXPECT_EQ(UCS_ERR_EXCEEDS_LIMIT,
              ucs_rsagg_builder_am_begin(&b, 0, 1, 29, &dst));

    size_t payload_length;
    size_t length = ucs_rsagg_builder_finish(&b, &payload_length);
    EXPECT_EQ(UCS_RSAGG_HDR_SIZE + 20u, payload_length);
    received r = receive_oob_msg(bytes(tbl, tbl + length),
                                 bytes(pl, pl + payload_length), policy);
    EXPECT_ACCEPTED(r);
    ASSERT_EQ(1u, r.msgs.size());
    EXPECT_EQ(bytes(20, 0x5a), r.msgs[0].payload);
}


TEST(rsagg_wire_builder, out_of_band_table_full_before_payload)
{
    uint8_t tbl[UCS_RSAGG_TABLE_HDR_SIZE + 2 * UCS_RSAGG_REC_AM8_SIZE];
    uint8_t pl[1024];
    ucs_rsagg_builder_t b = {};

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init_oob(
            &b, tbl, sizeof(tbl), pl, sizeof(pl), 3,
            UCS_RSAGG_FLAG_PAYLOAD_IN_RING));
    EXPECT_EQ(UCS_OK, ucs_rsagg_builder_add_am(&b, 0, 1, pl, 8));
    EXPECT_EQ(UCS_OK, ucs_rsagg_builder_add_am(&b, 0, 1, pl, 8));
    EXPECT_EQ(UCS_ERR_EXCEEDS_LIMIT,
              ucs_rsagg_builder_add_am(&b, 0, 1, pl, 8));
    EXPECT_EQ(16u, ucs_rsagg_builder_payload_length(&b));
}


TEST(rsagg_wire_builder, ep_switch_counts_as_a_record)
{
    uint8_t buf[256];
    ucs_rsagg_builder_t b = {};

    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, buf, sizeof(buf), 0));
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_add_am(&b, 0, 1, NULL, 0));
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_add_am(&b, 4, 1, NULL, 0));
    ASSERT_EQ(UCS_OK, ucs_rsagg_builder_add_am(&b, 4, 1, NULL, 0));
    EXPECT_EQ(4u, ucs_rsagg_builder_count(&b));
}


TEST(rsagg_wire_range, contains_is_exact_and_overflow_safe)
{
    EXPECT_TRUE(ucs_rsagg_range_contains(100, 50, 100, 50));
    EXPECT_TRUE(ucs_rsagg_range_contains(100, 50, 149, 1));
    EXPECT_TRUE(ucs_rsagg_range_contains(100, 50, 150, 0));
    EXPECT_FALSE(ucs_rsagg_range_contains(100, 50, 149, 2));
    EXPECT_FALSE(ucs_rsagg_range_contains(100, 50, 99, 1));
    EXPECT_FALSE(ucs_rsagg_range_contains(100, 50, 151, 0));
    EXPECT_FALSE(ucs_rsagg_range_contains(100, 50, 120, UINT64_MAX));
    EXPECT_FALSE(ucs_rsagg_range_contains(100, 50, UINT64_MAX, 2));
    EXPECT_TRUE(ucs_rsagg_range_contains(0, UINT64_MAX, UINT64_MAX - 1, 1));
    EXPECT_FALSE(ucs_rsagg_range_contains(UINT64_MAX - 10, 20, 0, 1));
}
