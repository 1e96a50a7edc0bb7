/**
 * rsagg receive side: see rsagg_parser.h.
 *
 * All bounds checks compare a length against the bytes that remain
 * (end - pos), never pos + length against end, so no pointer is ever formed
 * outside the buffers and no addition can overflow.
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_parser.h"


static const struct {
    const char   *str;
    ucs_status_t status;
} ucs_rsagg_reasons[] = {
    [UCS_RSAGG_REASON_OK]               = {"ok", UCS_OK},
    [UCS_RSAGG_REASON_TRUNCATED_HEADER] = {"truncated header",
                                           UCS_ERR_MESSAGE_TRUNCATED},
    [UCS_RSAGG_REASON_TRUNCATED]        = {"shorter than its length field",
                                           UCS_ERR_MESSAGE_TRUNCATED},
    [UCS_RSAGG_REASON_VERSION_MISMATCH] = {"format version mismatch",
                                           UCS_ERR_UNSUPPORTED},
    [UCS_RSAGG_REASON_BAD_FLAGS]        = {"unknown or inconsistent flags",
                                           UCS_ERR_UNSUPPORTED},
    [UCS_RSAGG_REASON_BAD_MAGIC]        = {"bad magic",
                                           UCS_ERR_INVALID_PARAM},
    [UCS_RSAGG_REASON_BAD_TYPE]         = {"wrong message type",
                                           UCS_ERR_INVALID_PARAM},
    [UCS_RSAGG_REASON_LENGTH_MISMATCH]  = {"length field mismatch",
                                           UCS_ERR_INVALID_PARAM},
    [UCS_RSAGG_REASON_EMPTY]            = {"no messages",
                                           UCS_ERR_INVALID_PARAM},
    [UCS_RSAGG_REASON_COUNT_MISMATCH]   = {"record count mismatch",
                                           UCS_ERR_INVALID_PARAM},
    [UCS_RSAGG_REASON_RECORD_TRUNCATED] = {"truncated record",
                                           UCS_ERR_INVALID_PARAM},
    [UCS_RSAGG_REASON_LENGTH_OVERFLOW]  = {"record length overflow",
                                           UCS_ERR_INVALID_PARAM},
    [UCS_RSAGG_REASON_BAD_RECORD_KIND]  = {"unknown record kind",
                                           UCS_ERR_INVALID_PARAM},
    [UCS_RSAGG_REASON_TRAILING_GARBAGE] = {"trailing bytes after records",
                                           UCS_ERR_INVALID_PARAM},
    [UCS_RSAGG_REASON_SEQ_MISMATCH]     = {"oob table/payload seq mismatch",
                                           UCS_ERR_INVALID_PARAM},
    [UCS_RSAGG_REASON_PAYLOAD_LENGTH_MISMATCH] = {
                                           "oob payload length mismatch",
                                           UCS_ERR_INVALID_PARAM},
    [UCS_RSAGG_REASON_PAYLOAD_COUNT_MISMATCH]  = {
                                           "oob table/payload count mismatch",
                                           UCS_ERR_INVALID_PARAM},
    [UCS_RSAGG_REASON_BAD_CTRL_OP]      = {"unknown control operation",
                                           UCS_ERR_INVALID_PARAM},
    [UCS_RSAGG_REASON_UNKNOWN_AM_ID]    = {"unknown am id",
                                           UCS_ERR_NO_ELEM},
    [UCS_RSAGG_REASON_EP_OUT_OF_RANGE]  = {"ep id out of range",
                                           UCS_ERR_OUT_OF_RANGE},
    [UCS_RSAGG_REASON_PUT_OUT_OF_BOUNDS] = {"put out of bounds",
                                           UCS_ERR_INVALID_ADDR}
};

const char *ucs_rsagg_reason_str(ucs_rsagg_reason_t reason)
{
    /* every reason has an entry */
    UCS_STATIC_ASSERT(sizeof(ucs_rsagg_reasons) /
                      sizeof(ucs_rsagg_reasons[0]) == UCS_RSAGG_REASON_LAST);

    if ((unsigned)reason >= UCS_RSAGG_REASON_LAST) {
        return "invalid reason";
    }
    return ucs_rsagg_reasons[reason].str;
}


