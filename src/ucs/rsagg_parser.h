/**
 * rsagg receive side: validates a whole transfer in the format of
 * rsagg_wire.h before anything of it is delivered, then iterates over its
 * records.
 *
 * Every function takes the received bytes as pointer + length, reads nothing
 * outside them, and does overflow-safe arithmetic, whatever the input. A
 * transfer that fails validation must be dropped whole.
 *
 * Usage (embedded):
 *   status = ucs_rsagg_batch_validate(data, length, &policy, &iter, &err);
 *   if (status != UCS_OK) { count, log once with
 *                           ucs_rsagg_reason_str(err.reason), err.offset,
 *                           err.value; drop }
 *   while (ucs_rsagg_iter_next(&iter, &rec)) { deliver rec }
 */

#ifndef UCS_RSAGG_PARSER_H_
#define UCS_RSAGG_PARSER_H_

#include "rsagg_wire.h"

#include <ucs/type/status.h>

#include <stddef.h>

BEGIN_C_DECLS


/**
 * Why a message was rejected. Each reason maps to one ucs_status_t, see
 * ucs_rsagg_reason_status().
 */
typedef enum {
    UCS_RSAGG_REASON_OK = 0,
    /* UCS_ERR_MESSAGE_TRUNCATED */
    UCS_RSAGG_REASON_TRUNCATED_HEADER,   /* shorter than its header */
    UCS_RSAGG_REASON_TRUNCATED,          /* shorter than its length field */
    /* UCS_ERR_UNSUPPORTED */
    UCS_RSAGG_REASON_VERSION_MISMATCH,   /* value: the peer's version */
    UCS_RSAGG_REASON_BAD_FLAGS,          /* value: the flags */
    /* UCS_ERR_INVALID_PARAM */
    UCS_RSAGG_REASON_BAD_MAGIC,          /* value: the magic */
    UCS_RSAGG_REASON_BAD_TYPE,           /* value: the type */
    UCS_RSAGG_REASON_LENGTH_MISMATCH,    /* length field below the header or
                                            below the received length;
                                            value: the length field */
    UCS_RSAGG_REASON_EMPTY,              /* zero records, or no AM/PUT */
    UCS_RSAGG_REASON_COUNT_MISMATCH,     /* records end before count;
                                            value: records found */
    UCS_RSAGG_REASON_RECORD_TRUNCATED,   /* a record's fixed part crosses
                                            the end; value: its kind byte */
    UCS_RSAGG_REASON_LENGTH_OVERFLOW,    /* a record's payload crosses the
                                            end; value: its length */
    UCS_RSAGG_REASON_BAD_RECORD_KIND,    /* value: the kind byte */
    UCS_RSAGG_REASON_TRAILING_GARBAGE,   /* bytes after the last record;
                                            value: how many */
    UCS_RSAGG_REASON_SEQ_MISMATCH,       /* oob: table vs payload seq;
                                            value: the payload's seq */
    UCS_RSAGG_REASON_PAYLOAD_LENGTH_MISMATCH, /* oob: payload size vs table
                                            or records; value: payload size */
    UCS_RSAGG_REASON_PAYLOAD_COUNT_MISMATCH,  /* oob: payload header count vs
                                            table count; value: the former */
    UCS_RSAGG_REASON_BAD_CTRL_OP,        /* value: the op */
    /* UCS_ERR_NO_ELEM */
    UCS_RSAGG_REASON_UNKNOWN_AM_ID,      /* reserved or without handler;
                                            value: the am id */
    /* UCS_ERR_OUT_OF_RANGE */
    UCS_RSAGG_REASON_EP_OUT_OF_RANGE,    /* value: the ep id */
    /* UCS_ERR_INVALID_ADDR */
    UCS_RSAGG_REASON_PUT_OUT_OF_BOUNDS,  /* value: the remote address */
    UCS_RSAGG_REASON_LAST
} ucs_rsagg_reason_t;


/** Where and why validation failed */
typedef struct {
    ucs_rsagg_reason_t reason;
    size_t             offset;  /* byte offset in the message (oob: in the
                                   table) where the bad field starts */
    uint64_t           value;   /* the offending value, see the reason */
} ucs_rsagg_error_t;


