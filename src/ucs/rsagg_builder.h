/**
 * rsagg batch builder: appends records to a caller-supplied buffer in the
 * format of rsagg_wire.h. Everything is inline and nothing allocates, because
 * every aggregated send goes through here.
 *
 * Usage:
 *   ucs_rsagg_builder_init(&b, buf, capacity, seq);          (embedded), or
 *   ucs_rsagg_builder_init_oob(&b, tbl, tcap, pl, pcap, seq, flags);
 *   while (ucs_rsagg_builder_add_am_short(&b, ...) == UCS_OK) ...;
 *   length = ucs_rsagg_builder_finish(&b, &payload_length);
 * When an add returns UCS_ERR_EXCEEDS_LIMIT nothing was written: the caller
 * sends what was built and retries in a new batch.
 */

#ifndef UCS_RSAGG_BUILDER_H_
#define UCS_RSAGG_BUILDER_H_

#include "rsagg_wire.h"

#include <ucs/type/status.h>

#include <stddef.h>
#include <sys/types.h>

BEGIN_C_DECLS


typedef struct ucs_rsagg_builder {
    uint8_t  *start;        /* first byte of the batch or table message */
    uint8_t  *pos;          /* where the next record goes */
    uint8_t  *end;          /* end of the batch or table buffer */
    uint8_t  *pl_start;     /* oob: payload message (incl. header if any);
                               NULL for the embedded form */
    uint8_t  *pl_pos;       /* oob: where the next payload goes */
    uint8_t  *pl_end;       /* oob: end of the payload buffer */
    uint32_t  seq;
    uint32_t  ep_id;        /* ep of the last record; 0 at the start */
    uint32_t  ring_offset;  /* oob ring: written to the table header */
    uint16_t  count;        /* records, EP records included */
    uint16_t  flags;        /* header flags (oob: PAYLOAD_IN_RING) */

    /* Record reserved by *_begin, written by ucs_rsagg_builder_commit */
    uint8_t  *pend_pos;     /* b->pos at begin; NULL: nothing pending */
    size_t    pend_max;     /* largest length the commit may report */
    size_t    pend_rec_size;
    uint64_t  pend_key;
    uint64_t  pend_addr;
    uint32_t  pend_ep;
    uint8_t   pend_kind;    /* AM id, or UCS_RSAGG_REC_PUT */
} ucs_rsagg_builder_t;


/* Largest message length the builder produces */
#define UCS_RSAGG_BUILDER_MAX_CAPACITY ((size_t)UCS_RSAGG_MAX_MSG_LENGTH)


static UCS_F_ALWAYS_INLINE size_t ucs_rsagg_builder_clamp(size_t capacity)
{
    return (capacity > UCS_RSAGG_BUILDER_MAX_CAPACITY) ?
           UCS_RSAGG_BUILDER_MAX_CAPACITY : capacity;
}


/**
 * Start an embedded batch in @a buf. Capacity beyond 4 GiB - 1 is not used.
 *
 * @return UCS_OK, or UCS_ERR_BUFFER_TOO_SMALL if not even one record fits.
 */
static UCS_F_ALWAYS_INLINE ucs_status_t
ucs_rsagg_builder_init(ucs_rsagg_builder_t *b, void *buf, size_t capacity,
                       uint32_t seq)
{
    capacity = ucs_rsagg_builder_clamp(capacity);
    if (capacity < (UCS_RSAGG_HDR_SIZE + UCS_RSAGG_REC_MIN_SIZE)) {
        return UCS_ERR_BUFFER_TOO_SMALL;
    }

    b->start       = (uint8_t*)buf;
    b->pos         = b->start + UCS_RSAGG_HDR_SIZE;
    b->end         = b->start + capacity;
    b->pl_start    = NULL;
    b->pl_pos      = NULL;
    b->pl_end      = NULL;
    b->seq         = seq;
    b->ep_id       = 0;
    b->ring_offset = 0;
    b->count       = 0;
    b->flags       = 0;
    b->pend_pos    = NULL;
    return UCS_OK;
}


