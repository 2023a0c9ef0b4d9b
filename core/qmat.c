/* SPDX-License-Identifier: MIT */
/* rnnmidi core: reduced-precision weight matrices and their matrix-vector
 * product, for the step of core/net when its weights are stored as bf16 or
 * int8 (a per-tensor dtype of format v2).
 *
 * Layout: the panels of core/net.c (PANEL = 64 rows, rows padded to 8,
 * the last panel narrower), except that a panel's "column" is a group of
 * columns whose values for one row fill 4 bytes: a pair of bf16 (the even
 * column in the low half), or a quad of int8. That is the operand of one
 * 32-bit lane of vdpbf16ps (2 bf16 products into one float) and of vpdpbusd
 * (4 u8 x s8 products into one int32), so a vector load of consecutive rows
 * of one group feeds one instruction, the input group is one broadcast, each
 * lane is one row and no horizontal sum is needed. Byte (g, rr) of the panel
 * starting at row p0 lies at 4 * (p0 * groups + g * pw + rr). Padded rows and
 * columns are zero.
 *
 * Numbers: bf16 x bf16 products are exact in float, so every bf16 kernel adds
 * the same products, one float accumulator per row in column order (the odd
 * column of a pair first, as vdpbf16ps does), and they differ from one
 * another only where the native instruction flushes denormals. int8 sums are
 * exact integers (|sum| <= 255 * 127 * RNN_QMAT_MAX_COLS < 2^31), finished by
 * the same float operations in every kernel, so all int8 kernels give
 * bit-identical results. vpdpbusd multiplies unsigned by signed bytes: the
 * input goes in as q + 128 and 128 * (the row's integer sum), kept per row,
 * is subtracted; the AVX2 kernel moves the sign of each weight onto the
 * input instead (|w| x +-q, whose pair sums fit int16 since |q| <= 127).
 *
 * A kernel is an input rounding (its own vector code, the same numbers as
 * the portable one) and a panel product; AVX512-BF16 also runs two whole
 * panels at once and AVX512-VNNI splits even and odd groups over two sets
 * of accumulators, for more independent chains than one panel's four
 * (the row sums, and so the results, do not change). Kernels run from
 * function-level target attributes, picked per matrix by
 * __builtin_cpu_supports; the portable ones (C, and GCC vector extensions
 * for bf16) are the reference and the only ones built off x86-64. Denormal
 * flushing is the caller's (core/net sets FTZ/DAZ around a step). Dimension
 * letters: R rows (Rp padded), K columns, G column groups. */
#include "qmat.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RNN_QMAT_PORTABLE builds the portable kernels alone, as off x86-64 (a
 * test, test_qmat_generic, runs them so on this CPU too). */
#if defined(__x86_64__) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 11)) &&        \
    !defined(RNN_QMAT_PORTABLE)
#define QMAT_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

#ifdef __clang__
/* clang contracts a * b + c within an expression by default; the int8 finish
 * must round its product and its sum apart, as the vector kernels do. */
#pragma STDC FP_CONTRACT OFF
#endif

#define QMAT_INLINE static inline __attribute__((always_inline))

enum {
    PANEL = 64, /* rows per panel, as core/net.c */
    UNIT = RNN_QMAT_UNIT,
    ALIGN = 64,
    MAX_ROWS = 1 << 20
};

/* One call of a kernel: n rows (a multiple of UNIT, at most PANEL) of one
 * panel, starting at row r of the matrix. */
typedef struct {
    const uint8_t *w; /* group 0 of row r */
    size_t gstride;   /* bytes from one group to the next: 4 * pw */
    int groups;
    float *y;            /* n outputs, added to */
    int n;               /* rows */
    const float *sw;     /* int8: the n row scales */
    const int32_t *corr; /* int8: the n offset corrections */
} qpanel;

typedef struct {
    const char *name;
    rnn_qmat_dtype dtype;
    int (*supported)(void);
    int (*prepare)(rnn_qmat *q, const float *x); /* round x into the scratch */
    void (*panel)(const rnn_qmat *q, const qpanel *p);
    /* two whole panels at once, or NULL: rows summed as by panel */
    void (*pair)(const rnn_qmat *q, const qpanel *a, const qpanel *b);
} qkernel;

struct rnn_qmat {
    rnn_qmat_dtype dtype;
    int rows, cols;
    int Rp;     /* rows padded to UNIT */
    int groups; /* column groups of 4 bytes: pairs (bf16) or quads (int8) */
    const qkernel *kernel;
    uint8_t *w;    /* (Rp, groups) in panels */
    float *sw;     /* int8: (Rp) row scales */
    int32_t *corr; /* int8: (Rp) 128 * the row's integer sum */

    /* the input of the product in progress */
    uint32_t *xg; /* (groups) bf16 pairs, or int8 quads */
    uint32_t *xu; /* int8: (groups) the quads plus 128 per byte */
    float *xf;    /* bf16: (2 * groups) the rounded inputs */
    float sx;     /* int8: the input's scale */
    int input;    /* 1 rounded, -1 not finite (the products add NaN), 0 none yet */

    void *block;
    size_t block_bytes;
};

