/* SPDX-License-Identifier: MIT */
/* Tests of core/qmat, the bf16 and int8 weight matrices. References:
 *
 * - bf16 rounding against the nearest of the two neighbouring bf16 values,
 *   computed in double (ties to even), on hand-picked values (ties, NaN,
 *   infinities, overflow, denormals) and a sweep; every bf16 value round
 *   trips.
 * - Every kernel built for this CPU, on random matrices of awkward sizes,
 *   against a double-precision product of the stored weights and the rounded
 *   input (the same numbers; only the float summation differs): within
 *   gamma(K+1) = (K+1) u / (1 - (K+1) u) of sum |w x| for bf16 (u = 2^-24,
 *   the classic bound for any order of float sums), and to 4 u for int8,
 *   whose sums are exact integers and whose finish is 3 roundings.
 * - The same products against the fp32 matrix, in double. The rigorous
 *   bounds per row: bf16 keeps 8 significant bits, so each of w and x is
 *   within 2^-8 of itself relatively and each product within 2^-7 + 2^-16
 *   of w x: a row is within 7.83e-3 sum |w x| (+ the summation bound).
 *   int8: |w - w_q| <= s_w / 2 and |x - x_q| <= s_x / 2 (with a 1e-4
 *   margin for the float scales), so a row is within
 *   (s_w ||x||_1 + s_x ||w_r||_1 + K s_w s_x / 2) / 2. Rounding errors of
 *   independent terms mostly cancel, so a row's error is far below these
 *   worst cases: on these fixed random matrices every row must also be
 *   within 4e-3 (bf16) and 1e-2 (int8) of ||w_r|| ||x||, the typical scale
 *   of a product (the worst ratios are printed).
 * - Kernels against the portable one: int8 bit-identical; bf16 widening
 *   kernels bit-identical (the same float operations in the same order).
 *   vdpbf16ps adds a pair's odd product first too (Intel's SDM), but reads
 *   denormals as zero: the native kernel is held bit-identical on inputs
 *   without denormals (test_input_rounding_kernels), and on the random
 *   products within the summation bound, the rows that differ reported.
 * - A product cut into row ranges (each rounding the input, or the input
 *   rounded once) is bit-identical to the whole one and leaves the other
 *   rows alone; an all-zero int8 row has scale 0 and adds
 *   exactly 0; the int8 sums at the largest width are exact; non-finite
 *   inputs give non-finite outputs; create refuses what it cannot store;
 *   a matrix made from another's rounded weights gives its products.
 * The products under the malloc/lock trap are in test_rt_qmat.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/qmat.h"
#include "../support/skip.h"

#define U24 (1.0 / 16777216.0) /* unit roundoff of float */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static double urand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1.0p-52 - 1.0;
}

static float as_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t as_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static double gamma_n(int n)
{
    return n * U24 / (1.0 - n * U24);
}

/* ---------------------------------------------------------------------------
 * bf16 rounding. */

/* The nearest bf16 of a finite f by search: the bf16 values just below and
 * above |f| in magnitude, compared in double, a tie to the even one; beyond
 * the largest bf16 by half its step or more, infinity. */
static uint16_t bf16_nearest(float f)
{
    const uint32_t u = as_bits(f);
    const uint16_t sign = (uint16_t)(u >> 16 & 0x8000u);
    const uint16_t lo = (uint16_t)(u >> 16 & 0x7fffu), hi = (uint16_t)(lo + 1);
    const double a = fabs((double)f);
    const double vlo = (double)as_float((uint32_t)lo << 16);
    double vhi;
    if (hi == 0x7f80u) /* above the largest finite: the next step would be 2^128 */
        vhi = ldexp(1.0, 128);
    else
        vhi = (double)as_float((uint32_t)hi << 16);
    const double dlo = a - vlo, dhi = vhi - a;
    uint16_t m = dlo < dhi ? lo : dhi < dlo ? hi : (lo & 1) ? hi : lo;
    return (uint16_t)(sign | m);
}

