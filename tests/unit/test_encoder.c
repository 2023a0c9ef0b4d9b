/* SPDX-License-Identifier: MIT */
/* Tests of core/encoder, the bidirectional encoder's forward pass:
 * - against PyTorch (tests/golden/enc_*.bin, nn.RNN / nn.LSTM / nn.GRU with
 *   bidirectional=True, 1 and 2 layers): every output of every lane within
 *   1e-5, the tensors named and shaped as PyTorch's state_dict;
 * - a run cut into slices of any budget gives the whole run bit for bit, in
 *   ceil(total / budget) work calls, also after an abandoned run; the
 *   output is hidden while a run is under way;
 * - runs of different lengths on one encoder: each as on a fresh encoder;
 * - begin refuses a NULL input and lengths outside 1..max_steps, create
 *   refuses bad sizes and missing tensors; the multiply-add count. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/enc_golden.h"

#include "../../core/encoder.h"

static const char *const cells[] = {"rnn", "lstm", "gru"};

/* lane b's rows of a (T, B, n) time-major array, as (T, n) */
static float *lane(const float *a, int T, int B, int n, int b)
{
    float *x = malloc((size_t)T * n * sizeof(float));
    assert_non_null(x);
    for (int t = 0; t < T; t++)
        memcpy(x + (size_t)t * n, a + ((size_t)t * B + b) * n, (size_t)n * sizeof(float));
    return x;
}

static rnn_enc *create(const enc_golden *g, int max_steps)
{
    rnn_enc_config cfg = g->cfg;
    cfg.max_steps = max_steps;
    char err[256];
    rnn_enc *enc = rnn_enc_create(&cfg, (const float *const *)g->tensors, err, sizeof err);
    if (!enc) fail_msg("%s", err);
    return enc;
}

static void test_golden(void **state)
{
    (void)state;
    for (int c = 0; c < 3; c++)
        for (int layers = 1; layers <= 2; layers++) {
            enc_golden g;
            enc_golden_load(&g, cells[c], layers);
            rnn_enc *enc = create(&g, g.T);
            const int In = g.cfg.inputs, He2 = 2 * g.cfg.hidden;
            double worst = 0;
            for (int b = 0; b < g.B; b++) {
                float *x = lane(g.x, g.T, g.B, In, b), *want = lane(g.out, g.T, g.B, He2, b);
                assert_int_equal(rnn_enc_run(enc, x, g.T), 0);
                int T = -1;
                const float *out = rnn_enc_output(enc, &T);
                assert_non_null(out);
                assert_int_equal(T, g.T);
                for (size_t i = 0; i < (size_t)g.T * He2; i++) {
                    const double e = fabs((double)out[i] - want[i]);
                    if (e > worst) worst = e;
                }
                free(x), free(want);
            }
            printf("enc_%s_l%d: worst output error %.2e\n", cells[c], layers, worst);
            assert_true(worst <= 1e-5);
            rnn_enc_free(enc);
            enc_golden_free(&g);
        }
}

/* The names and shapes of PyTorch's state_dict, in its order. */
static void test_specs(void **state)
{
    (void)state;
    const rnn_enc_config cfg = {.cell = RNN_CELL_LSTM, .layers = 2, .inputs = 7, .hidden = 5};
    rnn_tensor_spec s[RNN_ENC_MAX_TENSORS];
    assert_int_equal(rnn_enc_tensor_specs(&cfg, s), 16);
    static const char *const names[16] = {
        "enc.weight_ih_l0",         "enc.weight_hh_l0",         "enc.bias_ih_l0",
        "enc.bias_hh_l0",           "enc.weight_ih_l0_reverse", "enc.weight_hh_l0_reverse",
        "enc.bias_ih_l0_reverse",   "enc.bias_hh_l0_reverse",   "enc.weight_ih_l1",
        "enc.weight_hh_l1",         "enc.bias_ih_l1",           "enc.bias_hh_l1",
        "enc.weight_ih_l1_reverse", "enc.weight_hh_l1_reverse", "enc.bias_ih_l1_reverse",
        "enc.bias_hh_l1_reverse"};
    for (int i = 0; i < 16; i++) {
        assert_string_equal(s[i].name, names[i]);
        assert_int_equal(s[i].shape[0], 20);
    }
    assert_int_equal(s[0].shape[1], 7);
    assert_int_equal(s[4].shape[1], 7);
    assert_int_equal(s[8].shape[1], 10); /* layer 1 reads [forward | reverse] */
    assert_int_equal(s[12].shape[1], 10);
    assert_int_equal(s[1].shape[1], 5);
    assert_int_equal(s[2].ndim, 1);
    assert_int_equal(s[2].count, 20);
    /* per step: both directions of W_ih and W_hh of each layer */
    assert_int_equal(rnn_enc_step_macs(&cfg), 2 * (20 * 7 + 20 * 5) + 2 * (20 * 10 + 20 * 5));
}