/* ---------------------------------------------------------------------------
 * Rounding. */

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t rnn_bf16_from_float(float f)
{
    uint32_t u = float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    /* adding 0x7fff plus the kept lowest bit carries exactly when the cut
     * half is above one half, or equal to it with an odd kept part */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float rnn_bf16_to_float(uint16_t b)
{
    return bits_float((uint32_t)b << 16);
}

/* Below this maximum 127 / m could overflow float: such inputs (all below
 * 1e-30) are rounded in double, by the scalar code of every kernel. */
#define TINY 0x1p-100f

/* The rounding of x[k] with inv = 127 / m, m the largest |x| (>= TINY):
 * one float product, rounded to the nearest integer (ties to even, as
 * vcvtps2dq in the default rounding mode), clamped. The vector prepare
 * functions compute exactly this and call it for their tails. */
static void quantize_with(const float *x, int n, int8_t *q, float inv)
{
    for (int k = 0; k < n; k++) {
        float v = rintf(x[k] * inv);
        v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
        q[k] = (int8_t)v;
    }
}

/* The rounding given m = max |x| > 0; returns the scale. */
static float quantize_max(const float *x, int n, int8_t *q, float m)
{
    if (m >= TINY) {
        quantize_with(x, n, q, 127.0f / m);
        return m / 127.0f;
    }
    const double inv = 127.0 / (double)m;
    for (int k = 0; k < n; k++) {
        double v = rint((double)x[k] * inv);
        q[k] = (int8_t)(v > 127.0 ? 127 : v < -127.0 ? -127 : (int)v);
    }
    return (float)((double)m / 127.0);
}

float rnn_qmat_quantize_input(const float *x, int n, int8_t *q)
{
    float m = 0.0f;
    int bad = 0;
    for (int k = 0; k < n; k++) {
        float a = fabsf(x[k]);
        bad |= !(a <= FLT_MAX);
        m = a > m ? a : m;
    }
    if (bad) return -1.0f;
    if (m == 0.0f) {
        memset(q, 0, (size_t)n);
        return 0.0f;
    }
    return quantize_max(x, n, q, m);
}

/* ---------------------------------------------------------------------------
 * Portable kernels: the reference, and the only ones off x86-64. */

/* GCC vector extensions (SSE2 on x86-64, NEON on aarch64, scalar code
 * elsewhere), as core/net.c's baseline build: 32 rows (8 vectors: half the
 * registers of SSE2 and NEON) per pass over a panel's groups, so each pass
 * reads whole 128-byte pairs of cache lines. A bf16 pair is the top halves
 * of two floats: the odd column's float is the word with its low half
 * cleared, the even one's the word shifted up; each row adds the odd
 * product, then the even one (exact products), as the other kernels. */
typedef float qf4 __attribute__((vector_size(16)));
typedef uint32_t qu4 __attribute__((vector_size(16)));

static void panel_bf16_c(const rnn_qmat *q, const qpanel *p)
{
    const qu4 top = {0xffff0000u, 0xffff0000u, 0xffff0000u, 0xffff0000u};
    for (int i0 = 0; i0 < p->n; i0 += 32) {
        const int nv = p->n - i0 >= 32 ? 8 : (p->n - i0) / 4; /* 2, 4 or 6 when short */
        qf4 a[8] = {{0}};
        const uint8_t *w = p->w + 4 * (size_t)i0;
        for (int g = 0; g < p->groups; g++, w += p->gstride) {
            const float x0 = q->xf[2 * g], x1 = q->xf[2 * g + 1];
            qu4 r[8];
            memcpy(r, w, (size_t)nv * sizeof r[0]);
            for (int v = 0; v < nv; v++) {
                a[v] += (qf4)(r[v] & top) * x1;
                a[v] += (qf4)(r[v] << 16) * x0;
            }
        }
        float t[32];
        memcpy(t, a, sizeof t);
        for (int i = 0; i < 4 * nv; i++)
            p->y[i0 + i] += t[i];
    }
}

/* y += (float)sum * (row scale * input scale), rounded step by step: the
 * finish of every int8 kernel. */
static void finish_int8_c(const qpanel *p, const int32_t *acc, float sx)
{
    for (int i = 0; i < p->n; i++) {
        const float s = p->sw[i] * sx;
        const float t = (float)acc[i] * s;
        p->y[i] = p->y[i] + t;
    }
}

/* One int32 sum per row, a group's 4 products at a time (the compiler
 * vectorises the loop over rows). */
static void panel_int8_c(const rnn_qmat *q, const qpanel *p)
{
    int32_t acc[PANEL] = {0};
    const int8_t *x = (const int8_t *)q->xg;
    for (int g = 0; g < p->groups; g++) {
        const int8_t *w = (const int8_t *)(p->w + (size_t)g * p->gstride);
        const int32_t x0 = x[4 * g], x1 = x[4 * g + 1], x2 = x[4 * g + 2], x3 = x[4 * g + 3];
        for (int i = 0; i < p->n; i++)
            acc[i] += w[4 * i] * x0 + w[4 * i + 1] * x1 + w[4 * i + 2] * x2 + w[4 * i + 3] * x3;
    }
    finish_int8_c(p, acc, q->sx);
}

/* Input rounding for the portable kernels; 0, or -1 when an int8 input is
 * not finite. The padding past K is 0 (128 in xu) from create on and never
 * written. */
static int prep_bf16_c(rnn_qmat *q, const float *x)
{
    for (int k = 0; k < q->cols; k++)
        q->xf[k] = rnn_bf16_to_float(rnn_bf16_from_float(x[k]));
    return 0;
}

static int prep_int8_c(rnn_qmat *q, const float *x)
{
    q->sx = rnn_qmat_quantize_input(x, q->cols, (int8_t *)q->xg);
    return q->sx < 0.0f ? -1 : 0;
}

static int cpu_any(void)
{
    return 1;
}

/* ---------------------------------------------------------------------------
 * x86-64 kernels. Each is an always-inlined body for a constant number of
 * row vectors, and a switch that calls it for the 1..8 units of 8 rows of a
 * call, so every accumulator stays in a register. */
#ifdef QMAT_X86

#define T_BF16 __attribute__((target("avx512bf16,avx512f,avx512vl,avx512bw")))
#define T_VNNI512 __attribute__((target("avx512vnni,avx512f,avx512vl,avx512bw")))
#define T_AVXVNNI __attribute__((target("avxvnni,avx2,fma")))
#define T_AVX2 __attribute__((target("avx2,fma")))

/* The switch over units of 8 rows: BODY(z, h) with z 16-row vectors and h
 * one 8-row vector more or not. */
#define QMAT_UNITS_16(BODY)                                                                        \
    switch (p->n / 8) {                                                                            \
    case 8:                                                                                        \
        BODY(4, 0);                                                                                \
        break;                                                                                     \
    case 7:                                                                                        \
        BODY(3, 1);                                                                                \
        break;                                                                                     \
    case 6:                                                                                        \
        BODY(3, 0);                                                                                \
        break;                                                                                     \
    case 5:                                                                                        \
        BODY(2, 1);                                                                                \
        break;                                                                                     \
    case 4:                                                                                        \
        BODY(2, 0);                                                                                \
        break;                                                                                     \
    case 3:                                                                                        \
        BODY(1, 1);                                                                                \
        break;                                                                                     \
    case 2:                                                                                        \
        BODY(1, 0);                                                                                \
        break;                                                                                     \
    default:                                                                                       \
        BODY(0, 1);                                                                                \
        break;                                                                                     \
    }

/* The same for kernels of 8-row vectors only: BODY(v), v = 1..8. */
#define QMAT_UNITS_8(BODY)                                                                         \
    switch (p->n / 8) {                                                                            \
    case 8:                                                                                        \
        BODY(8);                                                                                   \
        break;                                                                                     \
    case 7:                                                                                        \
        BODY(7);                                                                                   \
        break;                                                                                     \
    case 6:                                                                                        \
        BODY(6);                                                                                   \
        break;                                                                                     \
    case 5:                                                                                        \
        BODY(5);                                                                                   \
        break;                                                                                     \
    case 4:                                                                                        \
        BODY(4);                                                                                   \
        break;                                                                                     \
    case 3:                                                                                        \
        BODY(3);                                                                                   \
        break;                                                                                     \
    case 2:                                                                                        \
        BODY(2);                                                                                   \
        break;                                                                                     \
    default:                                                                                       \
        BODY(1);                                                                                   \
        break;                                                                                     \
    }

/* --- bf16, AVX512-BF16: vdpbf16ps, 16 rows x 2 columns per instruction. */

T_BF16 QMAT_INLINE void bf16_512(const rnn_qmat *q, const qpanel *p, const int z, const int h)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m256 b = _mm256_setzero_ps();
    const uint8_t *w = p->w;
    for (int g = 0; g < p->groups; g++, w += p->gstride) {
        const __m512i x = _mm512_set1_epi32((int)q->xg[g]);
        if (z > 0) a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(w), (__m512bh)x);
        if (z > 1) a1 = _mm512_dpbf16_ps(a1, (__m512bh)_mm512_loadu_si512(w + 64), (__m512bh)x);
        if (z > 2) a2 = _mm512_dpbf16_ps(a2, (__m512bh)_mm512_loadu_si512(w + 128), (__m512bh)x);
        if (z > 3) a3 = _mm512_dpbf16_ps(a3, (__m512bh)_mm512_loadu_si512(w + 192), (__m512bh)x);
        if (h)
            b = _mm256_dpbf16_ps(b, (__m256bh)_mm256_loadu_si256((const void *)(w + 64 * z)),
                                 (__m256bh)_mm512_castsi512_si256(x));
    }
    float *y = p->y;
    if (z > 0) _mm512_storeu_ps(y, _mm512_add_ps(_mm512_loadu_ps(y), a0));
    if (z > 1) _mm512_storeu_ps(y + 16, _mm512_add_ps(_mm512_loadu_ps(y + 16), a1));
    if (z > 2) _mm512_storeu_ps(y + 32, _mm512_add_ps(_mm512_loadu_ps(y + 32), a2));
    if (z > 3) _mm512_storeu_ps(y + 48, _mm512_add_ps(_mm512_loadu_ps(y + 48), a3));
    if (h) _mm256_storeu_ps(y + 16 * z, _mm256_add_ps(_mm256_loadu_ps(y + 16 * z), b));
}

