/* SPDX-License-Identifier: MIT */
/* Seeds for the preset fuzzers: `make_model_seeds DIR [FILE.hex ...]` writes
 * into DIR small presets made with the writer (each cell type, 1..4 layers,
 * one-hot and embedded input, both encodings, grids of 1, 3, 4 and 96 steps,
 * no, plain and UTF-8 metadata, weights of several scales, version 2 files
 * with each set of conditions and with attention, matrices stored as bf16
 * and int8), and the binary
 * form of each annotated hex dump given (bytes as hex pairs, '#' starts a
 * comment). Every seed is at most 128 KiB, the fuzzers' -max_len. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/model.h"

#define SEED_MAX_BYTES ((size_t)128 << 10)

static int write_file(const char *dir, const char *name, const void *data, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "make_model_seeds: %s: cannot create\n", path);
        return -1;
    }
    int ok = fwrite(data, 1, n, f) == n;
    ok &= fclose(f) == 0;
    if (!ok) fprintf(stderr, "make_model_seeds: %s: write error\n", path);
    return ok ? 0 : -1;
}

/* attn: the attention window n (its size is n + 1), 0 for none; dt the
 * dtype of every matrix that may be reduced */
static int one_attn(const char *dir, rnn_kind kind, int spq, rnn_cell cell, int layers, int embed,
                    int hidden, float scale, int meta_kind, unsigned conditions, int attn,
                    rnn_dtype dt, int *made)
{
    rnn_model_config cfg = {.kind = kind,
                            .steps_per_quarter = spq,
                            .cell = cell,
                            .layers = layers,
                            .embed = embed,
                            .hidden = hidden,
                            .vocab = rnn_kind_vocab(kind),
                            .conditions = conditions,
                            .attn_window = attn,
                            .attn_size = attn ? attn + 1 : 0};
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(&cfg, specs);
    if (n < 0) return -1;
    float *t[RNN_MAX_TENSORS] = {0};
    uint64_t s = (uint64_t)(kind * 131 + spq * 17 + cell * 7 + layers * 3 + embed + hidden) | 1;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (!(t[i] = malloc(specs[i].count * sizeof(float)))) rc = -1;
        for (size_t j = 0; rc == 0 && j < specs[i].count; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            t[i][j] = scale * ((float)(uint32_t)(s >> 40) / 8388608.0f - 1.0f);
        }
    }
    const rnn_meta metas[3][3] = {
        {{0}},
        {{"name", "seed"}, {"license", "MIT"}, {0}},
        {{"name", "tiny \xe2\x99\xaa"}, {"valid_nll", "1.5"}, {"command", "a=b c"}},
    };
    const size_t n_meta[3] = {0, 2, 3};
    void *buf = NULL;
    size_t len = 0;
    char err[512], name[128];
    rnn_dtype d[RNN_MAX_TENSORS];
    rnn_model_reduced_dtypes(&cfg, dt, d);
    if (rc == 0 && rnn_model_serialize_typed(&cfg, metas[meta_kind], n_meta[meta_kind],
                                             (const float *const *)t, d, &buf, &len, err,
                                             sizeof err) < 0) {
        fprintf(stderr, "make_model_seeds: %s\n", err);
        rc = -1;
    }
    if (rc == 0 && len <= SEED_MAX_BYTES) {
        snprintf(name, sizeof name, "%s-%s-q%d-l%d-e%d-h%d-m%d-c%u%s%s%s.rnnw",
                 kind == RNN_KIND_MELODY ? "melody" : "drums", rnn_cell_name(cell), spq, layers,
                 embed, hidden, meta_kind, conditions, attn ? "-attn" : "",
                 dt != RNN_DTYPE_F32 ? "-" : "", dt != RNN_DTYPE_F32 ? rnn_dtype_name(dt) : "");
        rc = write_file(dir, name, buf, len);
        if (rc == 0) ++*made;
    }
    free(buf);
    for (int i = 0; i < n; i++)
        free(t[i]);
    return rc;
}

static int one(const char *dir, rnn_kind kind, int spq, rnn_cell cell, int layers, int embed,
               int hidden, float scale, int meta_kind, unsigned conditions, int *made)
{
    return one_attn(dir, kind, spq, cell, layers, embed, hidden, scale, meta_kind, conditions, 0,
                    RNN_DTYPE_F32, made);
}

