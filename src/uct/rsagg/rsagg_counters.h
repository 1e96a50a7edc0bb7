/**
 * rsagg interface counters: the one public interface of rsagg beyond UCT.
 *
 * Needs only public UCX headers, so tests and benchmarks include it. The
 * function lives in the module, which UCX 1.13 loads by LD_PRELOAD, so a
 * program that must also run without the module looks it up at run time:
 *   dlsym(RTLD_DEFAULT, UCT_RSAGG_COUNTERS_SYMBOL)
 */

#ifndef UCT_RSAGG_COUNTERS_H_
#define UCT_RSAGG_COUNTERS_H_

#include <uct/api/uct_def.h>
#include <ucs/type/status.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif


typedef struct uct_rsagg_counters {
    uint64_t                   msgs;          /* Messages accepted */
    uint64_t                   bytes;         /* Payload bytes accepted */
    uint64_t                   direct;        /* Sent alone (pass-through) */
    uint64_t                   transfers;     /* Inner transfers sent */
    uint64_t                   inner_bytes;   /* Bytes given to the inner */
    uint64_t                   rx_msgs;       /* Messages delivered */
    uint64_t                   rx_transfers;  /* Consolidated transfers in */
    uint64_t                   malformed;     /* Transfers dropped */
    uint64_t                   rejected_puts; /* Puts outside their region */
    uint64_t                   channels;      /* Inner connections opened */
    uint64_t                   lost;          /* Batches lost with a peer */
    uint64_t                   timeouts;      /* Channels whose batches the
                                                 hold timer sent (they
                                                 waited for a progress) */
    uint64_t                   ring_transfers;    /* Sent with the payload
                                                     put into the receiver's
                                                     ring */
    uint64_t                   rx_ring_transfers; /* Received that way */
    uint64_t                   credit_stalls;     /* Times a transfer waited
                                                     for ring credits */
} uct_rsagg_counters_t;


#define UCT_RSAGG_COUNTERS_SYMBOL "uct_rsagg_iface_counters"

typedef ucs_status_t (*uct_rsagg_iface_counters_func_t)(
        uct_iface_h iface, uct_rsagg_counters_t *counters_p, size_t size);

/* Counters of an rsagg iface; UCS_ERR_INVALID_PARAM for any other iface.
 * 'size' is sizeof(uct_rsagg_counters_t) as the caller was built: counters
 * are only ever added at the end, so a program built against an older
 * header gets the ones it knows, and one built against a newer header gets
 * zeros for the ones this module does not have. */
ucs_status_t uct_rsagg_iface_counters(uct_iface_h iface,
                                      uct_rsagg_counters_t *counters_p,
                                      size_t size);

#ifdef __cplusplus
}
#endif

#endif