T_BF16 static void panel_bf16_512(const rnn_qmat *q, const qpanel *p)
{
#define BODY(z, h) bf16_512(q, p, z, h)
    QMAT_UNITS_16(BODY);
#undef BODY
}

/* Two whole panels at once, 8 accumulators: one vdpbf16ps takes several
 * cycles, and the 4 chains of one panel leave the unit idle while the
 * weights are in cache. Each row is still summed alone in column order. */
T_BF16 static void pair_bf16_512(const rnn_qmat *q, const qpanel *pa, const qpanel *pb)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    const uint8_t *wa = pa->w, *wb = pb->w;
    for (int g = 0; g < pa->groups; g++, wa += pa->gstride, wb += pb->gstride) {
        const __m512bh x = (__m512bh)_mm512_set1_epi32((int)q->xg[g]);
        a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(wa), x);
        a1 = _mm512_dpbf16_ps(a1, (__m512bh)_mm512_loadu_si512(wa + 64), x);
        a2 = _mm512_dpbf16_ps(a2, (__m512bh)_mm512_loadu_si512(wa + 128), x);
        a3 = _mm512_dpbf16_ps(a3, (__m512bh)_mm512_loadu_si512(wa + 192), x);
        b0 = _mm512_dpbf16_ps(b0, (__m512bh)_mm512_loadu_si512(wb), x);
        b1 = _mm512_dpbf16_ps(b1, (__m512bh)_mm512_loadu_si512(wb + 64), x);
        b2 = _mm512_dpbf16_ps(b2, (__m512bh)_mm512_loadu_si512(wb + 128), x);
        b3 = _mm512_dpbf16_ps(b3, (__m512bh)_mm512_loadu_si512(wb + 192), x);
    }
    float *ya = pa->y, *yb = pb->y;
    _mm512_storeu_ps(ya, _mm512_add_ps(_mm512_loadu_ps(ya), a0));
    _mm512_storeu_ps(ya + 16, _mm512_add_ps(_mm512_loadu_ps(ya + 16), a1));
    _mm512_storeu_ps(ya + 32, _mm512_add_ps(_mm512_loadu_ps(ya + 32), a2));
    _mm512_storeu_ps(ya + 48, _mm512_add_ps(_mm512_loadu_ps(ya + 48), a3));
    _mm512_storeu_ps(yb, _mm512_add_ps(_mm512_loadu_ps(yb), b0));
    _mm512_storeu_ps(yb + 16, _mm512_add_ps(_mm512_loadu_ps(yb + 16), b1));
    _mm512_storeu_ps(yb + 32, _mm512_add_ps(_mm512_loadu_ps(yb + 32), b2));
    _mm512_storeu_ps(yb + 48, _mm512_add_ps(_mm512_loadu_ps(yb + 48), b3));
}

/* --- bf16, AVX2 + FMA: widened to float (a bf16 is the top half of its
 * float), one FMA per column; the products are exact, so the FMA adds the
 * same numbers as the portable kernel, in the same order. */