static void test_sliced(void **state)
{
    (void)state;
    static const int budgets[] = {1, 2, 3, 5, 7, 13, 1000};
    for (int c = 0; c < 3; c++)
        for (int layers = 1; layers <= 2; layers++) {
            enc_golden g;
            enc_golden_load(&g, cells[c], layers);
            rnn_enc *whole = create(&g, g.T), *sliced = create(&g, g.T + 3);
            const int In = g.cfg.inputs, He2 = 2 * g.cfg.hidden;
            float *x = lane(g.x, g.T, g.B, In, 0), *y = lane(g.x, g.T, g.B, In, g.B - 1);
            assert_int_equal(rnn_enc_run(whole, x, g.T), 0);
            const float *want = rnn_enc_output(whole, NULL);
            for (size_t i = 0; i < sizeof budgets / sizeof *budgets; i++) {
                const int budget = budgets[i];
                /* an abandoned run of another sequence first */
                assert_int_equal(rnn_enc_begin(sliced, y, g.T), 0);
                assert_int_equal(rnn_enc_work(sliced, 3), 0);
                assert_int_equal(rnn_enc_begin(sliced, x, g.T), 0);
                const int total = rnn_enc_work_total(sliced);
                assert_int_equal(total, 2 * layers * g.T);
                int calls = 0, T = -1;
                do {
                    assert_null(rnn_enc_output(sliced, &T));
                    assert_int_equal(T, 0);
                    calls++;
                } while (!rnn_enc_work(sliced, budget));
                assert_int_equal(calls, (total + budget - 1) / budget);
                assert_int_equal(rnn_enc_work_done(sliced), total);
                assert_int_equal(rnn_enc_work(sliced, 1), 1); /* finished stays finished */
                const float *got = rnn_enc_output(sliced, &T);
                assert_non_null(got);
                assert_int_equal(T, g.T);
                assert_memory_equal(got, want, (size_t)g.T * He2 * sizeof(float));
            }
            free(x), free(y);
            rnn_enc_free(whole), rnn_enc_free(sliced);
            enc_golden_free(&g);
        }
}

/* A shorter run after a longer one, and the longer one again: each as on a
 * fresh encoder (no state or output leaks from one run into the next). */
static void test_lengths(void **state)
{
    (void)state;
    enc_golden g;
    enc_golden_load(&g, "lstm", 2);
    const int In = g.cfg.inputs, He2 = 2 * g.cfg.hidden;
    float *x = lane(g.x, g.T, g.B, In, 1);
    rnn_enc *a = create(&g, g.T), *b = create(&g, g.T);
    for (int T = g.T; T >= 1; T -= 3) {
        assert_int_equal(rnn_enc_run(a, x, g.T), 0);
        assert_int_equal(rnn_enc_run(a, x + (size_t)(g.T - T) * In, T), 0);
        rnn_enc_free(b);
        b = create(&g, g.T);
        assert_int_equal(rnn_enc_run(b, x + (size_t)(g.T - T) * In, T), 0);
        int Ta, Tb;
        const float *oa = rnn_enc_output(a, &Ta), *ob = rnn_enc_output(b, &Tb);
        assert_int_equal(Ta, T);
        assert_int_equal(Tb, T);
        assert_memory_equal(oa, ob, (size_t)T * He2 * sizeof(float));
    }
    free(x);
    rnn_enc_free(a), rnn_enc_free(b);
    enc_golden_free(&g);
}

static void test_errors(void **state)
{
    (void)state;
    enc_golden g;
    enc_golden_load(&g, "gru", 1);
    rnn_enc *enc = create(&g, 4);
    assert_true(rnn_enc_bytes(enc) > 0);
    assert_int_equal(rnn_enc_get_config(enc)->max_steps, 4);
    assert_int_equal(rnn_enc_work(enc, 1), 1); /* nothing begun */
    assert_null(rnn_enc_output(enc, NULL));
    assert_int_equal(rnn_enc_begin(enc, g.x, 5), -1);
    assert_int_equal(rnn_enc_begin(enc, g.x, 0), -1);
    assert_int_equal(rnn_enc_begin(enc, NULL, 2), -1);
    assert_int_equal(rnn_enc_run(enc, g.x, 4), 0);
    assert_non_null(rnn_enc_output(enc, NULL));
    assert_int_equal(rnn_enc_begin(enc, g.x, 5), -1); /* refused: the output stays */
    assert_non_null(rnn_enc_output(enc, NULL));
    rnn_enc_free(enc);
    rnn_enc_free(NULL);

    char err[256];
    const rnn_enc_config good = g.cfg;
    static const struct {
        int field, value;
        const char *msg;
    } bad[] = {
        {0, 3, "cell"},          {1, 0, "layers"},
        {1, 5, "layers"},        {2, 0, "input columns"},
        {3, 0, "hidden size"},   {3, 4097, "hidden size"},
        {4, 0, "maximum steps"}, {4, 65537, "maximum steps"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rnn_enc_config cfg = good;
        int *f[] = {(int *)&cfg.cell, &cfg.layers, &cfg.inputs, &cfg.hidden, &cfg.max_steps};
        *f[bad[i].field] = bad[i].value;
        err[0] = 0;
        assert_null(rnn_enc_create(&cfg, (const float *const *)g.tensors, err, sizeof err));
        assert_non_null(strstr(err, bad[i].msg));
    }
    const float *missing[RNN_ENC_MAX_TENSORS];
    memcpy(missing, g.tensors, sizeof missing);
    missing[5] = NULL;
    assert_null(rnn_enc_create(&good, missing, err, sizeof err));
    assert_non_null(strstr(err, "enc.weight_hh_l0_reverse"));
    assert_null(rnn_enc_create(&good, NULL, err, sizeof err));
    enc_golden_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden), cmocka_unit_test(test_specs),
        cmocka_unit_test(test_sliced), cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
