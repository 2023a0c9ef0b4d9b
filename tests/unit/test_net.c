/* SPDX-License-Identifier: MIT */
/* Tests of core/net against PyTorch: every tests/golden/NAME.rnnw is stepped
 * through the event sequence of NAME.logits (written by make_golden.py from
 * nn.RNN / nn.LSTM / nn.GRU) and every logit must match within
 * max(1e-5, 1e-5 |ref|). Then, on the same models, the net's own contracts:
 * state get/set, reset, a step cut into pieces (bit-identical), an abandoned
 * step, out-of-range events. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_state_branch_and_reset),
        cmocka_unit_test(test_step_pieces),
        cmocka_unit_test(test_abandoned_step),
        cmocka_unit_test(test_out_of_range_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
