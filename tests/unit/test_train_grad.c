/* SPDX-License-Identifier: MIT */
/* The trainer's backpropagation through time against central finite
 * differences of its own forward, for every parameter tensor of every cell
 * type: 2 layers, a carried-in state that is not zero, an ignored target,
 * with dropout off and on (the same masks on every forward); and with
 * condition columns (format v2) beside the event, whose block of
 * weight_ih_l0 is checked with the rest; and with attention over the top
 * layer's outputs (attn.W1, attn.W2, attn.v, a head over [h | context]),
 * starting from carried past outputs of different counts per lane; and with
 * the lookback columns after the conditions (262 for melody), whose block
 * of weight_ih_l0 is checked too; and with a bidirectional encoder (1 and
 * 2 layers, every cell type) whose outputs enter layer 0 after those
 * columns (through dropout's mask in training): every enc.* tensor and the
 * encoder's block of weight_ih_l0. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../training/train.h"

enum { B = 2, T = 5, V = 11 };

enum { ENC_IN = 5, ENC_H = 4 }; /* the encoder's input columns and hidden size */

static double loss_of(rnn_trainer *tr, const int32_t *in, const float *cond, const float *enc,
                      const int32_t *tg, const float *s0, uint64_t rng, int training)
{
    rnn_trainer_state_set(tr, s0);
    rnn_trainer_rng_set(tr, rng);
    long n = 0;
    double nll = rnn_trainer_forward_enc(tr, in, cond, enc, tg, training, &n, NULL);
    return nll / (double)n;
}

/* conds: the conditions, at 1 step per quarter (22 metric columns); n, A:
 * the attention window and size (0, 0 for none); look: the lookback columns
 * after the conditions; elayers: the encoder's layers (0 for none) */
static void check_full(rnn_cell cell, int embed, float dropout, unsigned conds, int n, int A,
                       int look, int elayers)
{
    rnn_model_config cfg = {.kind = RNN_KIND_MELODY,
                            .steps_per_quarter = 1,
                            .cell = cell,
                            .layers = 2,
                            .embed = embed,
                            .hidden = 6,
                            .vocab = V,
                            .conditions = conds,
                            .attn_window = n,
                            .attn_size = A,
                            .lookback = look,
                            .enc_layers = elayers,
                            .enc_hidden = elayers ? ENC_H : 0,
                            .enc_inputs = elayers ? ENC_IN : 0};
    const int C = rnn_model_input_columns(&cfg);
    char err[256];
    rnn_trainer *tr = rnn_trainer_create(&cfg, B, T, err, sizeof err);
    assert_non_null(tr);
    rnn_trainer_init_params(tr, 7 + (uint64_t)cell);
    /* larger weights than the default make the gates saturate unevenly */
    float *p = rnn_trainer_params(tr);
    size_t P = rnn_trainer_num_params(tr);
    for (size_t i = 0; i < P; i++)
        p[i] *= 1.5f;
    rnn_trainer_set_dropout(tr, dropout, 99);

    size_t ns = rnn_trainer_state_size(tr);
    float *s0 = malloc(ns * sizeof(float));
    assert_non_null(s0);
    for (size_t i = 0; i < ns; i++)
        s0[i] = 0.5f * sinf(0.7f * (float)i + 0.3f);
    if (n > 0) { /* the carried past: all n outputs of lane 0, one of lane 1 */
        const size_t counts = 2 * (size_t)2 * B * 6;
        assert_int_equal(ns, counts + B + (size_t)n * B * 6);
        s0[counts] = (float)n;
        s0[counts + 1] = 1.0f;
    }

    int32_t in[T * B], tg[T * B];
    for (int i = 0; i < T * B; i++) {
        in[i] = (i * 7 + 3) % V;
        tg[i] = (i * 5 + 1) % V;
    }
    tg[3] = -1;
    float *cond = C ? malloc((size_t)T * B * C * sizeof *cond) : NULL;
    assert_true(C == 0 || cond);
    for (int i = 0; C && i < T * B * C; i++)
        cond[i] = (float)((i * 11 + 5) % 13 < 4);
    float enc[T * B * ENC_IN];
    for (int i = 0; i < T * B * ENC_IN; i++)
        enc[i] = sinf(1.3f * (float)i + 0.2f);

    uint64_t rng = 12345;
    rnn_trainer_zero_grad(tr);
    loss_of(tr, in, cond, elayers ? enc : NULL, tg, s0, rng, 1);
    rnn_trainer_backward(tr);
    float *g = malloc(P * sizeof(float));
    assert_non_null(g);
    memcpy(g, rnn_trainer_grads(tr), P * sizeof(float));

    const float eps = 1e-2f;
    for (int k = 0; k < rnn_trainer_num_tensors(tr); k++) {
        const rnn_tensor_spec *sp = rnn_trainer_tensor_spec(tr, k);
        float *w = rnn_trainer_tensor(tr, k);
        const float *gk = g + (w - p);
        double num = 0, den_a = 0, den_n = 0, worst = 0;
        for (size_t j = 0; j < sp->count; j++) {
            float keep = w[j];
            w[j] = keep + eps;
            double lp = loss_of(tr, in, cond, elayers ? enc : NULL, tg, s0, rng, 1);
            w[j] = keep - eps;
            double lm = loss_of(tr, in, cond, elayers ? enc : NULL, tg, s0, rng, 1);
            w[j] = keep;
            double fd = (lp - lm) / (2.0 * eps);
            double d = fd - gk[j];
            num += d * d;
            den_a += (double)gk[j] * gk[j];
            den_n += fd * fd;
            if (fabs(d) > worst) worst = fabs(d);
        }
        /* float central differences carry a noise of about ulp(loss) / (2 eps),
         * 1e-5 here: the bound allows that much on top of a relative error */
        double rel = sqrt(num) / fmax(sqrt(fmax(den_a, den_n)), 1e-12);
        double noise = 2e-5 * sqrt((double)sp->count);
        int ok = sqrt(num) <= 2e-3 * sqrt(den_a) + noise;
        if (!ok || getenv("GRAD_VERBOSE"))
            print_message("%s E=%d C=%d n=%d dropout=%.1f %-18s relative error %.2e, worst %.2e, "
                          "|g| %.3e\n",
                          rnn_cell_name(cell) ? rnn_cell_name(cell) : "?", embed, C, n, dropout,
                          sp->name, rel, worst, sqrt(den_a));
        assert_true(ok);
        /* a tensor whose gradient is all zero would pass trivially */
        assert_true(den_a > 0);
    }
    free(g);
    free(s0);
    free(cond);
    rnn_trainer_free(tr);
}

