/**
 * rsagg interface: opens the inner interface of the same device on the same
 * worker, receives for it and reports its capabilities as rsagg honours them.
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_iface.h"
#include "rsagg_channel.h"
#include "rsagg_ep.h"
#include "rsagg_peer.h"
#include "rsagg_hold.h"
#include "rsagg_ring.h"
#include "rsagg_summary.h"

#include <ucs/rsagg_parser.h>
#include <uct/sm/base/sm_ep.h>
#include <ucs/debug/log.h>
#include <ucs/debug/memtrack_int.h>
#include <ucs/sys/string.h>
#include <ucs/sys/sys.h>
#include <stdio.h>
#include <string.h>


static const char *uct_rsagg_mux_names[] = {
    [UCT_RSAGG_MUX_EMBEDDED] = "embedded",
    [UCT_RSAGG_MUX_OOB]      = "oob",
    [UCT_RSAGG_MUX_AUTO]     = "auto",
    [UCT_RSAGG_MUX_LAST]     = NULL
};

static ucs_config_field_t uct_rsagg_iface_config_table[] = {
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
     "once per timeout, on the worker's core when ranks are bound: UCT am_bw\n"
     "8 B over tcp, pinned, median of 5: 10ms as fast as inf, 1ms -12%.\n"
     "At least 10us; \"auto\" is 10ms. \"inf\" disables it: batches then\n"
     "leave only on progress, flush or fence.",
     ucs_offsetof(uct_rsagg_iface_config_t, hold_timeout),
     UCS_CONFIG_TYPE_TIME_UNITS},

    {"SUMMARY", "n",
     "Print the interface's aggregation counters when it is closed.",
     ucs_offsetof(uct_rsagg_iface_config_t, summary), UCS_CONFIG_TYPE_BOOL},

    {NULL}
};


static uct_iface_ops_t uct_rsagg_iface_ops;
static uct_iface_internal_ops_t uct_rsagg_iface_internal_ops;


void uct_rsagg_iface_pack_addr_hdr(void *addr)
{
    uct_rsagg_addr_hdr_t *hdr = addr;

    hdr->magic    = UCT_RSAGG_ADDR_MAGIC;
    hdr->version  = UCT_RSAGG_ADDR_VERSION;
    hdr->flags    = 0;
    hdr->reserved = 0;
}

ucs_status_t uct_rsagg_iface_check_addr(uct_rsagg_iface_t *iface,
                                        const void *addr)
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

void uct_rsagg_iface_read_counters(const uct_rsagg_iface_t *iface,
                                   uct_rsagg_counters_t *counters_p)
{
    *counters_p              = iface->counters;
    counters_p->direct       = iface->direct_sent;
    counters_p->msgs        += iface->direct_sent;
    counters_p->transfers   += iface->direct_sent;
    counters_p->bytes       += iface->direct_bytes;
    counters_p->inner_bytes += iface->direct_bytes;
}

ucs_status_t uct_rsagg_iface_counters(uct_iface_h tl_iface,
                                      uct_rsagg_counters_t *counters_p,
                                      size_t size)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);
    size_t known             = ucs_min(size, sizeof(uct_rsagg_counters_t));
    uct_rsagg_counters_t counters;

    if (tl_iface->ops.iface_query != uct_rsagg_iface_ops.iface_query) {
        return UCS_ERR_INVALID_PARAM;
    }

    uct_rsagg_iface_read_counters(iface, &counters);
    memcpy(counters_p, &counters, known);
    memset(UCS_PTR_BYTE_OFFSET(counters_p, known), 0, size - known);
    return UCS_OK;
}

/* A message sent alone arrives on its own am id at the inner transport,
 * which has already checked it: one tail call to the handler rsagg has for
 * that id now (UCT has no hook to register the user's handler inner) */
static ucs_status_t uct_rsagg_iface_am_tramp(void *arg, void *data,
                                             size_t length, unsigned flags)
{
    const uct_am_handler_t *handler = arg; /* &iface->super.am[id] */

    return handler->cb(handler->arg, data, length, flags);
}

static ucs_status_t uct_rsagg_iface_put_check(void *arg, uint64_t key,
                                              uint64_t addr, size_t length)
{
    uct_rsagg_iface_t *iface = arg;
    const uct_rsagg_memh_t *region;

    region = (key > UINT32_MAX) ? NULL :
             uct_rsagg_md_find_region(uct_rsagg_iface_md(iface), key);
    if ((region != NULL) &&
        ucs_rsagg_range_contains((uintptr_t)region->address, region->length,
                                 addr, length)) {
        return UCS_OK;
    }

    ++iface->counters.rejected_puts;
    return UCS_ERR_INVALID_ADDR;
}

void uct_rsagg_iface_policy(uct_rsagg_iface_t *iface,
                            ucs_rsagg_policy_t *policy)
{
    unsigned id;

    policy->am_id_mask = 0;
    for (id = 0; id < UCT_RSAGG_AM_ID_USER_MAX; ++id) {
        if (iface->super.am[id].cb != iface->stub_am_cb) {
            policy->am_id_mask |= UCS_BIT(id);
        }
    }
    policy->max_ep_id = UINT32_MAX;
    policy->put_check = uct_rsagg_iface_put_check;
    policy->put_arg   = iface;
}

/* Counted always, reported once per iface at error level, then at debug */
void uct_rsagg_iface_malformed(uct_rsagg_iface_t *iface, size_t length,
                               const char *why, size_t offset, uint64_t value)
{
    ++iface->counters.malformed;
    ucs_log(iface->malformed_warned ? UCS_LOG_LEVEL_DEBUG :
                                      UCS_LOG_LEVEL_ERROR,
            "rsagg: dropped a transfer of %zu bytes: %s at offset %zu "
            "(value %lu); %lu dropped so far", length, why, offset,
            (unsigned long)value, (unsigned long)iface->counters.malformed);
    iface->malformed_warned = 1;
}

/* A transfer the validator refused, with the validator's reason */
static void uct_rsagg_iface_rejected(uct_rsagg_iface_t *iface, size_t length,
                                     const ucs_rsagg_error_t *err)
{
    uct_rsagg_iface_malformed(iface, length, ucs_rsagg_reason_str(err->reason),
                              err->offset, err->value);
}

