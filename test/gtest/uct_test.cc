/*
 * Test infrastructure for the rsagg gtest suite, see uct_test.h.
 */

#include "uct_test.h"

#include <ucs/async/async_fwd.h>

#include <dlfcn.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <stdexcept>

namespace rsagg_test {

const char *const RSAGG_TL_NAME        = "rsagg";
const char *const RSAGG_COMPONENT_NAME = "rsagg";

namespace {

const char *const NOT_LOADED_REASON =
        "rsagg module not loaded (run under LD_PRELOAD=libuct_rsagg.so or "
        "set RSAGG_MODULE)";
const char *const NO_RDMA_REASON    = "no RDMA device";

double now_sec()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

std::string sanitize(const std::string &name)
{
    std::string out(name);
    for (size_t i = 0; i < out.size(); ++i) {
        if (!isalnum((unsigned char)out[i])) {
            out[i] = '_';
        }
    }
    return out;
}

void throw_status(const std::string &what, ucs_status_t status)
{
    throw std::runtime_error(what + " failed: " + status_str(status));
}

resource make_resource(const std::string &component, const tl_triple &tl)
{
    resource res;
    res.component = component;
    res.md_name   = tl.md_name;
    res.tl_name   = tl.tl_name;
    res.dev_name  = tl.dev_name;
    res.required  = false;
    /* rsagg resources are named by their MD, which names the inner MD */
    res.label     = sanitize((tl.tl_name == RSAGG_TL_NAME) ?
                             (tl.md_name + "_" + tl.dev_name) :
                             (tl.tl_name + "_" + tl.dev_name));
    return res;
}

resource make_placeholder(const std::string &component,
                          const std::string &md_name,
                          const std::string &tl_name,
                          const std::string &dev_name,
                          const std::string &label, const std::string &reason,
                          bool required)
{
    resource res;
    res.component     = component;
    res.md_name       = md_name;
    res.tl_name       = tl_name;
    res.dev_name      = dev_name;
    res.label         = label;
    res.absent_reason = reason;
    res.required      = required;
    return res;
}

bool is_rdma_tl(const std::string &tl_name)
{
    return (tl_name == "rc_verbs") || (tl_name == "rc_mlx5");
}

bool is_tcp_md(const std::string &md_name)
{
    return (md_name == "tcp") || (md_name == "rsagg_tcp");
}

/*
 * Which resources the suite runs on:
 * - stock tcp on the loopback device only (traffic stays on this host),
 *   posix and sysv on "memory", rc_verbs and rc_mlx5 on any device;
 * - every rsagg resource, again tcp-based ones on loopback only;
 * - placeholders, so that absent resources are reported as skipped (or
 *   failed, when they must exist) instead of silently not tested.
 */
bool selected(const tl_triple &tl)
{
    if (is_tcp_md(tl.md_name) && (tl.dev_name != "lo")) {
        return false;
    }

    return (tl.tl_name == RSAGG_TL_NAME) || (tl.tl_name == "tcp") ||
           (tl.tl_name == "posix") || (tl.tl_name == "sysv") ||
           is_rdma_tl(tl.tl_name);
}

std::vector<resource> enumerate_resources()
{
    std::vector<resource> result;
    uct_component_h *components;
    unsigned num_components;
    std::set<std::string> labels;

    load_rsagg_module();

    ucs_status_t status = uct_query_components(&components, &num_components);
    if (status != UCS_OK) {
        /* Reported by the resource tests; nothing to parameterize on */
        return result;
    }

    for (unsigned i = 0; i < num_components; ++i) {
        uct_component_attr_t attr;
        attr.field_mask = UCT_COMPONENT_ATTR_FIELD_NAME;
        if (uct_component_query(components[i], &attr) != UCS_OK) {
            continue;
        }

        std::vector<tl_triple> tls;
        if (query_component_tls(components[i], &tls) != UCS_OK) {
            continue;
        }

        for (size_t j = 0; j < tls.size(); ++j) {
            if (selected(tls[j])) {
                result.push_back(make_resource(attr.name, tls[j]));
            }
        }
    }
    uct_release_component_list(components);

    std::set<std::pair<std::string, std::string> > have;
    bool have_rdma = false;
    for (size_t i = 0; i < result.size(); ++i) {
        have.insert(std::make_pair(result[i].md_name, result[i].dev_name));
        have_rdma = have_rdma || is_rdma_tl(result[i].tl_name);
        labels.insert(result[i].label);
    }

    if (!have_rdma) {
        result.push_back(make_placeholder("ib", "", "rc_verbs", "",
                                          "rc_verbs_no_rdma", NO_RDMA_REASON,
                                          false));
        result.push_back(make_placeholder("ib", "", "rc_mlx5", "",
                                          "rc_mlx5_no_rdma", NO_RDMA_REASON,
                                          false));
        result.push_back(make_placeholder(RSAGG_COMPONENT_NAME, "",
                                          RSAGG_TL_NAME, "",
                                          "rsagg_rc_verbs_no_rdma",
                                          NO_RDMA_REASON, false));
        result.push_back(make_placeholder(RSAGG_COMPONENT_NAME, "",
                                          RSAGG_TL_NAME, "",
                                          "rsagg_rc_mlx5_no_rdma",
                                          NO_RDMA_REASON, false));
    }

    /* The rsagg resources the design promises for the stock inner
     * transports of this machine */
    static const char *expected[][2] = {
        {"tcp", "lo"}, {"posix", "memory"}, {"sysv", "memory"}
    };
    bool loaded = rsagg_component_loaded();
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); ++i) {
        std::string inner_md = expected[i][0];
        std::string dev      = expected[i][1];
        std::string md       = std::string("rsagg_") + inner_md;
        std::string label    = sanitize(md + "_" + dev);

        if (have.count(std::make_pair(md, dev))) {
            continue;
        }

        if (!loaded) {
            result.push_back(make_placeholder(RSAGG_COMPONENT_NAME, md,
                                              RSAGG_TL_NAME, dev, label,
                                              NOT_LOADED_REASON,
                                              rsagg_required()));
        } else if (have.count(std::make_pair(inner_md, dev))) {
            /* A user-narrowed UCX_RSAGG_TL legitimately removes it */
            bool narrowed = (getenv("UCX_RSAGG_TL") != NULL);
            result.push_back(make_placeholder(
                    RSAGG_COMPONENT_NAME, md, RSAGG_TL_NAME, dev, label,
                    "rsagg resource " + md + "/" + dev + " missing although "
                    "its inner transport exists" +
                    (narrowed ? " (UCX_RSAGG_TL is set)" : ""),
                    !narrowed));
        }
    }