T_AVX2 QMAT_INLINE void bf16_avx2(const rnn_qmat *q, const qpanel *p, const int v)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    const __m256i hi = _mm256_set1_epi32((int)0xffff0000u);
    const uint8_t *w = p->w;
    for (int g = 0; g < p->groups; g++, w += p->gstride) {
        const __m256 x0 = _mm256_set1_ps(q->xf[2 * g]), x1 = _mm256_set1_ps(q->xf[2 * g + 1]);
#define COL(i, acc)                                                                                \
    if (v > i) {                                                                                   \
        const __m256i r = _mm256_loadu_si256((const void *)(w + 32 * i));                          \
        acc = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(r, hi)), x1, acc);              \
        acc = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(r, 16)), x0, acc);             \
    }
        COL(0, a0);
        COL(1, a1);
        COL(2, a2);
        COL(3, a3);
        COL(4, a4);
        COL(5, a5);
        COL(6, a6);
        COL(7, a7);
#undef COL
    }
    float *y = p->y;
#define OUT(i, acc)                                                                                \
    if (v > i) _mm256_storeu_ps(y + 8 * i, _mm256_add_ps(_mm256_loadu_ps(y + 8 * i), acc));
    OUT(0, a0);
    OUT(1, a1);
    OUT(2, a2);
    OUT(3, a3);
    OUT(4, a4);
    OUT(5, a5);
    OUT(6, a6);
    OUT(7, a7);
#undef OUT
}

T_AVX2 static void panel_bf16_avx2(const rnn_qmat *q, const qpanel *p)
{
#define BODY(v) bf16_avx2(q, p, v)
    QMAT_UNITS_8(BODY);
#undef BODY
}

/* --- int8 finish, 8 rows: y += (float)(acc - corr) * (sw * sx). */
#define FINISH8(y, acc, corr, sw, sx)                                                              \
    do {                                                                                           \
        __m256i a_ = (acc);                                                                        \
        if (corr) a_ = _mm256_sub_epi32(a_, _mm256_loadu_si256((const void *)(corr)));             \
        const __m256 s_ = _mm256_mul_ps(_mm256_loadu_ps(sw), _mm256_set1_ps(sx));                  \
        const __m256 t_ = _mm256_mul_ps(_mm256_cvtepi32_ps(a_), s_);                               \
        _mm256_storeu_ps((y), _mm256_add_ps(_mm256_loadu_ps(y), t_));                              \
    } while (0)

/* --- int8, AVX512-VNNI: vpdpbusd, 16 rows x 4 columns per instruction. */

/* 16 rows of sums: y += (float)(acc - corr) * (sw * sx). */
T_VNNI512 QMAT_INLINE void finish16(const qpanel *p, int i, __m512i acc, __m512 sx)
{
    const __m512i c = _mm512_sub_epi32(acc, _mm512_loadu_si512(p->corr + 16 * i));
    const __m512 s = _mm512_mul_ps(_mm512_loadu_ps(p->sw + 16 * i), sx);
    const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(c), s);
    _mm512_storeu_ps(p->y + 16 * i, _mm512_add_ps(_mm512_loadu_ps(p->y + 16 * i), t));
}

/* Integer sums are exact in any order, so the even and the odd column
 * groups go to two sets of accumulators (twice the independent chains for
 * vpdpbusd's latency) without changing any result. */
T_VNNI512 QMAT_INLINE void int8_512(const rnn_qmat *q, const qpanel *p, const int z, const int h)
{
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    __m512i c0 = a0, c1 = a0, c2 = a0, c3 = a0;
    __m256i b = _mm256_setzero_si256(), d = b;
    const uint8_t *w = p->w;
    const size_t gs = p->gstride;
    int g = 0;
    for (; g + 1 < p->groups; g += 2, w += 2 * gs) {
        const __m512i x = _mm512_set1_epi32((int)q->xu[g]);
        const __m512i y = _mm512_set1_epi32((int)q->xu[g + 1]);
        if (z > 0) a0 = _mm512_dpbusd_epi32(a0, x, _mm512_loadu_si512(w));
        if (z > 1) a1 = _mm512_dpbusd_epi32(a1, x, _mm512_loadu_si512(w + 64));
        if (z > 2) a2 = _mm512_dpbusd_epi32(a2, x, _mm512_loadu_si512(w + 128));
        if (z > 3) a3 = _mm512_dpbusd_epi32(a3, x, _mm512_loadu_si512(w + 192));
        if (h)
            b = _mm256_dpbusd_epi32(b, _mm512_castsi512_si256(x),
                                    _mm256_loadu_si256((const void *)(w + 64 * z)));
        if (z > 0) c0 = _mm512_dpbusd_epi32(c0, y, _mm512_loadu_si512(w + gs));
        if (z > 1) c1 = _mm512_dpbusd_epi32(c1, y, _mm512_loadu_si512(w + gs + 64));
        if (z > 2) c2 = _mm512_dpbusd_epi32(c2, y, _mm512_loadu_si512(w + gs + 128));
        if (z > 3) c3 = _mm512_dpbusd_epi32(c3, y, _mm512_loadu_si512(w + gs + 192));
        if (h)
            d = _mm256_dpbusd_epi32(d, _mm512_castsi512_si256(y),
                                    _mm256_loadu_si256((const void *)(w + gs + 64 * z)));
    }
    if (g < p->groups) {
        const __m512i x = _mm512_set1_epi32((int)q->xu[g]);
        if (z > 0) a0 = _mm512_dpbusd_epi32(a0, x, _mm512_loadu_si512(w));
        if (z > 1) a1 = _mm512_dpbusd_epi32(a1, x, _mm512_loadu_si512(w + 64));
        if (z > 2) a2 = _mm512_dpbusd_epi32(a2, x, _mm512_loadu_si512(w + 128));
        if (z > 3) a3 = _mm512_dpbusd_epi32(a3, x, _mm512_loadu_si512(w + 192));
        if (h)
            b = _mm256_dpbusd_epi32(b, _mm512_castsi512_si256(x),
                                    _mm256_loadu_si256((const void *)(w + 64 * z)));
    }
    const __m512 sx = _mm512_set1_ps(q->sx);
    if (z > 0) finish16(p, 0, _mm512_add_epi32(a0, c0), sx);
    if (z > 1) finish16(p, 1, _mm512_add_epi32(a1, c1), sx);
    if (z > 2) finish16(p, 2, _mm512_add_epi32(a2, c2), sx);
    if (z > 3) finish16(p, 3, _mm512_add_epi32(a3, c3), sx);
    if (h) FINISH8(p->y + 16 * z, _mm256_add_epi32(b, d), p->corr + 16 * z, p->sw + 16 * z, q->sx);
}