/* Deliver a validated transfer, in order */
void uct_rsagg_iface_deliver(uct_rsagg_iface_t *iface, ucs_rsagg_iter_t *iter)
{
    ucs_rsagg_record_t rec;

    ++iface->counters.rx_transfers;
    while (ucs_rsagg_iter_next(iter, &rec)) {
        ++iface->counters.rx_msgs;
        if (ucs_likely(rec.kind == UCS_RSAGG_REC_KIND_AM)) {
            uct_iface_invoke_am(&iface->super, rec.am_id, (void*)rec.payload,
                                rec.length, 0);
        } else if (rec.length > 0) {
            /* Checked against its region by the validation */
            memcpy((void*)(uintptr_t)rec.put_addr, rec.payload, rec.length);
        }
    }
}

/* A consolidated transfer: validate all of it, then deliver each message to
 * its handler in order. Unpacked messages are handed over without
 * UCT_CB_PARAM_FLAG_DESC: they live in the transfer, which is released when
 * this handler returns, so a handler that needs one later copies it. */
static ucs_status_t uct_rsagg_iface_batch_handler(void *arg, void *data,
                                                  size_t length,
                                                  unsigned flags)
{
    uct_rsagg_iface_t *iface = arg;
    ucs_rsagg_policy_t policy;
    ucs_rsagg_error_t err;
    ucs_rsagg_iter_t iter;
    ucs_status_t status;

    uct_rsagg_iface_policy(iface, &policy);
    status = ucs_rsagg_batch_validate(data, length, &policy, &iter, &err);
    if (ucs_unlikely(status != UCS_OK)) {
        uct_rsagg_iface_rejected(iface, length, &err);
        return UCS_OK;
    }

    uct_rsagg_iface_deliver(iface, &iter);
    return UCS_OK;
}

typedef struct uct_rsagg_oob_payload {
    ucs_list_link_t            list;
    uint32_t                   seq;
    size_t                     length;
    void                       *data;
    int                        held;   /* An inner descriptor we keep */
    uint8_t                    copy[];
} uct_rsagg_oob_payload_t;

/* Out-of-band payloads waiting for their table, per iface: a sender that
 * sends payloads without tables must not make the receiver grow */
#define UCT_RSAGG_OOB_MAX_PENDING 64

static void uct_rsagg_iface_oob_release(uct_rsagg_iface_t *iface,
                                        uct_rsagg_oob_payload_t *payload)
{
    ucs_list_del(&payload->list);
    --iface->num_oob_payloads;
    if (payload->held) {
        uct_iface_release_desc(UCS_PTR_BYTE_OFFSET(payload->data,
                                                   -iface->rx_headroom));
    }
    ucs_free(payload);
}

static void uct_rsagg_iface_oob_drop(uct_rsagg_iface_t *iface,
                                     uct_rsagg_oob_payload_t *payload,
                                     const char *why)
{
    uct_rsagg_iface_malformed(iface, payload->length, why, 0, payload->seq);
    uct_rsagg_iface_oob_release(iface, payload);
}

static uct_rsagg_oob_payload_t *
uct_rsagg_iface_oob_find(uct_rsagg_iface_t *iface, uint32_t seq)
{
    uct_rsagg_oob_payload_t *payload;

    ucs_list_for_each(payload, &iface->oob_payloads, list) {
        if (payload->seq == seq) {
            return payload;
        }
    }
    return NULL;
}

static ucs_status_t uct_rsagg_iface_oob_payload_handler(void *arg, void *data,
                                                        size_t length,
                                                        unsigned flags)
{
    uct_rsagg_iface_t *iface = arg;
    uct_rsagg_oob_payload_t *payload;
    ucs_rsagg_hdr_info_t info;
    ucs_rsagg_error_t err;
    int hold;

    if (ucs_rsagg_hdr_peek(data, length, UCS_RSAGG_MSG_OOB_PAYLOAD, &info,
                           &err) != UCS_OK) {
        uct_rsagg_iface_rejected(iface, length, &err);
        return UCS_OK;
    }

    payload = uct_rsagg_iface_oob_find(iface, info.seq);
    if (payload != NULL) {
        /* Two senders' payloads with one seq: neither can be paired safely */
        uct_rsagg_iface_oob_drop(iface, payload, "duplicate out-of-band seq");
        uct_rsagg_iface_malformed(iface, length, "duplicate out-of-band seq",
                                  0, info.seq);
        return UCS_OK;
    }

    if (iface->num_oob_payloads >= UCT_RSAGG_OOB_MAX_PENDING) {
        uct_rsagg_iface_oob_drop(iface,
                                 ucs_list_head(&iface->oob_payloads,
                                               uct_rsagg_oob_payload_t, list),
                                 "out-of-band payload without a table");
    }

    /* Keep the inner descriptor where the inner transport lets us */
    hold    = !!(flags & UCT_CB_PARAM_FLAG_DESC);
    payload = ucs_malloc(sizeof(*payload) + (hold ? 0 : length),
                         "rsagg_oob_payload");
    if (payload == NULL) {
        uct_rsagg_iface_malformed(iface, length, "no memory", 0, 0);
        return UCS_OK;
    }

    payload->seq    = info.seq;
    payload->length = length;
    payload->held   = hold;
    if (hold) {
        payload->data = data;
    } else {
        payload->data = payload->copy;
        memcpy(payload->copy, data, length);
    }
    ucs_list_add_tail(&iface->oob_payloads, &payload->list);
    ++iface->num_oob_payloads;
    return hold ? UCS_INPROGRESS : UCS_OK;
}

static ucs_status_t uct_rsagg_iface_oob_table_handler(void *arg, void *data,
                                                      size_t length,
                                                      unsigned flags)
{
    uct_rsagg_iface_t *iface = arg;
    uct_rsagg_oob_payload_t *payload;
    ucs_rsagg_policy_t policy;
    ucs_rsagg_hdr_info_t info;
    ucs_rsagg_error_t err;
    ucs_rsagg_iter_t iter;
    ucs_status_t status;

    if (ucs_rsagg_hdr_peek(data, length, UCS_RSAGG_MSG_OOB_TABLE, &info,
                           &err) != UCS_OK) {
        uct_rsagg_iface_rejected(iface, length, &err);
        return UCS_OK;
    }

    if (info.flags & UCS_RSAGG_FLAG_PAYLOAD_IN_RING) {
        /* The payload is in our ring already: the sender fenced its put
         * before this table */
        uct_rsagg_ring_rx_table(iface, data, length, &info);
        return UCS_OK;
    }

    payload = uct_rsagg_iface_oob_find(iface, info.seq);
    if (payload == NULL) {
        uct_rsagg_iface_malformed(iface, length,
                                  "out-of-band table without a payload", 0,
                                  info.seq);
        return UCS_OK;
    }

    uct_rsagg_iface_policy(iface, &policy);
    status = ucs_rsagg_oob_validate_msg(data, length, payload->data,
                                        payload->length, &policy, &iter,
                                        &err);
    if (status != UCS_OK) {
        uct_rsagg_iface_oob_drop(iface, payload,
                                 ucs_rsagg_reason_str(err.reason));
        return UCS_OK;
    }

    uct_rsagg_iface_deliver(iface, &iter);
    uct_rsagg_iface_oob_release(iface, payload);
    return UCS_OK;
}

