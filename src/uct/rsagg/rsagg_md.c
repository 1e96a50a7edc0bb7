/**
 * rsagg component and memory domain.
 *
 * The component enumerates the MDs of every other loaded component and
 * exposes "rsagg_<inner md>" for each one that offers a transport listed in
 * UCX_RSAGG_TL. Memory registration, allocation and rkeys are the inner MD's;
 * rsagg keeps a record of registered regions because rsagg itself applies the
 * puts it aggregates and must check their targets.
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_md.h"

#include <uct/base/uct_iface.h>

#include <ucs/debug/log.h>
#include <ucs/debug/memtrack_int.h>
#include <ucs/sys/string.h>

#include <string.h>


static ucs_config_field_t uct_rsagg_md_config_table[] = {
    {"", "", NULL,
     ucs_offsetof(uct_rsagg_md_config_t, super),
     UCS_CONFIG_TYPE_TABLE(uct_md_config_table)},

    {"TL", "rc_mlx5,rc_verbs,tcp,posix,sysv",
     "Inner transports that rsagg wraps, in order of preference. rsagg exposes\n"
     "one memory domain \"rsagg_<md>\" per inner memory domain that offers one\n"
     "of them, and one \"rsagg\" resource per device of that memory domain,\n"
     "with the inner device name (so UCX_NET_DEVICES keeps working). For a\n"
     "device that offers several of the listed transports, the first one wins.\n"
     "Transports that connect to a remote interface (tcp, posix, sysv, ud)\n"
     "share one inner connection among all rsagg endpoints to the same peer;\n"
     "rc aggregates per endpoint. A name that no loaded UCX module knows is an\n"
     "error; a known transport without a device here is skipped.",
     ucs_offsetof(uct_rsagg_md_config_t, tls), UCS_CONFIG_TYPE_STRING_ARRAY},

    {NULL}
};


static int uct_rsagg_tl_index(const ucs_config_names_array_t *tls,
                              const char *tl_name)
{
    unsigned i;

    for (i = 0; i < tls->count; ++i) {
        if (!strcmp(tls->names[i], tl_name)) {
            return i;
        }
    }
    return -1;
}

static int uct_rsagg_tl_is_known(const char *tl_name)
{
    uct_component_t *component;
    uct_tl_t *tl;

    ucs_list_for_each(component, &uct_components_list, list) {
        if (component == &uct_rsagg_component) {
            continue;
        }
        ucs_list_for_each(tl, &component->tl_list, list) {
            if (!strcmp(tl->name, tl_name)) {
                return 1;
            }
        }
    }
    return 0;
}

/* Check the configured names once, so a typo is reported with the list of
 * transports the user can choose from instead of silently yielding nothing */
static ucs_status_t
uct_rsagg_md_check_tls(const ucs_config_names_array_t *tls)
{
    char available[512] = "";
    uct_component_t *component;
    ucs_status_t status = UCS_OK;
    unsigned i;
    uct_tl_t *tl;

    for (i = 0; i < tls->count; ++i) {
        if (!strcmp(tls->names[i], UCT_RSAGG_NAME)) {
            ucs_error("UCX_RSAGG_TL: rsagg cannot wrap itself");
            return UCS_ERR_INVALID_PARAM;
        }
        if (!uct_rsagg_tl_is_known(tls->names[i])) {
            status = UCS_ERR_NO_ELEM;
            break;
        }
    }

    if (status == UCS_OK) {
        return UCS_OK;
    }

    ucs_list_for_each(component, &uct_components_list, list) {
        if (component == &uct_rsagg_component) {
            continue;
        }
        ucs_list_for_each(tl, &component->tl_list, list) {
            ucs_snprintf_zero(available + strlen(available),
                              sizeof(available) - strlen(available), "%s%s",
                              (available[0] == '\0') ? "" : ",", tl->name);
        }
    }
    ucs_error("UCX_RSAGG_TL: unknown transport '%s'; available: %s",
              tls->names[i], available);
    return status;
}

/* List the devices of an inner MD that rsagg exposes, each with the most
 * preferred listed transport that the device offers */
