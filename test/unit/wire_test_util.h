/*
 * Helpers for the rsagg wire format tests: a receiver policy with a few
 * put regions, and messages built into std::vectors.
 */

#ifndef RSAGG_UNIT_WIRE_TEST_UTIL_H_
#define RSAGG_UNIT_WIRE_TEST_UTIL_H_

#include <ucs/rsagg_builder.h>
#include <ucs/rsagg_parser.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

namespace rsagg_wire_test {

typedef std::vector<uint8_t> bytes;


/* A put target the test receiver has registered */
struct region {
    uint64_t key;
    uint64_t base;
    uint64_t size;
};


/*
 * Receiver policy: every user am id has a handler unless removed, ep ids up
 * to max_ep_id, puts inside the listed regions. Counts put_check calls.
 */
class test_policy {
public:
    test_policy() : put_checks(0)
    {
        m_policy.am_id_mask = (1ull << UCS_RSAGG_AM_ID_USER_MAX) - 1;
        m_policy.max_ep_id  = 1000;
        m_policy.put_check  = put_check_cb;
        m_policy.put_arg    = this;
    }

    void remove_handler(uint8_t am_id)
    {
        m_policy.am_id_mask &= ~(1ull << am_id);
    }

    void set_all_am_bits()
    {
        m_policy.am_id_mask = UINT64_MAX;
    }

    void set_max_ep_id(uint32_t max_ep_id)
    {
        m_policy.max_ep_id = max_ep_id;
    }

    void add_region(uint64_t key, uint64_t base, uint64_t size)
    {
        region r = {key, base, size};
        regions.push_back(r);
    }

    void disable_puts()
    {
        m_policy.put_check = NULL;
    }

    const ucs_rsagg_policy_t *get() const
    {
        return &m_policy;
    }

    std::vector<region> regions;
    unsigned            put_checks;

private:
    static ucs_status_t put_check_cb(void *arg, uint64_t key, uint64_t addr,
                                     size_t length)
    {
        test_policy *self = static_cast<test_policy*>(arg);

        ++self->put_checks;
        for (size_t i = 0; i < self->regions.size(); ++i) {
            const region &r = self->regions[i];
            if ((r.key == key) &&
                ucs_rsagg_range_contains(r.base, r.size, addr, length)) {
                return UCS_OK;
            }
        }
        return UCS_ERR_INVALID_ADDR;
    }

    ucs_rsagg_policy_t m_policy;
};


/* A record as a test expects to receive it */
struct message {
    ucs_rsagg_rec_kind_t kind;
    uint32_t             ep_id;
    uint8_t              am_id;
    uint64_t             key;
    uint64_t             addr;
    bytes                payload;

    static message am(uint32_t ep_id, uint8_t am_id, const bytes &payload)
    {
        message m = {UCS_RSAGG_REC_KIND_AM, ep_id, am_id, 0, 0, payload};
        return m;
    }

    static message put(uint32_t ep_id, uint64_t key, uint64_t addr,
                       const bytes &payload)
    {
        message m = {UCS_RSAGG_REC_KIND_PUT, ep_id, 0, key, addr, payload};
        return m;
    }

