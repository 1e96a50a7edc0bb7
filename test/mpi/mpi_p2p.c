/*
 * Point-to-point with many small messages from several ranks to one: the
 * traffic pattern rsagg aggregates. Each phase rotates the receiving rank
 * over all ranks so that every pair of ranks is exercised in both
 * directions, and checks source, tag, length, order and every byte.
 *
 * Options: -n <messages per sender and phase> (default 200)
 *          -w <window of outstanding non-blocking operations> (default 32)
 */

#include "mpi_util.h"


#define TAG_FIXED     10
#define TAG_WINDOW    20
#define TAG_UNEXP     30
#define NUM_ANY_TAGS  11  /* any-tag phase uses tags 1..NUM_ANY_TAGS */
#define NUM_UNEXP_TAGS 3


typedef struct {
    mpi_test_t t;
    long       num_msgs;
    long       window;
    uint8_t    *sbuf;     /* window * PATTERN_MAX_SMALL_SIZE */
    uint8_t    *rbuf;     /* (size * window) * PATTERN_MAX_SMALL_SIZE */
} p2p_test_t;


static uint8_t *slot(uint8_t *buf, long index)
{
    return buf + index * PATTERN_MAX_SMALL_SIZE;
}


/* Blocking MPI_Send/MPI_Recv, receiver round-robins over named sources */
static void test_blocking(p2p_test_t *p, int root)
{
    mpi_test_t *t = &p->t;
    MPI_Status status;
    long seq;
    int src;
    size_t length;

    for (seq = 0; seq < p->num_msgs; ++seq) {
        length = pattern_small_size(seq);
        if (t->rank != root) {
            pattern_fill(p->sbuf, length, t->rank, root, seq);
            MPI_Send(p->sbuf, length, MPI_BYTE, root, TAG_FIXED + seq % 7,
                     MPI_COMM_WORLD);
            continue;
        }

        for (src = 0; src < t->size; ++src) {
            if (src == root) {
                continue;
            }
            MPI_Recv(p->rbuf, PATTERN_MAX_SMALL_SIZE, MPI_BYTE, src,
                     TAG_FIXED + seq % 7, MPI_COMM_WORLD, &status);
            mpi_test_check_msg(t, p->rbuf, &status, src, TAG_FIXED + seq % 7,
                               length, seq, "blocking");
        }
    }
}


/*
 * Windows of MPI_Isend (every 4th an MPI_Issend, which takes the synchronous
 * protocol) against pre-posted MPI_Irecv for all senders at once
 */
static void test_window(p2p_test_t *p, int root)
{
    mpi_test_t *t    = &p->t;
    long num_reqs    = (t->rank == root) ? p->window * t->size : p->window;
    MPI_Request *req = mpi_test_malloc(t, num_reqs * sizeof(*req));
    MPI_Status *st   = mpi_test_malloc(t, num_reqs * sizeof(*st));
    long base, seq, n, i;
    size_t length;
    int src;

    for (base = 0; base < p->num_msgs; base += p->window) {
        n = p->num_msgs - base;
        n = (n < p->window) ? n : p->window;

        if (t->rank != root) {
            for (i = 0; i < n; ++i) {
                seq    = base + i;
                length = pattern_small_size(seq);
                pattern_fill(slot(p->sbuf, i), length, t->rank, root, seq);
                if (seq % 4 == 3) {
                    MPI_Issend(slot(p->sbuf, i), length, MPI_BYTE, root,
                               TAG_WINDOW, MPI_COMM_WORLD, &req[i]);
                } else {
                    MPI_Isend(slot(p->sbuf, i), length, MPI_BYTE, root,
                              TAG_WINDOW, MPI_COMM_WORLD, &req[i]);
                }
            }
            MPI_Waitall(n, req, MPI_STATUSES_IGNORE);
            continue;
        }

        for (src = 0; src < t->size; ++src) {
            for (i = 0; i < n; ++i) {
                if (src == root) {
                    req[src * n + i] = MPI_REQUEST_NULL;
                    continue;
                }
                MPI_Irecv(slot(p->rbuf, src * n + i), PATTERN_MAX_SMALL_SIZE,
                          MPI_BYTE, src, TAG_WINDOW, MPI_COMM_WORLD,
                          &req[src * n + i]);
            }
        }
        MPI_Waitall(n * t->size, req, st);
        for (src = 0; src < t->size; ++src) {
            for (i = 0; (src != root) && (i < n); ++i) {
                seq = base + i;
                mpi_test_check_msg(t, slot(p->rbuf, src * n + i),
                                   &st[src * n + i], src, TAG_WINDOW,
                                   pattern_small_size(seq), seq, "window");
            }
        }
    }

    free(st);
    free(req);
}


