/*
 * libFuzzer target over the rsagg receive side (src/ucs/rsagg_parser.c), both
 * forms of the multiplexing information and the control message. Input
 * layout: fuzz_input.h.
 *
 * Besides ASan/UBSan finding any out-of-bounds access or undefined behavior,
 * the target aborts when the parser breaks a promise:
 *  - a rejected transfer has a reason whose status was returned, and an
 *    iterator that yields nothing;
 *  - an accepted transfer yields exactly msg_count records, each inside the
 *    received buffers and allowed by the policy;
 *  - rebuilding the accepted records with the builder, in both forms, gives
 *    transfers that are accepted and yield the same records.
 */

#include "fuzz_input.h"

#include <ucs/rsagg_builder.h>
#include <ucs/rsagg_parser.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct {
    uint64_t key;
    uint64_t base;
    uint64_t size;
} rsagg_fuzz_region_t;

static const rsagg_fuzz_region_t rsagg_fuzz_regions[] = RSAGG_FUZZ_REGIONS;


#define RSAGG_FUZZ_CHECK(_cond) \
    do { \
        if (!(_cond)) { \
            fprintf(stderr, "%s:%d: broken promise: %s\n", __FILE__, \
                    __LINE__, #_cond); \
            abort(); \
        } \
    } while (0)


static ucs_status_t rsagg_fuzz_put_check(void *arg, uint64_t key,
                                         uint64_t addr, size_t length)
{
    size_t i;

    (void)arg;
    for (i = 0; i < sizeof(rsagg_fuzz_regions) /
                    sizeof(rsagg_fuzz_regions[0]); ++i) {
        if ((rsagg_fuzz_regions[i].key == key) &&
            ucs_rsagg_range_contains(rsagg_fuzz_regions[i].base,
                                     rsagg_fuzz_regions[i].size, addr,
                                     length)) {
            return UCS_OK;
        }
    }
    return UCS_ERR_INVALID_ADDR;
}


static const ucs_rsagg_policy_t rsagg_fuzz_policy = {
    .am_id_mask = ((1ull << UCS_RSAGG_AM_ID_USER_MAX) - 1) &
                  ~(1ull << RSAGG_FUZZ_NO_HANDLER_ID),
    .max_ep_id  = RSAGG_FUZZ_MAX_EP_ID,
    .put_check  = rsagg_fuzz_put_check,
    .put_arg    = NULL
};


/* A copy of exactly the given size, so that ASan sees reads past its end */
static uint8_t *rsagg_fuzz_copy(const uint8_t *data, size_t length)
{
    uint8_t *copy = malloc(length ? length : 1);

    RSAGG_FUZZ_CHECK(copy != NULL);
    if (length != 0) {
        memcpy(copy, data, length);
    }
    return copy;
}


static int rsagg_fuzz_inside(const void *p, size_t length, const uint8_t *buf,
                             size_t buf_length)
{
    uintptr_t start = (uintptr_t)p, b = (uintptr_t)buf;

    return (start >= b) && ((start - b) <= buf_length) &&
           (length <= (buf_length - (start - b)));
}


static void rsagg_fuzz_check_rejected(ucs_status_t status,
                                      const ucs_rsagg_error_t *err,
                                      ucs_rsagg_iter_t *iter)
{
    ucs_rsagg_record_t rec;

    RSAGG_FUZZ_CHECK(status != UCS_OK);
    RSAGG_FUZZ_CHECK(err->reason != UCS_RSAGG_REASON_OK);
    RSAGG_FUZZ_CHECK(ucs_rsagg_reason_status(err->reason) == status);
    RSAGG_FUZZ_CHECK(ucs_rsagg_reason_str(err->reason) != NULL);
    if (iter != NULL) {
        RSAGG_FUZZ_CHECK(!ucs_rsagg_iter_next(iter, &rec));
    }
}


static int rsagg_fuzz_same(const ucs_rsagg_record_t *a,
                           const ucs_rsagg_record_t *b)
{
    return (a->kind == b->kind) && (a->ep_id == b->ep_id) &&
           (a->am_id == b->am_id) && (a->put_key == b->put_key) &&
           (a->put_addr == b->put_addr) && (a->length == b->length) &&
           ((a->length == 0) ||
            !memcmp(a->payload, b->payload, a->length));
}


/* Rebuild recs in one form, validate, and compare */
static void rsagg_fuzz_rebuild(const ucs_rsagg_record_t *recs, unsigned n,
                               size_t payload_total, int oob)
{
    size_t capacity = UCS_RSAGG_TABLE_HDR_SIZE + payload_total +
                      (size_t)n * (UCS_RSAGG_REC_PUT_SIZE +
                                   UCS_RSAGG_REC_EP_SIZE);
    uint8_t *buf    = malloc(capacity);
    uint8_t *pl     = oob ? malloc(payload_total + 1) : NULL;
    ucs_rsagg_builder_t b;
    ucs_rsagg_iter_t iter;
    ucs_rsagg_error_t err;
    ucs_rsagg_record_t rec;
    ucs_status_t status;
    size_t length, pl_length;
    unsigned i;

    RSAGG_FUZZ_CHECK(buf != NULL);
    if (oob) {
        RSAGG_FUZZ_CHECK(pl != NULL);
        status = ucs_rsagg_builder_init_oob(&b, buf, capacity, pl,
                                            payload_total, 1,
                                            UCS_RSAGG_FLAG_PAYLOAD_IN_RING);
    } else {
        status = ucs_rsagg_builder_init(&b, buf, capacity, 1);
    }
    RSAGG_FUZZ_CHECK(status == UCS_OK);

    for (i = 0; i < n; ++i) {
        if (recs[i].kind == UCS_RSAGG_REC_KIND_AM) {
            status = ucs_rsagg_builder_add_am(&b, recs[i].ep_id,
                                              recs[i].am_id,
                                              recs[i].payload,
                                              recs[i].length);
        } else {
            status = ucs_rsagg_builder_add_put(&b, recs[i].ep_id,
                                               recs[i].put_key,
                                               recs[i].put_addr,
                                               recs[i].payload,
                                               recs[i].length);
        }
        RSAGG_FUZZ_CHECK(status == UCS_OK);
    }

    length = ucs_rsagg_builder_finish(&b, &pl_length);
    RSAGG_FUZZ_CHECK(length == ucs_rsagg_builder_length(&b));
    if (oob) {
        RSAGG_FUZZ_CHECK(pl_length == payload_total);
        status = ucs_rsagg_oob_validate(buf, length, pl, pl_length,
                                        &rsagg_fuzz_policy, &iter, &err);
    } else {
        status = ucs_rsagg_batch_validate(buf, length, &rsagg_fuzz_policy,
                                          &iter, &err);
    }
    RSAGG_FUZZ_CHECK(status == UCS_OK);
    RSAGG_FUZZ_CHECK(iter.msg_count == n);
    for (i = 0; ucs_rsagg_iter_next(&iter, &rec); ++i) {
        RSAGG_FUZZ_CHECK(i < n);
        RSAGG_FUZZ_CHECK(rsagg_fuzz_same(&rec, &recs[i]));
    }
    RSAGG_FUZZ_CHECK(i == n);

    free(pl);
    free(buf);
}


static void rsagg_fuzz_deliver(ucs_rsagg_iter_t *iter, const uint8_t *buf1,
                               size_t len1, const uint8_t *buf2, size_t len2)
{
    unsigned n              = iter->msg_count;
    ucs_rsagg_record_t *recs = malloc(sizeof(*recs) * (n ? n : 1));
    size_t payload_total    = 0;
    volatile uint8_t sink   = 0;
    unsigned i;
    size_t j;

    RSAGG_FUZZ_CHECK(recs != NULL);
    for (i = 0; ucs_rsagg_iter_next(iter, &recs[i]); ++i) {
        const ucs_rsagg_record_t *rec = &recs[i];

        RSAGG_FUZZ_CHECK(i < n);
        RSAGG_FUZZ_CHECK(rsagg_fuzz_inside(rec->payload, rec->length, buf1,
                                           len1) ||
                         ((buf2 != NULL) &&
                          rsagg_fuzz_inside(rec->payload, rec->length, buf2,
                                            len2)));
        RSAGG_FUZZ_CHECK(rec->ep_id <= RSAGG_FUZZ_MAX_EP_ID);
        if (rec->kind == UCS_RSAGG_REC_KIND_AM) {
            RSAGG_FUZZ_CHECK(rec->am_id < UCS_RSAGG_AM_ID_USER_MAX);
            RSAGG_FUZZ_CHECK(rec->am_id != RSAGG_FUZZ_NO_HANDLER_ID);
        } else {
            RSAGG_FUZZ_CHECK(rec->kind == UCS_RSAGG_REC_KIND_PUT);
            RSAGG_FUZZ_CHECK(rsagg_fuzz_put_check(NULL, rec->put_key,
                                                  rec->put_addr,
                                                  rec->length) == UCS_OK);
        }
        /* a handler reads all of it */
        for (j = 0; j < rec->length; ++j) {
            sink ^= ((const uint8_t*)rec->payload)[j];
        }
        payload_total += rec->length;
        /* i + 1 <= n: recs has room for the next call only if i + 1 < n */
        if (i + 1 == n) {
            ucs_rsagg_record_t extra;
            RSAGG_FUZZ_CHECK(!ucs_rsagg_iter_next(iter, &extra));
            ++i;
            break;
        }
    }
    RSAGG_FUZZ_CHECK(i == n);
    (void)sink;

    rsagg_fuzz_rebuild(recs, n, payload_total, 0);
    rsagg_fuzz_rebuild(recs, n, payload_total, 1);
    free(recs);
}


/* Split the rest of the input into table and payload */
static void rsagg_fuzz_split(const uint8_t *data, size_t size,
                             const uint8_t **table_p, size_t *table_len_p,
                             const uint8_t **payload_p, size_t *payload_len_p)
{
    size_t table_len = 0;

    if (size >= 2) {
        table_len = (size_t)data[0] | ((size_t)data[1] << 8);
        data     += 2;
        size     -= 2;
    } else {
        data += size;
        size  = 0;
    }
    if (table_len > size) {
        table_len = size;
    }
    *table_p       = data;
    *table_len_p   = table_len;
    *payload_p     = data + table_len;
    *payload_len_p = size - table_len;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *table, *payload;
    size_t table_len, payload_len;
    uint8_t *msg, *pl;
    ucs_rsagg_iter_t iter;
    ucs_rsagg_error_t err;
    ucs_rsagg_ctrl_t ctrl;
    ucs_status_t status;

    if (size < 1) {
        return 0;
    }

    switch (data[0] % RSAGG_FUZZ_MODE_LAST) {
    case RSAGG_FUZZ_MODE_BATCH:
        msg    = rsagg_fuzz_copy(data + 1, size - 1);
        status = ucs_rsagg_batch_validate(msg, size - 1, &rsagg_fuzz_policy,
                                          &iter, &err);
        if (status == UCS_OK) {
            RSAGG_FUZZ_CHECK(err.reason == UCS_RSAGG_REASON_OK);
            rsagg_fuzz_deliver(&iter, msg, size - 1, NULL, 0);
        } else {
            rsagg_fuzz_check_rejected(status, &err, &iter);
        }
        free(msg);
        break;
    case RSAGG_FUZZ_MODE_OOB_MSG:
    case RSAGG_FUZZ_MODE_OOB_RING:
        rsagg_fuzz_split(data + 1, size - 1, &table, &table_len, &payload,
                         &payload_len);
        msg = rsagg_fuzz_copy(table, table_len);
        pl  = rsagg_fuzz_copy(payload, payload_len);
        if ((data[0] % RSAGG_FUZZ_MODE_LAST) == RSAGG_FUZZ_MODE_OOB_MSG) {
            status = ucs_rsagg_oob_validate_msg(msg, table_len, pl,
                                                payload_len,
                                                &rsagg_fuzz_policy, &iter,
                                                &err);
        } else {
            status = ucs_rsagg_oob_validate(msg, table_len, pl, payload_len,
                                            &rsagg_fuzz_policy, &iter, &err);
        }
        if (status == UCS_OK) {
            rsagg_fuzz_deliver(&iter, msg, table_len, pl, payload_len);
        } else {
            rsagg_fuzz_check_rejected(status, &err, &iter);
        }
        free(pl);
        free(msg);
        break;
    default:
        msg    = rsagg_fuzz_copy(data + 1, size - 1);
        status = ucs_rsagg_ctrl_unpack(msg, size - 1, &ctrl, &err);
        if (status == UCS_OK) {
            RSAGG_FUZZ_CHECK((ctrl.op >= UCS_RSAGG_CTRL_OP_CREDIT) &&
                             (ctrl.op <= UCS_RSAGG_CTRL_OP_LAST));
            RSAGG_FUZZ_CHECK(size - 1 ==
                             UCS_RSAGG_CTRL_SIZE + ctrl.body_length);
            /* requests and close carry a return address, a grant its
             * fixed part */
            RSAGG_FUZZ_CHECK(((ctrl.op == UCS_RSAGG_CTRL_OP_FLUSH_REQ) ||
                              (ctrl.op == UCS_RSAGG_CTRL_OP_RING_REQ) ||
                              (ctrl.op == UCS_RSAGG_CTRL_OP_RING_GRANT) ||
                              (ctrl.op == UCS_RSAGG_CTRL_OP_CLOSE)) ==
                             (ctrl.body_length != 0));
            RSAGG_FUZZ_CHECK((ctrl.op != UCS_RSAGG_CTRL_OP_RING_GRANT) ||
                             (ctrl.body_length >=
                              UCS_RSAGG_RING_GRANT_FIXED));
            RSAGG_FUZZ_CHECK(ctrl.body_length <= UCS_RSAGG_CTRL_MAX_BODY);
            RSAGG_FUZZ_CHECK((ctrl.body_length == 0) ||
                             (ctrl.body == msg + UCS_RSAGG_CTRL_SIZE));
            if (ctrl.op == UCS_RSAGG_CTRL_OP_RING_GRANT) {
                ucs_rsagg_ring_grant_t grant;
                if (ucs_rsagg_ring_grant_unpack(&ctrl, &grant) == UCS_OK) {
                    /* the slice is addressable by a 32-bit ring offset,
                     * and the rkey lies inside the message */
                    RSAGG_FUZZ_CHECK(grant.size > 0);
                    RSAGG_FUZZ_CHECK((uint64_t)grant.offset + grant.size <=
                                     UINT32_MAX);
                    RSAGG_FUZZ_CHECK((const uint8_t*)grant.rkey +
                                     grant.rkey_length == msg + size - 1);
                }
            }
        } else {
            rsagg_fuzz_check_rejected(status, &err, NULL);
        }
        free(msg);
        break;
    }
    return 0;
}
