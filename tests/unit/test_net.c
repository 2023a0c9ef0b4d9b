/* SPDX-License-Identifier: MIT */
/* Tests of core/net against PyTorch: every tests/golden/NAME.rnnw is stepped
 * through the event sequence of NAME.logits (written by make_golden.py from
 * nn.RNN / nn.LSTM / nn.GRU) and every logit must match within
 * max(1e-5, 1e-5 |ref|). The conditioned models (cond_*, format v2) take
 * NAME.cond's 0/1 condition columns at each step, and their state after the
 * last step must match PyTorch's too; so must that of the attention models
 * (attn_*: attention over the top layer's last n outputs, the head over
 * [h | context]), whose state holds the attention's ring, and that of the
 * lookback models (look_*), whose NAME.cond holds the conditions then the
 * lookback columns, which must also be core/lookback's for the golden's bar of
 * LOOK_BAR steps. Then, on the same models, the net's own
 * contracts: state get/set, reset, a step cut into pieces (bit-identical), an abandoned step,
 * out-of-range events; the cost of a step, the probe that refuses models whose numbers leave the
 * range of float, and which build of the kernels runs (test_net_v3 and test_net_generic pin one).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/lookback.h"
#include "../../core/model.h"
#include "../../core/net.h"
#include "../../core/qmat.h"

static const char *const NAMES[] = {
    "rnn_e0_l1",       "rnn_e24_l3",           "lstm_e32_l2",      "lstm_e0_l3",
    "gru_e0_l2",       "gru_e16_l1",           "drums_lstm_e8_l2", "drums_gru_e0_l1",
    "cond_rnn_e0_l2",  "cond_lstm_e16_l2",     "cond_lstm_e0_l1",  "cond_gru_e0_l1",
    "cond_gru_e12_l2", "cond_drums_gru_e8_l1", "attn_rnn_e0_l1",   "attn_lstm_e16_l2",
    "attn_gru_e0_l2",  "attn_drums_gru_e8_l1", "look_lstm_e0_l2",  "look_gru_e12_l1",
    "look_rnn_e0_l1",  "look_drums_gru_e8_l2", "look_drums_lstm_e0_l1",
};
#define NMODELS (sizeof NAMES / sizeof NAMES[0])

typedef struct {
    rnn_model *model;
    int T, V;
    int *events; /* (T) */
    float *ref;  /* (T, V) PyTorch's logits */
    int C;       /* condition and lookback columns, 0 for a version 1 model */
    float *cond; /* (T, C) 0/1, NULL when C = 0 */
    size_t S;
    float *state_ref; /* (S) PyTorch's state after the last step, NULL for a version 1 model */
} golden;

