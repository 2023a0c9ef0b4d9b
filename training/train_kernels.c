/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the trainer's pointwise kernels and the product of a
 * recurrent step (see train_kernels.h).
 *
 * Plain loops the compiler vectorises: the exponential is a Cephes-style
 * polynomial with a branch-free range reduction, so sigmoid and tanh cost a
 * few vector instructions. On x86-64 each kernel is built for AVX-512, AVX2
 * and baseline x86-64 and picked at run time (target_clones). The Makefile
 * builds this file with -fno-trapping-math -fvect-cost-model=dynamic, which
 * the vectoriser needs for the clamps and selects.
 *
 * The step's product with W_hh (a few dozen lanes against a weight matrix
 * of up to a few MB) is a register-tiled kernel over W_hh packed once per
 * pass: a BLAS sgemm of that shape repacks the whole matrix at every step.
 * It is written with GCC vector types, built for x86-64-v4, x86-64-v3 and
 * the baseline as core/net.c's kernels are, and picked at run time. */
#include "train_kernels.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define KERNEL
#endif

static inline float fexp(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union {
        float f;
        int32_t i;
    } u = {p};
    u.i += (int32_t)n * (1 << 23); /* times 2^n */
    return u.f;
}

static inline float fsigmoid(float x)
{
    return 1.0f / (1.0f + fexp(-x));
}

static inline float ftanh(float x)
{
    float big = 1.0f - 2.0f / (fexp(2.0f * x) + 1.0f);
    float x2 = x * x;
    float small =
        x +
        x * x2 * (-0.333333333f + x2 * (0.133333333f + x2 * (-0.0539682540f + x2 * 0.0218694885f)));
    return fabsf(x) < 0.25f ? small : big;
}

/* out (N, C) += bias (C) on every row */
KERNEL void rnn_k_add_bias(float *out, const float *bias, size_t N, int C)
{
    for (size_t r = 0; r < N; r++) {
        float *o = out + r * C;
        for (int c = 0; c < C; c++)
            o[c] += bias[c];
    }
}

/* dbias[c0..c1) (and dbias2's) += column sums of d (N, C) over those
 * columns: each sum from zero over the rows in order, a chunk of columns
 * at a time so the sums stay in registers */
KERNEL void rnn_k_bias_backward(float *dbias, float *dbias2, const float *d, size_t N, int C,
                                size_t c0, size_t c1)
{
    enum { CHUNK = 64 };
    for (size_t cs = c0; cs < c1; cs += CHUNK) {
        const size_t n = c1 - cs < CHUNK ? c1 - cs : CHUNK;
        float sum[CHUNK] = {0};
        for (size_t r = 0; r < N; r++) {
            const float *row = d + r * C + cs;
            for (size_t c = 0; c < n; c++)
                sum[c] += row[c];
        }
        for (size_t c = 0; c < n; c++)
            dbias[cs + c] += sum[c];
        if (dbias2)
            for (size_t c = 0; c < n; c++)
                dbias2[cs + c] += sum[c];
    }
}

/* restrict on the parameters lets the row's loop vectorise */
static inline __attribute__((always_inline)) void add_row(float *restrict t,
                                                          const float *restrict s, size_t n)
{
    for (size_t k = 0; k < n; k++)
        t[k] += s[k];
}

KERNEL void rnn_k_sum_rows_by_class(float *tab, const float *d, const int32_t *cls, size_t N, int V,
                                    int C, size_t c0, size_t c1)
{
    for (int v = 0; v < V; v++)
        memset(tab + (size_t)v * C + c0, 0, (c1 - c0) * sizeof(float));
    for (size_t r = 0; r < N; r++)
        add_row(tab + (size_t)cls[r] * C + c0, d + r * C + c0, c1 - c0);
}

KERNEL void rnn_k_mul_mask(float *x, const float *mask, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] *= mask[i];
}

/* One step of the cell for nb lanes, in place on the gate pre-activations g
 * (nb, GH), which already hold W_ih x + b_ih (+ W_hh h + b_hh for RNN and
 * LSTM); the activations replace them. */
/* restrict holds on parameters, which is what lets one lane's loop vectorise */
static inline __attribute__((always_inline)) void lstm_lane(float *restrict gi, float *restrict gf,
                                                            float *restrict gg, float *restrict go,
                                                            const float *restrict cp,
                                                            float *restrict cb, float *restrict tb,
                                                            float *restrict hb, int H)
{
    for (int j = 0; j < H; j++) {
        float i = fsigmoid(gi[j]), f = fsigmoid(gf[j]), gv = ftanh(gg[j]), o = fsigmoid(go[j]);
        float cv = f * cp[j] + i * gv, t = ftanh(cv);
        gi[j] = i;
        gf[j] = f;
        gg[j] = gv;
        go[j] = o;
        cb[j] = cv;
        tb[j] = t;
        hb[j] = o * t;
    }
}

