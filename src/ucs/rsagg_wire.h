/**
 * rsagg aggregation wire format, version 1.
 *
 * This header is the only place where the format is defined; the builder
 * (rsagg_builder.h), the parser (rsagg_parser.h) and docs/wire-format.md all
 * follow it. Every multi-byte field is little-endian and is read and written
 * through memcpy, so no field needs any alignment.
 *
 * Messages (each one is the payload of one inner active message):
 *
 *   embedded batch  (inner am id UCS_RSAGG_AM_ID_BATCH)
 *       header(16) | record | record | ...       records carry their payload
 *
 *   out-of-band table (UCS_RSAGG_AM_ID_OOB_TABLE)
 *       header(16) | oob extension(8) | record | ...   records WITHOUT payload
 *
 *   out-of-band payload (UCS_RSAGG_AM_ID_OOB_PAYLOAD, unless the table has
 *   UCS_RSAGG_FLAG_PAYLOAD_IN_RING: then the bare payload is in a ring slot)
 *       header(16) | payload bytes of all records, concatenated in order
 *
 *   control (UCS_RSAGG_AM_ID_CTRL)
 *       header(16) | op(u32) | value(u32) | body (FLUSH_REQ, RING_REQ,
 *                                                 RING_GRANT, CLOSE only)
 *
 * Common header:
 *   off 0  u16 magic    UCS_RSAGG_WIRE_MAGIC
 *   off 2  u8  version  UCS_RSAGG_WIRE_VERSION; checked right after the magic
 *                       and before anything else, since a later version may
 *                       lay out everything after these 3 bytes differently
 *   off 3  u8  type     ucs_rsagg_msg_type_t; must match the inner am id
 *   off 4  u16 flags    UCS_RSAGG_FLAG_*; unknown bits are an error
 *   off 6  u16 count    number of records (batch, table: 1..65535; payload:
 *                       the record count of its table; ctrl: 0)
 *   off 8  u32 seq      sequence number chosen by the sender; pairs an oob
 *                       table with its payload
 *   off 12 u32 length   length of this message including this header
 *
 * Out-of-band table extension (right after the common header):
 *   off 16 u32 payload_length  payload bytes (excluding any payload header)
 *   off 20 u32 ring_offset     where the payload starts in the receiver's ring
 *                              (UCS_RSAGG_FLAG_PAYLOAD_IN_RING), else 0
 *
 * Records. The first byte holds the kind in its 2 high bits:
 *   00 aaaaaa  AM8   am id a, u8  length, payload   (overhead 2 bytes)
 *   01 aaaaaa  AM16  am id a, u16 length, payload   (overhead 3 bytes)
 *   10 aaaaaa  AM32  am id a, u32 length, payload   (overhead 5 bytes)
 *   11 ssssss  extended record, subtype s:
 *        s = 0 EP   u32 ep id: the originating ep of the following records
 *        s = 1 PUT  u32 length, u64 region key, u64 remote address, payload
 *        other subtypes are an error
 * The writer may use any AM width that holds the length. At the start of a
 * message the current ep id is 0, so a single-ep stream carries no EP record.
 * In an out-of-band table the "payload" is not there: the records' payloads
 * are taken one after another from the payload message.
 *
 * The AM payload of a record is what the receiving handler gets as data: for
 * am_short, the 8-byte header in host byte order (as every UCT transport
 * sends it) followed by the payload.
 */

#ifndef UCS_RSAGG_WIRE_H_
#define UCS_RSAGG_WIRE_H_

#include <ucs/sys/compiler_def.h>

#include <stdint.h>
#include <string.h>

BEGIN_C_DECLS


/*
 * Inner active message ids reserved by rsagg. UCX 1.13 accepts only ids below
 * UCT_AM_ID_MAX = 32 (uct_iface_set_am_handler rejects larger ones, and the
 * transports keep the id in 5 bits), so the reserved ids are the top 4 of
 * those 32, and user ids are 0..27 (UCP uses 0..26).
 */