static ucs_status_t
uct_rsagg_md_scan(uct_md_h inner_md, const ucs_config_names_array_t *tls,
                  uct_rsagg_md_resource_t **resources_p,
                  unsigned *num_resources_p)
{
    uct_rsagg_md_resource_t *resources, *res;
    uct_tl_resource_desc_t *tl_resources;
    unsigned i, j, num_tl_resources, count;
    ucs_status_t status;
    int pref, best_pref;

    status = uct_md_query_tl_resources(inner_md, &tl_resources,
                                       &num_tl_resources);
    if (status != UCS_OK) {
        return status;
    }

    resources = ucs_calloc(ucs_max(num_tl_resources, 1), sizeof(*resources),
                           "rsagg_md_resources");
    if (resources == NULL) {
        uct_release_tl_resource_list(tl_resources);
        return UCS_ERR_NO_MEMORY;
    }

    count = 0;
    for (i = 0; i < num_tl_resources; ++i) {
        pref = uct_rsagg_tl_index(tls, tl_resources[i].tl_name);
        if (pref < 0) {
            continue;
        }

        for (j = 0, res = NULL; j < count; ++j) {
            if (!strcmp(resources[j].dev_name, tl_resources[i].dev_name)) {
                res = &resources[j];
                break;
            }
        }

        if (res == NULL) {
            res = &resources[count++];
        } else {
            best_pref = uct_rsagg_tl_index(tls, res->tl_name);
            if (best_pref <= pref) {
                continue;
            }
        }

        ucs_strncpy_zero(res->tl_name, tl_resources[i].tl_name,
                         sizeof(res->tl_name));
        ucs_strncpy_zero(res->dev_name, tl_resources[i].dev_name,
                         sizeof(res->dev_name));
        res->dev_type   = tl_resources[i].dev_type;
        res->sys_device = tl_resources[i].sys_device;
    }

    uct_release_tl_resource_list(tl_resources);
    *resources_p     = resources;
    *num_resources_p = count;
    return UCS_OK;
}

static ucs_status_t
uct_rsagg_md_open_inner(uct_component_h component, const char *md_name,
                        uct_md_h *md_p)
{
    uct_md_config_t *config;
    ucs_status_t status;

    status = uct_md_config_read(component, NULL, NULL, &config);
    if (status != UCS_OK) {
        return status;
    }

    status = uct_md_open(component, md_name, config, md_p);
    uct_config_release(config);
    return status;
}

/* Calls cb for every MD of every inner component; stops on non-OK */
typedef ucs_status_t (*uct_rsagg_md_iter_cb_t)(uct_component_h component,
                                               const char *md_name, void *arg);

static ucs_status_t uct_rsagg_md_foreach_inner(uct_rsagg_md_iter_cb_t cb,
                                               void *arg)
{
    uct_component_h *components;
    uct_component_attr_t attr;
    unsigned i, j, num_components;
    ucs_status_t status;

    status = uct_query_components(&components, &num_components);
    if (status != UCS_OK) {
        return status;
    }

    for (i = 0; (i < num_components) && (status == UCS_OK); ++i) {
        if (components[i] == &uct_rsagg_component) {
            continue;
        }

        attr.field_mask = UCT_COMPONENT_ATTR_FIELD_MD_RESOURCE_COUNT;
        status          = uct_component_query(components[i], &attr);
        if ((status != UCS_OK) || (attr.md_resource_count == 0)) {
            status = UCS_OK;
            continue;
        }

        attr.field_mask   = UCT_COMPONENT_ATTR_FIELD_MD_RESOURCES;
        attr.md_resources = ucs_alloca(sizeof(*attr.md_resources) *
                                       attr.md_resource_count);
        status            = uct_component_query(components[i], &attr);
        if (status != UCS_OK) {
            status = UCS_OK;
            continue;
        }

        for (j = 0; (j < attr.md_resource_count) && (status == UCS_OK); ++j) {
            status = cb(components[i], attr.md_resources[j].md_name, arg);
        }
    }

    uct_release_component_list(components);
    return status;
}


typedef struct {
    const ucs_config_names_array_t *tls;
    uct_md_resource_desc_t         *resources;
    unsigned                       count;
} uct_rsagg_md_query_ctx_t;