KERNEL void rnn_k_lstm_point(float *g, const float *cprev, float *c, float *tc, float *h, int nb,
                             int H)
{
    for (int b = 0; b < nb; b++) {
        float *gi = g + (size_t)b * 4 * H;
        size_t o = (size_t)b * H;
        lstm_lane(gi, gi + H, gi + 2 * H, gi + 3 * H, cprev + o, c + o, tc + o, h + o, H);
    }
}

KERNEL void rnn_k_rnn_point(float *g, float *h, int nb, int H)
{
    for (size_t j = 0; j < (size_t)nb * H; j++) {
        g[j] = ftanh(g[j]);
        h[j] = g[j];
    }
}

/* g (nb, 3H) holds W_ih x + b_ih; ghh (nb, 3H) W_hh h + b_hh. */
static inline __attribute__((always_inline)) void
gru_lane(float *restrict gr, float *restrict gz, float *restrict gn, const float *restrict hr,
         const float *restrict hz, const float *restrict hnn, const float *restrict hp,
         float *restrict hnb, float *restrict hb, int H)
{
    for (int j = 0; j < H; j++) {
        float r = fsigmoid(gr[j] + hr[j]), z = fsigmoid(gz[j] + hz[j]);
        float n = ftanh(gn[j] + r * hnn[j]);
        gr[j] = r;
        gz[j] = z;
        gn[j] = n;
        hnb[j] = hnn[j];
        hb[j] = (1.0f - z) * n + z * hp[j];
    }
}

KERNEL void rnn_k_gru_point(float *g, const float *ghh, const float *hprev, float *hn, float *h,
                            int nb, int H)
{
    for (int b = 0; b < nb; b++) {
        float *gr = g + (size_t)b * 3 * H;
        const float *hr = ghh + (size_t)b * 3 * H;
        size_t o = (size_t)b * H;
        gru_lane(gr, gr + H, gr + 2 * H, hr, hr + H, hr + 2 * H, hprev + o, hn + o, h + o, H);
    }
}

static inline __attribute__((always_inline)) void
lstm_lane_backward(float *restrict di, float *restrict df, float *restrict dgg,
                   float *restrict dout, float *restrict dcnb, const float *restrict dhnb,
                   const float *restrict gi, const float *restrict gf, const float *restrict gg,
                   const float *restrict go, const float *restrict dhb, const float *restrict cp,
                   const float *restrict tcb, int H)
{
    for (int j = 0; j < H; j++) {
        float dh = dhb[j] + dhnb[j];
        float i = gi[j], f = gf[j], gv = gg[j], o = go[j], t2 = tcb[j];
        float dc = dcnb[j] + dh * o * (1.0f - t2 * t2);
        di[j] = dc * gv * i * (1.0f - i);
        df[j] = dc * cp[j] * f * (1.0f - f);
        dgg[j] = dc * i * (1.0f - gv * gv);
        dout[j] = dh * t2 * o * (1.0f - o);
        dcnb[j] = dc * f;
    }
}

KERNEL void rnn_k_lstm_point_backward(float *dg, float *dhn, float *dcn, const float *g,
                                      const float *dhout, const float *cprev, const float *tc,
                                      int nb, int H)
{
    const size_t GH = 4 * (size_t)H;
    for (int b = 0; b < nb; b++) {
        const float *gi = g + b * GH;
        float *di = dg + b * GH;
        size_t o = (size_t)b * H;
        lstm_lane_backward(di, di + H, di + 2 * H, di + 3 * H, dcn + o, dhn + o, gi, gi + H,
                           gi + 2 * H, gi + 3 * H, dhout + o, cprev + o, tc + o, H);
    }
}

KERNEL void rnn_k_rnn_point_backward(float *dg, const float *g, const float *dhout,
                                     const float *dhn, int nb, int H)
{
    for (size_t j = 0; j < (size_t)nb * H; j++) {
        float dh = dhout[j] + dhn[j], h = g[j];
        dg[j] = dh * (1.0f - h * h);
    }
}

/* dg: input-side gate gradients (nb, 3H); dgt: hidden side; dhn becomes the
 * direct path z dh of h' = (1-z) n + z h (the product with W_hh is added after). */
