/*
 * UCP over one transport: a context restricted with UCX_TLS (set through
 * ucp_config_modify, so nothing leaks into other tests), two workers in this
 * process connected through their worker addresses, and every UCP
 * communication API a user of rsagg would use: tag send/recv (eager and
 * rendezvous sizes), active messages, streams, put/get with a packed and
 * unpacked rkey, and atomics. Every byte received is checked.
 *
 * Baselines run on the stock transports; the rsagg cases use UCX_TLS=rsagg
 * with UCX_RSAGG_TL naming the inner transport.
 */

#include "uct_test.h"

#include <ucp/api/ucp.h>

#include <sched.h>
#include <string.h>
#include <time.h>

namespace rsagg_test {

namespace {

struct ucp_param {
    std::string label;
    std::string tls;      /* UCX_TLS */
    std::string rsagg_tl; /* UCX_RSAGG_TL, empty for stock transports */
    std::string net_devices;
};

std::ostream &operator<<(std::ostream &os, const ucp_param &param)
{
    return os << "UCX_TLS=" << param.tls
              << (param.rsagg_tl.empty() ? "" : " UCX_RSAGG_TL=")
              << param.rsagg_tl;
}

/*
 * One parameter per test suite (see the instantiations at the end): UCX
 * aborts the process on some internal errors, and the wrapper script runs
 * each suite in its own process, so one transport cannot hide another.
 */
const ucp_param ucp_tcp         = {"tcp", "tcp", "", "lo"};
const ucp_param ucp_posix       = {"posix", "posix", "", ""};
const ucp_param ucp_sysv        = {"sysv", "sysv", "", ""};
const ucp_param ucp_rsagg_tcp   = {"rsagg_tcp", "rsagg", "tcp", "lo"};
const ucp_param ucp_rsagg_posix = {"rsagg_posix", "rsagg", "posix", ""};

std::string ucp_param_name(const testing::TestParamInfo<ucp_param> &info)
{
    return info.param.label;
}

/* Eager, multi-fragment and rendezvous sizes */
const size_t ucp_sizes[] = {8, 16 * 1024 + 3, 1024 * 1024 + 7};

double now_sec()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

} // namespace


class ucp_test : public testing::TestWithParam<ucp_param> {
protected:
    static constexpr ucp_tag_t TAG   = 0x1234;
    static constexpr unsigned AM_ID  = 7;
    static constexpr size_t AM_HDR   = 16;

    void SetUp() override
    {
        const ucp_param &param = GetParam();

        if (!param.rsagg_tl.empty()) {
            if (!rsagg_component_loaded()) {
                if (rsagg_required()) {
                    FAIL() << "rsagg module not loaded but RSAGG_REQUIRE=1";
                }
                GTEST_SKIP() << "rsagg module not loaded (run under "
                                "LD_PRELOAD=libuct_rsagg.so or set "
                                "RSAGG_MODULE)";
            }
            /* rsagg reads it when UCT lists the resources, where UCP's
             * configuration does not reach: environment, restored after */
            m_env.reset(new scoped_env("UCX_RSAGG_TL", param.rsagg_tl));
        }

        ucp_config_t *config;
        ASSERT_EQ(UCS_OK, ucp_config_read(NULL, NULL, &config));
        ASSERT_EQ(UCS_OK, ucp_config_modify(config, "TLS",
                                            param.tls.c_str()));
        if (!param.net_devices.empty()) {
            ASSERT_EQ(UCS_OK, ucp_config_modify(config, "NET_DEVICES",
                                                param.net_devices.c_str()));
        }

        ucp_params_t params;
        memset(&params, 0, sizeof(params));
        params.field_mask = UCP_PARAM_FIELD_FEATURES;
        params.features   = UCP_FEATURE_TAG | UCP_FEATURE_AM |
                            UCP_FEATURE_STREAM | UCP_FEATURE_RMA |
                            UCP_FEATURE_AMO32 | UCP_FEATURE_AMO64;
        ucs_status_t status = ucp_init(&params, config, &m_context);
        ucp_config_release(config);
        ASSERT_EQ(UCS_OK, status) << "ucp_init with " << param << ": "
                                  << status_str(status);

        for (int i = 0; i < 2; ++i) {
            ucp_worker_params_t wparams;
            memset(&wparams, 0, sizeof(wparams));
            wparams.field_mask  = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
            wparams.thread_mode = UCS_THREAD_MODE_SINGLE;
            status = ucp_worker_create(m_context, &wparams, &m_workers[i]);
            ASSERT_EQ(UCS_OK, status) << "ucp_worker_create: "
                                      << status_str(status);
        }

        for (int i = 0; i < 2; ++i) {
            ucp_address_t *address;
            size_t address_length;
            status = ucp_worker_get_address(m_workers[1 - i], &address,
                                            &address_length);
            ASSERT_EQ(UCS_OK, status);

            ucp_ep_params_t eparams;
            memset(&eparams, 0, sizeof(eparams));
            eparams.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS;
            eparams.address    = address;
            status = ucp_ep_create(m_workers[i], &eparams, &m_eps[i]);
            ucp_worker_release_address(m_workers[1 - i], address);
            ASSERT_EQ(UCS_OK, status) << "ucp_ep_create: "
                                      << status_str(status);
        }
    }