/**
 * What the receiver accepts. A transfer with anything else is rejected.
 */
typedef struct {
    /* Bit i set: am id i has a handler. Ids >= UCS_RSAGG_AM_ID_USER_MAX are
     * always rejected whatever their bit. */
    uint64_t     am_id_mask;
    /* Largest acceptable originating ep id */
    uint32_t     max_ep_id;
    /* Called for each PUT record during validation: UCS_OK if the whole
     * [addr, addr + length) lies inside the region that key names (length
     * 0 included); ranges that wrap around are rejected before the call.
     * NULL: every PUT is rejected. */
    ucs_status_t (*put_check)(void *arg, uint64_t key, uint64_t addr,
                              size_t length);
    void         *put_arg;
} ucs_rsagg_policy_t;


typedef enum {
    UCS_RSAGG_REC_KIND_AM,
    UCS_RSAGG_REC_KIND_PUT
} ucs_rsagg_rec_kind_t;


/** One message to deliver */
typedef struct {
    ucs_rsagg_rec_kind_t kind;
    uint32_t             ep_id;       /* originating ep */
    uint8_t              am_id;       /* AM only */
    uint64_t             put_key;     /* PUT only */
    uint64_t             put_addr;    /* PUT only */
    const void           *payload;    /* inside the received buffers */
    size_t               length;
} ucs_rsagg_record_t;


/**
 * Iterator over a validated transfer; EP records are folded into ep_id. It
 * keeps a copy of the policy and checks every record again as it yields it
 * (see ucs_rsagg_iter_next). Fields are for the parser, except msg_count and
 * reason.
 */
typedef struct {
    const uint8_t      *pos;        /* next record */
    const uint8_t      *end;        /* end of the records */
    const uint8_t      *pl_pos;     /* oob: next payload byte; NULL: embedded */
    const uint8_t      *pl_end;
    uint32_t           ep_id;
    unsigned           remaining;   /* records left, EP records included */
    unsigned           msg_count;   /* AM + PUT records of the transfer */
    ucs_rsagg_reason_t reason;      /* why the iteration stopped early, or
                                       UCS_RSAGG_REASON_OK */
    ucs_rsagg_policy_t policy;
} ucs_rsagg_iter_t;


/** Decoded header, for pairing oob tables and payloads */
typedef struct {
    uint8_t  type;            /* ucs_rsagg_msg_type_t */
    uint16_t flags;
    uint16_t count;
    uint32_t seq;
    uint32_t length;          /* of the message */
    uint32_t payload_length;  /* oob table only */
    uint32_t ring_offset;     /* oob table only */
} ucs_rsagg_hdr_info_t;


/** Decoded control message */
typedef struct {
    ucs_rsagg_ctrl_op_t op;
    uint32_t            seq;
    uint32_t            value;
    const void          *body;        /* FLUSH_REQ, RING_REQ, RING_GRANT;
                                         else NULL */
    size_t              body_length;
} ucs_rsagg_ctrl_t;


/**
 * Check the header of a message that arrived on the inner am id of
 * @a expected_type: magic, then version, then size, type, flags (only
 * UCS_RSAGG_FLAG_PAYLOAD_IN_RING on a table), length field == @a length.
 * Records are not looked at.
 */
ucs_status_t ucs_rsagg_hdr_peek(const void *data, size_t length,
                                ucs_rsagg_msg_type_t expected_type,
                                ucs_rsagg_hdr_info_t *info_p,
                                ucs_rsagg_error_t *err_p);


/**
 * Validate an embedded batch (inner am id UCS_RSAGG_AM_ID_BATCH) completely
 * against @a policy. On UCS_OK, *iter_p iterates over its messages.
 */
ucs_status_t ucs_rsagg_batch_validate(const void *data, size_t length,
                                      const ucs_rsagg_policy_t *policy,
                                      ucs_rsagg_iter_t *iter_p,
                                      ucs_rsagg_error_t *err_p);


