/* SPDX-License-Identifier: MIT */
/* Tests of core/attention, the attention layer's inference step:
 * - against the equations of core/FORMAT.md ("Attention (format v2)")
 *   computed here in double precision, step by step over sequences longer
 *   than the window, for sizes that are and are not multiples of the
 *   layer's vector width (contexts and weights within 2e-6);
 * - against PyTorch (tests/golden/attention_*.bin, recorded by
 *   tests/golden/make_attention_golden.py): each lane's contexts and
 *   attention weights, its carried outputs fed in first, within 1e-5;
 * - the first steps: a zero context with an empty ring, then softmax over
 *   the outputs present;
 * - state get/set: saved mid-sequence and restored into a fresh layer, the
 *   continuation is bit-identical, also after the ring has wrapped; a bad
 *   count restores an empty ring;
 * - attend + commit give the step bit for bit, and an attend that is not
 *   committed (abandoned, reset, state set over it) leaves no trace;
 * - an attend cut into pieces of any budget gives the whole one bit for
 *   bit, in about total / budget pieces, also after an abandoned one;
 * - create refuses sizes out of range and missing weights. */
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

static uint64_t rng = 0x9e3779b97f4a7c15u;

static float *rand_floats(size_t n, float scale)
{
    float *p = xorshift_floats(&rng, n, scale);
    assert_non_null(p);
    return p;
}

/* The equations in double: c and a (n entries, right-aligned) of step t of
 * the sequence hs (rows of H), with the window n. */
static void reference(double *c, double *a, const float *hs, int t, const float *W1,
                      const float *W2, const float *v, int H, int A, int n)
{
    const int lo = t - n < 0 ? 0 : t - n, cnt = t - lo;
    double u[1024], q[1024];
    for (int j = 0; j < A; j++) {
        q[j] = 0;
        for (int k = 0; k < H; k++)
            q[j] += (double)W2[j * H + k] * hs[(size_t)t * H + k];
    }
    double umax = -INFINITY;
    for (int i = 0; i < cnt; i++) {
        const float *hi = hs + (size_t)(lo + i) * H;
        u[i] = 0;
        for (int j = 0; j < A; j++) {
            double p = 0;
            for (int k = 0; k < H; k++)
                p += (double)W1[j * H + k] * hi[k];
            u[i] += v[j] * tanh(p + q[j]);
        }
        if (u[i] > umax) umax = u[i];
    }
    double sum = 0;
    for (int i = 0; i < cnt; i++)
        sum += exp(u[i] - umax);
    for (int i = 0; i < n; i++)
        a[i] = 0;
    for (int k = 0; k < H; k++)
        c[k] = 0;
    for (int i = 0; i < cnt; i++) {
        a[n - cnt + i] = exp(u[i] - umax) / sum;
        for (int k = 0; k < H; k++)
            c[k] += a[n - cnt + i] * hs[(size_t)(lo + i) * H + k];
    }
}

static void check_reference(int H, int A, int n, int steps, float wscale)
{
    float *W1 = rand_floats((size_t)A * H, wscale), *W2 = rand_floats((size_t)A * H, wscale),
          *v = rand_floats((size_t)A, 2.0f), *hs = rand_floats((size_t)steps * H, 1.0f);
    char err[128];
    rnn_attn *at = rnn_attn_create(H, A, n, W1, W2, v, err, sizeof err);
    assert_non_null(at);
    double *c = malloc((size_t)H * sizeof(double)), *a = malloc((size_t)n * sizeof(double));
    assert_true(c && a);
    double worst_c = 0, worst_a = 0;
    for (int t = 0; t < steps; t++) {
        const float *ctx = rnn_attn_step(at, hs + (size_t)t * H);
        assert_ptr_equal(ctx, rnn_attn_context(at));
        assert_int_equal(rnn_attn_count(at), t + 1 < n ? t + 1 : n);
        reference(c, a, hs, t, W1, W2, v, H, A, n);
        const float *w = rnn_attn_weights(at);
        for (int k = 0; k < H; k++)
            worst_c = fmax(worst_c, fabs(ctx[k] - c[k]));
        for (int i = 0; i < n; i++)
            worst_a = fmax(worst_a, fabs(w[i] - a[i]));
    }
    printf("%s, H %d A %d n %d: max |context - ref| %.3g, max |weight - ref| %.3g\n",
           rnn_attn_kernel_name(at), H, A, n, worst_c, worst_a);
    assert_true(worst_c <= 2e-6);
    assert_true(worst_a <= 2e-6);
    rnn_attn_free(at);
    free(W1), free(W2), free(v), free(hs), free(c), free(a);
}