/* The conditions of step t, NULL for none. */
static const float *cond_at(const golden *g, int t)
{
    return g->cond ? g->cond + (size_t)t * g->C : NULL;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void golden_load(golden *g, const char *name)
{
    char path[256], err[512];
    memset(g, 0, sizeof *g);
    snprintf(path, sizeof path, "tests/golden/%s.rnnw", name);
    g->model = rnn_model_load(path, err, sizeof err);
    if (!g->model) fail_msg("%s", err);

    snprintf(path, sizeof path, "tests/golden/%s.logits", name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    unsigned char hdr[8];
    assert_int_equal(fread(hdr, 1, 8, f), 8);
    g->T = (int)le32(hdr);
    g->V = (int)le32(hdr + 4);
    assert_true(g->T > 0 && g->T <= 1000);
    assert_int_equal(g->V, rnn_model_get_config(g->model)->vocab);
    size_t n = (size_t)g->T + (size_t)g->T * g->V;
    unsigned char *buf = malloc(n * 4);
    g->events = malloc((size_t)g->T * sizeof *g->events);
    g->ref = malloc((size_t)g->T * g->V * sizeof *g->ref);
    assert_non_null(buf);
    assert_non_null(g->events);
    assert_non_null(g->ref);
    assert_int_equal(fread(buf, 4, n, f), n);
    assert_int_equal(fgetc(f), EOF);
    fclose(f);
    for (int t = 0; t < g->T; t++)
        g->events[t] = (int32_t)le32(buf + 4 * t);
    for (size_t i = 0; i < (size_t)g->T * g->V; i++) {
        uint32_t u = le32(buf + 4 * ((size_t)g->T + i));
        memcpy(&g->ref[i], &u, 4);
    }
    free(buf);

    g->C = rnn_model_input_columns(rnn_model_get_config(g->model));
    const int attn = rnn_model_get_config(g->model)->attn_window > 0;
    snprintf(path, sizeof path, "tests/golden/%s.cond", name);
    f = fopen(path, "rb");
    if (g->C == 0 && !attn) {
        if (f) fail_msg("%s: a model without conditions or attention has a .cond file", path);
        return;
    }
    if (!f) fail_msg("cannot open %s", path);
    unsigned char h3[12];
    assert_int_equal(fread(h3, 1, 12, f), 12);
    assert_int_equal(le32(h3), g->T);
    assert_int_equal(le32(h3 + 4), g->C);
    g->S = le32(h3 + 8);
    assert_true(g->S > 0 && g->S <= 100000);
    const size_t nc = (size_t)g->T * g->C, padded = (nc + 3) & ~(size_t)3;
    unsigned char *cb = malloc(padded + 4 * g->S);
    g->cond = nc ? malloc(nc * sizeof *g->cond) : NULL;
    g->state_ref = malloc(g->S * sizeof *g->state_ref);
    assert_non_null(cb);
    assert_true(nc == 0 || g->cond);
    assert_non_null(g->state_ref);
    assert_int_equal(fread(cb, 1, padded + 4 * g->S, f), padded + 4 * g->S);
    assert_int_equal(fgetc(f), EOF);
    fclose(f);
    for (size_t i = 0; i < nc; i++) {
        assert_true(cb[i] <= 1);
        g->cond[i] = cb[i];
    }
    for (size_t i = 0; i < g->S; i++) {
        uint32_t u = le32(cb + padded + 4 * i);
        memcpy(&g->state_ref[i], &u, 4);
    }
    free(cb);
}

static void golden_free(golden *g)
{
    rnn_model_free(g->model);
    free(g->events);
    free(g->ref);
    free(g->cond);
    free(g->state_ref);
}

static rnn_net *net_new(const rnn_model *m)
{
    char err[256];
    rnn_net *net = rnn_net_create(m, err, sizeof err);
    if (!net) fail_msg("rnn_net_create: %s", err);
    return net;
}

/* All logits of the sequence from a fresh net, stepped whole. */
static float *run_all(const golden *g)
{
    rnn_net *net = net_new(g->model);
    float *out = malloc((size_t)g->T * g->V * sizeof *out);
    assert_non_null(out);
    for (int t = 0; t < g->T; t++)
        memcpy(out + (size_t)t * g->V, rnn_net_step_cond(net, g->events[t], cond_at(g, t)),
               g->V * sizeof *out);
    rnn_net_free(net);
    return out;
}

static void test_golden(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMODELS; m++) {
        golden g;
        golden_load(&g, NAMES[m]);
        rnn_net *net = net_new(g.model);
        const rnn_model_config *cfg = rnn_model_get_config(g.model);
        double worst = 0;
        assert_int_equal(rnn_net_cond_columns(net), g.C);
        for (int t = 0; t < g.T; t++) {
            const float *y = rnn_net_step_cond(net, g.events[t], cond_at(&g, t));
            for (int v = 0; v < g.V; v++) {
                double ref = g.ref[(size_t)t * g.V + v];
                double d = fabs((double)y[v] - ref);
                double tol = fmax(1e-5, 1e-5 * fabs(ref));
                if (!(d <= tol))
                    fail_msg("%s: step %d logit %d: %.9g, PyTorch %.9g", NAMES[m], t, v, y[v], ref);
                if (d / tol > worst) worst = d / tol;
            }
        }
        const size_t ring =
            cfg->attn_window ? 1 + (size_t)cfg->attn_window * (cfg->hidden + cfg->attn_size) : 0;
        assert_int_equal(rnn_net_state_size(net),
                         (size_t)cfg->layers * cfg->hidden * (cfg->cell == RNN_CELL_LSTM ? 2 : 1) +
                             ring);
        if (g.state_ref) {
            /* the state after the last step, as PyTorch's h_n (and c_n), then
             * the attention's ring */
            assert_int_equal(rnn_net_state_size(net), g.S);
            float *st = malloc(g.S * sizeof *st);
            assert_non_null(st);
            rnn_net_state_get(net, st);
            for (size_t i = 0; i < g.S; i++) {
                double d = fabs((double)st[i] - g.state_ref[i]);
                if (!(d <= fmax(1e-5, 1e-5 * fabs((double)g.state_ref[i]))))
                    fail_msg("%s: state %zu: %.9g, PyTorch %.9g", NAMES[m], i, st[i],
                             g.state_ref[i]);
            }
            free(st);
        }
        /* the writer writes the bytes of make_golden.py's own writer */
        {
            FILE *f;
            char path[256];
            snprintf(path, sizeof path, "tests/golden/%s.rnnw", NAMES[m]);
            assert_non_null(f = fopen(path, "rb"));
            fseek(f, 0, SEEK_END);
            const long flen = ftell(f);
            rewind(f);
            unsigned char *file = malloc((size_t)flen);
            assert_non_null(file);
            assert_int_equal(fread(file, 1, (size_t)flen, f), (size_t)flen);
            fclose(f);
            rnn_tensor_spec ts[RNN_MAX_TENSORS];
            const float *td[RNN_MAX_TENSORS];
            const int ntd = rnn_model_tensor_specs(cfg, ts);
            rnn_meta md[16];
            const size_t nmd = rnn_model_meta_count(g.model);
            assert_true(nmd <= 16);
            for (int i = 0; i < ntd; i++)
                td[i] = rnn_model_tensor(g.model, ts[i].name, NULL);
            for (size_t i = 0; i < nmd; i++)
                md[i] = rnn_model_meta_at(g.model, i);
            void *out = NULL;
            size_t outlen = 0;
            char err[256];
            if (rnn_model_serialize(cfg, md, nmd, td, &out, &outlen, err, sizeof err))
                fail_msg("%s", err);
            assert_int_equal(outlen, (size_t)flen);
            assert_memory_equal(out, file, outlen);
            free(out);
            free(file);
        }
        assert_ptr_equal(rnn_net_model(net), g.model);
        /* the net holds its own copy of every weight but the embedding table */
        rnn_tensor_spec specs[RNN_MAX_TENSORS];
        int nt = rnn_model_tensor_specs(cfg, specs);
        size_t weights = 0;
        for (int i = 0; i < nt; i++)
            if (strcmp(specs[i].name, "embed.weight") != 0)
                weights += specs[i].count * sizeof(float);
        assert_true(rnn_net_bytes(net) > weights);
        assert_true(rnn_net_bytes(net) < 4 * weights + 65536);
        printf("# %-18s %-4s L=%d E=%-2d H=%-2d V=%d: worst error %.6f of tolerance, %zu bytes\n",
               NAMES[m], rnn_cell_name(cfg->cell), cfg->layers, cfg->embed, cfg->hidden, cfg->vocab,
               worst, rnn_net_bytes(net));
        rnn_net_free(net);
        golden_free(&g);
    }
}

static void test_state_branch_and_reset(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMODELS; m++) {
        golden g;
        golden_load(&g, NAMES[m]);
        float *all = run_all(&g);
        rnn_net *net = net_new(g.model);
        const int V = g.V, half = g.T / 2;

        const float *z = rnn_net_logits(net);
        for (int v = 0; v < V; v++)
            assert_true(z[v] == 0.0f);

        for (int t = 0; t < half; t++)
            rnn_net_step_cond(net, g.events[t], cond_at(&g, t));
        size_t ns = rnn_net_state_size(net);
        float *saved = malloc(ns * sizeof *saved), *again = malloc(ns * sizeof *again);
        assert_non_null(saved);
        assert_non_null(again);
        rnn_net_state_get(net, saved);

        /* a branch of other events, then back */
        for (int t = 0; t < 7; t++)
            rnn_net_step(net, (t * 37 + 5) % V);
        rnn_net_state_get(net, again);
        assert_true(memcmp(saved, again, ns * sizeof *saved) != 0);
        rnn_net_state_set(net, saved);
        rnn_net_state_get(net, again);
        assert_memory_equal(saved, again, ns * sizeof *saved);
        for (int t = half; t < g.T; t++) {
            const float *y = rnn_net_step_cond(net, g.events[t], cond_at(&g, t));
            assert_memory_equal(y, all + (size_t)t * V, V * sizeof *y);
        }

        /* reset gives the first step again */
        rnn_net_reset(net);
        for (int v = 0; v < V; v++)
            assert_true(rnn_net_logits(net)[v] == 0.0f);
        assert_memory_equal(rnn_net_step_cond(net, g.events[0], cond_at(&g, 0)), all,
                            V * sizeof(float));
        assert_memory_equal(rnn_net_step_cond(net, g.events[1], cond_at(&g, 1)), all + V,
                            V * sizeof(float));

        free(saved);
        free(again);
        free(all);
        rnn_net_free(net);
        golden_free(&g);
    }
}