    return result;
}

} // namespace


bool resource::is_rsagg() const
{
    return tl_name == RSAGG_TL_NAME;
}

std::ostream &operator<<(std::ostream &os, const resource &res)
{
    os << res.component << "/" << res.md_name << "/" << res.tl_name << "/"
       << res.dev_name;
    if (!res.present()) {
        os << " (absent: " << res.absent_reason << ")";
    }
    return os;
}

void load_rsagg_module()
{
    static bool done = false;
    if (done) {
        return;
    }
    done = true;

    const char *path = getenv("RSAGG_MODULE");
    if ((path == NULL) || (*path == '\0')) {
        return;
    }

    /* Never closed: UCT keeps pointers into the module's component */
    if (dlopen(path, RTLD_NOW | RTLD_GLOBAL) == NULL) {
        fprintf(stderr, "rsagg_gtest: cannot load RSAGG_MODULE=%s: %s\n", path,
                dlerror());
        exit(1);
    }
}

bool rsagg_required()
{
    const char *value = getenv("RSAGG_REQUIRE");
    return (value != NULL) && !strcmp(value, "1");
}

uct_component_h find_component(const std::string &name)
{
    uct_component_h *components;
    unsigned num_components;
    uct_component_h found = NULL;

    if (uct_query_components(&components, &num_components) != UCS_OK) {
        return NULL;
    }

    for (unsigned i = 0; i < num_components; ++i) {
        uct_component_attr_t attr;
        attr.field_mask = UCT_COMPONENT_ATTR_FIELD_NAME;
        if ((uct_component_query(components[i], &attr) == UCS_OK) &&
            (name == attr.name)) {
            found = components[i];
        }
    }

    /* Component handles stay valid, only the array is released */
    uct_release_component_list(components);
    return found;
}

bool rsagg_component_loaded()
{
    return find_component(RSAGG_COMPONENT_NAME) != NULL;
}

