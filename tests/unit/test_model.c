/* SPDX-License-Identifier: MIT */
/* Tests of core/model.c, the .rnnw v1 preset writer and reader.
 *
 * References: the byte layout of a tiny preset written by an independent
 * writer (tests/fixtures/make_model_tiny.py, from core/FORMAT.md alone, kept
 * as an annotated hex dump), and of one with bf16 and int8 records
 * (tests/fixtures/make_model_tiny_reduced.py), hand-listed tensor names and shapes, and
 * bit-exact round trips. Defective files are made by serializing, patching one
 * field at an offset computed here from FORMAT.md, and recomputing the CRC, so
 * the reader's intended check is the one reached. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../../core/encoder.h"
#include "../../core/model.h"
#include "../../core/net.h"
#include "../../core/qmat.h"

#define FIXTURE "tests/fixtures/model_tiny.rnnw.hex"

static char tmpdir[] = "/tmp/rnnmidi-test-model-XXXXXX";

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

typedef struct {
    rnn_model_config cfg;
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    int n;
    float *data[RNN_MAX_TENSORS];
} weights;

static uint32_t rng_next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Random bit patterns (denormals, -0, huge values: every finite float is
 * fair), so a round trip is checked bit for bit. */
static void weights_make(weights *w, const rnn_model_config *cfg, uint32_t seed)
{
    memset(w, 0, sizeof *w);
    w->cfg = *cfg;
    w->n = rnn_model_tensor_specs(cfg, w->specs);
    assert_true(w->n > 0);
    uint32_t s = seed * 2654435761u + 1;
    for (int i = 0; i < w->n; i++) {
        w->data[i] = malloc(w->specs[i].count * sizeof(float));
        assert_non_null(w->data[i]);
        for (size_t j = 0; j < w->specs[i].count; j++) {
            uint32_t u = rng_next(&s);
            if ((u & 0x7f800000u) == 0x7f800000u) u &= 0xbfffffffu; /* make it finite */
            memcpy(&w->data[i][j], &u, sizeof u);
        }
    }
}

static void weights_free(weights *w)
{
    for (int i = 0; i < w->n; i++)
        free(w->data[i]);
}

static const float *const *ptrs(const weights *w)
{
    return (const float *const *)w->data;
}

static rnn_model_config config(rnn_kind kind, rnn_cell cell, int layers, int embed, int hidden)
{
    return (rnn_model_config){.kind = kind,
                              .steps_per_quarter = 4,
                              .cell = cell,
                              .layers = layers,
                              .embed = embed,
                              .hidden = hidden,
                              .vocab = kind == RNN_KIND_MELODY ? 130 : 512};
}

static size_t pad4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void recrc(uint8_t *b, size_t n)
{
    put32(b + n - 4, (uint32_t)crc32(0L, b, (uInt)(n - 4)));
}

/* Offsets of tensor record i of a file, computed from FORMAT.md's layout. */
typedef struct {
    size_t start, name, dtype, ndim, dims, data;
} record_at;

static record_at record_after(size_t header, const rnn_tensor_spec *s, int i, size_t meta_size)
{
    size_t off = header + pad4(meta_size);
    for (int k = 0; k < i; k++)
        off += 4 + pad4(strlen(s[k].name)) + 8 + 4 * (size_t)s[k].ndim + 4 * s[k].count;
    record_at r = {.start = off, .name = off + 4};
    r.dtype = r.name + pad4(strlen(s[i].name));
    r.ndim = r.dtype + 4;
    r.dims = r.ndim + 4;
    r.data = r.dims + 4 * (size_t)s[i].ndim;
    return r;
}

/* In a version 1 file (64-byte header). */
static record_at record(const rnn_tensor_spec *s, int i, size_t meta_size)
{
    return record_after(64, s, i, meta_size);
}

static void check_msg(const char *err, const char *name, const char *needle)
{
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s: ", name);
    if (!strstr(err, needle) || strncmp(err, prefix, strlen(prefix)) != 0) {
        print_error("message \"%s\"\n  should start with \"%s\" and contain \"%s\"\n", err, prefix,
                    needle);
        fail();
    }
}

static void expect_load_error(const uint8_t *b, size_t n, const char *name, const char *needle)
{
    char err[512] = "";
    rnn_model *m = rnn_model_load_memory(b, n, name, err, sizeof err);
    if (m) {
        print_error("a defective file loaded; expected \"%s\"\n", needle);
        rnn_model_free(m);
        fail();
    }
    check_msg(err, name, needle);
}

static void expect_config_error(const rnn_model_config *cfg, const char *needle)
{
    char err[512] = "";
    assert_int_equal(rnn_model_config_check(cfg, err, sizeof err), -1);
    if (!strstr(err, needle)) {
        print_error("message \"%s\" lacks \"%s\"\n", err, needle);
        fail();
    }
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    assert_int_equal(rnn_model_tensor_specs(cfg, specs), -1);
}

static void expect_serialize_error(const rnn_model_config *cfg, const rnn_meta *meta, size_t nm,
                                   const float *const *t, const char *needle)
{
    char err[512] = "";
    void *out = (void *)1;
    size_t len = 1;
    assert_int_equal(rnn_model_serialize(cfg, meta, nm, t, &out, &len, err, sizeof err), -1);
    assert_null(out);
    assert_int_equal(len, 0);
    if (!strstr(err, needle)) {
        print_error("message \"%s\" lacks \"%s\"\n", err, needle);
        fail();
    }
}

static uint8_t *serialize(const weights *w, const rnn_meta *meta, size_t nm, size_t *len)
{
    char err[512] = "";
    void *out = NULL;
    if (rnn_model_serialize(&w->cfg, meta, nm, ptrs(w), &out, len, err, sizeof err) != 0) {
        print_error("serialize: %s\n", err);
        fail();
    }
    return out;
}

static rnn_model *load_mem(const void *b, size_t n)
{
    char err[512] = "";
    rnn_model *m = rnn_model_load_memory(b, n, "mem.rnnw", err, sizeof err);
    if (!m) {
        print_error("load: %s\n", err);
        fail();
    }
    return m;
}

static void path_in_tmp(char *dst, size_t n, const char *leaf)
{
    snprintf(dst, n, "%s/%s", tmpdir, leaf);
}

/* Entries of a folder whose name contains part (all when part is ""). */
static int count_entries(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strstr(e->d_name, part)) n++;
    closedir(d);
    return n;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        remove_tree(sub);
    }
    closedir(d);
    rmdir(path);
}

/* Same config, metadata and every tensor bit for bit. */
static void assert_same_model(const rnn_model *a, const weights *w, const rnn_meta *meta, size_t nm)
{
    const rnn_model_config *c = rnn_model_get_config(a);
    assert_int_equal(c->kind, w->cfg.kind);
    assert_int_equal(c->steps_per_quarter, w->cfg.steps_per_quarter);
    assert_int_equal(c->cell, w->cfg.cell);
    assert_int_equal(c->layers, w->cfg.layers);
    assert_int_equal(c->embed, w->cfg.embed);
    assert_int_equal(c->hidden, w->cfg.hidden);
    assert_int_equal(c->vocab, w->cfg.vocab);
    assert_int_equal(c->conditions, w->cfg.conditions);
    assert_int_equal(c->attn_window, w->cfg.attn_window);
    assert_int_equal(c->attn_size, w->cfg.attn_size);
    assert_int_equal(c->lookback, w->cfg.lookback);
    assert_int_equal(rnn_model_meta_count(a), nm);
    for (size_t i = 0; i < nm; i++) {
        rnn_meta e = rnn_model_meta_at(a, i);
        assert_string_equal(e.key, meta[i].key);
        assert_string_equal(e.value, meta[i].value);
        assert_string_equal(rnn_model_meta(a, meta[i].key), meta[i].value);
    }
    for (int i = 0; i < w->n; i++) {
        size_t count = 0;
        const float *t = rnn_model_tensor(a, w->specs[i].name, &count);
        assert_non_null(t);
        assert_int_equal(count, w->specs[i].count);
        assert_int_equal((uintptr_t)t % 64, 0);
        assert_memory_equal(t, w->data[i], count * sizeof(float));
    }
}

/* The annotated hex dump: pairs of hex digits, '#' to the end of a line is a comment. */
static uint8_t *read_hex(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        print_error("cannot open %s (run the tests from the top folder)\n", path);
        fail();
    }
    size_t cap = 4096, n = 0;
    uint8_t *b = malloc(cap);
    assert_non_null(b);
    int c, hi = -1, comment = 0;
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n') comment = 0;
        if (comment || c == '#') {
            comment = 1;
            continue;
        }
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0) continue;
        if (hi < 0) {
            hi = v;
            continue;
        }
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap);
            assert_non_null(b);
        }
        b[n++] = (uint8_t)(hi << 4 | v);
        hi = -1;
    }
    fclose(f);
    assert_int_equal(hi, -1);
    *len = n;
    return b;
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                    */

static void test_cells_and_specs(void **state)
{
    (void)state;
    assert_int_equal(rnn_cell_gates(RNN_CELL_RNN), 1);
    assert_int_equal(rnn_cell_gates(RNN_CELL_LSTM), 4);
    assert_int_equal(rnn_cell_gates(RNN_CELL_GRU), 3);
    assert_int_equal(rnn_cell_gates((rnn_cell)3), 0);
    assert_string_equal(rnn_cell_name(RNN_CELL_RNN), "rnn");
    assert_string_equal(rnn_cell_name(RNN_CELL_LSTM), "lstm");
    assert_string_equal(rnn_cell_name(RNN_CELL_GRU), "gru");
    assert_null(rnn_cell_name((rnn_cell)-1));

    /* FORMAT.md's table written out for LSTM, L=2, E=3, H=5, melody. */
    static const struct {
        const char *name;
        int ndim, r, c;
    } lstm[] = {
        {"embed.weight", 2, 130, 3},    {"rnn.weight_ih_l0", 2, 20, 3},
        {"rnn.weight_hh_l0", 2, 20, 5}, {"rnn.bias_ih_l0", 1, 20, 1},
        {"rnn.bias_hh_l0", 1, 20, 1},   {"rnn.weight_ih_l1", 2, 20, 5},
        {"rnn.weight_hh_l1", 2, 20, 5}, {"rnn.bias_ih_l1", 1, 20, 1},
        {"rnn.bias_hh_l1", 1, 20, 1},   {"head.weight", 2, 130, 5},
        {"head.bias", 1, 130, 1},
    };
    rnn_tensor_spec s[RNN_MAX_TENSORS];
    rnn_model_config cfg = config(RNN_KIND_MELODY, RNN_CELL_LSTM, 2, 3, 5);
    assert_int_equal(rnn_model_tensor_specs(&cfg, s), 11);
    for (int i = 0; i < 11; i++) {
        assert_string_equal(s[i].name, lstm[i].name);
        assert_int_equal(s[i].ndim, lstm[i].ndim);
        assert_int_equal(s[i].shape[0], lstm[i].r);
        assert_int_equal(s[i].shape[1], lstm[i].c);
        assert_int_equal(s[i].count, (size_t)lstm[i].r * lstm[i].c);
    }
    /* GRU, one-hot drums: the first input is V wide, no embedding. */
    cfg = config(RNN_KIND_DRUMS, RNN_CELL_GRU, 1, 0, 2);
    assert_int_equal(rnn_model_tensor_specs(&cfg, s), 6);
    assert_string_equal(s[0].name, "rnn.weight_ih_l0");
    assert_int_equal(s[0].shape[0], 6);
    assert_int_equal(s[0].shape[1], 512);
    assert_string_equal(s[4].name, "head.weight");
    assert_int_equal(s[5].shape[0], 512);
    /* The maximum layers fill the tensor table. */
    cfg = config(RNN_KIND_MELODY, RNN_CELL_RNN, RNN_MAX_LAYERS, 1, 1);
    assert_int_equal(rnn_model_tensor_specs(&cfg, s), 3 + 4 * RNN_MAX_LAYERS);
    assert_true(3 + 4 * RNN_MAX_LAYERS <= RNN_MAX_TENSORS);
}

/* The cell table against PyTorch's modules: gate names and counts, the
 * state, and products that cover every gate of W_ih and W_hh exactly once;
 * and the shape-only specs, which take the trainer's tiny vocabularies that
 * a preset may not have. */