static void test_step_pieces(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMODELS; m++) {
        golden g;
        golden_load(&g, NAMES[m]);
        float *all = run_all(&g);
        rnn_net *net = net_new(g.model);
        const int rows = rnn_net_step_rows(net);
        assert_true(rows > 0);
        const int budgets[] = {1, 7, 8, 13, 64, rows - 1, rows, rows * 2};
        for (size_t b = 0; b < sizeof budgets / sizeof budgets[0]; b++) {
            int budget = budgets[b] > 0 ? budgets[b] : 1;
            int calls0 = 0;
            rnn_net_reset(net);
            for (int t = 0; t < g.T; t++) {
                /* with attention too, however many outputs are stored: a
                 * host counts a step's pieces once */
                const int rows_t = rnn_net_step_rows(net);
                assert_int_equal(rows_t, rows);
                rnn_net_step_begin_cond(net, g.events[t], cond_at(&g, t));
                int calls = 1;
                while (!rnn_net_step_work(net, budget)) {
                    calls++;
                    assert_true(calls <= rows_t);
                }
                /* pieces of about budget rows (whole vectors of 8 rows at least) */
                int unit = budget < 8 ? 8 : budget / 8 * 8;
                assert_true(calls >= (rows_t + unit - 1) / unit);
                if (budget >= rows_t) assert_int_equal(calls, 1);
                if (t == 0) calls0 = calls;
                assert_int_equal(calls, calls0); /* the same count at every step */
                assert_int_equal(rnn_net_step_work(net, budget), 1); /* finished stays finished */
                assert_memory_equal(rnn_net_logits(net), all + (size_t)t * g.V,
                                    g.V * sizeof(float));
            }
        }
        free(all);
        rnn_net_free(net);
        golden_free(&g);
    }
}

static void test_abandoned_step(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMODELS; m++) {
        golden g;
        golden_load(&g, NAMES[m]);
        float *all = run_all(&g);
        rnn_net *net = net_new(g.model);
        const int V = g.V;
        size_t ns = rnn_net_state_size(net);
        float *before = malloc(ns * sizeof *before), *after = malloc(ns * sizeof *after);
        assert_non_null(before);
        assert_non_null(after);
        for (int t = 0; t < g.T; t++) {
            if (t % 3 == 1) {
                /* start a step on another event, do part of it, drop it */
                rnn_net_state_get(net, before);
                rnn_net_step_begin_cond(net, (g.events[t] + 11) % V, cond_at(&g, g.T - 1 - t));
                int pieces = 1 + t % 4;
                for (int i = 0; i < pieces; i++)
                    assert_int_equal(rnn_net_step_work(net, 8), 0);
                rnn_net_state_get(net, after);
                assert_memory_equal(before, after, ns * sizeof *before);
                if (t > 0)
                    assert_memory_equal(rnn_net_logits(net), all + (size_t)(t - 1) * V,
                                        V * sizeof(float));
            }
            if (t % 3 == 2) {
                rnn_net_step_begin_cond(net, g.events[t], cond_at(&g, t));
                while (!rnn_net_step_work(net, 40)) {
                }
            } else {
                rnn_net_step_cond(net, g.events[t], cond_at(&g, t));
            }
            assert_memory_equal(rnn_net_logits(net), all + (size_t)t * V, V * sizeof(float));
        }
        /* a state_set during a step abandons it too */
        rnn_net_state_get(net, before);
        rnn_net_step_begin(net, 3);
        rnn_net_step_work(net, 8);
        rnn_net_state_set(net, before);
        assert_int_equal(rnn_net_step_work(net, 1), 1);
        rnn_net_state_get(net, after);
        assert_memory_equal(before, after, ns * sizeof *before);
        free(before);
        free(after);
        free(all);
        rnn_net_free(net);
        golden_free(&g);
    }
}

static void test_out_of_range_event(void **state)
{
    (void)state;
    golden g;
    golden_load(&g, NAMES[2]);
    const int V = g.V;
    const int bad[] = {-1, V, V + 100, -1000000};
    rnn_net *ref = net_new(g.model), *net = net_new(g.model);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const float *a = rnn_net_step(ref, 0);
        const float *b = rnn_net_step(net, bad[i]);
        assert_memory_equal(a, b, V * sizeof(float));
    }
    rnn_net_free(ref);
    rnn_net_free(net);
    rnn_net_free(NULL);
    golden_free(&g);
}

/* A model of the given shape and conditions with every weight `w` and every
 * bias 0, then one value of one tensor set to `big`. */