T_VNNI512 static void panel_int8_512(const rnn_qmat *q, const qpanel *p)
{
#define BODY(z, h) int8_512(q, p, z, h)
    QMAT_UNITS_16(BODY);
#undef BODY
}

/* --- int8, AVX-VNNI (VEX vpdpbusd) on 8-row vectors; and AVX2, where
 * |w| x (+-x) by vpmaddubsw (pair sums within int16) and vpmaddwd by 1 sum
 * the 4 products of a row exactly. */

#define INT8_YMM(S, ATTR, STEP, XV, CORR)                                                          \
    ATTR QMAT_INLINE void int8_##S(const rnn_qmat *q, const qpanel *p, const int v)                \
    {                                                                                              \
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, \
                a7 = a0;                                                                           \
        const __m256i one = _mm256_set1_epi16(1);                                                  \
        (void)one;                                                                                 \
        const uint8_t *w = p->w;                                                                   \
        for (int g = 0; g < p->groups; g++, w += p->gstride) {                                     \
            const __m256i x = _mm256_set1_epi32((int)q->XV[g]);                                    \
            if (v > 0) STEP(a0, 0);                                                                \
            if (v > 1) STEP(a1, 1);                                                                \
            if (v > 2) STEP(a2, 2);                                                                \
            if (v > 3) STEP(a3, 3);                                                                \
            if (v > 4) STEP(a4, 4);                                                                \
            if (v > 5) STEP(a5, 5);                                                                \
            if (v > 6) STEP(a6, 6);                                                                \
            if (v > 7) STEP(a7, 7);                                                                \
        }                                                                                          \
        const int32_t *c = CORR;                                                                   \
        (void)c;                                                                                   \
        if (v > 0) FINISH8(p->y, a0, CORR, p->sw, q->sx);                                          \
        if (v > 1) FINISH8(p->y + 8, a1, (c ? c + 8 : c), p->sw + 8, q->sx);                       \
        if (v > 2) FINISH8(p->y + 16, a2, (c ? c + 16 : c), p->sw + 16, q->sx);                    \
        if (v > 3) FINISH8(p->y + 24, a3, (c ? c + 24 : c), p->sw + 24, q->sx);                    \
        if (v > 4) FINISH8(p->y + 32, a4, (c ? c + 32 : c), p->sw + 32, q->sx);                    \
        if (v > 5) FINISH8(p->y + 40, a5, (c ? c + 40 : c), p->sw + 40, q->sx);                    \
        if (v > 6) FINISH8(p->y + 48, a6, (c ? c + 48 : c), p->sw + 48, q->sx);                    \
        if (v > 7) FINISH8(p->y + 56, a7, (c ? c + 56 : c), p->sw + 56, q->sx);                    \
    }                                                                                              \
    ATTR static void panel_int8_##S(const rnn_qmat *q, const qpanel *p)                            \
    {                                                                                              \
        QMAT_UNITS_8(int8_##S##_BODY)                                                              \
    }

#define STEP_AVXVNNI(acc, i)                                                                       \
    acc = _mm256_dpbusd_avx_epi32(acc, x, _mm256_loadu_si256((const void *)(w + 32 * i)))
#define STEP_AVX2(acc, i)                                                                          \
    do {                                                                                           \
        const __m256i r_ = _mm256_loadu_si256((const void *)(w + 32 * i));                         \
        const __m256i m_ = _mm256_maddubs_epi16(_mm256_abs_epi8(r_), _mm256_sign_epi8(x, r_));     \
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(m_, one));                                   \
    } while (0)

#define int8_avxvnni_BODY(v) int8_avxvnni(q, p, v)
#define int8_avx2_BODY(v) int8_avx2(q, p, v)
/* clang-format off */
INT8_YMM(avxvnni, T_AVXVNNI, STEP_AVXVNNI, xu, p->corr)
INT8_YMM(avx2, T_AVX2, STEP_AVX2, xg, (const int32_t *)NULL)
/* clang-format on */

/* The unsigned form of the int8 input for vpdpbusd: q + 128 per byte. */
static void offset_input(rnn_qmat *q, int from)
{
    const uint8_t *xs = (const uint8_t *)q->xg;
    uint8_t *xu = (uint8_t *)q->xu;
    for (int k = from; k < q->cols; k++)
        xu[k] = (uint8_t)(xs[k] ^ 0x80u);
}

/* --- Input rounding of the x86-64 kernels: the same numbers as the
 * portable functions (rnn_bf16_from_float, quantize_with), vectorised. */

/* bf16 for vdpbf16ps: vcvtne2ps2bf16 rounds to nearest even as
 * rnn_bf16_from_float does, but reads denormals as zero; so does vdpbf16ps,
 * so the products are the same. 32 columns per step (xg has room). */
T_BF16 static int prep_bf16_512(rnn_qmat *q, const float *x)
{
    const int K = q->cols;
    for (int k = 0; k < K; k += 32) {
        const int left = K - k;
        const __mmask16 m0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
        const __mmask16 m1 = left >= 32  ? 0xffff
                             : left > 16 ? (__mmask16)((1u << (left - 16)) - 1)
                                         : 0;
        const __m512 lo = _mm512_maskz_loadu_ps(m0, x + k);
        const __m512 hi = m1 ? _mm512_maskz_loadu_ps(m1, x + k + 16) : _mm512_setzero_ps();
        _mm512_storeu_si512(q->xg + k / 2, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
    return 0;
}

/* bf16 as floats for the widening kernel: rnn_bf16_from_float on 8 lanes. */
T_AVX2 static int prep_bf16_avx2(rnn_qmat *q, const float *x)
{
    const int K = q->cols;
    const __m256i mag = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    const __m256i half = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1);
    const __m256i quiet = _mm256_set1_epi32(0x00400000), top = _mm256_set1_epi32((int)0xffff0000u);
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        const __m256i u = _mm256_loadu_si256((const void *)(x + k));
        const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, mag), inf);
        __m256i r = _mm256_add_epi32(
            u, _mm256_add_epi32(half, _mm256_and_si256(_mm256_srli_epi32(u, 16), one)));
        r = _mm256_blendv_epi8(r, _mm256_or_si256(u, quiet), nan);
        _mm256_storeu_ps(q->xf + k, _mm256_castsi256_ps(_mm256_and_si256(r, top)));
    }
    for (; k < K; k++)
        q->xf[k] = rnn_bf16_to_float(rnn_bf16_from_float(x[k]));
    return 0;
}