ucs_status_t query_component_tls(uct_component_h component,
                                 std::vector<tl_triple> *tls_p)
{
    uct_component_attr_t attr;
    ucs_status_t status;

    attr.field_mask = UCT_COMPONENT_ATTR_FIELD_MD_RESOURCE_COUNT;
    status          = uct_component_query(component, &attr);
    if (status != UCS_OK) {
        return status;
    }

    std::vector<uct_md_resource_desc_t> mds(attr.md_resource_count + 1);
    attr.field_mask   = UCT_COMPONENT_ATTR_FIELD_MD_RESOURCES;
    attr.md_resources = &mds[0];
    status            = uct_component_query(component, &attr);
    if (status != UCS_OK) {
        return status;
    }

    tls_p->clear();
    for (unsigned i = 0; i < attr.md_resource_count; ++i) {
        uct_md_config_t *md_config;
        uct_md_h md;

        status = uct_md_config_read(component, NULL, NULL, &md_config);
        if (status != UCS_OK) {
            return status;
        }

        status = uct_md_open(component, mds[i].md_name, md_config, &md);
        uct_config_release(md_config);
        if (status != UCS_OK) {
            return status;
        }

        uct_tl_resource_desc_t *tl_resources;
        unsigned num_tl_resources;
        status = uct_md_query_tl_resources(md, &tl_resources,
                                           &num_tl_resources);
        if (status != UCS_OK) {
            uct_md_close(md);
            return status;
        }

        for (unsigned j = 0; j < num_tl_resources; ++j) {
            tl_triple tl;
            tl.md_name  = mds[i].md_name;
            tl.tl_name  = tl_resources[j].tl_name;
            tl.dev_name = tl_resources[j].dev_name;
            tls_p->push_back(tl);
        }

        uct_release_tl_resource_list(tl_resources);
        uct_md_close(md);
    }

    return UCS_OK;
}

const std::vector<resource> &test_resources()
{
    static std::vector<resource> resources = enumerate_resources();
    return resources;
}

std::vector<resource> rsagg_resources()
{
    std::vector<resource> result;
    const std::vector<resource> &all = test_resources();
    for (size_t i = 0; i < all.size(); ++i) {
        if (all[i].is_rsagg()) {
            result.push_back(all[i]);
        }
    }
    return result;
}


scoped_env::scoped_env(const std::string &name, const std::string &value) :
    m_name(name)
{
    const char *old = getenv(name.c_str());
    m_had_value     = (old != NULL);
    if (m_had_value) {
        m_old_value = old;
    }
    setenv(name.c_str(), value.c_str(), 1);
}

scoped_env::~scoped_env()
{
    if (m_had_value) {
        setenv(m_name.c_str(), m_old_value.c_str(), 1);
    } else {
        unsetenv(m_name.c_str());
    }
}


std::vector<size_t> sample_sizes(size_t min_size, size_t max_size)
{
    std::set<size_t> sizes;
    size_t candidates[] = {0, 1, 7, 8, 9, min_size, min_size + 1,
                           (min_size + max_size) / 2, max_size - 1, max_size};

    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); ++i) {
        sizes.insert(candidates[i]);
    }

    /* Powers of two and neighbours: where batching thresholds tend to be */
    for (size_t pow2 = 16; (pow2 <= max_size) && (pow2 != 0); pow2 *= 4) {
        sizes.insert(pow2 - 1);
        sizes.insert(pow2);
        sizes.insert(pow2 + 1);
    }

    std::vector<size_t> result;
    for (std::set<size_t>::iterator it = sizes.begin(); it != sizes.end();
         ++it) {
        if ((*it >= min_size) && (*it <= max_size)) {
            result.push_back(*it);
        }
    }
    return result;
}

std::vector<uint8_t> make_pattern(size_t size, unsigned seed)
{
    std::vector<uint8_t> data(size);
    uint32_t x = seed * 2654435761u + 12345;
    for (size_t i = 0; i < size; ++i) {
        x       = x * 1103515245u + 12345;
        data[i] = (uint8_t)(x >> 16);
    }
    return data;
}

ssize_t first_difference(const std::vector<uint8_t> &a,
                         const std::vector<uint8_t> &b)
{
    size_t n = std::min(a.size(), b.size());
    for (size_t i = 0; i < n; ++i) {
        if (a[i] != b[i]) {
            return i;
        }
    }
    return (a.size() == b.size()) ? -1 : (ssize_t)n;
}

std::string status_str(ucs_status_t status)
{
    std::ostringstream os;
    os << ucs_status_string(status) << " (" << (int)status << ")";
    return os.str();
}

double wait_timeout_sec()
{
    const char *value = getenv("RSAGG_GTEST_TIMEOUT");
    if (value != NULL) {
        return atof(value);
    }
    return 20.0;
}

bool wait_until(const std::function<bool()> &cond,
                const std::function<void()> &progress,
                const std::string &what)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double deadline = ts.tv_sec + ts.tv_nsec * 1e-9 + wait_timeout_sec();

    while (!cond()) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (ts.tv_sec + ts.tv_nsec * 1e-9 > deadline) {
            ADD_FAILURE() << "timed out waiting for " << what;
            return false;
        }
        progress();
    }
    return true;
}