static void test_bf16_hand_picked(void **state)
{
    (void)state;
    static const struct {
        uint32_t in;
        uint16_t out;
    } cases[] = {
        {0x3f800000u, 0x3f80u}, /* 1 */
        {0x3f808000u, 0x3f80u}, /* 1 + 2^-8: a tie, kept part even: down */
        {0x3f818000u, 0x3f82u}, /* a tie, kept part odd: up */
        {0x3f808001u, 0x3f81u}, /* just above the tie */
        {0x3f807fffu, 0x3f80u}, /* just below */
        {0xbf808000u, 0xbf80u}, /* the negative ties, by magnitude */
        {0xbf818000u, 0xbf82u},
        {0x00000000u, 0x0000u}, /* +0 and -0 keep their sign */
        {0x80000000u, 0x8000u},
        {0x7f800000u, 0x7f80u}, /* infinities */
        {0xff800000u, 0xff80u},
        {0x7f7fffffu, 0x7f80u}, /* FLT_MAX rounds past bf16's largest: infinity */
        {0x7f7f7fffu, 0x7f7fu}, /* just below the halfway point stays finite */
        {0x7f7f8000u, 0x7f80u}, /* the tie above 0x7f7f (odd) rounds to infinity */
        {0x00000001u, 0x0000u}, /* the smallest denormal rounds to 0 */
        {0x00008000u, 0x0000u}, /* a denormal tie, kept part even: down */
        {0x00018000u, 0x0002u}, /* a denormal tie, kept part odd: up */
        {0x00008001u, 0x0001u}, /* above the tie: the smallest bf16 denormal */
        {0x007fffffu, 0x0080u}, /* the largest denormal rounds to 2^-126 */
        {0x807fffffu, 0x8080u},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = rnn_bf16_from_float(as_float(cases[i].in));
        if (got != cases[i].out)
            fail_msg("bf16 of 0x%08x: 0x%04x, want 0x%04x", (unsigned)cases[i].in, got,
                     cases[i].out);
        if (isfinite(as_float(cases[i].in)))
            assert_int_equal(got, bf16_nearest(as_float(cases[i].in)));
    }
    /* NaN stays NaN with its sign (quieted), whatever its payload */
    static const uint32_t nans[] = {0x7fc00000u, 0x7f800001u, 0xff800001u,
                                    0x7fffffffu, 0xffc00001u, 0x7f80ffffu};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint16_t b = rnn_bf16_from_float(as_float(nans[i]));
        float back = rnn_bf16_to_float(b);
        if (!isnan(back)) fail_msg("NaN 0x%08x became 0x%04x", (unsigned)nans[i], b);
        assert_int_equal(b >> 15, nans[i] >> 31);
        assert_true(b & 0x40u); /* quiet */
    }
}

static void test_bf16_sweep(void **state)
{
    (void)state;
    /* every bf16 value that is not NaN round-trips exactly */
    for (uint32_t b = 0; b < 0x10000u; b++) {
        float f = rnn_bf16_to_float((uint16_t)b);
        assert_int_equal(as_bits(f), b << 16);
        if (!isnan(f)) assert_int_equal(rnn_bf16_from_float(f), b);
    }
    /* every float with one of 2^16 top halves and 7 low halves (the ties,
     * their neighbours, the extremes) rounds to the nearest */
    static const uint32_t lows[] = {0x0000u, 0x0001u, 0x7fffu, 0x8000u, 0x8001u, 0xfffeu, 0xffffu};
    for (uint32_t top = 0; top < 0x10000u; top++)
        for (size_t i = 0; i < sizeof lows / sizeof lows[0]; i++) {
            float f = as_float(top << 16 | lows[i]);
            if (!isfinite(f)) continue;
            uint16_t got = rnn_bf16_from_float(f), want = bf16_nearest(f);
            if (got != want)
                fail_msg("bf16 of 0x%08x: 0x%04x, want 0x%04x", (unsigned)as_bits(f), got, want);
        }
}

/* ---------------------------------------------------------------------------
 * int8 input rounding. */

static void test_int8_input(void **state)
{
    (void)state;
    int8_t q[8];
    const float x[5] = {1.0f, -0.5f, 0.25f, 0.0f, -1.0f};
    float s = rnn_qmat_quantize_input(x, 5, q);
    assert_true(s == 1.0f / 127.0f);
    /* -63.5 and 31.75: ties to even, then to nearest */
    const int8_t want[5] = {127, -64, 32, 0, -127};
    assert_memory_equal(q, want, 5);

    const float zeros[3] = {0.0f, -0.0f, 0.0f};
    memset(q, 55, sizeof q);
    assert_true(rnn_qmat_quantize_input(zeros, 3, q) == 0.0f);
    assert_int_equal(q[0] | q[1] | q[2], 0);

    const float nan_in[3] = {1.0f, NAN, 2.0f}, inf_in[2] = {-INFINITY, 1.0f};
    assert_true(rnn_qmat_quantize_input(nan_in, 3, q) < 0.0f);
    assert_true(rnn_qmat_quantize_input(inf_in, 2, q) < 0.0f);

    /* a denormal maximum: a positive scale, the largest value at 127 */
    const float tiny[2] = {1e-40f, -5e-41f};
    s = rnn_qmat_quantize_input(tiny, 2, q);
    assert_true(s > 0.0f);
    assert_int_equal(q[0], 127);
    assert_true(q[1] == -63 || q[1] == -64);

    /* random: every value within half a step of its rounding */
    float r[301];
    int8_t qr[301];
    for (int k = 0; k < 301; k++)
        r[k] = (float)(urand() * 3.0);
    s = rnn_qmat_quantize_input(r, 301, qr);
    int top = 0;
    for (int k = 0; k < 301; k++) {
        assert_true(qr[k] >= -127 && qr[k] <= 127);
        assert_true(fabs((double)qr[k] * s - r[k]) <= 0.5001 * s);
        top |= qr[k] == 127 || qr[k] == -127;
    }
    assert_true(top);
}

/* ---------------------------------------------------------------------------
 * Products. */

typedef struct {
    int R, K;
    float *w; /* (R, K) with row stride ld */
    size_t ld;
    float *x;  /* (K) */
    float *y0; /* (R) the values the product adds to */
} problem;