/* int8 with AVX-512, the unsigned form only (all vpdpbusd reads). */
T_VNNI512 static int prep_int8_512(rnn_qmat *q, const float *x)
{
    const int K = q->cols;
    const __m512 big = _mm512_set1_ps(FLT_MAX);
    __m512 mx = _mm512_setzero_ps();
    __mmask16 bad = 0;
    for (int k = 0; k < K; k += 16) {
        const __mmask16 m = K - k >= 16 ? 0xffff : (__mmask16)((1u << (K - k)) - 1);
        const __m512 a = _mm512_abs_ps(_mm512_maskz_loadu_ps(m, x + k));
        bad |= _mm512_cmp_ps_mask(a, big, _CMP_NLE_UQ);
        mx = _mm512_max_ps(mx, a);
    }
    if (bad) return -1;
    const float m = _mm512_reduce_max_ps(mx);
    if (!(m >= TINY)) {
        prep_int8_c(q, x);
        offset_input(q, 0);
        return 0;
    }
    /* clamping before the rounding equals clamping after: +-127 are integers */
    const __m512 inv = _mm512_set1_ps(127.0f / m), lo = _mm512_set1_ps(-127.0f),
                 hi = _mm512_set1_ps(127.0f);
    uint8_t *xu = (uint8_t *)q->xu;
    for (int k = 0; k < K; k += 16) {
        const __mmask16 m16 = K - k >= 16 ? 0xffff : (__mmask16)((1u << (K - k)) - 1);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m16, x + k), inv);
        v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
        const __m128i b = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v));
        _mm_mask_storeu_epi8(xu + k, m16, _mm_xor_si128(b, _mm_set1_epi8((char)0x80)));
    }
    q->sx = m / 127.0f;
    return 0;
}

/* int8 with AVX2: both forms (the AVX2 kernel reads the signed one). */
T_AVX2 static int prep_int8_avx2(rnn_qmat *q, const float *x)
{
    const int K = q->cols;
    const __m256 mag = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 big = _mm256_set1_ps(FLT_MAX);
    __m256 mx = _mm256_setzero_ps(), badv = mx;
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        const __m256 a = _mm256_and_ps(_mm256_loadu_ps(x + k), mag);
        badv = _mm256_or_ps(badv, _mm256_cmp_ps(a, big, _CMP_NLE_UQ));
        mx = _mm256_max_ps(mx, a);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    float m = _mm_cvtss_f32(m4);
    int bad = _mm256_movemask_ps(badv);
    for (; k < K; k++) {
        const float a = fabsf(x[k]);
        bad |= !(a <= FLT_MAX);
        m = a > m ? a : m;
    }
    if (bad) return -1;
    if (!(m >= TINY)) {
        prep_int8_c(q, x);
        offset_input(q, 0);
        return 0;
    }
    const float inv = 127.0f / m;
    const __m256 vinv = _mm256_set1_ps(inv), lo = _mm256_set1_ps(-127.0f),
                 hi = _mm256_set1_ps(127.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (k = 0; k + 32 <= K; k += 32) {
        __m256i i[4];
        for (int j = 0; j < 4; j++) {
            const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + k + 8 * j), vinv);
            i[j] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi));
        }
        /* the packs work per 128-bit lane: put the dwords back in order */
        __m256i b =
            _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3]));
        b = _mm256_permutevar8x32_epi32(b, order);
        _mm256_storeu_si256((void *)((uint8_t *)q->xg + k), b);
        _mm256_storeu_si256((void *)((uint8_t *)q->xu + k), _mm256_xor_si256(b, flip));
    }
    quantize_with(x + k, K - k, (int8_t *)q->xg + k, inv);
    offset_input(q, k);
    q->sx = m / 127.0f;
    return 0;
}

/* The CPU checks include the OS's support of the registers (XGETBV). */
static int cpu_bf16_512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw");
}

static int cpu_vnni_512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw");
}

/* AVX-VNNI is CPUID leaf 7 sub-leaf 1, EAX bit 4, asked directly: clang 14's
 * __builtin_cpu_supports does not know it; its ymm state is AVX2's. */
static int cpu_avxvnni(void)
{
    unsigned a, b, c, d;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 4 & 1);
}

static int cpu_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif /* QMAT_X86 */

/* Best first per dtype: the first one the CPU runs is picked at create. */
static const qkernel kernels[] = {
#ifdef QMAT_X86
    {"avx512bf16", RNN_QMAT_BF16, cpu_bf16_512, prep_bf16_512, panel_bf16_512, pair_bf16_512},
    {"avx2", RNN_QMAT_BF16, cpu_avx2, prep_bf16_avx2, panel_bf16_avx2, NULL},
#endif
    {"portable", RNN_QMAT_BF16, cpu_any, prep_bf16_c, panel_bf16_c, NULL},
#ifdef QMAT_X86
    {"avx512vnni", RNN_QMAT_INT8, cpu_vnni_512, prep_int8_512, panel_int8_512, NULL},
    {"avxvnni", RNN_QMAT_INT8, cpu_avxvnni, prep_int8_avx2, panel_int8_avxvnni, NULL},
    {"avx2", RNN_QMAT_INT8, cpu_avx2, prep_int8_avx2, panel_int8_avx2, NULL},
#endif
    {"portable", RNN_QMAT_INT8, cpu_any, prep_int8_c, panel_int8_c, NULL},
};
enum { NKERNELS = sizeof kernels / sizeof kernels[0] };

static const qkernel *kernel_find(rnn_qmat_dtype dtype, const char *name)
{
    for (int i = 0; i < NKERNELS; i++)
        if (kernels[i].dtype == dtype && (!name || strcmp(kernels[i].name, name) == 0) &&
            kernels[i].supported())
            return &kernels[i];
    return NULL;
}