/**
 * Validate an out-of-band table against the bare payload bytes @a payload,
 * @a payload_length (a ring slot, or the body of a payload message). The
 * table's payload length must equal @a payload_length and its records must
 * use all of it. The caller pairs table and payload (seq, ring offset).
 */
ucs_status_t ucs_rsagg_oob_validate(const void *table, size_t table_length,
                                    const void *payload,
                                    size_t payload_length,
                                    const ucs_rsagg_policy_t *policy,
                                    ucs_rsagg_iter_t *iter_p,
                                    ucs_rsagg_error_t *err_p);


/**
 * Validate an out-of-band table (without UCS_RSAGG_FLAG_PAYLOAD_IN_RING)
 * together with the payload message that arrived on
 * UCS_RSAGG_AM_ID_OOB_PAYLOAD: its header, then seq and record count against
 * the table's, then everything as ucs_rsagg_oob_validate.
 */
ucs_status_t ucs_rsagg_oob_validate_msg(const void *table, size_t table_length,
                                        const void *payload_msg,
                                        size_t payload_msg_length,
                                        const ucs_rsagg_policy_t *policy,
                                        ucs_rsagg_iter_t *iter_p,
                                        ucs_rsagg_error_t *err_p);


/*
 * Decode the record at iter->pos (which is below iter->end), check it against
 * the policy and advance past it. Embedded form: the payload follows the
 * record (iter->pl_pos == NULL); out-of-band: it is the next bytes at
 * iter->pl_pos. An EP record only changes iter->ep_id.
 *
 * @return 1 if *rec_p is a message, 0 after an EP record or on error;
 *         *reason_p tells which.
 *
 * Internal to the parser (validation and ucs_rsagg_iter_next); inline
 * because delivery calls it for every message.
 */
/* The fixed size of a record of this kind; 0: no such kind */
static UCS_F_ALWAYS_INLINE size_t ucs_rsagg_rec_fixed_size(uint8_t kind)
{
    if (ucs_likely(kind < UCS_RSAGG_REC_AM16)) {
        return UCS_RSAGG_REC_AM8_SIZE;
    } else if (kind < UCS_RSAGG_REC_AM32) {
        return UCS_RSAGG_REC_AM16_SIZE;
    } else if (kind < UCS_RSAGG_REC_EXT) {
        return UCS_RSAGG_REC_AM32_SIZE;
    } else if (kind == UCS_RSAGG_REC_EP) {
        return UCS_RSAGG_REC_EP_SIZE;
    } else if (kind == UCS_RSAGG_REC_PUT) {
        return UCS_RSAGG_REC_PUT_SIZE;
    }
    return 0;
}

/* The payload of a record of length bytes: after the record (embedded), or
 * next in the separate payload (out-of-band) */
static UCS_F_ALWAYS_INLINE int
ucs_rsagg_iter_rec_payload(ucs_rsagg_iter_t *iter, const uint8_t *p,
                           size_t fixed, uint32_t length,
                           ucs_rsagg_record_t *rec_p,
                           ucs_rsagg_reason_t *reason_p, uint64_t *value_p)
{
    size_t avail = (size_t)(iter->end - p);

    if (iter->pl_pos == NULL) {
        if (ucs_unlikely(length > (avail - fixed))) {
            *value_p  = length;
            *reason_p = UCS_RSAGG_REASON_LENGTH_OVERFLOW;
            return 0;
        }
        rec_p->payload = p + fixed;
        iter->pos      = p + fixed + length;
    } else {
        if (ucs_unlikely(length > (size_t)(iter->pl_end - iter->pl_pos))) {
            *value_p  = length;
            *reason_p = UCS_RSAGG_REASON_LENGTH_OVERFLOW;
            return 0;
        }
        rec_p->payload = iter->pl_pos;
        iter->pl_pos  += length;
        iter->pos      = p + fixed;
    }
    rec_p->length = length;
    rec_p->ep_id  = iter->ep_id;
    return 1;
}

/* What a record asks for, checked against the policy: a put inside a
 * region, an active message on an id with a handler */