static void check_attn(rnn_cell cell, int embed, float dropout, unsigned conds, int n, int A)
{
    check_full(cell, embed, dropout, conds, n, A, 0, 0);
}

static void check_cond(rnn_cell cell, int embed, float dropout, unsigned conds)
{
    check_attn(cell, embed, dropout, conds, 0, 0);
}

static void check(rnn_cell cell, int embed, float dropout)
{
    check_cond(cell, embed, dropout, 0);
}

static void test_grad_attention(void **state)
{
    (void)state;
    check_attn(RNN_CELL_RNN, 4, 0, 0, 3, 4);
    check_attn(RNN_CELL_LSTM, 0, 0, 0, 8, 5);
    check_attn(RNN_CELL_GRU, 4, 0, 0, 2, 3);
    check_attn(RNN_CELL_LSTM, 4, 0.3f, 0, 3, 4);
    check_attn(RNN_CELL_GRU, 0, 0, RNN_COND_METRIC, 4, 4);
}

/* the lookback columns, alone and after the metric's */
static void test_grad_lookback(void **state)
{
    (void)state;
    check_full(RNN_CELL_LSTM, 4, 0, 0, 0, 0, 1, 0);
    check_full(RNN_CELL_GRU, 0, 0, RNN_COND_METRIC, 0, 0, 1, 0);
    check_full(RNN_CELL_RNN, 4, 0.3f, RNN_COND_METRIC, 0, 0, 1, 0);
}

/* the bidirectional encoder's outputs in layer 0's input, alone and after
 * the conditions and lookback, with dropout and attention */
static void test_grad_encoder(void **state)
{
    (void)state;
    check_full(RNN_CELL_RNN, 4, 0, 0, 0, 0, 0, 1);
    check_full(RNN_CELL_LSTM, 0, 0, 0, 0, 0, 0, 2);
    check_full(RNN_CELL_GRU, 4, 0, RNN_COND_METRIC, 0, 0, 1, 2);
    check_full(RNN_CELL_LSTM, 4, 0.3f, RNN_COND_ALL, 0, 0, 0, 1);
    check_full(RNN_CELL_GRU, 0, 0, 0, 3, 4, 0, 1);
    check_full(RNN_CELL_RNN, 0, 0, 0, 0, 0, 1, 2);
}