static void test_reference(void **state)
{
    (void)state;
    check_reference(13, 7, 5, 40, 0.3f);
    check_reference(64, 32, 16, 70, 0.15f);
    check_reference(256, 64, 32, 80, 0.08f);
    check_reference(5, 3, 1, 9, 1.0f);
    /* large pre-activations: tanh saturates, the softmax is nearly one-hot */
    check_reference(16, 8, 8, 30, 3.0f);
}

static void test_first_steps(void **state)
{
    (void)state;
    const int H = 6, A = 4, n = 3;
    float *W1 = rand_floats(A * H, 0.5f), *W2 = rand_floats(A * H, 0.5f), *v = rand_floats(A, 1),
          *hs = rand_floats(5 * H, 1);
    rnn_attn *at = rnn_attn_create(H, A, n, W1, W2, v, NULL, 0);
    assert_non_null(at);
    for (int k = 0; k < H; k++)
        assert_true(rnn_attn_context(at)[k] == 0.0f);
    const float *c = rnn_attn_step(at, hs);
    for (int k = 0; k < H; k++)
        assert_true(c[k] == 0.0f);
    for (int i = 0; i < n; i++)
        assert_true(rnn_attn_weights(at)[i] == 0.0f);
    /* one stored output: weight 1 on it, the context is that output */
    c = rnn_attn_step(at, hs + H);
    assert_true(rnn_attn_weights(at)[n - 1] == 1.0f);
    assert_true(rnn_attn_weights(at)[0] == 0.0f && rnn_attn_weights(at)[1] == 0.0f);
    for (int k = 0; k < H; k++)
        assert_true(c[k] == hs[k]);
    /* two stored: the weights of the two newest entries sum to 1 */
    rnn_attn_step(at, hs + 2 * H);
    const float *w = rnn_attn_weights(at);
    assert_true(w[0] == 0.0f && w[1] > 0.0f && w[2] > 0.0f);
    assert_true(fabsf(w[1] + w[2] - 1.0f) < 1e-6f);
    rnn_attn_reset(at);
    assert_int_equal(rnn_attn_count(at), 0);
    c = rnn_attn_step(at, hs);
    for (int k = 0; k < H; k++)
        assert_true(c[k] == 0.0f);
    rnn_attn_free(at);
    free(W1), free(W2), free(v), free(hs);
}

static void check_roundtrip(int H, int A, int n, int before, int after)
{
    float *W1 = rand_floats((size_t)A * H, 0.3f), *W2 = rand_floats((size_t)A * H, 0.3f),
          *v = rand_floats((size_t)A, 1), *hs = rand_floats((size_t)(before + after) * H, 1);
    rnn_attn *x = rnn_attn_create(H, A, n, W1, W2, v, NULL, 0),
             *y = rnn_attn_create(H, A, n, W1, W2, v, NULL, 0);
    assert_true(x && y);
    for (int t = 0; t < before; t++)
        rnn_attn_step(x, hs + (size_t)t * H);
    /* y has a different ring position before it is set */
    for (int t = 0; t < 3; t++)
        rnn_attn_step(y, hs + (size_t)(before + after - 1 - t) * H);
    const size_t S = rnn_attn_state_size(x);
    assert_int_equal(S, 1 + (size_t)n * (H + A));
    float *s = malloc(S * sizeof(float)), *s2 = malloc(S * sizeof(float));
    assert_true(s && s2);
    rnn_attn_state_get(x, s);
    rnn_attn_state_set(y, s);
    rnn_attn_state_get(y, s2);
    assert_memory_equal(s, s2, S * sizeof(float));
    assert_int_equal(rnn_attn_count(y), rnn_attn_count(x));
    for (int t = before; t < before + after; t++) {
        const float *cx = rnn_attn_step(x, hs + (size_t)t * H);
        const float *cy = rnn_attn_step(y, hs + (size_t)t * H);
        assert_memory_equal(cx, cy, (size_t)H * sizeof(float));
        assert_memory_equal(rnn_attn_weights(x), rnn_attn_weights(y), (size_t)n * sizeof(float));
    }
    /* a count that is not a whole number in 0..n restores an empty ring */
    const float bad[] = {-1.0f, (float)n + 1, 1.5f, NAN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rnn_attn_state_get(x, s);
        s[0] = bad[i];
        rnn_attn_state_set(y, s);
        assert_int_equal(rnn_attn_count(y), 0);
    }
    rnn_attn_free(x);
    rnn_attn_free(y);
    free(W1), free(W2), free(v), free(hs), free(s), free(s2);
}

static void test_state_roundtrip(void **state)
{
    (void)state;
    check_roundtrip(10, 6, 4, 2, 9);   /* ring partly full */
    check_roundtrip(10, 6, 4, 11, 9);  /* wrapped, position mid-ring */
    check_roundtrip(33, 17, 8, 8, 20); /* exactly full */
    check_roundtrip(8, 4, 5, 0, 7);    /* empty */
}

