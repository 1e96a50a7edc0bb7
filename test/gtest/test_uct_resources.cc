/*
 * Resources and configuration.
 *
 * uct_resources: the stock inner transports the suite relies on exist.
 * rsagg_resources (rsagg-only, skipped when the module is not loaded unless
 * RSAGG_REQUIRE=1): one rsagg resource per inner (md, device), named after
 * it; UCX_RSAGG_TL selects the inner transports; bad UCX_RSAGG_* values are
 * refused with an error status, never a crash; valid values all work.
 *
 * The rsagg configuration names tested: UCX_RSAGG_TL (list of inner
 * transports), UCX_RSAGG_AGGREGATE (y/n), UCX_RSAGG_MUX
 * (embedded|oob|auto), UCX_RSAGG_MAX_BATCH (size), UCX_RSAGG_BUFFER (size).
 * They are set in the environment before the configuration is read, so they
 * apply whether rsagg reads them with its MD or its iface configuration.
 */

#include "uct_test.h"

#include <string.h>

#include <algorithm>
#include <set>

namespace rsagg_test {

namespace {

/* (md, tl, dev) of every resource of every component, fresh from UCT */
ucs_status_t all_tls(std::vector<tl_triple> *tls_p)
{
    uct_component_h *components;
    unsigned num_components;

    ucs_status_t status = uct_query_components(&components, &num_components);
    if (status != UCS_OK) {
        return status;
    }

    tls_p->clear();
    for (unsigned i = 0; (i < num_components) && (status == UCS_OK); ++i) {
        std::vector<tl_triple> tls;
        status = query_component_tls(components[i], &tls);
        tls_p->insert(tls_p->end(), tls.begin(), tls.end());
    }

    uct_release_component_list(components);
    return status;
}

bool has_tl(const std::vector<tl_triple> &tls, const std::string &md,
            const std::string &tl, const std::string &dev)
{
    for (size_t i = 0; i < tls.size(); ++i) {
        if ((tls[i].md_name == md) && (tls[i].tl_name == tl) &&
            (tls[i].dev_name == dev)) {
            return true;
        }
    }
    return false;
}

/* Inner transports of this machine and the device rsagg must offer them on */
struct inner_tl {
    const char *md;
    const char *tl;
    const char *dev;
};

const inner_tl stock_inner_tls[] = {
    {"tcp", "tcp", "lo"},
    {"posix", "posix", "memory"},
    {"sysv", "sysv", "memory"}
};

/*
 * Result of trying to open an rsagg iface with the current environment:
 * UCS_OK when everything from the component query to uct_iface_open
 * succeeded, otherwise the first error and where it happened.
 */
struct open_result {
    ucs_status_t status;
    std::string  where;
    unsigned     num_rsagg_tls;
};

open_result try_open_rsagg(const std::string &md_name,
                           const std::string &dev_name)
{
    open_result result = {UCS_OK, "", 0};
    uct_component_h component = find_component(RSAGG_COMPONENT_NAME);
    std::vector<tl_triple> tls;

    if (component == NULL) {
        result.status = UCS_ERR_NO_DEVICE;
        result.where  = "find rsagg component";
        return result;
    }

    result.status = query_component_tls(component, &tls);
    if (result.status != UCS_OK) {
        result.where = "rsagg resource query";
        return result;
    }
    result.num_rsagg_tls = tls.size();

    if (!has_tl(tls, md_name, RSAGG_TL_NAME, dev_name)) {
        result.status = UCS_ERR_NO_DEVICE;
        result.where  = "rsagg resource list";
        return result;
    }

    resource res;
    res.component = RSAGG_COMPONENT_NAME;
    res.md_name   = md_name;
    res.tl_name   = RSAGG_TL_NAME;
    res.dev_name  = dev_name;
    res.required  = false;
    try {
        entity e(res);
    } catch (const std::exception &ex) {
        result.status = UCS_ERR_INVALID_PARAM;
        result.where  = ex.what();
    }
    return result;
}

#define RSAGG_SKIP_IF_NOT_LOADED() \
    do { \
        if (!rsagg_component_loaded()) { \
            if (rsagg_required()) { \
                FAIL() << "rsagg module not loaded but RSAGG_REQUIRE=1"; \
            } \
            GTEST_SKIP() << "rsagg module not loaded (run under " \
                            "LD_PRELOAD=libuct_rsagg.so or set " \
                            "RSAGG_MODULE)"; \
        } \
    } while (0)

} // namespace


TEST(uct_resources, stock_inner_transports_exist)
{
    std::vector<tl_triple> tls;
    ASSERT_EQ(UCS_OK, all_tls(&tls));

    for (size_t i = 0; i < sizeof(stock_inner_tls) / sizeof(stock_inner_tls[0]);
         ++i) {
        const inner_tl &inner = stock_inner_tls[i];
        EXPECT_TRUE(has_tl(tls, inner.md, inner.tl, inner.dev))
                << inner.tl << " on " << inner.dev << " missing";
    }
}


TEST(rsagg_resources, one_rsagg_resource_per_inner_md_and_device)
{
    RSAGG_SKIP_IF_NOT_LOADED();

    std::vector<tl_triple> tls;
    ASSERT_EQ(UCS_OK, all_tls(&tls));

    for (size_t i = 0; i < sizeof(stock_inner_tls) / sizeof(stock_inner_tls[0]);
         ++i) {
        const inner_tl &inner = stock_inner_tls[i];
        std::string rsagg_md  = std::string("rsagg_") + inner.md;
        EXPECT_TRUE(has_tl(tls, rsagg_md, RSAGG_TL_NAME, inner.dev))
                << "no rsagg resource " << rsagg_md << "/" << inner.dev;
    }

    /* Every rsagg resource wraps an inner MD that has the same device */
    std::set<std::pair<std::string, std::string> > seen;
    for (size_t i = 0; i < tls.size(); ++i) {
        if (tls[i].tl_name != RSAGG_TL_NAME) {
            continue;
        }

        const std::string &md = tls[i].md_name;
        ASSERT_EQ(0u, md.find("rsagg_")) << "rsagg MD named " << md;
        std::string inner_md = md.substr(strlen("rsagg_"));

        bool inner_has_dev = false;
        for (size_t j = 0; j < tls.size(); ++j) {
            inner_has_dev = inner_has_dev ||
                            ((tls[j].md_name == inner_md) &&
                             (tls[j].dev_name == tls[i].dev_name));
        }
        EXPECT_TRUE(inner_has_dev) << md << "/" << tls[i].dev_name
                                   << " has no inner resource on "
                                   << inner_md << "/" << tls[i].dev_name;

        EXPECT_TRUE(seen.insert(std::make_pair(md, tls[i].dev_name)).second)
                << "duplicate rsagg resource " << md << "/"
                << tls[i].dev_name;
    }
}

TEST(rsagg_resources, rsagg_tl_env_selects_the_inner_transports)
{
    RSAGG_SKIP_IF_NOT_LOADED();

    {
        scoped_env env("UCX_RSAGG_TL", "posix");
        std::vector<tl_triple> tls;
        ASSERT_EQ(UCS_OK, all_tls(&tls));
        EXPECT_TRUE(has_tl(tls, "rsagg_posix", RSAGG_TL_NAME, "memory"))
                << "UCX_RSAGG_TL=posix: rsagg_posix missing";
        EXPECT_FALSE(has_tl(tls, "rsagg_tcp", RSAGG_TL_NAME, "lo"))
                << "UCX_RSAGG_TL=posix: rsagg_tcp present";
        EXPECT_FALSE(has_tl(tls, "rsagg_sysv", RSAGG_TL_NAME, "memory"))
                << "UCX_RSAGG_TL=posix: rsagg_sysv present";
    }

    {
        scoped_env env("UCX_RSAGG_TL", "tcp,sysv");
        std::vector<tl_triple> tls;
        ASSERT_EQ(UCS_OK, all_tls(&tls));
        EXPECT_TRUE(has_tl(tls, "rsagg_tcp", RSAGG_TL_NAME, "lo"))
                << "UCX_RSAGG_TL=tcp,sysv: rsagg_tcp missing";
        EXPECT_TRUE(has_tl(tls, "rsagg_sysv", RSAGG_TL_NAME, "memory"))
                << "UCX_RSAGG_TL=tcp,sysv: rsagg_sysv missing";
        EXPECT_FALSE(has_tl(tls, "rsagg_posix", RSAGG_TL_NAME, "memory"))
                << "UCX_RSAGG_TL=tcp,sysv: rsagg_posix present";
    }
}

TEST(rsagg_resources, unknown_rsagg_tl_gives_error_or_no_resources)
{
    RSAGG_SKIP_IF_NOT_LOADED();

    {
        scoped_env env("UCX_RSAGG_TL", "no_such_transport");
        uct_component_h component = find_component(RSAGG_COMPONENT_NAME);
        ASSERT_TRUE(component != NULL);

        std::vector<tl_triple> tls;
        ucs_status_t status = query_component_tls(component, &tls);
        if (status == UCS_OK) {
            EXPECT_TRUE(tls.empty())
                    << "UCX_RSAGG_TL=no_such_transport gave " << tls.size()
                    << " rsagg resources, first " << tls[0].md_name << "/"
                    << tls[0].dev_name;
        }
    }

    /* The environment is read again: without it the resources are back */
    std::vector<tl_triple> tls;
    ASSERT_EQ(UCS_OK, all_tls(&tls));
    EXPECT_TRUE(has_tl(tls, "rsagg_posix", RSAGG_TL_NAME, "memory"))
            << "rsagg resources missing after UCX_RSAGG_TL was unset";
}

TEST(rsagg_resources, bad_config_values_are_refused_with_an_error)
{
    RSAGG_SKIP_IF_NOT_LOADED();

    static const char *bad[][2] = {
        {"UCX_RSAGG_AGGREGATE", "maybe"},
        {"UCX_RSAGG_MUX", "sideways"},
        {"UCX_RSAGG_MAX_BATCH", "lots"},
        {"UCX_RSAGG_BUFFER", "big"}
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        scoped_env env(bad[i][0], bad[i][1]);
        open_result result = try_open_rsagg("rsagg_posix", "memory");
        EXPECT_NE(UCS_OK, result.status)
                << bad[i][0] << "=" << bad[i][1]
                << " accepted: an rsagg iface opened with it";
    }

    /* A channel buffer that cannot hold one batch */
    {
        scoped_env batch("UCX_RSAGG_MAX_BATCH", "8k");
        scoped_env buffer("UCX_RSAGG_BUFFER", "4k");
        open_result result = try_open_rsagg("rsagg_posix", "memory");
        EXPECT_NE(UCS_OK, result.status)
                << "UCX_RSAGG_BUFFER=4k smaller than UCX_RSAGG_MAX_BATCH=8k "
                << "accepted: an rsagg iface opened with it";
    }

    /* Nothing is left broken: the defaults open again */
    open_result result = try_open_rsagg("rsagg_posix", "memory");
    EXPECT_EQ(UCS_OK, result.status) << result.where;
}


/*
 * rsagg configuration values that are valid must all work: a burst of mixed
 * small and large messages from several endpoints arrives complete, in
 * per-endpoint order and intact, whatever the setting.
 */
class rsagg_config_test : public uct_p2p_test {
protected:
    static constexpr unsigned NUM_EPS     = 3;
    static constexpr unsigned MSGS_PER_EP = 100;