static void problem_make(problem *p, int R, int K)
{
    p->R = R;
    p->K = K;
    p->ld = (size_t)K + (size_t)(R % 3); /* a row stride past the row, sometimes */
    p->w = malloc(((size_t)R * p->ld) * sizeof(float));
    p->x = malloc((size_t)K * sizeof(float));
    p->y0 = malloc((size_t)R * sizeof(float));
    assert_non_null(p->w);
    assert_non_null(p->x);
    assert_non_null(p->y0);
    for (int r = 0; r < R; r++) {
        /* rows of different magnitudes, so the int8 row scales differ */
        const double mag = ldexp(1.0, r % 7 - 3) / sqrt((double)K);
        for (size_t c = 0; c < p->ld; c++)
            p->w[(size_t)r * p->ld + c] = (float)(mag * urand());
        p->y0[r] = (float)(0.1 * urand());
    }
    for (int k = 0; k < K; k++)
        p->x[k] = (float)(0.9 * urand());
}

static void problem_free(problem *p)
{
    free(p->w);
    free(p->x);
    free(p->y0);
}

/* The rounded input as the products see it: bf16, or int8 and its scale. */
static void input_rounded(const problem *p, rnn_qmat_dtype dt, double *xq, double *sx)
{
    if (dt == RNN_QMAT_BF16) {
        for (int k = 0; k < p->K; k++)
            xq[k] = rnn_bf16_to_float(rnn_bf16_from_float(p->x[k]));
        *sx = 1.0;
    } else {
        int8_t *q = malloc((size_t)p->K);
        assert_non_null(q);
        *sx = rnn_qmat_quantize_input(p->x, p->K, q);
        for (int k = 0; k < p->K; k++)
            xq[k] = q[k];
        free(q);
    }
}

/* The stored weights against the fp32 ones. */
static void check_weights(const rnn_qmat *q, const problem *p, rnn_qmat_dtype dt)
{
    for (int r = 0; r < p->R; r++) {
        const float s = rnn_qmat_row_scale(q, r);
        int top = 0;
        for (int c = 0; c < p->K; c++) {
            const float w = p->w[(size_t)r * p->ld + c], wq = rnn_qmat_weight(q, r, c);
            if (dt == RNN_QMAT_BF16) {
                if (as_bits(wq) != as_bits(rnn_bf16_to_float(rnn_bf16_from_float(w))))
                    fail_msg("bf16 weight (%d, %d): %a for %a", r, c, (double)wq, (double)w);
            } else {
                const int i = rnn_qmat_weight_int8(q, r, c);
                assert_true(i >= -127 && i <= 127);
                if (fabs((double)i * s - w) > 0.5001 * s)
                    fail_msg("int8 weight (%d, %d): %d x %g for %g", r, c, i, (double)s, (double)w);
                top |= i == 127 || i == -127;
            }
        }
        if (dt == RNN_QMAT_INT8) assert_true(top); /* the row's largest sits at +-127 */
    }
}

/* One kernel's whole product; y fresh from y0. */
static float *product(rnn_qmat *q, const problem *p)
{
    float *y = malloc((size_t)p->R * sizeof(float));
    assert_non_null(y);
    memcpy(y, p->y0, (size_t)p->R * sizeof(float));
    rnn_qmat_mv(q, y, p->x);
    return y;
}

/* Worst ratios seen, printed at the end of the test. */
static double worst_q[3], worst_f[3], worst_norm[3];

static void check_product(const rnn_qmat *q, const problem *p, rnn_qmat_dtype dt, const float *y,
                          const char *kname)
{
    double *xq = malloc((size_t)p->K * sizeof(double)), sx;
    assert_non_null(xq);
    input_rounded(p, dt, xq, &sx);
    double x1 = 0, x2 = 0;
    for (int k = 0; k < p->K; k++) {
        x1 += fabs((double)p->x[k]);
        x2 += (double)p->x[k] * p->x[k];
    }
    for (int r = 0; r < p->R; r++) {
        const float *wr = p->w + (size_t)r * p->ld;
        const double sw = rnn_qmat_row_scale(q, r);
        double sq = 0, aq = 0, sf = 0, af = 0, w1 = 0, w2 = 0;
        for (int k = 0; k < p->K; k++) {
            const double wq = dt == RNN_QMAT_BF16 ? (double)rnn_qmat_weight(q, r, k)
                                                  : rnn_qmat_weight_int8(q, r, k);
            sq += wq * xq[k];
            aq += fabs(wq * xq[k]);
            sf += (double)wr[k] * p->x[k];
            af += fabs((double)wr[k] * p->x[k]);
            w1 += fabs((double)wr[k]);
            w2 += (double)wr[k] * wr[k];
        }
        const double y0 = p->y0[r], got = y[r];
        double ref_q, tol_q, tol_f;
        if (dt == RNN_QMAT_BF16) {
            ref_q = y0 + sq;
            tol_q = gamma_n(p->K + 1) * (aq + fabs(y0)) + p->K * 0x1.0p-126;
            tol_f = (0x1.0p-7 + 0x1.0p-16) * af + tol_q;
        } else {
            const double t = sq * sw * sx;
            ref_q = y0 + t;
            tol_q = 4 * U24 * (fabs(t) + fabs(y0));
            tol_f = 0.5001 * (sw * x1 + sx * w1) + 0.2501 * p->K * sw * sx + tol_q;
        }
        const double eq = fabs(got - ref_q), ef = fabs(got - (y0 + sf));
        const double norm = sqrt(w2 * x2), limit = dt == RNN_QMAT_BF16 ? 4e-3 : 1e-2;
        const int d = dt == RNN_QMAT_BF16 ? 1 : 2;
        if (!(eq <= tol_q))
            fail_msg("%s %s %dx%d row %d: %.9g, the stored weights give %.9g (tolerance %.3g)",
                     d == 1 ? "bf16" : "int8", kname, p->R, p->K, r, got, ref_q, tol_q);
        if (!(ef <= tol_f))
            fail_msg("%s %s %dx%d row %d: %.9g, fp32 gives %.9g (bound %.3g)",
                     d == 1 ? "bf16" : "int8", kname, p->R, p->K, r, got, y0 + sf, tol_f);
        if (norm > 0 && !(ef <= limit * norm + tol_q))
            fail_msg("%s %s %dx%d row %d: error %.3g is over %g of ||w_r|| ||x|| = %.3g",
                     d == 1 ? "bf16" : "int8", kname, p->R, p->K, r, ef, limit, norm);
        if (tol_q > 0 && eq / tol_q > worst_q[d]) worst_q[d] = eq / tol_q;
        if (af > 0 && ef / af > worst_f[d]) worst_f[d] = ef / af;
        if (norm > 0 && ef / norm > worst_norm[d]) worst_norm[d] = ef / norm;
    }
    free(xq);
}

