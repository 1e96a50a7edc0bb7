/*
 * Layout of one input of the rsagg parser fuzz target, shared by the target
 * and the seed corpus generator:
 *
 *   byte 0      mode (rsagg_fuzz_mode_t, taken modulo RSAGG_FUZZ_MODE_LAST)
 *   embedded / ctrl:  the rest is the message
 *   oob modes:        u16 LE table length T (clamped to what is there),
 *                     T bytes of table, the rest is the payload (a payload
 *                     message, or the bare ring payload)
 *
 * The receiver policy is fixed (rsagg_fuzz_policy): handlers for every user
 * am id but RSAGG_FUZZ_NO_HANDLER_ID, ep ids up to RSAGG_FUZZ_MAX_EP_ID, and
 * the put regions below.
 */

#ifndef RSAGG_FUZZ_INPUT_H_
#define RSAGG_FUZZ_INPUT_H_

#include <stdint.h>

typedef enum {
    RSAGG_FUZZ_MODE_BATCH,
    RSAGG_FUZZ_MODE_OOB_MSG,
    RSAGG_FUZZ_MODE_OOB_RING,
    RSAGG_FUZZ_MODE_CTRL,
    RSAGG_FUZZ_MODE_LAST
} rsagg_fuzz_mode_t;

#define RSAGG_FUZZ_NO_HANDLER_ID 13
#define RSAGG_FUZZ_MAX_EP_ID     1000

/* Put regions: key -> [base, base + size) */
#define RSAGG_FUZZ_REGIONS \
    {{1, 0x1000, 0x1000}, \
     {2, 0, UINT64_MAX}, \
     {3, UINT64_MAX - 0xff, 0x100}}

#endif