static UCS_F_ALWAYS_INLINE int
ucs_rsagg_rec_check(const ucs_rsagg_policy_t *policy, const uint8_t *p,
                    uint8_t kind, uint32_t length, ucs_rsagg_record_t *rec_p,
                    ucs_rsagg_reason_t *reason_p, uint64_t *value_p)
{
    if (ucs_unlikely(kind == UCS_RSAGG_REC_PUT)) {
        rec_p->kind     = UCS_RSAGG_REC_KIND_PUT;
        rec_p->am_id    = 0;
        rec_p->put_key  = ucs_rsagg_wire_get64(p + 5);
        rec_p->put_addr = ucs_rsagg_wire_get64(p + 13);
        /* A wrapping range is outside every region; the callback need not
         * handle it */
        if ((length > (UINT64_MAX - rec_p->put_addr)) ||
            (policy->put_check == NULL) ||
            (policy->put_check(policy->put_arg, rec_p->put_key,
                               rec_p->put_addr, length) != UCS_OK)) {
            *value_p  = rec_p->put_addr;
            *reason_p = UCS_RSAGG_REASON_PUT_OUT_OF_BOUNDS;
            return 0;
        }
    } else {
        rec_p->kind     = UCS_RSAGG_REC_KIND_AM;
        rec_p->am_id    = kind & UCS_RSAGG_REC_LOW_MASK;
        rec_p->put_key  = 0;
        rec_p->put_addr = 0;
        if ((rec_p->am_id >= UCS_RSAGG_AM_ID_USER_MAX) ||
            !(policy->am_id_mask & (1ull << rec_p->am_id))) {
            *value_p  = rec_p->am_id;
            *reason_p = UCS_RSAGG_REASON_UNKNOWN_AM_ID;
            return 0;
        }
    }

    *reason_p = UCS_RSAGG_REASON_OK;
    return 1;
}

static UCS_F_ALWAYS_INLINE int
ucs_rsagg_iter_rec_next(ucs_rsagg_iter_t *iter,
                        const ucs_rsagg_policy_t *policy,
                        ucs_rsagg_record_t *rec_p,
                        ucs_rsagg_reason_t *reason_p, uint64_t *value_p)
{
    const uint8_t *p = iter->pos;
    size_t avail     = (size_t)(iter->end - p);
    uint8_t kind     = p[0];
    size_t fixed     = ucs_rsagg_rec_fixed_size(kind);
    uint32_t length;
    uint32_t ep_id;

    if (ucs_unlikely(fixed == 0)) {
        *value_p  = kind;
        *reason_p = UCS_RSAGG_REASON_BAD_RECORD_KIND;
        return 0;
    }

    if (ucs_unlikely(avail < fixed)) {
        *value_p  = kind;
        *reason_p = UCS_RSAGG_REASON_RECORD_TRUNCATED;
        return 0;
    }

    if (ucs_likely(fixed == UCS_RSAGG_REC_AM8_SIZE)) {
        length = p[1];
    } else if (fixed == UCS_RSAGG_REC_AM16_SIZE) {
        length = ucs_rsagg_wire_get16(p + 1);
    } else if (kind == UCS_RSAGG_REC_EP) {
        ep_id = ucs_rsagg_wire_get32(p + 1);
        if (ep_id > policy->max_ep_id) {
            *value_p  = ep_id;
            *reason_p = UCS_RSAGG_REASON_EP_OUT_OF_RANGE;
            return 0;
        }
        iter->ep_id = ep_id;
        iter->pos   = p + fixed;
        *reason_p   = UCS_RSAGG_REASON_OK;
        return 0;
    } else {
        /* AM32 and PUT: a u32 length after the kind */
        length = ucs_rsagg_wire_get32(p + 1);
    }

    return ucs_rsagg_iter_rec_payload(iter, p, fixed, length, rec_p, reason_p,
                                      value_p) &&
           ucs_rsagg_rec_check(policy, p, kind, length, rec_p, reason_p,
                               value_p);
}


/**
 * Next message of a validated transfer, in send order.
 *
 * Each record is decoded and checked against the policy again as it is
 * yielded, so that a transfer changed after validation (a misbehaving peer
 * writing shared memory) or a receiver whose state changed during delivery
 * (a handler deregistered a put target) never yields a record the policy
 * refuses: the iteration then ends early and iter->reason says why. With
 * unchanged buffers and state, all iter->msg_count messages are yielded.
 * The payload is valid as long as the received buffers are.
 *
 * @return 1 and fills *rec_p, or 0 when there are no more.
 */