static void test_cell_table(void **state)
{
    (void)state;
    static const struct {
        const char *name, *gates;
        int G, parts;
    } want[RNN_CELL_COUNT] = {
        {"rnn", "h", 1, 1}, {"lstm", "i f g o", 4, 2}, {"gru", "r z n", 3, 1}};
    for (int c = 0; c < RNN_CELL_COUNT; c++) {
        const rnn_cell_desc *d = rnn_cell_describe((rnn_cell)c);
        assert_non_null(d);
        assert_int_equal(d->cell, c);
        assert_ptr_equal(rnn_cell_find(want[c].name), d);
        assert_string_equal(d->gate_names, want[c].gates);
        assert_int_equal(d->gates, want[c].G);
        assert_int_equal(d->state_parts, want[c].parts);
        int x[RNN_CELL_MAX_GATES] = {0}, h[RNN_CELL_MAX_GATES] = {0},
            slot[RNN_CELL_MAX_SLOTS] = {0};
        for (int p = 0; p < d->n_products; p++) {
            const rnn_cell_product *q = &d->products[p];
            assert_true(q->gate >= 0 && q->n >= 1 && q->gate + q->n <= d->gates);
            assert_true(q->slot >= 0 && q->slot + q->n <= d->slots);
            for (int g = 0; g < q->n; g++) {
                x[q->gate + g] += q->x;
                h[q->gate + g] += q->h;
                slot[q->slot + g]++;
            }
        }
        for (int g = 0; g < d->gates; g++) {
            assert_int_equal(x[g], 1);
            assert_int_equal(h[g], 1);
        }
        for (int i = 0; i < d->slots; i++)
            assert_int_equal(slot[i], 1);
        /* the step's multiply-adds: G*Hp rows over [x | h], GRU's split too */
        assert_int_equal(rnn_cell_layer_macs(d, 7, 5, 16), (size_t)d->gates * 16 * 12);
    }
    assert_null(rnn_cell_describe((rnn_cell)RNN_CELL_COUNT));
    assert_null(rnn_cell_find("transformer"));
    assert_null(rnn_cell_find(NULL));
    assert_int_equal(rnn_cell_input_slots(rnn_cell_describe(RNN_CELL_GRU)), 3);

    rnn_tensor_spec s[RNN_MAX_TENSORS], t[RNN_MAX_TENSORS];
    rnn_model_config cfg = config(RNN_KIND_MELODY, RNN_CELL_GRU, 2, 3, 5);
    cfg.vocab = 11;
    assert_int_equal(rnn_model_tensor_specs(&cfg, s), -1);
    assert_int_equal(rnn_model_shape_specs(&cfg, s), 11);
    assert_int_equal(s[0].shape[0], 11);
    assert_int_equal(s[1].shape[0], 15);
    cfg.vocab = rnn_kind_vocab(RNN_KIND_MELODY);
    assert_int_equal(rnn_model_shape_specs(&cfg, s), rnn_model_tensor_specs(&cfg, t));
    for (int i = 0; i < 11; i++) {
        assert_string_equal(s[i].name, t[i].name);
        assert_int_equal(s[i].ndim, t[i].ndim);
        assert_memory_equal(s[i].shape, t[i].shape, sizeof s[i].shape);
        assert_int_equal(s[i].count, t[i].count);
    }
    cfg.vocab = 0;
    assert_int_equal(rnn_model_shape_specs(&cfg, s), -1);
    cfg.vocab = 11;
    cfg.cell = (rnn_cell)RNN_CELL_COUNT;
    assert_int_equal(rnn_model_shape_specs(&cfg, s), -1);
    cfg.cell = RNN_CELL_LSTM;
    cfg.layers = RNN_MAX_LAYERS + 1;
    assert_int_equal(rnn_model_shape_specs(&cfg, s), -1);
}

static void test_config_caps(void **state)
{
    (void)state;
    rnn_model_config c = config(RNN_KIND_MELODY, RNN_CELL_LSTM, 9, 0, 8);
    expect_config_error(&c, "layer count 9 exceeds the maximum 4");
    c.layers = 0;
    expect_config_error(&c, "layer count 0 is below the minimum 1");
    c = config(RNN_KIND_MELODY, RNN_CELL_LSTM, 1, 0, 5000);
    expect_config_error(&c, "hidden size 5000 exceeds the maximum 4096");
    c.hidden = 0;
    expect_config_error(&c, "hidden size 0 is below the minimum 1");
    c = config(RNN_KIND_MELODY, RNN_CELL_GRU, 1, -1, 8);
    expect_config_error(&c, "embedding size -1 is below the minimum 0");
    c.embed = 4097;
    expect_config_error(&c, "embedding size 4097 exceeds the maximum 4096");
    c = config(RNN_KIND_MELODY, RNN_CELL_RNN, 1, 0, 8);
    c.vocab = 100;
    expect_config_error(&c, "vocabulary 100 does not match the melody encoding (130)");
    c = config(RNN_KIND_DRUMS, RNN_CELL_RNN, 1, 0, 8);
    c.vocab = 130;
    expect_config_error(&c, "vocabulary 130 does not match the drums encoding (512)");
    c.kind = (rnn_kind)0;
    expect_config_error(&c, "unknown encoding kind 0");
    c = config(RNN_KIND_MELODY, (rnn_cell)5, 1, 0, 8);
    expect_config_error(&c, "unknown cell type 5");
    c = config(RNN_KIND_MELODY, RNN_CELL_RNN, 1, 0, 8);
    c.steps_per_quarter = 97;
    expect_config_error(&c, "steps per quarter 97 exceeds the maximum 96");
    c.steps_per_quarter = 0;
    expect_config_error(&c, "steps per quarter 0 is below the minimum 1");
    /* Every field at its cap, but 4 x 2^26 LSTM weights per layer: over 512 MiB. */
    c = config(RNN_KIND_MELODY, RNN_CELL_LSTM, 4, 4096, 4096);
    expect_config_error(&c, "over the 512 MiB limit");
    c = config(RNN_KIND_MELODY, RNN_CELL_GRU, 4, 4096, 1024);
    assert_int_equal(rnn_model_config_check(&c, NULL, 0), 0);
    assert_int_equal(rnn_model_config_check(NULL, NULL, 0), -1);
}

static void test_round_trip(void **state)
{
    (void)state;
    const rnn_meta meta[] = {
        {"name", "Round trip \xe2\x99\xaa \xf0\x9f\x8e\xb9"},
        {"author", "tests"},
        {"valid_nll", "1.25"},
        {"empty", ""},
        {"a.b-c_D9", "x=y=z"},
    };
    const size_t nm = sizeof meta / sizeof meta[0];
    char path[512];
    path_in_tmp(path, sizeof path, "round.rnnw");
    uint32_t seed = 1;
    for (int kind = RNN_KIND_MELODY; kind <= RNN_KIND_DRUMS; kind++) {
        for (int cell = RNN_CELL_RNN; cell <= RNN_CELL_GRU; cell++) {
            for (int layers = 1; layers <= RNN_MAX_LAYERS; layers++) {
                for (int embed = 0; embed <= 3; embed += 3) {
                    rnn_model_config cfg =
                        config((rnn_kind)kind, (rnn_cell)cell, layers, embed, 2 + layers);
                    cfg.steps_per_quarter = 1 + (int)(seed % 96);
                    weights w;
                    weights_make(&w, &cfg, seed++);
                    const size_t n_meta = seed % 2 ? nm : 0;
                    size_t len;
                    uint8_t *b = serialize(&w, meta, n_meta, &len);

                    rnn_model *m = load_mem(b, len);
                    assert_same_model(m, &w, meta, n_meta);

                    char err[512] = "";
                    assert_int_equal(
                        rnn_model_write(path, &cfg, meta, n_meta, ptrs(&w), err, sizeof err), 0);
                    rnn_model *mp = rnn_model_load(path, err, sizeof err);
                    if (!mp) print_error("%s\n", err);
                    assert_non_null(mp);
                    assert_same_model(mp, &w, meta, n_meta);

                    /* Writing the loaded model again gives the same bytes. */
                    const float *again[RNN_MAX_TENSORS];
                    for (int i = 0; i < w.n; i++)
                        again[i] = rnn_model_tensor(mp, w.specs[i].name, NULL);
                    void *b2;
                    size_t len2;
                    rnn_meta m2[8];
                    for (size_t i = 0; i < rnn_model_meta_count(mp); i++)
                        m2[i] = rnn_model_meta_at(mp, i);
                    assert_int_equal(rnn_model_serialize(rnn_model_get_config(mp), m2,
                                                         rnn_model_meta_count(mp), again, &b2,
                                                         &len2, err, sizeof err),
                                     0);
                    assert_int_equal(len2, len);
                    assert_memory_equal(b2, b, len);

                    free(b2);
                    rnn_model_free(mp);
                    rnn_model_free(m);
                    free(b);
                    weights_free(&w);
                }
            }
        }
    }
    unlink(path);
    assert_int_equal(count_entries(tmpdir, ""), 0);
}

/* The tiny preset's weights, by the formula of make_model_tiny.py. */
static void tiny_weights(weights *w)
{
    rnn_model_config cfg = config(RNN_KIND_MELODY, RNN_CELL_RNN, 1, 0, 1);
    weights_make(w, &cfg, 0);
    for (int t = 0; t < w->n; t++)
        for (size_t j = 0; j < w->specs[t].count; j++)
            w->data[t][j] = (float)((int)((7 * j + 3 * (size_t)t) % 23) - 11) / 16.0f;
}

static const rnn_meta tiny_meta[] = {{"name", "tiny \xe2\x99\xaa"}, {"license", "MIT"}};

static void test_fixture_bytes(void **state)
{
    (void)state;
    size_t ref_len;
    uint8_t *ref = read_hex(FIXTURE, &ref_len);
    assert_int_equal(ref_len, 1864);

    weights w;
    tiny_weights(&w);
    size_t len;
    uint8_t *b = serialize(&w, tiny_meta, 2, &len);
    assert_int_equal(len, ref_len);
    for (size_t i = 0; i < len; i++) {
        if (b[i] != ref[i]) {
            print_error("byte %zu: writer 0x%02x, reference 0x%02x\n", i, b[i], ref[i]);
            fail();
        }
    }
    rnn_model *m = load_mem(ref, ref_len);
    assert_same_model(m, &w, tiny_meta, 2);
    size_t count;
    const float *hb = rnn_model_tensor(m, "head.bias", &count);
    assert_int_equal(count, 130);
    /* head.bias is tensor 5: ((7 j + 15) mod 23 - 11) / 16 */
    assert_true(hb[0] == (float)(15 - 11) / 16.0f);
    assert_true(hb[1] == (float)(22 - 11) / 16.0f);
    assert_true(hb[2] == (float)(6 - 11) / 16.0f);
    rnn_model_free(m);
    free(b);
    free(ref);
    weights_free(&w);
}

/* Flipped bytes and truncation anywhere give an error, never a model or a crash. */
static void corrupt_everywhere(const uint8_t *base, size_t len)
{
    uint8_t *b = malloc(len);
    assert_non_null(b);
    char err[512];
    static const uint8_t masks[] = {0xff, 0x01, 0x80};
    for (size_t i = 0; i < len; i++) {
        for (size_t k = 0; k < sizeof masks; k++) {
            memcpy(b, base, len);
            b[i] ^= masks[k];
            err[0] = '\0';
            rnn_model *m = rnn_model_load_memory(b, len, "flip.rnnw", err, sizeof err);
            if (m) {
                print_error("byte %zu ^ 0x%02x loaded\n", i, masks[k]);
                rnn_model_free(m);
                fail();
            }
            check_msg(err, "flip.rnnw", "");
        }
    }
    for (size_t n = 0; n < len; n++) {
        /* A fresh allocation of exactly n bytes, so ASan sees any over-read. */
        uint8_t *t = malloc(n ? n : 1);
        assert_non_null(t);
        memcpy(t, base, n);
        err[0] = '\0';
        rnn_model *m = rnn_model_load_memory(t, n, "cut.rnnw", err, sizeof err);
        if (m) {
            print_error("file cut to %zu bytes loaded\n", n);
            rnn_model_free(m);
            fail();
        }
        check_msg(err, "cut.rnnw", n == 0 ? "empty file" : "truncated");
        free(t);
    }
    free(b);
}

static void test_flip_and_truncate_everywhere(void **state)
{
    (void)state;
    size_t len;
    uint8_t *ref = read_hex(FIXTURE, &len);
    corrupt_everywhere(ref, len);
    free(ref);

    const rnn_meta meta[] = {{"name", "x"}, {"k", "v\xc3\xa9"}, {"three", "333"}};
    for (int cell = RNN_CELL_RNN; cell <= RNN_CELL_GRU; cell++) {
        rnn_model_config cfg = config(RNN_KIND_MELODY, (rnn_cell)cell, 2, 1, 1);
        weights w;
        weights_make(&w, &cfg, 7);
        uint8_t *b = serialize(&w, meta, 3 - (size_t)cell, &len);
        corrupt_everywhere(b, len);
        free(b);
        weights_free(&w);
    }
}

/* The base file of the defect tests: LSTM, L=2, E=3, H=2, melody. */
#define BASE_META "name=base\nauthor=someone\n" /* 25 bytes, then 3 of padding */
#define META_AT 64