static rnn_model *flat_model_cond(unsigned conds, rnn_cell cell, int E, int H, float w,
                                  const char *tname, size_t at, float big)
{
    rnn_model_config cfg = {RNN_KIND_MELODY, 4, cell, 2, E, H, 130, conds, 0, 0, 0, 0, 0, 0};
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    float *data[RNN_MAX_TENSORS] = {0};
    int n = rnn_model_tensor_specs(&cfg, specs);
    assert_true(n > 0);
    int hit = 0;
    for (int i = 0; i < n; i++) {
        data[i] = malloc(specs[i].count * sizeof(float));
        assert_non_null(data[i]);
        for (size_t k = 0; k < specs[i].count; k++)
            data[i][k] = strstr(specs[i].name, "bias") ? 0.0f : w;
        if (tname && !strcmp(specs[i].name, tname)) {
            assert_true(at < specs[i].count);
            data[i][at] = big;
            hit = 1;
        }
    }
    assert_true(!tname || hit);
    void *buf = NULL;
    size_t len = 0;
    char err[256];
    if (rnn_model_serialize(&cfg, NULL, 0, (const float *const *)data, &buf, &len, err, sizeof err))
        fail_msg("%s", err);
    rnn_model *m = rnn_model_load_memory(buf, len, "flat", err, sizeof err);
    if (!m) fail_msg("%s", err);
    free(buf);
    for (int i = 0; i < n; i++)
        free(data[i]);
    return m;
}

static rnn_model *flat_model(rnn_cell cell, int E, int H, float w, const char *tname, size_t at,
                             float big)
{
    return flat_model_cond(0, cell, E, H, w, tname, at, big);
}

/* The probe's verdict on a model, and its message. */
static int probe(rnn_model *m, char *err, size_t errlen)
{
    rnn_net *net = net_new(m);
    int rc = rnn_net_probe(net, "crafted.rnnw", err, errlen);
    /* the state is left zeroed: the first step equals a fresh net's */
    rnn_net *fresh = net_new(m);
    const size_t V = (size_t)rnn_model_get_config(m)->vocab;
    float *a = malloc(V * sizeof *a);
    assert_non_null(a);
    memcpy(a, rnn_net_step(net, 3), V * sizeof *a);
    assert_memory_equal(a, rnn_net_step(fresh, 3), V * sizeof *a);
    free(a);
    rnn_net_free(fresh);
    rnn_net_free(net);
    rnn_model_free(m);
    return rc;
}

static void test_probe(void **state)
{
    (void)state;
    char err[512];
    for (size_t m = 0; m < NMODELS; m++) {
        golden g;
        golden_load(&g, NAMES[m]);
        rnn_net *net = net_new(g.model);
        if (rnn_net_probe(net, NAMES[m], err, sizeof err)) fail_msg("%s", err);
        rnn_net_free(net);
        golden_free(&g);
    }
    /* finite weights whose products overflow: one recurrent weight of 1e38
     * next to others (|h| reaches 1 after the first step) */
    const rnn_cell cells[] = {RNN_CELL_RNN, RNN_CELL_LSTM, RNN_CELL_GRU};
    for (int c = 0; c < 3; c++) {
        err[0] = 0;
        assert_int_equal(probe(flat_model(cells[c], 8, 16, 0.05f, "rnn.weight_hh_l1", 5, 1e38f),
                               err, sizeof err),
                         -1);
        assert_non_null(strstr(err, "crafted.rnnw"));
        assert_non_null(strstr(err, "rnn.weight_hh_l1"));
        /* every weight near the top of float: sums overflow everywhere */
        assert_int_equal(probe(flat_model(cells[c], 0, 16, 3e37f, NULL, 0, 0), err, sizeof err),
                         -1);
        assert_non_null(strstr(err, "crafted.rnnw"));
    }
    /* an embedding value of 3e38 times input weights of 1 overflows; 1e30 does not */
    assert_int_equal(
        probe(flat_model(RNN_CELL_LSTM, 8, 16, 1.0f, "embed.weight", 7, 3e38f), err, sizeof err),
        -1);
    assert_non_null(strstr(err, "rnn.weight_ih_l0"));
    assert_int_equal(
        probe(flat_model(RNN_CELL_LSTM, 8, 16, 1.0f, "embed.weight", 7, 1e30f), err, sizeof err),
        0);
    /* the head: logits of 1e38 * h */
    assert_int_equal(
        probe(flat_model(RNN_CELL_GRU, 8, 16, 0.05f, "head.weight", 40, 1e38f), err, sizeof err),
        -1);
    assert_non_null(strstr(err, "head.weight"));
    /* a one-hot input adds one column of weight_ih_l0 at a time: a weight
     * of 1e37 there (the 16 columns would sum to 1.6e38) is no overflow */
    assert_int_equal(probe(flat_model(RNN_CELL_LSTM, 0, 16, 0.05f, "rnn.weight_ih_l0", 9, 1e37f),
                           err, sizeof err),
                     0);
    /* condition columns may all be on at once: 46 columns of 1e37 overflow
     * (the one-hot part of the row adds one of its 130), 1e36 does not */
    const size_t ld = 130 + 46;
    assert_int_equal(probe(flat_model_cond(RNN_COND_ALL, RNN_CELL_GRU, 0, 16, 1e37f,
                                           "rnn.weight_ih_l0", 0, 1e37f),
                           err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "rnn.weight_ih_l0"));
    assert_int_equal(probe(flat_model_cond(RNN_COND_ALL, RNN_CELL_GRU, 0, 16, 1e35f,
                                           "rnn.weight_ih_l0", 5 * ld + 140, 1e36f),
                           err, sizeof err),
                     0);
    /* one condition weight over the range of float by itself, with an embedding */
    assert_int_equal(probe(flat_model_cond(RNN_COND_METRIC, RNN_CELL_LSTM, 8, 16, 0.05f,
                                           "rnn.weight_ih_l0", 3 * (8 + 34) + 8 + 33, 3e38f),
                           err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "layer 0 row 3"));

    /* attention: weights that overflow the scores or the head over [h | c] */
    static const struct {
        const char *tensor;
        size_t at;
        float big;
        const char *needle; /* NULL: the model is fine */
    } attn_cases[] = {
        {"attn.W1", 3, 3e38f, "attn.W1"},
        {"attn.W2", 0, 3e38f, "attn.W2"},
        {"attn.v", 2, 1e38f, "attn.v"},
        {"attn.v", 2, 1e30f, NULL},
        {"head.weight", 20, 3e38f, "head.weight"},
    };
    for (size_t i = 0; i < sizeof attn_cases / sizeof attn_cases[0]; i++) {
        golden g;
        golden_load(&g, "attn_rnn_e0_l1");
        const rnn_model_config *cfg = rnn_model_get_config(g.model);
        rnn_tensor_spec specs[RNN_MAX_TENSORS];
        const float *t[RNN_MAX_TENSORS];
        float *copy = NULL;
        const int n = rnn_model_tensor_specs(cfg, specs);
        for (int k = 0; k < n; k++) {
            t[k] = rnn_model_tensor(g.model, specs[k].name, NULL);
            if (strcmp(specs[k].name, attn_cases[i].tensor) == 0) {
                assert_non_null(copy = malloc(specs[k].count * sizeof *copy));
                memcpy(copy, t[k], specs[k].count * sizeof *copy);
                /* the second half of the head's row is the context's */
                copy[attn_cases[i].at + (specs[k].ndim == 2 ? (size_t)specs[k].shape[1] / 2 : 0)] =
                    attn_cases[i].big;
                t[k] = copy;
            }
        }
        void *buf = NULL;
        size_t len = 0;
        if (rnn_model_serialize(cfg, NULL, 0, t, &buf, &len, err, sizeof err)) fail_msg("%s", err);
        rnn_model *m = rnn_model_load_memory(buf, len, "crafted.rnnw", err, sizeof err);
        if (!m) fail_msg("%s", err);
        const int rc = probe(m, err, sizeof err);
        if (attn_cases[i].needle) {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(err, attn_cases[i].needle));
        } else {
            assert_int_equal(rc, 0);
        }
        free(buf);
        free(copy);
        golden_free(&g);
    }
}