static ucs_status_t uct_rsagg_iface_ctrl_handler(void *arg, void *data,
                                                 size_t length, unsigned flags)
{
    uct_rsagg_iface_t *iface = arg;
    ucs_rsagg_error_t err;
    ucs_rsagg_ctrl_t ctrl;
    ucs_status_t status;

    status = ucs_rsagg_ctrl_unpack(data, length, &ctrl, &err);
    if (status != UCS_OK) {
        uct_rsagg_iface_rejected(iface, length, &err);
        return UCS_OK;
    }

    switch (ctrl.op) {
    case UCS_RSAGG_CTRL_OP_FLUSH_REQ:
        /* Everything the sender sent before this is applied: answer, with
         * its ring credits first */
        uct_rsagg_ring_rx_flush(iface, ctrl.body, ctrl.body_length,
                                ctrl.value);
        uct_rsagg_peer_reply(iface, ctrl.body, ctrl.body_length,
                             UCS_RSAGG_CTRL_OP_FLUSH_ACK, ctrl.seq,
                             ctrl.value);
        break;
    case UCS_RSAGG_CTRL_OP_FLUSH_ACK:
        uct_rsagg_channel_flush_acked(iface, ctrl.value, ctrl.seq);
        break;
    case UCS_RSAGG_CTRL_OP_RING_REQ:
        uct_rsagg_ring_rx_request(iface, &ctrl);
        break;
    case UCS_RSAGG_CTRL_OP_CLOSE:
        uct_rsagg_ring_rx_release(iface, &ctrl);
        uct_rsagg_peer_forget(iface, ctrl.body, ctrl.body_length);
        break;
    case UCS_RSAGG_CTRL_OP_RING_GRANT:
    case UCS_RSAGG_CTRL_OP_RING_DENY:
    case UCS_RSAGG_CTRL_OP_CREDIT:
        uct_rsagg_ring_tx_ctrl(iface, &ctrl);
        break;
    default:
        ucs_debug("rsagg: control operation %d ignored", ctrl.op);
        break;
    }
    return UCS_OK;
}

static ucs_status_t uct_rsagg_iface_err_handler(void *arg, uct_ep_h inner_ep,
                                                ucs_status_t status)
{
    uct_rsagg_iface_t *iface = arg;
    uct_rsagg_channel_t *channel;
    uct_rsagg_ep_t *ep, *tmp;
    ucs_status_t ret;

    channel = uct_rsagg_channel_find_inner(iface, inner_ep);
    if (channel == NULL) {
        /* A way back to a sender that is gone: nothing of the user's */
        ucs_debug("rsagg iface %p: error %s on unknown inner ep %p", iface,
                  ucs_status_string(status), inner_ep);
        return UCS_OK;
    }

    ucs_debug("rsagg iface %p: channel %p failed: %s", iface, channel,
              ucs_status_string(status));
    uct_rsagg_channel_fail(channel, status);

    /* Every rsagg ep of the channel lost its peer. The user's handler may
     * destroy the ep, so iterate safely. */
    ret = UCS_OK;
    ucs_list_for_each_safe(ep, tmp, &channel->eps, list) {
        if (uct_iface_handle_ep_err(&iface->super.super, &ep->super.super,
                                    status) != UCS_OK) {
            ret = status;
        }
    }
    return ret;
}

static ucs_status_t uct_rsagg_iface_query(uct_iface_h tl_iface,
                                          uct_iface_attr_t *attr)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);

    *attr = iface->inner_attr;

    /* Tag offload and am-dup are inner features rsagg does not carry */
    attr->cap.flags &= ~(UCT_IFACE_FLAG_TAG_EAGER_SHORT |
                         UCT_IFACE_FLAG_TAG_EAGER_BCOPY |
                         UCT_IFACE_FLAG_TAG_EAGER_ZCOPY |
                         UCT_IFACE_FLAG_TAG_RNDV_ZCOPY |
                         UCT_IFACE_FLAG_CONNECT_TO_SOCKADDR);

    if (iface->put_aggregate) {
        attr->cap.flags       |= UCT_IFACE_FLAG_PUT_SHORT |
                                 UCT_IFACE_FLAG_PUT_BCOPY;
        attr->cap.put.max_short = iface->config.small_max;
        attr->cap.put.max_bcopy = iface->config.small_max;
    }

    attr->iface_addr_len += sizeof(uct_rsagg_addr_hdr_t);
    if (attr->cap.flags & UCT_IFACE_FLAG_CONNECT_TO_EP) {
        attr->ep_addr_len += sizeof(uct_rsagg_addr_hdr_t);
    }

    /* One indirection on each side */
    attr->overhead += 2e-9;
    return UCS_OK;
}

static ucs_status_t uct_rsagg_iface_get_device_address(uct_iface_h tl_iface,
                                                       uct_device_addr_t *addr)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);

    return uct_iface_get_device_address(iface->inner, addr);
}

static ucs_status_t uct_rsagg_iface_get_address(uct_iface_h tl_iface,
                                                uct_iface_addr_t *addr)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);

    uct_rsagg_iface_pack_addr_hdr(addr);
    if (!(iface->inner_attr.cap.flags & UCT_IFACE_FLAG_CONNECT_TO_IFACE)) {
        return UCS_OK;
    }
    return uct_iface_get_address(iface->inner,
                                 UCS_PTR_BYTE_OFFSET(addr,
                                        sizeof(uct_rsagg_addr_hdr_t)));
}

static int uct_rsagg_iface_is_reachable(const uct_iface_h tl_iface,
                                        const uct_device_addr_t *dev_addr,
                                        const uct_iface_addr_t *iface_addr)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);

    if (iface_addr == NULL) {
        return uct_iface_is_reachable(iface->inner, dev_addr, NULL);
    }

    if (uct_rsagg_iface_check_addr(iface, iface_addr) != UCS_OK) {
        return 0;
    }

    return uct_iface_is_reachable(iface->inner, dev_addr,
                                  UCS_PTR_BYTE_OFFSET(iface_addr,
                                        sizeof(uct_rsagg_addr_hdr_t)));
}