#define UCS_RSAGG_INNER_AM_ID_MAX     32
#define UCS_RSAGG_AM_ID_BATCH         31  /* embedded batch */
#define UCS_RSAGG_AM_ID_OOB_TABLE     30  /* out-of-band multiplexing table */
#define UCS_RSAGG_AM_ID_OOB_PAYLOAD   29  /* out-of-band payload */
#define UCS_RSAGG_AM_ID_CTRL          28  /* control (credits) */
#define UCS_RSAGG_AM_ID_USER_MAX      28  /* user am ids are 0..USER_MAX-1 */


#define UCS_RSAGG_WIRE_MAGIC          0x4152u  /* bytes 'R' 'A' */
#define UCS_RSAGG_WIRE_VERSION        1


typedef enum {
    UCS_RSAGG_MSG_BATCH       = 1,
    UCS_RSAGG_MSG_OOB_TABLE   = 2,
    UCS_RSAGG_MSG_OOB_PAYLOAD = 3,
    UCS_RSAGG_MSG_CTRL        = 4
} ucs_rsagg_msg_type_t;


/* Header flags */
#define UCS_RSAGG_FLAG_PAYLOAD_IN_RING 0x0001u  /* oob table only */
#define UCS_RSAGG_FLAGS_KNOWN_TABLE    UCS_RSAGG_FLAG_PAYLOAD_IN_RING


/* Common header field offsets and sizes */
#define UCS_RSAGG_HDR_OFF_MAGIC       0
#define UCS_RSAGG_HDR_OFF_VERSION     2
#define UCS_RSAGG_HDR_OFF_TYPE        3
#define UCS_RSAGG_HDR_OFF_FLAGS       4
#define UCS_RSAGG_HDR_OFF_COUNT       6
#define UCS_RSAGG_HDR_OFF_SEQ         8
#define UCS_RSAGG_HDR_OFF_LENGTH      12
#define UCS_RSAGG_HDR_SIZE            16
/* Out-of-band table extension */
#define UCS_RSAGG_HDR_OFF_PAYLOAD_LEN 16
#define UCS_RSAGG_HDR_OFF_RING_OFFSET 20
#define UCS_RSAGG_TABLE_HDR_SIZE      24
/* Control body */
#define UCS_RSAGG_CTRL_OFF_OP         16
#define UCS_RSAGG_CTRL_OFF_VALUE      20
#define UCS_RSAGG_CTRL_SIZE           24

/* Bytes that identify the format and its version; enough to tell a peer
 * with another version apart even if the rest of its header differs */
#define UCS_RSAGG_HDR_VERSION_PREFIX  3

#define UCS_RSAGG_MAX_RECORDS         UINT16_MAX
#define UCS_RSAGG_MAX_MSG_LENGTH      UINT32_MAX


/* Record encoding */
#define UCS_RSAGG_REC_KIND_SHIFT      6
#define UCS_RSAGG_REC_LOW_MASK        0x3fu
#define UCS_RSAGG_REC_AM8             0x00u
#define UCS_RSAGG_REC_AM16            0x40u
#define UCS_RSAGG_REC_AM32            0x80u
#define UCS_RSAGG_REC_EXT             0xc0u
#define UCS_RSAGG_REC_EP              (UCS_RSAGG_REC_EXT | 0)
#define UCS_RSAGG_REC_PUT             (UCS_RSAGG_REC_EXT | 1)

/* Record sizes without payload */
#define UCS_RSAGG_REC_AM8_SIZE        2
#define UCS_RSAGG_REC_AM16_SIZE       3
#define UCS_RSAGG_REC_AM32_SIZE       5
#define UCS_RSAGG_REC_EP_SIZE         5
#define UCS_RSAGG_REC_PUT_SIZE        21  /* kind, u32 len, u64 key, u64 addr */
#define UCS_RSAGG_REC_MIN_SIZE        UCS_RSAGG_REC_AM8_SIZE

/* Largest payload for each AM width */
#define UCS_RSAGG_AM8_MAX_LENGTH      UINT8_MAX
#define UCS_RSAGG_AM16_MAX_LENGTH     UINT16_MAX
#define UCS_RSAGG_AM32_MAX_LENGTH     UINT32_MAX