/* The condition columns: none is all zero, any nonzero value is 1, each
 * column reaches the logits, and a model without conditions ignores them. */
/* ---------------------------------------------------------------------------
 * Reduced-precision presets: every golden model with each matrix that may be
 * reduced stored as bf16, then int8 (rnn_model_serialize_typed, the writer
 * rnnmidi-quantize uses). Their logits must stay within a tolerance of
 * PyTorch's float32 logits, relative to the sequence's largest |logit|:
 * bf16 keeps 8 significant bits (a rounding error of at most 2^-9 = 0.2% of
 * each weight and of each input of a product), int8 7 bits of each row's
 * and each input vector's largest value (half a step of 1/127 of it: 0.4%);
 * summed over a row the independent errors grow as its square root, so one
 * product's outputs stay within 0.4% (bf16) and 1% (int8) of the largest
 * output, and the first step, from the zero state, runs L + 1 products in
 * series (each layer, then the head): its logits are held to L + 1 times
 * that (seen: at most 0.81% and 2.05%, both on the 3-layer tanh RNN; 0.40%
 * and 1.0% on the others). Over the
 * sequence the recurrence carries each step's error into the next; the
 * gated cells damp it, the tanh RNN does not. Measured (the figures print):
 * whole sequences of LSTM and GRU models within 0.53% (bf16) and 1.42%
 * (int8), of the tanh RNN models 1.59% and 2.83%; the bounds are twice
 * that: 1% and 3% (gated), 3% and 6% (tanh RNN).
 * Every qmat kernel this CPU runs gives the same logits bit for bit, and a
 * step in pieces the same as a whole one. */

/* The model with every reducible matrix as dt, or with mixed = 1 as int8,
 * float32 and bf16 in turn (products whose sides differ in dtype). */