/* rsagg's own work: batches to end, pending requests to dispatch, replies
 * to senders. Whatever creates such work requests it (own_work), so that a
 * progress round with nothing to do costs a flag test. */
static unsigned uct_rsagg_iface_progress_own(uct_rsagg_iface_t *iface)
{
    uct_rsagg_channel_t *channel, *tmp;
    unsigned count = 0;

    iface->own_work = 0;

    if (ucs_unlikely(uct_rsagg_peer_has_work(iface))) {
        count += uct_rsagg_peer_progress(iface);
    }

    ucs_list_for_each_safe(channel, tmp, &iface->dispatch, dispatch) {
        count += uct_rsagg_channel_progress(channel);
    }

    if (!ucs_list_is_empty(&iface->dispatch) ||
        uct_rsagg_peer_has_work(iface)) {
        uct_rsagg_iface_request_progress(iface);
    }
    return count;
}

/* One progress round of an aggregating iface: the epoch tells senders that
 * a round passed (see uct_rsagg_channel_send_direct) */
static UCS_F_ALWAYS_INLINE unsigned
uct_rsagg_iface_progress_round(uct_rsagg_iface_t *iface)
{
    ++iface->progress_epoch;
    if (ucs_unlikely(iface->own_work)) {
        return uct_rsagg_iface_progress_own(iface);
    }
    return 0;
}

/* The rest of a progress round that found own work, and the guard's exit */
static UCS_F_NOINLINE unsigned
uct_rsagg_iface_progress_wrap_own(uct_rsagg_iface_t *iface, unsigned count)
{
    count += uct_rsagg_iface_progress_own(iface);
    uct_rsagg_hold_leave(iface);
    return count;
}

/* Aggregating over tcp or shared memory: rsagg's progress callback runs the
 * inner interface's progress too, so that the hold timer never runs while
 * the inner transport is in use (rsagg_hold.h). It is called on every poll
 * of the worker: with own work handled out of line, only the iface is live
 * across the inner call. */
static unsigned uct_rsagg_iface_progress_wrap_cb(void *arg)
{
    uct_rsagg_iface_t *iface = arg;
    unsigned count;

    uct_rsagg_hold_enter(iface);
    count = uct_iface_progress(iface->inner);
    ++iface->progress_epoch;
    if (ucs_unlikely(iface->own_work)) {
        return uct_rsagg_iface_progress_wrap_own(iface, count);
    }
    uct_rsagg_hold_leave(iface);
    return count;
}

/* Aggregating over a transport that keeps its own progress callback */
static unsigned uct_rsagg_iface_progress_cb(void *arg)
{
    return uct_rsagg_iface_progress_round(arg);
}

static unsigned uct_rsagg_iface_oneshot_cb(void *arg)
{
    uct_rsagg_iface_t *iface = arg;

    iface->oneshot_id = UCS_CALLBACKQ_ID_NULL;
    return uct_rsagg_iface_progress_own(iface);
}

/* Aggregating, rsagg's progress runs on every worker progress (it is what
 * ends batches). In pass-through it is needed only now and then (pending
 * dispatch, replies), so it is requested then, and a pass-through iface
 * adds nothing to the worker's progress loop otherwise. */
void uct_rsagg_iface_request_progress(uct_rsagg_iface_t *iface)
{
    if (iface->config.aggregate) {
        iface->own_work = 1;
        return;
    }

    if (iface->oneshot_id != UCS_CALLBACKQ_ID_NULL) {
        return;
    }

    uct_worker_progress_register_safe(&iface->super.worker->super,
                                      uct_rsagg_iface_oneshot_cb, iface,
                                      UCS_CALLBACKQ_FLAG_ONESHOT,
                                      &iface->oneshot_id);
}

static unsigned uct_rsagg_iface_progress(uct_iface_h tl_iface)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);
    unsigned count;

    uct_rsagg_hold_enter(iface);
    count  = uct_iface_progress(iface->inner);
    count += iface->config.aggregate ?
             uct_rsagg_iface_progress_round(iface) :
             uct_rsagg_iface_progress_own(iface);
    uct_rsagg_hold_leave(iface);
    return count;
}

/* The inner interface keeps its own progress callback on the worker, with its
 * own flags; rsagg adds one for its own work (batches, pending dispatch) */
static void uct_rsagg_iface_progress_enable(uct_iface_h tl_iface,
                                            unsigned flags)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);

    if (!iface->wrap_progress) {
        uct_iface_progress_enable(iface->inner, flags);
    }
    if (iface->config.aggregate) {
        uct_base_iface_progress_enable_cb(&iface->super,
                                          iface->wrap_progress ?
                                          uct_rsagg_iface_progress_wrap_cb :
                                          uct_rsagg_iface_progress_cb,
                                          flags);
    }
}

static void uct_rsagg_iface_progress_disable(uct_iface_h tl_iface,
                                             unsigned flags)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);

    if (!iface->wrap_progress) {
        uct_iface_progress_disable(iface->inner, flags);
    }
    uct_base_iface_progress_disable(tl_iface, flags);
}

/* Flushes every channel that is not flushed yet; the iface is unflushed
 * again only if one still is afterwards */
static ucs_status_t uct_rsagg_iface_flush(uct_iface_h tl_iface, unsigned flags,
                                          uct_completion_t *comp)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);
    uct_rsagg_channel_t *channel;
    ucs_status_t status = UCS_OK;

    iface->unflushed = 0;
    ucs_list_for_each(channel, &iface->channels, list) {
        if (uct_rsagg_channel_is_flushed(channel)) {
            continue;
        }

        if (!ucs_list_is_empty(&channel->pending_eps)) {
            status = UCS_INPROGRESS; /* UCP takes no NO_RESOURCE here */
        } else if (uct_rsagg_channel_flush(channel, NULL) != UCS_OK) {
            /* Still sending, or waiting for puts to be acknowledged */
            status = UCS_INPROGRESS;
        }

        if (!uct_rsagg_channel_is_flushed(channel)) {
            uct_rsagg_channel_mark_unflushed(channel);
        }
    }
    if (status != UCS_OK) {
        return status;
    }
    return uct_iface_flush(iface->inner, flags, comp);
}

static UCS_F_NOINLINE
UCT_RSAGG_HOLD_GUARDED(ucs_status_t, uct_rsagg_iface_flush,
                       ucs_derived_of(tl_iface, uct_rsagg_iface_t),
                       (uct_iface_h tl_iface, unsigned flags,
                        uct_completion_t *comp),
                       (tl_iface, flags, comp))

