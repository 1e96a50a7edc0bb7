/*
 * Test infrastructure for the rsagg gtest suite.
 *
 * Everything here uses only the public UCT API, so every test runs unchanged
 * on any transport: the stock inner transports (tcp, posix, sysv) validate
 * the expectations themselves, and the same tests with tl "rsagg" check that
 * wrapping a transport changes nothing a user can observe.
 */

#ifndef RSAGG_GTEST_UCT_TEST_H_
#define RSAGG_GTEST_UCT_TEST_H_

#include <uct/api/uct.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

namespace rsagg_test {

/*
 * UCT AM ids a user of rsagg may use: rsagg reserves the top 4 ids of the
 * inner iface for its own protocol (UCT_AM_ID_MAX is 32 in UCX 1.13).
 */
static constexpr unsigned RSAGG_NUM_RESERVED_AM_IDS = 4;
static constexpr unsigned RSAGG_NUM_USER_AM_IDS     = UCT_AM_ID_MAX -
                                                      RSAGG_NUM_RESERVED_AM_IDS;

/* Name of the rsagg transport and its component */
extern const char *const RSAGG_TL_NAME;
extern const char *const RSAGG_COMPONENT_NAME;


/*
 * One UCT resource a test runs on. When the resource does not exist on this
 * machine the entry is a placeholder: absent_reason says why, and the test
 * skips with that reason (or fails, when 'required' says it must exist).
 */
struct resource {
    std::string component;
    std::string md_name;
    std::string tl_name;
    std::string dev_name;
    std::string label;          /* short unique name for the test name */
    std::string absent_reason;  /* non-empty: placeholder, not openable */
    bool        required;       /* placeholder whose absence is an error */

    bool is_rsagg() const;
    bool present() const { return absent_reason.empty(); }
};

std::ostream &operator<<(std::ostream &os, const resource &res);


/* The resources the suite runs on, see uct_test.cc for the selection rules */
const std::vector<resource> &test_resources();

/* Same, only those with tl "rsagg" (present or placeholders) */
std::vector<resource> rsagg_resources();

/* Whether the rsagg component is registered in UCT */
bool rsagg_component_loaded();

/* dlopen() the module named by env RSAGG_MODULE, once; never dlclose()d */
void load_rsagg_module();

/* Whether env RSAGG_REQUIRE=1: missing rsagg resources are failures */
bool rsagg_required();

/* Find a UCT component by name, or NULL */
uct_component_h find_component(const std::string &name);

/* All (md, tl, dev) triples of one component, fresh from UCT */
struct tl_triple {
    std::string md_name;
    std::string tl_name;
    std::string dev_name;
};
ucs_status_t query_component_tls(uct_component_h component,
                                 std::vector<tl_triple> *tls_p);


/* Skip (or fail) a test whose resource is only a placeholder */
#define RSAGG_SKIP_IF_ABSENT(_res) \
    do { \
        if (!(_res).present()) { \
            if ((_res).required) { \
                FAIL() << (_res).absent_reason; \
            } \
            GTEST_SKIP() << (_res).absent_reason; \
        } \
    } while (0)


/* Sets an environment variable for the lifetime of the object */
class scoped_env {
public:
    scoped_env(const std::string &name, const std::string &value);
    ~scoped_env();

private:
    std::string m_name;
    bool        m_had_value;
    std::string m_old_value;
};


/* Sizes to test in [min, max]: the edges, their neighbours and a middle */
std::vector<size_t> sample_sizes(size_t min_size, size_t max_size);

/* Deterministic payload: byte i of message 'seed' */
std::vector<uint8_t> make_pattern(size_t size, unsigned seed);

/* Index of the first differing byte, or -1 when equal (for messages) */
ssize_t first_difference(const std::vector<uint8_t> &a,
                         const std::vector<uint8_t> &b);

/* Readable status for assertion messages */
std::string status_str(ucs_status_t status);


/* Deadline and attempt bound: only ever used to fail a test that hangs */
double wait_timeout_sec();

/* Calls 'progress' until 'cond' holds; after wait_timeout_sec() adds a
 * failure naming 'what' and returns false */
bool wait_until(const std::function<bool()> &cond,
                const std::function<void()> &progress,
                const std::string &what);


/*
 * One worker + memory domain + interface on a resource, and the endpoints
 * created on it. The AM handlers are std::function objects so tests can write
 * the receive side inline.
 */
class entity {
public:
    typedef std::function<ucs_status_t(void *data, size_t length,
                                       unsigned flags)> am_handler_t;

