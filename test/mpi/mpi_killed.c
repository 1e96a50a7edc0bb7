/*
 * A rank dies in the middle of a job: every rank exchanges small messages
 * with every other rank in a loop, and after a number of iterations the
 * victim rank kills itself with SIGKILL (no chance to clean up, like a
 * crashed node). The job must then end with an error instead of hanging;
 * contrib/mpi-check.sh checks the exit status, the time it took and that the
 * error names the dead peer.
 *
 * This program never succeeds: if the survivors get past the iterations
 * without an error, they exit with status 3.
 *
 * Options: -k <iteration at which the victim dies> (default 200)
 *          -v <victim rank> (default: the last rank)
 *          -i <iterations> (default 1000000)
 */

#include "mpi_util.h"

#include <signal.h>
#include <unistd.h>


#define TAG_KILLED 5


/* An operation with 'peer' failed: say which peer, as an MPI user would,
 * since Open MPI's own abort message names only the reporting rank */
static void killed_failed(const mpi_test_t *t, const char *what, int peer,
                          int rc)
{
    char str[MPI_MAX_ERROR_STRING];
    int len = 0;

    MPI_Error_string(rc, str, &len);
    if (peer >= 0) {
        fprintf(stderr, "mpi_killed: rank %d: %s rank %d failed: %s\n",
                t->rank, what, peer, str);
    } else {
        fprintf(stderr, "mpi_killed: rank %d: %s failed: %s\n", t->rank,
                what, str);
    }
    MPI_Abort(MPI_COMM_WORLD, 2);
}


int main(int argc, char **argv)
{
    static const char *const options[] = {"-k", "-v", "-i", NULL};
    mpi_test_t t;
    long kill_iter, iters, iter;
    int victim, peer, n;
    MPI_Request *req;
    MPI_Status *status;
    int *req_peer, rc, i;
    uint64_t *sbuf, *rbuf;
    char host[256];

    mpi_test_init(&t, &argc, &argv);
    mpi_test_check_args(&t, argc, argv, options);
    kill_iter = mpi_test_arg(&t, argc, argv, "-k", 200, 0, 1L << 40);
    victim    = mpi_test_arg(&t, argc, argv, "-v", t.size - 1, 0,
                             t.size - 1);
    iters     = mpi_test_arg(&t, argc, argv, "-i", 1000000, 1, 1L << 40);

    /* Errors come back to the program, which names the peer */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);

    req      = mpi_test_malloc(&t, 2 * t.size * sizeof(*req));
    status   = mpi_test_malloc(&t, 2 * t.size * sizeof(*status));
    req_peer = mpi_test_malloc(&t, 2 * t.size * sizeof(*req_peer));
    sbuf = mpi_test_malloc(&t, t.size * sizeof(*sbuf));
    rbuf = mpi_test_malloc(&t, t.size * sizeof(*rbuf));
    gethostname(host, sizeof(host));
    host[sizeof(host) - 1] = '\0';

    for (iter = 0; iter < iters; ++iter) {
        if ((iter == kill_iter) && (t.rank == victim)) {
            printf("mpi_killed: rank %d (pid %d on %s) kills itself at "
                   "iteration %ld\n", t.rank, (int)getpid(), host, iter);
            fflush(stdout);
            raise(SIGKILL);
        }

        n = 0;
        for (peer = 0; peer < t.size; ++peer) {
            if (peer == t.rank) {
                continue;
            }
            sbuf[peer]  = iter;
            req_peer[n] = peer;
            rc = MPI_Irecv(&rbuf[peer], 1, MPI_UINT64_T, peer, TAG_KILLED,
                           MPI_COMM_WORLD, &req[n++]);
            if (rc != MPI_SUCCESS) {
                killed_failed(&t, "MPI_Irecv from", peer, rc);
            }
            req_peer[n] = peer;
            rc = MPI_Isend(&sbuf[peer], 1, MPI_UINT64_T, peer, TAG_KILLED,
                           MPI_COMM_WORLD, &req[n++]);
            if (rc != MPI_SUCCESS) {
                killed_failed(&t, "MPI_Isend to", peer, rc);
            }
        }
        rc = MPI_Waitall(n, req, status);
        for (i = 0; (rc == MPI_ERR_IN_STATUS) && (i < n); ++i) {
            if ((status[i].MPI_ERROR != MPI_SUCCESS) &&
                (status[i].MPI_ERROR != MPI_ERR_PENDING)) {
                killed_failed(&t, "a request with", req_peer[i],
                              status[i].MPI_ERROR);
            }
        }
        if (rc != MPI_SUCCESS) {
            killed_failed(&t, "MPI_Waitall, no request named", -1, rc);
        }

        for (peer = 0; peer < t.size; ++peer) {
            if ((peer != t.rank) && (rbuf[peer] != (uint64_t)iter)) {
                mpi_test_error(&t, "iteration %ld: got %llu from %d", iter,
                               (unsigned long long)rbuf[peer], peer);
            }
        }
    }

    fprintf(stderr, "mpi_killed: rank %d: %ld iterations without an error "
            "although rank %d was killed at iteration %ld\n", t.rank, iters,
            victim, kill_iter);
    MPI_Finalize();
    return 3;
}