entity::entity(const resource &res, const options &opts) :
    m_res(res), m_opts(opts), m_async(NULL), m_worker(NULL),
    m_component(NULL), m_md(NULL), m_iface(NULL)
{
    ucs_status_t status;

    try {
        status = ucs_async_context_create(UCS_ASYNC_MODE_THREAD_SPINLOCK,
                                          &m_async);
        if (status != UCS_OK) {
            throw_status("ucs_async_context_create", status);
        }

        status = uct_worker_create(m_async, UCS_THREAD_MODE_SINGLE,
                                   &m_worker);
        if (status != UCS_OK) {
            throw_status("uct_worker_create", status);
        }

        m_component = find_component(res.component);
        if (m_component == NULL) {
            throw std::runtime_error("component " + res.component +
                                     " not found");
        }

        uct_md_config_t *md_config;
        status = uct_md_config_read(m_component, NULL, NULL, &md_config);
        if (status != UCS_OK) {
            throw_status("uct_md_config_read(" + res.component + ")", status);
        }

        status = uct_md_open(m_component, res.md_name.c_str(), md_config,
                             &m_md);
        uct_config_release(md_config);
        if (status != UCS_OK) {
            throw_status("uct_md_open(" + res.md_name + ")", status);
        }

        status = uct_md_query(m_md, &m_md_attr);
        if (status != UCS_OK) {
            throw_status("uct_md_query(" + res.md_name + ")", status);
        }

        uct_iface_config_t *iface_config;
        status = uct_md_iface_config_read(m_md, res.tl_name.c_str(), NULL,
                                          NULL, &iface_config);
        if (status != UCS_OK) {
            throw_status("uct_md_iface_config_read(" + res.tl_name + ")",
                         status);
        }

        uct_iface_params_t params;
        memset(&params, 0, sizeof(params));
        params.field_mask           = UCT_IFACE_PARAM_FIELD_OPEN_MODE |
                                      UCT_IFACE_PARAM_FIELD_DEVICE |
                                      UCT_IFACE_PARAM_FIELD_STATS_ROOT |
                                      UCT_IFACE_PARAM_FIELD_RX_HEADROOM |
                                      UCT_IFACE_PARAM_FIELD_CPU_MASK;
        params.open_mode            = UCT_IFACE_OPEN_MODE_DEVICE;
        params.mode.device.tl_name  = res.tl_name.c_str();
        params.mode.device.dev_name = res.dev_name.c_str();
        params.stats_root           = NULL;
        params.rx_headroom          = opts.rx_headroom;
        UCS_CPU_ZERO(&params.cpu_mask);
        if (opts.err_handler) {
            params.field_mask       |= UCT_IFACE_PARAM_FIELD_ERR_HANDLER |
                                       UCT_IFACE_PARAM_FIELD_ERR_HANDLER_ARG |
                                       UCT_IFACE_PARAM_FIELD_ERR_HANDLER_FLAGS;
            params.err_handler       = error_handler;
            params.err_handler_arg   = this;
            params.err_handler_flags = 0; /* from progress only */
        }

        status = uct_iface_open(m_md, m_worker, &params, iface_config,
                                &m_iface);
        uct_config_release(iface_config);
        if (status != UCS_OK) {
            m_iface = NULL;
            throw_status("uct_iface_open(" + res.tl_name + "/" +
                         res.dev_name + ")", status);
        }

        status = uct_iface_query(m_iface, &m_iface_attr);
        if (status != UCS_OK) {
            throw_status("uct_iface_query", status);
        }

        uct_iface_progress_enable(m_iface,
                                  UCT_PROGRESS_SEND | UCT_PROGRESS_RECV);
    } catch (...) {
        cleanup();
        throw;
    }
}

entity::~entity()
{
    cleanup();
}

void entity::cleanup()
{
    while (!m_eps.empty()) {
        uct_ep_destroy(m_eps.back());
        m_eps.pop_back();
    }
    if (m_iface != NULL) {
        uct_iface_close(m_iface);
        m_iface = NULL;
    }
    if (m_md != NULL) {
        uct_md_close(m_md);
        m_md = NULL;
    }
    if (m_worker != NULL) {
        uct_worker_destroy(m_worker);
        m_worker = NULL;
    }
    if (m_async != NULL) {
        ucs_async_context_destroy(m_async);
        m_async = NULL;
    }
}

bool entity::has_cap(uint64_t flags) const
{
    return (m_iface_attr.cap.flags & flags) == flags;
}

unsigned entity::progress()
{
    return uct_worker_progress(m_worker);
}

std::vector<uint8_t> entity::iface_address() const
{
    std::vector<uint8_t> addr(m_iface_attr.iface_addr_len);
    if (!addr.empty()) {
        ucs_status_t status = uct_iface_get_address(
                m_iface, (uct_iface_addr_t*)&addr[0]);
        if (status != UCS_OK) {
            throw_status("uct_iface_get_address", status);
        }
    }
    return addr;
}

std::vector<uint8_t> entity::device_address() const
{
    std::vector<uint8_t> addr(m_iface_attr.device_addr_len);
    if (!addr.empty()) {
        ucs_status_t status = uct_iface_get_device_address(
                m_iface, (uct_device_addr_t*)&addr[0]);
        if (status != UCS_OK) {
            throw_status("uct_iface_get_device_address", status);
        }
    }
    return addr;
}

