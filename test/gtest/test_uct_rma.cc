/*
 * Remote memory access: put short/bcopy/zcopy and get bcopy/zcopy into
 * memory registered (or allocated) with the receiver's MD and addressed with
 * its packed and unpacked remote key. After an ep flush the written data must
 * be in the target memory, with no further progress by anyone.
 */

#include "uct_test.h"

#include <string.h>

namespace rsagg_test {

class uct_rma_test : public uct_p2p_test {
protected:
    /* Upper bound on sizes tested, transports often allow "unlimited" */
    static constexpr size_t MAX_TEST_SIZE = 128 * 1024;
    /* Bytes after the written range that must stay untouched */
    static constexpr size_t GUARD         = 64;
    static constexpr uint8_t GUARD_BYTE   = 0xee;

    enum rma_op {
        PUT_SHORT,
        PUT_BCOPY,
        PUT_ZCOPY,
        GET_BCOPY,
        GET_ZCOPY
    };

    static const char *op_name(rma_op op)
    {
        switch (op) {
        case PUT_SHORT: return "put_short";
        case PUT_BCOPY: return "put_bcopy";
        case PUT_ZCOPY: return "put_zcopy";
        case GET_BCOPY: return "get_bcopy";
        case GET_ZCOPY: return "get_zcopy";
        }
        return "?";
    }

    uint64_t op_cap(rma_op op) const
    {
        switch (op) {
        case PUT_SHORT: return UCT_IFACE_FLAG_PUT_SHORT;
        case PUT_BCOPY: return UCT_IFACE_FLAG_PUT_BCOPY;
        case PUT_ZCOPY: return UCT_IFACE_FLAG_PUT_ZCOPY;
        case GET_BCOPY: return UCT_IFACE_FLAG_GET_BCOPY;
        case GET_ZCOPY: return UCT_IFACE_FLAG_GET_ZCOPY;
        }
        return 0;
    }

    void op_range(rma_op op, size_t *min_p, size_t *max_p)
    {
        const uct_iface_attr_t &attr = sender().attr();
        *min_p = 0;
        *max_p = 0;
        switch (op) {
        case PUT_SHORT:
            *max_p = attr.cap.put.max_short;
            break;
        case PUT_BCOPY:
            *max_p = attr.cap.put.max_bcopy;
            break;
        case PUT_ZCOPY:
            *min_p = attr.cap.put.min_zcopy;
            *max_p = attr.cap.put.max_zcopy;
            break;
        case GET_BCOPY:
            *max_p = attr.cap.get.max_bcopy;
            break;
        case GET_ZCOPY:
            *min_p = attr.cap.get.min_zcopy;
            *max_p = attr.cap.get.max_zcopy;
            break;
        }
        *max_p = std::min(*max_p, MAX_TEST_SIZE);
    }

    static size_t pack(void *dest, void *arg)
    {
        const std::vector<uint8_t> &data = *(std::vector<uint8_t>*)arg;
        if (!data.empty()) {
            memcpy(dest, &data[0], data.size());
        }
        return data.size();
    }

    static void unpack(void *arg, const void *data, size_t length)
    {
        std::vector<uint8_t> *dest = (std::vector<uint8_t>*)arg;
        dest->assign((const uint8_t*)data, (const uint8_t*)data + length);
    }