/* Rows cut into ranges of 1..3 units (the last one up to the row count)
 * must give the whole product's bits, and each range only its own rows. */
static void check_slices(rnn_qmat *q, const problem *p, const float *whole)
{
    float *y = malloc((size_t)p->R * sizeof(float));
    assert_non_null(y);
    memcpy(y, p->y0, (size_t)p->R * sizeof(float));
    int r0 = 0, n = 0;
    while (r0 < p->R) {
        int r1 = r0 + RNN_QMAT_UNIT * (1 + n++ % 3);
        if (r1 > p->R) r1 = p->R;
        rnn_qmat_mv_rows(q, y, p->x, r0, r1);
        for (int r = r1; r < p->R; r++)
            if (as_bits(y[r]) != as_bits(p->y0[r]))
                fail_msg("%dx%d: the range [%d, %d) changed row %d", p->R, p->K, r0, r1, r);
        r0 = r1;
    }
    if (memcmp(y, whole, (size_t)p->R * sizeof(float)) != 0)
        fail_msg("%s %dx%d: the product in ranges differs from the whole", rnn_qmat_kernel_name(q),
                 p->R, p->K);
    /* the same with the input rounded once, the ranges from the end */
    memcpy(y, p->y0, (size_t)p->R * sizeof(float));
    assert_int_equal(rnn_qmat_input(q, p->x), 0);
    for (int r1 = p->R; r1 > 0;) {
        const int r0 = (r1 - 1) / RNN_QMAT_UNIT * RNN_QMAT_UNIT;
        rnn_qmat_mv_input(q, y, r0, r1);
        r1 = r0;
    }
    if (memcmp(y, whole, (size_t)p->R * sizeof(float)) != 0)
        fail_msg("%s %dx%d: the product in ranges of one input differs from the whole",
                 rnn_qmat_kernel_name(q), p->R, p->K);
    free(y);
}