/* shmem_quiet, MPI_Win_flush: usually no channel has had anything to flush
 * since the last flush (no batch, no put to acknowledge), and then this is
 * the inner flush and one flag test, however many peers there are */
static ucs_status_t uct_rsagg_iface_flush_idle(uct_iface_h tl_iface,
                                               unsigned flags,
                                               uct_completion_t *comp)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);
    ucs_status_t status;

    uct_rsagg_hold_enter(iface);
    if (ucs_unlikely(iface->unflushed)) {
        uct_rsagg_hold_leave(iface);
        return uct_rsagg_iface_flush_guarded(tl_iface, flags, comp);
    }
    status = uct_iface_flush(iface->inner, flags, comp);
    uct_rsagg_hold_leave(iface);
    return status;
}

static ucs_status_t uct_rsagg_iface_fence(uct_iface_h tl_iface, unsigned flags)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);

    return uct_iface_fence(iface->inner, flags);
}

static ucs_status_t uct_rsagg_iface_event_fd_get(uct_iface_h tl_iface,
                                                 int *fd_p)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);

    return uct_iface_event_fd_get(iface->inner, fd_p);
}

static ucs_status_t uct_rsagg_iface_event_arm(uct_iface_h tl_iface,
                                              unsigned events)
{
    uct_rsagg_iface_t *iface = ucs_derived_of(tl_iface, uct_rsagg_iface_t);

    /* Work of rsagg's own would not wake the fd up */
    if (!ucs_list_is_empty(&iface->dispatch) ||
        uct_rsagg_peer_has_work(iface)) {
        return UCS_ERR_BUSY;
    }
    return uct_iface_event_arm(iface->inner, events);
}

static UCT_RSAGG_HOLD_GUARDED(ucs_status_t, uct_rsagg_iface_fence,
                              ucs_derived_of(tl_iface, uct_rsagg_iface_t),
                              (uct_iface_h tl_iface, unsigned flags),
                              (tl_iface, flags))

static UCT_RSAGG_HOLD_GUARDED(ucs_status_t, uct_rsagg_iface_event_arm,
                              ucs_derived_of(tl_iface, uct_rsagg_iface_t),
                              (uct_iface_h tl_iface, unsigned events),
                              (tl_iface, events))

static ucs_status_t
uct_rsagg_iface_open_inner(uct_rsagg_iface_t *self, uct_rsagg_md_t *md,
                           uct_worker_h worker,
                           const uct_iface_params_t *params,
                           const uct_rsagg_md_resource_t *resource)
{
    uct_iface_params_t inner_params;
    uct_iface_config_t *inner_config;
    ucs_status_t status;

    status = uct_md_iface_config_read(md->inner, resource->tl_name, NULL, NULL,
                                      &inner_config);
    if (status != UCS_OK) {
        return status;
    }

    inner_params                     = *params;
    inner_params.field_mask          = params->field_mask &
                                       (UCT_IFACE_PARAM_FIELD_CPU_MASK |
                                        UCT_IFACE_PARAM_FIELD_STATS_ROOT |
                                        UCT_IFACE_PARAM_FIELD_RX_HEADROOM |
                                        UCT_IFACE_PARAM_FIELD_ERR_HANDLER_FLAGS |
                                        UCT_IFACE_PARAM_FIELD_ASYNC_EVENT_ARG |
                                        UCT_IFACE_PARAM_FIELD_ASYNC_EVENT_CB |
                                        UCT_IFACE_PARAM_FIELD_KEEPALIVE_INTERVAL |
                                        UCT_IFACE_PARAM_FIELD_AM_ALIGNMENT |
                                        UCT_IFACE_PARAM_FIELD_AM_ALIGN_OFFSET |
                                        UCT_IFACE_PARAM_FIELD_FEATURES);
    inner_params.field_mask         |= UCT_IFACE_PARAM_FIELD_OPEN_MODE |
                                       UCT_IFACE_PARAM_FIELD_DEVICE |
                                       UCT_IFACE_PARAM_FIELD_ERR_HANDLER |
                                       UCT_IFACE_PARAM_FIELD_ERR_HANDLER_ARG;
    inner_params.open_mode           = UCT_IFACE_OPEN_MODE_DEVICE;
    inner_params.mode.device.tl_name  = resource->tl_name;
    inner_params.mode.device.dev_name = resource->dev_name;
    inner_params.err_handler         = uct_rsagg_iface_err_handler;
    inner_params.err_handler_arg     = self;
    if (params->field_mask & UCT_IFACE_PARAM_FIELD_FEATURES) {
        /* Consolidated transfers travel as inner active messages */
        inner_params.features |= UCT_IFACE_FEATURE_AM;
    }

    status = uct_iface_open(md->inner, worker, &inner_params, inner_config,
                            &self->inner);
    uct_config_release(inner_config);
    return status;
}

/* Over shared memory the inner puts, gets and atomics are the stateless
 * functions of UCX's sm base: a store or load in the peer's mapped memory
 * through the rkey, with the ep used for nothing but its base statistics
 * (an rsagg ep is a uct_base_ep_t too). They are then rsagg's operations
 * themselves, called with the rsagg ep: nothing is added to a put
 * (OpenSHMEM's puts over shared memory cost 16 ns). Without the hold guard
 * and the batch-order check, they keep the inner transport's semantics: a
 * store is visible at once, before any active message sent earlier is
 * handled, batched or not, as with the inner transport alone. */
static void uct_rsagg_iface_direct_rma(uct_rsagg_iface_t *iface)
{
    const uct_iface_ops_t *inner = &iface->inner->ops;
    uct_iface_ops_t *ops         = &iface->super.super.ops;

#define UCT_RSAGG_IFACE_DIRECT(_op, _sm_func) \
    if (inner->_op == _sm_func) { \
        ops->_op = inner->_op; \
    }

    UCT_RSAGG_IFACE_DIRECT(ep_put_short, uct_sm_ep_put_short);
    UCT_RSAGG_IFACE_DIRECT(ep_put_bcopy, uct_sm_ep_put_bcopy);
    UCT_RSAGG_IFACE_DIRECT(ep_get_bcopy, uct_sm_ep_get_bcopy);
    UCT_RSAGG_IFACE_DIRECT(ep_atomic_cswap64, uct_sm_ep_atomic_cswap64);
    UCT_RSAGG_IFACE_DIRECT(ep_atomic_cswap32, uct_sm_ep_atomic_cswap32);
    UCT_RSAGG_IFACE_DIRECT(ep_atomic64_post, uct_sm_ep_atomic64_post);
    UCT_RSAGG_IFACE_DIRECT(ep_atomic32_post, uct_sm_ep_atomic32_post);
    UCT_RSAGG_IFACE_DIRECT(ep_atomic64_fetch, uct_sm_ep_atomic64_fetch);
    UCT_RSAGG_IFACE_DIRECT(ep_atomic32_fetch, uct_sm_ep_atomic32_fetch);
#undef UCT_RSAGG_IFACE_DIRECT
}

