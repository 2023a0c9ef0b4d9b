/* SPDX-License-Identifier: MIT */
/* The trainer against PyTorch (tests/golden/train_*.bin, recorded by
 * tests/golden/make_train_golden.py): the loss and every gradient of one
 * batch from a fixed initialisation and a non-zero initial state, then the
 * weights after one and two AdamW steps with gradient-norm clipping, for the
 * vanilla RNN (one-hot input), LSTM and GRU; and the same for models that
 * take condition columns beside the event (train_cond_*.bin, format v2), and
 * for models with attention over the top layer's outputs, starting from
 * carried past outputs of different counts per lane (train_attn_*.bin), and
 * for models with the lookback columns after the conditions
 * (train_look_*.bin), whose columns in the file, written from FORMAT.md's
 * definition, are also core/lookback's for the lanes' inputs. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/golden.h"

#include "../../core/lookback.h"
#include "../../training/train.h"

/* max |a - b| / (atol + rtol |b|) over n values; <= 1 passes */
static double mismatch_slack(const float *a, const float *b, size_t n, double atol, double rtol,
                             const double *slack, size_t *where)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) /
                   (atol + rtol * fabs((double)b[i]) + (slack ? slack[i] : 0));
        if (e > worst) {
            worst = e;
            *where = i;
        }
    }
    return worst;
}

static double mismatch(const float *a, const float *b, size_t n, double atol, double rtol,
                       size_t *where)
{
    return mismatch_slack(a, b, n, atol, rtol, NULL, where);
}

/* What Adam makes of a gradient that differs from PyTorch's by d: its first
 * step moves a weight by lr g / (|g| + eps), which changes by up to
 * lr d eps / (|g| + eps)^2; near-zero gradients (a one-hot column seldom on)
 * turn a float-rounding difference the gradient check accepts into a weight
 * difference larger than the weight tolerance, by an amount that depends on
 * the BLAS kernel's summation order. */
static double adam_slack(double g, double ref, double lr, double eps)
{
    const double a = fabs(ref) + eps;
    return lr * fabs(g - ref) * eps / (a * a);
}