static ucs_status_t uct_rsagg_md_query_cb(uct_component_h component,
                                          const char *md_name, void *arg)
{
    uct_rsagg_md_query_ctx_t *ctx = arg;
    uct_rsagg_md_resource_t *resources;
    uct_md_resource_desc_t *tmp;
    unsigned num_resources;
    ucs_status_t status;
    uct_md_h inner_md;

    if (strlen(UCT_RSAGG_MD_PREFIX) + strlen(md_name) >= UCT_MD_NAME_MAX) {
        ucs_diag("rsagg: memory domain name '%s%s' is too long, skipped",
                 UCT_RSAGG_MD_PREFIX, md_name);
        return UCS_OK;
    }

    if (uct_rsagg_md_open_inner(component, md_name, &inner_md) != UCS_OK) {
        return UCS_OK; /* Inner MD unusable here: not ours to report */
    }

    status = uct_rsagg_md_scan(inner_md, ctx->tls, &resources,
                               &num_resources);
    uct_md_close(inner_md);
    if (status != UCS_OK) {
        return UCS_OK;
    }

    ucs_free(resources);
    if (num_resources == 0) {
        return UCS_OK;
    }

    tmp = ucs_realloc(ctx->resources, sizeof(*tmp) * (ctx->count + 1),
                      "rsagg_md_resources");
    if (tmp == NULL) {
        return UCS_ERR_NO_MEMORY;
    }

    ucs_snprintf_zero(tmp[ctx->count].md_name, UCT_MD_NAME_MAX, "%s%s",
                      UCT_RSAGG_MD_PREFIX, md_name);
    ctx->resources = tmp;
    ++ctx->count;
    return UCS_OK;
}

static ucs_status_t
uct_rsagg_query_md_resources(uct_component_t *component,
                             uct_md_resource_desc_t **resources_p,
                             unsigned *num_resources_p)
{
    uct_rsagg_md_query_ctx_t ctx = {NULL, NULL, 0};
    uct_rsagg_md_config_t *config;
    ucs_status_t status;

    status = uct_md_config_read(component, NULL, NULL,
                                (uct_md_config_t**)&config);
    if (status != UCS_OK) {
        return status;
    }

    ctx.tls = &config->tls;
    status  = uct_rsagg_md_check_tls(&config->tls);
    if (status == UCS_OK) {
        status = uct_rsagg_md_foreach_inner(uct_rsagg_md_query_cb, &ctx);
    }

    uct_config_release(config);
    if (status != UCS_OK) {
        ucs_free(ctx.resources);
        /* A bad UCX_RSAGG_TL leaves rsagg without resources, but must not
         * fail the enumeration of every other component */
        return uct_md_query_empty_md_resource(resources_p, num_resources_p);
    }

    *resources_p     = ctx.resources;
    *num_resources_p = ctx.count;
    return UCS_OK;
}


static void uct_rsagg_md_close(uct_md_h tl_md)
{
    uct_rsagg_md_t *md = ucs_derived_of(tl_md, uct_rsagg_md_t);

    if (kh_size(&md->regions) != 0) {
        ucs_warn("rsagg md %s closed with %u registered regions",
                 md->inner_name, kh_size(&md->regions));
    }
    kh_destroy_inplace(uct_rsagg_regions, &md->regions);
    kh_destroy_inplace(uct_rsagg_memhs, &md->memhs);
    uct_md_close(md->inner);
    ucs_free(md->resources);
    ucs_free(md);
}

static ucs_status_t uct_rsagg_md_query(uct_md_h tl_md, uct_md_attr_t *attr)
{
    uct_rsagg_md_t *md = ucs_derived_of(tl_md, uct_rsagg_md_t);

    *attr = md->inner_attr;
    ucs_snprintf_zero(attr->component_name, sizeof(attr->component_name),
                      "%s", UCT_RSAGG_NAME);
    /* Registration is the inner MD's: memory it cannot register (shared
     * memory MDs only allocate) would give rkeys its puts cannot use. rsagg
     * adds its own header to every rkey, so it always needs one. */
    attr->cap.flags        |= UCT_MD_FLAG_NEED_RKEY;
    attr->cap.flags        &= ~UCT_MD_FLAG_SOCKADDR;
    attr->rkey_packed_size += sizeof(uct_rsagg_rkey_hdr_t);
    return UCS_OK;
}