/*
 * MPI_ANY_SOURCE/MPI_ANY_TAG receives; every 5th one goes through
 * MPI_Probe first. Messages of one sender must match in the order they were
 * sent, whatever the tag.
 */
static void test_any_source(p2p_test_t *p, int root)
{
    mpi_test_t *t = &p->t;
    long *next    = mpi_test_malloc(t, t->size * sizeof(*next));
    long total    = p->num_msgs * (t->size - 1);
    MPI_Status status;
    long seq, i;
    int src, tag, count;
    size_t length;

    if (t->rank != root) {
        for (seq = 0; seq < p->num_msgs; ++seq) {
            length = pattern_small_size(seq);
            pattern_fill(p->sbuf, length, t->rank, root, seq);
            MPI_Send(p->sbuf, length, MPI_BYTE, root, 1 + seq % NUM_ANY_TAGS,
                     MPI_COMM_WORLD);
        }
        free(next);
        return;
    }

    memset(next, 0, t->size * sizeof(*next));
    for (i = 0; i < total; ++i) {
        if (i % 5 == 0) {
            MPI_Probe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &status);
            MPI_Get_count(&status, MPI_BYTE, &count);
            src = status.MPI_SOURCE;
            tag = status.MPI_TAG;
            if ((src < 0) || (src >= t->size) || (src == root) ||
                (count < 0) || (count > PATTERN_MAX_SMALL_SIZE)) {
                mpi_test_error(t, "any-source: probe returned source %d "
                               "count %d", src, count);
                break;
            }
            MPI_Recv(p->rbuf, count, MPI_BYTE, src, tag, MPI_COMM_WORLD,
                     &status);
        } else {
            MPI_Recv(p->rbuf, PATTERN_MAX_SMALL_SIZE, MPI_BYTE,
                     MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &status);
            src = status.MPI_SOURCE;
            if ((src < 0) || (src >= t->size) || (src == root)) {
                mpi_test_error(t, "any-source: message from rank %d", src);
                break;
            }
        }

        seq = next[src]++;
        if (seq >= p->num_msgs) {
            mpi_test_error(t, "any-source: more than %ld messages from %d",
                           p->num_msgs, src);
            break;
        }
        mpi_test_check_msg(t, p->rbuf, &status, src, 1 + seq % NUM_ANY_TAGS,
                           pattern_small_size(seq), seq, "any-source");
    }

    free(next);
}


/*
 * Messages that arrive before their receive is posted, received per tag in
 * another order than they were sent: matching must pick by tag, and keep
 * the send order within one (source, tag).
 */
