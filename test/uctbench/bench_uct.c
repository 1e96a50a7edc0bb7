/**
 * rsagg_bench: the UCT objects of one side (sender or receiver) for one
 * case: async context, worker, memory domain, interface with the checking
 * AM handler, its address, eps to the peer's interface.
 */

#include "rsagg_bench.h"

#include <stdlib.h>
#include <string.h>


static ucs_status_t bench_err_handler(void *arg, uct_ep_h ep,
                                      ucs_status_t status)
{
    bench_uct_t *u = arg;

    if (!u->teardown && (u->ep_error == UCS_OK)) {
        u->ep_error = status;
    }
    return UCS_OK;
}

static ucs_status_t bench_md_open(const char *md_name, uct_md_h *md_p)
{
    uct_component_h *components;
    uct_component_attr_t attr;
    unsigned i, j, num_components;
    uct_md_config_t *config;
    ucs_status_t status;

    status = uct_query_components(&components, &num_components);
    if (status != UCS_OK) {
        return status;
    }

    status = UCS_ERR_NO_ELEM;
    for (i = 0; (i < num_components) && (status == UCS_ERR_NO_ELEM); ++i) {
        attr.field_mask = UCT_COMPONENT_ATTR_FIELD_MD_RESOURCE_COUNT;
        if ((uct_component_query(components[i], &attr) != UCS_OK) ||
            (attr.md_resource_count == 0)) {
            continue;
        }

        attr.field_mask   = UCT_COMPONENT_ATTR_FIELD_MD_RESOURCES;
        attr.md_resources = calloc(attr.md_resource_count,
                                   sizeof(*attr.md_resources));
        if (attr.md_resources == NULL) {
            status = UCS_ERR_NO_MEMORY;
            break;
        }

        if (uct_component_query(components[i], &attr) == UCS_OK) {
            for (j = 0; j < attr.md_resource_count; ++j) {
                if (strcmp(attr.md_resources[j].md_name, md_name)) {
                    continue;
                }
                status = uct_md_config_read(components[i], NULL, NULL,
                                            &config);
                if (status == UCS_OK) {
                    status = uct_md_open(components[i], md_name, config,
                                         md_p);
                    uct_config_release(config);
                }
                break;
            }
        }
        free(attr.md_resources);
    }

    uct_release_component_list(components);
    return status;
}

static int bench_md_has_tl(uct_md_h md, const char *tl_name,
                           const char *dev_name)
{
    uct_tl_resource_desc_t *resources;
    unsigned i, num_resources;
    int found = 0;

    if (uct_md_query_tl_resources(md, &resources, &num_resources) != UCS_OK) {
        return 0;
    }

    for (i = 0; i < num_resources; ++i) {
        if (!strcmp(resources[i].tl_name, tl_name) &&
            !strcmp(resources[i].dev_name, dev_name)) {
            found = 1;
        }
    }
    uct_release_tl_resource_list(resources);
    return found;
}

void bench_uct_close(bench_uct_t *u)
{
    if (u->iface != NULL) {
        uct_iface_close(u->iface);
    }
    if (u->md != NULL) {
        uct_md_close(u->md);
    }
    if (u->worker != NULL) {
        uct_worker_destroy(u->worker);
    }
    if (u->async != NULL) {
        ucs_async_context_destroy(u->async);
    }
    free(u->rx.next);
    memset(u, 0, sizeof(*u));
}

/* Async context, worker and memory domain, which must have tl_name on
 * dev_name */
static ucs_status_t bench_uct_open_md(bench_uct_t *u, const char *md_name,
                                      const char *tl_name,
                                      const char *dev_name, int *skipped_p,
                                      char *reason)
{
    ucs_status_t status;

    status = ucs_async_context_create(UCS_ASYNC_MODE_THREAD_SPINLOCK,
                                      &u->async);
    if (status != UCS_OK) {
        bench_set_reason(reason, "async context: %s",
                         ucs_status_string(status));
        return status;
    }

    status = uct_worker_create(u->async, UCS_THREAD_MODE_SINGLE, &u->worker);
    if (status != UCS_OK) {
        bench_set_reason(reason, "uct worker: %s", ucs_status_string(status));
        return status;
    }

    status = bench_md_open(md_name, &u->md);
    if (status == UCS_ERR_NO_ELEM) {
        *skipped_p = 1;
        bench_set_reason(reason, "no memory domain %s%s", md_name,
                         strncmp(md_name, "rsagg_", 6) ? "" :
                         " (rsagg module not loaded, or inner not in "
                         "UCX_RSAGG_TL)");
        return status;
    } else if (status != UCS_OK) {
        bench_set_reason(reason, "open memory domain %s: %s", md_name,
                         ucs_status_string(status));
        return status;
    }

    if (!bench_md_has_tl(u->md, tl_name, dev_name)) {
        *skipped_p = 1;
        bench_set_reason(reason, "no %s/%s on memory domain %s", tl_name,
                         dev_name, md_name);
        return UCS_ERR_NO_DEVICE;
    }
    return UCS_OK;
}