/**
 * Start an out-of-band batch: the table goes to @a table_buf and the payloads
 * to @a payload_buf. With @a flags = 0 the payload buffer starts with a
 * payload header (sent as UCS_RSAGG_AM_ID_OOB_PAYLOAD); with
 * UCS_RSAGG_FLAG_PAYLOAD_IN_RING it holds the bare payload, destined for the
 * receiver's ring at the offset given to ucs_rsagg_builder_set_ring_offset.
 *
 * @return UCS_OK, UCS_ERR_INVALID_PARAM for unknown flags, or
 *         UCS_ERR_BUFFER_TOO_SMALL if not even one record fits.
 */
static UCS_F_ALWAYS_INLINE ucs_status_t
ucs_rsagg_builder_init_oob(ucs_rsagg_builder_t *b, void *table_buf,
                           size_t table_capacity, void *payload_buf,
                           size_t payload_capacity, uint32_t seq,
                           unsigned flags)
{
    size_t pl_hdr = (flags & UCS_RSAGG_FLAG_PAYLOAD_IN_RING) ?
                    0 : UCS_RSAGG_HDR_SIZE;

    if (flags & ~UCS_RSAGG_FLAGS_KNOWN_TABLE) {
        return UCS_ERR_INVALID_PARAM;
    }

    table_capacity   = ucs_rsagg_builder_clamp(table_capacity);
    payload_capacity = ucs_rsagg_builder_clamp(payload_capacity);
    if ((table_capacity < (UCS_RSAGG_TABLE_HDR_SIZE +
                           UCS_RSAGG_REC_MIN_SIZE)) ||
        (payload_capacity < pl_hdr)) {
        return UCS_ERR_BUFFER_TOO_SMALL;
    }

    b->start       = (uint8_t*)table_buf;
    b->pos         = b->start + UCS_RSAGG_TABLE_HDR_SIZE;
    b->end         = b->start + table_capacity;
    b->pl_start    = (uint8_t*)payload_buf;
    b->pl_pos      = b->pl_start + pl_hdr;
    b->pl_end      = b->pl_start + payload_capacity;
    b->seq         = seq;
    b->ep_id       = 0;
    b->ring_offset = 0;
    b->count       = 0;
    b->flags       = (uint16_t)flags;
    b->pend_pos    = NULL;
    return UCS_OK;
}


static UCS_F_ALWAYS_INLINE void
ucs_rsagg_builder_set_ring_offset(ucs_rsagg_builder_t *b, uint32_t offset)
{
    b->ring_offset = offset;
}


static UCS_F_ALWAYS_INLINE int
ucs_rsagg_builder_is_empty(const ucs_rsagg_builder_t *b)
{
    return b->count == 0;
}


/** Records so far, EP records included */
static UCS_F_ALWAYS_INLINE unsigned
ucs_rsagg_builder_count(const ucs_rsagg_builder_t *b)
{
    return b->count;
}


/** Bytes of the batch (or table) message so far, header included */
static UCS_F_ALWAYS_INLINE size_t
ucs_rsagg_builder_length(const ucs_rsagg_builder_t *b)
{
    return (size_t)(b->pos - b->start);
}


/** oob: payload bytes so far, without the payload header; embedded: 0 */
static UCS_F_ALWAYS_INLINE size_t
ucs_rsagg_builder_payload_length(const ucs_rsagg_builder_t *b)
{
    if (b->pl_start == NULL) {
        return 0;
    }
    return (size_t)(b->pl_pos - b->pl_start) -
           ((b->flags & UCS_RSAGG_FLAG_PAYLOAD_IN_RING) ?
            0 : UCS_RSAGG_HDR_SIZE);
}


/* Largest payload length that fits next to a record of rec_size bytes from
 * ep_id (and the EP record it may need), or -1 if the record does not fit */