/* Control operations */
typedef enum {
    /* Receiver to sender, over the return path: seq = the sender's channel
     * id, value = bytes of its ring slice the receiver has consumed since the
     * last credit (payloads, and the tails skipped so that no payload wraps) */
    UCS_RSAGG_CTRL_OP_CREDIT     = 1,
    /* Sender to receiver, after the transfers whose puts are to be flushed:
     * seq = flush request number, value = sender's channel id, body = the
     * sender's return address (where to send the answer), 1..
     * UCS_RSAGG_CTRL_MAX_BODY bytes */
    UCS_RSAGG_CTRL_OP_FLUSH_REQ  = 2,
    /* Receiver to sender: everything before flush request seq of channel
     * value is applied */
    UCS_RSAGG_CTRL_OP_FLUSH_ACK  = 3,
    /* Sender to receiver: asks for a slice of the receiver's ring. seq =
     * sender's channel id, value = slice size wanted (bytes), body = the
     * sender's return address, 1..UCS_RSAGG_CTRL_MAX_BODY bytes */
    UCS_RSAGG_CTRL_OP_RING_REQ   = 4,
    /* Receiver to sender: a slice is granted. seq = channel id, value =
     * slice size, body = UCS_RSAGG_RING_GRANT_FIXED bytes (u64 remote
     * address of the ring region, u32 slice offset in it) followed by the
     * inner transport's packed rkey of the region (may be empty) */
    UCS_RSAGG_CTRL_OP_RING_GRANT = 5,
    /* Receiver to sender: no slice (no ring, or no room): the sender keeps
     * sending its payloads as active messages. seq = channel id, value 0 */
    UCS_RSAGG_CTRL_OP_RING_DENY  = 6,
    /* Sender to receiver, the last message of a channel that used the
     * return path (a ring or flush request): the channel's ring slice is
     * free again, and the way back to the sender is to be forgotten (an
     * interface opened later may have the same address). seq = sender's
     * channel id, value = 0, body = the sender's return address, 1..
     * UCS_RSAGG_CTRL_MAX_BODY bytes */
    UCS_RSAGG_CTRL_OP_CLOSE      = 7
} ucs_rsagg_ctrl_op_t;

#define UCS_RSAGG_CTRL_OP_LAST        UCS_RSAGG_CTRL_OP_CLOSE

/* Ring grant body */
#define UCS_RSAGG_RING_GRANT_OFF_ADDR   0   /* u64 region remote address */
#define UCS_RSAGG_RING_GRANT_OFF_OFFSET 8   /* u32 slice offset */
#define UCS_RSAGG_RING_GRANT_FIXED      12  /* then the packed rkey */

/* Largest control message body (a return address: two u16 lengths and the
 * inner device and iface addresses; or a ring grant with a packed rkey) */
#define UCS_RSAGG_CTRL_MAX_BODY       1024


/* Little-endian, unaligned access */
#if defined(__BYTE_ORDER__) && (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
#  define UCS_RSAGG_LE16(_v) __builtin_bswap16(_v)
#  define UCS_RSAGG_LE32(_v) __builtin_bswap32(_v)
#  define UCS_RSAGG_LE64(_v) __builtin_bswap64(_v)
#else
#  define UCS_RSAGG_LE16(_v) (_v)
#  define UCS_RSAGG_LE32(_v) (_v)
#  define UCS_RSAGG_LE64(_v) (_v)
#endif


static UCS_F_ALWAYS_INLINE uint16_t ucs_rsagg_wire_get16(const void *p)
{
    uint16_t v;

    memcpy(&v, p, sizeof(v));
    return UCS_RSAGG_LE16(v);
}


static UCS_F_ALWAYS_INLINE uint32_t ucs_rsagg_wire_get32(const void *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return UCS_RSAGG_LE32(v);
}


static UCS_F_ALWAYS_INLINE uint64_t ucs_rsagg_wire_get64(const void *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return UCS_RSAGG_LE64(v);
}


static UCS_F_ALWAYS_INLINE void ucs_rsagg_wire_put16(void *p, uint16_t v)
{
    v = UCS_RSAGG_LE16(v);
    memcpy(p, &v, sizeof(v));
}