static UCS_CLASS_INIT_FUNC(uct_rsagg_iface_t, uct_md_h tl_md,
                           uct_worker_h worker,
                           const uct_iface_params_t *params,
                           const uct_iface_config_t *tl_config)
{
    uct_rsagg_md_t *md = ucs_derived_of(tl_md, uct_rsagg_md_t);
    const uct_rsagg_iface_config_t *config =
            ucs_derived_of(tl_config, uct_rsagg_iface_config_t);
    const uct_rsagg_md_resource_t *resource;
    ucs_status_t status;
    unsigned id;

    UCT_CHECK_PARAM(params->field_mask & UCT_IFACE_PARAM_FIELD_OPEN_MODE,
                    "UCT_IFACE_PARAM_FIELD_OPEN_MODE is not defined");
    if (!(params->open_mode & UCT_IFACE_OPEN_MODE_DEVICE)) {
        ucs_error("rsagg supports only UCT_IFACE_OPEN_MODE_DEVICE");
        return UCS_ERR_UNSUPPORTED;
    }

    resource = uct_rsagg_md_find_resource(md, params->mode.device.dev_name);
    if (resource == NULL) {
        ucs_error("rsagg: no device '%s' on memory domain rsagg_%s",
                  params->mode.device.dev_name, md->inner_name);
        return UCS_ERR_NO_DEVICE;
    }

    UCS_CLASS_CALL_SUPER_INIT(uct_base_iface_t, &uct_rsagg_iface_ops,
                              &uct_rsagg_iface_internal_ops, tl_md, worker,
                              params, tl_config
                              UCS_STATS_ARG((params->field_mask &
                                             UCT_IFACE_PARAM_FIELD_STATS_ROOT) ?
                                            params->stats_root : NULL)
                              UCS_STATS_ARG(UCT_RSAGG_NAME));

    ucs_list_head_init(&self->channels);
    ucs_list_head_init(&self->dispatch);
    ucs_list_head_init(&self->peers);
    ucs_list_head_init(&self->peer_dispatch);
    ucs_queue_head_init(&self->peer_deferred);
    ucs_list_head_init(&self->oob_payloads);
    ucs_list_head_init(&self->ring.slices);
    self->ring.base           = NULL;
    self->ring.rkey           = NULL;
    self->ring.failed         = 0;
    self->num_oob_payloads    = 0;
    self->rx_headroom         = (params->field_mask &
                                 UCT_IFACE_PARAM_FIELD_RX_HEADROOM) ?
                                params->rx_headroom : 0;
    memset(&self->counters, 0, sizeof(self->counters));
    self->direct_sent  = 0;
    self->direct_bytes = 0;
    self->next_channel_id     = 1;
    self->unflushed           = 0;
    self->progress_epoch      = 0;
    self->own_work            = 0;
    self->oneshot_id          = UCS_CALLBACKQ_ID_NULL;
    self->ret_addr            = NULL;
    self->put_aggregate       = 0;
    self->rkey_is_inner       = 0;
    self->version_warned      = 0;
    self->config.aggregate    = config->aggregate;
    self->config.mux          = config->mux;
    self->config.ring_size    = config->ring_size;
    self->config.auto_thresh  = config->auto_thresh;
    self->config.ring_put     = 0;
    self->config.max_batch    = config->max_batch;
    self->config.buffer       = config->buffer;
    self->config.zcopy_thresh = config->zcopy_thresh;
    self->config.summary      = config->summary;
    ucs_strncpy_zero(self->inner_tl, resource->tl_name,
                     sizeof(self->inner_tl));
    /* Every am id is unset now: remember what "unset" looks like */
    self->stub_am_cb          = self->super.am[0].cb;

    status = uct_rsagg_iface_open_inner(self, md, worker, params, resource);
    if (status != UCS_OK) {
        return status;
    }

    status = uct_iface_query(self->inner, &self->inner_attr);
    if (status != UCS_OK) {
        goto err_close;
    }

    /* A batch is one inner am_bcopy */
    self->config.max_batch = ucs_min(self->config.max_batch,
                                     self->inner_attr.cap.am.max_bcopy);
    if (self->config.max_batch < 256) {
        ucs_error("rsagg: UCX_RSAGG_MAX_BATCH=%zu is too small (inner "
                  "%s max_bcopy %zu, need at least 256)",
                  self->config.max_batch, resource->tl_name,
                  self->inner_attr.cap.am.max_bcopy);
        status = UCS_ERR_INVALID_PARAM;
        goto err_close;
    }
    if (self->config.buffer < self->config.max_batch) {
        ucs_error("rsagg: UCX_RSAGG_BUFFER=%zu is smaller than one batch "
                  "(%zu)", self->config.buffer, self->config.max_batch);
        status = UCS_ERR_INVALID_PARAM;
        goto err_close;
    }
    /* A tick shorter than a wake-up of the hold thread would only spin */
    if (config->hold_timeout < ucs_time_from_usec(UCT_RSAGG_HOLD_MIN_USEC)) {
        ucs_error("rsagg: UCX_RSAGG_HOLD_TIMEOUT=%.3fus is too short (at "
                  "least %dus, or inf)", ucs_time_to_usec(config->hold_timeout),
                  UCT_RSAGG_HOLD_MIN_USEC);
        status = UCS_ERR_INVALID_PARAM;
        goto err_close;
    }
    /* Messages up to half a batch are batched; larger ones go alone */
    self->config.small_max = self->config.max_batch / 2 - 32;
    self->config.max_bcopy = self->inner_attr.cap.am.max_bcopy;

    self->scratch = ucs_malloc(self->config.max_bcopy, "rsagg_scratch");
    if (self->scratch == NULL) {
        ucs_error("rsagg: failed to allocate %zu bytes",
                  self->config.max_bcopy);
        status = UCS_ERR_NO_MEMORY;
        goto err_close;
    }

    self->rkey_is_inner = uct_rsagg_component_rkey_is_inner(
                              md->inner_component->name);
    if (self->rkey_is_inner && (config->put_aggregate == UCS_YES)) {
        ucs_error("rsagg: UCX_RSAGG_PUT_AGGREGATE=yes is not available over "
                  "%s: a put there is a store into the peer's memory",
                  resource->tl_name);
        status = UCS_ERR_INVALID_PARAM;
        goto err_free;
    }

    status = uct_rsagg_peer_init_ret_addr(self);
    if (status == UCS_OK) {
        self->put_aggregate = self->config.aggregate &&
                              ((config->put_aggregate == UCS_YES) ||
                               ((config->put_aggregate == UCS_TRY) &&
                                !(self->inner_attr.cap.flags &
                                  (UCT_IFACE_FLAG_PUT_SHORT |
                                   UCT_IFACE_FLAG_PUT_BCOPY))));
    } else if (status == UCS_ERR_UNSUPPORTED) {
        if (config->put_aggregate == UCS_YES) {
            ucs_error("rsagg: UCX_RSAGG_PUT_AGGREGATE=yes needs an inner "
                      "transport that connects to an interface (%s does "
                      "not)", resource->tl_name);
            status = UCS_ERR_INVALID_PARAM;
            goto err_free;
        }
    } else {
        goto err_free;
    }

    /* The ring: a put of the inner transport, and the way back for grants
     * and credits. put_zcopy (tcp) sends straight from the batch buffer;
     * put_bcopy (shared memory) copies into the ring. */
    if (self->config.aggregate && (self->ret_addr_len > 0) &&
        uct_rsagg_iface_may_oob(self)) {
        if ((self->inner_attr.cap.flags & UCT_IFACE_FLAG_PUT_ZCOPY) &&
            (self->inner_attr.cap.put.max_zcopy >= self->config.max_batch) &&
            (self->inner_attr.cap.put.max_iov >= 1)) {
            self->config.ring_put = UCT_IFACE_FLAG_PUT_ZCOPY;
        } else if ((self->inner_attr.cap.flags & UCT_IFACE_FLAG_PUT_BCOPY) &&
                   (self->inner_attr.cap.put.max_bcopy >=
                    self->config.max_batch)) {
            self->config.ring_put = UCT_IFACE_FLAG_PUT_BCOPY;
        }
    }
    /* auto takes the ring only where the inner put is one-sided (shared
     * memory, RDMA: the inner transport has put_bcopy too). tcp's put_zcopy
     * is a request and an acknowledgement on the same stream: a batch on
     * the ring then costs more than one embedded batch (am_bw 8 B over
     * tcp: 2.6 M msg/s through the ring, 5.2 M embedded) */
    self->config.ring_auto = (self->config.ring_put != 0) &&
                             (self->inner_attr.cap.flags &
                              (UCT_IFACE_FLAG_PUT_SHORT |
                               UCT_IFACE_FLAG_PUT_BCOPY));

    /* A slice of at least 8 batches: credits come back by quarters */
    self->config.ring_slice = ucs_min(ucs_max(self->config.buffer,
                                              8 * self->config.max_batch),
                                      UINT32_MAX / 2);

    status = uct_iface_set_am_handler(self->inner, UCS_RSAGG_AM_ID_BATCH,
                                      uct_rsagg_iface_batch_handler, self, 0);
    if (status != UCS_OK) {
        goto err_free;
    }

    status = uct_iface_set_am_handler(self->inner, UCS_RSAGG_AM_ID_CTRL,
                                      uct_rsagg_iface_ctrl_handler, self, 0);
    if (status != UCS_OK) {
        goto err_free;
    }

    /* Every rsagg receives both forms, whatever it sends */
    status = uct_iface_set_am_handler(self->inner, UCS_RSAGG_AM_ID_OOB_TABLE,
                                      uct_rsagg_iface_oob_table_handler, self,
                                      0);
    if (status != UCS_OK) {
        goto err_free;
    }

    status = uct_iface_set_am_handler(self->inner,
                                      UCS_RSAGG_AM_ID_OOB_PAYLOAD,
                                      uct_rsagg_iface_oob_payload_handler,
                                      self, 0);
    if (status != UCS_OK) {
        goto err_free;
    }

    if (!(self->inner_attr.cap.flags & UCT_IFACE_FLAG_AM_BCOPY)) {
        ucs_error("rsagg: inner transport %s/%s has no active messages",
                  resource->tl_name, resource->dev_name);
        status = UCS_ERR_UNSUPPORTED;
        goto err_close;
    }

    for (id = 0; id < UCT_RSAGG_AM_ID_USER_MAX; ++id) {
        status = uct_iface_set_am_handler(self->inner, id,
                                          uct_rsagg_iface_am_tramp,
                                          &self->super.am[id], 0);
        if (status != UCS_OK) {
            goto err_free;
        }
    }

    /* Aggregating over a transport whose progress is a plain callback (tcp,
     * shared memory), rsagg runs it from its own, inside the guard of the
     * hold timer; otherwise it stays the inner transport's, and batches
     * leave only on progress */
    self->wrap_progress = self->config.aggregate &&
                          (self->inner->ops.iface_progress_enable ==
                           uct_base_iface_progress_enable);
    status = uct_rsagg_hold_init(self, self->wrap_progress ?
                                       config->hold_timeout :
                                       UCS_TIME_INFINITY);
    if (status != UCS_OK) {
        goto err_free;
    }

    if (!self->config.aggregate) {
        /* Nothing to batch: the shortest path to the inner transport */
        self->super.super.ops.ep_am_short = uct_rsagg_ep_am_short_pt;
        self->super.super.ops.ep_am_bcopy = uct_rsagg_ep_am_bcopy_pt;
    }

    if (self->rkey_is_inner) {
        uct_rsagg_iface_direct_rma(self);
    }

    if (self->put_aggregate) {
        /* Puts go into batches too; by default they are the inner's */
        self->super.super.ops.ep_put_short =
                uct_rsagg_ep_put_short_agg_guarded;
        self->super.super.ops.ep_put_bcopy =
                uct_rsagg_ep_put_bcopy_agg_guarded;
    }

    ucs_debug("rsagg iface %p over %s/%s (inner iface %p)", self,
              resource->tl_name, resource->dev_name, self->inner);
    return UCS_OK;

err_free:
    ucs_free(self->ret_addr);
    ucs_free(self->scratch);
err_close:
    uct_iface_close(self->inner);
    return status;
}