void entity::set_am_handler(uint8_t id, am_handler_t handler)
{
    std::unique_ptr<am_handler_t> &slot = m_am_handlers[id];
    slot.reset(new am_handler_t(handler));

    ucs_status_t status = uct_iface_set_am_handler(m_iface, id, am_trampoline,
                                                   slot.get(), 0);
    if (status != UCS_OK) {
        throw_status("uct_iface_set_am_handler", status);
    }
}

ucs_status_t entity::am_trampoline(void *arg, void *data, size_t length,
                                   unsigned flags)
{
    return (*static_cast<am_handler_t*>(arg))(data, length, flags);
}

ucs_status_t entity::error_handler(void *arg, uct_ep_h ep,
                                   ucs_status_t status)
{
    entity *self = static_cast<entity*>(arg);
    error_event event;
    event.ep     = ep;
    event.status = status;
    self->m_errors.push_back(event);
    if (self->m_error_callback) {
        self->m_error_callback(ep, status);
    }
    return UCS_OK;
}

iface_ep_params::iface_ep_params(uct_iface_h iface, const entity &peer,
                                 size_t skip) :
    dev_addr(peer.device_address()), iface_addr(peer.iface_address())
{
    memset(&params, 0, sizeof(params));
    params.field_mask = UCT_EP_PARAM_FIELD_IFACE |
                        UCT_EP_PARAM_FIELD_DEV_ADDR |
                        UCT_EP_PARAM_FIELD_IFACE_ADDR;
    params.iface      = iface;
    params.dev_addr   = dev_addr.empty() ? NULL :
                        (const uct_device_addr_t*)dev_addr.data();
    params.iface_addr = (iface_addr.size() <= skip) ? NULL :
                        (const uct_iface_addr_t*)(iface_addr.data() + skip);
}

uct_ep_h entity::create_ep_to_iface(const entity &peer)
{
    iface_ep_params p(m_iface, peer);
    uct_ep_h ep;

    ucs_status_t status = uct_ep_create(&p.params, &ep);
    if (status != UCS_OK) {
        throw_status("uct_ep_create(to iface)", status);
    }

    m_eps.push_back(ep);
    return ep;
}

uct_ep_h entity::create_ep_unconnected()
{
    uct_ep_params_t params;
    uct_ep_h ep;

    memset(&params, 0, sizeof(params));
    params.field_mask = UCT_EP_PARAM_FIELD_IFACE;
    params.iface      = m_iface;

    ucs_status_t status = uct_ep_create(&params, &ep);
    if (status != UCS_OK) {
        throw_status("uct_ep_create(unconnected)", status);
    }

    m_eps.push_back(ep);
    return ep;
}

std::vector<uint8_t> entity::ep_address(uct_ep_h ep) const
{
    std::vector<uint8_t> addr(m_iface_attr.ep_addr_len);
    if (!addr.empty()) {
        ucs_status_t status = uct_ep_get_address(ep,
                                                 (uct_ep_addr_t*)&addr[0]);
        if (status != UCS_OK) {
            throw_status("uct_ep_get_address", status);
        }
    }
    return addr;
}

void entity::connect_ep_to_ep(uct_ep_h ep, const entity &peer,
                              uct_ep_h peer_ep)
{
    std::vector<uint8_t> dev_addr = peer.device_address();
    std::vector<uint8_t> ep_addr  = peer.ep_address(peer_ep);

    ucs_status_t status = uct_ep_connect_to_ep(
            ep, dev_addr.empty() ? NULL : (uct_device_addr_t*)&dev_addr[0],
            ep_addr.empty() ? NULL : (uct_ep_addr_t*)&ep_addr[0]);
    if (status != UCS_OK) {
        throw_status("uct_ep_connect_to_ep", status);
    }
}

void entity::destroy_ep(uct_ep_h ep)
{
    std::vector<uct_ep_h>::iterator it = std::find(m_eps.begin(), m_eps.end(),
                                                   ep);
    if (it != m_eps.end()) {
        m_eps.erase(it);
        uct_ep_destroy(ep);
    }
}