static rnn_model *reduce(const rnn_model *m, rnn_dtype dt, int mixed)
{
    const rnn_model_config *cfg = rnn_model_get_config(m);
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const float *t[RNN_MAX_TENSORS];
    rnn_dtype d[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(cfg, specs);
    assert_true(n > 0);
    static const rnn_dtype turn[3] = {RNN_DTYPE_INT8, RNN_DTYPE_F32, RNN_DTYPE_BF16};
    for (int i = 0, a = 0; i < n; i++) {
        t[i] = rnn_model_tensor(m, specs[i].name, NULL);
        d[i] = !rnn_model_dtype_allowed(cfg, i) ? RNN_DTYPE_F32 : mixed ? turn[a++ % 3] : dt;
    }
    char err[256];
    void *buf;
    size_t len;
    if (rnn_model_serialize_typed(cfg, NULL, 0, t, d, &buf, &len, err, sizeof err) != 0)
        fail_msg("%s", err);
    rnn_model *r = rnn_model_load_memory(buf, len, "reduced", err, sizeof err);
    free(buf);
    if (!r) fail_msg("%s", err);
    return r;
}

static void test_reduced(void **state)
{
    (void)state;
    /* bf16, int8, then mixed dtypes held to int8's bounds; the kernels
     * compared are those of the first reduced matrix's dtype */
    static const rnn_dtype dts[3] = {RNN_DTYPE_BF16, RNN_DTYPE_INT8, RNN_DTYPE_INT8};
    static const double tol_step[3] = {4e-3, 1e-2, 1e-2}, tol_gated[3] = {1e-2, 3e-2, 3e-2},
                        tol_rnn[3] = {3e-2, 6e-2, 6e-2};
    double worst[3] = {0, 0, 0};
    for (size_t m = 0; m < NMODELS; m++) {
        golden g;
        golden_load(&g, NAMES[m]);
        rnn_net *n32 = net_new(g.model);
        assert_null(rnn_net_qmat_kernel_name(n32));
        assert_int_equal(rnn_net_set_qmat_kernel(n32, "portable"), -1);
        rnn_net_free(n32);
        double scale = 0, scale0 = 0;
        for (size_t i = 0; i < (size_t)g.T * g.V; i++)
            scale = fmax(scale, fabs(g.ref[i]));
        for (int i = 0; i < g.V; i++)
            scale0 = fmax(scale0, fabs(g.ref[i]));
        const double *tol =
            rnn_model_get_config(g.model)->cell == RNN_CELL_RNN ? tol_rnn : tol_gated;
        for (int v = 0; v < 3; v++) {
            golden r = g;
            r.model = reduce(g.model, dts[v], v == 2);
            float *all = run_all(&r);
            double err = 0, err0 = 0;
            for (size_t i = 0; i < (size_t)g.T * g.V; i++)
                err = fmax(err, fabs((double)all[i] - g.ref[i]));
            for (int i = 0; i < g.V; i++)
                err0 = fmax(err0, fabs((double)all[i] - g.ref[i]));
            printf("  %-22s %-5s max |logit - torch| %.2e, %.3f%% of max |logit| %.2f; first "
                   "step %.3f%%\n",
                   NAMES[m], v == 2 ? "mixed" : rnn_dtype_name(dts[v]), err, 100 * err / scale, scale,
                   100 * err0 / scale0);
            const int products = rnn_model_get_config(g.model)->layers + 1;
            if (!(err0 <= products * tol_step[v] * scale0))
                fail_msg("%s as %s: first step's logits off by %g, over %d x %g of %g", NAMES[m],
                         rnn_dtype_name(dts[v]), err0, products, tol_step[v], scale0);
            worst[v] = fmax(worst[v], err / scale);
            if (!(err <= tol[v] * scale))
                fail_msg("%s as %s: logits off by %g, over %g of %g", NAMES[m],
                         rnn_dtype_name(dts[v]), err, tol[v], scale);
            /* every kernel, whole and in pieces: the same numbers */
            rnn_net *net = net_new(r.model);
            assert_non_null(rnn_net_qmat_kernel_name(net));
            for (int k = 0; rnn_qmat_kernel_at((rnn_qmat_dtype)dts[v], k); k++) {
                const char *kn = rnn_qmat_kernel_at((rnn_qmat_dtype)dts[v], k);
                if (v == 2 && !rnn_qmat_kernel_supported(RNN_QMAT_BF16, kn)) continue;
                if (!rnn_qmat_kernel_supported((rnn_qmat_dtype)dts[v], kn)) {
                    assert_int_equal(rnn_net_set_qmat_kernel(net, kn), -1);
                    continue;
                }
                assert_int_equal(rnn_net_set_qmat_kernel(net, kn), 0);
                assert_string_equal(rnn_net_qmat_kernel_name(net), kn);
                rnn_net_reset(net);
                for (int t = 0; t < g.T; t++) {
                    if (t % 2) {
                        rnn_net_step_begin_cond(net, g.events[t], cond_at(&g, t));
                        while (!rnn_net_step_work(net, 8 + 8 * (t % 5))) {
                        }
                    } else {
                        rnn_net_step_cond(net, g.events[t], cond_at(&g, t));
                    }
                    if (memcmp(rnn_net_logits(net), all + (size_t)t * g.V, g.V * sizeof(float)))
                        fail_msg("%s as %s: kernel %s differs at step %d", NAMES[m],
                                 rnn_dtype_name(dts[v]), kn, t);
                }
            }
            rnn_net_free(net);
            free(all);
            rnn_model_free(r.model);
        }
        golden_free(&g);
    }
    printf("  worst: bf16 %.3f%%, int8 %.3f%%, mixed %.3f%% of the largest |logit|\n",
           100 * worst[0], 100 * worst[1], 100 * worst[2]);
}

static void test_conditions(void **state)
{
    (void)state;
    for (size_t m = 0; m < NMODELS; m++) {
        golden g;
        golden_load(&g, NAMES[m]);
        if (g.C == 0) {
            rnn_net *a = net_new(g.model), *b = net_new(g.model);
            float ones[4] = {1, 1, 1, 1};
            assert_int_equal(rnn_net_cond_columns(a), 0);
            for (int t = 0; t < 3; t++)
                assert_memory_equal(rnn_net_step(a, g.events[t]),
                                    rnn_net_step_cond(b, g.events[t], ones), g.V * sizeof(float));
            rnn_net_free(a);
            rnn_net_free(b);
            golden_free(&g);
            continue;
        }
        const int C = g.C, V = g.V;
        float *zero = calloc((size_t)C, sizeof *zero), *c = malloc((size_t)C * sizeof *c);
        float *base = malloc((size_t)V * sizeof *base);
        assert_non_null(zero);
        assert_non_null(c);
        assert_non_null(base);
        rnn_net *net = net_new(g.model), *ref = net_new(g.model);
        memcpy(base, rnn_net_step(net, 5), (size_t)V * sizeof *base);
        assert_memory_equal(base, rnn_net_step_cond(ref, 5, zero), (size_t)V * sizeof *base);
        for (int j = 0; j < C; j++) {
            rnn_net_reset(net);
            rnn_net_reset(ref);
            memset(c, 0, (size_t)C * sizeof *c);
            c[j] = 1.0f;
            const float *on = rnn_net_step_cond(ref, 5, c);
            if (memcmp(on, base, (size_t)V * sizeof *on) == 0)
                fail_msg("%s: condition column %d does not reach the logits", NAMES[m], j);
            c[j] = j % 3 == 0 ? 0.25f : j % 3 == 1 ? -7.0f : NAN;
            assert_memory_equal(rnn_net_step_cond(net, 5, c), on, (size_t)V * sizeof *on);
        }
        rnn_net_free(net);
        rnn_net_free(ref);
        free(zero);
        free(c);
        free(base);
        golden_free(&g);
    }
}

/* A drums model with a bidirectional encoder of He = 5 (10 encoder columns
 * in layer 0) and smooth pseudo-random weights; big (when not 0) in the
 * last encoder column of weight_ih_l0's first row. */
static rnn_model *enc_model_big(rnn_cell cell, int E, unsigned conds, float big)
{
    const rnn_model_config cfg = {.kind = RNN_KIND_DRUMS,
                                  .steps_per_quarter = 4,
                                  .cell = cell,
                                  .layers = 2,
                                  .embed = E,
                                  .hidden = 20,
                                  .vocab = 512,
                                  .conditions = conds,
                                  .enc_layers = 1,
                                  .enc_hidden = 5,
                                  .enc_inputs = RNN_ENC_INPUT_COLUMNS};
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    float *data[RNN_MAX_TENSORS] = {0};
    const int n = rnn_model_tensor_specs(&cfg, specs);
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        data[i] = malloc(specs[i].count * sizeof(float));
        assert_non_null(data[i]);
        for (size_t k = 0; k < specs[i].count; k++)
            data[i][k] = 0.3f * sinf(0.61f * (float)k + 1.7f * (float)i);
        if (big != 0 && !strcmp(specs[i].name, "rnn.weight_ih_l0"))
            data[i][specs[i].shape[1] - 1] = big;
    }
    void *buf = NULL;
    size_t len = 0;
    char err[256];
    if (rnn_model_serialize(&cfg, NULL, 0, (const float *const *)data, &buf, &len, err, sizeof err))
        fail_msg("%s", err);
    rnn_model *m = rnn_model_load_memory(buf, len, "enc", err, sizeof err);
    if (!m) fail_msg("%s", err);
    free(buf);
    for (int i = 0; i < n; i++)
        free(data[i]);
    return m;
}

