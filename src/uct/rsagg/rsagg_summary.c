/**
 * rsagg summary (see rsagg_summary.h).
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_summary.h"

#include <ucs/sys/compiler_def.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>


typedef struct uct_rsagg_summary_buf {
    char                       *buf;
    size_t                     len;
    size_t                     used;     /* May exceed len: truncated */
} uct_rsagg_summary_buf_t;


static void UCS_F_PRINTF(2, 3)
uct_rsagg_summary_append(uct_rsagg_summary_buf_t *sb, const char *fmt, ...)
{
    size_t room = (sb->used < sb->len) ? (sb->len - sb->used) : 0;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf((room > 0) ? (sb->buf + sb->used) : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) {
        sb->used += n;
    }
}

/* "12.3" of a / b, or "-" when b is 0 */
static const char *uct_rsagg_summary_ratio(char *str, size_t len, uint64_t a,
                                           uint64_t b)
{
    if (b == 0) {
        snprintf(str, len, "-");
    } else {
        snprintf(str, len, "%.1f", (double)a / (double)b);
    }
    return str;
}

ucs_status_t uct_rsagg_summary_format(char *buf, size_t len, const char *name,
                                      const uct_rsagg_counters_t *counters)
{
    const uct_rsagg_counters_t *c = counters;
    uct_rsagg_summary_buf_t sb    = {buf, len, 0};
    char r1[32], r2[32];

    if (len > 0) {
        buf[0] = '\0';
    }

    uct_rsagg_summary_append(&sb, "[rsagg] summary of iface over %s\n",
                             name);
    uct_rsagg_summary_append(&sb,
            "  messages sent            %" PRIu64 " (%" PRIu64 " payload "
            "bytes)\n", c->msgs, c->bytes);
    uct_rsagg_summary_append(&sb,
            "  inner transfers sent     %" PRIu64 " (%" PRIu64 " of them a "
            "message alone)\n", c->transfers, c->direct);
    uct_rsagg_summary_append(&sb,
            "  messages per transfer    %s\n",
            uct_rsagg_summary_ratio(r1, sizeof(r1), c->msgs, c->transfers));
    uct_rsagg_summary_append(&sb,
            "  inner bytes per message  %s (payload %s; %" PRIu64 " bytes "
            "given to the inner transport)\n",
            uct_rsagg_summary_ratio(r1, sizeof(r1), c->inner_bytes, c->msgs),
            uct_rsagg_summary_ratio(r2, sizeof(r2), c->bytes, c->msgs),
            c->inner_bytes);
    uct_rsagg_summary_append(&sb,
            "  messages unpacked        %" PRIu64 " from %" PRIu64
            " consolidated transfers\n", c->rx_msgs, c->rx_transfers);
    uct_rsagg_summary_append(&sb,
            "  inner connections        %" PRIu64 "\n", c->channels);
    uct_rsagg_summary_append(&sb,
            "  sent by the hold timer   %" PRIu64 " times (the worker was not "
            "progressed)\n", c->timeouts);
    uct_rsagg_summary_append(&sb,
            "  ring transfers           %" PRIu64 " sent, %" PRIu64
            " received, %" PRIu64 " waits for credits\n",
            c->ring_transfers, c->rx_ring_transfers, c->credit_stalls);
    if ((c->malformed == 0) && (c->rejected_puts == 0) && (c->lost == 0)) {
        uct_rsagg_summary_append(&sb, "  dropped                  none\n");
    } else {
        uct_rsagg_summary_append(&sb,
                "  dropped                  %" PRIu64 " received transfers "
                "failed validation (%" PRIu64 " puts outside their region)"
                "\n", c->malformed, c->rejected_puts);
        uct_rsagg_summary_append(&sb,
                "                           %" PRIu64 " batches lost with a "
                "failed peer\n", c->lost);
    }

    return (sb.used < len) ? UCS_OK : UCS_ERR_BUFFER_TOO_SMALL;
}

void uct_rsagg_summary_print(const char *name,
                             const uct_rsagg_counters_t *counters)
{
    char title[64];
    char buf[1024];

    snprintf(title, sizeof(title), "%s (pid %d)", name, (int)getpid());
    uct_rsagg_summary_format(buf, sizeof(buf), title, counters);
    fputs(buf, stderr);
}
