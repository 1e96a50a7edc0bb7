/*
 * UCX_RSAGG_SUMMARY=y: when an rsagg iface closes, it prints one block with
 * what aggregation did. These tests are its specification: the block's
 * lines for known counters (uct_rsagg_summary_format, taken from the
 * module), and the block a real iface prints for traffic the test sent.
 */

#include "uct_test.h"

#include <uct/rsagg/rsagg_counters.h>
#include <uct/rsagg/rsagg_summary.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sstream>

namespace rsagg_test {

namespace {

typedef decltype(&uct_rsagg_summary_format) summary_format_func_t;

summary_format_func_t summary_format_func()
{
    return (summary_format_func_t)dlsym(RTLD_DEFAULT,
                                        "uct_rsagg_summary_format");
}

uct_rsagg_counters_t counters(const entity &e)
{
    uct_rsagg_iface_counters_func_t func =
            (uct_rsagg_iface_counters_func_t)dlsym(RTLD_DEFAULT,
                                                   UCT_RSAGG_COUNTERS_SYMBOL);
    uct_rsagg_counters_t c;

    memset(&c, 0, sizeof(c));
    EXPECT_TRUE(func != NULL) << UCT_RSAGG_COUNTERS_SYMBOL << " not found";
    if (func != NULL) {
        EXPECT_EQ(UCS_OK, func(e.iface(), &c, sizeof(c)));
    }
    return c;
}

std::vector<std::string> lines_of(const std::string &text)
{
    std::vector<std::string> lines;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        lines.push_back(line);
    }
    return lines;
}

/* The value of the line "  <key>   <value>" of a block, "" when none */
std::string value_of(const std::string &block, const std::string &key)
{
    for (const std::string &line : lines_of(block)) {
        if (line.compare(0, key.size() + 2, "  " + key) == 0) {
            size_t start = line.find_first_not_of(' ', key.size() + 2);
            return (start == std::string::npos) ? "" : line.substr(start);
        }
    }
    return "";
}

/* Everything written to stderr while it lives */
class stderr_capture {
public:
    stderr_capture()
    {
        fflush(stderr);
        m_file  = tmpfile();
        m_saved = dup(STDERR_FILENO);
        if ((m_file != NULL) && (m_saved >= 0)) {
            dup2(fileno(m_file), STDERR_FILENO);
        }
    }

    ~stderr_capture()
    {
        restore();
        if (m_file != NULL) {
            fclose(m_file);
        }
    }

    std::string text()
    {
        restore();
        std::string result;
        char chunk[4096];
        size_t n;
        if (m_file == NULL) {
            return result;
        }
        rewind(m_file);
        while ((n = fread(chunk, 1, sizeof(chunk), m_file)) > 0) {
            result.append(chunk, n);
        }
        return result;
    }

private:
    void restore()
    {
        fflush(stderr);
        if (m_saved >= 0) {
            dup2(m_saved, STDERR_FILENO);
            close(m_saved);
            m_saved = -1;
        }
    }

    FILE *m_file;
    int  m_saved;
};

} // namespace


class rsagg_summary_format_test : public testing::Test {
protected:
    void SetUp() override
    {
        m_format = summary_format_func();
        if (m_format == NULL) {
            if (rsagg_required()) {
                FAIL() << "uct_rsagg_summary_format not found: rsagg module "
                          "not loaded";
            }
            GTEST_SKIP() << "rsagg module not loaded";
        }
        memset(&m_counters, 0, sizeof(m_counters));
    }

    std::string format(const char *name = "tcp")
    {
        char buf[2048];
        EXPECT_EQ(UCS_OK, m_format(buf, sizeof(buf), name, &m_counters));
        return buf;
    }

    summary_format_func_t m_format;
    uct_rsagg_counters_t  m_counters;
};

TEST_F(rsagg_summary_format_test, one_block_says_what_aggregation_did)
{
    /* 3200 messages of 8 bytes in 57 transfers, one of them sent alone */
    m_counters.msgs        = 3200;
    m_counters.bytes       = 25600;
    m_counters.direct      = 1;
    m_counters.transfers   = 57;
    m_counters.inner_bytes = 27712;
    m_counters.rx_msgs     = 3000;
    m_counters.rx_transfers = 60;
    m_counters.channels    = 1;
    m_counters.timeouts    = 2;
    m_counters.ring_transfers    = 4;
    m_counters.rx_ring_transfers = 5;
    m_counters.credit_stalls     = 6;
    std::string block = format("tcp");

    EXPECT_EQ("[rsagg] summary of iface over tcp", lines_of(block).at(0));
    EXPECT_EQ("3200 (25600 payload bytes)", value_of(block, "messages sent"));
    EXPECT_EQ("57 (1 of them a message alone)",
              value_of(block, "inner transfers sent"));
    EXPECT_EQ("56.1", value_of(block, "messages per transfer"));
    EXPECT_EQ("8.7 (payload 8.0; 27712 bytes given to the inner transport)",
              value_of(block, "inner bytes per message"));
    EXPECT_EQ("3000 from 60 consolidated transfers",
              value_of(block, "messages unpacked"));
    EXPECT_EQ("1", value_of(block, "inner connections"));
    EXPECT_EQ("2 times (the worker was not progressed)",
              value_of(block, "sent by the hold timer"));
    EXPECT_EQ("4 sent, 5 received, 6 waits for credits",
              value_of(block, "ring transfers"));
    EXPECT_EQ("none", value_of(block, "dropped"));
    EXPECT_EQ('\n', block.back()) << "every line ends";
}

