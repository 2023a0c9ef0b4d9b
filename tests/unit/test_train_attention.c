/* SPDX-License-Identifier: MIT */
/* Tests of training/train_attention, the attention layer's batched forward
 * and backward over a window:
 * - against PyTorch autograd (tests/golden/attention_*.bin, recorded by
 *   tests/golden/make_attention_golden.py in float64): the contexts and
 *   weights within 1e-5, the loss sum(ctx * G), and the gradients of W1, W2,
 *   v and h for dctx = G, each within 1e-4 of the reference's magnitude
 *   (|got - want| <= 1e-4 (|want| + 1e-2 max |want|): a pure relative
 *   bound means nothing for entries that are cancellations near 0);
 * - against central finite differences of the equations evaluated here in
 *   double (step 1e-4, so truncation and rounding errors are below 1e-8):
 *   every entry of W1, W2, v and h, same bound; the forward against that
 *   double version within 1e-5;
 * - against core/attention stepped one step at a time per lane (its carried
 *   outputs fed in first): contexts and weights within 1e-5, the parity the
 *   trainer-vs-core test holds a whole net to;
 * - carried state: windows shorter than, as long as and longer than N, each
 *   starting with what rnn_attn_carry kept of the ones before, give the
 *   contexts and weights of one long window. */
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
#include "../support/random.h"

#include "../../core/attention.h"
#include "../../training/train_attention.h"

static uint64_t rng = 0x2545f4914f6cdd1du;

static float *rand_floats(size_t n, float scale)
{
    float *p = xorshift_floats(&rng, n, scale);
    assert_non_null(p);
    return p;
}

static float *zeros(size_t n)
{
    float *p = calloc(n + 1, sizeof(float));
    assert_non_null(p);
    return p;
}

/* One problem: sizes, weights, inputs; and what the layer gave. */
typedef struct {
    int H, A, N, B, T;
    int npast[16];
    float *W1, *W2, *v, *past, *h, *G;
} problem;

static void problem_free(problem *p)
{
    free(p->W1), free(p->W2), free(p->v), free(p->past), free(p->h), free(p->G);
}

static problem random_problem(int H, int A, int N, int B, int T, const int *npast)
{
    problem p = {H, A, N, B, T, {0}, NULL, NULL, NULL, NULL, NULL, NULL};
    memcpy(p.npast, npast, (size_t)B * sizeof(int));
    p.W1 = rand_floats((size_t)A * H, 1.2f / sqrtf((float)H));
    p.W2 = rand_floats((size_t)A * H, 1.2f / sqrtf((float)H));
    p.v = rand_floats((size_t)A, 1.5f);
    p.past = rand_floats((size_t)N * B * H, 0.9f);
    p.h = rand_floats((size_t)T * B * H, 0.9f);
    p.G = rand_floats((size_t)T * B * H, 1.0f);
    return p;
}

/* The layer's forward and backward (dctx = G) on p. */
typedef struct {
    float *ctx, *att, *dW1, *dW2, *dv, *dh;
} result;

static result run(const problem *p)
{
    const int H = p->H, A = p->A, N = p->N, B = p->B, T = p->T;
    result r;
    r.ctx = zeros((size_t)T * B * H);
    r.att = zeros((size_t)T * B * N);
    r.dW1 = zeros((size_t)A * H);
    r.dW2 = zeros((size_t)A * H);
    r.dv = zeros((size_t)A);
    r.dh = zeros((size_t)T * B * H);
    float *cache = zeros(rnn_attn_cache_size(B, T, N, A)),
          *scratch = zeros(rnn_attn_scratch_size(B, T, N, A));
    rnn_attn_forward(r.ctx, r.att, cache, p->h, p->past, p->npast, p->W1, p->W2, p->v, B, T, N, H,
                     A);
    rnn_attn_backward(r.dh, r.dW1, r.dW2, r.dv, scratch, p->G, r.att, cache, p->h, p->past,
                      p->npast, p->W1, p->W2, p->v, B, T, N, H, A);
    free(cache);
    free(scratch);
    return r;
}

static void result_free(result *r)
{
    free(r->ctx), free(r->att), free(r->dW1), free(r->dW2), free(r->dv), free(r->dh);
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)a[i] - b[i]));
    return worst;
}

/* The worst of |got - want| / (1e-4 (|want| + 1e-2 max |want|)); <= 1 passes.
 * Also the largest relative error over entries with |want| >= 1e-2 max. */