static inline __attribute__((always_inline)) void
gru_lane_backward(float *restrict dr, float *restrict dz, float *restrict dn, float *restrict hdr,
                  float *restrict hdz, float *restrict hdn, float *restrict dhnb,
                  const float *restrict gr, const float *restrict gz, const float *restrict gn,
                  const float *restrict dhb, const float *restrict hp, const float *restrict hnb,
                  int H)
{
    for (int j = 0; j < H; j++) {
        float dh = dhb[j] + dhnb[j];
        float r = gr[j], z = gz[j], n = gn[j];
        float dan = dh * (1.0f - z) * (1.0f - n * n);
        float dar = dan * hnb[j] * r * (1.0f - r);
        float daz = dh * (hp[j] - n) * z * (1.0f - z);
        dr[j] = dar;
        hdr[j] = dar;
        dz[j] = daz;
        hdz[j] = daz;
        dn[j] = dan;
        hdn[j] = dan * r;
        dhnb[j] = dh * z;
    }
}

KERNEL void rnn_k_gru_point_backward(float *dg, float *dgt, float *dhn, const float *g,
                                     const float *dhout, const float *hprev, const float *hn,
                                     int nb, int H)
{
    const size_t GH = 3 * (size_t)H;
    for (int b = 0; b < nb; b++) {
        const float *gr = g + b * GH;
        float *dr = dg + b * GH, *hdr = dgt + b * GH;
        size_t o = (size_t)b * H;
        gru_lane_backward(dr, dr + H, dr + 2 * H, hdr, hdr + H, hdr + 2 * H, dhn + o, gr, gr + H,
                          gr + 2 * H, dhout + o, hprev + o, hn + o, H);
    }
}

/* Softmax of rows [r0, r1) of logits into probs; returns the NLL sum of the
 * counted targets, their count and argmax hits. */
KERNEL double rnn_k_softmax_rows(float *probs, const float *logits, const int32_t *targets,
                                 size_t r0, size_t r1, int V, long *count, long *hits)
{
    double nll = 0;
    long n = 0, hit = 0;
    for (size_t r = r0; r < r1; r++) {
        const float *z = logits + r * V;
        float *p = probs + r * V;
        float mx = z[0];
        int arg = 0;
        for (int k = 1; k < V; k++)
            if (z[k] > mx) {
                mx = z[k];
                arg = k;
            }
        float sum = 0;
        for (int k = 0; k < V; k++) {
            p[k] = fexp(z[k] - mx);
            sum += p[k];
        }
        float inv = 1.0f / sum;
        for (int k = 0; k < V; k++)
            p[k] *= inv;
        int y = targets[r];
        if (y >= 0) {
            nll += (double)logf(sum) + (double)mx - (double)z[y];
            n++;
            hit += arg == y;
        }
    }
    *count = n;
    *hits = hit;
    return nll;
}

/* ------------------------------------------------------------------------ */
/* C (M, N) (+)= A (M, K) B, B packed in panels of PW columns. */

enum { PW = RNN_K_PANEL };

typedef float vf4 __attribute__((vector_size(4 * sizeof(float)), may_alias));
typedef float vf8 __attribute__((vector_size(8 * sizeof(float)), may_alias));
typedef float vf16 __attribute__((vector_size(16 * sizeof(float)), may_alias));

#if defined(__GNUC__) && !defined(__clang__)
#define CONTRACT __attribute__((optimize("fp-contract=fast")))
#if defined(__x86_64__) && __GNUC__ >= 12
#define GEMM_X86_LEVELS 1
#define ISA_V4 __attribute__((target("arch=x86-64-v4")))
#define ISA_V3 __attribute__((target("arch=x86-64-v3")))
#endif
#else
#define CONTRACT
#endif

size_t rnn_k_pack_size(int K, int N)
{
    return (size_t)(N + PW - 1) / PW * PW * (size_t)K;
}

void rnn_k_pack(float *bp, const float *b, int K, int N, int trans, int p0, int p1)
{
    for (int p = p0; p < p1; p++)
        for (int k = 0; k < K; k++) {
            float *d = bp + ((size_t)p * K + k) * PW;
            for (int i = 0; i < PW; i++) {
                const int n = p * PW + i;
                d[i] = n >= N ? 0.0f : trans ? b[(size_t)n * K + k] : b[(size_t)k * N + n];
            }
        }
}

/* One tile: mr rows of C by the nc <= PW columns of panel P, each element a
 * sum over k in order, then stored or added to C. mr is a constant at every
 * call, so the accumulators stay in registers. */