static UCS_CLASS_CLEANUP_FUNC(uct_rsagg_iface_t)
{
    uct_rsagg_channel_t *channel, *tmp;
    uct_rsagg_counters_t counters;

    uct_rsagg_hold_cleanup(self);

    uct_base_iface_progress_disable(&self->super.super,
                                    UCT_PROGRESS_SEND | UCT_PROGRESS_RECV);
    if (self->oneshot_id != UCS_CALLBACKQ_ID_NULL) {
        uct_worker_progress_unregister_safe(&self->super.worker->super,
                                            &self->oneshot_id);
    }

    ucs_list_for_each_safe(channel, tmp, &self->channels, list) {
        if (!channel->closing) {
            ucs_warn("rsagg iface %p closed with channel %p still in use",
                     self, channel);
        }
        uct_rsagg_channel_close(channel);
    }

    if (self->config.summary) {
        uct_rsagg_iface_read_counters(self, &counters);
        uct_rsagg_summary_print(self->inner_tl, &counters);
    }

    uct_rsagg_peer_cleanup(self);
    while (!ucs_list_is_empty(&self->oob_payloads)) {
        uct_rsagg_iface_oob_release(self,
                                    ucs_list_head(&self->oob_payloads,
                                                  uct_rsagg_oob_payload_t,
                                                  list));
    }
    uct_iface_close(self->inner);
    /* No inner ep can write to it any more */
    uct_rsagg_ring_cleanup(self);
    ucs_free(self->scratch);
}