ucs_status_t ucs_rsagg_reason_status(ucs_rsagg_reason_t reason)
{
    if ((unsigned)reason >= UCS_RSAGG_REASON_LAST) {
        return UCS_ERR_INVALID_PARAM;
    }
    return ucs_rsagg_reasons[reason].status;
}


static ucs_status_t ucs_rsagg_fail(ucs_rsagg_error_t *err_p,
                                   ucs_rsagg_reason_t reason, size_t offset,
                                   uint64_t value)
{
    err_p->reason = reason;
    err_p->offset = offset;
    err_p->value  = value;
    return ucs_rsagg_reasons[reason].status;
}


static ucs_status_t ucs_rsagg_ok(ucs_rsagg_error_t *err_p)
{
    return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_OK, 0, 0);
}


static size_t ucs_rsagg_hdr_size(ucs_rsagg_msg_type_t type)
{
    switch (type) {
    case UCS_RSAGG_MSG_OOB_TABLE:
        return UCS_RSAGG_TABLE_HDR_SIZE;
    case UCS_RSAGG_MSG_CTRL:
        return UCS_RSAGG_CTRL_SIZE;
    default:
        return UCS_RSAGG_HDR_SIZE;
    }
}


/* Magic and version, then the fixed fields of any header */
static ucs_status_t ucs_rsagg_hdr_peek_common(const uint8_t *p, size_t length,
                                             ucs_rsagg_hdr_info_t *info_p,
                                             ucs_rsagg_error_t *err_p)
{
    uint16_t magic;
    uint8_t version;

    /* Magic and version first: a peer with another version may lay out the
     * rest differently, so it must be recognized from these 3 bytes alone */
    if (length < sizeof(uint16_t)) {
        return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_TRUNCATED_HEADER, 0,
                              length);
    }
    magic = ucs_rsagg_wire_get16(p + UCS_RSAGG_HDR_OFF_MAGIC);
    if (magic != UCS_RSAGG_WIRE_MAGIC) {
        return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_BAD_MAGIC,
                              UCS_RSAGG_HDR_OFF_MAGIC, magic);
    }
    if (length < UCS_RSAGG_HDR_VERSION_PREFIX) {
        return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_TRUNCATED_HEADER, 0,
                              length);
    }
    version = p[UCS_RSAGG_HDR_OFF_VERSION];
    if (version != UCS_RSAGG_WIRE_VERSION) {
        return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_VERSION_MISMATCH,
                              UCS_RSAGG_HDR_OFF_VERSION, version);
    }
    if (length < UCS_RSAGG_HDR_SIZE) {
        return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_TRUNCATED_HEADER, 0,
                              length);
    }

    info_p->type   = p[UCS_RSAGG_HDR_OFF_TYPE];
    info_p->flags  = ucs_rsagg_wire_get16(p + UCS_RSAGG_HDR_OFF_FLAGS);
    info_p->count  = ucs_rsagg_wire_get16(p + UCS_RSAGG_HDR_OFF_COUNT);
    info_p->seq    = ucs_rsagg_wire_get32(p + UCS_RSAGG_HDR_OFF_SEQ);
    info_p->length = ucs_rsagg_wire_get32(p + UCS_RSAGG_HDR_OFF_LENGTH);
    info_p->payload_length = 0;
    info_p->ring_offset    = 0;
    return UCS_OK;
}

/* The count a message of this type must have */
static ucs_status_t ucs_rsagg_hdr_check_count(ucs_rsagg_msg_type_t type,
                                             const ucs_rsagg_hdr_info_t *info,
                                             ucs_rsagg_error_t *err_p)
{
    switch (type) {
    case UCS_RSAGG_MSG_BATCH:
    case UCS_RSAGG_MSG_OOB_TABLE:
        if (info->count == 0) {
            return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_EMPTY,
                                  UCS_RSAGG_HDR_OFF_COUNT, 0);
        }
        return UCS_OK;
    case UCS_RSAGG_MSG_CTRL:
        if (info->count != 0) {
            return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_COUNT_MISMATCH,
                                  UCS_RSAGG_HDR_OFF_COUNT, info->count);
        }
        return UCS_OK;
    default:
        /* a payload's count is checked against its table */
        return UCS_OK;
    }
}