static UCS_F_ALWAYS_INLINE ssize_t
ucs_rsagg_builder_room(const ucs_rsagg_builder_t *b, uint32_t ep_id,
                       size_t rec_size)
{
    size_t avail   = (size_t)(b->end - b->pos);
    size_t ep_size = (ep_id != b->ep_id) ? UCS_RSAGG_REC_EP_SIZE : 0;

    if (((ep_size + rec_size) > avail) ||
        ((unsigned)b->count + 1 + (ep_size != 0) > UCS_RSAGG_MAX_RECORDS)) {
        return -1;
    }

    if (b->pl_start == NULL) {
        return (ssize_t)(avail - ep_size - rec_size);
    }
    return (ssize_t)(b->pl_end - b->pl_pos);
}


/**
 * Largest AM payload (for am_short: 8 + length) that can be appended now for
 * @a ep_id, or UCS_ERR_EXCEEDS_LIMIT if no AM record fits at all.
 */
static UCS_F_ALWAYS_INLINE ssize_t
ucs_rsagg_builder_am_max_length(const ucs_rsagg_builder_t *b, uint32_t ep_id)
{
    static const size_t widths[] = {
        UCS_RSAGG_REC_AM32_SIZE, UCS_RSAGG_REC_AM16_SIZE,
        UCS_RSAGG_REC_AM8_SIZE
    };
    static const size_t limits[] = {
        UCS_RSAGG_AM32_MAX_LENGTH, UCS_RSAGG_AM16_MAX_LENGTH,
        UCS_RSAGG_AM8_MAX_LENGTH
    };
    ssize_t room;
    int i;

    /* The widest record that still fits gives the largest length; a wider
     * record whose room is below the narrower limit gains nothing */
    for (i = 0; i < 3; ++i) {
        room = ucs_rsagg_builder_room(b, ep_id, widths[i]);
        if (room < 0) {
            continue;
        }
        if ((i < 2) && ((size_t)room <= limits[i + 1])) {
            continue;
        }
        return ((size_t)room > limits[i]) ? (ssize_t)limits[i] : room;
    }
    return UCS_ERR_EXCEEDS_LIMIT;
}


/**
 * Largest PUT payload that can be appended now for @a ep_id, or
 * UCS_ERR_EXCEEDS_LIMIT if no PUT record fits.
 */
static UCS_F_ALWAYS_INLINE ssize_t
ucs_rsagg_builder_put_max_length(const ucs_rsagg_builder_t *b, uint32_t ep_id)
{
    ssize_t room = ucs_rsagg_builder_room(b, ep_id, UCS_RSAGG_REC_PUT_SIZE);

    if (room < 0) {
        return UCS_ERR_EXCEEDS_LIMIT;
    }
    return ((size_t)room > UINT32_MAX) ? (ssize_t)UINT32_MAX : room;
}


/*
 * Find room for a record of rec_size bytes (without payload) carrying
 * @a length payload bytes from @a ep_id. On success *data_p is where the
 * payload goes; nothing is written yet.
 */
static UCS_F_ALWAYS_INLINE ucs_status_t
ucs_rsagg_builder_reserve(const ucs_rsagg_builder_t *b, uint32_t ep_id,
                          size_t rec_size, size_t length, uint8_t **data_p)
{
    size_t ep_size  = (ep_id != b->ep_id) ? UCS_RSAGG_REC_EP_SIZE : 0;
    size_t rec_need = ep_size + rec_size;
    size_t avail    = (size_t)(b->end - b->pos);

    if (ucs_unlikely((unsigned)b->count + 1 + (ep_size != 0) >
                     UCS_RSAGG_MAX_RECORDS)) {
        return UCS_ERR_EXCEEDS_LIMIT;
    }

    if (b->pl_start == NULL) {
        /* Compare without adding length, which may be anything */
        if (ucs_unlikely((rec_need > avail) ||
                         (length > (avail - rec_need)))) {
            return UCS_ERR_EXCEEDS_LIMIT;
        }
        *data_p = b->pos + rec_need;
    } else {
        if (ucs_unlikely((rec_need > avail) ||
                         (length > (size_t)(b->pl_end - b->pl_pos)))) {
            return UCS_ERR_EXCEEDS_LIMIT;
        }
        *data_p = b->pl_pos;
    }
    return UCS_OK;
}


