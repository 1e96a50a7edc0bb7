/**
 * rsagg_bench: the control channel between the sender (parent) and the
 * receiver (child): a pair of pipes carrying bench_ctl_hdr_t + body.
 */

#include "rsagg_bench.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>


static int bench_write_full(int fd, const void *buf, size_t length)
{
    const uint8_t *p = buf;
    ssize_t ret;

    while (length > 0) {
        ret = write(fd, p, length);
        if (ret < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p      += ret;
        length -= ret;
    }
    return 0;
}

static int bench_read_full(int fd, void *buf, size_t length)
{
    uint8_t *p = buf;
    ssize_t ret;

    while (length > 0) {
        ret = read(fd, p, length);
        if (ret < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (ret == 0) {
            return -1; /* Peer gone */
        }
        p      += ret;
        length -= ret;
    }
    return 0;
}

int bench_ctl_send(bench_ctl_t *ctl, bench_cmd_t cmd, const void *body,
                   uint32_t length)
{
    bench_ctl_hdr_t hdr = {.cmd = cmd, .length = length};

    if ((bench_write_full(ctl->wfd, &hdr, sizeof(hdr)) != 0) ||
        ((length > 0) && (bench_write_full(ctl->wfd, body, length) != 0))) {
        return -1;
    }
    return 0;
}

/* A command of the sender: the receiver process must be there */
void bench_ctl_command(bench_ctl_t *ctl, bench_cmd_t cmd, const void *body,
                       uint32_t length)
{
    if (bench_ctl_send(ctl, cmd, body, length) != 0) {
        bench_fatal("the receiver process is gone");
    }
}

/* Body of at most max_length bytes. Returns 0, or -1 if the peer is gone or
 * broke the protocol. */
int bench_ctl_read(bench_ctl_t *ctl, bench_cmd_t *cmd_p, void *body,
                   uint32_t max_length, uint32_t *length_p)
{
    bench_ctl_hdr_t hdr;

    if ((bench_read_full(ctl->rfd, &hdr, sizeof(hdr)) != 0) ||
        (hdr.length > max_length) ||
        ((hdr.length > 0) &&
         (bench_read_full(ctl->rfd, body, hdr.length) != 0))) {
        return -1;
    }

    *cmd_p    = hdr.cmd;
    *length_p = hdr.length;
    return 0;
}

int bench_ctl_readable(bench_ctl_t *ctl, int timeout_ms)
{
    struct pollfd pfd = {.fd = ctl->rfd, .events = POLLIN};

    return poll(&pfd, 1, timeout_ms) > 0;
}

/* Waits for the peer's reply while progressing this side's worker. */
int bench_ctl_wait_reply(bench_ctl_t *ctl, bench_uct_t *u,
                         bench_reply_t *reply)
{
    uint32_t length;
    bench_cmd_t cmd;
    unsigned i;

    while (!bench_ctl_readable(ctl, (u == NULL) ? -1 : 0)) {
        for (i = 0; i < BENCH_POLL_EVERY; ++i) {
            uct_worker_progress(u->worker);
        }
    }

    memset(reply, 0, sizeof(*reply));
    if ((bench_ctl_read(ctl, &cmd, reply, sizeof(*reply), &length) != 0) ||
        (cmd != BENCH_CMD_REPLY)) {
        bench_fatal("the receiver process does not answer (see its errors "
                    "above)");
    }
    return (reply->status == UCS_OK) ? 0 : -1;
}
