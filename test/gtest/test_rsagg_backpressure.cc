/*
 * When there is no room: a send waits behind its ep's pending request, a
 * stalled receiver bounds the sender's memory, refused messages are not
 * counted, and a pending flush is not blocked by the requests queued after
 * it.
 */

#include "rsagg_aggregation.h"

namespace rsagg_test {

TEST_P(rsagg_aggregation_test, a_send_waits_behind_its_eps_pending_request)
{
    /* UCP (tag sends from several ranks to one, MPI's unexpected messages)
     * sends on an ep right after it queued a pending request there: the new
     * message must not overtake the pending one, even when the channel has
     * room again before the request is called back */
    uct_ep_h ep = connect_recorded();
    std::vector<std::vector<std::vector<uint8_t> > > sent(1);

    /* No receiver progress: fill the inner transport and rsagg's buffer */
    ucs_status_t status;
    do {
        sent[0].push_back(make_msg(0, sent[0].size(), 64));
        status = send_short(ep, sent[0].back());
        if ((sent[0].size() % 16) == 0) {
            m_sender->progress();
        }
    } while ((status == UCS_OK) && (sent[0].size() < 10000000));
    ASSERT_EQ(UCS_ERR_NO_RESOURCE, status);

    /* The refused message goes as a pending request, which declines its
     * call backs until allowed (as a UCP request that finds no room yet) */
    struct pending : uct_pending_req_t {
        uct_ep_h             ep;
        uint8_t              am_id;
        int                  calls;
        bool                 allow;
        std::vector<uint8_t> msg;
    } req;
    req.ep    = ep;
    req.am_id = AM_ID;
    req.calls = 0;
    req.allow = false;
    req.msg   = sent[0].back();
    req.func  = [](uct_pending_req_t *self) -> ucs_status_t {
        pending *p = static_cast<pending*>(self);
        uint64_t header;
        ++p->calls;
        if (!p->allow) {
            return UCS_ERR_NO_RESOURCE;
        }
        memcpy(&header, &p->msg[0], sizeof(header));
        return uct_ep_am_short(p->ep, p->am_id, header, &p->msg[8],
                               p->msg.size() - 8);
    };
    ASSERT_EQ(UCS_OK, uct_ep_pending_add(ep, &req, 0));

    double deadline = now_sec() + wait_timeout_sec();
    while (req.calls == 0) {
        ASSERT_LT(now_sec(), deadline) << "pending request never called";
        m_receiver->progress();
        m_sender->progress();
    }

    /* Called and declined: the channel has room now, the ep's request
     * still waits, so a new send on that ep must wait too */
    sent[0].push_back(make_msg(0, sent[0].size(), 64));
    EXPECT_EQ(UCS_ERR_NO_RESOURCE, send_short(ep, sent[0].back()));
    req.allow = true;
    send_retry([&] { return send_short(ep, sent[0].back()); });

    wait_for([&] { return m_received.size() == sent[0].size(); },
             "all messages");
    check_per_ep_order(1, sent);
}

TEST_P(rsagg_aggregation_test, stalled_receiver_bounds_sender_memory)
{
    const size_t buffer = 64 * 1024;
    scoped_env env_buffer("UCX_RSAGG_BUFFER", "64k");
    entity sender(res());
    entity receiver(res());
    size_t delivered = 0;
    uct_ep_h ep = connect_counted(sender, receiver, &delivered);
    uint64_t header = 0;

    delivered = 0;

    /* The receiver never progresses: the inner transport fills up, then
     * rsagg's own buffer, then every send says no room. 10 million
     * attempts in all; the sender's memory grows by the buffer at most. */
    const unsigned attempts = 10000000;
    long rss_start          = rss_kb();
    size_t accepted         = 0;
    ucs_status_t status     = UCS_OK;
    unsigned i;
    for (i = 0; (i < attempts) && (status == UCS_OK); ++i) {
        status = uct_ep_am_short(ep, AM_ID, ++header, NULL, 0);
        accepted += (status == UCS_OK);
        if ((i % 16) == 0) {
            sender.progress();
        }
    }
    ASSERT_EQ(UCS_ERR_NO_RESOURCE, status) << accepted << " accepted";

    /* The rest of the attempts take nothing more */
    size_t accepted_more = 0;
    for (; i < attempts; ++i) {
        accepted_more += (uct_ep_am_short(ep, AM_ID, ++header, NULL, 0) ==
                          UCS_OK);
        if ((i % 16) == 0) {
            sender.progress();
        }
    }
    long growth_kb = rss_kb() - rss_start;
    EXPECT_LT(growth_kb, (long)(buffer / 1024) + 1024)
        << "RSS grew by more than the buffer and 1 MB";
    EXPECT_LE(accepted_more * 10, buffer) << "accepted beyond the buffer";

    /* Pending: called back once the receiver drains */
    struct pending : uct_pending_req_t {
        uct_ep_h ep;
        int      calls;
    } req;
    req.ep    = ep;
    req.calls = 0;
    req.func  = [](uct_pending_req_t *self) -> ucs_status_t {
        pending *p = static_cast<pending*>(self);
        ++p->calls;
        return uct_ep_am_short(p->ep, AM_ID, 0, NULL, 0);
    };
    status = uct_ep_pending_add(ep, &req, 0);
    if (status == UCS_OK) {
        double deadline = now_sec() + wait_timeout_sec();
        while ((req.calls == 0) || (delivered < accepted + accepted_more)) {
            ASSERT_LT(now_sec(), deadline)
                << "delivered " << delivered << " of " << accepted;
            sender.progress();
            receiver.progress();
        }
    } else {
        EXPECT_EQ(UCS_ERR_BUSY, status);
    }

    std::cout << "[ INFO     ] accepted " << accepted << " 8-byte messages "
              << "before the first UCS_ERR_NO_RESOURCE; RSS growth over "
              << attempts << " attempts: " << growth_kb << " KB (buffer "
              << buffer / 1024 << " KB)" << std::endl;
}

TEST_P(rsagg_aggregation_test, refused_lone_messages_are_not_counted)
{
    /* A message alone in its progress round goes straight to the inner
     * transport, and is counted before the inner call. Once a receiver that
     * does not progress has filled the inner transport, it refuses; what it
     * refused must be taken back from the counters. */
    size_t delivered = 0;
    uct_ep_h ep = connect_counted(*m_sender, *m_receiver, &delivered);

    size_t accepted = delivered; /* the wire-up message */
    size_t refused  = 0;
    uint64_t header = 0;
    for (unsigned i = 0; (i < 4000000) && (refused < 100); ++i) {
        ucs_status_t status = uct_ep_am_short(ep, AM_ID, ++header, NULL, 0);
        if (status == UCS_OK) {
            ++accepted;
        } else {
            ASSERT_EQ(UCS_ERR_NO_RESOURCE, status);
            ++refused;
        }
        m_sender->progress(); /* a new round: the next one is alone too */
    }
    ASSERT_GT(refused, 0u) << "the inner transport never refused";
    EXPECT_EQ(accepted, counters(*m_sender).msgs);
    EXPECT_EQ(accepted, counters(*m_sender).direct);

    ASSERT_TRUE(wait_for([&] { return delivered >= accepted; },
                         "deliveries"));
    EXPECT_EQ(accepted, delivered);
}

/* UCP queues its flush as a pending request: that flush must not be refused
 * because of requests queued after it (that livelocked an MPI job) */
TEST_P(rsagg_aggregation_test, pending_flush_is_not_blocked_by_later_requests)
{
    scoped_env env_buffer("UCX_RSAGG_BUFFER", "16k");
    entity sender(res());
    entity receiver(res());
    size_t delivered = 0;
    uct_ep_h ep = connect_counted(sender, receiver, &delivered);

    /* No room: the receiver does not progress yet */
    ucs_status_t status = UCS_OK;
    for (unsigned i = 0; (i < 10000000) && (status == UCS_OK); ++i) {
        status = uct_ep_am_short(ep, AM_ID, i, NULL, 0);
    }
    ASSERT_EQ(UCS_ERR_NO_RESOURCE, status);

    struct request : uct_pending_req_t {
        uct_ep_h     ep;
        bool         flush;
        ucs_status_t status;
        int          calls;
    };
    request flush_req, send_req;
    flush_req.ep = send_req.ep = ep;
    flush_req.flush = true;
    send_req.flush  = false;
    flush_req.calls = send_req.calls = 0;
    flush_req.status = send_req.status = UCS_ERR_NO_RESOURCE;
    flush_req.func = send_req.func = [](uct_pending_req_t *self) {
        request *r = static_cast<request*>(self);
        ++r->calls;
        r->status  = r->flush ? uct_ep_flush(r->ep, 0, NULL) :
                     uct_ep_am_short(r->ep, AM_ID, 0, NULL, 0);
        return (r->status == UCS_ERR_NO_RESOURCE) ? r->status : UCS_OK;
    };
    status = uct_ep_pending_add(ep, &flush_req, 0);
    if (status == UCS_ERR_BUSY) {
        GTEST_SKIP() << "room came back before the requests could queue";
    }
    ASSERT_EQ(UCS_OK, status);
    ASSERT_EQ(UCS_OK, uct_ep_pending_add(ep, &send_req, 0));

    double deadline = now_sec() + wait_timeout_sec();
    while ((flush_req.status == UCS_ERR_NO_RESOURCE) ||
           (send_req.status == UCS_ERR_NO_RESOURCE)) {
        ASSERT_LT(now_sec(), deadline)
            << "flush called " << flush_req.calls << " times, last "
            << status_str(flush_req.status) << "; send called "
            << send_req.calls << " times";
        sender.progress();
        receiver.progress();
    }
    EXPECT_FALSE(UCS_STATUS_IS_ERR(flush_req.status))
        << status_str(flush_req.status);
    EXPECT_EQ(UCS_OK, send_req.status);
}

} // namespace rsagg_test
