/**
 * rsagg - message aggregation transport for UCX.
 *
 * Component and memory domain: one rsagg MD wraps one inner MD. Memory
 * registration and remote keys are forwarded to the inner MD; rsagg adds a
 * small header to every packed rkey so that the receiver of a put can check
 * the target region even where the inner transport has no RMA of its own.
 */

#ifndef UCT_RSAGG_MD_H_
#define UCT_RSAGG_MD_H_

#include <uct/base/uct_md.h>
#include <ucs/datastruct/khash.h>


#define UCT_RSAGG_NAME           "rsagg"
#define UCT_RSAGG_MD_PREFIX      "rsagg_"
#define UCT_RSAGG_CONFIG_PREFIX  "RSAGG_"

/* Packed rkey header: identifies the format and the inner component */
#define UCT_RSAGG_RKEY_MAGIC     0x5241u /* "RA" */
#define UCT_RSAGG_RKEY_VERSION   1


typedef struct uct_rsagg_md_config {
    uct_md_config_t            super;
    ucs_config_names_array_t   tls;       /* Inner transports, by preference */
} uct_rsagg_md_config_t;


/* One transport resource of the inner MD that rsagg exposes */
typedef struct uct_rsagg_md_resource {
    char                       tl_name[UCT_TL_NAME_MAX];
    char                       dev_name[UCT_DEVICE_NAME_MAX];
    uct_device_type_t          dev_type;
    ucs_sys_device_t           sys_device;
} uct_rsagg_md_resource_t;


typedef struct uct_rsagg_memh uct_rsagg_memh_t;

/* Registered regions by id: a put arriving from a peer names its region */
KHASH_MAP_INIT_INT(uct_rsagg_regions, uct_rsagg_memh_t*);

/* Every memory handle of ours, kept in assertion builds only */
KHASH_SET_INIT_INT64(uct_rsagg_memhs);


typedef struct uct_rsagg_md {
    uct_md_t                   super;
    uct_component_h            inner_component;
    uct_md_h                   inner;
    char                       inner_name[UCT_MD_NAME_MAX];
    uct_md_attr_t              inner_attr;
    uct_rsagg_md_resource_t    *resources;   /* One per exposed device */
    unsigned                   num_resources;
    uint32_t                   next_region_id;
    khash_t(uct_rsagg_regions) regions;      /* Registered regions (puts) */
    khash_t(uct_rsagg_memhs)   memhs;        /* Ours (assertion builds):
                                                none may reach the inner
                                                transport */
} uct_rsagg_md_t;


/* Memory handle: the inner handle plus the region, for put validation */
struct uct_rsagg_memh {
    uct_mem_h                  inner;
    void                       *address;
    size_t                     length;
    uint32_t                   id;
    int                        allocated;  /* Allocated through mem_alloc */
};


/* Packed rkey = this header followed by the inner MD's packed rkey */
typedef struct UCS_S_PACKED uct_rsagg_rkey_hdr {
    uint16_t                   magic;
    uint8_t                    version;
    uint8_t                    reserved;
    uint32_t                   region_id;
    uint64_t                   address;
    uint64_t                   length;
    char                       component[UCT_COMPONENT_NAME_MAX];
} uct_rsagg_rkey_hdr_t;


/* Unpacked rkey, uct_rkey_t points to it */
typedef struct uct_rsagg_rkey {
    uct_rkey_t                 inner;       /* Must stay first (fast path) */
    uct_rkey_bundle_t          bundle;
    uct_component_h            inner_component;
    uint32_t                   region_id;
    uint64_t                   address;
    uint64_t                   length;
} uct_rsagg_rkey_t;


extern uct_component_t uct_rsagg_component;


/* Over shared memory (posix, sysv, xpmem) a put, get or atomic is a store
 * or load the inner transport makes in the peer's mapped memory, with the
 * rkey and nothing of its ep: there the rkey rsagg unpacks is the inner
 * rkey itself (its record is the handle), so that rsagg can hand those
 * operations to the inner functions directly (see rsagg_iface.c). */
int uct_rsagg_component_rkey_is_inner(const char *component_name);

/* The inner rkey of an rkey unpacked by rsagg; rkey_is_inner: the inner
 * component's uct_rsagg_component_rkey_is_inner() */
static UCS_F_ALWAYS_INLINE uct_rkey_t
uct_rsagg_rkey_inner(int rkey_is_inner, uct_rkey_t rkey)
{
    return (rkey_is_inner || (rkey == UCT_INVALID_RKEY) || (rkey == 0)) ?
           rkey : ((uct_rsagg_rkey_t*)rkey)->inner;
}


const uct_rsagg_md_resource_t *
uct_rsagg_md_find_resource(uct_rsagg_md_t *md, const char *dev_name);

/* Region lookup for a put arriving from a peer: NULL when not registered */
const uct_rsagg_memh_t *
uct_rsagg_md_find_region(uct_rsagg_md_t *md, uint32_t region_id);

/* The iov as the inner transport takes it: each memory handle of ours
 * replaced by its inner handle (tcp and shared memory ignore handles, so a
 * missing translation shows only on RDMA, or in the check below) */
void uct_rsagg_md_iov_inner(const uct_iov_t *iov, size_t iovcnt,
                            uct_iov_t *inner_iov);

/* Assertion builds: whether no memory handle of the iov is one of ours, so
 * that an iov handed to the inner transport untranslated fails at once,
 * over any transport. Always 1 without assertions. */
int uct_rsagg_md_iov_is_inner(uct_rsagg_md_t *md, const uct_iov_t *iov,
                              size_t iovcnt);


/* Remote keys (rsagg_rkey.c): the MD's mkey_pack and the component's rkey
 * operations */
ucs_status_t uct_rsagg_md_mkey_pack(uct_md_h tl_md, uct_mem_h tl_memh,
                                    const uct_md_mkey_pack_params_t *params,
                                    void *rkey_buffer);

ucs_status_t uct_rsagg_rkey_unpack(uct_component_t *component,
                                   const void *rkey_buffer, uct_rkey_t *rkey_p,
                                   void **handle_p);

ucs_status_t uct_rsagg_rkey_ptr(uct_component_t *component, uct_rkey_t tl_rkey,
                                void *handle, uint64_t remote_addr,
                                void **local_addr_p);

ucs_status_t uct_rsagg_rkey_release(uct_component_t *component,
                                    uct_rkey_t tl_rkey, void *handle);

#endif