/* Write the EP record if needed, then advance past a record of rec_size
 * whose header the caller writes at the returned pointer */
static UCS_F_ALWAYS_INLINE uint8_t *
ucs_rsagg_builder_advance(ucs_rsagg_builder_t *b, uint32_t ep_id,
                          size_t rec_size, size_t length)
{
    uint8_t *rec;

    if (ep_id != b->ep_id) {
        ucs_rsagg_wire_put_ep_rec(b->pos, ep_id);
        b->pos  += UCS_RSAGG_REC_EP_SIZE;
        b->ep_id = ep_id;
        ++b->count;
    }

    rec     = b->pos;
    b->pos += rec_size;
    if (b->pl_start == NULL) {
        b->pos += length;
    } else {
        b->pl_pos += length;
    }
    ++b->count;
    return rec;
}


/**
 * Append an active message given as am_short gives it: the record payload is
 * the 8 bytes of @a header (host byte order, as UCT transports send it)
 * followed by @a length bytes of @a payload.
 *
 * @return UCS_OK; UCS_ERR_EXCEEDS_LIMIT if it does not fit (nothing written);
 *         UCS_ERR_INVALID_PARAM if @a am_id >= UCS_RSAGG_AM_ID_USER_MAX.
 */
static UCS_F_ALWAYS_INLINE ucs_status_t
ucs_rsagg_builder_add_am_short(ucs_rsagg_builder_t *b, uint32_t ep_id,
                               uint8_t am_id, uint64_t header,
                               const void *payload, unsigned length)
{
    size_t total = sizeof(header) + (size_t)length;
    size_t rec_size;
    uint8_t *data;
    ucs_status_t status;

    if (ucs_unlikely(am_id >= UCS_RSAGG_AM_ID_USER_MAX)) {
        return UCS_ERR_INVALID_PARAM;
    }

    rec_size = ucs_rsagg_wire_am_rec_size(total);
    if (ucs_unlikely(total > UCS_RSAGG_AM32_MAX_LENGTH)) {
        return UCS_ERR_EXCEEDS_LIMIT;
    }

    status = ucs_rsagg_builder_reserve(b, ep_id, rec_size, total, &data);
    if (ucs_unlikely(status != UCS_OK)) {
        return status;
    }

    memcpy(data, &header, sizeof(header));
    if (length != 0) { /* payload may be NULL then */
        memcpy(data + sizeof(header), payload, length);
    }
    ucs_rsagg_wire_put_am_rec(ucs_rsagg_builder_advance(b, ep_id, rec_size,
                                                        total),
                              rec_size, am_id, (uint32_t)total);
    return UCS_OK;
}


/**
 * Append an active message whose whole payload is @a length bytes at
 * @a data. Returns as ucs_rsagg_builder_add_am_short.
 */
static UCS_F_ALWAYS_INLINE ucs_status_t
ucs_rsagg_builder_add_am(ucs_rsagg_builder_t *b, uint32_t ep_id, uint8_t am_id,
                         const void *data, size_t length)
{
    size_t rec_size;
    uint8_t *dst;
    ucs_status_t status;

    if (ucs_unlikely(am_id >= UCS_RSAGG_AM_ID_USER_MAX)) {
        return UCS_ERR_INVALID_PARAM;
    }
    if (ucs_unlikely(length > UCS_RSAGG_AM32_MAX_LENGTH)) {
        return UCS_ERR_EXCEEDS_LIMIT;
    }

    rec_size = ucs_rsagg_wire_am_rec_size(length);
    status   = ucs_rsagg_builder_reserve(b, ep_id, rec_size, length, &dst);
    if (ucs_unlikely(status != UCS_OK)) {
        return status;
    }

    if (length != 0) {
        memcpy(dst, data, length);
    }
    ucs_rsagg_wire_put_am_rec(ucs_rsagg_builder_advance(b, ep_id, rec_size,
                                                        length),
                              rec_size, am_id, (uint32_t)length);
    return UCS_OK;
}


