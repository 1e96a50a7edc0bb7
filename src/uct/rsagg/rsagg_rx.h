/**
 * rsagg receive side (rsagg_rx.c).
 */

#ifndef UCT_RSAGG_RX_H_
#define UCT_RSAGG_RX_H_

#include "rsagg_iface.h"


/* Sets rsagg's handlers on the inner iface: its own am ids, and a
 * trampoline for every user id. headroom: the inner descriptors' rx
 * headroom, to release a descriptor rsagg kept. */
ucs_status_t uct_rsagg_rx_init(uct_rsagg_iface_t *iface, size_t headroom);

/* Releases out-of-band payloads still waiting for their table */
void uct_rsagg_rx_cleanup(uct_rsagg_iface_t *iface);

#endif