static void test_defects(void **state)
{
    (void)state;
    const rnn_meta meta[] = {{"name", "base"}, {"author", "someone"}};
    rnn_model_config cfg = config(RNN_KIND_MELODY, RNN_CELL_LSTM, 2, 3, 2);
    weights w;
    weights_make(&w, &cfg, 3);
    size_t n;
    uint8_t *base = serialize(&w, meta, 2, &n);
    const size_t ms = strlen(BASE_META);
    assert_memory_equal(base + META_AT, BASE_META, ms);
    assert_int_equal(w.n, 11);
    uint8_t *b = malloc(n + 16);
    assert_non_null(b);
    size_t bn;
    const char *F = "presets/x.rnnw";
    char want[512];

#define DEFECT(patch, needle)                                                                      \
    do {                                                                                           \
        memcpy(b, base, n), bn = n;                                                                \
        patch;                                                                                     \
        recrc(b, bn);                                                                              \
        expect_load_error(b, bn, F, needle);                                                       \
    } while (0)
#define DEFECT_RAW(patch, needle)                                                                  \
    do {                                                                                           \
        memcpy(b, base, n), bn = n;                                                                \
        patch;                                                                                     \
        expect_load_error(b, bn, F, needle);                                                       \
    } while (0)

    /* The base itself loads. */
    rnn_model *ok = load_mem(base, n);
    rnn_model_free(ok);

    /* Header. */
    DEFECT(b[0] = 'X', "wrong magic (not an rnnmidi preset)");
    DEFECT_RAW(memcpy(b, "MThd\0\0\0\6", 8), "wrong magic (not an rnnmidi preset)");
    DEFECT_RAW(bn = 20, "truncated: header needs 64 bytes at offset 0, file has 20");
    DEFECT_RAW(bn = 0, "empty file");
    DEFECT(put32(b + 8, 3), "unknown format version 3 (this build reads versions 1..2)");
    DEFECT(put32(b + 8, 0), "unknown format version 0");
    /* a version 1 file called version 2: its header is too short for one */
    DEFECT(put32(b + 8, 2), "wrong header size 64 (version 2 has 96)");
    DEFECT(put32(b + 12, 96), "wrong header size 96 (version 1 has 64)");
    DEFECT(put32(b + 12, 72), "wrong header size 72");
    DEFECT(put32(b + 16, 3), "unknown encoding kind 3");
    DEFECT(put32(b + 20, 0), "steps per quarter 0 is below the minimum 1");
    DEFECT(put32(b + 20, 97), "steps per quarter 97 exceeds the maximum 96");
    DEFECT(put32(b + 24, 3), "unknown cell type 3");
    DEFECT(put32(b + 28, 9), "layer count 9 exceeds the maximum 4");
    DEFECT(put32(b + 28, 0), "layer count 0 is below the minimum 1");
    DEFECT(put32(b + 32, 5000), "embedding size 5000 exceeds the maximum 4096");
    DEFECT(put32(b + 36, 5000), "hidden size 5000 exceeds the maximum 4096");
    DEFECT(put32(b + 36, 0xffffffffu), "hidden size 4294967295 exceeds the maximum 4096");
    DEFECT(put32(b + 36, 0), "hidden size 0 is below the minimum 1");
    DEFECT(put32(b + 40, 100), "vocabulary 100 does not match the melody encoding (130)");
    DEFECT(put32(b + 16, 2), "vocabulary 130 does not match the drums encoding (512)");
    DEFECT((put32(b + 24, 1), put32(b + 28, 4), put32(b + 32, 4096), put32(b + 36, 4096)),
           "over the 512 MiB limit");
    DEFECT(put32(b + 44, 2u << 20), "metadata size 2097152 exceeds the maximum 1048576");
    DEFECT(put32(b + 48, 10), "tensor count 10, the header's lstm config has 11");
    DEFECT(b[60] = 1, "nonzero reserved header byte at offset 60");
    /* A header saying one layer for a two-layer file: the records do not add up. */
    DEFECT(put32(b + 28, 1), "tensor count 11, the header's lstm config has 7");
    DEFECT((put32(b + 28, 1), put32(b + 48, 7)), "wrong tensor name 'rnn.weight_ih_l1' at offset");

    /* Metadata. */
    DEFECT(b[META_AT + 1] = ' ', "bad metadata: line 1 has byte 0x20 in its key");
    DEFECT(b[META_AT + 0] = '=', "bad metadata: line 1 has an empty key");
    DEFECT(b[META_AT + 4] = '_', "bad metadata: line 1 has no '='");
    DEFECT(memcpy(b + META_AT + 10, "name=xxxxxxxxx\n", 15), "bad metadata: duplicate key 'name'");
    DEFECT(b[META_AT + 6] = 0, "bad metadata: line 1: NUL byte in the value of 'name'");
    DEFECT((b[META_AT + 6] = 0xc0, b[META_AT + 7] = 0x80),
           "bad metadata: line 1: invalid UTF-8 (byte 0xc0) in the value of 'name'");
    DEFECT(memcpy(b + META_AT + 17, "\xed\xa0\x80", 3),
           "bad metadata: line 2: invalid UTF-8 (byte 0xed) in the value of 'author'");
    DEFECT(b[META_AT + 24] = 'x', "bad metadata: line 2 does not end with a newline");
    DEFECT(b[META_AT + 26] = 1, "nonzero padding after the metadata at offset 90");

    /* Tensor records. */
    record_at r2 = record(w.specs, 2, ms);   /* rnn.weight_hh_l0 (8, 2) */
    record_at r3 = record(w.specs, 3, ms);   /* rnn.bias_ih_l0 (8) */
    record_at r10 = record(w.specs, 10, ms); /* head.bias (130) */
    assert_int_equal(get32(b + r2.start), 16);
    snprintf(want, sizeof want,
             "wrong tensor name 'rnn.weight_hh_l1' at offset %zu where 'rnn.weight_hh_l0' was "
             "expected",
             r2.start);
    DEFECT(b[r2.name + 15] = '1', want);
    DEFECT(put32(b + r2.start, 15), "wrong tensor name 'rnn.weight_hh_l' at offset");
    DEFECT(put32(b + r2.start, 0), "tensor name length 0 at offset");
    DEFECT(put32(b + r2.start, 64), "tensor name length 64 at offset");
    DEFECT(b[r2.name] = 0x01, "wrong tensor name '?nn.weight_hh_l0'");
    DEFECT(b[r3.name + 14] = 'x', "nonzero padding after tensor name 'rnn.bias_ih_l0'");
    snprintf(want, sizeof want,
             "tensor 'rnn.weight_hh_l0' has unknown dtype 3 at offset %zu (0 = float32, 1 = bf16, "
             "2 = int8)",
             r2.dtype);
    DEFECT(put32(b + r2.dtype, 3), want);
    snprintf(want, sizeof want,
             "tensor 'rnn.bias_ih_l0' has dtype 1 (bf16) at offset %zu, but it must be float32",
             r3.dtype);
    DEFECT(put32(b + r3.dtype, 1), want);
    DEFECT(put32(b + r2.ndim, 3), "tensor 'rnn.weight_hh_l0' has ndim 3, expected 2");
    DEFECT(put32(b + r3.ndim, 2), "tensor 'rnn.bias_ih_l0' has ndim 2, expected 1");
    DEFECT(put32(b + r2.dims + 4, 3),
           "tensor 'rnn.weight_hh_l0' has shape (8, 3), the header says (8, 2)");
    DEFECT(put32(b + r3.dims, 9), "tensor 'rnn.bias_ih_l0' has shape (9), the header says (8)");

    /* Weights. */
    DEFECT(put32(b + r10.data + 4 * 3, 0x7fc00000u), "non-finite weight in 'head.bias' at index 3");
    DEFECT(put32(b + r10.data + 4 * 129, 0xff800000u),
           "non-finite weight in 'head.bias' at index 129");
    DEFECT(put32(b + record(w.specs, 0, ms).data, 0x7f800000u),
           "non-finite weight in 'embed.weight' at index 0");

    /* Checksum, size, truncation. */
    snprintf(want, sizeof want, "checksum mismatch (stored 0x%08x, computed 0x",
             get32(base + n - 4));
    DEFECT_RAW(b[r2.data] ^= 0x10, want);
    DEFECT_RAW(b[n - 1] ^= 0x01, "checksum mismatch (stored 0x");
    DEFECT_RAW((memset(b + n, 0, 12), bn = n + 12), "12 trailing bytes after the checksum");
    DEFECT_RAW((memset(b + n, 0, 1), bn = n + 1), "1 trailing bytes after the checksum");
    const size_t rec2 = r3.start - r2.start;
    snprintf(want, sizeof want,
             "truncated: tensor 'rnn.weight_hh_l0' needs %zu bytes at offset %zu, file has %zu",
             rec2, r2.start, r2.start + 10);
    DEFECT_RAW(bn = r2.start + 10, want);
    DEFECT_RAW(bn = n - 2, "truncated: checksum needs 4 bytes");
    DEFECT_RAW(bn = 70, "truncated: metadata needs 25 bytes at offset 64, file has 70");
    /* A header announcing more metadata than the file holds. */
    DEFECT(put32(b + 44, 1u << 20), "truncated: metadata needs 1048576 bytes at offset 64");
#undef DEFECT
#undef DEFECT_RAW
    free(b);
    free(base);

    /* A key of 65 characters, from a 64-character key whose value starts with '='. */
    char key[65];
    memset(key, 'k', 64);
    key[64] = '\0';
    const rnn_meta longer[] = {{key, "=v"}};
    base = serialize(&w, longer, 1, &n);
    assert_int_equal(base[META_AT + 64], '=');
    base[META_AT + 64] = 'k';
    recrc(base, n);
    expect_load_error(base, n, F, "bad metadata: line 1 has a key of 65 characters (at most 64)");
    free(base);
    weights_free(&w);
}

static void test_writer_refuses(void **state)
{
    (void)state;
    rnn_model_config cfg = config(RNN_KIND_MELODY, RNN_CELL_GRU, 1, 0, 2);
    weights w;
    weights_make(&w, &cfg, 11);
    const int hb = w.n - 1;
    assert_string_equal(w.specs[hb].name, "head.bias");

    w.data[hb][3] = NAN;
    expect_serialize_error(&cfg, NULL, 0, ptrs(&w), "non-finite weight in 'head.bias' at index 3");
    w.data[hb][3] = -INFINITY;
    expect_serialize_error(&cfg, NULL, 0, ptrs(&w), "non-finite weight in 'head.bias' at index 3");
    w.data[hb][3] = 0.5f;
    w.data[0][0] = INFINITY;
    expect_serialize_error(&cfg, NULL, 0, ptrs(&w),
                           "non-finite weight in 'rnn.weight_ih_l0' at index 0");
    w.data[0][0] = 0.5f;

    const float *t[RNN_MAX_TENSORS];
    for (int i = 0; i < w.n; i++)
        t[i] = w.data[i];
    t[2] = NULL;
    expect_serialize_error(&cfg, NULL, 0, t, "tensor 'rnn.bias_ih_l0' has no data");
    expect_serialize_error(&cfg, NULL, 0, NULL, "no tensors");

    rnn_model_config bad = cfg;
    bad.layers = 9;
    expect_serialize_error(&bad, NULL, 0, ptrs(&w), "layer count 9 exceeds the maximum 4");

    const rnn_meta space[] = {{"my key", "v"}};
    expect_serialize_error(&cfg, space, 1, ptrs(&w), "metadata key 0 has byte 0x20");
    const rnn_meta eq[] = {{"a", "1"}, {"k=v", "v"}};
    expect_serialize_error(&cfg, eq, 2, ptrs(&w), "metadata key 1 has byte 0x3d");
    const rnn_meta empty[] = {{"", "v"}};
    expect_serialize_error(&cfg, empty, 1, ptrs(&w), "metadata key 0 has 0 characters");
    char longkey[66];
    memset(longkey, 'k', 65);
    longkey[65] = '\0';
    const rnn_meta lk[] = {{longkey, "v"}};
    expect_serialize_error(&cfg, lk, 1, ptrs(&w), "metadata key 0 has 65 characters");
    longkey[64] = '\0';
    const rnn_meta lk64[] = {{longkey, "v"}};
    void *out;
    size_t len;
    char err[512];
    assert_int_equal(rnn_model_serialize(&cfg, lk64, 1, ptrs(&w), &out, &len, err, sizeof err), 0);
    free(out);
    const rnn_meta nl[] = {{"name", "two\nlines"}};
    expect_serialize_error(&cfg, nl, 1, ptrs(&w), "metadata value of 'name' contains a newline");
    const rnn_meta utf[] = {{"name", "caf\xe9"}};
    expect_serialize_error(&cfg, utf, 1, ptrs(&w),
                           "invalid UTF-8 (byte 0xe9) in the value of 'name'");
    const rnn_meta dup[] = {{"name", "a"}, {"x", "b"}, {"name", "c"}};
    expect_serialize_error(&cfg, dup, 3, ptrs(&w), "duplicate key 'name'");
    const rnn_meta nokey[] = {{NULL, "a"}};
    expect_serialize_error(&cfg, nokey, 1, ptrs(&w), "metadata entry 0 has no key");
    expect_serialize_error(&cfg, NULL, 2, ptrs(&w), "2 metadata entries but no array");
    char *huge = malloc((1u << 20) + 1);
    assert_non_null(huge);
    memset(huge, 'v', 1u << 20);
    huge[1u << 20] = '\0';
    const rnn_meta big[] = {{"big", huge}};
    expect_serialize_error(&cfg, big, 1, ptrs(&w), "metadata takes over the 1048576 bytes");
    /* Exactly at the cap: "big=" + value + "\n" = 1 MiB. */
    huge[(1u << 20) - 5] = '\0';
    assert_int_equal(rnn_model_serialize(&cfg, big, 1, ptrs(&w), &out, &len, err, sizeof err), 0);
    rnn_model *m = load_mem(out, len);
    assert_int_equal(strlen(rnn_model_meta(m, "big")), (1u << 20) - 5);
    rnn_model_free(m);
    free(out);
    free(huge);

    /* rnn_model_write names the file and writes nothing. */
    char path[512];
    path_in_tmp(path, sizeof path, "refused.rnnw");
    w.data[hb][0] = NAN;
    assert_int_equal(rnn_model_write(path, &cfg, NULL, 0, ptrs(&w), err, sizeof err), -1);
    check_msg(err, path, "non-finite weight in 'head.bias' at index 0");
    assert_int_equal(count_entries(tmpdir, ""), 0);
    weights_free(&w);
}

