/**
 * rsagg receive side: every message rsagg sends arrives here, on the inner
 * iface's am ids (rsagg_wire.h): a message sent alone on the user's id (a
 * tail call to the user's handler), an embedded batch, an out-of-band
 * payload and table, or a control message. Everything of a transfer is
 * validated before anything of it is delivered; control messages go
 * through one table, one handler per operation.
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_rx.h"
#include "rsagg_channel.h"
#include "rsagg_peer.h"
#include "rsagg_ring_rx.h"

#include <ucs/rsagg_parser.h>
#include <ucs/debug/log.h>
#include <ucs/debug/memtrack_int.h>
#include <string.h>


/* A message sent alone arrives on its own am id at the inner transport,
 * which has already checked it: one tail call to the handler rsagg has for
 * that id now (UCT has no hook to register the user's handler inner) */
static ucs_status_t uct_rsagg_rx_am_tramp(void *arg, void *data,
                                          size_t length, unsigned flags)
{
    const uct_am_handler_t *handler = arg; /* &iface->super.am[id] */

    return handler->cb(handler->arg, data, length, flags);
}

static ucs_status_t uct_rsagg_rx_put_check(void *arg, uint64_t key,
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

static void uct_rsagg_rx_policy(uct_rsagg_iface_t *iface,
                                ucs_rsagg_policy_t *policy)
{
    unsigned id;

    policy->am_id_mask = 0;
    for (id = 0; id < UCT_RSAGG_AM_ID_USER_MAX; ++id) {
        if (iface->super.am[id].cb != iface->rx.stub_am_cb) {
            policy->am_id_mask |= UCS_BIT(id);
        }
    }
    policy->max_ep_id = UINT32_MAX;
    policy->put_check = uct_rsagg_rx_put_check;
    policy->put_arg   = iface;
}

/* Counted always, reported once per iface at error level, then at debug */
static void uct_rsagg_rx_malformed(uct_rsagg_iface_t *iface, size_t length,
                               const char *why, size_t offset, uint64_t value)
{
    ++iface->counters.malformed;
    ucs_log(iface->rx.malformed_warned ? UCS_LOG_LEVEL_DEBUG :
                                      UCS_LOG_LEVEL_ERROR,
            "rsagg: dropped a transfer of %zu bytes: %s at offset %zu "
            "(value %lu); %lu dropped so far", length, why, offset,
            (unsigned long)value, (unsigned long)iface->counters.malformed);
    iface->rx.malformed_warned = 1;
}

/* A transfer the validator refused, with the validator's reason */
static void uct_rsagg_rx_rejected(uct_rsagg_iface_t *iface, size_t length,
                                  const ucs_rsagg_error_t *err)
{
    uct_rsagg_rx_malformed(iface, length, ucs_rsagg_reason_str(err->reason),
                           err->offset, err->value);
}

/* Deliver a validated transfer, in order */
static void uct_rsagg_rx_deliver(uct_rsagg_iface_t *iface,
                                 ucs_rsagg_iter_t *iter)
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
static ucs_status_t uct_rsagg_rx_batch_handler(void *arg, void *data,
                                               size_t length,
                                               unsigned flags)
{
    uct_rsagg_iface_t *iface = arg;
    ucs_rsagg_policy_t policy;
    ucs_rsagg_error_t err;
    ucs_rsagg_iter_t iter;
    ucs_status_t status;

    uct_rsagg_rx_policy(iface, &policy);
    status = ucs_rsagg_batch_validate(data, length, &policy, &iter, &err);
    if (ucs_unlikely(status != UCS_OK)) {
        uct_rsagg_rx_rejected(iface, length, &err);
        return UCS_OK;
    }

    uct_rsagg_rx_deliver(iface, &iter);
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

static void uct_rsagg_rx_oob_release(uct_rsagg_iface_t *iface,
                                     uct_rsagg_oob_payload_t *payload)
{
    ucs_list_del(&payload->list);
    --iface->rx.num_oob_payloads;
    if (payload->held) {
        uct_iface_release_desc(UCS_PTR_BYTE_OFFSET(payload->data,
                                                   -iface->rx.headroom));
    }
    ucs_free(payload);
}

static void uct_rsagg_rx_oob_drop(uct_rsagg_iface_t *iface,
                                  uct_rsagg_oob_payload_t *payload,
                                  const char *why)
{
    uct_rsagg_rx_malformed(iface, payload->length, why, 0, payload->seq);
    uct_rsagg_rx_oob_release(iface, payload);
}

static uct_rsagg_oob_payload_t *
uct_rsagg_rx_oob_find(uct_rsagg_iface_t *iface, uint32_t seq)
{
    uct_rsagg_oob_payload_t *payload;

    ucs_list_for_each(payload, &iface->rx.oob_payloads, list) {
        if (payload->seq == seq) {
            return payload;
        }
    }
    return NULL;
}

static ucs_status_t uct_rsagg_rx_oob_payload_handler(void *arg, void *data,
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
        uct_rsagg_rx_rejected(iface, length, &err);
        return UCS_OK;
    }

    payload = uct_rsagg_rx_oob_find(iface, info.seq);
    if (payload != NULL) {
        /* Two senders' payloads with one seq: neither can be paired safely */
        uct_rsagg_rx_oob_drop(iface, payload, "duplicate out-of-band seq");
        uct_rsagg_rx_malformed(iface, length, "duplicate out-of-band seq",
                               0, info.seq);
        return UCS_OK;
    }

    if (iface->rx.num_oob_payloads >= UCT_RSAGG_OOB_MAX_PENDING) {
        uct_rsagg_rx_oob_drop(iface,
                              ucs_list_head(&iface->rx.oob_payloads,
                                            uct_rsagg_oob_payload_t, list),
                              "out-of-band payload without a table");
    }

    /* Keep the inner descriptor where the inner transport lets us */
    hold    = !!(flags & UCT_CB_PARAM_FLAG_DESC);
    payload = ucs_malloc(sizeof(*payload) + (hold ? 0 : length),
                         "rsagg_oob_payload");
    if (payload == NULL) {
        uct_rsagg_rx_malformed(iface, length, "no memory", 0, 0);
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
    ucs_list_add_tail(&iface->rx.oob_payloads, &payload->list);
    ++iface->rx.num_oob_payloads;
    return hold ? UCS_INPROGRESS : UCS_OK;
}

/* A table whose payload the sender put into our ring */
static void uct_rsagg_rx_ring_table(uct_rsagg_iface_t *iface, const void *data,
                                    size_t length,
                                    const ucs_rsagg_hdr_info_t *info)
{
    uct_rsagg_ring_slice_t *slice;
    ucs_rsagg_policy_t policy;
    const void *payload;
    ucs_rsagg_error_t err;
    ucs_rsagg_iter_t iter;
    ucs_status_t status;
    const char *why;

    status = uct_rsagg_ring_rx_take(iface, info, &payload, &slice, &why);
    if (status != UCS_OK) {
        uct_rsagg_rx_malformed(iface, length, why,
                               UCS_RSAGG_HDR_OFF_RING_OFFSET,
                               info->ring_offset);
        return;
    }

    uct_rsagg_rx_policy(iface, &policy);
    status = ucs_rsagg_oob_validate(data, length, payload,
                                    info->payload_length, &policy, &iter,
                                    &err);
    if (status == UCS_OK) {
        ++iface->counters.rx_ring_transfers;
        uct_rsagg_rx_deliver(iface, &iter);
    } else {
        /* Dropped, but its space is free again all the same */
        uct_rsagg_rx_rejected(iface, length, &err);
    }
    uct_rsagg_ring_rx_done(iface, slice);
}

static ucs_status_t uct_rsagg_rx_oob_table_handler(void *arg, void *data,
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
        uct_rsagg_rx_rejected(iface, length, &err);
        return UCS_OK;
    }

    if (info.flags & UCS_RSAGG_FLAG_PAYLOAD_IN_RING) {
        /* The payload is in our ring already: the sender fenced its put
         * before this table */
        uct_rsagg_rx_ring_table(iface, data, length, &info);
        return UCS_OK;
    }

    payload = uct_rsagg_rx_oob_find(iface, info.seq);
    if (payload == NULL) {
        uct_rsagg_rx_malformed(iface, length,
                               "out-of-band table without a payload", 0,
                               info.seq);
        return UCS_OK;
    }

    uct_rsagg_rx_policy(iface, &policy);
    status = ucs_rsagg_oob_validate_msg(data, length, payload->data,
                                        payload->length, &policy, &iter,
                                        &err);
    if (status != UCS_OK) {
        uct_rsagg_rx_oob_drop(iface, payload,
                              ucs_rsagg_reason_str(err.reason));
        return UCS_OK;
    }

    uct_rsagg_rx_deliver(iface, &iter);
    uct_rsagg_rx_oob_release(iface, payload);
    return UCS_OK;
}


/* FLUSH_REQ: everything the sender sent before this is applied; answer,
 * with its ring credits first. value: the sender's channel id. */
static void uct_rsagg_rx_flush_req(uct_rsagg_iface_t *iface,
                                   const ucs_rsagg_ctrl_t *ctrl)
{
    uct_rsagg_ring_rx_flush(iface, ctrl->body, ctrl->body_length,
                            ctrl->value);
    uct_rsagg_peer_reply(iface, ctrl->body, ctrl->body_length,
                         UCS_RSAGG_CTRL_OP_FLUSH_ACK, ctrl->seq, ctrl->value);
}

/* FLUSH_ACK: seq is the flush number, value our channel's id */
static void uct_rsagg_rx_flush_ack(uct_rsagg_iface_t *iface,
                                   const ucs_rsagg_ctrl_t *ctrl)
{
    uct_rsagg_channel_t *channel = uct_rsagg_channel_find(iface, ctrl->value);

    if (channel == NULL) {
        ucs_debug("rsagg iface %p: flush ack for unknown channel %u", iface,
                  ctrl->value);
        return;
    }
    uct_rsagg_channel_flush_acked(channel, ctrl->seq);
}

/* CLOSE: the sender's channel (seq) is gone: its slice and the way back */
static void uct_rsagg_rx_close(uct_rsagg_iface_t *iface,
                               const ucs_rsagg_ctrl_t *ctrl)
{
    uct_rsagg_ring_rx_release(iface, ctrl);
    uct_rsagg_peer_forget(iface, ctrl->body, ctrl->body_length);
}

/* RING_GRANT, RING_DENY, CREDIT: for our channel seq's slice */
static void uct_rsagg_rx_ring_tx(uct_rsagg_iface_t *iface,
                                 const ucs_rsagg_ctrl_t *ctrl)
{
    uct_rsagg_channel_t *channel = uct_rsagg_channel_find(iface, ctrl->seq);

    if (channel == NULL) {
        ucs_debug("rsagg iface %p: ring op %d for unknown channel %u", iface,
                  ctrl->op, ctrl->seq);
        return;
    }
    if (uct_rsagg_ring_tx_ctrl(&channel->ring, iface, ctrl)) {
        /* Batches wait for these credits: send them from progress */
        uct_rsagg_channel_schedule(channel);
    }
}

typedef void (*uct_rsagg_rx_ctrl_func_t)(uct_rsagg_iface_t *iface,
                                         const ucs_rsagg_ctrl_t *ctrl);

/* One handler per control operation (ucs_rsagg_ctrl_unpack checked op) */
static const uct_rsagg_rx_ctrl_func_t
uct_rsagg_rx_ctrl_funcs[UCS_RSAGG_CTRL_OP_LAST + 1] = {
    [UCS_RSAGG_CTRL_OP_CREDIT]     = uct_rsagg_rx_ring_tx,
    [UCS_RSAGG_CTRL_OP_FLUSH_REQ]  = uct_rsagg_rx_flush_req,
    [UCS_RSAGG_CTRL_OP_FLUSH_ACK]  = uct_rsagg_rx_flush_ack,
    [UCS_RSAGG_CTRL_OP_RING_REQ]   = uct_rsagg_ring_rx_request,
    [UCS_RSAGG_CTRL_OP_RING_GRANT] = uct_rsagg_rx_ring_tx,
    [UCS_RSAGG_CTRL_OP_RING_DENY]  = uct_rsagg_rx_ring_tx,
    [UCS_RSAGG_CTRL_OP_CLOSE]      = uct_rsagg_rx_close
};

static ucs_status_t uct_rsagg_rx_ctrl_handler(void *arg, void *data,
                                              size_t length, unsigned flags)
{
    uct_rsagg_iface_t *iface = arg;
    ucs_rsagg_error_t err;
    ucs_rsagg_ctrl_t ctrl;

    if (ucs_rsagg_ctrl_unpack(data, length, &ctrl, &err) != UCS_OK) {
        uct_rsagg_rx_rejected(iface, length, &err);
        return UCS_OK;
    }

    if ((ctrl.op > UCS_RSAGG_CTRL_OP_LAST) ||
        (uct_rsagg_rx_ctrl_funcs[ctrl.op] == NULL)) {
        ucs_debug("rsagg: control operation %d ignored", ctrl.op);
        return UCS_OK;
    }
    uct_rsagg_rx_ctrl_funcs[ctrl.op](iface, &ctrl);
    return UCS_OK;
}

ucs_status_t uct_rsagg_rx_init(uct_rsagg_iface_t *iface, size_t headroom)
{
    static const struct {
        uint8_t                id;
        uct_am_callback_t      cb;
    } handlers[] = {
        {UCS_RSAGG_AM_ID_BATCH,       uct_rsagg_rx_batch_handler},
        {UCS_RSAGG_AM_ID_CTRL,        uct_rsagg_rx_ctrl_handler},
        /* Every rsagg receives both forms, whatever it sends */
        {UCS_RSAGG_AM_ID_OOB_TABLE,   uct_rsagg_rx_oob_table_handler},
        {UCS_RSAGG_AM_ID_OOB_PAYLOAD, uct_rsagg_rx_oob_payload_handler}
    };
    ucs_status_t status;
    unsigned i, id;

    /* Every am id is unset now: remember what "unset" looks like */
    iface->rx.stub_am_cb       = iface->super.am[0].cb;
    iface->rx.malformed_warned = 0;
    iface->rx.headroom         = headroom;
    iface->rx.num_oob_payloads = 0;
    ucs_list_head_init(&iface->rx.oob_payloads);

    for (i = 0; i < ucs_static_array_size(handlers); ++i) {
        status = uct_iface_set_am_handler(iface->inner, handlers[i].id,
                                          handlers[i].cb, iface, 0);
        if (status != UCS_OK) {
            return status;
        }
    }

    for (id = 0; id < UCT_RSAGG_AM_ID_USER_MAX; ++id) {
        status = uct_iface_set_am_handler(iface->inner, id,
                                          uct_rsagg_rx_am_tramp,
                                          &iface->super.am[id], 0);
        if (status != UCS_OK) {
            return status;
        }
    }
    return UCS_OK;
}

void uct_rsagg_rx_cleanup(uct_rsagg_iface_t *iface)
{
    while (!ucs_list_is_empty(&iface->rx.oob_payloads)) {
        uct_rsagg_rx_oob_release(iface,
                                 ucs_list_head(&iface->rx.oob_payloads,
                                               uct_rsagg_oob_payload_t,
                                               list));
    }
}