    bool operator==(const message &other) const
    {
        return (kind == other.kind) && (ep_id == other.ep_id) &&
               (am_id == other.am_id) && (key == other.key) &&
               (addr == other.addr) && (payload == other.payload);
    }
};

inline std::ostream &operator<<(std::ostream &os, const message &m)
{
    os << ((m.kind == UCS_RSAGG_REC_KIND_AM) ? "AM" : "PUT") << "{ep "
       << m.ep_id;
    if (m.kind == UCS_RSAGG_REC_KIND_AM) {
        os << " id " << unsigned(m.am_id);
    } else {
        os << " key " << m.key << " addr " << m.addr;
    }
    return os << " len " << m.payload.size() << "}";
}


/* Deterministic payload: the bytes differ per message and position */
inline bytes pattern(size_t length, unsigned seed)
{
    bytes b(length);
    for (size_t i = 0; i < length; ++i) {
        b[i] = uint8_t((i * 31 + seed * 7 + (i >> 8)) & 0xff);
    }
    return b;
}


/* Append m with the builder's add_* call that takes a whole buffer */
inline ucs_status_t add_message(ucs_rsagg_builder_t *b, const message &m)
{
    const void *data = m.payload.empty() ? NULL : &m.payload[0];

    if (m.kind == UCS_RSAGG_REC_KIND_AM) {
        return ucs_rsagg_builder_add_am(b, m.ep_id, m.am_id, data,
                                        m.payload.size());
    }
    return ucs_rsagg_builder_add_put(b, m.ep_id, m.key, m.addr, data,
                                     m.payload.size());
}


/* A finished embedded batch, or an oob table + payload */
struct transfer {
    bytes    msg;       /* batch, or oob table */
    bytes    payload;   /* oob: payload message or ring payload */
    size_t   length;    /* finish() result */
    size_t   payload_length;
};


/* Build an embedded batch of msgs; every add must succeed */
inline transfer build_embedded(const std::vector<message> &msgs,
                               uint32_t seq = 1, size_t capacity = 65536)
{
    transfer t;
    ucs_rsagg_builder_t b = {};

    t.msg.resize(capacity);
    EXPECT_EQ(UCS_OK, ucs_rsagg_builder_init(&b, &t.msg[0], capacity, seq));
    for (size_t i = 0; i < msgs.size(); ++i) {
        EXPECT_EQ(UCS_OK, add_message(&b, msgs[i])) << "message " << i;
    }
    t.length = ucs_rsagg_builder_finish(&b, &t.payload_length);
    t.msg.resize(t.length);
    return t;
}


/* Build an out-of-band table + payload of msgs; flags as init_oob takes */
inline transfer build_oob(const std::vector<message> &msgs, uint32_t seq = 1,
                          unsigned flags = 0, uint32_t ring_offset = 0,
                          size_t capacity = 65536)
{
    transfer t;
    ucs_rsagg_builder_t b = {};

    t.msg.resize(capacity);
    t.payload.resize(capacity);
    EXPECT_EQ(UCS_OK, ucs_rsagg_builder_init_oob(&b, &t.msg[0], capacity,
                                                 &t.payload[0], capacity,
                                                 seq, flags));
    ucs_rsagg_builder_set_ring_offset(&b, ring_offset);
    for (size_t i = 0; i < msgs.size(); ++i) {
        EXPECT_EQ(UCS_OK, add_message(&b, msgs[i])) << "message " << i;
    }
    t.length = ucs_rsagg_builder_finish(&b, &t.payload_length);
    t.msg.resize(t.length);
    t.payload.resize(t.payload_length);
    return t;
}


/* Result of validating and then iterating a transfer */
struct received {
    ucs_status_t         status;
    ucs_rsagg_error_t    err;
    std::vector<message> msgs;
    unsigned             msg_count;  /* iter.msg_count */
};


inline void drain(ucs_rsagg_iter_t *iter, received *r)
{
    ucs_rsagg_record_t rec;

    r->msg_count = iter->msg_count;
    while (ucs_rsagg_iter_next(iter, &rec)) {
        const uint8_t *p = static_cast<const uint8_t*>(rec.payload);
        bytes payload(p, p + rec.length);

        if (rec.kind == UCS_RSAGG_REC_KIND_AM) {
            r->msgs.push_back(message::am(rec.ep_id, rec.am_id, payload));
        } else {
            r->msgs.push_back(message::put(rec.ep_id, rec.put_key,
                                           rec.put_addr, payload));
        }
    }
}


/*
 * Copy into a buffer of exactly that size, so that reading past the end is
 * seen by ASan/valgrind, and an empty message has a valid pointer too.
 */
class exact_copy {
public:
    exact_copy(const uint8_t *data, size_t length) :
        m_buf(new uint8_t[length ? length : 1]), m_length(length)
    {
        if (length != 0) {
            memcpy(m_buf, data, length);
        }
    }

    ~exact_copy()
    {
        delete[] m_buf;
    }

    const uint8_t *data() const
    {
        return m_buf;
    }

