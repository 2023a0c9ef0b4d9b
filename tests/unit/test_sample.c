/* SPDX-License-Identifier: MIT */
/* Tests of core/sample: the generator against values from an independent
 * Python implementation of splitmix64 + xoroshiro128+, argmax at temperature
 * 0, a saved sequence of draws for a fixed seed, chi-square goodness of fit of
 * 100,000 draws against softmax(logits / T) (and against the renormalised
 * nucleus for top-p), a nucleus computed here by sorting, masks, non-finite
 * logits, and the -1 answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/sample.h"

/* Upper 0.999 quantiles of chi-square (standard tables). */
static double chi2_q999(int df)
{
    switch (df) {
    case 4:
        return 18.467;
    case 9:
        return 27.877;
    case 5:
        return 20.515;
    case 6:
        return 22.458;
    case 11:
        return 31.264;
    default:
        fail_msg("no chi-square quantile for %d degrees of freedom", df);
    }
    return 0;
}

static void test_rng_reference(void **state)
{
    (void)state;
    /* from a separate Python implementation of splitmix64 seeding and
     * xoroshiro128+ (24, 16, 37), high 32 bits of each output */
    static const struct {
        uint64_t seed;
        uint32_t u[6];
    } ref[] = {
        {0, {0x509946a4, 0xd805fcac, 0xdadc02f3, 0x622e4dd9, 0xaacfd52d, 0xa94fc32e}},
        {42, {0xe6c71559, 0x13b69ac9, 0x879006cb, 0x52d5476e, 0x78795b7b, 0xf55dc2d9}},
        {0xdeadbeefcafef00du,
         {0x37eb73c9, 0x2264adb7, 0xd7076da8, 0x73e35aa0, 0xc59053a8, 0x539722af}},
    };
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        rnn_rng r;
        rnn_rng_seed(&r, ref[i].seed);
        for (int k = 0; k < 6; k++)
            assert_int_equal(rnn_rng_u32(&r), ref[i].u[k]);
    }
    /* the top 24 bits of the outputs of seed 7, scaled by 2^-24 */
    static const uint32_t top24[] = {6821918, 47803, 2100808, 16043731};
    rnn_rng r;
    rnn_rng_seed(&r, 7);
    for (int k = 0; k < 4; k++)
        assert_true(rnn_rng_uniform(&r) == (float)top24[k] / 16777216.0f);

    /* a copy of the plain struct continues the same sequence */
    rnn_rng a, b;
    rnn_rng_seed(&a, 99);
    rnn_rng_u32(&a);
    b = a;
    for (int k = 0; k < 10; k++)
        assert_int_equal(rnn_rng_u32(&a), rnn_rng_u32(&b));

    /* uniform: [0, 1), exactly 24 bits, mean near 1/2 */
    double sum = 0;
    float lo = 1, hi = 0;
    for (int k = 0; k < 100000; k++) {
        float u = rnn_rng_uniform(&r);
        assert_true(u >= 0.0f && u < 1.0f);
        float s = u * 16777216.0f;
        assert_true(s == floorf(s));
        sum += u;
        lo = fminf(lo, u);
        hi = fmaxf(hi, u);
    }
    assert_true(fabs(sum / 100000 - 0.5) < 0.005);
    assert_true(lo < 0.001f && hi > 0.999f);
}

static void fill_logits(float *l, int V, uint64_t seed, float scale)
{
    rnn_rng r;
    rnn_rng_seed(&r, seed);
    for (int c = 0; c < V; c++)
        l[c] = scale * (rnn_rng_uniform(&r) * 2.0f - 1.0f);
}

static void test_argmax(void **state)
{
    (void)state;
    rnn_sampler *s = rnn_sampler_create(512);
    assert_non_null(s);
    rnn_rng r;
    rnn_rng_seed(&r, 1);
    float l[512];
    uint8_t mask[512];
    for (int trial = 0; trial < 50; trial++) {
        int V = trial % 2 ? 130 : 512;
        fill_logits(l, V, 100 + trial, 4.0f);
        if (trial % 5 == 0) { /* ties: the lowest index wins */
            l[V / 3] = 10.0f;
            l[V / 2] = 10.0f;
        }
        memset(mask, 0, sizeof mask);
        for (int c = 0; c < V; c += 3 + trial % 4)
            mask[c] = 1;
        l[V - 1] = NAN;
        l[V - 2] = INFINITY;

        int want = -1, want_m = -1;
        for (int c = 0; c < V; c++) {
            if (!isfinite(l[c])) continue;
            if (want < 0 || l[c] > l[want]) want = c;
            if (!mask[c] && (want_m < 0 || l[c] > l[want_m])) want_m = c;
        }
        rnn_rng before = r;
        assert_int_equal(rnn_sample(s, &r, l, V, 0.0f, 1.0f, NULL), want);
        assert_int_equal(rnn_sample(s, &r, l, V, -1.0f, 0.5f, NULL), want);
        assert_int_equal(rnn_sample(s, &r, l, V, NAN, 0.9f, NULL), want);
        assert_int_equal(rnn_sample(s, &r, l, V, 0.0f, 1.0f, mask), want_m);
        assert_memory_equal(&before, &r, sizeof r); /* argmax draws nothing */
    }
    rnn_sampler_free(s);
}