/* attend + commit is a step; an attend not committed leaves no trace. */
static void test_attend_commit(void **state)
{
    (void)state;
    const int H = 11, A = 6, n = 4, steps = 13;
    float *W1 = rand_floats((size_t)A * H, 0.4f), *W2 = rand_floats((size_t)A * H, 0.4f),
          *v = rand_floats((size_t)A, 1), *hs = rand_floats((size_t)steps * H, 1),
          *other = rand_floats((size_t)H, 1);
    rnn_attn *x = rnn_attn_create(H, A, n, W1, W2, v, NULL, 0),
             *y = rnn_attn_create(H, A, n, W1, W2, v, NULL, 0);
    assert_true(x && y);
    const size_t S = rnn_attn_state_size(x);
    float *sx = malloc(S * sizeof(float)), *sy = malloc(S * sizeof(float));
    assert_true(sx && sy);
    rnn_attn_commit(y); /* nothing pending: nothing happens */
    assert_int_equal(rnn_attn_count(y), 0);
    for (int t = 0; t < steps; t++) {
        const float *h = hs + (size_t)t * H;
        const float *cx = rnn_attn_step(x, h);
        /* an abandoned attend to another output, then the real one */
        rnn_attn_state_get(y, sy);
        rnn_attn_attend(y, other);
        rnn_attn_state_get(y, sx);
        assert_memory_equal(sx, sy, S * sizeof(float));
        const float *cy = rnn_attn_attend(y, h);
        assert_memory_equal(cx, cy, (size_t)H * sizeof(float));
        assert_memory_equal(rnn_attn_weights(x), rnn_attn_weights(y), (size_t)n * sizeof(float));
        rnn_attn_commit(y);
        rnn_attn_commit(y); /* a second commit does nothing */
        rnn_attn_state_get(x, sx);
        rnn_attn_state_get(y, sy);
        assert_memory_equal(sx, sy, S * sizeof(float));
    }
    /* reset and state_set drop a pending attend */
    rnn_attn_attend(y, other);
    rnn_attn_reset(y);
    rnn_attn_commit(y);
    assert_int_equal(rnn_attn_count(y), 0);
    rnn_attn_attend(y, other);
    rnn_attn_state_set(y, sx);
    rnn_attn_commit(y);
    rnn_attn_state_get(y, sy);
    assert_memory_equal(sx, sy, S * sizeof(float));
    rnn_attn_free(x);
    rnn_attn_free(y);
    free(W1), free(W2), free(v), free(hs), free(other), free(sx), free(sy);
}

/* An attend cut into pieces of any budget gives the whole one bit for bit;
 * a begin abandons an unfinished attend; the pieces add up to the total. */
static void check_sliced(int H, int A, int n, int steps)
{
    float *W1 = rand_floats((size_t)A * H, 0.3f), *W2 = rand_floats((size_t)A * H, 0.3f),
          *v = rand_floats((size_t)A, 1), *hs = rand_floats((size_t)steps * H, 1);
    rnn_attn *x = rnn_attn_create(H, A, n, W1, W2, v, NULL, 0),
             *y = rnn_attn_create(H, A, n, W1, W2, v, NULL, 0);
    assert_true(x && y);
    const size_t budgets[] = {0, 1, 7, 2 * (size_t)A + 1, 100, 1000, 5000};
    assert_int_equal(rnn_attn_work(y, 10), 1); /* nothing begun: done */
    for (int t = 0; t < steps; t++) {
        const float *h = hs + (size_t)t * H;
        const size_t total = rnn_attn_work_total(x);
        const float *cx = rnn_attn_step(x, h);
        const size_t budget = budgets[t % (sizeof budgets / sizeof budgets[0])];
        if (t % 3 == 1) { /* a piece of another attend, then abandoned */
            rnn_attn_begin(y, hs + (size_t)(steps - 1 - t) * H);
            rnn_attn_work(y, 3);
        }
        rnn_attn_begin(y, h);
        size_t pieces = 0;
        while (!rnn_attn_work(y, budget))
            pieces++;
        pieces++;
        /* each piece did at least one unit and about `budget` of them */
        const size_t unit = (size_t)(H > (1 + 5) * A ? H : (1 + 5) * A);
        assert_true(pieces <= (size_t)H + 2 * (size_t)n + 1);
        if (budget > 0) assert_true(pieces >= total / (budget + unit));
        assert_memory_equal(cx, rnn_attn_context(y), (size_t)H * sizeof(float));
        assert_memory_equal(rnn_attn_weights(x), rnn_attn_weights(y), (size_t)n * sizeof(float));
        rnn_attn_commit(y);
        assert_int_equal(rnn_attn_count(x), rnn_attn_count(y));
    }
    /* a commit during an unfinished attend does nothing */
    const int before = rnn_attn_count(y);
    float *s0 = malloc(rnn_attn_state_size(y) * sizeof(float)),
          *s1 = malloc(rnn_attn_state_size(y) * sizeof(float));
    assert_true(s0 && s1);
    rnn_attn_state_get(y, s0);
    rnn_attn_begin(y, hs);
    rnn_attn_work(y, 1);
    rnn_attn_commit(y);
    assert_int_equal(rnn_attn_count(y), before);
    rnn_attn_state_get(y, s1);
    assert_memory_equal(s0, s1, rnn_attn_state_size(y) * sizeof(float));
    rnn_attn_free(x);
    rnn_attn_free(y);
    free(W1), free(W2), free(v), free(hs), free(s0), free(s1);
}