static void run_sizes(rnn_qmat_dtype dt)
{
    static const int sizes[][2] = {{1, 1},      {3, 17},     {8, 8},     {17, 3},
                                   {64, 64},    {72, 130},   {130, 64},  {136, 257},
                                   {520, 1023}, {1024, 256}, {1536, 512}};
    const char *dname = dt == RNN_QMAT_BF16 ? "bf16" : "int8";
    char err[256];
    int ran = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        problem p;
        problem_make(&p, sizes[s][0], sizes[s][1]);
        rnn_qmat *q = rnn_qmat_create(p.w, p.R, p.K, p.ld, dt, err, sizeof err);
        if (!q) fail_msg("%s", err);
        assert_int_equal(rnn_qmat_rows(q), p.R);
        assert_int_equal(rnn_qmat_cols(q), p.K);
        assert_int_equal(rnn_qmat_get_dtype(q), dt);
        assert_true(rnn_qmat_bytes(q) >= (size_t)p.R * p.K * (dt == RNN_QMAT_BF16 ? 2 : 1));
        check_weights(q, &p, dt);

        assert_int_equal(rnn_qmat_set_kernel(q, "portable"), 0);
        float *ref = product(q, &p);
        check_product(q, &p, dt, ref, "portable");
        check_slices(q, &p, ref);

        for (int i = 0; rnn_qmat_kernel_at(dt, i); i++) {
            const char *k = rnn_qmat_kernel_at(dt, i);
            if (strcmp(k, "portable") == 0) continue;
            if (!rnn_qmat_kernel_supported(dt, k)) {
                if (s == 0) {
                    char what[64];
                    snprintf(what, sizeof what, "qmat %s kernel %s", dname, k);
                    test_skip_note(what, "this CPU does not run it");
                }
                continue;
            }
            assert_int_equal(rnn_qmat_set_kernel(q, k), 0);
            assert_string_equal(rnn_qmat_kernel_name(q), k);
            float *y = product(q, &p);
            check_product(q, &p, dt, y, k);
            check_slices(q, &p, y);
            const int native_bf16 = dt == RNN_QMAT_BF16 && strcmp(k, "avx512bf16") == 0;
            if (native_bf16) {
                /* both within gamma(K+1) of the exact sum: 2 gamma apart */
                double *xq = malloc((size_t)p.K * sizeof(double)), sx;
                assert_non_null(xq);
                input_rounded(&p, dt, xq, &sx);
                int differ = 0;
                for (int r = 0; r < p.R; r++) {
                    double aq = fabs((double)p.y0[r]);
                    for (int c = 0; c < p.K; c++)
                        aq += fabs((double)rnn_qmat_weight(q, r, c) * xq[c]);
                    const double tol = 2 * gamma_n(p.K + 1) * aq + 2 * p.K * 0x1.0p-126;
                    if (!(fabs((double)y[r] - ref[r]) <= tol))
                        fail_msg("bf16 %s %dx%d row %d: %.9g, portable %.9g", k, p.R, p.K, r,
                                 (double)y[r], (double)ref[r]);
                    differ += as_bits(y[r]) != as_bits(ref[r]);
                }
                if (differ)
                    printf("bf16 %s %dx%d: %d of %d rows differ from portable in their last bits\n",
                           k, p.R, p.K, differ, p.R);
                free(xq);
            } else if (memcmp(y, ref, (size_t)p.R * sizeof(float)) != 0) {
                for (int r = 0; r < p.R; r++)
                    if (as_bits(y[r]) != as_bits(ref[r]))
                        fail_msg("%s %s %dx%d row %d: %a, portable %a (must be bit-identical)",
                                 dname, k, p.R, p.K, r, (double)y[r], (double)ref[r]);
            }
            free(y);
            ran++;
        }
        free(ref);
        rnn_qmat_free(q);
        problem_free(&p);
    }
    const int d = dt == RNN_QMAT_BF16 ? 1 : 2;
    printf("%s: %d kernel runs besides portable; worst error / its bound against the stored "
           "weights %.3g; worst |error| / sum |w x| against fp32 %.3g, / (||w_r|| ||x||) %.3g\n",
           dname, ran, worst_q[d], worst_f[d], worst_norm[d]);
}

static void test_bf16_products(void **state)
{
    (void)state;
    run_sizes(RNN_QMAT_BF16);
}

static void test_int8_products(void **state)
{
    (void)state;
    run_sizes(RNN_QMAT_INT8);
}

/* The body runs once per kernel of dt this CPU runs, with q set to it. */

#define FOR_KERNELS(dt, q, k)                                                                      \
    for (int i_ = 0; ((k) = rnn_qmat_kernel_at((dt), i_)) != NULL; i_++)                           \
        if (rnn_qmat_kernel_supported((dt), (k)) && rnn_qmat_set_kernel((q), (k)) == 0)

/* Inputs made of rounding ties (x * 127 / max on a half for int8, a low
 * half of 0x8000 for bf16) and their neighbours, over every tail length
 * of the vector input rounding: each kernel's product must have the
 * portable kernel's bits (bf16's native kernel: except denormal inputs,
 * which vdpbf16ps reads as zero). Each rounded value meets a nonzero
 * weight, so a different rounding shows in the output. */
static void test_input_rounding_kernels(void **state)
{
    (void)state;
    enum { R = 16, KMAX = 97 };
    float w[R * KMAX], x[KMAX];
    for (int i = 0; i < R * KMAX; i++)
        w[i] = (float)(0.5 + 0.5 * fabs(urand())) * (i % 2 ? -1.0f : 1.0f);
    char err[256];
    for (int d = 1; d <= 2; d++) {
        const rnn_qmat_dtype dt = (rnn_qmat_dtype)d;
        for (int K = 1; K <= KMAX; K++) {
            rnn_qmat *q = rnn_qmat_create(w, R, K, KMAX, dt, err, sizeof err);
            if (!q) fail_msg("%s", err);
            for (int kind = 0; kind < 4; kind++) {
                for (int k = 0; k < K; k++) {
                    if (kind == 0) /* int8 ties: max 127, so x * 127 / max = x */
                        x[k] = k == 0 ? 127.0f : (float)(k % 61 - 30) + (k % 3 ? 0.5f : 0.25f);
                    else if (kind == 1) /* bf16 ties and their neighbours */
                        x[k] = as_float(0x3f808000u + (uint32_t)(k % 3 - 1) + ((uint32_t)k << 16)) *
                               (k % 2 ? -1.0f : 1.0f);
                    else if (kind == 2) /* below TINY: int8's double route */
                        x[k] = (float)(1e-32 * urand());
                    else /* denormals */
                        x[k] = (float)(1e-39 * urand());
                }
                float ref[R], y[R];
                for (int r = 0; r < R; r++)
                    ref[r] = 0.5f;
                assert_int_equal(rnn_qmat_set_kernel(q, "portable"), 0);
                rnn_qmat_mv(q, ref, x);
                const char *k;
                FOR_KERNELS(dt, q, k)
                {
                    if (d == 1 && kind == 3 && strcmp(k, "avx512bf16") == 0) continue;
                    for (int r = 0; r < R; r++)
                        y[r] = 0.5f;
                    rnn_qmat_mv(q, y, x);
                    for (int r = 0; r < R; r++)
                        if (as_bits(y[r]) != as_bits(ref[r]))
                            fail_msg("%s %s K = %d inputs %d: row %d is %a, portable %a",
                                     d == 1 ? "bf16" : "int8", k, K, kind, r, (double)y[r],
                                     (double)ref[r]);
                }
            }
            rnn_qmat_free(q);
        }
    }
}