static void test_fixed_sequence(void **state)
{
    (void)state;
    /* draws of this implementation for seed 2024, recorded once; a change
     * here changes every user's seeded session */
    static const int saved[40] = {
        100, 121, 30, 2,  22, 11,  121, 31, 128, 12, 37,  22,  40,  57,  99, 95, 40,  31,  57, 2,
        51,  55,  38, 68, 40, 121, 78,  38, 17,  12, 128, 112, 107, 119, 32, 2,  112, 100, 12, 119,
    };
    rnn_sampler *s = rnn_sampler_create(130);
    assert_non_null(s);
    float l[130];
    fill_logits(l, 130, 5, 3.0f);
    rnn_rng r;
    rnn_rng_seed(&r, 2024);
    int got[40];
    for (int i = 0; i < 40; i++)
        got[i] = rnn_sample(s, &r, l, 130, 1.0f, i % 2 ? 0.9f : 1.0f, NULL);
    for (int i = 0; i < 40; i++)
        assert_int_equal(got[i], saved[i]);

    /* the same seed gives the same draws on a second sampler */
    rnn_sampler *s2 = rnn_sampler_create(4096);
    assert_non_null(s2);
    rnn_rng_seed(&r, 2024);
    for (int i = 0; i < 40; i++)
        assert_int_equal(rnn_sample(s2, &r, l, 130, 1.0f, i % 2 ? 0.9f : 1.0f, NULL), got[i]);
    rnn_sampler_free(s2);
    rnn_sampler_free(s);
}

/* A draw prepared ahead is the draw rnn_sample makes: over the saved
 * sequence above, at other temperatures (0 and below: argmax, no random
 * number), top-p values and masks, with the logits and mask overwritten
 * between prepare and draw, a fully masked vocabulary (-1, no random
 * number) and invalid arguments; the generators stay in step, and a
 * prepared distribution gives the same class again for the same state. */
static void test_prepare_then_draw(void **state)
{
    (void)state;
    rnn_sampler *a = rnn_sampler_create(130), *b = rnn_sampler_create(130);
    assert_non_null(a);
    assert_non_null(b);
    static const float temps[] = {1.0f, 0.0f, -1.0f, 0.5f, 1.7f};
    static const float tops[] = {1.0f, 0.9f, 0.3f, 0.05f, 0.0f};
    float l[130], tmp[130];
    uint8_t mask[130], none[130];
    memset(none, 1, sizeof none);
    rnn_rng ra, rb;
    rnn_rng_seed(&ra, 2024);
    rnn_rng_seed(&rb, 2024);
    int draws = 0;
    for (int i = 0; i < 400; i++) {
        fill_logits(l, 130, (uint64_t)(5 + i / 40), 3.0f);
        for (int c = 0; c < 130; c++)
            mask[c] = (uint8_t)((c * 7 + i) % 5 == 0);
        const float T = temps[i % 5], top = tops[i / 5 % 5];
        const uint8_t *m = i % 3 == 0 ? NULL : i % 50 == 7 ? none : mask;
        const int want = rnn_sample(a, &ra, l, 130, T, top, m);
        memcpy(tmp, l, sizeof l);
        rnn_sample_prepare(b, tmp, 130, T, top, m);
        memset(tmp, 0, sizeof tmp); /* the sampler keeps what it needs */
        if (m == mask) memset(mask, 1, sizeof mask);
        rnn_rng keep = rb;
        const int got = rnn_sample_draw(b, &rb);
        assert_int_equal(got, want);
        assert_memory_equal(&ra, &rb, sizeof ra);
        draws += got >= 0;
        rnn_rng again = keep;
        assert_int_equal(rnn_sample_draw(b, &again), got);
    }
    assert_true(draws > 350);
    /* invalid arguments: -1 and no random number drawn */
    rnn_rng before = rb;
    rnn_sample_prepare(b, l, 131, 1.0f, 1.0f, NULL);
    assert_int_equal(rnn_sample_draw(b, &rb), -1);
    rnn_sample_prepare(b, NULL, 130, 1.0f, 1.0f, NULL);
    assert_int_equal(rnn_sample_draw(b, &rb), -1);
    assert_memory_equal(&before, &rb, sizeof rb);
    assert_int_equal(rnn_sample_draw(NULL, &rb), -1);
    rnn_sample_prepare(NULL, l, 130, 1.0f, 1.0f, NULL);
    rnn_sampler_free(a);
    rnn_sampler_free(b);
}

