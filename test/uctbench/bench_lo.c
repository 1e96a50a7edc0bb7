/**
 * rsagg_bench: wire bytes on lo. tx_bytes of lo counts every packet once,
 * TCP acks included; read before and after the measured phase of a case
 * whose inner transport crosses lo (tcp).
 */

#include "rsagg_bench.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>


/* Transmitted bytes of lo so far; returns 0, or -1 when unknown */
int bench_lo_tx_bytes(uint64_t *bytes_p)
{
    unsigned long long v[9];
    char line[512], *p;
    int found = 0;
    FILE *f;

    /* The lo of this process' network namespace (the counters of
     * /sys/class/net/lo/statistics, but namespace-correct) */
    f = fopen("/proc/self/net/dev", "r");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        p = strchr(line, ':');
        if (p == NULL) {
            continue;
        }
        *p = '\0';
        if (strcmp(line + strspn(line, " "), "lo")) {
            continue;
        }
        if (sscanf(p + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu",
                   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
                   &v[8]) == 9) {
            *bytes_p = v[8]; /* Transmit bytes */
            found    = 1;
        }
        break;
    }
    fclose(f);
    return found ? 0 : -1;
}


/*
 * Private network namespace: the lo byte counts then hold this benchmark's
 * traffic only, also on a machine where others use lo at the same time.
 */

static int bench_write_file(const char *path, const char *text)
{
    int fd  = open(path, O_WRONLY);
    int ret = -1;

    if (fd >= 0) {
        ret = (write(fd, text, strlen(text)) == (ssize_t)strlen(text)) ? 0 :
                                                                         -1;
        close(fd);
    }
    return ret;
}

/* Enters a new network namespace with lo up. Returns 0; -1 when no
 * namespace could be made (still in the original one); -2 when the new one
 * is unusable. *why says what failed. */
int bench_enter_netns(char *why, size_t max)
{
    char map[64];
    struct ifreq ifr;
    uid_t uid = getuid();
    gid_t gid = getgid();
    int fd, ret;

    if (unshare(CLONE_NEWNET) != 0) {
        /* Without privileges: a user namespace mapping only ourselves */
        if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
            snprintf(why, max, "unshare: %s", strerror(errno));
            return -1;
        }
        bench_write_file("/proc/self/setgroups", "deny");
        snprintf(map, sizeof(map), "%u %u 1", (unsigned)uid, (unsigned)uid);
        bench_write_file("/proc/self/uid_map", map);
        snprintf(map, sizeof(map), "%u %u 1", (unsigned)gid, (unsigned)gid);
        bench_write_file("/proc/self/gid_map", map);
    }

    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        snprintf(why, max, "socket: %s", strerror(errno));
        return -2;
    }
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    ret = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (ret == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        ret = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    if (ret != 0) {
        snprintf(why, max, "bringing lo up: %s", strerror(errno));
    }
    close(fd);
    return (ret == 0) ? 0 : -2;
}