static void test_int8_zero_row(void **state)
{
    (void)state;
    enum { R = 24, K = 37 };
    float w[R * K];
    for (int i = 0; i < R * K; i++)
        w[i] = (float)urand();
    for (int c = 0; c < K; c++) {
        w[5 * K + c] = 0.0f;
        w[17 * K + c] = -0.0f;
    }
    char err[256];
    rnn_qmat *q = rnn_qmat_create(w, R, K, K, RNN_QMAT_INT8, err, sizeof err);
    if (!q) fail_msg("%s", err);
    assert_true(rnn_qmat_row_scale(q, 5) == 0.0f);
    assert_true(rnn_qmat_row_scale(q, 17) == 0.0f);
    for (int c = 0; c < K; c++) {
        assert_int_equal(rnn_qmat_weight_int8(q, 5, c), 0);
        assert_true(rnn_qmat_weight(q, 17, c) == 0.0f);
    }
    float x[K];
    for (int c = 0; c < K; c++)
        x[c] = (float)urand();
    const char *k;
    int n = 0;
    FOR_KERNELS(RNN_QMAT_INT8, q, k)
    {
        float y[R];
        for (int r = 0; r < R; r++)
            y[r] = 0.25f * (float)r;
        rnn_qmat_mv(q, y, x);
        if (y[5] != 1.25f || y[17] != 4.25f)
            fail_msg("%s: a zero row added %g and %g", k, (double)y[5] - 1.25,
                     (double)y[17] - 4.25);
        for (int r = 0; r < R; r++)
            assert_true(isfinite(y[r]));
        n++;
    }
    assert_true(n >= 1);
    rnn_qmat_free(q);
}

/* The widest int8 matrix at the extremes of both signs: the sums reach
 * 127 * 127 * K (and the unsigned form 255 * 127 * K) and stay exact. */
static void test_int8_widest(void **state)
{
    (void)state;
    enum { R = 8, K = RNN_QMAT_MAX_COLS };
    float *w = malloc((size_t)R * K * sizeof(float)), *x = malloc(K * sizeof(float));
    assert_non_null(w);
    assert_non_null(x);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < K; c++)
            w[(size_t)r * K + c] = r % 2 ? -3.0f : 3.0f;
    char err[256];
    rnn_qmat *q = rnn_qmat_create(w, R, K, K, RNN_QMAT_INT8, err, sizeof err);
    if (!q) fail_msg("%s", err);
    for (int sign = -1; sign <= 1; sign += 2) {
        for (int c = 0; c < K; c++)
            x[c] = 0.5f * (float)sign;
        const char *k;
        FOR_KERNELS(RNN_QMAT_INT8, q, k)
        {
            float y[R] = {0};
            rnn_qmat_mv(q, y, x);
            for (int r = 0; r < R; r++) {
                const double want = (r % 2 ? -1.5 : 1.5) * sign * K;
                if (!(fabs(y[r] - want) <= 4 * U24 * fabs(want)))
                    fail_msg("%s x = %+d: row %d is %.9g, want %.9g", k, sign, r, (double)y[r],
                             want);
            }
        }
    }
    rnn_qmat_free(q);
    free(w);
    free(x);
}

static void test_nonfinite_input(void **state)
{
    (void)state;
    enum { R = 20, K = 33 };
    float w[R * K], x[K];
    for (int i = 0; i < R * K; i++)
        w[i] = (float)urand();
    char err[256];
    for (int d = 1; d <= 2; d++) {
        const rnn_qmat_dtype dt = (rnn_qmat_dtype)d;
        rnn_qmat *q = rnn_qmat_create(w, R, K, K, dt, err, sizeof err);
        if (!q) fail_msg("%s", err);
        for (int bad = 0; bad < 2; bad++) {
            for (int c = 0; c < K; c++)
                x[c] = (float)urand();
            x[K / 2] = bad ? INFINITY : NAN;
            const char *k;
            FOR_KERNELS(dt, q, k)
            {
                float y[R] = {0};
                rnn_qmat_mv(q, y, x);
                for (int r = 0; r < R; r++)
                    if (isfinite(y[r]))
                        fail_msg("%s %s: row %d is %g with a %s input", d == 1 ? "bf16" : "int8", k,
                                 r, (double)y[r], bad ? "infinite" : "NaN");
                /* int8 says so when the input is rounded apart */
                assert_int_equal(rnn_qmat_input(q, x), d == 2 ? -1 : 0);
                float z[R] = {0};
                rnn_qmat_mv_input(q, z, 0, R);
                for (int r = 0; r < R; r++)
                    assert_false(isfinite(z[r]));
            }
        }
        rnn_qmat_free(q);
    }
}