static void test_api_lookups(void **state)
{
    (void)state;
    size_t len;
    uint8_t *ref = read_hex(FIXTURE, &len);
    rnn_model *m = load_mem(ref, len);
    assert_int_equal(rnn_model_meta_count(m), 2);
    assert_string_equal(rnn_model_meta(m, "license"), "MIT");
    assert_null(rnn_model_meta(m, "author"));
    assert_null(rnn_model_meta(m, "lic"));
    rnn_meta e = rnn_model_meta_at(m, 2);
    assert_null(e.key);
    assert_null(e.value);
    size_t count = 99;
    assert_null(rnn_model_tensor(m, "embed.weight", &count));
    assert_int_equal(count, 0);
    assert_null(rnn_model_tensor(m, "rnn.weight_ih_l1", NULL));
    assert_non_null(rnn_model_tensor(m, "rnn.weight_ih_l0", &count));
    assert_int_equal(count, 130);
    rnn_model_free(m);
    rnn_model_free(NULL);

    /* The model owns copies: the input buffer can go. */
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, ref, len);
    m = load_mem(copy, len);
    memset(copy, 0xaa, len);
    free(copy);
    assert_string_equal(rnn_model_meta(m, "name"), "tiny \xe2\x99\xaa");
    assert_true(rnn_model_tensor(m, "head.bias", NULL)[0] == 0.25f);
    rnn_model_free(m);
    free(ref);
}

static void test_load_path_errors(void **state)
{
    (void)state;
    char path[512], err[512];
    path_in_tmp(path, sizeof path, "missing.rnnw");
    assert_null(rnn_model_load(path, err, sizeof err));
    check_msg(err, path, "cannot open: ");
    assert_null(rnn_model_load(tmpdir, err, sizeof err));
    check_msg(err, tmpdir, "is a folder");

    /* A sparse file over the cap is refused from its size, before any read. */
    path_in_tmp(path, sizeof path, "huge.rnnw");
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)RNN_MODEL_MAX_BYTES + 1), 0);
    close(fd);
    assert_null(rnn_model_load(path, err, sizeof err));
    check_msg(err, path, "file is 536870913 bytes, over the 512 MiB limit");
    unlink(path);

    /* A file from the fixture loads from its path like from memory. */
    size_t len;
    uint8_t *ref = read_hex(FIXTURE, &len);
    path_in_tmp(path, sizeof path, "tiny.rnnw");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(ref, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    rnn_model *m = rnn_model_load(path, err, sizeof err);
    assert_non_null(m);
    weights w;
    tiny_weights(&w);
    assert_same_model(m, &w, tiny_meta, 2);
    rnn_model_free(m);
    weights_free(&w);
    /* The same errors through the path name the path. */
    assert_int_equal(truncate(path, 100), 0);
    assert_null(rnn_model_load(path, err, sizeof err));
    check_msg(err, path, "truncated: tensor 'rnn.weight_ih_l0' needs");
    unlink(path);
    free(ref);
}