static double grad_mismatch(const float *got, const double *want, size_t n, double *rel)
{
    double top = 0, worst = 0;
    for (size_t i = 0; i < n; i++)
        top = fmax(top, fabs(want[i]));
    *rel = 0;
    for (size_t i = 0; i < n; i++) {
        const double e = fabs(got[i] - want[i]);
        worst = fmax(worst, e / (1e-4 * (fabs(want[i]) + 1e-2 * top)));
        if (fabs(want[i]) >= 1e-2 * top) *rel = fmax(*rel, e / fabs(want[i]));
    }
    return worst;
}

static double grad_mismatch_f(const float *got, const float *want, size_t n, double *rel)
{
    double *w = malloc(n * sizeof(double) + 1);
    assert_non_null(w);
    for (size_t i = 0; i < n; i++)
        w[i] = want[i];
    double m = grad_mismatch(got, w, n, rel);
    free(w);
    return m;
}

/* ------------------------------------------------------------------------ */
/* PyTorch golden files (layout in tests/golden/make_attention_golden.py). */

static void check_golden(const char *path)
{
    golden_reader rd;
    golden_open(&rd, path);
    char magic[8];
    golden_take(&rd, magic, 8);
    assert_memory_equal(magic, "RNNATTN1", 8);
    int32_t d[5];
    golden_take(&rd, d, sizeof d);
    problem p = {d[0], d[1], d[2], d[3], d[4], {0}, NULL, NULL, NULL, NULL, NULL, NULL};
    const int H = p.H, A = p.A, N = p.N, B = p.B, T = p.T;
    assert_true(B <= 16);
    p.W1 = golden_take_floats(&rd, (size_t)A * H);
    p.W2 = golden_take_floats(&rd, (size_t)A * H);
    p.v = golden_take_floats(&rd, (size_t)A);
    int32_t np[16];
    golden_take(&rd, np, (size_t)B * sizeof(int32_t));
    for (int b = 0; b < B; b++)
        p.npast[b] = np[b];
    p.past = golden_take_floats(&rd, (size_t)N * B * H);
    p.h = golden_take_floats(&rd, (size_t)T * B * H);
    p.G = golden_take_floats(&rd, (size_t)T * B * H);
    float *ctx = golden_take_floats(&rd, (size_t)T * B * H),
          *att = golden_take_floats(&rd, (size_t)T * B * N);
    double loss;
    golden_take(&rd, &loss, 8);
    float *dW1 = golden_take_floats(&rd, (size_t)A * H),
          *dW2 = golden_take_floats(&rd, (size_t)A * H), *dv = golden_take_floats(&rd, (size_t)A),
          *dh = golden_take_floats(&rd, (size_t)T * B * H);
    assert_int_equal(rd.pos, rd.size);

    result r = run(&p);
    const size_t TBH = (size_t)T * B * H;
    double got_loss = 0;
    for (size_t i = 0; i < TBH; i++)
        got_loss += (double)r.ctx[i] * p.G[i];
    const double ec = max_abs_diff(r.ctx, ctx, TBH), ea = max_abs_diff(r.att, att, TBH / H * N);
    double rel[4], m[4];
    m[0] = grad_mismatch_f(r.dW1, dW1, (size_t)A * H, &rel[0]);
    m[1] = grad_mismatch_f(r.dW2, dW2, (size_t)A * H, &rel[1]);
    m[2] = grad_mismatch_f(r.dv, dv, (size_t)A, &rel[2]);
    m[3] = grad_mismatch_f(r.dh, dh, TBH, &rel[3]);
    printf("%s: ctx %.3g, att %.3g, loss %.3g (of %.4f); gradients rel. W1 %.3g W2 %.3g v %.3g "
           "h %.3g (bound used: %.3g %.3g %.3g %.3g of 1)\n",
           path, ec, ea, fabs(got_loss - loss), loss, rel[0], rel[1], rel[2], rel[3], m[0], m[1],
           m[2], m[3]);
    assert_true(ec <= 1e-5);
    assert_true(ea <= 1e-5);
    assert_true(fabs(got_loss - loss) <= 1e-5 * (1 + fabs(loss)));
    for (int i = 0; i < 4; i++)
        assert_true(m[i] <= 1.0);
    result_free(&r);
    problem_free(&p);
    free(ctx), free(att), free(dW1), free(dW2), free(dv), free(dh), golden_close(&rd);
}

static void test_golden(void **state)
{
    (void)state;
    check_golden("tests/golden/attention_h6_a5_n4.bin");
    check_golden("tests/golden/attention_h32_a16_n8.bin");
}