static ucs_status_t uct_rsagg_md_memh_new(uct_rsagg_md_t *md, void *address,
                                          size_t length, uct_mem_h inner,
                                          int allocated,
                                          uct_rsagg_memh_t **memh_p)
{
    uct_rsagg_memh_t *memh;
    khiter_t iter;
    int ret;

    memh = ucs_malloc(sizeof(*memh), "rsagg_memh");
    if (memh == NULL) {
        ucs_error("rsagg: failed to allocate memory handle");
        return UCS_ERR_NO_MEMORY;
    }

    memh->inner     = inner;
    memh->address   = address;
    memh->length    = length;
    memh->allocated = allocated;
    /* Region ids are never 0, so a zeroed rkey never names a region; after
     * 2^32 registrations an id still in use is skipped */
    do {
        do {
            memh->id = ++md->next_region_id;
        } while (memh->id == 0);
        iter = kh_put(uct_rsagg_regions, &md->regions, memh->id, &ret);
    } while (ret == UCS_KH_PUT_KEY_PRESENT);

    if (ret == UCS_KH_PUT_FAILED) {
        ucs_error("rsagg: failed to record a registered region");
        ucs_free(memh);
        return UCS_ERR_NO_MEMORY;
    }

    kh_val(&md->regions, iter) = memh;
#if UCS_ENABLE_ASSERT
    kh_put(uct_rsagg_memhs, &md->memhs, (uintptr_t)memh, &ret);
#endif
    *memh_p                    = memh;
    return UCS_OK;
}

static void uct_rsagg_md_memh_delete(uct_rsagg_md_t *md,
                                     uct_rsagg_memh_t *memh)
{
    khiter_t iter = kh_get(uct_rsagg_regions, &md->regions, memh->id);

    ucs_assert(iter != kh_end(&md->regions));
    kh_del(uct_rsagg_regions, &md->regions, iter);
#if UCS_ENABLE_ASSERT
    iter = kh_get(uct_rsagg_memhs, &md->memhs, (uintptr_t)memh);
    if (iter != kh_end(&md->memhs)) {
        kh_del(uct_rsagg_memhs, &md->memhs, iter);
    }
#endif
    ucs_free(memh);
}

static ucs_status_t uct_rsagg_md_mem_reg(uct_md_h tl_md, void *address,
                                         size_t length, unsigned flags,
                                         uct_mem_h *memh_p)
{
    uct_rsagg_md_t *md = ucs_derived_of(tl_md, uct_rsagg_md_t);
    uct_rsagg_memh_t *memh;
    ucs_status_t status;
    uct_mem_h inner;

    status = uct_md_mem_reg(md->inner, address, length, flags, &inner);
    if (status != UCS_OK) {
        return status;
    }

    status = uct_rsagg_md_memh_new(md, address, length, inner, 0, &memh);
    if (status != UCS_OK) {
        uct_md_mem_dereg(md->inner, inner);
        return status;
    }

    *memh_p = memh;
    return UCS_OK;
}

static ucs_status_t
uct_rsagg_md_mem_dereg(uct_md_h tl_md, const uct_md_mem_dereg_params_t *params)
{
    uct_rsagg_md_t *md = ucs_derived_of(tl_md, uct_rsagg_md_t);
    uct_md_mem_dereg_params_t inner_params;
    uct_rsagg_memh_t *memh;
    ucs_status_t status;

    /* Invalidation is the inner MD's to support or refuse */
    UCT_MD_MEM_DEREG_CHECK_PARAMS(params, 1);

    memh              = params->memh;
    inner_params      = *params;
    inner_params.memh = memh->inner;
    status            = uct_md_mem_dereg_v2(md->inner, &inner_params);
    if (status != UCS_OK) {
        return status; /* Still registered, still a valid put target */
    }

    uct_rsagg_md_memh_delete(md, memh);
    return UCS_OK;
}