static void test_write_atomic(void **state)
{
    (void)state;
    char path[512], err[512];
    rnn_model_config ca = config(RNN_KIND_MELODY, RNN_CELL_LSTM, 1, 2, 3);
    rnn_model_config cb = config(RNN_KIND_DRUMS, RNN_CELL_GRU, 2, 0, 4);
    weights wa, wb;
    weights_make(&wa, &ca, 21);
    weights_make(&wb, &cb, 22);
    const rnn_meta ma[] = {{"name", "A"}};
    const rnn_meta mb[] = {{"name", "B"}};

    /* A folder that does not exist: an error naming the file, nothing written. */
    path_in_tmp(path, sizeof path, "nope/x.rnnw");
    assert_int_equal(rnn_model_write(path, &ca, ma, 1, ptrs(&wa), err, sizeof err), -1);
    check_msg(err, path, "cannot create a temporary file beside it: No such file");
    assert_int_equal(count_entries(tmpdir, ""), 0);

    /* Write, then overwrite: each time the whole new preset, no leftovers. */
    path_in_tmp(path, sizeof path, "p.rnnw");
    assert_int_equal(rnn_model_write(path, &ca, ma, 1, ptrs(&wa), err, sizeof err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    rnn_model *m = rnn_model_load(path, err, sizeof err);
    assert_non_null(m);
    assert_same_model(m, &wa, ma, 1);
    rnn_model_free(m);
    assert_int_equal(rnn_model_write(path, &cb, mb, 1, ptrs(&wb), err, sizeof err), 0);
    m = rnn_model_load(path, err, sizeof err);
    assert_non_null(m);
    assert_same_model(m, &wb, mb, 1);
    rnn_model_free(m);
    assert_int_equal(count_entries(tmpdir, ""), 1);
    assert_int_equal(count_entries(tmpdir, ".tmp."), 0);

    /* A failing write (the file size limit standing in for a full disk):
     * an error naming the file, the old preset intact, no temporary file. */
    struct rlimit old, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = 1000;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    const int r = rnn_model_write(path, &ca, ma, 1, ptrs(&wa), err, sizeof err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(r, -1);
    check_msg(err, path, "cannot write: ");
    m = rnn_model_load(path, err, sizeof err);
    assert_non_null(m);
    assert_same_model(m, &wb, mb, 1);
    rnn_model_free(m);
    assert_int_equal(count_entries(tmpdir, ""), 1);

    /* The rename fails (the path is a folder): the temporary file goes too. */
    path_in_tmp(path, sizeof path, "adir");
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(rnn_model_write(path, &ca, ma, 1, ptrs(&wa), err, sizeof err), -1);
    check_msg(err, path, "cannot rename the temporary file over it");
    assert_int_equal(count_entries(tmpdir, ".tmp."), 0);
    assert_int_equal(count_entries(tmpdir, ""), 2);
    rmdir(path);
    path_in_tmp(path, sizeof path, "p.rnnw");
    unlink(path);
    weights_free(&wa);
    weights_free(&wb);
}

/* ------------------------------------------------------------------------ */
/* Version 2: conditions                                                    */

static void test_cond_columns(void **state)
{
    (void)state;
    rnn_model_config c = config(RNN_KIND_MELODY, RNN_CELL_GRU, 1, 0, 4);
    assert_int_equal(rnn_model_cond_columns(&c), 0);
    assert_int_equal(rnn_model_cond_offset(&c, RNN_COND_METRIC), -1);
    assert_int_equal(rnn_model_cond_offset(&c, RNN_COND_HARMONY), -1);
    c.conditions = RNN_COND_METRIC;
    assert_int_equal(rnn_model_cond_columns(&c), 34); /* 2 + 4 * 4 + 16 */
    assert_int_equal(rnn_model_cond_offset(&c, RNN_COND_METRIC), 0);
    assert_int_equal(rnn_model_cond_offset(&c, RNN_COND_HARMONY), -1);
    c.conditions = RNN_COND_HARMONY;
    assert_int_equal(rnn_model_cond_columns(&c), 12);
    assert_int_equal(rnn_model_cond_offset(&c, RNN_COND_HARMONY), 0);
    c.conditions = RNN_COND_ALL;
    c.steps_per_quarter = 96;
    assert_int_equal(rnn_model_cond_columns(&c), RNN_MAX_COND_COLUMNS);
    assert_int_equal(rnn_model_cond_offset(&c, RNN_COND_HARMONY), 2 + 4 * 96 + 16);
    assert_int_equal(rnn_model_cond_columns(NULL), 0);

    /* the columns widen layer 0's input only, after the event's */
    c.steps_per_quarter = 2; /* 26 metric columns */
    rnn_tensor_spec s[RNN_MAX_TENSORS];
    for (int embed = 0; embed <= 3; embed += 3) {
        c.embed = embed;
        c.layers = 2;
        const int n = rnn_model_tensor_specs(&c, s);
        const int first = embed ? 1 : 0;
        assert_int_equal(n, first + 8 + 2);
        assert_string_equal(s[first].name, "rnn.weight_ih_l0");
        assert_int_equal(s[first].shape[0], 3 * 4);
        assert_int_equal(s[first].shape[1], (embed ? 3 : 130) + 26 + 12);
        assert_string_equal(s[first + 4].name, "rnn.weight_ih_l1");
        assert_int_equal(s[first + 4].shape[1], 4);
        assert_int_equal(rnn_model_shape_specs(&c, s), n);
    }

    /* refused: unknown bits, harmony for drums, no grid to size the metric */
    c = config(RNN_KIND_MELODY, RNN_CELL_LSTM, 1, 2, 3);
    c.conditions = 8;
    expect_config_error(&c, "unknown condition bits 0x8 (known: 1 = metric, 2 = harmony, 4 = of "
                            "the predicted step)");
    assert_int_equal(rnn_model_shape_specs(&c, s), -1);
    c.conditions = RNN_COND_NEXT; /* qualifies conditions, of which there are none */
    expect_config_error(&c, "condition bit 4 (of the predicted step) with no condition");
    assert_int_equal(rnn_model_shape_specs(&c, s), -1);
    c.conditions = RNN_COND_METRIC | 8;
    expect_config_error(&c, "unknown condition bits 0x8");
    c = config(RNN_KIND_DRUMS, RNN_CELL_LSTM, 1, 2, 3);
    c.conditions = RNN_COND_HARMONY;
    expect_config_error(&c, "the harmony condition is for melody models, this one is drums");
    c.conditions = RNN_COND_METRIC;
    assert_int_equal(rnn_model_config_check(&c, NULL, 0), 0);
    c.steps_per_quarter = 0;
    assert_int_equal(rnn_model_shape_specs(&c, s), -1);
    c.conditions = 0;
    assert_true(rnn_model_shape_specs(&c, s) > 0); /* the grid is not looked at without them */
}

/* Every set of conditions round-trips as a version 2 file; none is version 1. */
static void test_v2_round_trip(void **state)
{
    (void)state;
    const rnn_meta meta[] = {{"name", "conditioned"}, {"conditions", "metric,harmony"}};
    static const unsigned sets[] = {0,
                                    RNN_COND_METRIC,
                                    RNN_COND_HARMONY,
                                    RNN_COND_ALL,
                                    RNN_COND_METRIC | RNN_COND_NEXT,
                                    RNN_COND_ALL | RNN_COND_NEXT};
    for (int cell = 0; cell < RNN_CELL_COUNT; cell++) {
        for (int si = 0; si < (int)(sizeof sets / sizeof *sets); si++) {
            for (int embed = 0; embed <= 5; embed += 5) {
                rnn_model_config cfg = config(RNN_KIND_MELODY, (rnn_cell)cell, 2, embed, 3);
                cfg.steps_per_quarter = 3;
                cfg.conditions = sets[si];
                weights w;
                weights_make(&w, &cfg, (uint32_t)(cell * 8 + si * 2 + embed + 1));
                size_t n;
                uint8_t *b = serialize(&w, meta, 2, &n);
                const uint32_t version = sets[si] ? 2 : 1, header = sets[si] ? 96 : 64;
                assert_int_equal(get32(b + 8), version);
                assert_int_equal(get32(b + 12), header);
                if (sets[si]) {
                    const uint32_t metric = sets[si] & RNN_COND_METRIC ? 2 + 12 + 16 : 0;
                    const uint32_t harmony = sets[si] & RNN_COND_HARMONY ? 12 : 0;
                    assert_int_equal(get32(b + 52), sets[si]);
                    assert_int_equal(get32(b + 56), metric + harmony);
                    assert_int_equal(get32(b + 60), metric);
                    assert_int_equal(get32(b + 64), harmony);
                    for (int i = 68; i < 96; i++)
                        assert_int_equal(b[i], 0);
                }
                /* metadata right after the header, then the records */
                assert_memory_equal(b + header, "name=conditioned\n", 17);
                const int ih0 = embed ? 1 : 0;
                record_at r = record_after(header, w.specs, ih0, 43);
                assert_int_equal(get32(r.dims + b + 4), w.specs[ih0].shape[1]);
                rnn_model *m = load_mem(b, n);
                assert_same_model(m, &w, meta, 2);
                rnn_model_free(m);
                free(b);
                weights_free(&w);
            }
        }
    }
    /* drums take the metric */
    rnn_model_config cfg = config(RNN_KIND_DRUMS, RNN_CELL_GRU, 1, 4, 2);
    cfg.conditions = RNN_COND_METRIC;
    weights w;
    weights_make(&w, &cfg, 99);
    size_t n;
    uint8_t *b = serialize(&w, NULL, 0, &n);
    rnn_model *m = load_mem(b, n);
    assert_same_model(m, &w, NULL, 0);
    rnn_model_free(m);
    free(b);
    weights_free(&w);
}

/* A version 2 file damaged anywhere is refused, with the file and offset. */
static void test_v2_defects(void **state)
{
    (void)state;
    const rnn_meta meta[] = {{"name", "v2"}}; /* 8 bytes: no padding */
    rnn_model_config cfg = config(RNN_KIND_MELODY, RNN_CELL_LSTM, 1, 3, 2);
    cfg.conditions = RNN_COND_ALL; /* 34 + 12 columns */
    weights w;
    weights_make(&w, &cfg, 5);
    size_t n;
    uint8_t *base = serialize(&w, meta, 1, &n);
    uint8_t *b = malloc(n);
    assert_non_null(b);
    size_t bn;
    const char *F = "presets/v2.rnnw";
    char want[256];
#define DEFECT(patch, needle)                                                                      \
    do {                                                                                           \
        memcpy(b, base, n), bn = n;                                                                \
        patch;                                                                                     \
        recrc(b, bn);                                                                              \
        expect_load_error(b, bn, F, needle);                                                       \
    } while (0)
    rnn_model_free(load_mem(base, n));
    DEFECT(put32(b + 8, 3), "unknown format version 3");
    DEFECT(put32(b + 12, 64), "wrong header size 64 (version 2 has 96)");
    DEFECT(put32(b + 8, 1), "wrong header size 96 (version 1 has 64)");
    DEFECT(bn = 80, "truncated: header needs 96 bytes at offset 0, file has 80");
    DEFECT(put32(b + 52, 0), "version 2 header declares no condition at offset 52");
    DEFECT(put32(b + 52, 11), "unknown condition bits 0x8 (known: 1 = metric, 2 = harmony, 4 = "
                              "of the predicted step), at offset 52");
    DEFECT(put32(b + 52, 4), "condition bit 4 (of the predicted step) with no condition, at "
                             "offset 52");
    DEFECT(put32(b + 52, 0x80000003u), "unknown condition bits 0x80000000");
    DEFECT((put32(b + 16, 2), put32(b + 40, 512)),
           "the harmony condition is for melody models, this one is drums, at offset 52");
    DEFECT(put32(b + 56, 45),
           "condition columns 45 at offset 56, the conditions 0x3 at 4 steps per quarter have 46");
    DEFECT(put32(b + 60, 33), "metric columns 33 at offset 60");
    DEFECT(put32(b + 64, 11), "harmony columns 11 at offset 64");
    DEFECT(put32(b + 64, 0), "harmony columns 0 at offset 64");
    /* a different grid has other metric columns than the file's */
    DEFECT(put32(b + 20, 2), "condition columns 46 at offset 56, the conditions 0x3 at 2 steps "
                             "per quarter have 38");
    /* bits and counts that agree with each other but not with the tensors */
    DEFECT((put32(b + 52, 1), put32(b + 56, 34), put32(b + 64, 0)),
           "tensor 'rnn.weight_ih_l0' has shape (8, 49), the header says (8, 37)");
    /* 68..75 are the attention's window and size (test_attn_defects) */
    DEFECT(put32(b + 68, 1025), "attention window 1025 exceeds the maximum 1024, at offset 68");
    DEFECT(put32(b + 72, 3), "attention size 3 without attention (window 0): it must be 0, at "
                             "offset 72");
    /* 76 is the lookback's column count (test_lookback_defects) */
    DEFECT(put32(b + 76, 1), "lookback columns 1 at offset 76, the melody encoding has 0 (none) "
                             "or 262");
    /* 80..91 are the encoder's fields (test_enc_defects): without an
     * encoder each must be 0, and the message names the field's offset */
    for (int i = 80; i < 96; i++) {
        if (i < 92)
            snprintf(want, sizeof want, "at offset %d", i & ~3);
        else
            snprintf(want, sizeof want, "nonzero reserved header byte at offset %d", i);
        DEFECT(b[i] = 0x10, want);
    }
    record_at r1 = record_after(96, w.specs, 1, 8); /* rnn.weight_ih_l0 (8, 3 + 46) */
    assert_int_equal(get32(b + r1.dims + 4), 49);
    DEFECT(put32(b + r1.dims + 4, 48),
           "tensor 'rnn.weight_ih_l0' has shape (8, 48), the header says (8, 49)");
    DEFECT(put32(b + 44, 1u << 20), "truncated: metadata needs 1048576 bytes at offset 96");
#undef DEFECT
    free(b);
    corrupt_everywhere(base, n);
    free(base);
    weights_free(&w);

    /* the writer refuses what the reader would */
    cfg.conditions = 16;
    rnn_model_config good = cfg;
    good.conditions = RNN_COND_ALL;
    weights_make(&w, &good, 6);
    expect_serialize_error(&cfg, NULL, 0, ptrs(&w), "unknown condition bits 0x10");
    weights_free(&w);
}

/* ------------------------------------------------------------------------ */
/* Version 2: attention                                                     */

/* The attention's tensors come after the last layer's and widen the head. */
static void test_attn_specs(void **state)
{
    (void)state;
    rnn_model_config c = config(RNN_KIND_DRUMS, RNN_CELL_LSTM, 2, 0, 6);
    c.attn_window = 8;
    c.attn_size = 5;
    rnn_tensor_spec s[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(&c, s);
    assert_int_equal(n, 8 + 3 + 2);
    assert_string_equal(s[7].name, "rnn.bias_hh_l1");
    assert_string_equal(s[8].name, "attn.W1");
    assert_int_equal(s[8].ndim, 2);
    assert_int_equal(s[8].shape[0], 5);
    assert_int_equal(s[8].shape[1], 6);
    assert_string_equal(s[9].name, "attn.W2");
    assert_int_equal(s[9].shape[0], 5);
    assert_int_equal(s[9].shape[1], 6);
    assert_string_equal(s[10].name, "attn.v");
    assert_int_equal(s[10].ndim, 1);
    assert_int_equal(s[10].count, 5);
    assert_string_equal(s[11].name, "head.weight");
    assert_int_equal(s[11].shape[0], 512);
    assert_int_equal(s[11].shape[1], 12);
    assert_string_equal(s[12].name, "head.bias");
    assert_int_equal(rnn_model_shape_specs(&c, s), n);

    /* the caps: window 0..1024, size 1..4096 with a window and 0 without */
    c.attn_window = RNN_MAX_ATTN_WINDOW;
    c.attn_size = RNN_MAX_ATTN_SIZE;
    assert_int_equal(rnn_model_config_check(&c, NULL, 0), 0);
    c.attn_window = RNN_MAX_ATTN_WINDOW + 1;
    expect_config_error(&c, "attention window 1025");
    assert_int_equal(rnn_model_shape_specs(&c, s), -1);
    c.attn_window = -1;
    expect_config_error(&c, "attention window -1 is below the minimum 0");
    c.attn_window = 4;
    c.attn_size = 0;
    expect_config_error(&c, "attention size 0");
    assert_int_equal(rnn_model_shape_specs(&c, s), -1);
    c.attn_size = RNN_MAX_ATTN_SIZE + 1;
    expect_config_error(&c, "attention size 4097");
    c.attn_window = 0;
    c.attn_size = 64;
    expect_config_error(&c, "attention size 64 without attention (window 0): it must be 0");
    assert_int_equal(rnn_model_shape_specs(&c, s), -1);
}

/* Attention alone, and with conditions, round-trips as a version 2 file. */
static void test_attn_round_trip(void **state)
{
    (void)state;
    const rnn_meta meta[] = {{"name", "attending"}};
    for (int cell = 0; cell < RNN_CELL_COUNT; cell++) {
        for (int cond = 0; cond <= 1; cond++) {
            rnn_model_config cfg = config(RNN_KIND_MELODY, (rnn_cell)cell, 1 + cell, 4 * cond, 3);
            cfg.conditions = cond ? RNN_COND_METRIC : 0;
            cfg.attn_window = 2 + cell;
            cfg.attn_size = 4 + cond;
            weights w;
            weights_make(&w, &cfg, (uint32_t)(cell * 4 + cond + 77));
            size_t n;
            uint8_t *b = serialize(&w, meta, 1, &n);
            assert_int_equal(get32(b + 8), 2);
            assert_int_equal(get32(b + 12), 96);
            assert_int_equal(get32(b + 52), cfg.conditions);
            assert_int_equal(get32(b + 56), cond ? 34 : 0);
            assert_int_equal(get32(b + 68), (uint32_t)cfg.attn_window);
            assert_int_equal(get32(b + 72), (uint32_t)cfg.attn_size);
            for (int i = 76; i < 96; i++)
                assert_int_equal(b[i], 0);
            /* the head's record holds two dimensions, V then 2H */
            const int head = w.n - 2;
            assert_string_equal(w.specs[head].name, "head.weight");
            record_at r = record_after(96, w.specs, head, 15);
            assert_int_equal(get32(b + r.dims), 130);
            assert_int_equal(get32(b + r.dims + 4), 6);
            rnn_model *m = load_mem(b, n);
            assert_same_model(m, &w, meta, 1);
            rnn_model_free(m);
            free(b);
            weights_free(&w);
        }
    }
}

/* A version 2 attention file damaged anywhere is refused, with the file and
 * offset; without attention and conditions a model is version 1. */
static void test_attn_defects(void **state)
{
    (void)state;
    rnn_model_config cfg = config(RNN_KIND_DRUMS, RNN_CELL_GRU, 1, 0, 4);
    cfg.attn_window = 6;
    cfg.attn_size = 3;
    weights w;
    weights_make(&w, &cfg, 31);
    size_t n;
    uint8_t *base = serialize(&w, NULL, 0, &n);
    uint8_t *b = malloc(n);
    assert_non_null(b);
    size_t bn;
    const char *F = "presets/attn.rnnw";
#define DEFECT(patch, needle)                                                                      \
    do {                                                                                           \
        memcpy(b, base, n), bn = n;                                                                \
        patch;                                                                                     \
        recrc(b, bn);                                                                              \
        expect_load_error(b, bn, F, needle);                                                       \
    } while (0)
    rnn_model_free(load_mem(base, n));
    DEFECT(put32(b + 68, 0), "attention size 3 without attention (window 0): it must be 0, at "
                             "offset 72");
    DEFECT((put32(b + 68, 0), put32(b + 72, 0)),
           "version 2 header declares no condition at offset 52 and no attention at offset 68");
    DEFECT(put32(b + 68, 1025), "attention window 1025 exceeds the maximum 1024, at offset 68");
    DEFECT(put32(b + 68, 0xffffffffu), "at offset 68");
    DEFECT(put32(b + 72, 0), "attention size 0 is below the minimum 1, at offset 72");
    DEFECT(put32(b + 72, 0), "at offset 72");
    DEFECT(put32(b + 72, 4097), "attention size 4097");
    /* a size that agrees with nothing in the records */
    DEFECT(put32(b + 72, 4), "tensor 'attn.W1' has shape (3, 4), the header says (4, 4)");
    DEFECT(b[76] = 1, "lookback columns 1 at offset 76, the drums encoding has 0 (none) or 20");
    for (int i = 80; i < 96; i++) { /* 80..91: the encoder's fields */
        char want[64];
        if (i == 80) /* one layer: then its hidden size is missing */
            snprintf(want, sizeof want, "encoder hidden size 0 is below the minimum 1, at offset 84");
        else if (i < 92)
            snprintf(want, sizeof want, "at offset %d", i & ~3);
        else
            snprintf(want, sizeof want, "nonzero reserved header byte at offset %d", i);
        DEFECT(b[i] = 1, want);
    }
    /* the records: attn.W1 (3, 4), attn.W2 (3, 4), attn.v (3), head.weight (512, 8) */
    record_at rw1 = record_after(96, w.specs, 4, 0);
    assert_int_equal(get32(b + rw1.dims), 3);
    DEFECT(put32(b + rw1.dims + 4, 5), "tensor 'attn.W1' has shape (3, 5), the header says (3, 4)");
    record_at rv = record_after(96, w.specs, 6, 0);
    DEFECT(b[rv.name + 5] = 'w', "wrong tensor name 'attn.w'");
    record_at rh = record_after(96, w.specs, 7, 0);
    assert_int_equal(get32(b + rh.dims + 4), 8);
    DEFECT(put32(b + rh.dims + 4, 4),
           "tensor 'head.weight' has shape (512, 4), the header says (512, 8)");
#undef DEFECT
    free(b);
    corrupt_everywhere(base, n);
    free(base);
    weights_free(&w);

    /* the writer refuses what the reader would */
    rnn_model_config bad = cfg;
    bad.attn_size = 0;
    weights_make(&w, &cfg, 32);
    expect_serialize_error(&bad, NULL, 0, ptrs(&w), "attention size 0");
    weights_free(&w);
}

/* ------------------------------------------------------------------------ */
/* Reduced tensors (bf16, int8)                                             */

/* Weights in the range a trained net has, with zeros and a zero row (int8's
 * scale 0), so every dtype can hold them. */
static void weights_small(weights *w, const rnn_model_config *cfg, uint32_t seed)
{
    weights_make(w, cfg, seed);
    uint32_t s = seed * 2654435761u + 7;
    for (int i = 0; i < w->n; i++)
        for (size_t j = 0; j < w->specs[i].count; j++) {
            const uint32_t u = rng_next(&s);
            w->data[i][j] = u % 11 == 0 ? 0.0f : ((float)(u >> 8) / 16777216.0f - 0.5f) * 3.0f;
        }
    const int head = w->n - 2; /* head.weight: its row 1 all zero */
    for (int c = 0; c < w->specs[head].shape[1]; c++)
        w->data[head][(size_t)w->specs[head].shape[1] + (size_t)c] = 0.0f;
}

/* Every tensor that may be reduced as dt, the others float32. */
static int dtypes_for(const rnn_model_config *cfg, rnn_dtype dt, rnn_dtype *d)
{
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(cfg, specs), reduced = 0;
    int count = reduced;
    for (int i = 0; i < n; i++) {
        d[i] = rnn_model_dtype_allowed(cfg, i) ? dt : RNN_DTYPE_F32;
        count += d[i] != RNN_DTYPE_F32;
    }
    return count;
}

static uint8_t *serialize_typed(const weights *w, const rnn_dtype *d, size_t *len)
{
    char err[512] = "";
    void *out = NULL;
    if (rnn_model_serialize_typed(&w->cfg, NULL, 0, ptrs(w), d, &out, len, err, sizeof err) != 0) {
        print_error("serialize: %s\n", err);
        fail();
    }
    return out;
}

/* Offsets of record i of a file whose tensors are stored as d. */
static record_at record_typed(size_t header, const rnn_tensor_spec *s, const rnn_dtype *d, int i,
                              size_t meta_size)
{
    size_t off = header + pad4(meta_size);
    for (int k = 0; k < i; k++) {
        const size_t data = d[k] == RNN_DTYPE_BF16   ? pad4(2 * s[k].count)
                            : d[k] == RNN_DTYPE_INT8 ? pad4(s[k].count) + 4 * (size_t)s[k].shape[0]
                                                     : 4 * s[k].count;
        off += 4 + pad4(strlen(s[k].name)) + 8 + 4 * (size_t)s[k].ndim + data;
    }
    record_at r = {.start = off, .name = off + 4};
    r.dtype = r.name + pad4(strlen(s[i].name));
    r.ndim = r.dtype + 4;
    r.dims = r.ndim + 4;
    r.data = r.dims + 4 * (size_t)s[i].ndim;
    return r;
}

/* The independent writer's reduced preset: core/model writes its bytes from
 * the same float32 weights, and reads its records back as the values they
 * stand for. */
static void test_reduced_fixture_bytes(void **state)
{
    (void)state;
    size_t len;
    uint8_t *ref = read_hex("tests/fixtures/model_tiny_reduced.rnnw.hex", &len);
    rnn_model_config cfg = config(RNN_KIND_MELODY, RNN_CELL_RNN, 1, 2, 3);
    weights w;
    weights_make(&w, &cfg, 1);
    assert_int_equal(w.n, 7);
    const rnn_dtype d[7] = {RNN_DTYPE_F32,  RNN_DTYPE_BF16, RNN_DTYPE_BF16, RNN_DTYPE_F32,
                            RNN_DTYPE_F32,  RNN_DTYPE_INT8, RNN_DTYPE_F32};
    for (int t = 0; t < w.n; t++)
        for (size_t j = 0; j < w.specs[t].count; j++)
            w.data[t][j] = (float)((int)((7 * j + 3 * (size_t)t) % 23) - 11) / 16.0f +
                           (float)((5 * j + (size_t)t) % 7) / 4096.0f;
    for (int c = 0; c < 3; c++)
        w.data[5][3 + c] = 0.0f; /* head.weight row 1 */
    const rnn_meta meta[] = {{"name", "tiny reduced"}};
    void *out = NULL;
    size_t n;
    char err[256];
    assert_int_equal(
        rnn_model_serialize_typed(&cfg, meta, 1, ptrs(&w), d, &out, &n, err, sizeof err), 0);
    assert_int_equal(n, len);
    assert_memory_equal(out, ref, len);
    rnn_model *m = load_mem(ref, len);
    const float *hh = rnn_model_tensor(m, "rnn.weight_hh_l0", NULL);
    for (int j = 0; j < 9; j++)
        assert_true(hh[j] == rnn_bf16_to_float(rnn_bf16_from_float(w.data[2][j])));
    const float *sc;
    const int8_t *q = rnn_model_tensor_int8(m, "head.weight", &sc);
    assert_non_null(q);
    assert_true(sc[1] == 0.0f);
    for (int r = 0; r < 130; r++) {
        float mx = 0.0f;
        for (int c = 0; c < 3; c++)
            mx = fmaxf(mx, fabsf(w.data[5][3 * r + c]));
        assert_true(sc[r] == mx / 127.0f);
        for (int c = 0; c < 3; c++)
            assert_true(fabsf(rnn_model_tensor(m, "head.weight", NULL)[3 * r + c] -
                              w.data[5][3 * r + c]) <= 0.5f * sc[r] * 1.0001f);
    }
    rnn_model_free(m);
    free(out);
    free(ref);
    weights_free(&w);
}

/* Which tensors may be reduced, by name, as FORMAT.md lists them. */
static void test_reduced_allowed(void **state)
{
    (void)state;
    rnn_model_config cfg = config(RNN_KIND_MELODY, RNN_CELL_LSTM, 2, 8, 4);
    cfg.conditions = RNN_COND_METRIC;
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(&cfg, specs);
    static const char *const yes[] = {"rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.weight_ih_l1",
                                      "rnn.weight_hh_l1", "head.weight"};
    int found = 0;
    for (int i = 0; i < n; i++) {
        int want = 0;
        for (size_t k = 0; k < sizeof yes / sizeof *yes; k++)
            want |= strcmp(specs[i].name, yes[k]) == 0;
        assert_int_equal(rnn_model_dtype_allowed(&cfg, i), want);
        found += want;
    }
    assert_int_equal(found, 5);
    cfg.embed = 0; /* one-hot: weight_ih_l0 is a column pick, stays float32 */
    assert_string_equal(specs[1].name, "rnn.weight_ih_l0");
    assert_int_equal(rnn_model_dtype_allowed(&cfg, 0), 0);
    assert_int_equal(rnn_model_dtype_allowed(&cfg, 1), 1); /* now weight_hh_l0 */
    assert_int_equal(rnn_model_dtype_allowed(&cfg, -1), 0);
    assert_int_equal(rnn_model_dtype_allowed(&cfg, 99), 0);
    cfg.attn_window = 4, cfg.attn_size = 3; /* attention's tensors stay float32 */
    const int na = rnn_model_tensor_specs(&cfg, specs);
    for (int i = 0; i < na; i++)
        if (!strncmp(specs[i].name, "attn.", 5)) assert_int_equal(rnn_model_dtype_allowed(&cfg, i), 0);
    /* the whole table at once: the same answer per tensor */
    rnn_dtype d[RNN_MAX_TENSORS];
    assert_int_equal(rnn_model_reduced_dtypes(&cfg, RNN_DTYPE_INT8, d), 4);
    for (int i = 0; i < na; i++)
        assert_int_equal(d[i], rnn_model_dtype_allowed(&cfg, i) ? RNN_DTYPE_INT8 : RNN_DTYPE_F32);
    assert_int_equal(rnn_model_reduced_dtypes(&cfg, RNN_DTYPE_F32, d), 0);
    cfg.layers = 0;
    assert_int_equal(rnn_model_reduced_dtypes(&cfg, RNN_DTYPE_BF16, d), -1);
    assert_int_equal(rnn_dtype_find("bf16"), RNN_DTYPE_BF16);
    assert_int_equal(rnn_dtype_find("int8"), RNN_DTYPE_INT8);
    assert_int_equal(rnn_dtype_find("fp32"), RNN_DTYPE_F32);
    assert_int_equal(rnn_dtype_find("float32"), RNN_DTYPE_F32);
    assert_int_equal(rnn_dtype_find("fp16"), -1);
    assert_null(rnn_dtype_name((rnn_dtype)3));
}

/* Reduced presets round-trip: the stored values are core/qmat's rounding of
 * the weights (its create is the peer), the floats are what they stand for,
 * the version and every float32 tensor are unchanged, and a reduced file
 * written again from its floats is the same file. */
static void test_reduced_round_trip(void **state)
{
    (void)state;
    for (int cell = 0; cell < RNN_CELL_COUNT; cell++)
        for (int v = 0; v < 4; v++) {
            const rnn_dtype dt = v & 1 ? RNN_DTYPE_INT8 : RNN_DTYPE_BF16;
            rnn_model_config cfg = config(v < 2 ? RNN_KIND_MELODY : RNN_KIND_DRUMS, (rnn_cell)cell,
                                          1 + (v & 1), cell == 1 ? 0 : 5, 3 + cell);
            if (cell == 2) cfg.conditions = RNN_COND_METRIC; /* a version 2 file stays one */
            weights w;
            weights_small(&w, &cfg, (uint32_t)(cell * 4 + v + 5));
            rnn_dtype d[RNN_MAX_TENSORS];
            assert_true(dtypes_for(&cfg, dt, d) >= 2);
            size_t n32, n;
            uint8_t *b32 = serialize(&w, NULL, 0, &n32);
            uint8_t *b = serialize_typed(&w, d, &n);
            assert_true(n < n32);
            assert_int_equal(get32(b + 8), get32(b32 + 8));
            rnn_model *m = load_mem(b, n);
            for (int i = 0; i < w.n; i++) {
                const rnn_tensor_spec *s = &w.specs[i];
                const int rows = s->shape[0], cols = s->shape[1];
                size_t count;
                const float *t = rnn_model_tensor(m, s->name, &count);
                assert_int_equal(count, s->count);
                assert_int_equal(rnn_model_tensor_dtype(m, s->name), d[i]);
                const record_at r = record_typed(get32(b + 12), w.specs, d, i, 0);
                assert_int_equal(get32(b + r.dtype), d[i]);
                if (d[i] == RNN_DTYPE_F32) {
                    assert_memory_equal(t, w.data[i], s->count * sizeof(float));
                    assert_null(rnn_model_tensor_bf16(m, s->name));
                    continue;
                }
                char err[256];
                rnn_qmat *q = rnn_qmat_create(w.data[i], rows, cols, (size_t)cols,
                                              (rnn_qmat_dtype)dt, err, sizeof err);
                assert_non_null(q);
                const float *sc = NULL;
                const uint16_t *h = rnn_model_tensor_bf16(m, s->name);
                const int8_t *q8 = rnn_model_tensor_int8(m, s->name, &sc);
                assert_true(dt == RNN_DTYPE_BF16 ? h && !q8 && !sc : !h && q8 && sc);
                for (int rr = 0; rr < rows; rr++) {
                    if (dt == RNN_DTYPE_INT8) {
                        assert_true(sc[rr] == rnn_qmat_row_scale(q, rr));
                        assert_true(get32(b + r.data + pad4(s->count) + 4 * (size_t)rr) ==
                                    get32((const uint8_t *)&sc[rr]));
                    }
                    for (int c = 0; c < cols; c++) {
                        const size_t j = (size_t)rr * cols + c;
                        assert_true(t[j] == rnn_qmat_weight(q, rr, c));
                        if (dt == RNN_DTYPE_BF16) {
                            assert_int_equal(h[j], rnn_bf16_from_float(w.data[i][j]));
                            assert_int_equal(b[r.data + 2 * j] | b[r.data + 2 * j + 1] << 8, h[j]);
                        } else {
                            assert_int_equal(q8[j], rnn_qmat_weight_int8(q, rr, c));
                            assert_int_equal((int8_t)b[r.data + j], q8[j]);
                        }
                    }
                }
                if (i == w.n - 2 && dt == RNN_DTYPE_INT8) assert_true(sc[1] == 0.0f);
                rnn_qmat_free(q);
            }
            /* written again from what it reads as: the same bytes (bf16); int8
             * the same values, the scales within one rounding */
            const float *again[RNN_MAX_TENSORS];
            for (int i = 0; i < w.n; i++)
                again[i] = rnn_model_tensor(m, w.specs[i].name, NULL);
            char err[256];
            void *out = NULL;
            size_t n2;
            assert_int_equal(rnn_model_serialize_typed(&cfg, NULL, 0, again, d, &out, &n2, err,
                                                       sizeof err),
                             0);
            assert_int_equal(n2, n);
            if (dt == RNN_DTYPE_BF16) assert_memory_equal(out, b, n);
            rnn_model *m2 = load_mem(out, n2);
            for (int i = 0; i < w.n; i++) {
                const float *x = rnn_model_tensor(m, w.specs[i].name, NULL);
                const float *y = rnn_model_tensor(m2, w.specs[i].name, NULL);
                for (size_t j = 0; j < w.specs[i].count; j++)
                    assert_true(fabsf(x[j] - y[j]) <= 1e-6f * fabsf(x[j]));
            }
            rnn_model_free(m2);
            free(out);
            /* written back as stored: the same bytes, int8 too */
            assert_int_equal(rnn_model_serialize_model(m, NULL, 0, &out, &n2, err, sizeof err), 0);
            assert_int_equal(n2, n);
            assert_memory_equal(out, b, n);
            free(out);
            /* all float32 through the typed writer: the version 1 bytes */
            rnn_dtype f32[RNN_MAX_TENSORS] = {RNN_DTYPE_F32};
            dtypes_for(&cfg, RNN_DTYPE_F32, f32);
            uint8_t *c32 = serialize_typed(&w, f32, &n2);
            assert_int_equal(n2, n32);
            assert_memory_equal(c32, b32, n32);
            free(c32);
            rnn_model_free(m);
            free(b);
            free(b32);
            weights_free(&w);
        }
}

/* Damaged reduced files: each defect is named with its tensor and offset,
 * any flipped byte or cut is refused, and the writer refuses what the
 * reader would. */
static void test_reduced_defects(void **state)
{
    (void)state;
    /* GRU, E = 3, H = 3, two layers: head.weight (130, 3) holds an odd count */
    rnn_model_config cfg = config(RNN_KIND_MELODY, RNN_CELL_GRU, 2, 3, 3);
    const char *F = "q.rnnw";
    char want[512];
    for (int v = 0; v < 2; v++) {
        const rnn_dtype dt = v ? RNN_DTYPE_INT8 : RNN_DTYPE_BF16;
        weights w;
        weights_small(&w, &cfg, 41u + (uint32_t)v);
        rnn_dtype d[RNN_MAX_TENSORS];
        dtypes_for(&cfg, dt, d);
        size_t n, bn;
        uint8_t *base = serialize_typed(&w, d, &n);
        uint8_t *b = malloc(n);
        assert_non_null(b);
        rnn_model_free(load_mem(base, n));
#define DEFECT(patch, needle)                                                                      \
    do {                                                                                           \
        memcpy(b, base, n), bn = n;                                                                \
        patch;                                                                                     \
        recrc(b, bn);                                                                              \
        expect_load_error(b, bn, F, needle);                                                       \
    } while (0)
        assert_string_equal(w.specs[0].name, "embed.weight");
        assert_string_equal(w.specs[2].name, "rnn.weight_hh_l0");
        assert_string_equal(w.specs[w.n - 2].name, "head.weight");
        assert_int_equal(w.specs[2].count, 27); /* odd: padding after bf16 and int8 data */
        const record_at e = record_typed(64, w.specs, d, 0, 0);
        const record_at hh = record_typed(64, w.specs, d, 2, 0);
        const record_at bias = record_typed(64, w.specs, d, 3, 0);
        const record_at head = record_typed(64, w.specs, d, w.n - 2, 0);
        const size_t hc = w.specs[w.n - 2].count; /* 390 */
        snprintf(want, sizeof want,
                 "tensor 'embed.weight' has dtype %d (%s) at offset %zu, but it must be float32",
                 (int)dt, rnn_dtype_name(dt), e.dtype);
        DEFECT(put32(b + e.dtype, dt), want);
        snprintf(want, sizeof want,
                 "tensor 'rnn.bias_ih_l0' has dtype 2 (int8) at offset %zu, but it must be float32",
                 bias.dtype);
        DEFECT(put32(b + bias.dtype, 2), want);
        snprintf(want, sizeof want, "has unknown dtype 7 at offset %zu", hh.dtype);
        DEFECT(put32(b + hh.dtype, 7), want);
        /* a record cut short in its reduced data names its own length */
        snprintf(want, sizeof want,
                 "truncated: tensor 'head.weight' needs %zu bytes at offset %zu, file has %zu",
                 head.data - head.start +
                     (dt == RNN_DTYPE_BF16 ? pad4(2 * hc) : pad4(hc) + 4 * 130),
                 head.start, head.data + 5);
        DEFECT(bn = head.data + 5, want);
        if (dt == RNN_DTYPE_BF16) {
            snprintf(want, sizeof want,
                     "non-finite weight in 'rnn.weight_hh_l0' at index 4 (bf16 0x7f80 at offset "
                     "%zu)",
                     hh.data + 8);
            DEFECT((b[hh.data + 8] = 0x80, b[hh.data + 9] = 0x7f), want);
            DEFECT((b[hh.data + 8] = 0xc1, b[hh.data + 9] = 0xff),
                   "non-finite weight in 'rnn.weight_hh_l0' at index 4 (bf16 0xffc1");
            snprintf(want, sizeof want,
                     "nonzero padding after the data of 'rnn.weight_hh_l0' at offset %zu",
                     hh.data + 2 * 27 + 1);
            DEFECT(b[hh.data + 2 * 27 + 1] = 1, want);
        } else {
            snprintf(want, sizeof want,
                     "int8 weight -128 in 'rnn.weight_hh_l0' at index 5, offset %zu", hh.data + 5);
            DEFECT(b[hh.data + 5] = 0x80, want);
            const size_t sc = head.data + pad4(hc); /* the head's scales */
            snprintf(want, sizeof want,
                     "int8 scale of row 2 of 'head.weight' is not finite at offset %zu", sc + 8);
            DEFECT(put32(b + sc + 8, 0x7f800000u), want);
            DEFECT(put32(b + sc + 8, 0xffc00000u), "int8 scale of row 2 of 'head.weight' is not finite");
            snprintf(want, sizeof want,
                     "int8 scale of row 0 of 'head.weight' is negative at offset %zu", sc);
            DEFECT(put32(b + sc, 0xbf800000u), want);
            snprintf(want, sizeof want,
                     "nonzero padding after the data of 'rnn.weight_hh_l0' at offset %zu",
                     hh.data + 27);
            DEFECT(b[hh.data + 27] = 1, want);
        }
        /* a scale the writer would not choose (2 for a row whose largest
         * value is small) is read and written back as stored */
        if (dt == RNN_DTYPE_INT8) {
            const size_t sc = head.data + pad4(hc);
            memcpy(b, base, n);
            put32(b + sc + 8, 0x40000000u);
            recrc(b, n);
            rnn_model *m = load_mem(b, n);
            const float *scales;
            const int8_t *q = rnn_model_tensor_int8(m, "head.weight", &scales);
            assert_true(scales[2] == 2.0f);
            assert_true(rnn_model_tensor(m, "head.weight", NULL)[6] == 2.0f * q[6]);
            void *again;
            size_t alen;
            assert_int_equal(rnn_model_serialize_model(m, NULL, 0, &again, &alen, want, sizeof want),
                             0);
            assert_int_equal(alen, n);
            assert_memory_equal(again, b, n);
            free(again);
            rnn_model_free(m);
        }
        /* a damaged value in a file of the right size is a checksum mismatch */
        memcpy(b, base, n);
        b[hh.data + 1] ^= 0x40;
        expect_load_error(b, n, F, "checksum mismatch");
#undef DEFECT
        free(b);
        free(base);
        weights_free(&w);
    }
    /* any damage anywhere in a small reduced file */
    for (int v = 0; v < 2; v++) {
        rnn_model_config c = config(RNN_KIND_MELODY, (rnn_cell)(v + 1), 2, 1, 1);
        weights w;
        weights_small(&w, &c, 9u + (uint32_t)v);
        rnn_dtype d[RNN_MAX_TENSORS];
        dtypes_for(&c, v ? RNN_DTYPE_INT8 : RNN_DTYPE_BF16, d);
        size_t n;
        uint8_t *b = serialize_typed(&w, d, &n);
        corrupt_everywhere(b, n);
        free(b);
        weights_free(&w);
    }
    /* the writer */
    weights w;
    weights_small(&w, &cfg, 3);
    rnn_dtype d[RNN_MAX_TENSORS];
    dtypes_for(&cfg, RNN_DTYPE_BF16, d);
    char err[512];
    void *out = NULL;
    size_t len;
    d[0] = RNN_DTYPE_INT8;
    assert_int_equal(rnn_model_serialize_typed(&cfg, NULL, 0, ptrs(&w), d, &out, &len, err,
                                               sizeof err),
                     -1);
    assert_non_null(strstr(err, "tensor 'embed.weight' must stay float32"));
    d[0] = RNN_DTYPE_F32;
    d[2] = (rnn_dtype)3;
    assert_int_equal(rnn_model_serialize_typed(&cfg, NULL, 0, ptrs(&w), d, &out, &len, err,
                                               sizeof err),
                     -1);
    assert_non_null(strstr(err, "tensor 'rnn.weight_hh_l0': unknown dtype 3"));
    d[2] = RNN_DTYPE_BF16;
    w.data[2][4] = 3.4e38f; /* rounds to bf16's infinity */
    assert_int_equal(rnn_model_serialize_typed(&cfg, NULL, 0, ptrs(&w), d, &out, &len, err,
                                               sizeof err),
                     -1);
    assert_non_null(strstr(err, "in 'rnn.weight_hh_l0' at index 4 is beyond the range of bf16"));
    assert_null(out);
    d[2] = RNN_DTYPE_INT8; /* int8 holds any finite row */
    assert_int_equal(rnn_model_serialize_typed(&cfg, NULL, 0, ptrs(&w), d, &out, &len, err,
                                               sizeof err),
                     0);
    rnn_model *m = load_mem(out, len);
    const float *sc;
    assert_non_null(rnn_model_tensor_int8(m, "rnn.weight_hh_l0", &sc));
    assert_true(sc[1] == 3.4e38f / 127.0f);
    rnn_model_free(m);
    free(out);
    weights_free(&w);
}

/* ------------------------------------------------------------------------ */
/* Version 2: lookback                                                      */

/* The lookback columns follow the conditions' in layer 0's input only. */
static void test_lookback_specs(void **state)
{
    (void)state;
    rnn_tensor_spec s[RNN_MAX_TENSORS];
    rnn_model_config c = config(RNN_KIND_MELODY, RNN_CELL_LSTM, 2, 0, 3);
    assert_int_equal(rnn_model_lookback_columns(&c), 0);
    c.lookback = 1;
    assert_int_equal(rnn_model_lookback_columns(&c), 262);
    assert_int_equal(rnn_model_input_columns(&c), 262);
    assert_int_equal(rnn_model_tensor_specs(&c, s), 8 + 2);
    assert_string_equal(s[0].name, "rnn.weight_ih_l0");
    assert_int_equal(s[0].shape[1], 130 + 262);
    assert_int_equal(s[4].shape[1], 3);
    c.conditions = RNN_COND_ALL;
    c.embed = 5;
    assert_int_equal(rnn_model_cond_columns(&c), 34 + 12);
    assert_int_equal(rnn_model_input_columns(&c), 34 + 12 + 262);
    assert_int_equal(rnn_model_tensor_specs(&c, s), 1 + 8 + 2);
    assert_int_equal(s[1].shape[1], 5 + 34 + 12 + 262);
    assert_int_equal(rnn_model_shape_specs(&c, s), 1 + 8 + 2);
    assert_int_equal(s[1].shape[1], 5 + 34 + 12 + 262);
    c = config(RNN_KIND_DRUMS, RNN_CELL_GRU, 1, 0, 4);
    c.lookback = 1;
    assert_int_equal(rnn_model_lookback_columns(&c), 20);
    assert_int_equal(rnn_model_tensor_specs(&c, s), 4 + 2);
    assert_int_equal(s[0].shape[1], 512 + 20);
    assert_int_equal(rnn_model_input_columns(NULL), 0);
    assert_int_equal(rnn_model_lookback_columns(NULL), 0);

    /* refused: a flag other than 0 or 1, a kind without columns */
    c.lookback = 2;
    expect_config_error(&c, "lookback 2 exceeds the maximum 1");
    assert_int_equal(rnn_model_shape_specs(&c, s), -1);
    c.lookback = -1;
    expect_config_error(&c, "lookback -1 is below the minimum 0");
    c.lookback = 1;
    c.kind = (rnn_kind)7;
    assert_int_equal(rnn_model_shape_specs(&c, s), -1);
}

/* Lookback alone, and with conditions and attention, round-trips as a
 * version 2 file with its column count at offset 76. */
static void test_lookback_round_trip(void **state)
{
    (void)state;
    const rnn_meta meta[] = {{"name", "lookback"}};
    for (int kind = RNN_KIND_MELODY; kind <= RNN_KIND_DRUMS; kind++) {
        for (int cell = 0; cell < RNN_CELL_COUNT; cell++) {
            for (int extra = 0; extra <= 2; extra++) {
                rnn_model_config cfg =
                    config((rnn_kind)kind, (rnn_cell)cell, 1 + extra % 2, 3 * (cell % 2), 2);
                cfg.lookback = 1;
                cfg.conditions = extra == 1 ? RNN_COND_METRIC : 0;
                cfg.attn_window = extra == 2 ? 3 : 0;
                cfg.attn_size = extra == 2 ? 2 : 0;
                weights w;
                weights_make(&w, &cfg, (uint32_t)(kind * 100 + cell * 10 + extra));
                size_t n;
                uint8_t *b = serialize(&w, meta, 1, &n);
                const uint32_t L = kind == RNN_KIND_MELODY ? 262 : 20;
                assert_int_equal(get32(b + 8), 2);
                assert_int_equal(get32(b + 12), 96);
                assert_int_equal(get32(b + 52), cfg.conditions);
                assert_int_equal(get32(b + 56), extra == 1 ? 34 : 0);
                assert_int_equal(get32(b + 68), (uint32_t)cfg.attn_window);
                assert_int_equal(get32(b + 76), L);
                for (int i = 80; i < 96; i++)
                    assert_int_equal(b[i], 0);
                const int ih0 = cfg.embed ? 1 : 0;
                record_at r = record_after(96, w.specs, ih0, 14);
                assert_int_equal(get32(b + r.dims + 4),
                                 (uint32_t)((cfg.embed ? cfg.embed : cfg.vocab) +
                                            (extra == 1 ? 34 : 0)) +
                                     L);
                rnn_model *m = load_mem(b, n);
                assert_same_model(m, &w, meta, 1);
                rnn_model_free(m);
                free(b);
                weights_free(&w);
            }
        }
    }
}

/* A lookback file damaged anywhere is refused, with the file and offset;
 * without it (and without conditions and attention) a model is version 1. */
static void test_lookback_defects(void **state)
{
    (void)state;
    rnn_model_config cfg = config(RNN_KIND_DRUMS, RNN_CELL_LSTM, 1, 2, 2);
    cfg.lookback = 1;
    weights w;
    weights_make(&w, &cfg, 41);
    size_t n;
    uint8_t *base = serialize(&w, NULL, 0, &n);
    uint8_t *b = malloc(n);
    assert_non_null(b);
    size_t bn;
    const char *F = "presets/lookback.rnnw";
#define DEFECT(patch, needle)                                                                      \
    do {                                                                                           \
        memcpy(b, base, n), bn = n;                                                                \
        patch;                                                                                     \
        recrc(b, bn);                                                                              \
        expect_load_error(b, bn, F, needle);                                                       \
    } while (0)
    rnn_model_free(load_mem(base, n));
    DEFECT(put32(b + 76, 0), "version 2 header declares no condition at offset 52 and no "
                             "attention at offset 68, nor lookback at offset 76");
    DEFECT(put32(b + 76, 21),
           "lookback columns 21 at offset 76, the drums encoding has 0 (none) or 20");
    DEFECT(put32(b + 76, 262), "lookback columns 262 at offset 76");
    DEFECT(put32(b + 76, 0xffffffffu), "at offset 76");
    /* the melody's count on a drums file: the kind decides */
    DEFECT((put32(b + 16, 1), put32(b + 40, 130)),
           "lookback columns 20 at offset 76, the melody encoding has 0 (none) or 262");
    for (int i = 80; i < 96; i++) { /* 80..91: the encoder's fields */
        char want[64];
        if (i == 80) /* one layer: then its hidden size is missing */
            snprintf(want, sizeof want, "encoder hidden size 0 is below the minimum 1, at offset 84");
        else if (i < 92)
            snprintf(want, sizeof want, "at offset %d", i & ~3);
        else
            snprintf(want, sizeof want, "nonzero reserved header byte at offset %d", i);
        DEFECT(b[i] = 1, want);
    }
    /* the record of weight_ih_l0: (4 * 2, 2 + 20) */
    record_at r = record_after(96, w.specs, 1, 0);
    assert_int_equal(get32(b + r.dims + 4), 22);
    DEFECT(put32(b + r.dims + 4, 2),
           "tensor 'rnn.weight_ih_l0' has shape (8, 2), the header says (8, 22)");
#undef DEFECT
    free(b);
    corrupt_everywhere(base, n);
    free(base);
    weights_free(&w);

    /* the writer refuses what the reader would */
    rnn_model_config bad = cfg;
    bad.lookback = 3;
    weights_make(&w, &cfg, 42);
    expect_serialize_error(&bad, NULL, 0, ptrs(&w), "lookback 3 exceeds the maximum 1");
    weights_free(&w);
}

/* Encoder-decoder models (a bidirectional encoder, format v2) of every cell
 * type, alone and with conditions, lookback and attention: the header's
 * fields at 80, 84, 88 (92..95 zero), the enc.* tensors in PyTorch's order
 * after the decoder's layers, layer 0's 2 He more columns; loaded back the
 * same, run by a net and an encoder of core. */
static void test_enc_round_trip(void **state)
{
    (void)state;
    const rnn_meta meta[] = {{"name", "drumify"}};
    for (int cell = 0; cell < RNN_CELL_COUNT; cell++)
        for (int le = 1; le <= 2; le++)
            for (int extra = 0; extra < 3; extra++) {
                rnn_model_config cfg =
                    config(RNN_KIND_DRUMS, (rnn_cell)cell, 1 + extra % 2, extra == 1 ? 0 : 3, 5);
                cfg.enc_layers = le;
                cfg.enc_hidden = 3 + le;
                cfg.enc_inputs = RNN_ENC_INPUT_COLUMNS;
                cfg.conditions = extra == 1 ? RNN_COND_METRIC : 0;
                cfg.lookback = extra == 2;
                cfg.attn_window = extra == 2 ? 4 : 0;
                cfg.attn_size = extra == 2 ? 3 : 0;
                weights w;
                weights_make(&w, &cfg, (uint32_t)(cell * 100 + le * 10 + extra));
                for (int i = 0; i < w.n; i++) /* small weights: the net's probe must pass */
                    for (size_t j = 0; j < w.specs[i].count; j++)
                        w.data[i][j] = 0.1f * sinf((float)(j * 7 + (size_t)i));
                const int first = cfg.embed ? 1 : 0, dec = first + 4 * cfg.layers;
                const int nenc = 8 * le;
                assert_int_equal(w.n, dec + nenc + (cfg.attn_window ? 3 : 0) + 2);
                assert_string_equal(w.specs[dec].name, "enc.weight_ih_l0");
                assert_string_equal(w.specs[dec + 4].name, "enc.weight_ih_l0_reverse");
                assert_string_equal(w.specs[dec + nenc - 1].name,
                                    le == 1 ? "enc.bias_hh_l0_reverse" : "enc.bias_hh_l1_reverse");
                assert_int_equal(w.specs[dec].shape[1], RNN_ENC_INPUT_COLUMNS);
                if (le == 2) assert_int_equal(w.specs[dec + 8].shape[1], 2 * cfg.enc_hidden);
                const int in0 = (cfg.embed ? cfg.embed : 512) + rnn_model_input_columns(&cfg) +
                                2 * cfg.enc_hidden;
                assert_int_equal(w.specs[first].shape[1], in0);
                assert_int_equal(rnn_model_enc_columns(&cfg), 2 * cfg.enc_hidden);
                size_t n;
                uint8_t *b = serialize(&w, meta, 1, &n);
                assert_int_equal(get32(b + 8), 2);
                assert_int_equal(get32(b + 80), (uint32_t)le);
                assert_int_equal(get32(b + 84), (uint32_t)cfg.enc_hidden);
                assert_int_equal(get32(b + 88), RNN_ENC_INPUT_COLUMNS);
                for (int i = 92; i < 96; i++)
                    assert_int_equal(b[i], 0);
                rnn_model *m = load_mem(b, n);
                assert_same_model(m, &w, meta, 1);
                const rnn_model_config *mc = rnn_model_get_config(m);
                assert_int_equal(mc->enc_layers, le);
                assert_int_equal(mc->enc_hidden, cfg.enc_hidden);
                assert_int_equal(mc->enc_inputs, RNN_ENC_INPUT_COLUMNS);
                char err[256];
                rnn_net *net = rnn_net_create(m, err, sizeof err);
                if (!net) fail_msg("%s", err);
                assert_int_equal(rnn_net_enc_columns(net), 2 * cfg.enc_hidden);
                assert_int_equal(rnn_net_probe(net, "x", err, sizeof err), 0);
                rnn_enc *e = rnn_enc_create_model(m, 16, err, sizeof err);
                if (!e) fail_msg("%s", err);
                assert_int_equal(rnn_enc_get_config(e)->layers, le);
                rnn_enc_free(e);
                rnn_net_free(net);
                rnn_model_free(m);
                free(b);
                weights_free(&w);
            }
    /* no encoder: none is made */
    rnn_model_config plain = config(RNN_KIND_DRUMS, RNN_CELL_GRU, 1, 2, 2);
    weights w;
    weights_make(&w, &plain, 5);
    size_t n;
    uint8_t *b = serialize(&w, NULL, 0, &n);
    rnn_model *m = load_mem(b, n);
    char err[256] = "";
    assert_null(rnn_enc_create_model(m, 16, err, sizeof err));
    assert_non_null(strstr(err, "no bidirectional encoder"));
    assert_int_equal(rnn_model_enc_columns(&plain), 0);
    rnn_model_free(m);
    free(b);
    weights_free(&w);
}

/* An encoder-decoder file damaged anywhere is refused, with the file and
 * the offset; the writer refuses what the reader would. */
static void test_enc_defects(void **state)
{
    (void)state;
    rnn_model_config cfg = config(RNN_KIND_DRUMS, RNN_CELL_GRU, 1, 2, 2);
    cfg.enc_layers = 1;
    cfg.enc_hidden = 3;
    cfg.enc_inputs = RNN_ENC_INPUT_COLUMNS;
    weights w;
    weights_make(&w, &cfg, 43);
    size_t n;
    uint8_t *base = serialize(&w, NULL, 0, &n);
    uint8_t *b = malloc(n);
    assert_non_null(b);
    size_t bn;
    char want[256];
    const char *F = "presets/drumify.rnnw";
#define DEFECT(patch, needle)                                                                      \
    do {                                                                                           \
        memcpy(b, base, n), bn = n;                                                                \
        patch;                                                                                     \
        recrc(b, bn);                                                                              \
        expect_load_error(b, bn, F, needle);                                                       \
    } while (0)
    rnn_model_free(load_mem(base, n));
    DEFECT(put32(b + 80, 0),
           "encoder hidden size 3 without an encoder (0 layers): it must be 0, at offset 84");
    DEFECT((put32(b + 80, 0), put32(b + 84, 0)),
           "encoder input columns 142 without an encoder (0 layers): it must be 0, at offset 88");
    DEFECT((put32(b + 80, 0), put32(b + 84, 0), put32(b + 88, 0)),
           "version 2 header declares no condition at offset 52 and no attention at offset 68, "
           "nor lookback at offset 76, nor an encoder at offset 80");
    DEFECT(put32(b + 80, 5), "encoder layers 5 exceeds the maximum 4, at offset 80");
    DEFECT(put32(b + 80, 0xffffffffu), "at offset 80");
    DEFECT(put32(b + 80, 2), "tensor count 15, the header's gru config has 23");
    DEFECT(put32(b + 84, 0), "encoder hidden size 0 is below the minimum 1, at offset 84");
    DEFECT(put32(b + 84, 4097), "encoder hidden size 4097 exceeds the maximum 4096, at offset 84");
    /* a size that agrees with nothing in the records: layer 0's columns */
    DEFECT(put32(b + 84, 4), "tensor 'rnn.weight_ih_l0' has shape (6, 8), the header says (6, 10)");
    DEFECT(put32(b + 88, 141), "encoder input columns 141, the encoder reads 142 (a melody "
                               "line's 130 events and 12 pitch classes), at offset 88");
    DEFECT(put32(b + 88, 0), "encoder input columns 0, the encoder reads 142");
    for (int i = 92; i < 96; i++) {
        snprintf(want, sizeof want, "nonzero reserved header byte at offset %d", i);
        DEFECT(b[i] = 1, want);
    }
    /* the records: embed, rnn.* (4), enc.* (8), head (2) */
    assert_string_equal(w.specs[5].name, "enc.weight_ih_l0");
    assert_string_equal(w.specs[10].name, "enc.weight_hh_l0_reverse");
    record_at r1 = record_after(96, w.specs, 1, 0);
    assert_int_equal(get32(b + r1.dims + 4), 2 + 6);
    record_at re = record_after(96, w.specs, 5, 0), rr = record_after(96, w.specs, 10, 0);
    record_at rb = record_after(96, w.specs, 12, 0);
    DEFECT(put32(b + re.dims + 4, 141),
           "tensor 'enc.weight_ih_l0' has shape (9, 141), the header says (9, 142)");
    snprintf(want, sizeof want,
             "wrong tensor name 'enc.weight_hh_l0_reversX' at offset %zu where "
             "'enc.weight_hh_l0_reverse' was expected",
             rr.start);
    DEFECT(b[rr.name + 23] = 'X', want);
    snprintf(want, sizeof want,
             "tensor 'enc.weight_hh_l0_reverse' has dtype 1 (bf16) at offset %zu, but it must be "
             "float32",
             rr.dtype);
    DEFECT(put32(b + rr.dtype, 1), want);
    DEFECT(put32(b + rb.data + 4, 0x7fc00000u),
           "non-finite weight in 'enc.bias_hh_l0_reverse' at index 1");
#undef DEFECT
    free(b);
    corrupt_everywhere(base, n);
    free(base);
    weights_free(&w);

    /* the writer refuses what the reader would */
    rnn_model_config bad = cfg;
    weights_make(&w, &cfg, 44);
    bad.enc_inputs = 141;
    expect_serialize_error(&bad, NULL, 0, ptrs(&w), "encoder input columns 141");
    bad = cfg;
    bad.enc_layers = 0;
    expect_serialize_error(&bad, NULL, 0, ptrs(&w), "encoder hidden size 3 without an encoder");
    bad = cfg;
    bad.enc_layers = 5;
    expect_serialize_error(&bad, NULL, 0, ptrs(&w), "encoder layers 5 exceeds the maximum 4");
    weights_free(&w);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    remove_tree(tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cells_and_specs),
        cmocka_unit_test(test_cell_table),
        cmocka_unit_test(test_config_caps),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_fixture_bytes),
        cmocka_unit_test(test_flip_and_truncate_everywhere),
        cmocka_unit_test(test_defects),
        cmocka_unit_test(test_writer_refuses),
        cmocka_unit_test(test_api_lookups),
        cmocka_unit_test(test_load_path_errors),
        cmocka_unit_test(test_write_atomic),
        cmocka_unit_test(test_cond_columns),
        cmocka_unit_test(test_enc_round_trip),
        cmocka_unit_test(test_enc_defects),
        cmocka_unit_test(test_v2_round_trip),
        cmocka_unit_test(test_v2_defects),
        cmocka_unit_test(test_attn_specs),
        cmocka_unit_test(test_attn_round_trip),
        cmocka_unit_test(test_attn_defects),
        cmocka_unit_test(test_reduced_fixture_bytes),
        cmocka_unit_test(test_reduced_allowed), cmocka_unit_test(test_reduced_round_trip),
        cmocka_unit_test(test_reduced_defects), cmocka_unit_test(test_lookback_specs),
        cmocka_unit_test(test_lookback_round_trip), cmocka_unit_test(test_lookback_defects),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