/* ------------------------------------------------------------------------ */
/* The equations in double: loss = sum(ctx * G), contexts into ctx (may be
 * NULL). W1, W2, v, h in double so single entries can be moved. */

typedef struct {
    int H, A, N, B, T;
    const int *npast;
    double *W1, *W2, *v, *h;
    const float *past, *G;
} dproblem;

static const double *dkey(const dproblem *q, double *buf, int e, int b)
{
    const int H = q->H;
    if (e >= q->N) return q->h + ((size_t)(e - q->N) * q->B + b) * H;
    for (int k = 0; k < H; k++)
        buf[k] = q->past[((size_t)e * q->B + b) * H + k];
    return buf;
}

static double dloss(const dproblem *q, double *ctx)
{
    const int H = q->H, A = q->A, N = q->N, B = q->B, T = q->T;
    double loss = 0, u[64], qv[64], buf[64], c[64];
    assert_true(N <= 64 && A <= 64 && H <= 64);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            const double *ht = q->h + ((size_t)t * B + b) * H;
            for (int j = 0; j < A; j++) {
                qv[j] = 0;
                for (int k = 0; k < H; k++)
                    qv[j] += q->W2[j * H + k] * ht[k];
            }
            const int lo = N - q->npast[b], e0 = t > lo ? t : lo, e1 = t + N;
            double umax = -INFINITY, sum = 0;
            for (int e = e0; e < e1; e++) {
                const double *x = dkey(q, buf, e, b);
                u[e - t] = 0;
                for (int j = 0; j < A; j++) {
                    double p = qv[j];
                    for (int k = 0; k < H; k++)
                        p += q->W1[j * H + k] * x[k];
                    u[e - t] += q->v[j] * tanh(p);
                }
                umax = fmax(umax, u[e - t]);
            }
            for (int e = e0; e < e1; e++)
                sum += exp(u[e - t] - umax);
            for (int k = 0; k < H; k++)
                c[k] = 0;
            for (int e = e0; e < e1; e++) {
                const double *x = dkey(q, buf, e, b);
                const double a = exp(u[e - t] - umax) / sum;
                for (int k = 0; k < H; k++)
                    c[k] += a * x[k];
            }
            for (int k = 0; k < H; k++) {
                const size_t i = ((size_t)t * B + b) * H + k;
                loss += c[k] * q->G[i];
                if (ctx) ctx[i] = c[k];
            }
        }
    return loss;
}