mapped_buffer::mapped_buffer(entity &owner, size_t size) :
    m_owner(owner), m_size(size), m_ptr(NULL), m_memh(UCT_MEM_HANDLE_NULL),
    m_allocated(false)
{
    const uct_md_attr_t &md_attr = owner.md_attr();
    size_t alloc_size            = std::max<size_t>(size, 1);
    ucs_status_t status;

    memset(&m_mem, 0, sizeof(m_mem));

    if ((md_attr.cap.flags & UCT_MD_FLAG_REG) &&
        (md_attr.cap.reg_mem_types & UCS_BIT(UCS_MEMORY_TYPE_HOST))) {
        void *ptr;
        if (posix_memalign(&ptr, 64, alloc_size) != 0) {
            throw std::bad_alloc();
        }
        m_ptr  = (uint8_t*)ptr;
        status = uct_md_mem_reg(owner.md(), m_ptr, alloc_size,
                                UCT_MD_MEM_ACCESS_ALL, &m_memh);
        if (status != UCS_OK) {
            free(m_ptr);
            throw_status("uct_md_mem_reg", status);
        }
    } else if (md_attr.cap.flags & UCT_MD_FLAG_ALLOC) {
        status = uct_iface_mem_alloc(owner.iface(), alloc_size,
                                     UCT_MD_MEM_ACCESS_ALL, "rsagg_gtest",
                                     &m_mem);
        if (status != UCS_OK) {
            throw_status("uct_iface_mem_alloc", status);
        }
        m_allocated = true;
        m_ptr       = (uint8_t*)m_mem.address;
        m_memh      = m_mem.memh;
    } else {
        m_ptr = (uint8_t*)malloc(alloc_size);
        if (m_ptr == NULL) {
            throw std::bad_alloc();
        }
    }

    if ((m_memh != UCT_MEM_HANDLE_NULL) && (md_attr.rkey_packed_size > 0)) {
        m_rkey_buf.resize(md_attr.rkey_packed_size);
        status = uct_md_mkey_pack(owner.md(), m_memh, &m_rkey_buf[0]);
        if (status != UCS_OK) {
            release();
            throw_status("uct_md_mkey_pack", status);
        }
    }
}

mapped_buffer::~mapped_buffer()
{
    release();
}

void mapped_buffer::release()
{
    if (m_ptr == NULL) {
        return;
    }

    if (m_allocated) {
        uct_iface_mem_free(&m_mem);
    } else {
        if (m_memh != UCT_MEM_HANDLE_NULL) {
            uct_md_mem_dereg(m_owner.md(), m_memh);
        }
        free(m_ptr);
    }
    m_ptr = NULL;
}

void mapped_buffer::fill(const std::vector<uint8_t> &data, size_t offset)
{
    if (!data.empty()) {
        memcpy(m_ptr + offset, &data[0], data.size());
    }
}

std::vector<uint8_t> mapped_buffer::read(size_t offset, size_t length) const
{
    return std::vector<uint8_t>(m_ptr + offset, m_ptr + offset + length);
}


remote_key::remote_key(const entity &user, const mapped_buffer &target) :
    m_component(user.component()), m_unpacked(false)
{
    memset(&m_bundle, 0, sizeof(m_bundle));
    m_bundle.rkey = UCT_INVALID_RKEY;

    if (target.packed_rkey().empty()) {
        return;
    }

    ucs_status_t status = uct_rkey_unpack(m_component,
                                          &target.packed_rkey()[0],
                                          &m_bundle);
    if (status != UCS_OK) {
        throw_status("uct_rkey_unpack", status);
    }
    m_unpacked = true;
}

remote_key::~remote_key()
{
    if (m_unpacked) {
        uct_rkey_release(m_component, &m_bundle);
    }
}


test_completion::test_completion()
{
    expect(1);
}

void test_completion::expect(unsigned ops)
{
    uct.func   = callback;
    uct.count  = ops;
    uct.status = UCS_OK;
    done       = 0;
    status     = UCS_OK;
}

void test_completion::callback(uct_completion_t *self)
{
    test_completion *comp = reinterpret_cast<test_completion*>(self);
    comp->done   = 1;
    comp->status = self->status;
}


std::ostream &operator<<(std::ostream &os, connect_mode mode)
{
    return os << ((mode == CONNECT_TO_IFACE) ? "connect_to_iface" :
                                               "connect_to_ep");
}

std::string resource_param_name(const testing::TestParamInfo<resource> &info)
{
    return info.param.label;
}

std::string p2p_param_name(const testing::TestParamInfo<p2p_param> &info)
{
    return std::get<0>(info.param).label +
           ((std::get<1>(info.param) == CONNECT_TO_IFACE) ? "_iface" : "_ep");
}


void uct_p2p_test::SetUp()
{
    RSAGG_SKIP_IF_ABSENT(res());

    create_entity();
    create_entity();

    if ((mode() == CONNECT_TO_IFACE) &&
        !sender().has_cap(UCT_IFACE_FLAG_CONNECT_TO_IFACE)) {
        GTEST_SKIP() << "transport cannot connect to an iface";
    }
    if ((mode() == CONNECT_TO_EP) &&
        !sender().has_cap(UCT_IFACE_FLAG_CONNECT_TO_EP)) {
        GTEST_SKIP() << "transport cannot connect to an ep";
    }
}