static void test_unexpected(p2p_test_t *p, int root)
{
    mpi_test_t *t    = &p->t;
    long num         = p->num_msgs;
    MPI_Request *req = NULL;
    uint8_t *bufs    = NULL;
    MPI_Status status;
    long seq;
    int src, tag;
    size_t length;

    if (t->rank != root) {
        req  = mpi_test_malloc(t, num * sizeof(*req));
        bufs = mpi_test_malloc(t, num * PATTERN_MAX_SMALL_SIZE);
        for (seq = 0; seq < num; ++seq) {
            length = pattern_small_size(seq);
            pattern_fill(slot(bufs, seq), length, t->rank, root, seq);
            MPI_Isend(slot(bufs, seq), length, MPI_BYTE, root,
                      TAG_UNEXP + seq % NUM_UNEXP_TAGS, MPI_COMM_WORLD,
                      &req[seq]);
        }
    }

    /* The root posts nothing before all sends were started */
    MPI_Barrier(MPI_COMM_WORLD);

    if (t->rank == root) {
        for (tag = NUM_UNEXP_TAGS - 1; tag >= 0; --tag) {
            for (src = t->size - 1; src >= 0; --src) {
                for (seq = tag; (src != root) && (seq < num);
                     seq += NUM_UNEXP_TAGS) {
                    MPI_Recv(p->rbuf, PATTERN_MAX_SMALL_SIZE, MPI_BYTE, src,
                             TAG_UNEXP + tag, MPI_COMM_WORLD, &status);
                    mpi_test_check_msg(t, p->rbuf, &status, src,
                                       TAG_UNEXP + tag,
                                       pattern_small_size(seq), seq,
                                       "unexpected");
                }
            }
        }
    } else {
        MPI_Waitall(num, req, MPI_STATUSES_IGNORE);
    }

    free(bufs);
    free(req);
}


/* Messages to oneself take the loopback path of the transport */
static void test_self(p2p_test_t *p)
{
    mpi_test_t *t = &p->t;
    MPI_Request req[2];
    MPI_Status st[2];
    long seq;
    size_t length;

    for (seq = 0; seq < p->num_msgs; ++seq) {
        length = pattern_small_size(seq);
        pattern_fill(p->sbuf, length, t->rank, t->rank, seq);
        MPI_Irecv(p->rbuf, PATTERN_MAX_SMALL_SIZE, MPI_BYTE, t->rank, 1,
                  MPI_COMM_WORLD, &req[0]);
        MPI_Isend(p->sbuf, length, MPI_BYTE, t->rank, 1, MPI_COMM_WORLD,
                  &req[1]);
        MPI_Waitall(2, req, st);
        mpi_test_check_msg(t, p->rbuf, &st[0], t->rank, 1, length, seq,
                           "self");
    }
}


int main(int argc, char **argv)
{
    static const char *const options[] = {"-n", "-w", NULL};
    p2p_test_t p;
    mpi_test_t *t = &p.t;
    char name[64];
    int root;

    mpi_test_init(t, &argc, &argv);
    mpi_test_check_args(t, argc, argv, options);
    p.num_msgs = mpi_test_arg(t, argc, argv, "-n", 200, 1, 1000000);
    p.window   = mpi_test_arg(t, argc, argv, "-w", 32, 1, 1024);
    p.sbuf     = mpi_test_malloc(t, p.window * PATTERN_MAX_SMALL_SIZE);
    p.rbuf     = mpi_test_malloc(t, p.window * t->size *
                                    PATTERN_MAX_SMALL_SIZE);

    for (root = 0; root < t->size; ++root) {
        snprintf(name, sizeof(name), "blocking many-to-one, root %d", root);
        test_blocking(&p, root);
        mpi_test_phase_end(t, name);

        snprintf(name, sizeof(name), "isend/issend window, root %d", root);
        test_window(&p, root);
        mpi_test_phase_end(t, name);

        snprintf(name, sizeof(name), "any-source/any-tag, root %d", root);
        test_any_source(&p, root);
        mpi_test_phase_end(t, name);

        snprintf(name, sizeof(name), "unexpected, by tag, root %d", root);
        test_unexpected(&p, root);
        mpi_test_phase_end(t, name);
    }

    test_self(&p);
    mpi_test_phase_end(t, "send to self");

    free(p.rbuf);
    free(p.sbuf);
    return mpi_test_finalize(t);
}