    void TearDown() override
    {
        void *reqs[2] = {NULL, NULL};
        for (int i = 0; i < 2; ++i) {
            if (m_eps[i] != NULL) {
                ucp_request_param_t param;
                param.op_attr_mask = 0;
                reqs[i] = ucp_ep_close_nbx(m_eps[i], &param);
            }
        }
        for (int i = 0; i < 2; ++i) {
            EXPECT_EQ(UCS_OK, wait(reqs[i], "ep close"));
        }
        for (int i = 0; i < 2; ++i) {
            if (m_workers[i] != NULL) {
                ucp_worker_destroy(m_workers[i]);
            }
        }
        if (m_context != NULL) {
            ucp_cleanup(m_context);
        }
        m_env.reset();
    }

    void progress()
    {
        if ((ucp_worker_progress(m_workers[0]) +
             ucp_worker_progress(m_workers[1])) == 0) {
            sched_yield();
        }
    }

    /* Waits for a request from a *_nbx call and frees it */
    ucs_status_t wait(void *req, const std::string &what)
    {
        if (req == NULL) {
            return UCS_OK;
        }
        if (UCS_PTR_IS_ERR(req)) {
            return UCS_PTR_STATUS(req);
        }

        double deadline = now_sec() + wait_timeout_sec();
        ucs_status_t status;
        while ((status = ucp_request_check_status(req)) == UCS_INPROGRESS) {
            if (now_sec() > deadline) {
                ADD_FAILURE() << "timed out waiting for " << what;
                /* Leaked on purpose: freeing would let UCP complete it
                 * into memory the test is about to release */
                return UCS_ERR_TIMED_OUT;
            }
            progress();
        }
        ucp_request_free(req);
        return status;
    }

    bool wait_for(const std::function<bool()> &cond, const std::string &what)
    {
        return wait_until(cond, [this] { progress(); }, what);
    }

    ucs_status_t flush_ep(ucp_ep_h ep)
    {
        ucp_request_param_t param;
        param.op_attr_mask = 0;
        return wait(ucp_ep_flush_nbx(ep, &param), "ep flush");
    }

    /* Remote memory of worker 1, allocated by UCP and exposed by rkey */
    struct remote_region {
        ucp_mem_h  memh;
        uint8_t    *ptr;
        ucp_rkey_h rkey;
    };

    void map_remote(size_t length, remote_region *region)
    {
        ucp_mem_map_params_t params;
        memset(&params, 0, sizeof(params));
        params.field_mask = UCP_MEM_MAP_PARAM_FIELD_LENGTH |
                            UCP_MEM_MAP_PARAM_FIELD_FLAGS;
        params.length     = length;
        params.flags      = UCP_MEM_MAP_ALLOCATE;
        ASSERT_EQ(UCS_OK, ucp_mem_map(m_context, &params, &region->memh));

        ucp_mem_attr_t attr;
        attr.field_mask = UCP_MEM_ATTR_FIELD_ADDRESS;
        ASSERT_EQ(UCS_OK, ucp_mem_query(region->memh, &attr));
        region->ptr = (uint8_t*)attr.address;

        void *rkey_buf;
        size_t rkey_size;
        ASSERT_EQ(UCS_OK, ucp_rkey_pack(m_context, region->memh, &rkey_buf,
                                        &rkey_size));
        /* Unpack from a copy: the peer would only ever see bytes */
        std::vector<uint8_t> packed((uint8_t*)rkey_buf,
                                    (uint8_t*)rkey_buf + rkey_size);
        ucp_rkey_buffer_release(rkey_buf);
        ASSERT_EQ(UCS_OK, ucp_ep_rkey_unpack(m_eps[0], &packed[0],
                                             &region->rkey));
    }

