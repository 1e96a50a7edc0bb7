/**
 * rsagg remote keys and memory handles as the inner transport sees them. A
 * packed rsagg rkey is a header (format version, region id and bounds, inner
 * component name) followed by the inner MD's packed rkey; unpacking finds
 * the inner component by name, so that a peer's rkey of any loaded inner
 * transport is understood. An iov for the inner transport carries the
 * inner memory handles.
 */

#ifdef HAVE_CONFIG_H
#  include "config.h"
#endif

#include "rsagg_md.h"

#include <ucs/debug/log.h>
#include <ucs/debug/memtrack_int.h>
#include <ucs/sys/string.h>

#include <string.h>


int uct_rsagg_component_rkey_is_inner(const char *component_name)
{
    return !strcmp(component_name, "posix") ||
           !strcmp(component_name, "sysv") ||
           !strcmp(component_name, "xpmem");
}

ucs_status_t
uct_rsagg_md_mkey_pack(uct_md_h tl_md, uct_mem_h tl_memh,
                       const uct_md_mkey_pack_params_t *params,
                       void *rkey_buffer)
{
    uct_rsagg_md_t *md          = ucs_derived_of(tl_md, uct_rsagg_md_t);
    uct_rsagg_memh_t *memh      = tl_memh;
    uct_rsagg_rkey_hdr_t *hdr   = rkey_buffer;
    uct_md_mkey_pack_params_t inner_params;

    hdr->magic     = UCT_RSAGG_RKEY_MAGIC;
    hdr->version   = UCT_RSAGG_RKEY_VERSION;
    hdr->reserved  = 0;
    hdr->region_id = memh->id;
    hdr->address   = (uintptr_t)memh->address;
    hdr->length    = memh->length;
    ucs_strncpy_zero(hdr->component, md->inner_component->name,
                     sizeof(hdr->component));

    if (md->inner_attr.rkey_packed_size == 0) {
        return UCS_OK;
    }

    inner_params.field_mask = (params == NULL) ? 0 : params->field_mask;
    if (params != NULL) {
        inner_params = *params;
    }
    return uct_md_mkey_pack_v2(md->inner, memh->inner, &inner_params,
                               hdr + 1);
}

static uct_component_h uct_rsagg_component_by_name(const char *name)
{
    uct_component_t *component;

    ucs_list_for_each(component, &uct_components_list, list) {
        if (strcmp(component->name, UCT_RSAGG_NAME) &&
            !strncmp(component->name, name, UCT_COMPONENT_NAME_MAX)) {
            return component;
        }
    }
    return NULL;
}

ucs_status_t uct_rsagg_rkey_unpack(uct_component_t *component,
                                   const void *rkey_buffer,
                                   uct_rkey_t *rkey_p, void **handle_p)
{
    const uct_rsagg_rkey_hdr_t *hdr = rkey_buffer;
    char name[UCT_COMPONENT_NAME_MAX + 1];
    uct_rsagg_rkey_t *rkey;
    ucs_status_t status;

    if ((hdr->magic != UCT_RSAGG_RKEY_MAGIC) ||
        (hdr->version != UCT_RSAGG_RKEY_VERSION)) {
        ucs_error("rsagg: remote key format 0x%x version %u, expected 0x%x "
                  "version %u (peer runs another rsagg)", hdr->magic,
                  hdr->version, UCT_RSAGG_RKEY_MAGIC, UCT_RSAGG_RKEY_VERSION);
        return UCS_ERR_UNSUPPORTED;
    }

    rkey = ucs_malloc(sizeof(*rkey), "rsagg_rkey");
    if (rkey == NULL) {
        ucs_error("rsagg: failed to allocate remote key");
        return UCS_ERR_NO_MEMORY;
    }

    ucs_strncpy_zero(name, hdr->component, sizeof(name));
    rkey->inner_component = uct_rsagg_component_by_name(name);
    if (rkey->inner_component == NULL) {
        ucs_error("rsagg: remote key of unknown component '%s'", name);
        status = UCS_ERR_UNSUPPORTED;
        goto err_free;
    }

    status = uct_rkey_unpack(rkey->inner_component, hdr + 1, &rkey->bundle);
    if (status != UCS_OK) {
        goto err_free;
    }

    rkey->inner     = rkey->bundle.rkey;
    rkey->region_id = hdr->region_id;
    rkey->address   = hdr->address;
    rkey->length    = hdr->length;
    *rkey_p         = uct_rsagg_component_rkey_is_inner(name) ?
                      rkey->inner : (uintptr_t)rkey;
    *handle_p       = rkey;
    return UCS_OK;

err_free:
    ucs_free(rkey);
    return status;
}

ucs_status_t uct_rsagg_rkey_ptr(uct_component_t *component,
                                uct_rkey_t tl_rkey, void *handle,
                                uint64_t remote_addr,
                                void **local_addr_p)
{
    uct_rsagg_rkey_t *rkey = handle;

    return uct_rkey_ptr(rkey->inner_component, &rkey->bundle, remote_addr,
                        local_addr_p);
}

ucs_status_t uct_rsagg_rkey_release(uct_component_t *component,
                                    uct_rkey_t tl_rkey, void *handle)
{
    uct_rsagg_rkey_t *rkey = handle;
    ucs_status_t status;

    status = uct_rkey_release(rkey->inner_component, &rkey->bundle);
    ucs_free(rkey);
    return status;
}


void uct_rsagg_md_iov_inner(const uct_iov_t *iov, size_t iovcnt,
                            uct_iov_t *inner_iov)
{
    size_t i;

    for (i = 0; i < iovcnt; ++i) {
        inner_iov[i] = iov[i];
        if (iov[i].memh != UCT_MEM_HANDLE_NULL) {
            inner_iov[i].memh = ((uct_rsagg_memh_t*)iov[i].memh)->inner;
        }
    }
}

int uct_rsagg_md_iov_is_inner(uct_rsagg_md_t *md, const uct_iov_t *iov,
                              size_t iovcnt)
{
#if UCS_ENABLE_ASSERT
    size_t i;

    for (i = 0; i < iovcnt; ++i) {
        if (kh_get(uct_rsagg_memhs, &md->memhs, (uintptr_t)iov[i].memh) !=
            kh_end(&md->memhs)) {
            return 0;
        }
    }
#endif
    return 1;
}
