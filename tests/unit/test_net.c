/* SPDX-License-Identifier: MIT */
/* Tests of core/net against PyTorch: every tests/golden/NAME.rnnw is stepped
 * through the event sequence of NAME.logits (written by make_golden.py from
 * nn.RNN / nn.LSTM / nn.GRU) and every logit must match within
 * max(1e-5, 1e-5 |ref|). Then, on the same models, the net's own contracts:
 * state get/set, reset, a step cut into pieces (bit-identical), an abandoned
 * step, out-of-range events; the cost of a step, the probe that refuses
 * models whose numbers leave the range of float, and which build of the
 * kernels runs (test_net_v3 and test_net_generic pin one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/model.h"
#include "../../core/net.h"

static const char *const NAMES[] = {
    "rnn_e0_l1", "rnn_e24_l3", "lstm_e32_l2",      "lstm_e0_l3",
    "gru_e0_l2", "gru_e16_l1", "drums_lstm_e8_l2", "drums_gru_e0_l1",
};
#define NMODELS (sizeof NAMES / sizeof NAMES[0])

typedef struct {
    rnn_model *model;
    int T, V;
    int *events; /* (T) */
    float *ref;  /* (T, V) PyTorch's logits */
} golden;

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
}

static void golden_free(golden *g)
{
    rnn_model_free(g->model);
    free(g->events);
    free(g->ref);
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
        memcpy(out + (size_t)t * g->V, rnn_net_step(net, g->events[t]), g->V * sizeof *out);
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
        for (int t = 0; t < g.T; t++) {
            const float *y = rnn_net_step(net, g.events[t]);
            for (int v = 0; v < g.V; v++) {
                double ref = g.ref[(size_t)t * g.V + v];
                double d = fabs((double)y[v] - ref);
                double tol = fmax(1e-5, 1e-5 * fabs(ref));
                if (!(d <= tol))
                    fail_msg("%s: step %d logit %d: %.9g, PyTorch %.9g", NAMES[m], t, v, y[v], ref);
                if (d / tol > worst) worst = d / tol;
            }
        }
        assert_int_equal(rnn_net_state_size(net),
                         (size_t)cfg->layers * cfg->hidden * (cfg->cell == RNN_CELL_LSTM ? 2 : 1));
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
            rnn_net_step(net, g.events[t]);
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
            const float *y = rnn_net_step(net, g.events[t]);
            assert_memory_equal(y, all + (size_t)t * V, V * sizeof *y);
        }

        /* reset gives the first step again */
        rnn_net_reset(net);
        for (int v = 0; v < V; v++)
            assert_true(rnn_net_logits(net)[v] == 0.0f);
        assert_memory_equal(rnn_net_step(net, g.events[0]), all, V * sizeof(float));
        assert_memory_equal(rnn_net_step(net, g.events[1]), all + V, V * sizeof(float));

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
            rnn_net_reset(net);
            for (int t = 0; t < g.T; t++) {
                rnn_net_step_begin(net, g.events[t]);
                int calls = 1;
                while (!rnn_net_step_work(net, budget)) {
                    calls++;
                    assert_true(calls <= rows);
                }
                /* pieces of about budget rows (whole vectors of 8 rows at least) */
                int unit = budget < 8 ? 8 : budget / 8 * 8;
                assert_true(calls >= (rows + unit - 1) / unit);
                if (budget >= rows) assert_int_equal(calls, 1);
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
                rnn_net_step_begin(net, (g.events[t] + 11) % V);
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
                rnn_net_step_begin(net, g.events[t]);
                while (!rnn_net_step_work(net, 40)) {
                }
            } else {
                rnn_net_step(net, g.events[t]);
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

/* A model of the given shape with every weight `w` and every bias 0, then
 * one value of one tensor set to `big`. */
static rnn_model *flat_model(rnn_cell cell, int E, int H, float w, const char *tname, size_t at,
                             float big)
{
    rnn_model_config cfg = {RNN_KIND_MELODY, 4, cell, 2, E, H, 130, 0};
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
}

/* The cost of a step: rows (padded: H to 16 per gate, V to 8) times columns. */
static void test_step_macs(void **state)
{
    (void)state;
    rnn_model_config c = {RNN_KIND_MELODY, 4, RNN_CELL_LSTM, 2, 16, 48, 130, 0};
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
        cmocka_unit_test(test_abandoned_step),
        cmocka_unit_test(test_out_of_range_event),
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_step_macs),
        cmocka_unit_test(test_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