    /* Issues one operation; waits for its local completion */
    ucs_status_t do_op(rma_op op, uct_ep_h ep, const std::vector<uint8_t> &data,
                       std::vector<uint8_t> *got, const mapped_buffer &target,
                       uct_rkey_t rkey)
    {
        const size_t length = data.size();
        mapped_buffer local(sender(), length);
        test_completion comp;
        uct_iov_t iov;
        ucs_status_t status;

        iov.buffer = local.ptr();
        iov.length = length;
        iov.memh   = local.memh();
        iov.stride = 0;
        iov.count  = 1;
        local.fill(data);

        status = retry([&]() -> ucs_status_t {
            switch (op) {
            case PUT_SHORT:
                return uct_ep_put_short(ep, length ? &data[0] : NULL, length,
                                        target.addr(), rkey);
            case PUT_BCOPY: {
                ssize_t packed = uct_ep_put_bcopy(
                        ep, pack, (void*)&data, target.addr(), rkey);
                if (packed >= 0) {
                    EXPECT_EQ((ssize_t)length, packed) << "put_bcopy length";
                    return UCS_OK;
                }
                return (ucs_status_t)packed;
            }
            case PUT_ZCOPY:
                return uct_ep_put_zcopy(ep, &iov, 1, target.addr(), rkey,
                                        &comp.uct);
            case GET_BCOPY:
                return uct_ep_get_bcopy(ep, unpack, got, length,
                                        target.addr(), rkey, &comp.uct);
            case GET_ZCOPY:
                memset(local.ptr(), 0, length);
                return uct_ep_get_zcopy(ep, &iov, 1, target.addr(), rkey,
                                        &comp.uct);
            }
            return UCS_ERR_INVALID_PARAM;
        });

        if (status == UCS_INPROGRESS) {
            wait_completion(comp, op_name(op));
            status = comp.status;
        }

        if ((op == GET_ZCOPY) && (status == UCS_OK)) {
            *got = local.read(0, length);
        }
        return status;
    }

    void test_op(rma_op op)
    {
        if (!sender().has_cap(op_cap(op))) {
            GTEST_SKIP() << "transport does not support " << op_name(op);
        }

        size_t min_size, max_size;
        op_range(op, &min_size, &max_size);
        std::vector<size_t> sizes = sample_sizes(min_size, max_size);

        uct_ep_h ep = connect(sender(), receiver());
        mapped_buffer target(receiver(), max_size + GUARD);
        remote_key rkey(sender(), target);
        bool is_put = (op == PUT_SHORT) || (op == PUT_BCOPY) ||
                      (op == PUT_ZCOPY);

        for (size_t i = 0; i < sizes.size(); ++i) {
            std::vector<uint8_t> data = make_pattern(sizes[i], i);
            std::vector<uint8_t> got;

            memset(target.ptr(), GUARD_BYTE, target.size());
            if (!is_put) {
                target.fill(data);
            }

            ucs_status_t status = do_op(op, ep, data, &got, target,
                                        rkey.rkey());
            ASSERT_EQ(UCS_OK, status) << op_name(op) << " of " << sizes[i]
                                      << " bytes: " << status_str(status);

            if (is_put) {
                flush_ep(sender(), ep);
                /* No progress after the flush: the data must be there */
                got = target.read(0, sizes[i]);
            }

            ASSERT_EQ(-1, first_difference(data, got))
                    << op_name(op) << " of " << sizes[i]
                    << " bytes: first differing byte";
            std::vector<uint8_t> guard = target.read(sizes[i], GUARD);
            ASSERT_EQ(std::vector<uint8_t>(GUARD, GUARD_BYTE), guard)
                    << op_name(op) << " of " << sizes[i]
                    << " bytes wrote past the end";
        }
    }
};

TEST_P(uct_rma_test, put_short_writes_exactly_the_data)
{
    test_op(PUT_SHORT);
}

TEST_P(uct_rma_test, put_bcopy_writes_exactly_the_data)
{
    test_op(PUT_BCOPY);
}

TEST_P(uct_rma_test, put_zcopy_writes_exactly_the_data)
{
    test_op(PUT_ZCOPY);
}

TEST_P(uct_rma_test, get_bcopy_reads_exactly_the_data)
{
    test_op(GET_BCOPY);
}

TEST_P(uct_rma_test, get_zcopy_reads_exactly_the_data)
{
    test_op(GET_ZCOPY);
}

RSAGG_INSTANTIATE_P2P(uct_rma_test);

} // namespace rsagg_test