    struct options {
        size_t rx_headroom;
        bool   err_handler;
        options() : rx_headroom(0), err_handler(false) {}
    };

    struct error_event {
        uct_ep_h     ep;
        ucs_status_t status;
    };

    /* Throws std::runtime_error with the failing call and status */
    entity(const resource &res, const options &opts = options());
    ~entity();

    const resource &res() const { return m_res; }
    uct_component_h component() const { return m_component; }
    uct_md_h md() const { return m_md; }
    uct_worker_h worker() const { return m_worker; }
    uct_iface_h iface() const { return m_iface; }
    const uct_iface_attr_t &attr() const { return m_iface_attr; }
    const uct_md_attr_t &md_attr() const { return m_md_attr; }
    size_t rx_headroom() const { return m_opts.rx_headroom; }
    bool has_cap(uint64_t flags) const;

    unsigned progress();

    std::vector<uint8_t> iface_address() const;
    std::vector<uint8_t> device_address() const;

    void set_am_handler(uint8_t id, am_handler_t handler);

    /* Endpoints; destroyed with the entity unless destroyed before */
    uct_ep_h create_ep_to_iface(const entity &peer);
    uct_ep_h create_ep_unconnected();
    std::vector<uint8_t> ep_address(uct_ep_h ep) const;
    void connect_ep_to_ep(uct_ep_h ep, const entity &peer, uct_ep_h peer_ep);
    void destroy_ep(uct_ep_h ep);

    /* Errors reported to the iface error handler, in order */
    const std::vector<error_event> &errors() const { return m_errors; }

    /* Called from the iface error handler after the error is recorded (it
     * may destroy endpoints) */
    void set_error_callback(
            const std::function<void(uct_ep_h, ucs_status_t)> &cb)
    {
        m_error_callback = cb;
    }

private:
    static ucs_status_t am_trampoline(void *arg, void *data, size_t length,
                                      unsigned flags);
    static ucs_status_t error_handler(void *arg, uct_ep_h ep,
                                      ucs_status_t status);
    void cleanup();

    resource                m_res;
    options                 m_opts;
    ucs_async_context_t     *m_async;
    uct_worker_h            m_worker;
    uct_component_h         m_component;
    uct_md_h                m_md;
    uct_iface_h             m_iface;
    uct_md_attr_t           m_md_attr;
    uct_iface_attr_t        m_iface_attr;
    std::vector<uct_ep_h>   m_eps;
    std::vector<error_event> m_errors;
    std::function<void(uct_ep_h, ucs_status_t)> m_error_callback;
    std::map<uint8_t, std::unique_ptr<am_handler_t> > m_am_handlers;
};


/* Parameters of an ep from 'iface' to the iface of 'peer', skipping the
 * first 'skip' bytes of its iface address; owns the addresses it points to */
struct iface_ep_params {
    std::vector<uint8_t> dev_addr;
    std::vector<uint8_t> iface_addr;
    uct_ep_params_t      params;

    iface_ep_params(uct_iface_h iface, const entity &peer, size_t skip = 0);

    iface_ep_params(const iface_ep_params&) = delete;
    iface_ep_params &operator=(const iface_ep_params&) = delete;
};


/*
 * Memory a peer can access remotely: registered with the MD when it can
 * register, allocated through the iface when it can only allocate (shared
 * memory transports), plain memory otherwise.
 */
class mapped_buffer {
public:
    mapped_buffer(entity &owner, size_t size);
    ~mapped_buffer();

    uint8_t *ptr() const { return m_ptr; }
    size_t size() const { return m_size; }
    uint64_t addr() const { return (uintptr_t)m_ptr; }
    uct_mem_h memh() const { return m_memh; }

    /* Packed remote key, empty when the MD has no rkey */
    const std::vector<uint8_t> &packed_rkey() const { return m_rkey_buf; }

    void fill(const std::vector<uint8_t> &data, size_t offset = 0);
    std::vector<uint8_t> read(size_t offset, size_t length) const;

private:
    void release();

    entity                 &m_owner;
    size_t                 m_size;
    uint8_t                *m_ptr;
    uct_mem_h              m_memh;
    bool                   m_allocated; /* through uct_iface_mem_alloc */
    uct_allocated_memory_t m_mem;
    std::vector<uint8_t>   m_rkey_buf;
};


/* A remote key unpacked on the component of the accessing side */
class remote_key {
public:
    remote_key(const entity &user, const mapped_buffer &target);
    ~remote_key();
    uct_rkey_t rkey() const { return m_bundle.rkey; }

private:
    uct_component_h   m_component;
    uct_rkey_bundle_t m_bundle;
    bool              m_unpacked;
};


/* Completion counter that tests can wait on */
struct test_completion {
    uct_completion_t uct;
    int              done;
    ucs_status_t     status;

