/**
 * rsagg progress (rsagg_progress.c): the iface operations that progress,
 * arm and wait, and the hold timer's action.
 */

#ifndef UCT_RSAGG_PROGRESS_H_
#define UCT_RSAGG_PROGRESS_H_

#include "rsagg_iface.h"


/* Before anything can request progress */
void uct_rsagg_progress_init(uct_rsagg_iface_t *iface);

/* Starts the hold timer (rsagg_hold.h) with what its tick sends */
ucs_status_t uct_rsagg_progress_start_hold(uct_rsagg_iface_t *iface,
                                           ucs_time_t timeout);

/* Stops the timer and every progress callback of the iface */
void uct_rsagg_progress_cleanup(uct_rsagg_iface_t *iface);

unsigned uct_rsagg_iface_progress(uct_iface_h tl_iface);
void uct_rsagg_iface_progress_enable(uct_iface_h tl_iface, unsigned flags);
void uct_rsagg_iface_progress_disable(uct_iface_h tl_iface, unsigned flags);
ucs_status_t uct_rsagg_iface_event_fd_get(uct_iface_h tl_iface, int *fd_p);
ucs_status_t uct_rsagg_iface_event_arm_guarded(uct_iface_h tl_iface,
                                               unsigned events);

#endif