static UCS_F_ALWAYS_INLINE int
ucs_rsagg_iter_next(ucs_rsagg_iter_t *iter, ucs_rsagg_record_t *rec_p)
{
    ucs_rsagg_reason_t reason;
    uint64_t value;

    while (iter->remaining > 0) {
        --iter->remaining;
        /* fails only if buffers or receiver state changed, see above */
        if (ucs_unlikely(iter->pos == iter->end)) {
            reason = UCS_RSAGG_REASON_COUNT_MISMATCH;
        } else if (ucs_rsagg_iter_rec_next(iter, &iter->policy, rec_p,
                                           &reason, &value)) {
            return 1;
        } else if (reason == UCS_RSAGG_REASON_OK) {
            continue; /* EP record */
        }

        iter->reason    = reason;
        iter->remaining = 0;
        return 0;
    }
    return 0;
}


/**
 * Validate and decode a control message (UCS_RSAGG_AM_ID_CTRL).
 */
ucs_status_t ucs_rsagg_ctrl_unpack(const void *data, size_t length,
                                   ucs_rsagg_ctrl_t *ctrl_p,
                                   ucs_rsagg_error_t *err_p);


/** Decoded body of a UCS_RSAGG_CTRL_OP_RING_GRANT */
typedef struct {
    uint64_t            remote_addr;  /* of the ring region at the receiver */
    uint32_t            offset;       /* of the slice in the region */
    uint32_t            size;         /* of the slice */
    const void          *rkey;        /* inner packed rkey, inside the msg */
    size_t              rkey_length;
} ucs_rsagg_ring_grant_t;


/**
 * Decode a ring grant that ucs_rsagg_ctrl_unpack accepted (so its body has
 * at least the fixed part). Checks that the slice lies inside the 32-bit
 * ring offsets a table can name: UCS_ERR_INVALID_PARAM otherwise.
 */
static inline ucs_status_t
ucs_rsagg_ring_grant_unpack(const ucs_rsagg_ctrl_t *ctrl,
                            ucs_rsagg_ring_grant_t *grant_p)
{
    const uint8_t *b = (const uint8_t*)ctrl->body;

    if ((ctrl->op != UCS_RSAGG_CTRL_OP_RING_GRANT) ||
        (ctrl->body_length < UCS_RSAGG_RING_GRANT_FIXED)) {
        return UCS_ERR_INVALID_PARAM;
    }

    grant_p->remote_addr = ucs_rsagg_wire_get64(
            b + UCS_RSAGG_RING_GRANT_OFF_ADDR);
    grant_p->offset      = ucs_rsagg_wire_get32(
            b + UCS_RSAGG_RING_GRANT_OFF_OFFSET);
    grant_p->size        = ctrl->value;
    grant_p->rkey        = b + UCS_RSAGG_RING_GRANT_FIXED;
    grant_p->rkey_length = ctrl->body_length - UCS_RSAGG_RING_GRANT_FIXED;
    if ((grant_p->size == 0) ||
        (grant_p->size > (UINT32_MAX - grant_p->offset))) {
        return UCS_ERR_INVALID_PARAM;
    }
    return UCS_OK;
}


/** Human-readable reason, e.g. "unknown am id" */
const char *ucs_rsagg_reason_str(ucs_rsagg_reason_t reason);


/** The status every function returns with this reason */
ucs_status_t ucs_rsagg_reason_status(ucs_rsagg_reason_t reason);


/**
 * Overflow-safe check that [addr, addr + length) lies inside
 * [base, base + size), for put_check implementations and ring offsets.
 */
static inline int ucs_rsagg_range_contains(uint64_t base, uint64_t size,
                                           uint64_t addr, uint64_t length)
{
    return (addr >= base) && ((addr - base) <= size) &&
           (length <= (size - (addr - base)));
}

END_C_DECLS

#endif