static double *to_double(const float *x, size_t n)
{
    double *d = malloc(n * sizeof(double) + 1);
    assert_non_null(d);
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

/* Central differences of the double loss in every entry of x (n values). */
static double *finite_diff(dproblem *q, double *x, size_t n)
{
    const double eps = 1e-4;
    double *g = malloc(n * sizeof(double) + 1);
    assert_non_null(g);
    for (size_t i = 0; i < n; i++) {
        const double x0 = x[i];
        x[i] = x0 + eps;
        const double lp = dloss(q, NULL);
        x[i] = x0 - eps;
        const double lm = dloss(q, NULL);
        x[i] = x0;
        g[i] = (lp - lm) / (2 * eps);
    }
    return g;
}

static void check_finite_diff(int H, int A, int N, int B, int T, const int *npast)
{
    problem p = random_problem(H, A, N, B, T, npast);
    result r = run(&p);
    dproblem q = {H,
                  A,
                  N,
                  B,
                  T,
                  p.npast,
                  to_double(p.W1, (size_t)A * H),
                  to_double(p.W2, (size_t)A * H),
                  to_double(p.v, (size_t)A),
                  to_double(p.h, (size_t)T * B * H),
                  p.past,
                  p.G};
    const size_t TBH = (size_t)T * B * H;
    double *ctx = malloc(TBH * sizeof(double));
    assert_non_null(ctx);
    dloss(&q, ctx);
    double ec = 0;
    for (size_t i = 0; i < TBH; i++)
        ec = fmax(ec, fabs(r.ctx[i] - ctx[i]));
    double *g[4] = {finite_diff(&q, q.W1, (size_t)A * H), finite_diff(&q, q.W2, (size_t)A * H),
                    finite_diff(&q, q.v, (size_t)A), finite_diff(&q, q.h, TBH)};
    const float *got[4] = {r.dW1, r.dW2, r.dv, r.dh};
    const size_t n[4] = {(size_t)A * H, (size_t)A * H, (size_t)A, TBH};
    double rel[4], m[4];
    for (int i = 0; i < 4; i++)
        m[i] = grad_mismatch(got[i], g[i], n[i], &rel[i]);
    printf("H %d A %d N %d B %d T %d: ctx vs double %.3g; gradients vs finite differences, rel. "
           "W1 %.3g W2 %.3g v %.3g h %.3g (bound used: %.3g %.3g %.3g %.3g of 1)\n",
           H, A, N, B, T, ec, rel[0], rel[1], rel[2], rel[3], m[0], m[1], m[2], m[3]);
    assert_true(ec <= 1e-5);
    for (int i = 0; i < 4; i++) {
        assert_true(m[i] <= 1.0);
        free(g[i]);
    }
    free(ctx), free(q.W1), free(q.W2), free(q.v), free(q.h);
    result_free(&r);
    problem_free(&p);
}

static void test_finite_diff(void **state)
{
    (void)state;
    check_finite_diff(5, 4, 3, 3, 7, (const int[]){0, 1, 3});
    check_finite_diff(9, 6, 5, 2, 12, (const int[]){5, 2});
    check_finite_diff(4, 3, 1, 1, 4, (const int[]){1});
}

/* ------------------------------------------------------------------------ */

static void check_parity(int H, int A, int N, int B, int T, const int *npast)
{
    problem p = random_problem(H, A, N, B, T, npast);
    result r = run(&p);
    double ec = 0, ea = 0;
    for (int b = 0; b < B; b++) {
        rnn_attn *at = rnn_attn_create(H, A, N, p.W1, p.W2, p.v, NULL, 0);
        assert_non_null(at);
        for (int j = N - npast[b]; j < N; j++)
            rnn_attn_step(at, p.past + ((size_t)j * B + b) * H);
        for (int t = 0; t < T; t++) {
            const size_t row = (size_t)t * B + b;
            const float *c = rnn_attn_step(at, p.h + row * H);
            ec = fmax(ec, max_abs_diff(c, r.ctx + row * H, (size_t)H));
            ea = fmax(ea, max_abs_diff(rnn_attn_weights(at), r.att + row * N, (size_t)N));
        }
        rnn_attn_free(at);
    }
    printf("H %d A %d N %d: batched vs core step by step: ctx %.3g, att %.3g\n", H, A, N, ec, ea);
    assert_true(ec <= 1e-5);
    assert_true(ea <= 1e-5);
    result_free(&r);
    problem_free(&p);
}

static void test_core_parity(void **state)
{
    (void)state;
    check_parity(32, 16, 8, 3, 20, (const int[]){0, 5, 8});
    check_parity(256, 64, 32, 2, 48, (const int[]){32, 0});
    check_parity(13, 7, 5, 4, 9, (const int[]){1, 2, 3, 4});
}

/* One long window against the same steps cut into windows of W, each
 * starting with what rnn_attn_carry kept of the ones before (W shorter and
 * longer than N): the same contexts and weights. */
static void check_carried(int W, int windows)
{
    const int H = 12, A = 8, N = 6, B = 3, T = W * windows;
    const int fresh[3] = {0, 0, 0};
    problem whole = random_problem(H, A, N, B, T, fresh);
    result rw = run(&whole);
    float *past = zeros((size_t)N * B * H);
    int npast[3] = {0, 0, 0};
    const size_t WBH = (size_t)W * B * H, WBN = (size_t)W * B * N;
    for (int w = 0; w < windows; w++) {
        problem part = whole;
        part.T = W;
        part.h = whole.h + (size_t)w * WBH;
        part.G = whole.G + (size_t)w * WBH;
        part.past = past;
        memcpy(part.npast, npast, sizeof npast);
        result r = run(&part);
        assert_true(max_abs_diff(r.ctx, rw.ctx + (size_t)w * WBH, WBH) <= 1e-6);
        assert_true(max_abs_diff(r.att, rw.att + (size_t)w * WBN, WBN) <= 1e-6);
        for (int b = 0; b < B; b++)
            assert_int_equal(npast[b], w * W < N ? w * W : N);
        rnn_attn_carry(past, npast, part.h, B, W, N, H);
        result_free(&r);
    }
    free(past);
    result_free(&rw);
    problem_free(&whole);
}

static void test_carried_windows(void **state)
{
    (void)state;
    check_carried(10, 3); /* windows longer than N */
    check_carried(4, 5);  /* shorter: the carried outputs span windows */
    check_carried(6, 2);  /* exactly N */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_finite_diff),
        cmocka_unit_test(test_core_parity),
        cmocka_unit_test(test_carried_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