static rnn_model *enc_model(rnn_cell cell, int E, unsigned conds)
{
    return enc_model_big(cell, E, conds, 0);
}

/* The encoder's columns of layer 0: NULL is all zero; each column reaches
 * the logits, in proportion to its value (a value of 2 moves the gates'
 * input twice as far as 1: checked on the difference of the logits with a
 * tiny value, where the net is near-linear); a step cut into pieces of any
 * budget gives the whole step bit for bit, the encoder's values read at
 * begin. A model without an encoder ignores them. */
static void test_encoder_columns(void **state)
{
    (void)state;
    for (int cell = 0; cell < RNN_CELL_COUNT; cell++)
        for (int E = 0; E <= 6; E += 6) {
            rnn_model *m = enc_model((rnn_cell)cell, E, cell == 1 ? RNN_COND_METRIC : 0);
            rnn_net *a = net_new(m), *b = net_new(m);
            const int Ce = rnn_net_enc_columns(a), V = 512, C = rnn_net_cond_columns(a);
            assert_int_equal(Ce, 10);
            float zero[10] = {0}, enc[10], cond[64] = {0};
            assert_true(C <= 64);
            assert_memory_equal(rnn_net_step(a, 3), rnn_net_step_enc(b, 3, NULL, zero),
                                V * sizeof(float));
            float base[512], lo[512], hi[512];
            for (int j = 0; j < Ce; j++) {
                memcpy(enc, zero, sizeof enc);
                rnn_net_reset(a);
                memcpy(base, rnn_net_step_enc(a, 3, NULL, enc), sizeof base);
                enc[j] = 1e-3f;
                rnn_net_reset(a);
                memcpy(lo, rnn_net_step_enc(a, 3, NULL, enc), sizeof lo);
                enc[j] = 2e-3f;
                rnn_net_reset(a);
                memcpy(hi, rnn_net_step_enc(a, 3, NULL, enc), sizeof hi);
                double d1 = 0, d2 = 0;
                for (int v = 0; v < V; v++) {
                    d1 += fabs((double)lo[v] - base[v]);
                    d2 += fabs((double)hi[v] - base[v]);
                }
                if (!(d1 > 0)) fail_msg("encoder column %d does not reach the logits", j);
                assert_true(fabs(d2 / d1 - 2.0) < 0.05);
            }
            /* sliced steps over a sequence of changing encoder rows */
            static const int budgets[] = {1, 8, 37, 100000};
            for (size_t k = 0; k < sizeof budgets / sizeof *budgets; k++) {
                rnn_net_reset(a);
                rnn_net_reset(b);
                for (int t = 0; t < 6; t++) {
                    for (int j = 0; j < Ce; j++)
                        enc[j] = sinf((float)(t * 13 + j));
                    for (int c = 0; c < C; c++)
                        cond[c] = (float)((t + c) % 5 == 0);
                    const float *whole = rnn_net_step_enc(a, (t * 37) % V, cond, enc);
                    rnn_net_step_begin_enc(b, (t * 37) % V, cond, enc);
                    memset(enc, 0, sizeof enc); /* read at begin */
                    while (!rnn_net_step_work(b, budgets[k]))
                        ;
                    assert_memory_equal(whole, rnn_net_logits(b), V * sizeof(float));
                }
            }
            rnn_net_free(a);
            rnn_net_free(b);
            rnn_model_free(m);
        }
    /* the probe bounds the encoder's columns too (each output in [-1, 1]) */
    for (int E = 0; E <= 6; E += 6) {
        rnn_model *big = enc_model_big(RNN_CELL_GRU, E, 0, 1e38f);
        char err[256];
        rnn_net *net = net_new(big);
        assert_int_equal(rnn_net_probe(net, "big.rnnw", err, sizeof err), -1);
        assert_non_null(strstr(err, "range of float"));
        rnn_net_free(net);
        rnn_model_free(big);
    }
    /* no encoder: its values are ignored */
    rnn_model *m = flat_model(RNN_CELL_GRU, 4, 8, 0.1f, NULL, 0, 0);
    rnn_net *a = net_new(m), *b = net_new(m);
    float ones[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(rnn_net_enc_columns(a), 0);
    assert_memory_equal(rnn_net_step(a, 7), rnn_net_step_enc(b, 7, NULL, ones),
                        130 * sizeof(float));
    rnn_net_free(a);
    rnn_net_free(b);
    rnn_model_free(m);
}

/* The golden lookback columns, written by make_golden.py from FORMAT.md's
 * definition, are core/lookback's for the same events and bar (LOOK_BAR). */
#define LOOK_BAR 3
static void test_lookback_columns(void **state)
{
    (void)state;
    int seen = 0;
    for (size_t m = 0; m < NMODELS; m++) {
        golden g;
        golden_load(&g, NAMES[m]);
        const rnn_model_config *cfg = rnn_model_get_config(g.model);
        const int L = rnn_model_lookback_columns(cfg), C0 = rnn_model_cond_columns(cfg);
        if (L == 0) {
            assert_int_equal(cfg->lookback, 0);
            golden_free(&g);
            continue;
        }
        seen++;
        assert_int_equal(g.C, C0 + L);
        float cols[RNN_MAX_LOOKBACK_COLUMNS];
        int flags = 0;
        for (int t = 0; t < g.T; t++) {
            rnn_lookback_fill(cfg->kind, g.events, (size_t)t + 1, LOOK_BAR, cols);
            assert_memory_equal(cols, g.cond + (size_t)t * g.C + C0, (size_t)L * sizeof *cols);
            flags += cols[L - 2] != 0.0f || cols[L - 1] != 0.0f;
        }
        assert_true(flags > 0); /* the repeat flags were on somewhere */
        golden_free(&g);
    }
    assert_int_equal(seen, 5);
}

/* The cost of a step: rows (padded: H to 16 per gate, V to 8) times columns. */
static void test_step_macs(void **state)
{
    (void)state;
    rnn_model_config c = {RNN_KIND_MELODY, 4, RNN_CELL_LSTM, 2, 16, 48, 130, 0, 0, 0, 0, 0, 0, 0};
    /* 4*48*(16+48) + 4*48*(48+48) + 136*48 */
    assert_int_equal(rnn_net_step_macs(&c), 12288 + 18432 + 6528);
    c.cell = RNN_CELL_GRU;
    c.hidden = 50; /* Hp = 64 */
    c.embed = 0;   /* one-hot: one column of G*Hp */
    assert_int_equal(rnn_net_step_macs(&c), 3 * 64 * 50 + 3 * 64 + 3 * 64 * 100 + 136 * 50);
    c.kind = RNN_KIND_DRUMS;
    c.vocab = 512;
    c.cell = RNN_CELL_RNN;
    c.layers = 1;
    c.embed = 64;
    c.hidden = 256;
    assert_int_equal(rnn_net_step_macs(&c), 256 * (64 + 256) + 512 * 256);
    /* each condition column is one more input column of the slots fed
     * with x, counted as if all were on: 34 + 12 at 4 steps per quarter */
    c.kind = RNN_KIND_MELODY;
    c.vocab = 130;
    c.conditions = RNN_COND_ALL;
    assert_int_equal(rnn_net_step_macs(&c), 256 * (64 + 256) + 46 * 256 + 136 * 256);
    c.cell = RNN_CELL_GRU;
    c.conditions = RNN_COND_METRIC;
    c.steps_per_quarter = 2; /* 26 columns */
    assert_int_equal(rnn_net_step_macs(&c), 3 * 256 * (64 + 256) + 26 * 3 * 256 + 136 * 256);
    /* lookback: at most 4 of the melody's 262 columns are on (one of each
     * one-hot block and the two flags), any of the drums' 20 */
    c.lookback = 1;
    assert_int_equal(rnn_net_step_macs(&c), 3 * 256 * (64 + 256) + (26 + 4) * 3 * 256 + 136 * 256);
    c.kind = RNN_KIND_DRUMS;
    c.vocab = 512;
    assert_int_equal(rnn_net_step_macs(&c),
                     3 * 256 * (64 + 256) + (26 + 20) * 3 * 256 + 512 * 256);
    c.kind = RNN_KIND_MELODY;
    c.vocab = 130;
    c.lookback = 0;
    /* attention (FORMAT.md's cost): 2 A H for the projections, n A for the
     * scores, n H for the context, and the head over 2H */
    c.attn_window = 32;
    c.attn_size = 64;
    assert_int_equal(rnn_net_step_macs(&c), 3 * 256 * (64 + 256) + 26 * 3 * 256 + 136 * 512 +
                                                2 * 64 * 256 + 32 * 64 + 32 * 256);
    /* an encoder's 2 He dense columns, every one counted (the encoder
     * itself runs once per sequence, not per step) */
    c.enc_layers = 2;
    c.enc_hidden = 8;
    c.enc_inputs = RNN_ENC_INPUT_COLUMNS;
    assert_int_equal(rnn_net_step_macs(&c), 3 * 256 * (64 + 256) + (26 + 16) * 3 * 256 + 136 * 512 +
                                                2 * 64 * 256 + 32 * 64 + 32 * 256);
    c.layers = 0;
    assert_int_equal(rnn_net_step_macs(&c), 0);
    assert_int_equal(rnn_net_step_macs(NULL), 0);
}

/* The build of the kernels a net runs: the one this binary asked for, where
 * the CPU runs it. test_net_generic pins the baseline; test_net_v3 asks for
 * x86-64-v3; test_net takes the best the CPU runs, which GCC >= 12 builds on
 * x86-64 (other compilers and CPUs build the baseline only). */
static const char *wanted_kernel(void)
{
#if defined(RNN_NET_ISA) && RNN_NET_ISA == 0
    return "baseline";
#elif defined(__x86_64__) && defined(RNN_NET_ISA) && RNN_NET_ISA == 3
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                   __builtin_cpu_supports("bmi2")
               ? "x86-64-v3"
               : "baseline";
#elif defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return "x86-64-v4";
    if (__builtin_cpu_supports("x86-64-v3")) return "x86-64-v3";
    return "baseline";
#else
    return "baseline";
#endif
}

static void test_kernel(void **state)
{
    (void)state;
    golden g;
    golden_load(&g, NAMES[2]);
    rnn_net *net = net_new(g.model);
    const char *got = rnn_net_kernel_name(net), *want = wanted_kernel();
    print_message("kernel: %s (wanted %s)\n", got, want);
    if (strcmp(got, want) != 0) fail_msg("the net runs the %s kernels, wanted %s", got, want);
    rnn_net_free(net);
    golden_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_state_branch_and_reset),
        cmocka_unit_test(test_step_pieces),
        cmocka_unit_test(test_reduced),
        cmocka_unit_test(test_abandoned_step),
        cmocka_unit_test(test_out_of_range_event),
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_lookback_columns),
        cmocka_unit_test(test_step_macs),
        cmocka_unit_test(test_encoder_columns),
        cmocka_unit_test(test_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
