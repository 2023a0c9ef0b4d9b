/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the attention layer over a window, forward and backward
 * (contract in train_attention.h, equations in core/FORMAT.md).
 *
 * Keys are numbered on one time axis per lane that runs through the carried
 * outputs into the window: key e (0 <= e < N + T) is past row e for e < N
 * and window step e - N after; its projection W1 h is row e*B + b of the
 * cache's first block, so the past and the window are two sgemms into one
 * array. Step t of the window attends to keys t .. t+N-1 (the N steps
 * before it), those of the lane's sequence: e >= N - npast[b]. Entry k of
 * a row of att is key t + k, which puts the output j+1 steps back at entry
 * N-1-j as core/attention.c does.
 *
 * Backward, for one row with weights a_k over keys e_k, values x_k (the
 * outputs) and s_k = tanh(W1 x_k + q):
 *   da_k = dc . x_k,   dx_k += a_k dc (window keys only),
 *   du_k = a_k (da_k - sum_j a_j da_j)          (softmax),
 *   dv += du_k s_k,    dpre_k = du_k v (1 - s_k^2),
 *   dP_k += dpre_k,    dq += dpre_k;
 * then dW1 += dP^T x over every key row, dW2 += dQ^T h, and
 * dh += dP_window W1 + dQ W2.
 *
 * The loops over A and H are plain C the compiler vectorises, built for
 * AVX-512, AVX2 and baseline x86-64 and picked at run time (target_clones),
 * as train_kernels.c's; the Makefile gives this file the same flags. tanh is
 * core/attention.c's rational approximation. */
#include "train_attention.h"

#include "../core/attention.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

size_t rnn_attn_cache_size(int B, int T, int N, int A)
{
    return ((size_t)N + 2 * (size_t)T) * (size_t)B * (size_t)A;
}

