/**
 * rsagg_bench: message content, the checking AM handler, one send.
 *
 * Every message carries its endpoint and a per-endpoint sequence number,
 * and its payload is a pattern derived from both; the receiving side checks
 * length, order and content of each one.
 */

#include "rsagg_bench.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>


typedef struct {
    uint64_t                   hdr;
    const uint8_t              *payload;
    unsigned                   length;
} bench_pack_arg_t;


static uint8_t bench_pattern[BENCH_PATTERN_SPAN + BENCH_MAX_SIZE];


void bench_pattern_init(void)
{
    uint32_t x = 0x12345678;
    size_t i;

    for (i = 0; i < sizeof(bench_pattern); ++i) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bench_pattern[i] = (uint8_t)x;
    }
}

/* The payload of a message depends on its ep and its sequence number, so
 * that a message delivered to the wrong place or twice is noticed */
static const uint8_t *bench_payload(unsigned ep, uint64_t seq)
{
    return bench_pattern + ((seq * 0x9e37 + ep * 0x45) % BENCH_PATTERN_SPAN);
}

static uint64_t bench_hdr(unsigned ep, uint64_t seq)
{
    return ((uint64_t)ep << BENCH_EP_SHIFT) | (seq & BENCH_SEQ_MASK);
}

void bench_rx_fail(bench_rx_t *rx, const char *fmt, ...)
{
    va_list ap;

    if (rx->failed) {
        return;
    }

    rx->failed = 1;
    va_start(ap, fmt);
    vsnprintf(rx->reason, sizeof(rx->reason), fmt, ap);
    va_end(ap);
}

ucs_status_t bench_am_cb(void *arg, void *data, size_t length,
                         unsigned flags)
{
    bench_rx_t *rx = arg;
    uint64_t hdr, seq;
    unsigned ep;

    if (length != rx->size) {
        bench_rx_fail(rx, "received %zu bytes, sent %u", length, rx->size);
        return UCS_OK;
    }

    memcpy(&hdr, data, sizeof(hdr));
    ep  = hdr >> BENCH_EP_SHIFT;
    seq = hdr & BENCH_SEQ_MASK;
    if (ep >= rx->num_eps) {
        bench_rx_fail(rx, "message from unknown ep %u", ep);
    } else if (seq != rx->next[ep]) {
        bench_rx_fail(rx, "ep %u: received seq %" PRIu64 ", expected %"
                      PRIu64, ep, seq, rx->next[ep]);
    } else if (memcmp((uint8_t*)data + BENCH_HDR_SIZE, bench_payload(ep, seq),
                      length - BENCH_HDR_SIZE)) {
        bench_rx_fail(rx, "ep %u seq %" PRIu64 ": payload differs", ep, seq);
    } else {
        ++rx->next[ep];
    }

    ++rx->total;
    return UCS_OK;
}

static size_t bench_pack_cb(void *dest, void *arg)
{
    bench_pack_arg_t *pack = arg;

    memcpy(dest, &pack->hdr, sizeof(pack->hdr));
    memcpy((uint8_t*)dest + sizeof(pack->hdr), pack->payload, pack->length);
    return sizeof(pack->hdr) + pack->length;
}

ucs_status_t bench_tx_one(bench_tx_t *tx, unsigned ep)
{
    uint64_t seq = tx->seq[ep];
    bench_pack_arg_t pack;
    ucs_status_t status;
    ssize_t packed;

    pack.hdr     = bench_hdr(ep, seq);
    pack.payload = bench_payload(ep, seq);
    pack.length  = tx->size - BENCH_HDR_SIZE;

    if (tx->op == BENCH_OP_SHORT) {
        status = uct_ep_am_short(tx->eps[ep], BENCH_AM_ID, pack.hdr,
                                 pack.payload, pack.length);
    } else {
        packed = uct_ep_am_bcopy(tx->eps[ep], BENCH_AM_ID, bench_pack_cb,
                                 &pack, 0);
        if (packed == (ssize_t)tx->size) {
            status = UCS_OK;
        } else if (packed >= 0) {
            /* Cannot happen with a correct transport: treat as an error */
            status = UCS_ERR_MESSAGE_TRUNCATED;
        } else {
            status = (ucs_status_t)packed;
        }
    }

    if (status == UCS_OK) {
        ++tx->seq[ep];
    }
    return status;
}

int bench_rx_init(bench_rx_t *rx, unsigned size, unsigned num_eps)
{
    memset(rx, 0, sizeof(*rx));
    rx->size    = size;
    rx->num_eps = num_eps;
    rx->next    = calloc(num_eps, sizeof(*rx->next));
    return (rx->next == NULL) ? -1 : 0;
}
