/*
 * The helpers of the aggregation tests and the instantiation of their main
 * fixture (rsagg_aggregation.h).
 */

#include "rsagg_aggregation.h"

#include <dlfcn.h>
#include <time.h>
#include <unistd.h>

namespace rsagg_test {

uct_rsagg_iface_counters_func_t counters_func()
{
    static uct_rsagg_iface_counters_func_t func =
            (uct_rsagg_iface_counters_func_t)dlsym(RTLD_DEFAULT,
                                                   UCT_RSAGG_COUNTERS_SYMBOL);
    return func;
}

uct_rsagg_counters_t counters(const entity &e)
{
    uct_rsagg_iface_counters_func_t func = counters_func();
    uct_rsagg_counters_t c;

    memset(&c, 0, sizeof(c));
    EXPECT_TRUE(func != NULL) << UCT_RSAGG_COUNTERS_SYMBOL << " not found";
    if (func != NULL) {
        EXPECT_EQ(UCS_OK, func(e.iface(), &c, sizeof(c)));
    }
    return c;
}

std::vector<uint8_t> make_msg(unsigned ep, unsigned sn, size_t size)
{
    std::vector<uint8_t> msg = make_pattern(size, ep * 100003u + sn);
    if (size >= 8) {
        uint32_t words[2] = {ep, sn};
        memcpy(&msg[0], words, sizeof(words));
    }
    return msg;
}

double now_sec()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

long rss_kb()
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) {
            resident = 0;
        }
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

bool ring_capable(const entity &e)
{
    return (e.attr().cap.flags & UCT_IFACE_FLAG_CONNECT_TO_IFACE) &&
           (e.attr().cap.flags & (UCT_IFACE_FLAG_PUT_ZCOPY |
                                  UCT_IFACE_FLAG_PUT_BCOPY));
}

void ring_wireup(const std::function<void(unsigned)> &send_round,
                 const std::function<unsigned()> &progress,
                 const entity &sender)
{
    double deadline = now_sec() + wait_timeout_sec();
    for (unsigned round = 0; counters(sender).ring_transfers == 0;
         ++round) {
        ASSERT_LT(now_sec(), deadline) << "no ring slice granted";
        send_round(round);
        progress();
    }
}

std::vector<agg_param> agg_params()
{
    std::vector<agg_param> result;
    std::vector<resource> resources = rsagg_resources();
    for (size_t i = 0; i < resources.size(); ++i) {
        result.push_back(agg_param(resources[i], "embedded"));
        result.push_back(agg_param(resources[i], "oob"));
    }
    return result;
}

std::string agg_param_name(const testing::TestParamInfo<agg_param> &info)
{
    return std::get<0>(info.param).label + "_" + std::get<1>(info.param);
}

INSTANTIATE_TEST_SUITE_P(rsagg, rsagg_aggregation_test,
                         testing::ValuesIn(agg_params()), agg_param_name);

} // namespace rsagg_test
