/**
 * rsagg interface configuration: the table is the manual (ucx_info -c -f).
 * Each entry says what a setting does and what it trades; measurements
 * live in README.md and docs/DESIGN.md.
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_iface.h"


static const char *uct_rsagg_mux_names[] = {
    [UCT_RSAGG_MUX_EMBEDDED] = "embedded",
    [UCT_RSAGG_MUX_OOB]      = "oob",
    [UCT_RSAGG_MUX_AUTO]     = "auto",
    [UCT_RSAGG_MUX_LAST]     = NULL
};

ucs_config_field_t uct_rsagg_iface_config_table[] = {
    {"", "", NULL,
     ucs_offsetof(uct_rsagg_iface_config_t, super),
     UCS_CONFIG_TYPE_TABLE(uct_iface_config_table)},

    {"AGGREGATE", "y",
     "Pack small messages of all endpoints to the same peer into consolidated\n"
     "transfers. With \"n\", every operation goes to the inner transport as it\n"
     "is (pass-through), which is useful for A/B comparisons.",
     ucs_offsetof(uct_rsagg_iface_config_t, aggregate), UCS_CONFIG_TYPE_BOOL},

    {"MUX", "auto",
     "Where the multiplexing information of a consolidated transfer travels:\n"
     " embedded - a table inside the transfer itself: one inner active\n"
     "            message per batch.\n"
     " oob      - a separate inner active message (the AM lane), paired by the\n"
     "            receiver with the payload before anything is delivered. The\n"
     "            payload goes on the data path: the inner transport's put\n"
     "            (put_zcopy, else put_bcopy) into a slice of a ring that the\n"
     "            receiver registered and granted, when the inner transport\n"
     "            has a put and connects to interfaces (the receiver returns\n"
     "            credits over a connection back to the sender); an inner\n"
     "            active message otherwise, or until the slice is granted, or\n"
     "            if the receiver has no room left in its ring.\n"
     " auto     - embedded, except that after a batch of at least\n"
     "            UCX_RSAGG_RING_THRESH bytes the next batch goes out-of-band\n"
     "            through the ring, where the inner transport's put is\n"
     "            one-sided (shared memory, RDMA; not tcp, whose put is a\n"
     "            request and an acknowledgement on the same stream); never\n"
     "            with an active-message payload, which costs a second inner\n"
     "            message and saves nothing. The threshold is a rule, not a\n"
     "            measured optimum (see docs/DESIGN.md).",
     ucs_offsetof(uct_rsagg_iface_config_t, mux),
     UCS_CONFIG_TYPE_ENUM(uct_rsagg_mux_names)},

    {"RING_SIZE", "4m",
     "Receive ring for out-of-band payloads: one region per interface,\n"
     "registered with the inner memory domain when the first sender asks for\n"
     "a slice of it, and divided into one slice per sending connection (each\n"
     "the sender's UCX_RSAGG_BUFFER, at least 8 batches). A sender that gets\n"
     "no slice sends its payloads as active messages. 0: no ring.",
     ucs_offsetof(uct_rsagg_iface_config_t, ring_size),
     UCS_CONFIG_TYPE_MEMUNITS},

    {"RING_THRESH", "4k",
     "With UCX_RSAGG_MUX=auto: batches from this size on (table and payloads)\n"
     "make the next batch go out-of-band through the ring.",
     ucs_offsetof(uct_rsagg_iface_config_t, auto_thresh),
     UCS_CONFIG_TYPE_MEMUNITS},

    {"MAX_BATCH", "8k",
     "Largest consolidated transfer, bounded by the inner transport's largest\n"
     "active message.",
     ucs_offsetof(uct_rsagg_iface_config_t, max_batch),
     UCS_CONFIG_TYPE_MEMUNITS},

    {"BUFFER", "256k",
     "Send buffer per channel: consolidated data waiting for the inner\n"
     "transport. When it is full, sends return UCS_ERR_NO_RESOURCE.",
     ucs_offsetof(uct_rsagg_iface_config_t, buffer), UCS_CONFIG_TYPE_MEMUNITS},

    {"ZCOPY_THRESH", "1k",
     "Zero-copy active messages up to this size are copied into a batch like\n"
     "the small ones; larger ones go out on their own, after the open batch.",
     ucs_offsetof(uct_rsagg_iface_config_t, zcopy_thresh),
     UCS_CONFIG_TYPE_MEMUNITS},

    {"PUT_AGGREGATE", "try",
     "Aggregate small puts (put_short, put_bcopy) into consolidated transfers,\n"
     "applied by the receiving rsagg after checking the target against the\n"
     "region that the rkey names. Remote completion (flush) then takes an\n"
     "acknowledgement from the receiver, and puts land when the receiver\n"
     "progresses.\n"
     " yes - always; an error over shared memory (posix, sysv), where a put\n"
     "       is a store into the peer's memory and rsagg's put is the inner\n"
     "       transport's own.\n"
     " no  - never: puts are the inner transport's own, if it has them.\n"
     " try - only where the inner transport has no put_short/put_bcopy of its\n"
     "       own (tcp), so that rsagg offers them there.",
     ucs_offsetof(uct_rsagg_iface_config_t, put_aggregate),
     UCS_CONFIG_TYPE_TERNARY},

    {"HOLD_TIMEOUT", "10ms",
     "Longest time a batch waits for the worker to be progressed again. A\n"
     "batch leaves on progress; if the application stops progressing the\n"
     "worker (a compute phase, or progressing another worker while its peer\n"
     "waits on this one), rsagg's hold thread sends the batches that have\n"
     "waited a whole timeout without progress, after at most twice the\n"
     "timeout. The thread (one per process) sleeps between ticks and wakes\n"
     "once per timeout, on the worker's core when ranks are bound: a shorter\n"
     "timeout bounds a held batch's delay more tightly and costs more\n"
     "wake-ups of that core (docs/DESIGN.md has the measurements).\n"
     "At least 10us; \"auto\" is 10ms. \"inf\" disables it: batches then\n"
     "leave only on progress, flush or fence.",
     ucs_offsetof(uct_rsagg_iface_config_t, hold_timeout),
     UCS_CONFIG_TYPE_TIME_UNITS},

    {"MAX_DELAY", "100us",
     "Longest time a batch stays open while its sender keeps adding to it.\n"
     "A batch that did not grow since the last progress leaves at once; one\n"
     "that grows (a sender that sends several messages between progress\n"
     "calls) leaves at the first progress after this delay, or when full.\n"
     "Shorter: a lower bound on the delay of the first message of a batch,\n"
     "and fewer messages per transfer for such senders. \"inf\": a growing\n"
     "batch leaves only when full (or on flush, fence, timeout).",
     ucs_offsetof(uct_rsagg_iface_config_t, max_delay),
     UCS_CONFIG_TYPE_TIME_UNITS},

    {"SUMMARY", "n",
     "Print the interface's aggregation counters when it is closed.",
     ucs_offsetof(uct_rsagg_iface_config_t, summary), UCS_CONFIG_TYPE_BOOL},

    {NULL}
};