static void test_create_refuses(void **state)
{
    (void)state;
    float w[12];
    for (int i = 0; i < 12; i++)
        w[i] = 0.5f;
    char err[256];
    struct {
        int rows, cols;
        size_t ld;
        int dtype;
        float bad;
    } cases[] = {
        {0, 4, 4, RNN_QMAT_BF16, 0},
        {3, 0, 4, RNN_QMAT_INT8, 0},
        {3, 4, 3, RNN_QMAT_BF16, 0},
        {3, 4, 4, 0, 0},
        {3, 4, 4, 7, 0},
        {3, 4, 4, RNN_QMAT_BF16, NAN},
        {3, 4, 4, RNN_QMAT_INT8, NAN},
        {3, 4, 4, RNN_QMAT_INT8, -INFINITY},
        {3, 4, 4, RNN_QMAT_BF16, FLT_MAX},
        {1, RNN_QMAT_MAX_COLS + 1, RNN_QMAT_MAX_COLS + 1, RNN_QMAT_INT8, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        w[7] = cases[i].bad != 0 || isnan(cases[i].bad) ? cases[i].bad : 0.5f;
        err[0] = 0;
        rnn_qmat *q = rnn_qmat_create(w, cases[i].rows, cases[i].cols, cases[i].ld,
                                      (rnn_qmat_dtype)cases[i].dtype, err, sizeof err);
        if (q) fail_msg("case %zu was accepted", i);
        assert_true(strncmp(err, "qmat: ", 6) == 0);
    }
    /* FLT_MAX fits int8 (a scale of FLT_MAX / 127) */
    w[7] = FLT_MAX;
    rnn_qmat *q = rnn_qmat_create(w, 3, 4, 4, RNN_QMAT_INT8, err, sizeof err);
    if (!q) fail_msg("%s", err);
    assert_true(rnn_qmat_weight_int8(q, 1, 3) == 127);
    rnn_qmat_free(q);
    rnn_qmat_free(NULL);
    assert_int_equal(rnn_qmat_bytes(NULL), 0);
}

/* A matrix made from the rounded weights of another (as a preset would
 * store them) holds the same weights and gives the same products, bit for
 * bit, with every kernel; values that no rounding makes are refused. */
static void test_create_from_rounded(void **state)
{
    (void)state;
    problem p;
    problem_make(&p, 72, 130);
    char err[256];
    uint16_t *b = malloc((size_t)p.R * p.K * sizeof *b);
    int8_t *i8 = malloc((size_t)p.R * p.K);
    float *sc = malloc((size_t)p.R * sizeof *sc);
    assert_non_null(b);
    assert_non_null(i8);
    assert_non_null(sc);
    for (int d = 1; d <= 2; d++) {
        const rnn_qmat_dtype dt = (rnn_qmat_dtype)d;
        rnn_qmat *q1 = rnn_qmat_create(p.w, p.R, p.K, p.ld, dt, err, sizeof err);
        if (!q1) fail_msg("%s", err);
        for (int r = 0; r < p.R; r++) {
            sc[r] = rnn_qmat_row_scale(q1, r);
            for (int c = 0; c < p.K; c++) {
                b[(size_t)r * p.K + c] = rnn_bf16_from_float(rnn_qmat_weight(q1, r, c));
                i8[(size_t)r * p.K + c] = (int8_t)rnn_qmat_weight_int8(q1, r, c);
            }
        }
        rnn_qmat *q2 = d == 1
                           ? rnn_qmat_create_bf16(b, p.R, p.K, (size_t)p.K, err, sizeof err)
                           : rnn_qmat_create_int8(i8, sc, p.R, p.K, (size_t)p.K, err, sizeof err);
        if (!q2) fail_msg("%s", err);
        assert_int_equal(rnn_qmat_get_dtype(q2), dt);
        for (int r = 0; r < p.R; r++)
            for (int c = 0; c < p.K; c++)
                assert_int_equal(as_bits(rnn_qmat_weight(q2, r, c)),
                                 as_bits(rnn_qmat_weight(q1, r, c)));
        const char *k;
        FOR_KERNELS(dt, q2, k)
        {
            assert_int_equal(rnn_qmat_set_kernel(q1, k), 0);
            float *y1 = product(q1, &p), *y2 = product(q2, &p);
            if (memcmp(y1, y2, (size_t)p.R * sizeof(float)) != 0)
                fail_msg("%s %s: the matrix from rounded weights gives other products",
                         d == 1 ? "bf16" : "int8", k);
            free(y1);
            free(y2);
        }
        rnn_qmat_free(q1);
        rnn_qmat_free(q2);
    }

    /* refused: infinity and NaN in bf16, -128, scales that are NaN, infinite,
     * negative or missing, and a bad shape */
    uint16_t bb[4] = {0x3f80, 0x7f80, 0, 0};
    assert_null(rnn_qmat_create_bf16(bb, 2, 2, 2, err, sizeof err));
    bb[1] = 0xffc1;
    assert_null(rnn_qmat_create_bf16(bb, 2, 2, 2, err, sizeof err));
    bb[1] = 0x0001; /* a denormal is a value */
    rnn_qmat *q = rnn_qmat_create_bf16(bb, 2, 2, 2, err, sizeof err);
    if (!q) fail_msg("%s", err);
    rnn_qmat_free(q);
    assert_null(rnn_qmat_create_bf16(bb, 2, 2, 1, err, sizeof err));
    int8_t ib[4] = {1, -128, 3, 4};
    float good[2] = {0.5f, 0.0f}, bad[3] = {NAN, INFINITY, -1.0f};
    assert_null(rnn_qmat_create_int8(ib, good, 2, 2, 2, err, sizeof err));
    assert_true(strstr(err, "-128") != NULL);
    ib[1] = -127;
    for (int i = 0; i < 3; i++) {
        float sc2[2] = {0.5f, bad[i]};
        assert_null(rnn_qmat_create_int8(ib, sc2, 2, 2, 2, err, sizeof err));
    }
    assert_null(rnn_qmat_create_int8(ib, NULL, 2, 2, 2, err, sizeof err));
    q = rnn_qmat_create_int8(ib, good, 2, 2, 2, err, sizeof err);
    if (!q) fail_msg("%s", err);
    assert_true(rnn_qmat_weight(q, 0, 1) == -127 * 0.5f);
    assert_true(rnn_qmat_weight(q, 1, 0) == 0.0f); /* scale 0 */
    rnn_qmat_free(q);
    free(b);
    free(i8);
    free(sc);
    problem_free(&p);
}

/* The pick at create is the first kernel the CPU runs; names that are not
 * built for the dtype, or that the CPU lacks, are refused. On x86-64 the
 * CPU's own answer decides which kernel must have been picked. */
static void test_kernel_pick(void **state)
{
    (void)state;
    float w[16 * 16];
    for (int i = 0; i < 16 * 16; i++)
        w[i] = (float)urand();
    char err[256];
    for (int d = 1; d <= 2; d++) {
        const rnn_qmat_dtype dt = (rnn_qmat_dtype)d;
        rnn_qmat *q = rnn_qmat_create(w, 16, 16, 16, dt, err, sizeof err);
        if (!q) fail_msg("%s", err);
        const char *first = NULL;
        int n = 0;
        for (int i = 0; rnn_qmat_kernel_at(dt, i); i++, n++)
            if (!first && rnn_qmat_kernel_supported(dt, rnn_qmat_kernel_at(dt, i)))
                first = rnn_qmat_kernel_at(dt, i);
        assert_non_null(first);
        assert_string_equal(rnn_qmat_kernel_name(q), first);
        assert_string_equal(rnn_qmat_kernel_at(dt, n - 1), "portable");
        assert_int_equal(rnn_qmat_set_kernel(q, "no-such-kernel"), -1);
        assert_int_equal(rnn_qmat_set_kernel(q, d == 1 ? "avx512vnni" : "avx512bf16"), -1);
        assert_int_equal(rnn_qmat_set_kernel(q, NULL), -1);
        assert_string_equal(rnn_qmat_kernel_name(q), first);
        /* no input rounded yet, or rounded for another kernel: nothing added */
        float x[16], y[16] = {0};
        for (int c = 0; c < 16; c++)
            x[c] = (float)urand();
        rnn_qmat_mv_input(q, y, 0, 16);
        assert_int_equal(rnn_qmat_input(q, x), 0);
        assert_int_equal(rnn_qmat_set_kernel(q, first), 0);
        rnn_qmat_mv_input(q, y, 0, 16);
        for (int r = 0; r < 16; r++)
            assert_true(y[r] == 0.0f);
#if defined(__x86_64__) && !defined(RNN_QMAT_PORTABLE)
        __builtin_cpu_init();
        const char *want = "portable";
        if (d == 1) {
            if (__builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vl"))
                want = "avx512bf16";
            else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
                want = "avx2";
        } else {
            if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl"))
                want = "avx512vnni";
            else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
                want = NULL; /* avxvnni or avx2: the CPUID leaf decides */
        }
        if (want) assert_string_equal(rnn_qmat_kernel_name(q), want);
#else
        assert_int_equal(n, 1); /* the portable kernel alone */
#endif
        printf("%s: kernels built", d == 1 ? "bf16" : "int8");
        for (int i = 0; rnn_qmat_kernel_at(dt, i); i++)
            printf(" %s%s", rnn_qmat_kernel_at(dt, i),
                   rnn_qmat_kernel_supported(dt, rnn_qmat_kernel_at(dt, i)) ? "" : " (not here)");
        printf("; picked %s\n", rnn_qmat_kernel_name(q));
        rnn_qmat_free(q);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bf16_hand_picked),    cmocka_unit_test(test_bf16_sweep),
        cmocka_unit_test(test_int8_input),          cmocka_unit_test(test_input_rounding_kernels),
        cmocka_unit_test(test_bf16_products),       cmocka_unit_test(test_int8_products),
        cmocka_unit_test(test_int8_zero_row),       cmocka_unit_test(test_int8_widest),
        cmocka_unit_test(test_nonfinite_input),     cmocka_unit_test(test_create_refuses),
        cmocka_unit_test(test_create_from_rounded), cmocka_unit_test(test_kernel_pick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