    void unmap_remote(remote_region *region)
    {
        ucp_rkey_destroy(region->rkey);
        ucp_mem_unmap(m_context, region->memh);
    }

    ucs_status_t atomic(ucp_atomic_op_t op, uint64_t *value, uint64_t *reply,
                        uint64_t remote_addr, ucp_rkey_h rkey)
    {
        ucp_request_param_t param;
        param.op_attr_mask = UCP_OP_ATTR_FIELD_DATATYPE;
        param.datatype     = ucp_dt_make_contig(sizeof(uint64_t));
        if (reply != NULL) {
            param.op_attr_mask |= UCP_OP_ATTR_FIELD_REPLY_BUFFER;
            param.reply_buffer  = reply;
        }
        return wait(ucp_atomic_op_nbx(m_eps[0], op, value, 1, remote_addr,
                                      rkey, &param), "atomic");
    }

    std::unique_ptr<scoped_env> m_env;
    ucp_context_h               m_context    = NULL;
    ucp_worker_h                m_workers[2] = {NULL, NULL};
    ucp_ep_h                    m_eps[2]     = {NULL, NULL};
};


TEST_P(ucp_test, tag_send_recv_delivers_every_byte)
{
    for (size_t i = 0; i < sizeof(ucp_sizes) / sizeof(ucp_sizes[0]); ++i) {
        size_t size              = ucp_sizes[i];
        std::vector<uint8_t> src = make_pattern(size, i);
        std::vector<uint8_t> dst(size, 0);
        ucp_request_param_t param;
        param.op_attr_mask = 0;

        void *rreq = ucp_tag_recv_nbx(m_workers[1], &dst[0], size, TAG + i,
                                      (ucp_tag_t)-1, &param);
        ASSERT_FALSE(UCS_PTR_IS_ERR(rreq)) << "tag recv of " << size;
        void *sreq = ucp_tag_send_nbx(m_eps[0], &src[0], size, TAG + i,
                                      &param);

        ASSERT_EQ(UCS_OK, wait(sreq, "tag send")) << "size " << size;
        ASSERT_TRUE(rreq != NULL);
        ASSERT_TRUE(wait_for([&]() {
            return ucp_request_check_status(rreq) != UCS_INPROGRESS;
        }, "tag recv of " + std::to_string(size)));

        ucp_tag_recv_info_t info;
        EXPECT_EQ(UCS_OK, ucp_tag_recv_request_test(rreq, &info));
        ucp_request_free(rreq);
        EXPECT_EQ(size, info.length);
        EXPECT_EQ(TAG + i, info.sender_tag);
        ASSERT_EQ(-1, first_difference(src, dst)) << "tag message of "
                                                  << size << " bytes";
    }
}

TEST_P(ucp_test, active_messages_deliver_header_and_data)
{
    struct am_state {
        ucp_worker_h         worker;
        std::vector<uint8_t> header;
        std::vector<uint8_t> data;
        void                 *rndv_req;
        bool                 arrived;
    } state;
    state.worker = m_workers[1];

    ucp_am_handler_param_t hparam;
    hparam.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID |
                        UCP_AM_HANDLER_PARAM_FIELD_CB |
                        UCP_AM_HANDLER_PARAM_FIELD_ARG;
    hparam.id         = AM_ID;
    hparam.arg        = &state;
    hparam.cb         = [](void *arg, const void *header, size_t header_length,
                           void *data, size_t length,
                           const ucp_am_recv_param_t *param) -> ucs_status_t {
        am_state *st = (am_state*)arg;
        st->header.assign((const uint8_t*)header,
                          (const uint8_t*)header + header_length);
        st->data.assign(length, 0);
        st->arrived = true;

        if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) {
            ucp_request_param_t rparam;
            rparam.op_attr_mask = 0;
            st->rndv_req = ucp_am_recv_data_nbx(st->worker, data,
                                                &st->data[0], length, &rparam);
        } else if (length > 0) {
            memcpy(&st->data[0], data, length);
        }
        return UCS_OK;
    };
    ASSERT_EQ(UCS_OK, ucp_worker_set_am_recv_handler(m_workers[1], &hparam));