size_t rnn_attn_scratch_size(int B, int T, int N, int A)
{
    return rnn_attn_cache_size(B, T, N, A);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define KERNEL
#endif

/* tanh as core/attention.c computes it (x P(x^2) / Q(x^2) on x clamped to
 * +-7.90531, a few ulp), branch-free so the loops below vectorise. */
static inline float ftanh(float x)
{
    x = x < -7.90531110763549805f ? -7.90531110763549805f : x;
    x = x > 7.90531110763549805f ? 7.90531110763549805f : x;
    const float x2 = x * x;
    float p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    float q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    return x * p / q;
}

/* Eight partial sums, added in a fixed order: a reduction the vectoriser
 * can take without reassociating. */
static inline float sum8(const float *acc)
{
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* v . tanh(p + q) over A */
KERNEL static float score(const float *p, const float *q, const float *v, int A)
{
    float acc[8] = {0}, u = 0.0f;
    int j = 0;
    for (; j + 8 <= A; j += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += v[j + l] * ftanh(p[j + l] + q[j + l]);
    for (; j < A; j++)
        u += v[j] * ftanh(p[j] + q[j]);
    return sum8(acc) + u;
}

/* x . y over H */
KERNEL static float dot(const float *x, const float *y, int H)
{
    float acc[8] = {0}, u = 0.0f;
    int k = 0;
    for (; k + 8 <= H; k += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += x[k + l] * y[k + l];
    for (; k < H; k++)
        u += x[k] * y[k];
    return sum8(acc) + u;
}

/* y += a x over H */
KERNEL static void axpy(float *restrict y, float a, const float *restrict x, int H)
{
    for (int k = 0; k < H; k++)
        y[k] += a * x[k];
}

/* One score's backward: s = tanh(p + q); dv += du s; the pre-activation's
 * gradient du v (1 - s^2) into dp and dq. */
KERNEL static void score_backward(float *restrict dv, float *restrict dp, float *restrict dq,
                                  const float *p, const float *q, const float *v, float du, int A)
{
    for (int j = 0; j < A; j++) {
        const float s = ftanh(p[j] + q[j]);
        dv[j] += du * s;
        const float dpre = du * v[j] * (1.0f - s * s);
        dp[j] += dpre;
        dq[j] += dpre;
    }
}

/* The output that key e of lane b is. */
static const float *key_row(const float *h, const float *past, int e, int b, int B, int N, int H)
{
    return e < N ? past + ((size_t)e * B + b) * H : h + ((size_t)(e - N) * B + b) * H;
}

/* The first key of step t of lane b. */
static int first_key(int t, int N, int npast)
{
    const int lo = N - npast;
    return t > lo ? t : lo;
}

void rnn_attn_forward(float *ctx, float *att, float *cache, const float *h, const float *past,
                      const int *npast, const float *W1, const float *W2, const float *v, int B,
                      int T, int N, int H, int A)
{
    float *P = cache;                           /* ((N+T)*B, A) */
    float *Q = cache + ((size_t)N + T) * B * A; /* (T*B, A) */
    if (past)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N * B, A, H, 1.0f, past, H, W1, H,
                    0.0f, P, A);
    else
        memset(P, 0, (size_t)N * B * A * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T * B, A, H, 1.0f, h, H, W1, H, 0.0f,
                P + (size_t)N * B * A, A);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T * B, A, H, 1.0f, h, H, W2, H, 0.0f, Q,
                A);

    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            const size_t row = (size_t)t * B + b;
            const float *q = Q + row * A;
            float *a = att + row * N, *c = ctx + row * H;
            memset(a, 0, (size_t)N * sizeof(float));
            memset(c, 0, (size_t)H * sizeof(float));
            const int e0 = first_key(t, N, npast[b]), e1 = t + N;
            if (e0 >= e1) continue;
            float umax = -INFINITY;
            for (int e = e0; e < e1; e++) {
                const float u = score(P + ((size_t)e * B + b) * A, q, v, A);
                a[e - t] = u;
                if (u > umax) umax = u;
            }
            float sum = 0.0f;
            for (int e = e0; e < e1; e++) {
                a[e - t] = expf(a[e - t] - umax);
                sum += a[e - t];
            }
            for (int e = e0; e < e1; e++) {
                a[e - t] /= sum;
                axpy(c, a[e - t], key_row(h, past, e, b, B, N, H), H);
            }
        }
}

void rnn_attn_backward(float *dh, float *dW1, float *dW2, float *dv, float *scratch,
                       const float *dctx, const float *att, const float *cache, const float *h,
                       const float *past, const int *npast, const float *W1, const float *W2,
                       const float *v, int B, int T, int N, int H, int A)
{
    const float *P = cache, *Q = cache + ((size_t)N + T) * B * A;
    float *dP = scratch, *dQ = scratch + ((size_t)N + T) * B * A;
    memset(scratch, 0, rnn_attn_scratch_size(B, T, N, A) * sizeof(float));

    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            const size_t row = (size_t)t * B + b;
            const int e0 = first_key(t, N, npast[b]), e1 = t + N;
            if (e0 >= e1) continue;
            const float *a = att + row * N, *dc = dctx + row * H, *q = Q + row * A;
            float *dq = dQ + row * A;
            float da[RNN_ATTN_MAX_N], sum = 0.0f;
            for (int e = e0; e < e1; e++) {
                const float d = dot(dc, key_row(h, past, e, b, B, N, H), H);
                da[e - t] = d;
                sum += a[e - t] * d;
                if (e >= N) axpy(dh + ((size_t)(e - N) * B + b) * H, a[e - t], dc, H);
            }
            for (int e = e0; e < e1; e++) {
                const float du = a[e - t] * (da[e - t] - sum);
                const size_t key = ((size_t)e * B + b) * A;
                score_backward(dv, dP + key, dq, P + key, q, v, du, A);
            }
        }

    /* dW1 += dP^T x over the past keys and the window's */
    if (past)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, A, H, N * B, 1.0f, dP, A, past, H,
                    1.0f, dW1, H);
    const float *dPw = dP + (size_t)N * B * A;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, A, H, T * B, 1.0f, dPw, A, h, H, 1.0f, dW1,
                H);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, A, H, T * B, 1.0f, dQ, A, h, H, 1.0f, dW2,
                H);
    /* dh += dP_window W1 + dQ W2 */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T * B, H, A, 1.0f, dPw, A, W1, H, 1.0f,
                dh, H);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T * B, H, A, 1.0f, dQ, A, W2, H, 1.0f,
                dh, H);
}

void rnn_attn_carry(float *past, int *npast, const float *h, int B, int T, int N, int H)
{
    const size_t row = (size_t)B * H; /* one step of every lane */
    if (T >= N) {
        memcpy(past, h + (size_t)(T - N) * row, (size_t)N * row * sizeof(float));
    } else {
        memmove(past, past + (size_t)T * row, (size_t)(N - T) * row * sizeof(float));
        memcpy(past + (size_t)(N - T) * row, h, (size_t)T * row * sizeof(float));
    }
    for (int b = 0; b < B; b++)
        npast[b] = npast[b] + T < N ? npast[b] + T : N;
}
