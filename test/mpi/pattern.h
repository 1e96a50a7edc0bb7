/*
 * Data patterns shared by the MPI, OpenSHMEM and benchmark programs.
 *
 * Every byte a program sends is a function of (source rank, destination
 * rank, message sequence number, byte offset), so the receiver can recompute
 * the expected contents on its own. A message that is delivered to the wrong
 * buffer, reordered, truncated, shifted or mixed with another message gives
 * at least one byte that differs from the expectation.
 */

#ifndef RSAGG_TEST_PATTERN_H_
#define RSAGG_TEST_PATTERN_H_

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Print at most this many mismatching bytes per buffer, the count is exact */
#define PATTERN_MAX_REPORTED 4


static inline uint64_t pattern_mix(uint64_t x)
{
    /* splitmix64 finalizer: neighbouring inputs give unrelated outputs */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}


static inline uint64_t pattern_seed(int src, int dst, uint64_t seq)
{
    return pattern_mix(((uint64_t)(uint32_t)src << 40) ^
                       ((uint64_t)(uint32_t)dst << 20) ^
                       (seq * 0x9e3779b97f4a7c15ull));
}


static inline uint8_t pattern_byte(uint64_t seed, size_t offset)
{
    /* Depends on the full offset, so a block shifted by any amount (also by
     * a multiple of 8 or 256) does not match */
    return (uint8_t)((seed >> ((offset & 7) * 8)) ^ (offset >> 3) ^
                     (offset * 0x9d));
}


/*
 * Self-test of the checks: with RSAGG_TEST_CORRUPT=<n> in the environment,
 * the n-th non-empty buffer filled by each process gets one wrong byte (and
 * the programs that send plain values add one to a value at the same point),
 * as if the transport had corrupted it. Every program must then fail; the
 * check script uses this to prove that its verdicts can fail.
 * Returns 1 exactly once, at the n-th call.
 */
static inline int pattern_corrupt_now(void)
{
    static long countdown = -2;
    const char *env;

    if (countdown == -2) {
        env       = getenv("RSAGG_TEST_CORRUPT");
        countdown = (env != NULL) ? atol(env) : -1;
    }
    return (countdown >= 0) && (countdown-- == 0);
}


static inline void pattern_maybe_corrupt(uint8_t *p, size_t length)
{
    if ((length > 0) && pattern_corrupt_now()) {
        p[length / 2] ^= 0x40;
    }
}


static inline void pattern_fill(void *buf, size_t length, int src, int dst,
                                uint64_t seq)
{
    uint64_t seed = pattern_seed(src, dst, seq);
    uint8_t *p    = (uint8_t*)buf;
    size_t i;

    for (i = 0; i < length; ++i) {
        p[i] = pattern_byte(seed, i);
    }
    pattern_maybe_corrupt(p, length);
}


/*
 * Compare a received buffer with the pattern. Returns the number of bytes
 * that differ; prints the first few of them with enough context (who, what,
 * where) to tell a misrouted message from a corrupted one.
 */
static inline size_t pattern_check(const void *buf, size_t length, int src,
                                   int dst, uint64_t seq, int me,
                                   const char *what)
{
    uint64_t seed    = pattern_seed(src, dst, seq);
    const uint8_t *p = (const uint8_t*)buf;
    size_t errors    = 0;
    size_t i;
    uint8_t expected;

    for (i = 0; i < length; ++i) {
        expected = pattern_byte(seed, i);
        if (p[i] == expected) {
            continue;
        }
        if (errors < PATTERN_MAX_REPORTED) {
            fprintf(stderr,
                    "rank %d: %s: from %d to %d seq %llu length %zu: byte "
                    "%zu is 0x%02x, expected 0x%02x\n",
                    me, what, src, dst, (unsigned long long)seq, length, i,
                    p[i], expected);
        }
        ++errors;
    }

    if (errors > PATTERN_MAX_REPORTED) {
        fprintf(stderr, "rank %d: %s: from %d to %d seq %llu: %zu of %zu "
                "bytes differ\n", me, what, src, dst,
                (unsigned long long)seq, errors, length);
    }
    return errors;
}


/* Message sizes used by the small-message tests, indexed by sequence
 * number: zero length, odd sizes, powers of two and their neighbours */
static const size_t pattern_small_sizes[] = {
    0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 64, 100, 255, 256, 257, 1000, 1024,
    2047, 4096, 8191, 8192
};

#define PATTERN_NUM_SMALL_SIZES \
    (sizeof(pattern_small_sizes) / sizeof(pattern_small_sizes[0]))
#define PATTERN_MAX_SMALL_SIZE  8192

static inline size_t pattern_small_size(uint64_t seq)
{
    return pattern_small_sizes[seq % PATTERN_NUM_SMALL_SIZES];
}

#endif