/* softmax(l / T) over the allowed classes, in double. */
static void softmax_ref(const float *l, int V, double T, const uint8_t *mask, double *p)
{
    double m = -INFINITY, sum = 0;
    for (int c = 0; c < V; c++)
        if (!mask || !mask[c]) m = fmax(m, l[c]);
    for (int c = 0; c < V; c++) {
        p[c] = (mask && mask[c]) ? 0.0 : exp((l[c] - m) / T);
        sum += p[c];
    }
    for (int c = 0; c < V; c++)
        p[c] /= sum;
}

/* Chi-square of n draws against p over the classes with p > 0; also fails
 * on any draw of a class with p = 0. */
static void chi_square(rnn_sampler *s, uint64_t seed, const float *l, int V, float T, float top_p,
                       const uint8_t *mask, const double *p, int n)
{
    int count[64] = {0};
    assert_true(V <= 64);
    rnn_rng r;
    rnn_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int c = rnn_sample(s, &r, l, V, T, top_p, mask);
        assert_true(c >= 0 && c < V);
        assert_true(p[c] > 0);
        count[c]++;
    }
    double x2 = 0;
    int k = 0;
    for (int c = 0; c < V; c++) {
        if (p[c] <= 0) continue;
        double e = n * p[c];
        assert_true(e >= 5); /* the test's own design: every cell large enough */
        x2 += (count[c] - e) * (count[c] - e) / e;
        k++;
    }
    double q = chi2_q999(k - 1);
    printf("# chi-square %.2f, %d degrees of freedom, 0.999 quantile %.3f\n", x2, k - 1, q);
    assert_true(x2 < q);
}

static void test_chi_square(void **state)
{
    (void)state;
    rnn_sampler *s = rnn_sampler_create(64);
    assert_non_null(s);
    const float l[10] = {1.0f, 0.2f, -0.5f, 2.0f, 0.0f, 1.5f, -1.0f, 0.7f, 1.1f, -0.2f};
    double p[10];

    softmax_ref(l, 10, 0.8, NULL, p);
    chi_square(s, 11, l, 10, 0.8f, 1.0f, NULL, p, 100000);

    /* masked: four classes out, five degrees of freedom */
    const uint8_t mask[10] = {0, 1, 0, 0, 1, 0, 1, 0, 0, 1};
    softmax_ref(l, 10, 1.3, mask, p);
    chi_square(s, 12, l, 10, 1.3f, 1.0f, mask, p, 100000);

    /* top-p 0.8 at T = 1: the nucleus by sorting, renormalised */
    softmax_ref(l, 10, 1.0, NULL, p);
    int order[10];
    for (int i = 0; i < 10; i++)
        order[i] = i;
    for (int i = 0; i < 10; i++) /* selection sort: descending p, ties by index */
        for (int j = i + 1; j < 10; j++)
            if (p[order[j]] > p[order[i]] || (p[order[j]] == p[order[i]] && order[j] < order[i])) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    double cum = 0, q[10] = {0};
    for (int i = 0; i < 10 && cum < 0.8; i++) {
        q[order[i]] = p[order[i]];
        cum += p[order[i]];
    }
    for (int c = 0; c < 10; c++)
        q[c] /= cum;
    chi_square(s, 13, l, 10, 1.0f, 0.8f, NULL, q, 100000);
    rnn_sampler_free(s);
}

typedef struct {
    double p;
    int c;
} pc;

static int pc_cmp(const void *a, const void *b)
{
    const pc *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->c - y->c;
}

static void test_top_p_nucleus(void **state)
{
    (void)state;
    enum { V = 130 };
    rnn_sampler *s = rnn_sampler_create(V);
    assert_non_null(s);
    float l[V];
    double p[V];
    pc sorted[V];
    uint8_t in[V];
    rnn_rng r;
    rnn_rng_seed(&r, 77);
    const float tops[] = {0.05f, 0.3f, 0.5f, 0.9f, 0.99f};
    const float temps[] = {0.5f, 1.0f, 2.0f};
    for (int trial = 0; trial < 15; trial++) {
        float top = tops[trial % 5], T = temps[trial % 3];
        fill_logits(l, V, 300 + trial, 5.0f);
        softmax_ref(l, V, T, NULL, p);
        for (int c = 0; c < V; c++)
            sorted[c] = (pc){p[c], c};
        qsort(sorted, V, sizeof sorted[0], pc_cmp);
        memset(in, 0, sizeof in);
        double cum = 0;
        int k = 0;
        while (k < V && (k == 0 || cum < top)) {
            in[sorted[k].c] = 1;
            cum += sorted[k].p;
            k++;
        }
        int hits[V] = {0};
        for (int i = 0; i < 3000; i++) {
            int c = rnn_sample(s, &r, l, V, T, top, NULL);
            assert_true(c >= 0 && c < V);
            if (!in[c])
                fail_msg("top-p %.2f T %.1f: class %d (p %.4g) outside the nucleus of %d", top, T,
                         c, p[c], k);
            hits[c]++;
        }
        /* the most probable class is always drawn, and at small top_p alone */
        assert_true(hits[sorted[0].c] > 0);
        if (k == 1) assert_int_equal(hits[sorted[0].c], 3000);
    }
    rnn_sampler_free(s);
}