    size_t length() const
    {
        return m_length;
    }

private:
    exact_copy(const exact_copy&);
    exact_copy &operator=(const exact_copy&);

    uint8_t *m_buf;
    size_t  m_length;
};


inline received receive_batch(const uint8_t *data, size_t length,
                               const test_policy &policy)
{
    exact_copy copy(data, length);
    received r;
    ucs_rsagg_iter_t iter;

    r.status = ucs_rsagg_batch_validate(copy.data(), copy.length(),
                                        policy.get(), &iter, &r.err);
    drain(&iter, &r);
    return r;
}


inline received receive_batch(const bytes &msg, const test_policy &policy)
{
    return receive_batch(msg.empty() ? NULL : &msg[0], msg.size(), policy);
}


/* oob with a payload message (UCS_RSAGG_AM_ID_OOB_PAYLOAD) */
inline received receive_oob_msg(const bytes &table, const bytes &payload_msg,
                                const test_policy &policy)
{
    exact_copy t(table.empty() ? NULL : &table[0], table.size());
    exact_copy p(payload_msg.empty() ? NULL : &payload_msg[0],
                 payload_msg.size());
    received r;
    ucs_rsagg_iter_t iter;

    r.status = ucs_rsagg_oob_validate_msg(t.data(), t.length(), p.data(),
                                          p.length(), policy.get(), &iter,
                                          &r.err);
    drain(&iter, &r);
    return r;
}


/* oob with the bare payload (ring slot) */
inline received receive_oob_raw(const bytes &table, const bytes &payload,
                                const test_policy &policy)
{
    exact_copy t(table.empty() ? NULL : &table[0], table.size());
    exact_copy p(payload.empty() ? NULL : &payload[0], payload.size());
    received r;
    ucs_rsagg_iter_t iter;

    r.status = ucs_rsagg_oob_validate(t.data(), t.length(), p.data(),
                                      p.length(), policy.get(), &iter, &r.err);
    drain(&iter, &r);
    return r;
}


/* Field access for tests that corrupt messages */
inline void set16(bytes *b, size_t offset, uint16_t v)
{
    ucs_rsagg_wire_put16(&(*b)[offset], v);
}

inline void set32(bytes *b, size_t offset, uint32_t v)
{
    ucs_rsagg_wire_put32(&(*b)[offset], v);
}

inline void set64(bytes *b, size_t offset, uint64_t v)
{
    ucs_rsagg_wire_put64(&(*b)[offset], v);
}

inline uint32_t get32(const bytes &b, size_t offset)
{
    return ucs_rsagg_wire_get32(&b[offset]);
}

} // namespace rsagg_wire_test


/* Readable failure messages for statuses and reasons */
inline std::ostream &operator<<(std::ostream &os,
                                const ucs_rsagg_error_t &err)
{
    return os << ucs_rsagg_reason_str(err.reason) << " at offset "
              << err.offset << " value " << err.value;
}

namespace rsagg_wire_test {

/* Rejected with this status and reason, and nothing delivered */
inline testing::AssertionResult
rejected_as(const received &r, ucs_status_t status, ucs_rsagg_reason_t reason)
{
    if ((r.status == status) && (r.err.reason == reason) && r.msgs.empty()) {
        return testing::AssertionSuccess();
    }
    return testing::AssertionFailure()
           << "expected " << ucs_rsagg_reason_str(reason) << " (status "
           << int(status) << "), got " << r.err << " (status "
           << int(r.status) << "), " << r.msgs.size()
           << " messages delivered";
}

inline testing::AssertionResult accepted(const received &r)
{
    if ((r.status == UCS_OK) && (r.err.reason == UCS_RSAGG_REASON_OK)) {
        return testing::AssertionSuccess();
    }
    return testing::AssertionFailure() << "rejected: " << r.err
                                       << " (status " << int(r.status) << ")";
}

} // namespace rsagg_wire_test

#define EXPECT_REJECTED(_r, _status, _reason) \
    EXPECT_TRUE(rsagg_wire_test::rejected_as(_r, _status, _reason))

#define EXPECT_ACCEPTED(_r) \
    EXPECT_TRUE(rsagg_wire_test::accepted(_r))

#endif
