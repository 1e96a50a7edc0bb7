/**
 * rsagg addresses: every rsagg iface and ep address is a 4-byte header
 * (magic, format version, flags) followed by the inner transport's address,
 * so that peers built from another rsagg format refuse each other clearly
 * instead of misreading bytes.
 */

#ifndef UCT_RSAGG_ADDR_H_
#define UCT_RSAGG_ADDR_H_

#include "rsagg_iface.h"


/* Writes the header at addr; the inner address follows it */
void uct_rsagg_addr_pack_hdr(void *addr);

/* Checks a peer's address header; logs once per iface on mismatch and
 * returns UCS_ERR_UNREACHABLE */
ucs_status_t uct_rsagg_addr_check(uct_rsagg_iface_t *iface, const void *addr);

/* The inner address behind the header */
static UCS_F_ALWAYS_INLINE const void *uct_rsagg_addr_inner(const void *addr)
{
    return UCS_PTR_BYTE_OFFSET(addr, sizeof(uct_rsagg_addr_hdr_t));
}

#endif