const char *rnn_qmat_kernel_at(rnn_qmat_dtype dtype, int i)
{
    for (int k = 0; k < NKERNELS; k++)
        if (kernels[k].dtype == dtype && i-- == 0) return kernels[k].name;
    return NULL;
}

int rnn_qmat_kernel_supported(rnn_qmat_dtype dtype, const char *name)
{
    return name && kernel_find(dtype, name) != NULL;
}

int rnn_qmat_set_kernel(rnn_qmat *q, const char *name)
{
    const qkernel *k = name ? kernel_find(q->dtype, name) : NULL;
    if (!k) return -1;
    q->kernel = k;
    q->input = 0; /* rounded for the other kernel */
    return 0;
}

const char *rnn_qmat_kernel_name(const rnn_qmat *q)
{
    return q->kernel->name;
}

/* ---------------------------------------------------------------------------
 * Create. */

static size_t round_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

static void *carve(char **at, size_t bytes)
{
    void *p = *at;
    *at += round_up(bytes, ALIGN);
    return p;
}

/* The 4 bytes of group g of row r. */
static uint8_t *group_at(const rnn_qmat *q, int r, int g)
{
    const int p0 = r / PANEL * PANEL;
    const int pw = q->Rp - p0 < PANEL ? q->Rp - p0 : PANEL;
    return q->w + 4 * ((size_t)p0 * q->groups + (size_t)g * pw + (size_t)(r - p0));
}

static int check_shape(const void *w, int rows, int cols, size_t ld, char *err, size_t errlen)
{
    if (!w || rows < 1 || rows > MAX_ROWS || cols < 1 || cols > RNN_QMAT_MAX_COLS ||
        ld < (size_t)cols) {
        snprintf(err, errlen, "qmat: a %d x %d matrix (row stride %zu) is not 1..%d x 1..%d", rows,
                 cols, ld, MAX_ROWS, RNN_QMAT_MAX_COLS);
        return -1;
    }
    return 0;
}

/* A zeroed matrix of the shape, its scratch carved; NULL when out of memory. */
static rnn_qmat *qmat_alloc(rnn_qmat_dtype dtype, int rows, int cols, char *err, size_t errlen)
{
    rnn_qmat *q = calloc(1, sizeof *q);
    if (!q) {
        snprintf(err, errlen, "qmat: out of memory");
        return NULL;
    }
    q->dtype = dtype;
    q->rows = rows;
    q->cols = cols;
    q->Rp = (int)round_up((size_t)rows, UNIT);
    q->groups = dtype == RNN_QMAT_BF16 ? (cols + 1) / 2 : (cols + 3) / 4;
    q->kernel = kernel_find(dtype, NULL);
    const size_t G = (size_t)q->groups, Rp = (size_t)q->Rp;
    const size_t Gx = round_up(G, 16); /* input groups: prep_bf16_512 writes 16 at a time */
    size_t bytes = round_up(4 * Rp * G, ALIGN) + round_up(4 * Gx, ALIGN);
    if (dtype == RNN_QMAT_INT8)
        bytes += 2 * round_up(4 * Rp, ALIGN) + round_up(4 * G, ALIGN);
    else
        bytes += round_up(8 * G, ALIGN);
    q->block = aligned_alloc(ALIGN, bytes);
    if (!q->block) {
        snprintf(err, errlen, "qmat: out of memory (%zu bytes)", bytes);
        rnn_qmat_free(q);
        return NULL;
    }
    memset(q->block, 0, bytes);
    q->block_bytes = bytes;
    char *at = q->block;
    q->w = carve(&at, 4 * Rp * G);
    q->xg = carve(&at, 4 * Gx);
    if (dtype == RNN_QMAT_INT8) {
        q->sw = carve(&at, 4 * Rp);
        q->corr = carve(&at, 4 * Rp);
        q->xu = carve(&at, 4 * G);
        memset(q->xu, 0x80, 4 * G);
    } else {
        q->xf = carve(&at, 8 * G);
    }
    return q;
}

static void put_bf16(rnn_qmat *q, int r, int c, uint16_t b)
{
    memcpy(group_at(q, r, c / 2) + 2 * (c % 2), &b, 2);
}

static void put_int8_row(rnn_qmat *q, int r, const int8_t *row, float scale)
{
    int32_t sum = 0;
    for (int c = 0; c < q->cols; c++) {
        group_at(q, r, c / 4)[c % 4] = (uint8_t)row[c];
        sum += row[c];
    }
    q->sw[r] = scale;
    q->corr[r] = 128 * sum;
}

rnn_qmat *rnn_qmat_create(const float *w, int rows, int cols, size_t ld, rnn_qmat_dtype dtype,
                          char *err, size_t errlen)
{
    if (dtype != RNN_QMAT_BF16 && dtype != RNN_QMAT_INT8) {
        snprintf(err, errlen, "qmat: unknown dtype %d", (int)dtype);
        return NULL;
    }
    if (check_shape(w, rows, cols, ld, err, errlen) != 0) return NULL;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            const float v = w[(size_t)r * ld + c];
            if (!isfinite(v) ||
                (dtype == RNN_QMAT_BF16 && !isfinite(rnn_bf16_to_float(rnn_bf16_from_float(v))))) {
                snprintf(err, errlen, "qmat: weight (%d, %d) = %g %s", r, c, (double)v,
                         isfinite(v) ? "is beyond the range of bf16" : "is not finite");
                return NULL;
            }
        }
    rnn_qmat *q = qmat_alloc(dtype, rows, cols, err, errlen);
    int8_t *row = q && dtype == RNN_QMAT_INT8 ? malloc((size_t)cols) : NULL;
    if (!q || (dtype == RNN_QMAT_INT8 && !row)) {
        if (q) snprintf(err, errlen, "qmat: out of memory");
        rnn_qmat_free(q);
        return NULL;
    }
    for (int r = 0; r < rows; r++) {
        const float *wr = w + (size_t)r * ld;
        if (dtype == RNN_QMAT_BF16) {
            for (int c = 0; c < cols; c++)
                put_bf16(q, r, c, rnn_bf16_from_float(wr[c]));
        } else {
            const float s = rnn_qmat_quantize_input(wr, cols, row);
            put_int8_row(q, r, row, s);
        }
    }
    free(row);
    return q;
}