/**
 * Append a put of @a length bytes from @a buffer to @a remote_addr in the
 * receiver's region named by @a key.
 *
 * @return UCS_OK, or UCS_ERR_EXCEEDS_LIMIT if it does not fit.
 */
static UCS_F_ALWAYS_INLINE ucs_status_t
ucs_rsagg_builder_add_put(ucs_rsagg_builder_t *b, uint32_t ep_id, uint64_t key,
                          uint64_t remote_addr, const void *buffer,
                          size_t length)
{
    uint8_t *dst;
    ucs_status_t status;

    if (ucs_unlikely(length > UINT32_MAX)) {
        return UCS_ERR_EXCEEDS_LIMIT;
    }

    status = ucs_rsagg_builder_reserve(b, ep_id, UCS_RSAGG_REC_PUT_SIZE,
                                       length, &dst);
    if (ucs_unlikely(status != UCS_OK)) {
        return status;
    }

    if (length != 0) {
        memcpy(dst, buffer, length);
    }
    ucs_rsagg_wire_put_put_rec(ucs_rsagg_builder_advance(
                                       b, ep_id, UCS_RSAGG_REC_PUT_SIZE,
                                       length),
                               (uint32_t)length, key, remote_addr);
    return UCS_OK;
}


static UCS_F_ALWAYS_INLINE ucs_status_t
ucs_rsagg_builder_begin(ucs_rsagg_builder_t *b, uint32_t ep_id, uint8_t kind,
                        size_t rec_size, size_t max_len, void **data_p)
{
    uint8_t *data;
    ucs_status_t status;

    status = ucs_rsagg_builder_reserve(b, ep_id, rec_size, max_len, &data);
    if (ucs_unlikely(status != UCS_OK)) {
        b->pend_pos = NULL;
        return status;
    }

    b->pend_pos      = b->pos;
    b->pend_max      = max_len;
    b->pend_rec_size = rec_size;
    b->pend_ep       = ep_id;
    b->pend_kind     = kind;
    *data_p          = data;
    return UCS_OK;
}


/**
 * Reserve room for an active message of at most @a max_len bytes that the
 * caller (a bcopy pack callback) writes at *data_p, then reports with
 * ucs_rsagg_builder_commit. The length field is sized for @a max_len. A
 * begin that is not committed is simply dropped; any add or begin in
 * between makes the commit fail.
 *
 * @return UCS_OK; UCS_ERR_EXCEEDS_LIMIT if @a max_len bytes do not fit;
 *         UCS_ERR_INVALID_PARAM if @a am_id >= UCS_RSAGG_AM_ID_USER_MAX.
 */
static UCS_F_ALWAYS_INLINE ucs_status_t
ucs_rsagg_builder_am_begin(ucs_rsagg_builder_t *b, uint32_t ep_id,
                           uint8_t am_id, size_t max_len, void **data_p)
{
    if (ucs_unlikely(am_id >= UCS_RSAGG_AM_ID_USER_MAX)) {
        b->pend_pos = NULL;
        return UCS_ERR_INVALID_PARAM;
    }
    if (ucs_unlikely(max_len > UCS_RSAGG_AM32_MAX_LENGTH)) {
        b->pend_pos = NULL;
        return UCS_ERR_EXCEEDS_LIMIT;
    }

    return ucs_rsagg_builder_begin(b, ep_id, am_id,
                                   ucs_rsagg_wire_am_rec_size(max_len),
                                   max_len, data_p);
}


/**
 * As ucs_rsagg_builder_am_begin, for a put (put_bcopy).
 */