ucs_status_t ucs_rsagg_hdr_peek(const void *data, size_t length,
                                ucs_rsagg_msg_type_t expected_type,
                                ucs_rsagg_hdr_info_t *info_p,
                                ucs_rsagg_error_t *err_p)
{
    const uint8_t *p = (const uint8_t*)data;
    size_t hdr_size  = ucs_rsagg_hdr_size(expected_type);
    uint16_t known_flags;
    ucs_status_t status;

    status = ucs_rsagg_hdr_peek_common(p, length, info_p, err_p);
    if (status != UCS_OK) {
        return status;
    }

    if (info_p->type != expected_type) {
        return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_BAD_TYPE,
                              UCS_RSAGG_HDR_OFF_TYPE, info_p->type);
    }

    known_flags = (expected_type == UCS_RSAGG_MSG_OOB_TABLE) ?
                  UCS_RSAGG_FLAGS_KNOWN_TABLE : 0;
    if (info_p->flags & ~known_flags) {
        return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_BAD_FLAGS,
                              UCS_RSAGG_HDR_OFF_FLAGS, info_p->flags);
    }

    if (length < hdr_size) {
        return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_TRUNCATED_HEADER, 0,
                              length);
    }

    if (info_p->length > length) {
        return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_TRUNCATED,
                              UCS_RSAGG_HDR_OFF_LENGTH, info_p->length);
    }
    if ((info_p->length < length) || (info_p->length < hdr_size) ||
        ((expected_type == UCS_RSAGG_MSG_CTRL) &&
         (info_p->length > UCS_RSAGG_CTRL_SIZE + UCS_RSAGG_CTRL_MAX_BODY))) {
        return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_LENGTH_MISMATCH,
                              UCS_RSAGG_HDR_OFF_LENGTH, info_p->length);
    }

    status = ucs_rsagg_hdr_check_count(expected_type, info_p, err_p);
    if (status != UCS_OK) {
        return status;
    }

    if (expected_type == UCS_RSAGG_MSG_OOB_TABLE) {
        info_p->payload_length = ucs_rsagg_wire_get32(
                p + UCS_RSAGG_HDR_OFF_PAYLOAD_LEN);
        info_p->ring_offset    = ucs_rsagg_wire_get32(
                p + UCS_RSAGG_HDR_OFF_RING_OFFSET);
        /* a ring offset means nothing without a ring */
        if (!(info_p->flags & UCS_RSAGG_FLAG_PAYLOAD_IN_RING) &&
            (info_p->ring_offset != 0)) {
            return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_BAD_FLAGS,
                                  UCS_RSAGG_HDR_OFF_RING_OFFSET,
                                  info_p->ring_offset);
        }
    }

    return ucs_rsagg_ok(err_p);
}


static void ucs_rsagg_iter_clear(ucs_rsagg_iter_t *iter_p)
{
    memset(iter_p, 0, sizeof(*iter_p));
    iter_p->reason = UCS_RSAGG_REASON_OK;
}


