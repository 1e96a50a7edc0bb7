/*
 * Opening an iface and creating eps: what an ep costs on a shared channel,
 * a peer of another format version is unreachable, and bad configuration
 * values fail the open cleanly.
 */

#include "rsagg_aggregation.h"

#include <malloc.h>

namespace rsagg_test {

TEST_P(rsagg_aggregation_test, ten_thousand_eps_cost_little_memory)
{
    const unsigned num_eps = 10000;
    iface_ep_params to_receiver(m_sender->iface(), *m_receiver);
    const uct_ep_params_t &params = to_receiver.params;
    std::vector<uct_ep_h> eps(num_eps);

    /* The first ep opens the channel, the others only join it */
    ASSERT_EQ(UCS_OK, uct_ep_create(&params, &eps[0]));
    struct mallinfo2 before = mallinfo2();
    for (unsigned i = 1; i < num_eps; ++i) {
        ASSERT_EQ(UCS_OK, uct_ep_create(&params, &eps[i]));
    }
    struct mallinfo2 after = mallinfo2();
    double per_ep = (double)(after.uordblks - before.uordblks) /
                    (num_eps - 1);

    EXPECT_EQ(1u, counters(*m_sender).channels);
    EXPECT_LE(per_ep, 256.0);
    std::cout << "[ INFO     ] " << per_ep << " bytes of heap per rsagg ep "
              << "on a shared channel" << std::endl;

    for (unsigned i = 0; i < num_eps; ++i) {
        uct_ep_destroy(eps[i]);
    }
}

TEST_P(rsagg_aggregation_test, peer_of_another_format_version_is_unreachable)
{
    iface_ep_params to_receiver(m_sender->iface(), *m_receiver);
    const uct_ep_params_t &params = to_receiver.params;
    uct_ep_h ep;

    ASSERT_GE(to_receiver.iface_addr.size(), 4u);
    EXPECT_TRUE(uct_iface_is_reachable(m_sender->iface(), params.dev_addr,
                                       params.iface_addr));

    ++to_receiver.iface_addr[1]; /* the format version */
    EXPECT_FALSE(uct_iface_is_reachable(m_sender->iface(), params.dev_addr,
                                        params.iface_addr));
    EXPECT_EQ(UCS_ERR_UNREACHABLE, uct_ep_create(&params, &ep));
}

TEST_P(rsagg_aggregation_test, bad_config_values_fail_the_open_cleanly)
{
    {
        scoped_env env("UCX_RSAGG_MAX_BATCH", "16");
        EXPECT_THROW(entity e(res()), std::runtime_error);
    }
    {
        scoped_env env("UCX_RSAGG_BUFFER", "1k");
        EXPECT_THROW(entity e(res()), std::runtime_error);
    }
    {
        scoped_env env("UCX_RSAGG_MUX", "sideways");
        EXPECT_THROW(entity e(res()), std::runtime_error);
    }
    {
        scoped_env env("UCX_RSAGG_AGGREGATE", "perhaps");
        EXPECT_THROW(entity e(res()), std::runtime_error);
    }
    {
        /* a tick shorter than a thread's wake-up would only spin */
        scoped_env env("UCX_RSAGG_HOLD_TIMEOUT", "5us");
        EXPECT_THROW(entity e(res()), std::runtime_error);
    }
    if ((res().tl_name == "rsagg") &&
        ((res().md_name == "rsagg_posix") || (res().md_name == "rsagg_sysv"))) {
        /* over shared memory a put is a store; there is nothing to batch */
        scoped_env env("UCX_RSAGG_PUT_AGGREGATE", "yes");
        EXPECT_THROW(entity e(res()), std::runtime_error);
    }
}

} // namespace rsagg_test