static int from_hex(const char *dir, const char *path, int *made)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "make_model_seeds: %s: cannot open\n", path);
        return -1;
    }
    uint8_t *out = malloc(SEED_MAX_BYTES);
    size_t n = 0;
    int c, hi = -1, comment = 0, rc = out ? 0 : -1;
    while (rc == 0 && (c = fgetc(f)) != EOF) {
        if (c == '\n') comment = 0;
        if (comment || c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
        if (c == '#') {
            comment = 1;
            continue;
        }
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v < 0 || (hi < 0 && n == SEED_MAX_BYTES)) {
            fprintf(stderr, "make_model_seeds: %s: not a hex dump of at most %zu bytes\n", path,
                    SEED_MAX_BYTES);
            rc = -1;
        } else if (hi < 0) {
            hi = v;
        } else {
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    fclose(f);
    if (rc == 0) {
        const char *base = strrchr(path, '/');
        char name[256];
        snprintf(name, sizeof name, "%s", base ? base + 1 : path);
        char *dot = strstr(name, ".hex");
        if (dot) *dot = 0;
        rc = write_file(dir, name, out, n);
        if (rc == 0) ++*made;
    }
    free(out);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: make_model_seeds DIR [FILE.hex ...]\n");
        return 2;
    }
    const char *dir = argv[1];
    int made = 0, rc = 0;
    for (int cell = RNN_CELL_RNN; cell <= RNN_CELL_GRU; cell++) {
        rc |= one(dir, RNN_KIND_MELODY, 4, (rnn_cell)cell, 1, 0, 1, 0.5f, 0, 0, &made);
        rc |= one(dir, RNN_KIND_MELODY, 4, (rnn_cell)cell, 2, 4, 3, 1.0f, 1, 0, &made);
        rc |= one(dir, RNN_KIND_MELODY, 3, (rnn_cell)cell, 4, 2, 2, 8.0f, 2, 0, &made);
        rc |= one(dir, RNN_KIND_MELODY, 96, (rnn_cell)cell, 1, 8, 8, 0.25f, 1, 0, &made);
        rc |= one(dir, RNN_KIND_DRUMS, 4, (rnn_cell)cell, 1, 2, 2, 1.0f, 2, 0, &made);
        rc |= one(dir, RNN_KIND_DRUMS, 1, (rnn_cell)cell, 2, 0, 1, 30.0f, 0, 0, &made);
        /* version 2: every set of conditions, one-hot and embedded input */
        rc |= one(dir, RNN_KIND_MELODY, 4, (rnn_cell)cell, 1, 0, 2, 1.0f, 1, RNN_COND_ALL, &made);
        rc |=
            one(dir, RNN_KIND_MELODY, 2, (rnn_cell)cell, 2, 3, 2, 4.0f, 0, RNN_COND_HARMONY, &made);
        rc |=
            one(dir, RNN_KIND_MELODY, 3, (rnn_cell)cell, 1, 2, 3, 0.5f, 2, RNN_COND_METRIC, &made);
        rc |= one(dir, RNN_KIND_DRUMS, 4, (rnn_cell)cell, 1, 4, 2, 1.0f, 1, RNN_COND_METRIC, &made);
        /* version 2 with attention, alone and with conditions */
        rc |= one_attn(dir, RNN_KIND_MELODY, 4, (rnn_cell)cell, 2, 0, 2, 1.0f, 1, 0, 4,
                       RNN_DTYPE_F32, &made);
        rc |= one_attn(dir, RNN_KIND_DRUMS, 4, (rnn_cell)cell, 1, 3, 3, 2.0f, 0, RNN_COND_METRIC, 2,
                       RNN_DTYPE_F32, &made);
        /* reduced matrices: bf16, int8, one-hot and embedded, with attention */
        rc |= one_attn(dir, RNN_KIND_MELODY, 4, (rnn_cell)cell, 2, 3, 3, 1.0f, 1, 0, 0,
                       RNN_DTYPE_BF16, &made);
        rc |= one_attn(dir, RNN_KIND_MELODY, 4, (rnn_cell)cell, 1, 0, 5, 1.0f, 0, 0, 0,
                       RNN_DTYPE_INT8, &made);
        rc |= one_attn(dir, RNN_KIND_DRUMS, 4, (rnn_cell)cell, 1, 2, 3, 1.0f, 2, RNN_COND_METRIC,
                       2, RNN_DTYPE_INT8, &made);
    }
    for (int i = 2; i < argc; i++)
        rc |= from_hex(dir, argv[i], &made);
    printf("make_model_seeds: %d seeds in %s\n", made, dir);
    return rc ? 1 : 0;
}