    void SetUp() override
    {
        RSAGG_SKIP_IF_ABSENT(res());
        /* Entities are created per setting in the test body */
    }

    void check_setting(const char *name, const char *value)
    {
        SCOPED_TRACE(std::string(name) + "=" + value);
        scoped_env env(name, value);

        entity &to = create_entity();
        if (!to.has_cap((mode() == CONNECT_TO_IFACE) ?
                        UCT_IFACE_FLAG_CONNECT_TO_IFACE :
                        UCT_IFACE_FLAG_CONNECT_TO_EP)) {
            destroy_entity(to);
            GTEST_SKIP() << "transport cannot connect this way";
        }

        std::vector<uct_ep_h> eps;
        std::vector<uint32_t> expected(NUM_EPS, 0);
        size_t num_received = 0, num_errors = 0;

        to.set_am_handler(TEST_AM_ID, [&](void *data, size_t length,
                                          unsigned) {
            uint32_t ep_index, seq;
            ++num_received;
            memcpy(&ep_index, data, sizeof(ep_index));
            memcpy(&seq, (uint8_t*)data + 4, sizeof(seq));
            std::vector<uint8_t> want = make_pattern(length,
                                                     ep_index * 1000 + seq);
            if ((ep_index >= NUM_EPS) || (seq != expected[ep_index]++) ||
                memcmp(&want[8], (uint8_t*)data + 8, length - 8)) {
                ++num_errors;
            }
            return UCS_OK;
        });

        entity &from = create_entity();
        for (unsigned i = 0; i < NUM_EPS; ++i) {
            eps.push_back(connect(from, to));
        }

        const uct_iface_attr_t &attr = from.attr();
        for (uint32_t seq = 0; seq < MSGS_PER_EP; ++seq) {
            for (uint32_t ep_index = 0; ep_index < NUM_EPS; ++ep_index) {
                bool large    = (seq % 7) == 6;
                size_t length = large ? attr.cap.am.max_bcopy : 8 + seq % 40;
                std::vector<uint8_t> msg = make_pattern(length,
                                                        ep_index * 1000 + seq);
                memcpy(&msg[0], &ep_index, sizeof(ep_index));
                memcpy(&msg[4], &seq, sizeof(seq));
                ASSERT_EQ(UCS_OK, retry([&]() {
                    return send_am_bcopy(eps[ep_index], TEST_AM_ID, msg);
                }));
            }
        }

        ASSERT_TRUE(wait_for([&]() {
            return num_received >= NUM_EPS * MSGS_PER_EP;
        }, "all messages"));
        EXPECT_EQ(0u, num_errors) << "out of order or corrupted messages";
        EXPECT_EQ(NUM_EPS * MSGS_PER_EP, num_received);

        destroy_entity(from);
        destroy_entity(to);
    }
};

TEST_P(rsagg_config_test, aggregation_on_and_off_both_deliver)
{
    check_setting("UCX_RSAGG_AGGREGATE", "y");
    check_setting("UCX_RSAGG_AGGREGATE", "n");
}

TEST_P(rsagg_config_test, every_mux_mode_delivers)
{
    check_setting("UCX_RSAGG_MUX", "embedded");
    check_setting("UCX_RSAGG_MUX", "oob");
    check_setting("UCX_RSAGG_MUX", "auto");
}

TEST_P(rsagg_config_test, small_batch_and_small_buffer_deliver)
{
    check_setting("UCX_RSAGG_MAX_BATCH", "1024");
    check_setting("UCX_RSAGG_BUFFER", "16k");
}

INSTANTIATE_TEST_SUITE_P(uct, rsagg_config_test,
                         testing::Combine(testing::ValuesIn(rsagg_resources()),
                                          testing::Values(CONNECT_TO_IFACE,
                                                          CONNECT_TO_EP)),
                         p2p_param_name);

} // namespace rsagg_test
