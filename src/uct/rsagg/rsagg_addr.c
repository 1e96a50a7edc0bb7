/**
 * rsagg address header (see rsagg_addr.h).
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_addr.h"

#include <ucs/debug/log.h>


void uct_rsagg_addr_pack_hdr(void *addr)
{
    uct_rsagg_addr_hdr_t *hdr = addr;

    hdr->magic    = UCT_RSAGG_ADDR_MAGIC;
    hdr->version  = UCT_RSAGG_ADDR_VERSION;
    hdr->flags    = 0;
    hdr->reserved = 0;
}

ucs_status_t uct_rsagg_addr_check(uct_rsagg_iface_t *iface, const void *addr)
{
    const uct_rsagg_addr_hdr_t *hdr = addr;

    if (ucs_likely((hdr->magic == UCT_RSAGG_ADDR_MAGIC) &&
                   (hdr->version == UCT_RSAGG_ADDR_VERSION))) {
        return UCS_OK;
    }

    if (!iface->version_warned) {
        iface->version_warned = 1;
        if (hdr->magic != UCT_RSAGG_ADDR_MAGIC) {
            ucs_error("rsagg: peer address is not an rsagg address "
                      "(magic 0x%x)", hdr->magic);
        } else {
            ucs_error("rsagg: peer uses address format version %u, this "
                      "rsagg uses version %u: peers must run the same rsagg",
                      hdr->version, UCT_RSAGG_ADDR_VERSION);
        }
    }
    return UCS_ERR_UNREACHABLE;
}