static UCS_F_ALWAYS_INLINE ucs_status_t
ucs_rsagg_builder_put_begin(ucs_rsagg_builder_t *b, uint32_t ep_id,
                            uint64_t key, uint64_t remote_addr, size_t max_len,
                            void **data_p)
{
    if (ucs_unlikely(max_len > UINT32_MAX)) {
        b->pend_pos = NULL;
        return UCS_ERR_EXCEEDS_LIMIT;
    }

    b->pend_key  = key;
    b->pend_addr = remote_addr;
    return ucs_rsagg_builder_begin(b, ep_id, UCS_RSAGG_REC_PUT,
                                   UCS_RSAGG_REC_PUT_SIZE, max_len, data_p);
}


/**
 * Complete the record started by the last *_begin with the @a length bytes
 * that were written.
 *
 * @return UCS_OK; UCS_ERR_INVALID_PARAM if nothing is pending (no begin, or
 *         another record was added since) or @a length exceeds the max_len
 *         given to begin. On error nothing is added.
 */
static UCS_F_ALWAYS_INLINE ucs_status_t
ucs_rsagg_builder_commit(ucs_rsagg_builder_t *b, size_t length)
{
    uint8_t *rec;

    if (ucs_unlikely((b->pend_pos == NULL) || (b->pend_pos != b->pos) ||
                     (length > b->pend_max))) {
        b->pend_pos = NULL;
        return UCS_ERR_INVALID_PARAM;
    }

    b->pend_pos = NULL;
    rec         = ucs_rsagg_builder_advance(b, b->pend_ep, b->pend_rec_size,
                                            length);
    if (b->pend_kind == UCS_RSAGG_REC_PUT) {
        ucs_rsagg_wire_put_put_rec(rec, (uint32_t)length, b->pend_key,
                                   b->pend_addr);
    } else {
        ucs_rsagg_wire_put_am_rec(rec, b->pend_rec_size, b->pend_kind,
                                  (uint32_t)length);
    }
    return UCS_OK;
}


/**
 * Write the headers. Returns the length of the message to send on
 * UCS_RSAGG_AM_ID_BATCH (embedded) or UCS_RSAGG_AM_ID_OOB_TABLE (oob), or 0
 * if the batch is empty (send nothing). For oob, *payload_length_p gets the
 * length of the payload buffer to send (its header included unless the
 * payload goes to a ring); for embedded it gets 0. @a payload_length_p may
 * be NULL. A pending begin is dropped. More records may be added after
 * finish, and finish called again.
 */
static UCS_F_ALWAYS_INLINE size_t
ucs_rsagg_builder_finish(ucs_rsagg_builder_t *b, size_t *payload_length_p)
{
    size_t length = ucs_rsagg_builder_length(b);
    size_t pl_length;

    b->pend_pos = NULL;
    if (payload_length_p != NULL) {
        *payload_length_p = 0;
    }
    if (b->count == 0) {
        return 0;
    }

    if (b->pl_start == NULL) {
        ucs_rsagg_wire_put_hdr(b->start, UCS_RSAGG_MSG_BATCH, 0, b->count,
                               b->seq, (uint32_t)length);
        return length;
    }

    pl_length = ucs_rsagg_builder_payload_length(b);
    ucs_rsagg_wire_put_hdr(b->start, UCS_RSAGG_MSG_OOB_TABLE, b->flags,
                           b->count, b->seq, (uint32_t)length);
    ucs_rsagg_wire_put32(b->start + UCS_RSAGG_HDR_OFF_PAYLOAD_LEN,
                         (uint32_t)pl_length);
    ucs_rsagg_wire_put32(b->start + UCS_RSAGG_HDR_OFF_RING_OFFSET,
                         (b->flags & UCS_RSAGG_FLAG_PAYLOAD_IN_RING) ?
                         b->ring_offset : 0);
    if (!(b->flags & UCS_RSAGG_FLAG_PAYLOAD_IN_RING)) {
        /* The payload message repeats the record count so that a pairing
         * mistake shows even when the lengths happen to agree */
        ucs_rsagg_wire_put_hdr(b->pl_start, UCS_RSAGG_MSG_OOB_PAYLOAD, 0,
                               b->count, b->seq,
                               (uint32_t)(pl_length + UCS_RSAGG_HDR_SIZE));
    }

    if (payload_length_p != NULL) {
        *payload_length_p = (size_t)(b->pl_pos - b->pl_start);
    }
    return length;
}


