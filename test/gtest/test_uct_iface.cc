/*
 * Interface attributes and addresses: the address getters write exactly the
 * sizes uct_iface_query reports, addresses are stable, and a peer's address is
 * reachable. Tests named rsagg_* check rsagg-only promises and skip on other
 * transports.
 */

#include "uct_test.h"

#include <string.h>

namespace rsagg_test {

namespace {

const uint8_t CANARY      = 0xcd;
const size_t  CANARY_SIZE = 64;

/* Calls getter on a buffer with a canary after 'length' bytes */
std::vector<uint8_t>
get_with_canary(size_t length, const std::function<ucs_status_t(void*)> &get,
                bool *canary_ok_p)
{
    std::vector<uint8_t> buf(length + CANARY_SIZE, CANARY);
    ucs_status_t status = get(&buf[0]);
    EXPECT_EQ(UCS_OK, status) << status_str(status);

    *canary_ok_p = true;
    for (size_t i = length; i < buf.size(); ++i) {
        *canary_ok_p = *canary_ok_p && (buf[i] == CANARY);
    }
    buf.resize(length);
    return buf;
}

} // namespace


class uct_iface_test : public uct_p2p_test {
};

TEST_P(uct_iface_test, address_getters_write_exactly_the_reported_sizes)
{
    const uct_iface_attr_t &attr = sender().attr();
    bool canary_ok;

    get_with_canary(attr.device_addr_len, [&](void *buf) {
        return uct_iface_get_device_address(sender().iface(),
                                            (uct_device_addr_t*)buf);
    }, &canary_ok);
    EXPECT_TRUE(canary_ok) << "device address longer than "
                           << attr.device_addr_len;

    if (mode() == CONNECT_TO_IFACE) {
        EXPECT_GT(attr.iface_addr_len, 0u)
                << "connect-to-iface transport with an empty iface address";
        get_with_canary(attr.iface_addr_len, [&](void *buf) {
            return uct_iface_get_address(sender().iface(),
                                         (uct_iface_addr_t*)buf);
        }, &canary_ok);
        EXPECT_TRUE(canary_ok) << "iface address longer than "
                               << attr.iface_addr_len;
    } else {
        EXPECT_GT(attr.ep_addr_len, 0u)
                << "connect-to-ep transport with an empty ep address";
        uct_ep_h ep = sender().create_ep_unconnected();
        get_with_canary(attr.ep_addr_len, [&](void *buf) {
            return uct_ep_get_address(ep, (uct_ep_addr_t*)buf);
        }, &canary_ok);
        EXPECT_TRUE(canary_ok) << "ep address longer than "
                               << attr.ep_addr_len;
    }
}

TEST_P(uct_iface_test, addresses_are_stable)
{
    EXPECT_EQ(sender().device_address(), sender().device_address());
    EXPECT_EQ(sender().iface_address(), sender().iface_address());
}

TEST_P(uct_iface_test, peer_address_is_reachable)
{
    std::vector<uint8_t> dev_addr   = receiver().device_address();
    std::vector<uint8_t> iface_addr = receiver().iface_address();

    int reachable = uct_iface_is_reachable(
            sender().iface(),
            dev_addr.empty() ? NULL : (uct_device_addr_t*)&dev_addr[0],
            ((mode() == CONNECT_TO_IFACE) && !iface_addr.empty()) ?
            (uct_iface_addr_t*)&iface_addr[0] : NULL);
    EXPECT_TRUE(reachable) << "peer on the same host is not reachable";
}

TEST_P(uct_iface_test, iface_attributes_are_consistent)
{
    const uct_iface_attr_t &attr = sender().attr();

    EXPECT_TRUE(sender().has_cap(UCT_IFACE_FLAG_CONNECT_TO_IFACE) ||
                sender().has_cap(UCT_IFACE_FLAG_CONNECT_TO_EP))
            << "no way to connect";
    if (sender().has_cap(UCT_IFACE_FLAG_AM_SHORT)) {
        EXPECT_GE(attr.cap.am.max_short, sizeof(uint64_t))
                << "am_short cannot carry its own header";
    }
    if (sender().has_cap(UCT_IFACE_FLAG_AM_ZCOPY)) {
        EXPECT_LE(attr.cap.am.min_zcopy, attr.cap.am.max_zcopy);
        EXPECT_GT(attr.cap.am.max_iov, 0u);
    }
    if (sender().has_cap(UCT_IFACE_FLAG_PUT_ZCOPY)) {
        EXPECT_LE(attr.cap.put.min_zcopy, attr.cap.put.max_zcopy);
        EXPECT_GT(attr.cap.put.max_iov, 0u);
    }
    if (sender().has_cap(UCT_IFACE_FLAG_GET_ZCOPY)) {
        EXPECT_LE(attr.cap.get.min_zcopy, attr.cap.get.max_zcopy);
        EXPECT_GT(attr.cap.get.max_iov, 0u);
    }
    EXPECT_GT(attr.bandwidth.dedicated + attr.bandwidth.shared, 0.0);
    EXPECT_GT(attr.max_num_eps, 0u);
}

/*
 * rsagg-only: an address from a peer that speaks another rsagg format (its
 * 4-byte rsagg header changed) is not reachable, and checking it is safe.
 */
TEST_P(uct_iface_test, rsagg_address_with_foreign_header_is_unreachable)
{
    if (!res().is_rsagg()) {
        GTEST_SKIP() << "rsagg-only test";
    }

    std::vector<uint8_t> dev_addr = receiver().device_address();
    std::vector<uint8_t> addr;
    uct_ep_h peer_ep = NULL;

    if (mode() == CONNECT_TO_IFACE) {
        addr = receiver().iface_address();
    } else {
        peer_ep = receiver().create_ep_unconnected();
        addr    = receiver().ep_address(peer_ep);
    }
    ASSERT_GE(addr.size(), 4u) << "address shorter than the rsagg header";

    for (size_t i = 0; i < 4; ++i) {
        addr[i] ^= 0xff;
    }

    if (mode() == CONNECT_TO_IFACE) {
        EXPECT_FALSE(uct_iface_is_reachable(
                sender().iface(),
                dev_addr.empty() ? NULL : (uct_device_addr_t*)&dev_addr[0],
                (uct_iface_addr_t*)&addr[0]))
                << "iface address with a foreign rsagg header is reachable";
    } else {
        /* No reachability check for ep addresses: connecting must fail */
        uct_ep_h ep = sender().create_ep_unconnected();
        ucs_status_t status = uct_ep_connect_to_ep(
                ep, dev_addr.empty() ? NULL : (uct_device_addr_t*)&dev_addr[0],
                (uct_ep_addr_t*)&addr[0]);
        EXPECT_LT(status, UCS_OK)
                << "connect to an ep address with a foreign rsagg header: "
                << status_str(status);
    }
}

/*
 * rsagg-only: the AM ids rsagg reserves on the inner iface are not the
 * user's. UCX 1.13 sets handlers in the generic uct_iface_set_am_handler(),
 * which no transport can refuse, so what rsagg guarantees is: sends on those
 * ids are refused, and a handler set there is never called, even while
 * rsagg's own traffic flows on the inner ids of the same numbers.
 */
TEST_P(uct_iface_test, rsagg_reserved_am_ids_are_not_the_users)
{
    if (!res().is_rsagg()) {
        GTEST_SKIP() << "rsagg-only test";
    }

    static int reserved_calls;
    reserved_calls = 0;
    uct_ep_h ep    = connect(sender(), receiver());
    for (unsigned id = RSAGG_NUM_USER_AM_IDS; id < UCT_AM_ID_MAX; ++id) {
        uct_iface_set_am_handler(receiver().iface(), id,
                                 [](void*, void*, size_t, unsigned) {
                                     ++reserved_calls;
                                     return UCS_OK;
                                 }, NULL, 0);
        EXPECT_EQ(UCS_ERR_INVALID_PARAM,
                  uct_ep_am_short(ep, id, 0, NULL, 0))
                << "am_short on reserved id " << id;
    }

    /* Batched traffic: goes on rsagg's reserved inner ids */
    unsigned received = 0;
    receiver().set_am_handler(TEST_AM_ID, [&](void*, size_t, unsigned) {
        ++received;
        return UCS_OK;
    });
    for (unsigned i = 0; i < 100; ++i) {
        ASSERT_EQ(UCS_OK, retry([&] {
            return uct_ep_am_short(ep, TEST_AM_ID, i, NULL, 0);
        }));
    }
    wait_for([&] { return received == 100; }, "100 messages");
    EXPECT_EQ(0, reserved_calls);
}

RSAGG_INSTANTIATE_P2P(uct_iface_test);

} // namespace rsagg_test