static void test_masks_and_nonfinite(void **state)
{
    (void)state;
    enum { V = 512 };
    rnn_sampler *s = rnn_sampler_create(V);
    assert_non_null(s);
    float l[V];
    uint8_t mask[V];
    rnn_rng r;
    rnn_rng_seed(&r, 5);

    fill_logits(l, V, 9, 2.0f);
    for (int c = 0; c < V; c++)
        mask[c] = (c % 7 == 0) || (c > 400);
    l[3] = NAN; /* would win otherwise */
    l[8] = INFINITY;
    l[9] = -INFINITY;
    l[10] = 30.0f;
    mask[10] = 1;
    int hist[V] = {0};
    for (int i = 0; i < 20000; i++) {
        int c = rnn_sample(s, &r, l, V, 1.5f, i % 3 ? 1.0f : 0.7f, mask);
        assert_true(c >= 0 && c < V);
        assert_false(mask[c]);
        assert_true(isfinite(l[c]));
        hist[c]++;
    }
    int distinct = 0;
    for (int c = 0; c < V; c++)
        distinct += hist[c] > 0;
    assert_true(distinct > 100);

    /* NaN logits and no mask */
    for (int c = 0; c < V; c++)
        l[c] = c % 2 ? NAN : l[c];
    for (int i = 0; i < 2000; i++)
        assert_int_equal(rnn_sample(s, &r, l, V, 1.0f, 1.0f, NULL) % 2, 0);

    /* every class forbidden, or every logit non-finite: -1 */
    memset(mask, 1, sizeof mask);
    assert_int_equal(rnn_sample(s, &r, l, V, 1.0f, 0.9f, mask), -1);
    assert_int_equal(rnn_sample(s, &r, l, V, 0.0f, 1.0f, mask), -1);
    for (int c = 0; c < V; c++)
        l[c] = c % 2 ? NAN : INFINITY;
    assert_int_equal(rnn_sample(s, &r, l, V, 1.0f, 1.0f, NULL), -1);
    assert_int_equal(rnn_sample(s, &r, l, V, 0.0f, 1.0f, NULL), -1);

    /* one allowed class is always the answer */
    fill_logits(l, V, 10, 2.0f);
    memset(mask, 1, sizeof mask);
    mask[77] = 0;
    for (int i = 0; i < 100; i++)
        assert_int_equal(rnn_sample(s, &r, l, V, 0.7f, 0.3f, mask), 77);

    /* a vocabulary over the sampler's size, or no logits: -1 */
    assert_int_equal(rnn_sample(s, &r, l, V + 1, 1.0f, 1.0f, NULL), -1);
    assert_int_equal(rnn_sample(s, &r, NULL, V, 1.0f, 1.0f, NULL), -1);
    assert_null(rnn_sampler_create(0));
    rnn_sampler_free(NULL);
    rnn_sampler_free(s);
}

static void test_extreme_temperatures(void **state)
{
    (void)state;
    enum { V = 130 };
    rnn_sampler *s = rnn_sampler_create(V);
    assert_non_null(s);
    float l[V];
    fill_logits(l, V, 21, 3.0f);
    int best = 0;
    for (int c = 1; c < V; c++)
        if (l[c] > l[best]) best = c;
    rnn_rng r;
    rnn_rng_seed(&r, 3);
    /* a tiny temperature is argmax; a huge one reaches most classes */
    for (int i = 0; i < 200; i++)
        assert_int_equal(rnn_sample(s, &r, l, V, 1e-6f, 1.0f, NULL), best);
    uint8_t seen[V] = {0};
    for (int i = 0; i < 5000; i++)
        seen[rnn_sample(s, &r, l, V, 1e6f, 1.0f, NULL)] = 1;
    int n = 0;
    for (int c = 0; c < V; c++)
        n += seen[c];
    assert_true(n > 120);
    rnn_sampler_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_reference),        cmocka_unit_test(test_argmax),
        cmocka_unit_test(test_fixed_sequence),       cmocka_unit_test(test_chi_square),
        cmocka_unit_test(test_top_p_nucleus),        cmocka_unit_test(test_masks_and_nonfinite),
        cmocka_unit_test(test_extreme_temperatures), cmocka_unit_test(test_prepare_then_draw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
