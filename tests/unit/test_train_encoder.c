/* SPDX-License-Identifier: MIT */
/* Tests of training/train_encoder, the bidirectional encoder's batched
 * forward and backward, for every cell type with 1 and 2 layers:
 * - against PyTorch autograd (tests/golden/enc_*.bin, nn.RNN / nn.LSTM /
 *   nn.GRU with bidirectional=True, float64): the outputs within 1e-5, the
 *   loss sum(out * R), and the gradients of every tensor and of the inputs
 *   for dout = R, each within 1e-4 relative to the reference's magnitude
 *   (|got - want| <= 1e-4 (|want| + 1e-2 max |want|): a pure relative bound
 *   means nothing for entries that are cancellations near 0);
 * - against central finite differences of its own forward (float, step
 *   1e-2, the loss summed in double): every entry of every tensor and of the
 *   inputs, as test_train_grad holds the trainer;
 * - against core/encoder run lane by lane: outputs within 1e-5 (the parity
 *   the trainer-vs-core test holds a whole net to);
 * - gradients are added to what is there (a second backward doubles them). */
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
#include "../../training/train_encoder.h"

static const char *const cells[] = {"rnn", "lstm", "gru"};

/* The trainer's encoder on a golden file's shapes: its buffers, and the
 * gradients in the golden tensors' shapes. */
typedef struct {
    enc_golden g;
    rnn_tensor_spec specs[RNN_ENC_MAX_TENSORS];
    float *acts, *scratch, *out, *dx;
    float *dw[RNN_ENC_MAX_TENSORS];
} fixture;

static void fixture_open(fixture *f, const char *cell, int layers)
{
    memset(f, 0, sizeof *f);
    enc_golden_load(&f->g, cell, layers);
    const enc_golden *g = &f->g;
    assert_int_equal(rnn_enc_tensor_specs(&g->cfg, f->specs), g->n_tensors);
    const size_t TB = (size_t)g->T * g->B;
    f->acts = calloc(rnn_enc_train_acts_size(&g->cfg, g->B, g->T), sizeof(float));
    f->scratch = calloc(rnn_enc_train_scratch_size(&g->cfg, g->B, g->T), sizeof(float));
    f->out = calloc(TB * 2 * g->cfg.hidden, sizeof(float));
    f->dx = calloc(TB * g->cfg.inputs, sizeof(float));
    assert_true(f->acts && f->scratch && f->out && f->dx);
    for (int i = 0; i < g->n_tensors; i++) {
        f->dw[i] = calloc(f->specs[i].count, sizeof(float));
        assert_non_null(f->dw[i]);
    }
}

static void fixture_close(fixture *f)
{
    for (int i = 0; i < f->g.n_tensors; i++)
        free(f->dw[i]);
    free(f->acts), free(f->scratch), free(f->out), free(f->dx);
    enc_golden_free(&f->g);
}

/* sum(out * R) of a forward, in double */
static double loss_of(fixture *f)
{
    const enc_golden *g = &f->g;
    rnn_enc_train_forward(f->out, f->acts, g->x, (const float *const *)g->tensors, &g->cfg, g->B,
                          g->T);
    double loss = 0;
    for (size_t i = 0; i < (size_t)g->T * g->B * 2 * g->cfg.hidden; i++)
        loss += (double)f->out[i] * g->R[i];
    return loss;
}

static void backward(fixture *f)
{
    const enc_golden *g = &f->g;
    rnn_enc_train_backward(f->dx, f->dw, f->scratch, g->R, f->acts, g->x,
                           (const float *const *)g->tensors, &g->cfg, g->B, g->T);
}

/* got against want within 1e-4 of want's magnitude; returns the worst
 * error over that bound's scale */
static double check_close(const float *got, const float *want, size_t n, const char *what)
{
    double big = 0, worst = 0;
    for (size_t i = 0; i < n; i++)
        big = fmax(big, fabs((double)want[i]));
    assert_true(big > 0); /* an all-zero reference would pass trivially */
    for (size_t i = 0; i < n; i++) {
        const double e = fabs((double)got[i] - want[i]) / (fabs((double)want[i]) + 1e-2 * big);
        if (e > worst) worst = e;
        if (!(e <= 1e-4)) fail_msg("%s[%zu]: %.8g, want %.8g", what, i, got[i], want[i]);
    }
    return worst;
}