    for (size_t i = 0; i < sizeof(ucp_sizes) / sizeof(ucp_sizes[0]); ++i) {
        size_t size                 = ucp_sizes[i];
        std::vector<uint8_t> header = make_pattern(AM_HDR, 100 + i);
        std::vector<uint8_t> src    = make_pattern(size, i);
        state.arrived  = false;
        state.rndv_req = NULL;

        ucp_request_param_t param;
        param.op_attr_mask = 0;
        void *sreq = ucp_am_send_nbx(m_eps[0], AM_ID, &header[0], AM_HDR,
                                     &src[0], size, &param);

        ASSERT_TRUE(wait_for([&]() { return state.arrived; },
                             "active message of " + std::to_string(size)));
        ASSERT_FALSE(UCS_PTR_IS_ERR(state.rndv_req));
        ASSERT_EQ(UCS_OK, wait(state.rndv_req, "am rendezvous data"));
        ASSERT_EQ(UCS_OK, wait(sreq, "am send"));

        EXPECT_EQ(header, state.header) << "am header, size " << size;
        ASSERT_EQ(-1, first_difference(src, state.data))
                << "active message of " << size << " bytes";
    }
}

TEST_P(ucp_test, stream_delivers_every_byte_in_order)
{
    for (size_t i = 0; i < sizeof(ucp_sizes) / sizeof(ucp_sizes[0]); ++i) {
        size_t size              = ucp_sizes[i];
        std::vector<uint8_t> src = make_pattern(size, i);
        std::vector<uint8_t> dst(size, 0);
        size_t received          = 0;

        ucp_request_param_t sparam;
        sparam.op_attr_mask = 0;
        void *sreq = ucp_stream_send_nbx(m_eps[0], &src[0], size, &sparam);

        ucp_request_param_t rparam;
        rparam.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
        rparam.flags        = UCP_STREAM_RECV_FLAG_WAITALL;
        void *rreq = ucp_stream_recv_nbx(m_eps[1], &dst[0], size, &received,
                                         &rparam);

        ASSERT_FALSE(UCS_PTR_IS_ERR(rreq)) << "stream recv of " << size;
        if (rreq != NULL) {
            /* Completed later: the length comes from the request */
            ASSERT_TRUE(wait_for([&]() {
                return ucp_request_check_status(rreq) != UCS_INPROGRESS;
            }, "stream recv of " + std::to_string(size)));
            EXPECT_EQ(UCS_OK, ucp_stream_recv_request_test(rreq, &received));
            ucp_request_free(rreq);
        }
        ASSERT_EQ(UCS_OK, wait(sreq, "stream send")) << "size " << size;
        EXPECT_EQ(size, received);
        ASSERT_EQ(-1, first_difference(src, dst)) << "stream of " << size
                                                  << " bytes";
    }
}