static void test_sliced(void **state)
{
    (void)state;
    check_sliced(13, 7, 5, 30);
    check_sliced(64, 32, 16, 50);
    check_sliced(256, 64, 32, 45);
}

/* ------------------------------------------------------------------------ */
/* PyTorch golden files (layout in tests/golden/make_attention_golden.py). */

static void check_golden(const char *path)
{
    golden_reader r;
    golden_open(&r, path);
    char magic[8];
    golden_take(&r, magic, 8);
    assert_memory_equal(magic, "RNNATTN1", 8);
    int32_t d[5];
    golden_take(&r, d, sizeof d);
    const int H = d[0], A = d[1], N = d[2], B = d[3], T = d[4];
    float *W1 = golden_take_floats(&r, (size_t)A * H), *W2 = golden_take_floats(&r, (size_t)A * H),
          *v = golden_take_floats(&r, (size_t)A);
    int32_t npast[16];
    assert_true(B <= 16);
    golden_take(&r, npast, (size_t)B * sizeof(int32_t));
    float *past = golden_take_floats(&r, (size_t)N * B * H),
          *h = golden_take_floats(&r, (size_t)T * B * H);
    free(golden_take_floats(&r, (size_t)T * B * H)); /* G: the trainer's test uses it */
    float *ctx = golden_take_floats(&r, (size_t)T * B * H),
          *att = golden_take_floats(&r, (size_t)T * B * N);

    double worst_c = 0, worst_a = 0;
    for (int b = 0; b < B; b++) {
        rnn_attn *at = rnn_attn_create(H, A, N, W1, W2, v, NULL, 0);
        assert_non_null(at);
        for (int j = N - npast[b]; j < N; j++)
            rnn_attn_step(at, past + ((size_t)j * B + b) * H);
        for (int t = 0; t < T; t++) {
            const size_t row = (size_t)t * B + b;
            const float *c = rnn_attn_step(at, h + row * H);
            for (int k = 0; k < H; k++)
                worst_c = fmax(worst_c, fabs((double)c[k] - ctx[row * H + k]));
            for (int i = 0; i < N; i++)
                worst_a = fmax(worst_a, fabs((double)rnn_attn_weights(at)[i] - att[row * N + i]));
        }
        rnn_attn_free(at);
    }
    printf("%s: max |context - torch| %.3g, max |weight - torch| %.3g\n", path, worst_c, worst_a);
    assert_true(worst_c <= 1e-5);
    assert_true(worst_a <= 1e-5);
    free(W1), free(W2), free(v), free(past), free(h), free(ctx), free(att), golden_close(&r);
}

static void test_golden(void **state)
{
    (void)state;
    check_golden("tests/golden/attention_h6_a5_n4.bin");
    check_golden("tests/golden/attention_h32_a16_n8.bin");
}

static void test_create_errors(void **state)
{
    (void)state;
    float w[16] = {0};
    char err[128] = "";
    assert_null(rnn_attn_create(0, 2, 2, w, w, w, err, sizeof err));
    assert_non_null(strstr(err, "out of range"));
    assert_null(rnn_attn_create(2, 0, 2, w, w, w, err, sizeof err));
    assert_null(rnn_attn_create(2, 2, 0, w, w, w, err, sizeof err));
    assert_null(rnn_attn_create(2, 2, RNN_ATTN_MAX_N + 1, w, w, w, err, sizeof err));
    assert_null(rnn_attn_create(2, 2, 2, w, NULL, w, err, sizeof err));
    assert_non_null(strstr(err, "missing"));
    rnn_attn *at = rnn_attn_create(2, 2, 2, w, w, w, NULL, 0);
    assert_non_null(at);
    assert_true(rnn_attn_bytes(at) > 0);
    assert_int_equal(rnn_attn_step_macs(256, 64, 32), 2 * 64 * 256 + 32 * 64 + 32 * 256);
    rnn_attn_free(at);
    rnn_attn_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference),       cmocka_unit_test(test_first_steps),
        cmocka_unit_test(test_state_roundtrip), cmocka_unit_test(test_attend_commit),
        cmocka_unit_test(test_sliced),          cmocka_unit_test(test_golden),
        cmocka_unit_test(test_create_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
