/* SPDX-License-Identifier: MIT */
/* rnnmidi core: attention over the last n top-layer outputs (contract in
 * attention.h, equations in FORMAT.md).
 *
 * Layout made at create: W1 and W2 are stored transposed side by side, one
 * row of 2 Ap floats per input column k ([W1[:, k] | W2[:, k]], each padded
 * with zeros to Ap, a multiple of 8), so both projections are one pass of
 * h[k] * row over k: every output is summed in column order and the inner
 * loop is an 8-wide vector update with no horizontal sum, as core/net.c does
 * its products. Padded attention rows project to 0, tanh(0) = 0 and their v
 * is 0, so they add nothing to a score; padded hidden columns of the ring
 * stay 0.
 *
 * tanh is a rational approximation (Eigen's fast float tanh: odd degree-13
 * numerator over even degree-6 denominator on [-7.9, 7.9], clamped beyond,
 * a few ulp) computed 8 at a time, because the n A of them per step would
 * cost more than the rest of the layer through libm. The n exponentials of
 * the softmax go through expf.
 *
 * The step is GCC vector-extension C built three times, as core/net.c's
 * kernels are: for x86-64-v4, x86-64-v3 (both with FMA contraction) and the
 * baseline (8-float vectors there too, two SSE2 or NEON registers each),
 * and each layer picks at create the best its CPU runs. Results can differ
 * in the last bits between builds, never between two runs of one build.
 * tests/unit/test_attention_generic.c and test_attention_v3.c run the
 * tests on the other builds.
 *
 * Denormals: each piece of work sets FTZ/DAZ in MXCSR on x86 and restores
 * the caller's mode before returning, as the net's step does. Letters: H
 * hidden (Hp padded), A attention size (Ap padded), n window. */
#include "attention.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || (defined(__i386__) && defined(__SSE__))
#include <xmmintrin.h>
#define ATTN_HAVE_MXCSR 1
#endif

typedef float vf8 __attribute__((vector_size(32), may_alias));
typedef int32_t vi8 __attribute__((vector_size(32), may_alias));

#define VW 8 /* floats per vector; H and A are padded to it */

#if defined(__GNUC__) && !defined(__clang__)
#define ATTN_CONTRACT __attribute__((optimize("fp-contract=fast")))
#if defined(__x86_64__) && __GNUC__ >= 12 && !(defined(RNN_ATTN_ISA) && RNN_ATTN_ISA == 0)
#define ATTN_X86_LEVELS 1
#endif
#else
#define ATTN_CONTRACT
#endif
#define ATTN_INLINE static inline __attribute__((always_inline))

/* Tests pin a build with RNN_ATTN_ISA: 0 compiles the baseline only, 3 runs
 * x86-64-v3 at most. */
#ifndef RNN_ATTN_ISA
#define RNN_ATTN_ISA 4
#endif

typedef int (*work_fn)(rnn_attn *at, size_t budget);

enum { PH_PROJECT, PH_SCORE, PH_CONTEXT, PH_DONE }; /* the phases of an attend */

struct rnn_attn {
    int H, A, n, Hp, Ap;
    int count;     /* stored outputs, 0..n */
    int pos;       /* ring slot the next output goes to */
    float *wt;     /* (H, 2 Ap): [W1^T | W2^T], padded */
    float *v;      /* (Ap) */
    float *ring_h; /* (n, Hp) */
    float *ring_p; /* (n, Ap): W1 h of each stored output */
    float *pq;     /* (2 Ap): W1 h_t, then W2 h_t */
    float *hnew;   /* (Hp): h_t, until committed */
    int phase;     /* of the attend under way, PH_DONE for none */
    int next;      /* the phase's next input column or key */
    size_t done;   /* units of work of the attend under way done so far */
    int pending;   /* an attended h_t waits for its commit */
    float *ctx;    /* (Hp) */
    float *att;    /* (n) weights of the last step, oldest first, right-aligned */
    float *u;      /* (n) scores, oldest first */
    work_fn work;
    const char *kernel;
    size_t bytes;
};

static int work_base(rnn_attn *at, size_t budget);
#ifdef ATTN_X86_LEVELS
static int work_v3(rnn_attn *at, size_t budget);
static int work_v4(rnn_attn *at, size_t budget);
#endif

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen) snprintf(err, errlen, "%s", msg);
}

static float *alloc_floats(rnn_attn *at, size_t n)
{
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (p) {
        memset(p, 0, bytes ? bytes : 64);
        at->bytes += bytes;
    }
    return p;
}