TEST_P(ucp_test, put_and_get_with_unpacked_rkey)
{
    const size_t max_size = ucp_sizes[sizeof(ucp_sizes) /
                                      sizeof(ucp_sizes[0]) - 1];
    remote_region region;
    ASSERT_NO_FATAL_FAILURE(map_remote(max_size, &region));

    for (size_t i = 0; i < sizeof(ucp_sizes) / sizeof(ucp_sizes[0]); ++i) {
        size_t size              = ucp_sizes[i];
        std::vector<uint8_t> src = make_pattern(size, i);
        uint64_t remote_addr     = (uintptr_t)region.ptr;
        ucp_request_param_t param;
        param.op_attr_mask = 0;

        memset(region.ptr, 0, max_size);
        ASSERT_EQ(UCS_OK, wait(ucp_put_nbx(m_eps[0], &src[0], size,
                                           remote_addr, region.rkey, &param),
                               "put")) << "size " << size;
        ASSERT_EQ(UCS_OK, flush_ep(m_eps[0]));
        std::vector<uint8_t> written(region.ptr, region.ptr + size);
        EXPECT_EQ(-1, first_difference(src, written)) << "put of " << size;

        std::vector<uint8_t> expected = make_pattern(size, 1000 + i);
        std::vector<uint8_t> dst(size, 0);
        memcpy(region.ptr, &expected[0], size);
        ASSERT_EQ(UCS_OK, wait(ucp_get_nbx(m_eps[0], &dst[0], size,
                                           remote_addr, region.rkey, &param),
                               "get")) << "size " << size;
        EXPECT_EQ(-1, first_difference(expected, dst)) << "get of " << size;
    }

    unmap_remote(&region);
}

TEST_P(ucp_test, atomic_add_fadd_cswap_update_remote_value)
{
    remote_region region;
    ASSERT_NO_FATAL_FAILURE(map_remote(sizeof(uint64_t), &region));
    uint64_t remote_addr = (uintptr_t)region.ptr;
    uint64_t initial     = 0x0102030405060708ull;
    uint64_t *target     = (uint64_t*)region.ptr;
    uint64_t value, reply;

    *target = initial;
    value   = 0x1000;
    ASSERT_EQ(UCS_OK, atomic(UCP_ATOMIC_OP_ADD, &value, NULL, remote_addr,
                             region.rkey));
    ASSERT_EQ(UCS_OK, flush_ep(m_eps[0]));
    EXPECT_EQ(initial + 0x1000, *target) << "atomic add";

    value = 0x22;
    reply = 0;
    ASSERT_EQ(UCS_OK, atomic(UCP_ATOMIC_OP_ADD, &value, &reply, remote_addr,
                             region.rkey));
    EXPECT_EQ(initial + 0x1000, reply) << "atomic fadd returned value";
    ASSERT_EQ(UCS_OK, flush_ep(m_eps[0]));
    EXPECT_EQ(initial + 0x1022, *target) << "atomic fadd";

    /* cswap: buffer holds the compare value, reply the value to swap in */
    uint64_t compare = initial + 0x1022;
    reply            = 0xabcdef;
    ASSERT_EQ(UCS_OK, atomic(UCP_ATOMIC_OP_CSWAP, &compare, &reply,
                             remote_addr, region.rkey));
    EXPECT_EQ(initial + 0x1022, reply) << "cswap returned value";
    ASSERT_EQ(UCS_OK, flush_ep(m_eps[0]));
    EXPECT_EQ(0xabcdefu, *target) << "cswap with matching compare";

    compare = 1;
    reply   = 0x5555;
    ASSERT_EQ(UCS_OK, atomic(UCP_ATOMIC_OP_CSWAP, &compare, &reply,
                             remote_addr, region.rkey));
    EXPECT_EQ(0xabcdefu, reply) << "cswap returned value";
    ASSERT_EQ(UCS_OK, flush_ep(m_eps[0]));
    EXPECT_EQ(0xabcdefu, *target) << "cswap with different compare";

    unmap_remote(&region);
}

INSTANTIATE_TEST_SUITE_P(ucp_tcp, ucp_test, testing::Values(ucp_tcp),
                         ucp_param_name);
INSTANTIATE_TEST_SUITE_P(ucp_posix, ucp_test, testing::Values(ucp_posix),
                         ucp_param_name);
INSTANTIATE_TEST_SUITE_P(ucp_sysv, ucp_test, testing::Values(ucp_sysv),
                         ucp_param_name);
INSTANTIATE_TEST_SUITE_P(ucp_rsagg_tcp, ucp_test,
                         testing::Values(ucp_rsagg_tcp), ucp_param_name);
INSTANTIATE_TEST_SUITE_P(ucp_rsagg_posix, ucp_test,
                         testing::Values(ucp_rsagg_posix), ucp_param_name);

} // namespace rsagg_test