void uct_p2p_test::TearDown()
{
    /* Endpoints first, so no ep outlives the iface it points to */
    m_ep_owner.clear();
    while (!m_entities.empty()) {
        m_entities.pop_back();
    }
}

entity::options uct_p2p_test::entity_options() const
{
    return entity::options();
}

entity &uct_p2p_test::create_entity()
{
    m_entities.push_back(std::unique_ptr<entity>(new entity(
            res(), entity_options())));
    return *m_entities.back();
}

entity &uct_p2p_test::ep_owner(uct_ep_h ep)
{
    std::map<uct_ep_h, entity*>::iterator it = m_ep_owner.find(ep);
    if (it == m_ep_owner.end()) {
        throw std::runtime_error("endpoint not created by connect()");
    }
    return *it->second;
}

void uct_p2p_test::destroy_entity(entity &e)
{
    for (std::map<uct_ep_h, entity*>::iterator it = m_ep_owner.begin();
         it != m_ep_owner.end();) {
        if (it->second == &e) {
            m_ep_owner.erase(it++);
        } else {
            ++it;
        }
    }

    for (size_t i = 0; i < m_entities.size(); ++i) {
        if (m_entities[i].get() == &e) {
            m_entities.erase(m_entities.begin() + i);
            return;
        }
    }
}

uct_ep_h uct_p2p_test::connect(entity &from, entity &to)
{
    uct_ep_h ep;

    if (mode() == CONNECT_TO_IFACE) {
        ep = from.create_ep_to_iface(to);
    } else {
        ep               = from.create_ep_unconnected();
        uct_ep_h peer_ep = to.create_ep_unconnected();
        from.connect_ep_to_ep(ep, to, peer_ep);
        to.connect_ep_to_ep(peer_ep, from, ep);
        m_ep_owner[peer_ep] = &to;
    }
    m_ep_owner[ep] = &from;

    /* Prove the connection works before the test body uses it */
    size_t received = 0;
    to.set_am_handler(WIREUP_AM_ID, [&received](void*, size_t, unsigned) {
        ++received;
        return UCS_OK;
    });

    std::vector<uint8_t> msg = make_pattern(8, 0);
    ucs_status_t status      = retry([&]() {
        return from.has_cap(UCT_IFACE_FLAG_AM_SHORT) ?
               send_am_short(ep, WIREUP_AM_ID, msg) :
               send_am_bcopy(ep, WIREUP_AM_ID, msg);
    });
    if (status != UCS_OK) {
        throw_status("wire-up message", status);
    }

    if (!wait_for([&]() { return received > 0; }, "wire-up message")) {
        throw std::runtime_error("wire-up message never arrived");
    }

    to.set_am_handler(WIREUP_AM_ID, [](void*, size_t, unsigned) {
        return UCS_OK;
    });
    return ep;
}

unsigned uct_p2p_test::progress()
{
    unsigned count = 0;
    for (size_t i = 0; i < m_entities.size(); ++i) {
        count += m_entities[i]->progress();
    }
    return count;
}

bool uct_p2p_test::wait_for(const std::function<bool()> &cond,
                            const std::string &what)
{
    return wait_for(cond, what, [this]() { return progress(); });
}

bool uct_p2p_test::wait_for(const std::function<bool()> &cond,
                            const std::string &what,
                            const std::function<unsigned()> &progress_fn)
{
    double deadline = now_sec() + wait_timeout_sec();

    while (!cond()) {
        if (now_sec() > deadline) {
            ADD_FAILURE() << "timed out waiting for: " << what;
            return false;
        }
        if (progress_fn() == 0) {
            sched_yield();
        }
    }
    return true;
}

ucs_status_t uct_p2p_test::retry(const std::function<ucs_status_t()> &op)
{
    double deadline = now_sec() + wait_timeout_sec();
    ucs_status_t status;

    while ((status = op()) == UCS_ERR_NO_RESOURCE) {
        if (now_sec() > deadline) {
            ADD_FAILURE() << "operation kept returning UCS_ERR_NO_RESOURCE";
            break;
        }
        if (progress() == 0) {
            sched_yield();
        }
    }
    return status;
}

ucs_status_t uct_p2p_test::send_am_short(uct_ep_h ep, uint8_t id,
                                         const std::vector<uint8_t> &msg)
{
    uint64_t header;

    EXPECT_GE(msg.size(), sizeof(header));
    memcpy(&header, &msg[0], sizeof(header));
    return uct_ep_am_short(ep, id, header, &msg[0] + sizeof(header),
                           msg.size() - sizeof(header));
}

