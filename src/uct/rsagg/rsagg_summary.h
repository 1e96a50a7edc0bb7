/**
 * rsagg summary: the aggregation counters of an iface as one readable
 * block (UCX_RSAGG_SUMMARY=y prints it when the iface closes).
 */

#ifndef UCT_RSAGG_SUMMARY_H_
#define UCT_RSAGG_SUMMARY_H_

#include "rsagg_counters.h"

#include <stddef.h>


/**
 * Writes the summary block of the iface called 'name' (e.g. "tcp, pid 42")
 * with the counters 'counters' into 'buf' of 'len' bytes, NUL-terminated:
 * one line per item, "\n" after each. UCS_ERR_BUFFER_TOO_SMALL when the
 * block did not fit (then 'buf' holds its beginning).
 */
ucs_status_t uct_rsagg_summary_format(char *buf, size_t len, const char *name,
                                      const uct_rsagg_counters_t *counters);


/**
 * Prints the summary block of the iface over inner transport 'name' to
 * stderr, in one write, with the process id.
 */
void uct_rsagg_summary_print(const char *name,
                             const uct_rsagg_counters_t *counters);

#endif