rnn_attn *rnn_attn_create(int H, int A, int n, const float *W1, const float *W2, const float *v,
                          char *err, size_t errlen)
{
    if (H < 1 || H > RNN_ATTN_MAX_H || A < 1 || A > RNN_ATTN_MAX_A || n < 1 || n > RNN_ATTN_MAX_N) {
        set_err(err, errlen, "attention: sizes out of range");
        return NULL;
    }
    if (!W1 || !W2 || !v) {
        set_err(err, errlen, "attention: missing weights");
        return NULL;
    }
    rnn_attn *at = calloc(1, sizeof *at);
    if (!at) {
        set_err(err, errlen, "attention: out of memory");
        return NULL;
    }
    at->bytes = sizeof *at;
    at->H = H;
    at->A = A;
    at->n = n;
    at->Hp = (H + VW - 1) / VW * VW;
    at->Ap = (A + VW - 1) / VW * VW;
    const size_t Hp = (size_t)at->Hp, Ap = (size_t)at->Ap, N = (size_t)n;
    at->wt = alloc_floats(at, (size_t)H * 2 * Ap);
    at->v = alloc_floats(at, Ap);
    at->ring_h = alloc_floats(at, N * Hp);
    at->ring_p = alloc_floats(at, N * Ap);
    at->pq = alloc_floats(at, 2 * Ap);
    at->hnew = alloc_floats(at, Hp);
    at->ctx = alloc_floats(at, Hp);
    at->att = alloc_floats(at, N);
    at->u = alloc_floats(at, N);
    if (!at->wt || !at->v || !at->ring_h || !at->ring_p || !at->pq || !at->hnew || !at->ctx ||
        !at->att || !at->u) {
        rnn_attn_free(at);
        set_err(err, errlen, "attention: out of memory");
        return NULL;
    }
    for (int k = 0; k < H; k++)
        for (int a = 0; a < A; a++) {
            at->wt[(size_t)k * 2 * Ap + (size_t)a] = W1[(size_t)a * H + k];
            at->wt[(size_t)k * 2 * Ap + Ap + (size_t)a] = W2[(size_t)a * H + k];
        }
    memcpy(at->v, v, (size_t)A * sizeof(float));
    at->phase = PH_DONE;
    at->work = work_base;
    at->kernel = "baseline";
#ifdef ATTN_X86_LEVELS
    __builtin_cpu_init();
    if (RNN_ATTN_ISA >= 4 && __builtin_cpu_supports("x86-64-v4")) {
        at->work = work_v4;
        at->kernel = "x86-64-v4";
    } else if (__builtin_cpu_supports("x86-64-v3")) {
        at->work = work_v3;
        at->kernel = "x86-64-v3";
    }
#endif
    return at;
}

void rnn_attn_free(rnn_attn *at)
{
    if (!at) return;
    free(at->wt);
    free(at->v);
    free(at->ring_h);
    free(at->ring_p);
    free(at->pq);
    free(at->hnew);
    free(at->ctx);
    free(at->att);
    free(at->u);
    free(at);
}

size_t rnn_attn_bytes(const rnn_attn *at)
{
    return at ? at->bytes : 0;
}

void rnn_attn_reset(rnn_attn *at)
{
    at->count = 0;
    at->pos = 0;
    at->pending = 0;
    at->phase = PH_DONE;
    memset(at->ring_h, 0, (size_t)at->n * (size_t)at->Hp * sizeof(float));
    memset(at->ring_p, 0, (size_t)at->n * (size_t)at->Ap * sizeof(float));
    memset(at->ctx, 0, (size_t)at->Hp * sizeof(float));
    memset(at->att, 0, (size_t)at->n * sizeof(float));
}

/* The score v . tanh(p + q) over m vectors. tanh, 8 lanes at a time:
 * x P(x^2) / Q(x^2) on x clamped to +-7.90531 (where the ratio reaches 1 in
 * float). */