/* The interface of tl_name on dev_name, and its attributes */
static ucs_status_t bench_uct_open_iface(bench_uct_t *u, const char *md_name,
                                         const char *tl_name,
                                         const char *dev_name, char *reason)
{
    uct_iface_config_t *config;
    uct_iface_params_t params;
    ucs_status_t status;

    status = uct_md_iface_config_read(u->md, tl_name, NULL, NULL, &config);
    if (status != UCS_OK) {
        bench_set_reason(reason, "%s configuration: %s", tl_name,
                         ucs_status_string(status));
        return status;
    }

    memset(&params, 0, sizeof(params));
    params.field_mask           = UCT_IFACE_PARAM_FIELD_OPEN_MODE |
                                  UCT_IFACE_PARAM_FIELD_DEVICE |
                                  UCT_IFACE_PARAM_FIELD_STATS_ROOT |
                                  UCT_IFACE_PARAM_FIELD_RX_HEADROOM |
                                  UCT_IFACE_PARAM_FIELD_ERR_HANDLER |
                                  UCT_IFACE_PARAM_FIELD_ERR_HANDLER_ARG |
                                  UCT_IFACE_PARAM_FIELD_ERR_HANDLER_FLAGS;
    params.open_mode            = UCT_IFACE_OPEN_MODE_DEVICE;
    params.mode.device.tl_name  = tl_name;
    params.mode.device.dev_name = dev_name;
    params.stats_root           = NULL;
    params.rx_headroom          = 0;
    params.err_handler          = bench_err_handler;
    params.err_handler_arg      = u;
    params.err_handler_flags    = 0;

    status = uct_iface_open(u->md, u->worker, &params, config, &u->iface);
    uct_config_release(config);
    if (status != UCS_OK) {
        bench_set_reason(reason, "open %s/%s on %s: %s", tl_name, dev_name,
                         md_name, ucs_status_string(status));
        return status;
    }

    status = uct_iface_query(u->iface, &u->attr);
    if (status != UCS_OK) {
        bench_set_reason(reason, "query %s: %s", tl_name,
                         ucs_status_string(status));
    }
    return status;
}

/* The interface must connect to an interface, with an address that fits
 * bench_addr_t; then it gets the checking AM handler */
static ucs_status_t bench_uct_prepare_iface(bench_uct_t *u,
                                            const char *md_name,
                                            const char *tl_name,
                                            int *skipped_p, char *reason)
{
    ucs_status_t status;

    if (!(u->attr.cap.flags & UCT_IFACE_FLAG_CONNECT_TO_IFACE)) {
        *skipped_p = 1;
        bench_set_reason(reason, "%s on %s cannot connect to an interface",
                         tl_name, md_name);
        return UCS_ERR_UNSUPPORTED;
    }

    if ((u->attr.device_addr_len + u->attr.iface_addr_len) > BENCH_ADDR_MAX) {
        bench_set_reason(reason, "%s address of %zu bytes is too long",
                         tl_name,
                         u->attr.device_addr_len + u->attr.iface_addr_len);
        return UCS_ERR_EXCEEDS_LIMIT;
    }

    status = uct_iface_set_am_handler(u->iface, BENCH_AM_ID, bench_am_cb,
                                      &u->rx, 0);
    if (status != UCS_OK) {
        bench_set_reason(reason, "set am handler on %s: %s", tl_name,
                         ucs_status_string(status));
    }
    return status;
}

/* Opens md/tl/dev with a checking AM handler. On failure, *skipped_p tells
 * whether the resource does not exist here (as opposed to an error). */
ucs_status_t bench_uct_open(bench_uct_t *u, const char *md_name,
                            const char *tl_name, const char *dev_name,
                            unsigned size, unsigned num_eps,
                            int *skipped_p, char *reason)
{
    ucs_status_t status;

    memset(u, 0, sizeof(*u));
    *skipped_p = 0;

    if (bench_rx_init(&u->rx, size, num_eps) != 0) {
        bench_set_reason(reason, "out of memory");
        return UCS_ERR_NO_MEMORY;
    }

    status = bench_uct_open_md(u, md_name, tl_name, dev_name, skipped_p,
                               reason);
    if (status == UCS_OK) {
        status = bench_uct_open_iface(u, md_name, tl_name, dev_name, reason);
    }
    if (status == UCS_OK) {
        status = bench_uct_prepare_iface(u, md_name, tl_name, skipped_p,
                                         reason);
    }
    if (status != UCS_OK) {
        bench_uct_close(u);
        return status;
    }

    uct_iface_progress_enable(u->iface,
                              UCT_PROGRESS_SEND | UCT_PROGRESS_RECV);
    return UCS_OK;
}

ucs_status_t bench_uct_addr(bench_uct_t *u, bench_addr_t *addr)
{
    ucs_status_t status;

    memset(addr, 0, sizeof(*addr));
    addr->dev_addr_len   = u->attr.device_addr_len;
    addr->iface_addr_len = u->attr.iface_addr_len;
    status = uct_iface_get_device_address(u->iface,
                                          (uct_device_addr_t*)addr->data);
    if (status != UCS_OK) {
        return status;
    }
    return uct_iface_get_address(u->iface,
                                 (uct_iface_addr_t*)(addr->data +
                                                     addr->dev_addr_len));
}

ucs_status_t bench_ep_create(bench_uct_t *u, const bench_addr_t *addr,
                             uct_ep_h *ep_p)
{
    const uct_device_addr_t *dev_addr = (const void*)addr->data;
    const uct_iface_addr_t *iface_addr =
            (const void*)(addr->data + addr->dev_addr_len);
    uct_ep_params_t params;

    if ((addr->dev_addr_len != u->attr.device_addr_len) ||
        (addr->iface_addr_len != u->attr.iface_addr_len) ||
        !uct_iface_is_reachable(u->iface, dev_addr, iface_addr)) {
        return UCS_ERR_UNREACHABLE;
    }

    params.field_mask = UCT_EP_PARAM_FIELD_IFACE |
                        UCT_EP_PARAM_FIELD_DEV_ADDR |
                        UCT_EP_PARAM_FIELD_IFACE_ADDR;
    params.iface      = u->iface;
    params.dev_addr   = dev_addr;
    params.iface_addr = iface_addr;
    return uct_ep_create(&params, ep_p);
}