/**
 * Write a control message into @a buf (UCS_RSAGG_CTRL_SIZE bytes) and return
 * its length. For UCS_RSAGG_CTRL_OP_CREDIT, @a seq is the last transfer the
 * receiver consumed and @a value the credits it returns.
 */
static UCS_F_ALWAYS_INLINE size_t
ucs_rsagg_ctrl_pack(void *buf, ucs_rsagg_ctrl_op_t op, uint32_t seq,
                    uint32_t value)
{
    uint8_t *p = (uint8_t*)buf;

    ucs_rsagg_wire_put_hdr(p, UCS_RSAGG_MSG_CTRL, 0, 0, seq,
                           UCS_RSAGG_CTRL_SIZE);
    ucs_rsagg_wire_put32(p + UCS_RSAGG_CTRL_OFF_OP, (uint32_t)op);
    ucs_rsagg_wire_put32(p + UCS_RSAGG_CTRL_OFF_VALUE, value);
    return UCS_RSAGG_CTRL_SIZE;
}


/**
 * As ucs_rsagg_ctrl_pack, followed by @a body_length bytes of @a body
 * (at most UCS_RSAGG_CTRL_MAX_BODY); @a buf holds UCS_RSAGG_CTRL_SIZE +
 * @a body_length bytes.
 */
static UCS_F_ALWAYS_INLINE size_t
ucs_rsagg_ctrl_pack_body(void *buf, ucs_rsagg_ctrl_op_t op, uint32_t seq,
                         uint32_t value, const void *body, size_t body_length)
{
    uint8_t *p    = (uint8_t*)buf;
    size_t length = UCS_RSAGG_CTRL_SIZE + body_length;

    ucs_rsagg_ctrl_pack(buf, op, seq, value);
    ucs_rsagg_wire_put32(p + UCS_RSAGG_HDR_OFF_LENGTH, (uint32_t)length);
    if (body_length != 0) { /* body may be NULL then */
        memcpy(p + UCS_RSAGG_CTRL_SIZE, body, body_length);
    }
    return length;
}


/**
 * Write a ring grant into @a buf (UCS_RSAGG_CTRL_SIZE +
 * UCS_RSAGG_RING_GRANT_FIXED + @a rkey_length bytes, the body at most
 * UCS_RSAGG_CTRL_MAX_BODY) and return its length.
 */
static UCS_F_ALWAYS_INLINE size_t
ucs_rsagg_ring_grant_pack(void *buf, uint32_t channel_id, uint32_t size,
                          uint64_t remote_addr, uint32_t offset,
                          const void *rkey, size_t rkey_length)
{
    uint8_t *p    = (uint8_t*)buf;
    uint8_t *body = p + UCS_RSAGG_CTRL_SIZE;
    size_t length = UCS_RSAGG_CTRL_SIZE + UCS_RSAGG_RING_GRANT_FIXED +
                    rkey_length;

    ucs_rsagg_ctrl_pack(buf, UCS_RSAGG_CTRL_OP_RING_GRANT, channel_id, size);
    ucs_rsagg_wire_put32(p + UCS_RSAGG_HDR_OFF_LENGTH, (uint32_t)length);
    ucs_rsagg_wire_put64(body + UCS_RSAGG_RING_GRANT_OFF_ADDR, remote_addr);
    ucs_rsagg_wire_put32(body + UCS_RSAGG_RING_GRANT_OFF_OFFSET, offset);
    if (rkey_length != 0) { /* rkey may be NULL then */
        memcpy(body + UCS_RSAGG_RING_GRANT_FIXED, rkey, rkey_length);
    }
    return length;
}

END_C_DECLS

#endif