static UCS_F_ALWAYS_INLINE void ucs_rsagg_wire_put32(void *p, uint32_t v)
{
    v = UCS_RSAGG_LE32(v);
    memcpy(p, &v, sizeof(v));
}


static UCS_F_ALWAYS_INLINE void ucs_rsagg_wire_put64(void *p, uint64_t v)
{
    v = UCS_RSAGG_LE64(v);
    memcpy(p, &v, sizeof(v));
}


/**
 * Write a common header. @a p must have UCS_RSAGG_HDR_SIZE bytes.
 */
static UCS_F_ALWAYS_INLINE void
ucs_rsagg_wire_put_hdr(void *p, ucs_rsagg_msg_type_t type, uint16_t flags,
                       uint16_t count, uint32_t seq, uint32_t length)
{
    uint8_t *b = (uint8_t*)p;

    ucs_rsagg_wire_put16(b + UCS_RSAGG_HDR_OFF_MAGIC, UCS_RSAGG_WIRE_MAGIC);
    b[UCS_RSAGG_HDR_OFF_VERSION] = UCS_RSAGG_WIRE_VERSION;
    b[UCS_RSAGG_HDR_OFF_TYPE]    = (uint8_t)type;
    ucs_rsagg_wire_put16(b + UCS_RSAGG_HDR_OFF_FLAGS, flags);
    ucs_rsagg_wire_put16(b + UCS_RSAGG_HDR_OFF_COUNT, count);
    ucs_rsagg_wire_put32(b + UCS_RSAGG_HDR_OFF_SEQ, seq);
    ucs_rsagg_wire_put32(b + UCS_RSAGG_HDR_OFF_LENGTH, length);
}


/**
 * Size of the AM record header (without payload) that holds @a length.
 */
static UCS_F_ALWAYS_INLINE size_t ucs_rsagg_wire_am_rec_size(size_t length)
{
    if (ucs_likely(length <= UCS_RSAGG_AM8_MAX_LENGTH)) {
        return UCS_RSAGG_REC_AM8_SIZE;
    } else if (length <= UCS_RSAGG_AM16_MAX_LENGTH) {
        return UCS_RSAGG_REC_AM16_SIZE;
    }
    return UCS_RSAGG_REC_AM32_SIZE;
}


/**
 * Write an AM record header of the given size (from ucs_rsagg_wire_am_rec_size
 * of any length >= @a length) for am id @a am_id.
 */
static UCS_F_ALWAYS_INLINE void
ucs_rsagg_wire_put_am_rec(uint8_t *p, size_t rec_size, uint8_t am_id,
                          uint32_t length)
{
    if (ucs_likely(rec_size == UCS_RSAGG_REC_AM8_SIZE)) {
        p[0] = UCS_RSAGG_REC_AM8 | am_id;
        p[1] = (uint8_t)length;
    } else if (rec_size == UCS_RSAGG_REC_AM16_SIZE) {
        p[0] = UCS_RSAGG_REC_AM16 | am_id;
        ucs_rsagg_wire_put16(p + 1, (uint16_t)length);
    } else {
        p[0] = UCS_RSAGG_REC_AM32 | am_id;
        ucs_rsagg_wire_put32(p + 1, length);
    }
}


static UCS_F_ALWAYS_INLINE void
ucs_rsagg_wire_put_ep_rec(uint8_t *p, uint32_t ep_id)
{
    p[0] = UCS_RSAGG_REC_EP;
    ucs_rsagg_wire_put32(p + 1, ep_id);
}


static UCS_F_ALWAYS_INLINE void
ucs_rsagg_wire_put_put_rec(uint8_t *p, uint32_t length, uint64_t key,
                           uint64_t remote_addr)
{
    p[0] = UCS_RSAGG_REC_PUT;
    ucs_rsagg_wire_put32(p + 1, length);
    ucs_rsagg_wire_put64(p + 5, key);
    ucs_rsagg_wire_put64(p + 13, remote_addr);
}

END_C_DECLS

#endif