static ucs_status_t
uct_rsagg_md_mem_alloc(uct_md_h tl_md, size_t *length_p, void **address_p,
                       ucs_memory_type_t mem_type, unsigned flags,
                       const char *alloc_name, uct_mem_h *memh_p)
{
    uct_rsagg_md_t *md = ucs_derived_of(tl_md, uct_rsagg_md_t);
    uct_rsagg_memh_t *memh;
    ucs_status_t status;
    uct_mem_h inner;

    status = md->inner->ops->mem_alloc(md->inner, length_p, address_p,
                                       mem_type, flags, alloc_name, &inner);
    if (status != UCS_OK) {
        return status;
    }

    status = uct_rsagg_md_memh_new(md, *address_p, *length_p, inner, 1,
                                   &memh);
    if (status != UCS_OK) {
        md->inner->ops->mem_free(md->inner, inner);
        return status;
    }

    *memh_p = memh;
    return UCS_OK;
}

static ucs_status_t uct_rsagg_md_mem_free(uct_md_h tl_md, uct_mem_h tl_memh)
{
    uct_rsagg_md_t *md     = ucs_derived_of(tl_md, uct_rsagg_md_t);
    uct_rsagg_memh_t *memh = tl_memh;
    ucs_status_t status;

    status = md->inner->ops->mem_free(md->inner, memh->inner);
    uct_rsagg_md_memh_delete(md, memh);
    return status;
}

static ucs_status_t uct_rsagg_md_mem_advise(uct_md_h tl_md, uct_mem_h tl_memh,
                                            void *addr, size_t length,
                                            unsigned advice)
{
    uct_rsagg_md_t *md     = ucs_derived_of(tl_md, uct_rsagg_md_t);
    uct_rsagg_memh_t *memh = tl_memh;

    return uct_md_mem_advise(md->inner, memh->inner, addr, length, advice);
}

static ucs_status_t uct_rsagg_md_mem_query(uct_md_h tl_md, const void *address,
                                           size_t length,
                                           uct_md_mem_attr_t *mem_attr)
{
    uct_rsagg_md_t *md = ucs_derived_of(tl_md, uct_rsagg_md_t);

    return uct_md_mem_query(md->inner, address, length, mem_attr);
}

static ucs_status_t
uct_rsagg_md_detect_memory_type(uct_md_h tl_md, const void *address,
                                size_t length, ucs_memory_type_t *mem_type_p)
{
    uct_rsagg_md_t *md = ucs_derived_of(tl_md, uct_rsagg_md_t);

    return uct_md_detect_memory_type(md->inner, address, length, mem_type_p);
}


static uct_md_ops_t uct_rsagg_md_ops = {
    .close              = uct_rsagg_md_close,
    .query              = uct_rsagg_md_query,
    .mem_alloc          = uct_rsagg_md_mem_alloc,
    .mem_free           = uct_rsagg_md_mem_free,
    .mem_advise         = uct_rsagg_md_mem_advise,
    .mem_reg            = uct_rsagg_md_mem_reg,
    .mem_dereg          = uct_rsagg_md_mem_dereg,
    .mem_query          = uct_rsagg_md_mem_query,
    .mkey_pack          = uct_rsagg_md_mkey_pack,
    .is_sockaddr_accessible = (uct_md_is_sockaddr_accessible_func_t)
                              ucs_empty_function_return_zero_int,
    .detect_memory_type = uct_rsagg_md_detect_memory_type
};


typedef struct {
    const char      *md_name;
    uct_component_h component;
} uct_rsagg_md_find_ctx_t;

static ucs_status_t uct_rsagg_md_find_cb(uct_component_h component,
                                         const char *md_name, void *arg)
{
    uct_rsagg_md_find_ctx_t *ctx = arg;

    if (strcmp(md_name, ctx->md_name)) {
        return UCS_OK;
    }
    ctx->component = component;
    return UCS_ERR_ALREADY_EXISTS; /* Found: stop the iteration */
}