ucs_status_t uct_p2p_test::send_am_short_iov(uct_ep_h ep, uint8_t id,
                                             const std::vector<uint8_t> &msg)
{
    size_t max_iov = std::min<size_t>(ep_owner(ep).attr().cap.am.max_iov, 3);
    uct_iov_t iov[3];
    size_t iovcnt = 0, offset = 0;

    /* Split into up to 3 pieces, to check the pieces are concatenated */
    while ((offset < msg.size()) && (iovcnt < max_iov)) {
        size_t left   = msg.size() - offset;
        size_t length = (iovcnt == max_iov - 1) ? left :
                        std::max<size_t>(left / 2, 1);
        iov[iovcnt].buffer = (void*)&msg[offset];
        iov[iovcnt].length = length;
        iov[iovcnt].memh   = UCT_MEM_HANDLE_NULL;
        iov[iovcnt].stride = 0;
        iov[iovcnt].count  = 1;
        offset            += length;
        ++iovcnt;
    }

    return uct_ep_am_short_iov(ep, id, iov, iovcnt);
}

namespace {

struct pack_arg {
    const std::vector<uint8_t> *msg;
};

size_t pack_message(void *dest, void *arg)
{
    const std::vector<uint8_t> &msg = *static_cast<pack_arg*>(arg)->msg;
    if (!msg.empty()) {
        memcpy(dest, &msg[0], msg.size());
    }
    return msg.size();
}

} // namespace

ucs_status_t uct_p2p_test::send_am_bcopy(uct_ep_h ep, uint8_t id,
                                         const std::vector<uint8_t> &msg)
{
    pack_arg arg = {&msg};
    ssize_t packed = uct_ep_am_bcopy(ep, id, pack_message, &arg, 0);

    if (packed < 0) {
        return (ucs_status_t)packed;
    }

    EXPECT_EQ((ssize_t)msg.size(), packed) << "am_bcopy packed length";
    return UCS_OK;
}

ucs_status_t uct_p2p_test::send_am_zcopy(uct_ep_h ep, uint8_t id,
                                         const std::vector<uint8_t> &msg)
{
    /* Zero-copy data must be in memory the sending MD can access */
    entity &from = ep_owner(ep);
    mapped_buffer buf(from, msg.size());
    buf.fill(msg);

    const uct_iface_attr_t &attr = from.attr();
    size_t header_length = std::min(msg.size() / 2, attr.cap.am.max_hdr);
    size_t max_iov       = std::min<size_t>(attr.cap.am.max_iov, 2);
    uct_iov_t iov[2];
    size_t iovcnt = 0, offset = header_length;

    while ((offset < msg.size()) && (iovcnt < max_iov)) {
        size_t left   = msg.size() - offset;
        size_t length = (iovcnt == max_iov - 1) ? left :
                        std::max<size_t>(left / 2, 1);
        iov[iovcnt].buffer = buf.ptr() + offset;
        iov[iovcnt].length = length;
        iov[iovcnt].memh   = buf.memh();
        iov[iovcnt].stride = 0;
        iov[iovcnt].count  = 1;
        offset            += length;
        ++iovcnt;
    }

    test_completion comp;
    ucs_status_t status = uct_ep_am_zcopy(ep, id, buf.ptr(), header_length,
                                          iov, iovcnt, 0, &comp.uct);
    if (status == UCS_INPROGRESS) {
        /* The buffer is released on return, so wait for local completion */
        wait_completion(comp, "am_zcopy completion");
        status = comp.status;
    }
    return status;
}

void uct_p2p_test::wait_completion(test_completion &comp,
                                   const std::string &what)
{
    wait_for([&comp]() { return comp.done != 0; }, what);
    EXPECT_EQ(UCS_OK, comp.status) << what << ": " << status_str(comp.status);
}

void uct_p2p_test::flush_ep(entity &e, uct_ep_h ep)
{
    test_completion comp;
    ucs_status_t status = retry([&]() {
        return uct_ep_flush(ep, 0, &comp.uct);
    });
    if (status == UCS_INPROGRESS) {
        wait_completion(comp, "ep flush");
    } else {
        EXPECT_EQ(UCS_OK, status) << "uct_ep_flush: " << status_str(status);
    }
}

void uct_p2p_test::flush_iface(entity &e)
{
    /* Transports do not take a completion for iface flush (UCX 1.13 returns
     * UCS_ERR_UNSUPPORTED for one): call again until it reports UCS_OK */
    ucs_status_t status;
    wait_for([&]() {
        status = uct_iface_flush(e.iface(), 0, NULL);
        return (status != UCS_INPROGRESS) && (status != UCS_ERR_NO_RESOURCE);
    }, "iface flush");
    EXPECT_EQ(UCS_OK, status) << "uct_iface_flush: " << status_str(status);
}

} // namespace rsagg_test