static void check_cell(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "tests/golden/train_%s.bin", name);
    golden_reader r;
    golden_open(&r, path);

    char magic[8];
    golden_take(&r, magic, 8);
    const int v4 = memcmp(magic, "RNNGOLD4", 8) == 0;
    const int v3 = memcmp(magic, "RNNGOLD3", 8) == 0;
    const int v2 = v3 || v4 || memcmp(magic, "RNNGOLD2", 8) == 0;
    if (!v2) assert_memory_equal(magic, "RNNGOLD1", 8);
    int32_t h[7], hc[4] = {4, 0, 0, 0}; /* spq, conditions, attention window and size */
    int32_t look = 0;
    golden_take(&r, h, sizeof h);
    if (v2) golden_take(&r, hc, (v3 ? 4 : 2) * sizeof hc[0]);
    if (v4) golden_take(&r, &look, sizeof look);
    float hp[6];
    golden_take(&r, hp, sizeof hp);
    const int L = h[1], E = h[2], H = h[3], V = h[4], B = h[5], T = h[6];
    rnn_model_config cfg = {RNN_KIND_MELODY, hc[0], (rnn_cell)h[0], L, E, H, V,
                            (unsigned)hc[1], hc[2], hc[3], look, 0, 0, 0};
    const int C = rnn_model_input_columns(&cfg), N = hc[2];
    assert_true(v3 ? N > 0 : v2 == (C > 0));
    assert_int_equal(look, v4);
    int32_t *in = malloc((size_t)T * B * sizeof(int32_t)),
            *tg = malloc((size_t)T * B * sizeof(int32_t));
    assert_true(in && tg);
    golden_take(&r, in, (size_t)T * B * sizeof(int32_t));
    golden_take(&r, tg, (size_t)T * B * sizeof(int32_t));
    float *cond = C ? golden_take_floats(&r, (size_t)T * B * C) : NULL;
    if (look) {
        /* each lane's columns over its inputs, bars of 2 steps */
        const int C0 = rnn_model_cond_columns(&cfg);
        int32_t lane[64];
        float cols[RNN_MAX_LOOKBACK_COLUMNS];
        assert_true(T <= 64);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                lane[t] = in[(size_t)t * B + b];
                rnn_lookback_fill(RNN_KIND_MELODY, lane, (size_t)t + 1, 2, cols);
                assert_memory_equal(cols, cond + ((size_t)t * B + b) * C + C0,
                                    (size_t)(C - C0) * sizeof *cols);
            }
    }
    size_t LBH = (size_t)L * B * H;
    /* the trainer's state: h, c, then with attention npast (B) and past (N, B, H) */
    const size_t ns = 2 * LBH + (N ? (size_t)B + (size_t)N * B * H : 0);
    float *state = malloc(ns * sizeof(float));
    assert_non_null(state);
    golden_take(&r, state, 2 * LBH * sizeof(float));
    if (N) {
        int32_t *npast = malloc((size_t)B * sizeof *npast);
        assert_non_null(npast);
        golden_take(&r, npast, (size_t)B * sizeof *npast);
        for (int b = 0; b < B; b++)
            state[2 * LBH + (size_t)b] = (float)npast[b];
        golden_take(&r, state + 2 * LBH + B, (size_t)N * B * H * sizeof(float));
        free(npast);
    }
    int32_t P;
    golden_take(&r, &P, 4);
    float *init = golden_take_floats(&r, (size_t)P);
    double loss0, loss1;
    golden_take(&r, &loss0, 8);
    float *grads0 = golden_take_floats(&r, (size_t)P), *w1 = golden_take_floats(&r, (size_t)P);
    golden_take(&r, &loss1, 8);
    float *w2 = golden_take_floats(&r, (size_t)P);
    assert_int_equal(r.pos, r.size);

    char err[256];
    rnn_trainer *tr = rnn_trainer_create(&cfg, B, T, err, sizeof err);
    assert_non_null(tr);
    assert_int_equal(rnn_trainer_num_params(tr), (size_t)P);
    memcpy(rnn_trainer_params(tr), init, (size_t)P * sizeof(float));
    assert_int_equal(rnn_trainer_state_size(tr), ns);

    double *slack = calloc((size_t)P, sizeof *slack);
    assert_non_null(slack);
    double losses[2] = {loss0, loss1};
    const float *after[2] = {w1, w2};
    for (int step = 1; step <= 2; step++) {
        rnn_trainer_state_set(tr, state);
        rnn_trainer_zero_grad(tr);
        long n = 0;
        double loss = rnn_trainer_forward_cond(tr, in, cond, tg, 0, &n, NULL) / (double)n;
        assert_int_equal(n, T * B - 1);
        print_message("%s step %d: loss %.7f, PyTorch %.7f\n", name, step, loss, losses[step - 1]);
        assert_true(fabs(loss - losses[step - 1]) <= 2e-6 * fabs(losses[step - 1]));
        rnn_trainer_backward(tr);
        size_t at = 0;
        if (step == 1) {
            for (int k = 0; k < rnn_trainer_num_tensors(tr); k++) {
                const rnn_tensor_spec *sp = rnn_trainer_tensor_spec(tr, k);
                const float *g = rnn_trainer_grad_tensor(tr, k);
                const float *ref = grads0 + (g - rnn_trainer_grads(tr));
                double e = mismatch(g, ref, sp->count, 1e-6, 1e-3, &at);
                for (size_t j = 0; j < sp->count; j++)
                    slack[(size_t)(g - rnn_trainer_grads(tr)) + j] =
                        adam_slack(g[j], ref[j], hp[0], hp[5]);
                if (e > 1)
                    print_error("%s %s[%zu]: %.8g, PyTorch %.8g\n", name, sp->name, at, g[at],
                                ref[at]);
                assert_true(e <= 1);
            }
        }
        rnn_trainer_clip_grad(tr, hp[2]);
        rnn_trainer_adamw(tr, hp[0], hp[3], hp[4], hp[5], hp[1], step);
        /* each step adds what Adam makes of the gradients' difference (the
         * second step's taken as the first's) */
        if (step == 2)
            for (size_t j = 0; j < (size_t)P; j++) slack[j] *= 2;
        double e = mismatch_slack(rnn_trainer_params(tr), after[step - 1], (size_t)P, 2e-6, 1e-5,
                                  slack, &at);
        if (e > 1)
            print_error("%s weights after step %d [%zu]: %.8g, PyTorch %.8g (was %.8g)\n", name,
                        step, at, rnn_trainer_params(tr)[at], after[step - 1][at], init[at]);
        assert_true(e <= 1);
    }
    rnn_trainer_free(tr);
    free(slack);
    golden_close(&r);
    free(in);
    free(tg);
    free(cond);
    free(state);
    free(init);
    free(grads0);
    free(w1);
    free(w2);
}

static void test_golden_rnn(void **state)
{
    (void)state;
    check_cell("rnn");
    check_cell("cond_rnn");
    check_cell("attn_rnn");
    check_cell("look_rnn");
}

static void test_golden_lstm(void **state)
{
    (void)state;
    check_cell("lstm");
    check_cell("cond_lstm");
    check_cell("attn_lstm");
    check_cell("look_lstm");
}

static void test_golden_gru(void **state)
{
    (void)state;
    check_cell("gru");
    check_cell("cond_gru");
    check_cell("attn_gru");
    check_cell("look_gru");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_rnn),
        cmocka_unit_test(test_golden_lstm),
        cmocka_unit_test(test_golden_gru),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