static ucs_status_t uct_rsagg_md_open(uct_component_t *component,
                                      const char *md_name,
                                      const uct_md_config_t *tl_config,
                                      uct_md_h *md_p)
{
    const uct_rsagg_md_config_t *config = ucs_derived_of(tl_config,
                                                         uct_rsagg_md_config_t);
    uct_rsagg_md_find_ctx_t ctx;
    ucs_status_t status;
    uct_rsagg_md_t *md;

    if (strncmp(md_name, UCT_RSAGG_MD_PREFIX, strlen(UCT_RSAGG_MD_PREFIX))) {
        ucs_error("rsagg: '%s' is not an rsagg memory domain", md_name);
        return UCS_ERR_NO_DEVICE;
    }

    status = uct_rsagg_md_check_tls(&config->tls);
    if (status != UCS_OK) {
        return status;
    }

    ctx.md_name   = md_name + strlen(UCT_RSAGG_MD_PREFIX);
    ctx.component = NULL;
    uct_rsagg_md_foreach_inner(uct_rsagg_md_find_cb, &ctx);
    if (ctx.component == NULL) {
        ucs_error("rsagg: no inner memory domain '%s'", ctx.md_name);
        return UCS_ERR_NO_DEVICE;
    }

    md = ucs_calloc(1, sizeof(*md), "rsagg_md");
    if (md == NULL) {
        ucs_error("rsagg: failed to allocate memory domain");
        return UCS_ERR_NO_MEMORY;
    }

    md->super.ops       = &uct_rsagg_md_ops;
    md->super.component = &uct_rsagg_component;
    md->inner_component = ctx.component;
    kh_init_inplace(uct_rsagg_regions, &md->regions);
    kh_init_inplace(uct_rsagg_memhs, &md->memhs);
    ucs_strncpy_zero(md->inner_name, ctx.md_name, sizeof(md->inner_name));

    status = uct_rsagg_md_open_inner(ctx.component, ctx.md_name, &md->inner);
    if (status != UCS_OK) {
        goto err_free;
    }

    status = uct_md_query(md->inner, &md->inner_attr);
    if (status != UCS_OK) {
        goto err_close;
    }

    status = uct_rsagg_md_scan(md->inner, &config->tls, &md->resources,
                               &md->num_resources);
    if (status != UCS_OK) {
        goto err_close;
    }

    *md_p = &md->super;
    return UCS_OK;

err_close:
    uct_md_close(md->inner);
err_free:
    kh_destroy_inplace(uct_rsagg_regions, &md->regions);
    kh_destroy_inplace(uct_rsagg_memhs, &md->memhs);
    ucs_free(md);
    return status;
}

const uct_rsagg_md_resource_t *
uct_rsagg_md_find_resource(uct_rsagg_md_t *md, const char *dev_name)
{
    unsigned i;

    for (i = 0; i < md->num_resources; ++i) {
        if (!strcmp(md->resources[i].dev_name, dev_name)) {
            return &md->resources[i];
        }
    }
    return NULL;
}

const uct_rsagg_memh_t *
uct_rsagg_md_find_region(uct_rsagg_md_t *md, uint32_t region_id)
{
    khiter_t iter = kh_get(uct_rsagg_regions, &md->regions, region_id);

    return (iter == kh_end(&md->regions)) ? NULL :
           kh_val(&md->regions, iter);
}




uct_component_t uct_rsagg_component = {
    .query_md_resources = uct_rsagg_query_md_resources,
    .md_open            = uct_rsagg_md_open,
    .cm_open            = (uct_component_cm_open_func_t)
                          ucs_empty_function_return_unsupported,
    .rkey_unpack        = uct_rsagg_rkey_unpack,
    .rkey_ptr           = uct_rsagg_rkey_ptr,
    .rkey_release       = uct_rsagg_rkey_release,
    .name               = UCT_RSAGG_NAME,
    .md_config          = {
        .name           = "rsagg memory domain",
        .prefix         = UCT_RSAGG_CONFIG_PREFIX,
        .table          = uct_rsagg_md_config_table,
        .size           = sizeof(uct_rsagg_md_config_t),
    },
    .cm_config          = UCS_CONFIG_EMPTY_GLOBAL_LIST_ENTRY,
    .tl_list            = UCT_COMPONENT_TL_LIST_INITIALIZER(
                                  &uct_rsagg_component),
    .flags              = 0,
    .md_vfs_init        = (uct_component_md_vfs_init_func_t)
                          ucs_empty_function
};