static void test_grad_conditions(void **state)
{
    (void)state;
    check_cond(RNN_CELL_RNN, 4, 0, RNN_COND_ALL);
    check_cond(RNN_CELL_LSTM, 0, 0, RNN_COND_ALL);
    check_cond(RNN_CELL_LSTM, 4, 0.3f, RNN_COND_METRIC);
    check_cond(RNN_CELL_GRU, 0, 0, RNN_COND_HARMONY);
    check_cond(RNN_CELL_GRU, 4, 0, RNN_COND_ALL);
}

static void test_grad_rnn(void **state)
{
    (void)state;
    check(RNN_CELL_RNN, 4, 0);
    check(RNN_CELL_RNN, 0, 0);
}

static void test_grad_lstm(void **state)
{
    (void)state;
    check(RNN_CELL_LSTM, 4, 0);
    check(RNN_CELL_LSTM, 0, 0);
}

static void test_grad_gru(void **state)
{
    (void)state;
    check(RNN_CELL_GRU, 4, 0);
    check(RNN_CELL_GRU, 0, 0);
}

static void test_grad_dropout(void **state)
{
    (void)state;
    check(RNN_CELL_LSTM, 4, 0.3f);
    check(RNN_CELL_GRU, 4, 0.3f);
    check(RNN_CELL_RNN, 4, 0.3f);
}

/* The work split over threads (lanes, rows, gate rows, parameter ranges,
 * uneven here: 5 lanes over 3 threads) gives the single thread's numbers. */
static void test_threads_agree(void **state)
{
    (void)state;
    enum { NB = 5, NT = 7 };
    for (int cell = 0; cell < 3; cell++) {
        rnn_model_config cfg = {RNN_KIND_MELODY, 4, (rnn_cell)cell, 2, 5, 12, V, 0, 0, 0, 0, 0, 0, 0};
        char err[256];
        rnn_trainer *a = rnn_trainer_create(&cfg, NB, NT, err, sizeof err);
        rnn_trainer *b = rnn_trainer_create(&cfg, NB, NT, err, sizeof err);
        assert_true(a && b);
        assert_int_equal(rnn_trainer_set_threads(b, 3), 0);
        assert_int_equal(rnn_trainer_threads(b), 3);
        int32_t in[NB * NT], tg[NB * NT];
        for (int i = 0; i < NB * NT; i++) {
            in[i] = (i * 3 + 1) % V;
            tg[i] = (i * 7 + 2) % V;
        }
        rnn_trainer *both[2] = {a, b};
        double loss[2];
        for (int k = 0; k < 2; k++) {
            rnn_trainer_init_params(both[k], 5);
            rnn_trainer_set_dropout(both[k], 0.2f, 77);
            for (int step = 1; step <= 3; step++) {
                rnn_trainer_zero_grad(both[k]);
                long n;
                loss[k] = rnn_trainer_forward(both[k], in, tg, 1, &n, NULL) / n;
                rnn_trainer_backward(both[k]);
                rnn_trainer_clip_grad(both[k], 0.5);
                rnn_trainer_adamw(both[k], 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, step);
            }
        }
        assert_true(fabs(loss[0] - loss[1]) <= 1e-6 * loss[0]);
        size_t P = rnn_trainer_num_params(a);
        const float *pa = rnn_trainer_params(a), *pb = rnn_trainer_params(b);
        for (size_t i = 0; i < P; i++)
            assert_true(fabsf(pa[i] - pb[i]) <= 1e-5f);
        rnn_trainer_free(a);
        rnn_trainer_free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_rnn),       cmocka_unit_test(test_grad_lstm),
        cmocka_unit_test(test_grad_gru),       cmocka_unit_test(test_grad_dropout),
        cmocka_unit_test(test_threads_agree),  cmocka_unit_test(test_grad_lookback),
        cmocka_unit_test(test_grad_conditions),
        cmocka_unit_test(test_grad_attention), cmocka_unit_test(test_grad_encoder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