    test_completion();
    void expect(unsigned ops); /* reset for this many operations */
    static void callback(uct_completion_t *self);
};


enum connect_mode {
    CONNECT_TO_IFACE,
    CONNECT_TO_EP
};

std::ostream &operator<<(std::ostream &os, connect_mode mode);

typedef std::tuple<resource, connect_mode> p2p_param;

std::string p2p_param_name(const testing::TestParamInfo<p2p_param> &info);
std::string resource_param_name(const testing::TestParamInfo<resource> &info);


/*
 * Base of the point-to-point tests: a sender and a receiver entity on the
 * parameter's resource, connected the way the parameter says. The connection
 * is proven working (a wire-up message received) before a test body runs, so
 * every test measures the steady state, not the connection set-up.
 */
class uct_p2p_test : public testing::TestWithParam<p2p_param> {
protected:
    static constexpr uint8_t WIREUP_AM_ID = 0;
    static constexpr uint8_t TEST_AM_ID   = 1;

    void SetUp() override;
    void TearDown() override;

    /* Entity options for the next create_entity() (before SetUp ends) */
    virtual entity::options entity_options() const;

    const resource &res() const { return std::get<0>(GetParam()); }
    connect_mode mode() const { return std::get<1>(GetParam()); }

    entity &sender() const { return *m_entities.at(0); }
    entity &receiver() const { return *m_entities.at(1); }

    /* Creates one more entity (e.g. a second sender) */
    entity &create_entity();

    /* Connects 'from' to 'to' the parameter's way, returns from's ep */
    uct_ep_h connect(entity &from, entity &to);

    /* Closes and forgets an entity (e.g. to simulate a dead peer) */
    void destroy_entity(entity &e);

    /* Progresses all entities once */
    unsigned progress();

    /* Progresses until cond() holds; fails the test if it never does */
    bool wait_for(const std::function<bool()> &cond, const std::string &what);
    bool wait_for(const std::function<bool()> &cond, const std::string &what,
                  const std::function<unsigned()> &progress_fn);

    /* Repeats op while it reports UCS_ERR_NO_RESOURCE, progressing between */
    ucs_status_t retry(const std::function<ucs_status_t()> &op);

    /* Sends with the AM flavors; 'msg' is exactly what the handler sees */
    ucs_status_t send_am_short(uct_ep_h ep, uint8_t id,
                               const std::vector<uint8_t> &msg);
    ucs_status_t send_am_short_iov(uct_ep_h ep, uint8_t id,
                                   const std::vector<uint8_t> &msg);
    ucs_status_t send_am_bcopy(uct_ep_h ep, uint8_t id,
                               const std::vector<uint8_t> &msg);
    ucs_status_t send_am_zcopy(uct_ep_h ep, uint8_t id,
                               const std::vector<uint8_t> &msg);

    /* Flushes and waits; asserts success */
    void flush_ep(entity &e, uct_ep_h ep);
    void flush_iface(entity &e);

    /* Waits for a completion, fails the test on error status */
    void wait_completion(test_completion &comp, const std::string &what);

    /* The entity whose iface an endpoint from connect() belongs to */
    entity &ep_owner(uct_ep_h ep);

private:
    std::vector<std::unique_ptr<entity> > m_entities;
    std::map<uct_ep_h, entity*>           m_ep_owner;
};

} // namespace rsagg_test

/* Runs a uct_p2p_test fixture on every resource, connected both ways */
#define RSAGG_INSTANTIATE_P2P(_fixture) \
    INSTANTIATE_TEST_SUITE_P( \
            uct, _fixture, \
            testing::Combine( \
                    testing::ValuesIn(rsagg_test::test_resources()), \
                    testing::Values(rsagg_test::CONNECT_TO_IFACE, \
                                    rsagg_test::CONNECT_TO_EP)), \
            rsagg_test::p2p_param_name)

#define RSAGG_REQUIRE_CAP(_e, _flags) \
    do { \
        if (!(_e).has_cap(_flags)) { \
            GTEST_SKIP() << "transport lacks " #_flags; \
        } \
    } while (0)

#endif
