/*
 * Writes the seed corpus of the parser fuzz target into the directory given
 * as argument: valid transfers of every form made by the batch builder, so
 * that the fuzzer starts from inputs that get past the headers.
 */

#include "fuzz_input.h"

#include <ucs/rsagg_builder.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define RSAGG_CORPUS_BUF 4096

static const char *rsagg_corpus_dir;
static unsigned    rsagg_corpus_count;


static void rsagg_corpus_write(uint8_t mode, const uint8_t *table,
                               size_t table_len, const uint8_t *payload,
                               size_t payload_len, int split)
{
    char path[4096];
    uint8_t prefix[3];
    size_t prefix_len = 1;
    FILE *f;

    prefix[0] = mode;
    if (split) {
        prefix[1]  = (uint8_t)table_len;
        prefix[2]  = (uint8_t)(table_len >> 8);
        prefix_len = 3;
    }

    snprintf(path, sizeof(path), "%s/seed-%03u", rsagg_corpus_dir,
             rsagg_corpus_count++);
    f = fopen(path, "wb");
    if ((f == NULL) ||
        (fwrite(prefix, 1, prefix_len, f) != prefix_len) ||
        (fwrite(table, 1, table_len, f) != table_len) ||
        ((payload_len != 0) &&
         (fwrite(payload, 1, payload_len, f) != payload_len)) ||
        (fclose(f) != 0)) {
        perror(path);
        exit(1);
    }
}


static void rsagg_corpus_check(ucs_status_t status)
{
    if (status != UCS_OK) {
        fprintf(stderr, "builder failed: %d\n", (int)status);
        exit(1);
    }
}


/*
 * Adds a scenario's records: n messages mixing ep switches, AM widths and
 * puts (inside the fuzz policy's regions).
 */
static void rsagg_corpus_fill(ucs_rsagg_builder_t *b, unsigned scenario)
{
    static uint8_t data[1024];
    unsigned i, n = 1 + scenario * 3;
    void *dst;

    for (i = 0; i < sizeof(data); ++i) {
        data[i] = (uint8_t)(i * 7 + scenario);
    }

    for (i = 0; i < n; ++i) {
        uint32_t ep = (scenario & 1) ? (i / 3) * 17 : 0;

        switch ((i + scenario) % 5) {
        case 0:
            rsagg_corpus_check(ucs_rsagg_builder_add_am_short(
                    b, ep, (uint8_t)(i % UCS_RSAGG_AM_ID_USER_MAX),
                    0x0102030405060708ull + i, data, i % 9));
            break;
        case 1:
            rsagg_corpus_check(ucs_rsagg_builder_add_am(
                    b, ep, 1, data, (scenario == 4) ? 300 : 20));
            break;
        case 2:
            rsagg_corpus_check(ucs_rsagg_builder_add_put(
                    b, ep, 1, 0x1000 + i * 8, data, 8));
            break;
        case 3:
            rsagg_corpus_check(ucs_rsagg_builder_am_begin(b, ep, 2, 64,
                                                          &dst));
            memcpy(dst, data, 40);
            rsagg_corpus_check(ucs_rsagg_builder_commit(b, 40));
            break;
        default:
            rsagg_corpus_check(ucs_rsagg_builder_add_put(
                    b, ep, 3, UINT64_MAX - 0x10, data, 0x10));
            break;
        }
    }
}


int main(int argc, char **argv)
{
    static uint8_t table[RSAGG_CORPUS_BUF], payload[RSAGG_CORPUS_BUF];
    ucs_rsagg_builder_t b;
    size_t length, payload_len;
    unsigned scenario;

    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus directory>\n", argv[0]);
        return 2;
    }
    rsagg_corpus_dir = argv[1];

    for (scenario = 0; scenario < 6; ++scenario) {
        rsagg_corpus_check(ucs_rsagg_builder_init(&b, table, sizeof(table),
                                                  scenario));
        rsagg_corpus_fill(&b, scenario);
        length = ucs_rsagg_builder_finish(&b, NULL);
        rsagg_corpus_write(RSAGG_FUZZ_MODE_BATCH, table, length, NULL, 0, 0);

        rsagg_corpus_check(ucs_rsagg_builder_init_oob(
                &b, table, sizeof(table), payload, sizeof(payload), scenario,
                0));
        rsagg_corpus_fill(&b, scenario);
        length = ucs_rsagg_builder_finish(&b, &payload_len);
        rsagg_corpus_write(RSAGG_FUZZ_MODE_OOB_MSG, table, length, payload,
                           payload_len, 1);

        rsagg_corpus_check(ucs_rsagg_builder_init_oob(
                &b, table, sizeof(table), payload, sizeof(payload), scenario,
                UCS_RSAGG_FLAG_PAYLOAD_IN_RING));
        ucs_rsagg_builder_set_ring_offset(&b, scenario * 4096);
        rsagg_corpus_fill(&b, scenario);
        length = ucs_rsagg_builder_finish(&b, &payload_len);
        rsagg_corpus_write(RSAGG_FUZZ_MODE_OOB_RING, table, length, payload,
                           payload_len, 1);
    }

    length = ucs_rsagg_ctrl_pack(table, UCS_RSAGG_CTRL_OP_CREDIT, 7, 65536);
    rsagg_corpus_write(RSAGG_FUZZ_MODE_CTRL, table, length, NULL, 0, 0);
    length = ucs_rsagg_ctrl_pack_body(table, UCS_RSAGG_CTRL_OP_FLUSH_REQ, 8,
                                      3, payload, 40);
    rsagg_corpus_write(RSAGG_FUZZ_MODE_CTRL, table, length, NULL, 0, 0);
    length = ucs_rsagg_ctrl_pack(table, UCS_RSAGG_CTRL_OP_FLUSH_ACK, 8, 3);
    rsagg_corpus_write(RSAGG_FUZZ_MODE_CTRL, table, length, NULL, 0, 0);

    length = ucs_rsagg_ctrl_pack_body(table, UCS_RSAGG_CTRL_OP_RING_REQ, 2,
                                      1 << 20, payload, 40);
    rsagg_corpus_write(RSAGG_FUZZ_MODE_CTRL, table, length, NULL, 0, 0);
    length = ucs_rsagg_ring_grant_pack(table, 2, 1 << 20, 0x7f0000001000ull,
                                       1 << 20, payload, 48);
    rsagg_corpus_write(RSAGG_FUZZ_MODE_CTRL, table, length, NULL, 0, 0);
    length = ucs_rsagg_ctrl_pack(table, UCS_RSAGG_CTRL_OP_RING_DENY, 2, 0);
    rsagg_corpus_write(RSAGG_FUZZ_MODE_CTRL, table, length, NULL, 0, 0);
    length = ucs_rsagg_ctrl_pack_body(table, UCS_RSAGG_CTRL_OP_CLOSE, 2, 0,
                                      payload, 40);
    rsagg_corpus_write(RSAGG_FUZZ_MODE_CTRL, table, length, NULL, 0, 0);

    printf("%u seeds in %s\n", rsagg_corpus_count, rsagg_corpus_dir);
    return 0;
}