static void test_golden(void **state)
{
    (void)state;
    for (int c = 0; c < 3; c++)
        for (int layers = 1; layers <= 2; layers++) {
            fixture f;
            fixture_open(&f, cells[c], layers);
            const enc_golden *g = &f.g;
            const size_t TB = (size_t)g->T * g->B, n_out = TB * 2 * g->cfg.hidden;
            const double loss = loss_of(&f);
            double werr = 0;
            for (size_t i = 0; i < n_out; i++)
                werr = fmax(werr, fabs((double)f.out[i] - g->out[i]));
            assert_true(werr <= 1e-5);
            assert_true(fabs(loss - g->loss) <= 1e-5 * (1 + fabs(g->loss)));
            backward(&f);
            double gerr = 0;
            for (int i = 0; i < g->n_tensors; i++)
                gerr = fmax(gerr,
                            check_close(f.dw[i], g->grads[i], f.specs[i].count, f.specs[i].name));
            gerr = fmax(gerr, check_close(f.dx, g->dx, TB * g->cfg.inputs, "dx"));
            printf("enc_%s_l%d: outputs within %.1e, gradients within %.1e relative (bound 1e-4)\n",
                   cells[c], layers, werr, gerr);
            /* gradients add up: a second backward doubles them */
            for (int i = 0; i < g->n_tensors; i++)
                memcpy(g->grads[i], f.dw[i], f.specs[i].count * sizeof(float));
            backward(&f);
            for (int i = 0; i < g->n_tensors; i++) {
                double big = 0;
                for (size_t j = 0; j < f.specs[i].count; j++)
                    big = fmax(big, fabs((double)g->grads[i][j]));
                for (size_t j = 0; j < f.specs[i].count; j++)
                    assert_true(fabs(f.dw[i][j] - 2.0 * g->grads[i][j]) <= 1e-5 * big);
            }
            fixture_close(&f);
        }
}

/* central differences of a float forward: noise of about ulp(loss) / (2 eps)
 * per entry, allowed on top of a relative error, as in test_train_grad */
static void fd_check(fixture *f, float *w, const float *grad, size_t n, const char *what)
{
    const float eps = 1e-2f;
    double num = 0, den_a = 0;
    for (size_t j = 0; j < n; j++) {
        const float keep = w[j];
        w[j] = keep + eps;
        const double lp = loss_of(f);
        w[j] = keep - eps;
        const double lm = loss_of(f);
        w[j] = keep;
        const double d = (lp - lm) / (2.0 * eps) - grad[j];
        num += d * d;
        den_a += (double)grad[j] * grad[j];
    }
    const double noise = 2e-5 * sqrt((double)n);
    if (!(sqrt(num) <= 2e-3 * sqrt(den_a) + noise))
        fail_msg("%s: error %.3e against |g| %.3e", what, sqrt(num), sqrt(den_a));
    assert_true(den_a > 0);
}

static void test_finite_differences(void **state)
{
    (void)state;
    for (int c = 0; c < 3; c++)
        for (int layers = 1; layers <= 2; layers++) {
            fixture f;
            fixture_open(&f, cells[c], layers);
            enc_golden *g = &f.g;
            loss_of(&f);
            backward(&f);
            for (int i = 0; i < g->n_tensors; i++)
                fd_check(&f, g->tensors[i], f.dw[i], f.specs[i].count, f.specs[i].name);
            fd_check(&f, g->x, f.dx, (size_t)g->T * g->B * g->cfg.inputs, "x");
            fixture_close(&f);
        }
}

static void test_core_parity(void **state)
{
    (void)state;
    for (int c = 0; c < 3; c++)
        for (int layers = 1; layers <= 2; layers++) {
            fixture f;
            fixture_open(&f, cells[c], layers);
            const enc_golden *g = &f.g;
            const int In = g->cfg.inputs, He2 = 2 * g->cfg.hidden;
            loss_of(&f);
            char err[256];
            rnn_enc *enc =
                rnn_enc_create(&g->cfg, (const float *const *)g->tensors, err, sizeof err);
            if (!enc) fail_msg("%s", err);
            float *x = malloc((size_t)g->T * In * sizeof(float));
            assert_non_null(x);
            double worst = 0;
            for (int b = 0; b < g->B; b++) {
                for (int t = 0; t < g->T; t++)
                    memcpy(x + (size_t)t * In, g->x + ((size_t)t * g->B + b) * In,
                           (size_t)In * sizeof(float));
                assert_int_equal(rnn_enc_run(enc, x, g->T), 0);
                const float *o = rnn_enc_output(enc, NULL);
                for (int t = 0; t < g->T; t++)
                    for (int j = 0; j < He2; j++)
                        worst = fmax(worst, fabs((double)o[(size_t)t * He2 + j] -
                                                 f.out[((size_t)t * g->B + b) * He2 + j]));
            }
            assert_true(worst <= 1e-5);
            free(x);
            rnn_enc_free(enc);
            fixture_close(&f);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_core_parity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