ATTN_INLINE float score(const vf8 *p, const vf8 *q, const vf8 *vv, size_t m)
{
    const float c = 7.90531110763549805f;
    const vf8 hi = {c, c, c, c, c, c, c, c}, lo = -hi;
    vf8 acc = {0};
    for (size_t j = 0; j < m; j++) {
        vf8 x = p[j] + q[j];
        const vi8 over = x > hi, under = x < lo;
        x = (vf8)(((vi8)x & ~over) | ((vi8)hi & over));
        x = (vf8)(((vi8)x & ~under) | ((vi8)lo & under));
        const vf8 x2 = x * x;
        vf8 num = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
        num = num * x2 + -8.60467152213735e-11f;
        num = num * x2 + 5.12229709037114e-08f;
        num = num * x2 + 1.48572235717979e-05f;
        num = num * x2 + 6.37261928875436e-04f;
        num = num * x2 + 4.89352455891786e-03f;
        num = num * x;
        vf8 den = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
        den = den * x2 + 2.26843463243900e-03f;
        den = den * x2 + 4.89352518554385e-03f;
        acc += vv[j] * (num / den);
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Slot of the k-th stored output, oldest first. */
static inline int slot(const rnn_attn *at, int k)
{
    int s = at->pos - at->count + k;
    return s < 0 ? s + at->n : s;
}

/* Work units of a score beside its A multiply-adds: its A tanh, each about
 * as dear as 5 multiply-adds in the vector code (bench_attention). */
#define TANH_UNITS 5

size_t rnn_attn_work_done(const rnn_attn *at)
{
    return at->done;
}

size_t rnn_attn_work_piece(const rnn_attn *at)
{
    const size_t A = (size_t)at->A * (1 + TANH_UNITS), H = (size_t)at->H;
    return A > H ? A : H;
}

size_t rnn_attn_work_max(const rnn_attn *at)
{
    const size_t H = (size_t)at->H, A = (size_t)at->A, n = (size_t)at->n;
    return 2 * A * H + n * A * (1 + TANH_UNITS) + n * H;
}

size_t rnn_attn_work_total(const rnn_attn *at)
{
    const size_t H = (size_t)at->H, A = (size_t)at->A, c = (size_t)at->count;
    return 2 * A * H + c * A * (1 + TANH_UNITS) + c * H;
}

void rnn_attn_begin(rnn_attn *at, const float *h)
{
    memcpy(at->hnew, h, (size_t)at->H * sizeof(float));
    memset(at->pq, 0, 2 * (size_t)at->Ap * sizeof(float));
    at->phase = PH_PROJECT;
    at->next = 0;
    at->pending = 0;
    at->done = 0;
}

/* The attention of a step from where the last piece stopped, for each
 * build: the projections one input column at a time, the scores one key at
 * a time, the softmax at once, the context one key at a time; each piece
 * does at least one unit of its phase. Every sum runs in the same order
 * however the work is cut, so a sliced attend is bit-identical to a whole
 * one. */
ATTN_INLINE int work_body(rnn_attn *at, size_t budget)
{
    const int H = at->H, A = at->A, n = at->n, cnt = at->count;
    const size_t Ap = (size_t)at->Ap, Hp = (size_t)at->Hp, W = 2 * Ap;
    size_t spent = 0;

    if (at->phase == PH_PROJECT) { /* [W1 h | W2 h] (2 Ap) */
        vf8 *pq = (vf8 *)at->pq;
        int k = at->next;
        do {
            const vf8 *row = (const vf8 *)(at->wt + (size_t)k * W);
            const float hk = at->hnew[k];
            for (size_t j = 0; j < W / VW; j++)
                pq[j] += row[j] * hk;
            spent += 2 * (size_t)A;
        } while (++k < H && spent < budget);
        at->next = k;
        if (k < H) return at->done += spent, 0;
        at->phase = PH_SCORE;
        at->next = 0;
    }

    if (at->phase == PH_SCORE) { /* scores, oldest first */
        const vf8 *q = (const vf8 *)(at->pq + Ap), *vv = (const vf8 *)at->v;
        int k = at->next;
        for (; k < cnt && (spent < budget || spent == 0); k++) {
            const vf8 *p = (const vf8 *)(at->ring_p + (size_t)slot(at, k) * Ap);
            at->u[k] = score(p, q, vv, Ap / VW);
            spent += (size_t)A * (1 + TANH_UNITS);
        }
        at->next = k;
        if (k < cnt) return at->done += spent, 0;
        float umax = -INFINITY, sum = 0.0f;
        for (k = 0; k < cnt; k++)
            umax = at->u[k] > umax ? at->u[k] : umax;
        for (k = 0; k < cnt; k++) {
            at->u[k] = expf(at->u[k] - umax);
            sum += at->u[k];
        }
        float *att = at->att;
        memset(att, 0, (size_t)n * sizeof(float));
        for (k = 0; k < cnt; k++)
            att[n - cnt + k] = at->u[k] / sum;
        memset(at->ctx, 0, Hp * sizeof(float));
        at->phase = PH_CONTEXT;
        at->next = 0;
    }

    if (at->phase == PH_CONTEXT) { /* the context, oldest first */
        vf8 *ctx = (vf8 *)at->ctx;
        int k = at->next;
        for (; k < cnt && (spent < budget || spent == 0); k++) {
            const vf8 *hi = (const vf8 *)(at->ring_h + (size_t)slot(at, k) * Hp);
            const float a = at->att[n - cnt + k];
            for (size_t j = 0; j < Hp / VW; j++)
                ctx[j] += hi[j] * a;
            spent += (size_t)H;
        }
        at->next = k;
        if (k < cnt) return at->done += spent, 0;
        at->phase = PH_DONE;
        at->pending = 1; /* h_t waits in hnew, W1 h_t in pq */
    }
    at->done += spent;
    return 1;
}

#ifdef ATTN_X86_LEVELS
__attribute__((target("arch=x86-64-v4"))) ATTN_CONTRACT static int work_v4(rnn_attn *at,
                                                                           size_t budget)
{
    return work_body(at, budget);
}

__attribute__((target("arch=x86-64-v3"))) ATTN_CONTRACT static int work_v3(rnn_attn *at,
                                                                           size_t budget)
{
    return work_body(at, budget);
}
#endif

static int work_base(rnn_attn *at, size_t budget)
{
    return work_body(at, budget);
}

int rnn_attn_work(rnn_attn *at, size_t budget)
{
    if (at->phase == PH_DONE) return 1;
#ifdef ATTN_HAVE_MXCSR
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040); /* FTZ | DAZ */
#endif
    const int done = at->work(at, budget);
#ifdef ATTN_HAVE_MXCSR
    _mm_setcsr(csr);
#endif
    return done;
}

const float *rnn_attn_attend(rnn_attn *at, const float *h)
{
    rnn_attn_begin(at, h);
    rnn_attn_work(at, SIZE_MAX);
    return at->ctx;
}

void rnn_attn_commit(rnn_attn *at)
{
    if (!at->pending) return;
    const size_t Ap = (size_t)at->Ap, Hp = (size_t)at->Hp;
    memcpy(at->ring_h + (size_t)at->pos * Hp, at->hnew, Hp * sizeof(float));
    memcpy(at->ring_p + (size_t)at->pos * Ap, at->pq, Ap * sizeof(float));
    at->pos = at->pos + 1 == at->n ? 0 : at->pos + 1;
    if (at->count < at->n) at->count++;
    at->pending = 0;
}

const float *rnn_attn_step(rnn_attn *at, const float *h)
{
    const float *c = rnn_attn_attend(at, h);
    rnn_attn_commit(at);
    return c;
}

const char *rnn_attn_kernel_name(const rnn_attn *at)
{
    return at->kernel;
}

const float *rnn_attn_context(const rnn_attn *at)
{
    return at->ctx;
}

const float *rnn_attn_weights(const rnn_attn *at)
{
    return at->att;
}

int rnn_attn_count(const rnn_attn *at)
{
    return at->count;
}

size_t rnn_attn_step_macs(int H, int A, int n)
{
    if (H < 1 || A < 1 || n < 1) return 0;
    return 2 * (size_t)A * (size_t)H + (size_t)n * (size_t)A + (size_t)n * (size_t)H;
}

size_t rnn_attn_state_size(const rnn_attn *at)
{
    return 1 + (size_t)at->n * ((size_t)at->H + (size_t)at->A);
}

void rnn_attn_state_get(const rnn_attn *at, float *dst)
{
    const size_t H = (size_t)at->H, A = (size_t)at->A, n = (size_t)at->n;
    dst[0] = (float)at->count;
    float *dh = dst + 1, *dp = dst + 1 + n * H;
    memset(dh, 0, n * (H + A) * sizeof(float));
    for (int k = 0; k < at->count; k++) {
        const size_t s = (size_t)slot(at, k);
        memcpy(dh + (size_t)k * H, at->ring_h + s * (size_t)at->Hp, H * sizeof(float));
        memcpy(dp + (size_t)k * A, at->ring_p + s * (size_t)at->Ap, A * sizeof(float));
    }
}

void rnn_attn_state_set(rnn_attn *at, const float *src)
{
    const size_t H = (size_t)at->H, A = (size_t)at->A, n = (size_t)at->n;
    rnn_attn_reset(at);
    const float c = src[0];
    if (!(c >= 0.0f && c <= (float)at->n) || c != (float)(int)c) return;
    const int cnt = (int)c;
    const float *sh = src + 1, *sp = src + 1 + n * H;
    for (int k = 0; k < cnt; k++) {
        memcpy(at->ring_h + (size_t)k * (size_t)at->Hp, sh + (size_t)k * H, H * sizeof(float));
        memcpy(at->ring_p + (size_t)k * (size_t)at->Ap, sp + (size_t)k * A, A * sizeof(float));
    }
    at->count = cnt;
    at->pos = cnt == at->n ? 0 : cnt;
}