UCS_CLASS_DEFINE(uct_rsagg_iface_t, uct_base_iface_t);

static UCS_CLASS_DEFINE_NEW_FUNC(uct_rsagg_iface_t, uct_iface_t, uct_md_h,
                                 uct_worker_h, const uct_iface_params_t*,
                                 const uct_iface_config_t*);
static UCS_CLASS_DEFINE_DELETE_FUNC(uct_rsagg_iface_t, uct_iface_t);


static ucs_status_t uct_rsagg_query_devices(uct_md_h tl_md,
                                            uct_tl_device_resource_t **devs_p,
                                            unsigned *num_devs_p)
{
    uct_rsagg_md_t *md = ucs_derived_of(tl_md, uct_rsagg_md_t);
    uct_tl_device_resource_t *devices;
    unsigned i;

    devices = ucs_calloc(ucs_max(md->num_resources, 1), sizeof(*devices),
                         "rsagg_devices");
    if (devices == NULL) {
        ucs_error("rsagg: failed to allocate device list");
        return UCS_ERR_NO_MEMORY;
    }

    for (i = 0; i < md->num_resources; ++i) {
        ucs_strncpy_zero(devices[i].name, md->resources[i].dev_name,
                         sizeof(devices[i].name));
        devices[i].type       = md->resources[i].dev_type;
        devices[i].sys_device = md->resources[i].sys_device;
    }

    *devs_p     = devices;
    *num_devs_p = md->num_resources;
    return UCS_OK;
}


static uct_iface_ops_t uct_rsagg_iface_ops = {
    .ep_put_short             = uct_rsagg_ep_put_short_guarded,
    .ep_put_bcopy             = uct_rsagg_ep_put_bcopy_guarded,
    .ep_put_zcopy             = uct_rsagg_ep_put_zcopy_guarded,
    .ep_get_short             = uct_rsagg_ep_get_short_guarded,
    .ep_get_bcopy             = uct_rsagg_ep_get_bcopy_guarded,
    .ep_get_zcopy             = uct_rsagg_ep_get_zcopy_guarded,
    .ep_am_short              = uct_rsagg_ep_am_short_idle,
    .ep_am_short_iov          = uct_rsagg_ep_am_short_iov_guarded,
    .ep_am_bcopy              = uct_rsagg_ep_am_bcopy_guarded,
    .ep_am_zcopy              = uct_rsagg_ep_am_zcopy_guarded,
    .ep_atomic_cswap64        = uct_rsagg_ep_atomic_cswap64_guarded,
    .ep_atomic_cswap32        = uct_rsagg_ep_atomic_cswap32_guarded,
    .ep_atomic32_post         = uct_rsagg_ep_atomic32_post_guarded,
    .ep_atomic64_post         = uct_rsagg_ep_atomic64_post_guarded,
    .ep_atomic32_fetch        = uct_rsagg_ep_atomic32_fetch_guarded,
    .ep_atomic64_fetch        = uct_rsagg_ep_atomic64_fetch_guarded,
    .ep_pending_add           = uct_rsagg_ep_pending_add_guarded,
    .ep_pending_purge         = uct_rsagg_ep_pending_purge_guarded,
    .ep_flush                 = uct_rsagg_ep_flush_guarded,
    .ep_fence                 = uct_rsagg_ep_fence_guarded,
    .ep_check                 = uct_rsagg_ep_check_guarded,
    .ep_create                = uct_rsagg_ep_t_new_guarded,
    .ep_destroy               = uct_rsagg_ep_t_delete_guarded,
    .ep_get_address           = uct_rsagg_ep_get_address_guarded,
    .ep_connect_to_ep         = uct_rsagg_ep_connect_to_ep_guarded,
    .iface_flush              = uct_rsagg_iface_flush_idle,
    .iface_fence              = uct_rsagg_iface_fence_guarded,
    .iface_progress_enable    = uct_rsagg_iface_progress_enable,
    .iface_progress_disable   = uct_rsagg_iface_progress_disable,
    .iface_progress           = uct_rsagg_iface_progress,
    .iface_event_fd_get       = uct_rsagg_iface_event_fd_get,
    .iface_event_arm          = uct_rsagg_iface_event_arm_guarded,
    .iface_close              = UCS_CLASS_DELETE_FUNC_NAME(uct_rsagg_iface_t),
    .iface_query              = uct_rsagg_iface_query,
    .iface_get_device_address = uct_rsagg_iface_get_device_address,
    .iface_get_address        = uct_rsagg_iface_get_address,
    .iface_is_reachable       = uct_rsagg_iface_is_reachable
};

static uct_iface_internal_ops_t uct_rsagg_iface_internal_ops = {
    .iface_estimate_perf = uct_base_iface_estimate_perf,
    .iface_vfs_refresh   = (uct_iface_vfs_refresh_func_t)ucs_empty_function,
    .ep_query            = (uct_ep_query_func_t)
                           ucs_empty_function_return_unsupported,
    .ep_invalidate       = uct_rsagg_ep_invalidate_guarded
};

UCT_TL_DEFINE_ENTRY(&uct_rsagg_component, rsagg, uct_rsagg_query_devices,
                    uct_rsagg_iface_t, UCT_RSAGG_CONFIG_PREFIX,
                    uct_rsagg_iface_config_table, uct_rsagg_iface_config_t);