#define GEMM_ISA(isa, VT, MR, ATTR)                                                                \
    ATTR static inline __attribute__((always_inline)) void tile_##isa(                             \
        float *restrict C, int ldc, const float *restrict A, int lda, const float *restrict P,     \
        int K, const int mr, int nc, int accumulate)                                               \
    {                                                                                              \
        enum { VW = (int)(sizeof(VT) / sizeof(float)), NV = PW / VW };                             \
        VT acc[MR][NV];                                                                            \
        _Pragma("GCC unroll 16") for (int r = 0; r < mr; r++)                                      \
            _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) acc[r][v] = (VT){0};             \
        for (int k = 0; k < K; k++) {                                                              \
            VT bk[NV];                                                                             \
            _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++)                                  \
                memcpy(&bk[v], P + (size_t)k * PW + v * VW, sizeof(VT));                           \
            _Pragma("GCC unroll 16") for (int r = 0; r < mr; r++)                                  \
            {                                                                                      \
                const float a = A[(size_t)r * lda + k];                                            \
                _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++) acc[r][v] += a * bk[v];      \
            }                                                                                      \
        }                                                                                          \
        for (int r = 0; r < mr; r++) {                                                             \
            float *c = C + (size_t)r * ldc;                                                        \
            if (nc == PW) {                                                                        \
                _Pragma("GCC unroll 16") for (int v = 0; v < NV; v++)                              \
                {                                                                                  \
                    VT x = acc[r][v];                                                              \
                    if (accumulate) {                                                              \
                        VT y;                                                                      \
                        memcpy(&y, c + v * VW, sizeof y);                                          \
                        x = y + x;                                                                 \
                    }                                                                              \
                    memcpy(c + v * VW, &x, sizeof x);                                              \
                }                                                                                  \
            } else {                                                                               \
                float t[PW];                                                                       \
                memcpy(t, acc[r], sizeof t);                                                       \
                for (int i = 0; i < nc; i++)                                                       \
                    c[i] = accumulate ? c[i] + t[i] : t[i];                                        \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    /* panel by panel, so a panel stays in cache while the rows pass over it */                    \
    ATTR static void gemm_##isa(float *C, int ldc, const float *A, int lda, const float *bp,       \
                                int M, int N, int K, int accumulate)                               \
    {                                                                                              \
        for (int p = 0; p * PW < N; p++) {                                                         \
            const float *P = bp + (size_t)p * PW * K;                                              \
            const int nc = N - p * PW < PW ? N - p * PW : PW;                                      \
            float *Cp = C + (size_t)p * PW;                                                        \
            int m = 0;                                                                             \
            for (; m + MR <= M; m += MR)                                                           \
                tile_##isa(Cp + (size_t)m * ldc, ldc, A + (size_t)m * lda, lda, P, K, MR, nc,      \
                           accumulate);                                                            \
            for (; m < M; m++)                                                                     \
                tile_##isa(Cp + (size_t)m * ldc, ldc, A + (size_t)m * lda, lda, P, K, 1, nc,       \
                           accumulate);                                                            \
        }                                                                                          \
    }

/* rows per tile: as many accumulators as the build's registers keep (8 of
 * 16 vector registers at 16 and 32 bytes, 16 of 32 at 64 bytes), with the
 * panel's row and the broadcasts beside them */
GEMM_ISA(base, vf4, 2, CONTRACT)
#ifdef GEMM_X86_LEVELS
GEMM_ISA(v3, vf8, 4, ISA_V3 CONTRACT)
GEMM_ISA(v4, vf16, 8, ISA_V4 CONTRACT)
#endif

int rnn_k_gemm_packed_build(int level, float *C, int ldc, const float *A, int lda, const float *bp,
                            int M, int N, int K, int accumulate)
{
#ifdef GEMM_X86_LEVELS
    __builtin_cpu_init();
    if (level == 4 && __builtin_cpu_supports("x86-64-v4")) {
        gemm_v4(C, ldc, A, lda, bp, M, N, K, accumulate);
        return 4;
    }
    if (level == 3 && __builtin_cpu_supports("x86-64-v3")) {
        gemm_v3(C, ldc, A, lda, bp, M, N, K, accumulate);
        return 3;
    }
#endif
    if (level != 0) return -1;
    gemm_base(C, ldc, A, lda, bp, M, N, K, accumulate);
    return 0;
}

void rnn_k_gemm_packed(float *C, int ldc, const float *A, int lda, const float *bp, int M, int N,
                       int K, int accumulate)
{
    for (int level = 4; level > 0; level--)
        if (rnn_k_gemm_packed_build(level, C, ldc, A, lda, bp, M, N, K, accumulate) >= 0) return;
    rnn_k_gemm_packed_build(0, C, ldc, A, lda, bp, M, N, K, accumulate);
}

KERNEL void rnn_k_adamw(float *p, const float *g, float *m, float *v, size_t n, float beta1,
                        float beta2, float eps, float decay, float step_size, float bc2s)
{
    for (size_t i = 0; i < n; i++) {
        p[i] *= decay;
        m[i] = beta1 * m[i] + (1.0f - beta1) * g[i];
        v[i] = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
        float denom = sqrtf(v[i]) / bc2s + eps;
        p[i] -= step_size * m[i] / denom;
    }
}