rnn_qmat *rnn_qmat_create_bf16(const uint16_t *w, int rows, int cols, size_t ld, char *err,
                               size_t errlen)
{
    if (check_shape(w, rows, cols, ld, err, errlen) != 0) return NULL;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            if ((w[(size_t)r * ld + c] & 0x7f80u) == 0x7f80u) {
                snprintf(err, errlen, "qmat: bf16 weight (%d, %d) = 0x%04x is not finite", r, c,
                         (unsigned)w[(size_t)r * ld + c]);
                return NULL;
            }
    rnn_qmat *q = qmat_alloc(RNN_QMAT_BF16, rows, cols, err, errlen);
    if (!q) return NULL;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            put_bf16(q, r, c, w[(size_t)r * ld + c]);
    return q;
}

rnn_qmat *rnn_qmat_create_int8(const int8_t *w, const float *scale, int rows, int cols, size_t ld,
                               char *err, size_t errlen)
{
    if (check_shape(w, rows, cols, ld, err, errlen) != 0) return NULL;
    if (!scale) {
        snprintf(err, errlen, "qmat: no row scales");
        return NULL;
    }
    for (int r = 0; r < rows; r++) {
        if (!(scale[r] >= 0.0f && scale[r] <= FLT_MAX)) {
            snprintf(err, errlen, "qmat: the scale of row %d (%g) is not finite and >= 0", r,
                     (double)scale[r]);
            return NULL;
        }
        for (int c = 0; c < cols; c++)
            if (w[(size_t)r * ld + c] < -127) {
                snprintf(err, errlen, "qmat: int8 weight (%d, %d) is -128, outside [-127, 127]", r,
                         c);
                return NULL;
            }
    }
    rnn_qmat *q = qmat_alloc(RNN_QMAT_INT8, rows, cols, err, errlen);
    if (!q) return NULL;
    for (int r = 0; r < rows; r++)
        put_int8_row(q, r, w + (size_t)r * ld, scale[r]);
    return q;
}

void rnn_qmat_free(rnn_qmat *q)
{
    if (!q) return;
    free(q->block);
    free(q);
}

size_t rnn_qmat_bytes(const rnn_qmat *q)
{
    return q ? sizeof *q + q->block_bytes : 0;
}

int rnn_qmat_rows(const rnn_qmat *q)
{
    return q->rows;
}

int rnn_qmat_cols(const rnn_qmat *q)
{
    return q->cols;
}

rnn_qmat_dtype rnn_qmat_get_dtype(const rnn_qmat *q)
{
    return q->dtype;
}

float rnn_qmat_weight(const rnn_qmat *q, int r, int c)
{
    if (q->dtype == RNN_QMAT_BF16) {
        uint16_t b;
        memcpy(&b, group_at(q, r, c / 2) + 2 * (c % 2), 2);
        return rnn_bf16_to_float(b);
    }
    return (float)rnn_qmat_weight_int8(q, r, c) * q->sw[r];
}

int rnn_qmat_weight_int8(const rnn_qmat *q, int r, int c)
{
    return q->dtype == RNN_QMAT_INT8 ? (int8_t)group_at(q, r, c / 4)[c % 4] : 0;
}

float rnn_qmat_row_scale(const rnn_qmat *q, int r)
{
    return q->dtype == RNN_QMAT_INT8 ? q->sw[r] : 1.0f;
}

/* ---------------------------------------------------------------------------
 * Products. */

/* Rows [r0, r1) of the prepared product, r0 and r1 multiples of UNIT, into
 * y[0 .. r1 - r0). */
static void run_rows(const rnn_qmat *q, float *y, int r0, int r1)
{
    qpanel p[2];
    const int first = r0;
    while (r0 < r1) {
        const int p0 = r0 / PANEL * PANEL;
        const int two = q->kernel->pair && r0 == p0 && p0 + 2 * PANEL <= r1;
        for (int i = 0; i <= two; i++) {
            const int s = i ? p0 + PANEL : r0, s0 = i ? s : p0;
            const int pw = q->Rp - s0 < PANEL ? q->Rp - s0 : PANEL;
            const int end = s0 + pw < r1 ? s0 + pw : r1;
            p[i].w = q->w + 4 * ((size_t)s0 * q->groups + (size_t)(s - s0));
            p[i].gstride = 4 * (size_t)pw;
            p[i].groups = q->groups;
            p[i].y = y + (s - first);
            p[i].n = end - s;
            p[i].sw = q->sw ? q->sw + s : NULL;
            p[i].corr = q->corr ? q->corr + s : NULL;
        }
        if (two)
            q->kernel->pair(q, &p[0], &p[1]);
        else
            q->kernel->panel(q, &p[0]);
        r0 += two ? 2 * PANEL : p[0].n;
    }
}

int rnn_qmat_input(rnn_qmat *q, const float *x)
{
    q->input = q->kernel->prepare(q, x) == 0 ? 1 : -1;
    return q->input > 0 ? 0 : -1;
}

void rnn_qmat_mv_input(const rnn_qmat *q, float *y, int r0, int r1)
{
    if (r1 > q->rows) r1 = q->rows;
    if (r0 < 0 || r0 % UNIT || r0 >= r1 || q->input == 0) return;
    if (q->input < 0) {
        for (int r = r0; r < r1; r++)
            y[r] += NAN;
        return;
    }
    const int full = r1 / UNIT * UNIT;
    run_rows(q, y + r0, r0, full);
    if (full < r1) {
        /* the last rows end inside a unit: its padded rows go to a buffer */
        float t[UNIT] = {0};
        memcpy(t, y + full, (size_t)(r1 - full) * sizeof(float));
        run_rows(q, t, full, full + UNIT);
        memcpy(y + full, t, (size_t)(r1 - full) * sizeof(float));
    }
}

void rnn_qmat_mv_rows(rnn_qmat *q, float *y, const float *x, int r0, int r1)
{
    if (r1 > q->rows) r1 = q->rows;
    if (r0 < 0 || r0 % UNIT || r0 >= r1) return;
    rnn_qmat_input(q, x);
    rnn_qmat_mv_input(q, y, r0, r1);
}

void rnn_qmat_mv(rnn_qmat *q, float *y, const float *x)
{
    rnn_qmat_mv_rows(q, y, x, 0, q->rows);
}