static ucs_status_t
ucs_rsagg_records_validate(const uint8_t *start, const uint8_t *records,
                           const uint8_t *end, const uint8_t *payload,
                           size_t payload_length, unsigned count,
                           const ucs_rsagg_policy_t *policy,
                           ucs_rsagg_iter_t *iter_p, ucs_rsagg_error_t *err_p)
{
    /* Local copies that the compiler can keep in registers */
    ucs_rsagg_policy_t pol = *policy;
    ucs_rsagg_iter_t cur;
    unsigned msg_count     = 0;
    const uint8_t *rec_start;
    ucs_rsagg_record_t rec;
    ucs_rsagg_reason_t reason;
    uint64_t value;
    unsigned i;

    cur.pos    = records;
    cur.end    = end;
    cur.pl_pos = payload;
    cur.pl_end = (payload == NULL) ? NULL : payload + payload_length;
    cur.ep_id  = 0;

    for (i = 0; i < count; ++i) {
        rec_start = cur.pos;
        if (rec_start == end) {
            return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_COUNT_MISMATCH,
                                  (size_t)(rec_start - start), i);
        }

        msg_count += ucs_rsagg_iter_rec_next(&cur, &pol, &rec, &reason,
                                             &value);
        if (ucs_unlikely(reason != UCS_RSAGG_REASON_OK)) {
            return ucs_rsagg_fail(err_p, reason, (size_t)(rec_start - start),
                                  value);
        }
    }

    if (msg_count == 0) {
        /* only EP records: the builder never sends that */
        return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_EMPTY,
                              UCS_RSAGG_HDR_OFF_COUNT, 0);
    }
    if (cur.pos != end) {
        return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_TRAILING_GARBAGE,
                              (size_t)(cur.pos - start),
                              (uint64_t)(end - cur.pos));
    }
    if (cur.pl_pos != cur.pl_end) {
        return ucs_rsagg_fail(err_p,
                              UCS_RSAGG_REASON_PAYLOAD_LENGTH_MISMATCH,
                              (size_t)(end - start), payload_length);
    }

    /* Ready for delivery; the policy is kept to check every record again as
     * it is yielded (see ucs_rsagg_iter_next) */
    iter_p->pos       = records;
    iter_p->end       = end;
    iter_p->pl_pos    = payload;
    iter_p->pl_end    = cur.pl_end;
    iter_p->ep_id     = 0;
    iter_p->remaining = count;
    iter_p->msg_count = msg_count;
    iter_p->reason    = UCS_RSAGG_REASON_OK;
    iter_p->policy    = pol;
    return ucs_rsagg_ok(err_p);
}


ucs_status_t ucs_rsagg_batch_validate(const void *data, size_t length,
                                      const ucs_rsagg_policy_t *policy,
                                      ucs_rsagg_iter_t *iter_p,
                                      ucs_rsagg_error_t *err_p)
{
    const uint8_t *p = (const uint8_t*)data;
    ucs_rsagg_hdr_info_t info;
    ucs_status_t status;

    ucs_rsagg_iter_clear(iter_p);
    status = ucs_rsagg_hdr_peek(data, length, UCS_RSAGG_MSG_BATCH, &info,
                                err_p);
    if (status != UCS_OK) {
        return status;
    }

    return ucs_rsagg_records_validate(p, p + UCS_RSAGG_HDR_SIZE, p + length,
                                      NULL, 0, info.count, policy, iter_p,
                                      err_p);
}


ucs_status_t ucs_rsagg_oob_validate(const void *table, size_t table_length,
                                    const void *payload,
                                    size_t payload_length,
                                    const ucs_rsagg_policy_t *policy,
                                    ucs_rsagg_iter_t *iter_p,
                                    ucs_rsagg_error_t *err_p)
{
    const uint8_t *p = (const uint8_t*)table;
    /* any non-NULL pointer marks the out-of-band form, also with no bytes */
    static const uint8_t no_payload;
    ucs_rsagg_hdr_info_t info;
    ucs_status_t status;

    ucs_rsagg_iter_clear(iter_p);
    status = ucs_rsagg_hdr_peek(table, table_length, UCS_RSAGG_MSG_OOB_TABLE,
                                &info, err_p);
    if (status != UCS_OK) {
        return status;
    }

    if ((payload == NULL) && (payload_length != 0)) {
        return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_PAYLOAD_LENGTH_MISMATCH,
                              UCS_RSAGG_HDR_OFF_PAYLOAD_LEN, payload_length);
    }
    if (info.payload_length != payload_length) {
        return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_PAYLOAD_LENGTH_MISMATCH,
                              UCS_RSAGG_HDR_OFF_PAYLOAD_LEN, payload_length);
    }

    return ucs_rsagg_records_validate(p, p + UCS_RSAGG_TABLE_HDR_SIZE,
                                      p + table_length,
                                      (payload == NULL) ? &no_payload :
                                      (const uint8_t*)payload,
                                      payload_length, info.count, policy,
                                      iter_p, err_p);
}