TEST_F(rsagg_summary_format_test, drops_are_counted_with_their_reason)
{
    m_counters.malformed     = 2;
    m_counters.rejected_puts = 1;
    m_counters.lost          = 3;
    std::string block = format();

    EXPECT_EQ("2 received transfers failed validation (1 puts outside their "
              "region)", value_of(block, "dropped"));
    EXPECT_NE(std::string::npos,
              block.find("\n                           3 batches lost with a "
                         "failed peer\n"))
        << block;
}

TEST_F(rsagg_summary_format_test, an_idle_iface_has_no_ratios)
{
    std::string block = format();

    EXPECT_EQ("0 (0 payload bytes)", value_of(block, "messages sent"));
    EXPECT_EQ("-", value_of(block, "messages per transfer"));
    EXPECT_EQ("- (payload -; 0 bytes given to the inner transport)",
              value_of(block, "inner bytes per message"));
}

TEST_F(rsagg_summary_format_test, a_short_buffer_gets_the_beginning)
{
    char buf[20];
    memset(buf, 'x', sizeof(buf));

    EXPECT_EQ(UCS_ERR_BUFFER_TOO_SMALL,
              m_format(buf, sizeof(buf), "tcp", &m_counters));
    /* 19 characters and the NUL */
    EXPECT_EQ(std::string("[rsagg] summary of "), std::string(buf));
}


/* The block a closing iface prints, for traffic of several eps */
class rsagg_summary_test : public testing::TestWithParam<resource> {
protected:
    static constexpr uint8_t AM_ID = 3;

    void SetUp() override
    {
        RSAGG_SKIP_IF_ABSENT(GetParam());
    }
};

TEST_P(rsagg_summary_test, closing_iface_prints_its_block)
{
    const unsigned num_eps = 8, per_ep = 50, size = 16;
    scoped_env summary("UCX_RSAGG_SUMMARY", "y");
    scoped_env aggregate("UCX_RSAGG_AGGREGATE", "y");
    std::unique_ptr<entity> sender(new entity(GetParam()));
    entity receiver(GetParam());
    if (!sender->has_cap(UCT_IFACE_FLAG_CONNECT_TO_IFACE)) {
        GTEST_SKIP() << "inner transport connects ep to ep";
    }

    size_t received = 0;
    receiver.set_am_handler(AM_ID, [&received](void*, size_t, unsigned) {
        ++received;
        return UCS_OK;
    });
    std::vector<uct_ep_h> eps;
    for (unsigned i = 0; i < num_eps; ++i) {
        eps.push_back(sender->create_ep_to_iface(receiver));
    }

    std::vector<uint8_t> payload(size - 8, 0x5a);
    for (unsigned sn = 0; sn < per_ep; ++sn) {
        for (uct_ep_h ep : eps) {
            ucs_status_t status;
            while ((status = uct_ep_am_short(ep, AM_ID, sn, &payload[0],
                                             payload.size())) ==
                   UCS_ERR_NO_RESOURCE) {
                sender->progress();
                receiver.progress();
            }
            ASSERT_EQ(UCS_OK, status);
        }
    }
    ASSERT_TRUE(wait_until([&] { return received == num_eps * per_ep; },
                           [&] {
                               sender->progress();
                               receiver.progress();
                           }, "all messages"));
    uct_rsagg_counters_t tx = counters(*sender);

    std::string printed;
    {
        stderr_capture capture;
        sender.reset(); /* closes the iface */
        printed = capture.text();
    }

    /* "[rsagg] summary of iface over <inner> (pid <pid>)", where the
     * resource's md is rsagg_<inner md>: tcp, posix, sysv */
    std::ostringstream title, sent, per_transfer;
    title << "[rsagg] summary of iface over "
          << GetParam().md_name.substr(strlen("rsagg_")) << " (pid "
          << getpid() << ")\n";
    size_t start = printed.find(title.str());
    ASSERT_NE(std::string::npos, start) << "printed:\n" << printed;
    std::string block = printed.substr(start);

    sent << (num_eps * per_ep) << " (" << (num_eps * per_ep * size)
         << " payload bytes)";
    EXPECT_EQ(sent.str(), value_of(block, "messages sent")) << block;
    ASSERT_GT(tx.transfers, 0u);
    per_transfer.precision(1);
    per_transfer << std::fixed << ((double)tx.msgs / tx.transfers);
    EXPECT_EQ(per_transfer.str(), value_of(block, "messages per transfer"));
    /* Sent without progress in between: aggregated */
    EXPECT_GT(std::stod(value_of(block, "messages per transfer")), 2.0)
        << block;
    EXPECT_EQ("1", value_of(block, "inner connections"));
    EXPECT_EQ("none", value_of(block, "dropped"));
}

INSTANTIATE_TEST_SUITE_P(rsagg, rsagg_summary_test,
                         testing::ValuesIn(rsagg_resources()),
                         [](const testing::TestParamInfo<resource> &info) {
                             return info.param.label;
                         });

} // namespace rsagg_test