ucs_status_t ucs_rsagg_oob_validate_msg(const void *table, size_t table_length,
                                        const void *payload_msg,
                                        size_t payload_msg_length,
                                        const ucs_rsagg_policy_t *policy,
                                        ucs_rsagg_iter_t *iter_p,
                                        ucs_rsagg_error_t *err_p)
{
    ucs_rsagg_hdr_info_t table_info, pl_info;
    ucs_status_t status;

    ucs_rsagg_iter_clear(iter_p);
    status = ucs_rsagg_hdr_peek(table, table_length, UCS_RSAGG_MSG_OOB_TABLE,
                                &table_info, err_p);
    if (status != UCS_OK) {
        return status;
    }
    if (table_info.flags & UCS_RSAGG_FLAG_PAYLOAD_IN_RING) {
        return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_BAD_FLAGS,
                              UCS_RSAGG_HDR_OFF_FLAGS, table_info.flags);
    }

    /* errors in the payload header have offsets in the payload message */
    status = ucs_rsagg_hdr_peek(payload_msg, payload_msg_length,
                                UCS_RSAGG_MSG_OOB_PAYLOAD, &pl_info, err_p);
    if (status != UCS_OK) {
        return status;
    }
    if (pl_info.seq != table_info.seq) {
        return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_SEQ_MISMATCH,
                              UCS_RSAGG_HDR_OFF_SEQ, pl_info.seq);
    }
    if (pl_info.count != table_info.count) {
        return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_PAYLOAD_COUNT_MISMATCH,
                              UCS_RSAGG_HDR_OFF_COUNT, pl_info.count);
    }

    return ucs_rsagg_oob_validate(table, table_length,
                                  (const uint8_t*)payload_msg +
                                  UCS_RSAGG_HDR_SIZE,
                                  payload_msg_length - UCS_RSAGG_HDR_SIZE,
                                  policy, iter_p, err_p);
}


ucs_status_t ucs_rsagg_ctrl_unpack(const void *data, size_t length,
                                   ucs_rsagg_ctrl_t *ctrl_p,
                                   ucs_rsagg_error_t *err_p)
{
    const uint8_t *p = (const uint8_t*)data;
    ucs_rsagg_hdr_info_t info;
    size_t body_length, min_body;
    ucs_status_t status;
    uint32_t op;

    status = ucs_rsagg_hdr_peek(data, length, UCS_RSAGG_MSG_CTRL, &info,
                                err_p);
    if (status != UCS_OK) {
        return status;
    }

    op = ucs_rsagg_wire_get32(p + UCS_RSAGG_CTRL_OFF_OP);
    if ((op < UCS_RSAGG_CTRL_OP_CREDIT) || (op > UCS_RSAGG_CTRL_OP_LAST)) {
        return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_BAD_CTRL_OP,
                              UCS_RSAGG_CTRL_OFF_OP, op);
    }

    /* Requests carry a return address, a grant its fixed part and a packed
     * rkey; the other operations have no body */
    body_length = info.length - UCS_RSAGG_CTRL_SIZE;
    switch (op) {
    case UCS_RSAGG_CTRL_OP_FLUSH_REQ:
    case UCS_RSAGG_CTRL_OP_RING_REQ:
    case UCS_RSAGG_CTRL_OP_CLOSE:
        min_body = 1;
        break;
    case UCS_RSAGG_CTRL_OP_RING_GRANT:
        min_body = UCS_RSAGG_RING_GRANT_FIXED;
        break;
    default:
        min_body = 0;
        break;
    }
    if ((body_length < min_body) || ((min_body == 0) && (body_length > 0))) {
        return ucs_rsagg_fail(err_p, UCS_RSAGG_REASON_LENGTH_MISMATCH,
                              UCS_RSAGG_HDR_OFF_LENGTH, info.length);
    }

    ctrl_p->op          = (ucs_rsagg_ctrl_op_t)op;
    ctrl_p->seq         = info.seq;
    ctrl_p->value       = ucs_rsagg_wire_get32(p + UCS_RSAGG_CTRL_OFF_VALUE);
    ctrl_p->body_length = info.length - UCS_RSAGG_CTRL_SIZE;
    ctrl_p->body        = (ctrl_p->body_length > 0) ?
                          p + UCS_RSAGG_CTRL_SIZE : NULL;
    return UCS_OK;
}
