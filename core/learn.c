/* SPDX-License-Identifier: MIT */
/* rnnmidi core: fine-tuning a model on what the player played (contract in
 * learn.h).
 *
 * The trainer of training/ does the same passes with OpenBLAS; the core
 * links no BLAS, so every product here is one cache-blocked kernel,
 * C (M, N) += A (M, K) B (K, N) with B's rows contiguous and A read through
 * two strides (so A may be a transposed view). Each product is arranged so
 * that its innermost loop runs along contiguous rows of B and C, which the
 * compiler turns into vector FMAs without reordering any sum:
 *   forward    x (N, I) times W^T: W is kept transposed (copies made at the
 *              start of each forward, a few hundred microseconds)
 *   backward   dg (N, GH) times W (GH, I): W as stored
 *   weights    dW (GH, I) += dg^T (a strided view) times x (N, I)
 *
 * With attention the projections W1 h and W2 h of the top layer's outputs
 * are two more products; the scores, softmax and context of each step are
 * row loops (attn_fwd_body, attn_bwd_body) over the steps of its own phrase.
 *
 * Letters: B phrases (lanes), T steps, N = T * B rows, E embedding, I a
 * layer's input, H hidden, G gates, V vocabulary, C input columns beside the
 * event, W the attention's window and A its size, Hh the head's input (H,
 * or 2H with attention). Arrays are time-major: row t * B + b. */
#include "learn.h"

#include "cell.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------
 * The product kernel, one build per instruction set (as core/net.c's). */

#if defined(__GNUC__) && !defined(__clang__)
#define LN_CONTRACT __attribute__((optimize("fp-contract=fast")))
#if defined(__x86_64__) && __GNUC__ >= 12
#define LN_X86_LEVELS 1
#define LN_V4 __attribute__((target("arch=x86-64-v4")))
#define LN_V3 __attribute__((target("arch=x86-64-v3")))
#endif
#else
#define LN_CONTRACT
#endif

typedef float lf4 __attribute__((vector_size(16), aligned(4), may_alias));
typedef float lf8 __attribute__((vector_size(32), aligned(4), may_alias));
typedef float lf16 __attribute__((vector_size(64), aligned(4), may_alias));

/* Blocks: KB rows of B (and columns of A) stay in L2 while a panel of MR
 * rows of C takes them in, 2 vectors wide at a time in registers. */
enum { KB = 128, MR = 4 };

typedef void (*gemm_fn)(float *restrict c, size_t ldc, const float *restrict a, size_t sam,
                        size_t sak, const float *restrict b, size_t ldb, int M, int N, int K);

struct rnn_learn;
/* The attention's rows of a batch, forward or backward, from the top
 * layer's outputs h (N, H). */
typedef void (*attn_fn)(struct rnn_learn *ln, const float *h);

/* C += A B for vector type T of W lanes: for each block of KB of the K
 * dimension, rows of C MR at a time, columns 2W at a time held in 2*MR
 * accumulators across the block, then the columns left one at a time. */
#define LN_GEMM(S, T, W, ATTR)                                                                     \
    ATTR LN_CONTRACT static void gemm_##S(float *restrict c, size_t ldc, const float *restrict a,  \
                                          size_t sam, size_t sak, const float *restrict b,         \
                                          size_t ldb, int M, int N, int K)                         \
    {                                                                                              \
        for (int k0 = 0; k0 < K; k0 += KB) {                                                       \
            const int k1 = k0 + KB < K ? k0 + KB : K;                                              \
            int m = 0;                                                                             \
            for (; m + MR <= M; m += MR) {                                                         \
                const float *a0 = a + (size_t)m * sam, *a1 = a0 + sam, *a2 = a1 + sam,             \
                            *a3 = a2 + sam;                                                        \
                float *c0 = c + (size_t)m * ldc, *c1 = c0 + ldc, *c2 = c1 + ldc, *c3 = c2 + ldc;   \
                int n = 0;                                                                         \
                for (; n + 2 * W <= N; n += 2 * W) {                                               \
                    T x0 = *(T *)(c0 + n), y0 = *(T *)(c0 + n + W);                                \
                    T x1 = *(T *)(c1 + n), y1 = *(T *)(c1 + n + W);                                \
                    T x2 = *(T *)(c2 + n), y2 = *(T *)(c2 + n + W);                                \
                    T x3 = *(T *)(c3 + n), y3 = *(T *)(c3 + n + W);                                \
                    for (int k = k0; k < k1; k++) {                                                \
                        const T p = *(const T *)(b + (size_t)k * ldb + n);                         \
                        const T q = *(const T *)(b + (size_t)k * ldb + n + W);                     \
                        const size_t ak = (size_t)k * sak;                                         \
                        const float s0 = a0[ak], s1 = a1[ak], s2 = a2[ak], s3 = a3[ak];            \
                        x0 += s0 * p, y0 += s0 * q;                                                \
                        x1 += s1 * p, y1 += s1 * q;                                                \
                        x2 += s2 * p, y2 += s2 * q;                                                \
                        x3 += s3 * p, y3 += s3 * q;                                                \
                    }                                                                              \
                    *(T *)(c0 + n) = x0, *(T *)(c0 + n + W) = y0;                                  \
                    *(T *)(c1 + n) = x1, *(T *)(c1 + n + W) = y1;                                  \
                    *(T *)(c2 + n) = x2, *(T *)(c2 + n + W) = y2;                                  \
                    *(T *)(c3 + n) = x3, *(T *)(c3 + n + W) = y3;                                  \
                }                                                                                  \
                for (; n < N; n++)                                                                 \
                    for (int k = k0; k < k1; k++) {                                                \
                        const float bk = b[(size_t)k * ldb + n];                                   \
                        const size_t ak = (size_t)k * sak;                                         \
                        c0[n] += a0[ak] * bk, c1[n] += a1[ak] * bk;                                \
                        c2[n] += a2[ak] * bk, c3[n] += a3[ak] * bk;                                \
                    }                                                                              \
            }                                                                                      \
            for (; m < M; m++) {                                                                   \
                const float *a0 = a + (size_t)m * sam;                                             \
                float *c0 = c + (size_t)m * ldc;                                                   \
                int n = 0;                                                                         \
                for (; n + 2 * W <= N; n += 2 * W) {                                               \
                    T x0 = *(T *)(c0 + n), y0 = *(T *)(c0 + n + W);                                \
                    for (int k = k0; k < k1; k++) {                                                \
                        const float s0 = a0[(size_t)k * sak];                                      \
                        x0 += s0 * *(const T *)(b + (size_t)k * ldb + n);                          \
                        y0 += s0 * *(const T *)(b + (size_t)k * ldb + n + W);                      \
                    }                                                                              \
                    *(T *)(c0 + n) = x0, *(T *)(c0 + n + W) = y0;                                  \
                }                                                                                  \
                for (; n < N; n++)                                                                 \
                    for (int k = k0; k < k1; k++)                                                  \
                        c0[n] += a0[(size_t)k * sak] * b[(size_t)k * ldb + n];                     \
            }                                                                                      \
        }                                                                                          \
    }

LN_GEMM(base, lf4, 4, )
#ifdef LN_X86_LEVELS
LN_GEMM(v3, lf8, 8, LN_V3)
LN_GEMM(v4, lf16, 16, LN_V4)
#endif

/* ---------------------------------------------------------------------------
 * The learner. */

struct rnn_learn {
    rnn_model_config cfg;
    const rnn_cell_desc *cell;
    int L, E, H, V, G, GH, C, I0, ld0; /* I0 event columns of W_ih_l0 (E, or V), ld0 = I0 + C */
    int W, A, Hh; /* attention window and size (W = 0: none), the head's input H or 2H */
    int maxB, maxT;
    gemm_fn gemm;
    attn_fn attn_fwd, attn_bwd;
    const char *kernel;

    int n_tensors;
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    size_t n_params;
    float *w, *dw, *w0, *m, *v; /* parameters, gradients, start, Adam moments */
    float *wa, *ma, *va;        /* the accepted weights and their moments */
    size_t o_embed, o_wih[RNN_MAX_LAYERS], o_whh[RNN_MAX_LAYERS], o_bih[RNN_MAX_LAYERS],
        o_bhh[RNN_MAX_LAYERS], o_headw, o_headb, o_w1, o_w2, o_av;
    long steps, steps_a; /* updates applied; at the accepted weights */
    double w0norm;

    /* weights rearranged for the forward (made from w by each forward) */
    float *tab;                  /* (V, GH) layer 0's projection of each event, biases included */
    float *condT;                /* (C, GH) the input columns' weights, transposed */
    float *wihT[RNN_MAX_LAYERS]; /* (H, GH) layers >= 1 */
    float *whhT[RNN_MAX_LAYERS]; /* (H, GH) */
    float *wembT;                /* (E, GH) the event part of W_ih_l0 transposed, E > 0 */
    float *headT;                /* (Hh, V): rows 0..H-1 read h, H..2H-1 the context */
    float *w1T, *w2T;            /* (H, A) attention */

    /* the last forward: B, T and its inputs */
    int B, T;
    long count;
    int32_t *in, *tg;             /* (T, B) */
    uint16_t *on;                 /* (T, B, C) the input columns on, listed; */
    uint16_t *n_on;               /* (T, B) how many */
    float *hs[RNN_MAX_LAYERS];    /* ((T+1) B, H), row block 0 the zero state */
    float *cs[RNN_MAX_LAYERS];    /* ((T+1) B, H) LSTM cell states */
    float *gates[RNN_MAX_LAYERS]; /* (N, GH) the gates' activations */
    float *ghh[RNN_MAX_LAYERS];   /* (N, GH) GRU: W_hh h + b_hh */
    float *probs;                 /* (N, V), then the logit gradients */
    float *P, *Q;                 /* (N, A) W1 h and W2 h of every top-layer output */
    float *att;                   /* (N, W) attention weights, entry W-1-j for j+1 steps back */
    float *ctx;                   /* (N, H) contexts */

    /* the backward's scratch */
    float *dh, *dx;   /* (N, H) */
    float *dg, *dgh;  /* (N, GH) input side, hidden side (GRU) */
    float *dhn, *dcn; /* (B, H) */
    float *dtab;      /* (V, GH) */
    float *dcond;     /* (C, GH) */
    float *dP, *dQ;   /* (N, A) */
    float *dctx;      /* (N, H) */
    float *da;        /* (W) */

    void *block;
    size_t bytes;
};

/* ---------------------------------------------------------------------------
 * The attention's rows (core/FORMAT.md, "Attention"), one build per
 * instruction set as the product kernel. Row (t, b) attends to rows
 * (k, b), k = max(0, t - W) .. t - 1: the lane's outputs since its phrase
 * began, at most W of them, as core/attention.c's ring holds them. The
 * projections P = W1 h and Q = W2 h of every row are products (the forward);
 * what is left per row are n scores, a softmax and a weighted sum:
 *   u_k = v . tanh(P_k + Q_t),  a = softmax(u),  c_t = sum_k a_k h_k
 * and back, with s_k = tanh(P_k + Q_t):
 *   da_k = dc . h_k,  dh_k += a_k dc,  du_k = a_k (da_k - sum_j a_j da_j),
 *   dv += du_k s_k,   dP_k += du_k v (1 - s_k^2),  dQ_t += the same.
 * tanh is core/attention.c's rational approximation, 8 lanes at a time, so
 * the learner's model is the one core/net runs. */

typedef int32_t li8 __attribute__((vector_size(32)));

#define LN_INLINE static inline __attribute__((always_inline))

/* x P(x^2) / Q(x^2) on x clamped to +-7.90531 (core/attention.c's) */
LN_INLINE float ln_tanh(float x)
{
    const float c = 7.90531110763549805f;
    x = x < -c ? -c : x > c ? c : x;
    const float x2 = x * x;
    float num = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
    num = num * x2 + -8.60467152213735e-11f;
    num = num * x2 + 5.12229709037114e-08f;
    num = num * x2 + 1.48572235717979e-05f;
    num = num * x2 + 6.37261928875436e-04f;
    num = num * x2 + 4.89352455891786e-03f;
    float den = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
    den = den * x2 + 2.26843463243900e-03f;
    den = den * x2 + 4.89352518554385e-03f;
    return x * num / den;
}

/* *s = tanh(p + q) over 8 floats (through memory: a vector argument or
 * result would change the ABI between the builds) */
LN_INLINE void ln_tanh8(lf8 *s, const float *p, const float *q)
{
    lf8 x = *(const lf8 *)p + *(const lf8 *)q;
    const float c = 7.90531110763549805f;
    const lf8 hi = {c, c, c, c, c, c, c, c}, lo = -hi;
    const li8 over = x > hi, under = x < lo;
    x = (lf8)(((li8)x & ~over) | ((li8)hi & over));
    x = (lf8)(((li8)x & ~under) | ((li8)lo & under));
    const lf8 x2 = x * x;
    lf8 num = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
    num = num * x2 + -8.60467152213735e-11f;
    num = num * x2 + 5.12229709037114e-08f;
    num = num * x2 + 1.48572235717979e-05f;
    num = num * x2 + 6.37261928875436e-04f;
    num = num * x2 + 4.89352455891786e-03f;
    lf8 den = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
    den = den * x2 + 2.26843463243900e-03f;
    den = den * x2 + 4.89352518554385e-03f;
    *s = x * num / den;
}

LN_INLINE float ln_sum8(const lf8 *a)
{
    return (((*a)[0] + (*a)[1]) + ((*a)[2] + (*a)[3])) +
           (((*a)[4] + (*a)[5]) + ((*a)[6] + (*a)[7]));
}

/* v . tanh(p + q) over A */
LN_INLINE float ln_score(const float *p, const float *q, const float *v, int A)
{
    lf8 acc = {0};
    int j = 0;
    for (; j + 8 <= A; j += 8) {
        lf8 s;
        ln_tanh8(&s, p + j, q + j);
        acc += *(const lf8 *)(v + j) * s;
    }
    float u = ln_sum8(&acc);
    for (; j < A; j++)
        u += v[j] * ln_tanh(p[j] + q[j]);
    return u;
}

/* x . y over H */
LN_INLINE float ln_dot(const float *x, const float *y, int H)
{
    lf8 acc = {0};
    int k = 0;
    for (; k + 8 <= H; k += 8)
        acc += *(const lf8 *)(x + k) * *(const lf8 *)(y + k);
    float d = ln_sum8(&acc);
    for (; k < H; k++)
        d += x[k] * y[k];
    return d;
}

/* y += a x over H */
LN_INLINE void ln_axpy(float *restrict y, float a, const float *restrict x, int H)
{
    int k = 0;
    for (; k + 8 <= H; k += 8)
        *(lf8 *)(y + k) += a * *(const lf8 *)(x + k);
    for (; k < H; k++)
        y[k] += a * x[k];
}

/* One score back: dv += du s, dp and dq += du v (1 - s^2), s = tanh(p + q) */
LN_INLINE void ln_score_back(float *restrict dv, float *restrict dp, float *restrict dq,
                             const float *p, const float *q, const float *v, float du, int A)
{
    int j = 0;
    for (; j + 8 <= A; j += 8) {
        lf8 s;
        ln_tanh8(&s, p + j, q + j);
        *(lf8 *)(dv + j) += du * s;
        const lf8 d = du * *(const lf8 *)(v + j) * (1.0f - s * s);
        *(lf8 *)(dp + j) += d;
        *(lf8 *)(dq + j) += d;
    }
    for (; j < A; j++) {
        const float s = ln_tanh(p[j] + q[j]);
        dv[j] += du * s;
        const float d = du * v[j] * (1.0f - s * s);
        dp[j] += d;
        dq[j] += d;
    }
}

#define LN_ATTN(S, ATTR)                                                                           \
    ATTR LN_CONTRACT static void attn_fwd_##S(struct rnn_learn *ln, const float *h)                \
    {                                                                                              \
        attn_fwd_body(ln, h);                                                                      \
    }                                                                                              \
    ATTR LN_CONTRACT static void attn_bwd_##S(struct rnn_learn *ln, const float *h)                \
    {                                                                                              \
        attn_bwd_body(ln, h);                                                                      \
    }

/* The attention of each row: scores, softmax into att, context into ctx.
 * Entry W - t + k of a row of att is key k (W-1-j for j+1 steps back). */
LN_INLINE void attn_fwd_body(struct rnn_learn *ln, const float *h)
{
    const int B = ln->B, T = ln->T, H = ln->H, A = ln->A, W = ln->W;
    const float *v = ln->w + ln->o_av;
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            const size_t row = (size_t)t * B + b;
            float *a = ln->att + row * W, *c = ln->ctx + row * H;
            memset(a, 0, (size_t)W * sizeof(float));
            memset(c, 0, (size_t)H * sizeof(float));
            const int k0 = t > W ? t - W : 0;
            if (k0 == t) continue; /* a phrase's first step: nothing stored, c = 0 */
            float umax = -INFINITY, sum = 0.0f;
            for (int k = k0; k < t; k++) {
                const float u = ln_score(ln->P + ((size_t)k * B + b) * A, ln->Q + row * A, v, A);
                a[W - t + k] = u;
                umax = u > umax ? u : umax;
            }
            for (int k = k0; k < t; k++) {
                a[W - t + k] = expf(a[W - t + k] - umax);
                sum += a[W - t + k];
            }
            for (int k = k0; k < t; k++) {
                a[W - t + k] /= sum;
                ln_axpy(c, a[W - t + k], h + ((size_t)k * B + b) * H, H);
            }
        }
}

/* The rows back from dctx: into dh (as values), dv, dP and dQ. */
LN_INLINE void attn_bwd_body(struct rnn_learn *ln, const float *h)
{
    const int B = ln->B, T = ln->T, H = ln->H, A = ln->A, W = ln->W;
    const float *v = ln->w + ln->o_av;
    float *dv = ln->dw + ln->o_av;
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            const size_t row = (size_t)t * B + b;
            const int k0 = t > W ? t - W : 0;
            if (k0 == t) continue;
            const float *a = ln->att + row * W, *dc = ln->dctx + row * H, *q = ln->Q + row * A;
            float *dq = ln->dQ + row * A, s = 0.0f;
            for (int k = k0; k < t; k++) {
                const size_t key = (size_t)k * B + b;
                const float d = ln_dot(dc, h + key * H, H);
                ln->da[k - k0] = d;
                s += a[W - t + k] * d;
                ln_axpy(ln->dh + key * H, a[W - t + k], dc, H);
            }
            for (int k = k0; k < t; k++) {
                const size_t key = (size_t)k * B + b;
                const float du = a[W - t + k] * (ln->da[k - k0] - s);
                ln_score_back(dv, ln->dP + key * A, dq, ln->P + key * A, q, v, du, A);
            }
        }
}

LN_ATTN(base, )
#ifdef LN_X86_LEVELS
LN_ATTN(v3, LN_V3)
LN_ATTN(v4, LN_V4)
#endif

void rnn_learn_options_default(rnn_learn_options *o)
{
    o->lr = 1e-3f;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
    o->pull = 0.01f;
    o->radius = 0.02f;
    o->clip = 1.0f;
}

static size_t up16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

/* Lay out every array in one block: sizes first (base NULL), then views. */
static size_t layout(rnn_learn *ln, float *base)
{
    size_t off = 0;
#define TAKE(ptr, n)                                                                               \
    do {                                                                                           \
        (ptr) = base && (n) > 0 ? base + off : NULL;                                               \
        off += up16((size_t)(n));                                                                  \
    } while (0)
    const size_t N = (size_t)ln->maxB * ln->maxT, NB = N + ln->maxB, H = ln->H, GH = ln->GH;
    const size_t P = ln->n_params;
    TAKE(ln->w, P);
    TAKE(ln->dw, P);
    TAKE(ln->w0, P);
    TAKE(ln->m, P);
    TAKE(ln->v, P);
    TAKE(ln->wa, P);
    TAKE(ln->ma, P);
    TAKE(ln->va, P);
    TAKE(ln->tab, (size_t)ln->V * GH);
    TAKE(ln->condT, (size_t)ln->C * GH);
    TAKE(ln->wembT, (size_t)ln->E * GH);
    TAKE(ln->headT, (size_t)ln->Hh * ln->V);
    TAKE(ln->w1T, H * ln->A);
    TAKE(ln->w2T, H * ln->A);
    for (int l = 0; l < ln->L; l++) {
        TAKE(ln->wihT[l], l > 0 ? H * GH : 0);
        TAKE(ln->whhT[l], H * GH);
        TAKE(ln->hs[l], NB * H);
        TAKE(ln->cs[l], ln->cell->state_parts > 1 ? NB * H : 0);
        TAKE(ln->gates[l], N * GH);
        TAKE(ln->ghh[l], ln->cell->hh_apart ? N * GH : 0);
    }
    TAKE(ln->probs, N * ln->V);
    TAKE(ln->P, N * ln->A);
    TAKE(ln->Q, N * ln->A);
    TAKE(ln->att, N * ln->W);
    TAKE(ln->ctx, ln->W > 0 ? N * H : 0);
    TAKE(ln->dh, N * H);
    TAKE(ln->dx, N * H);
    TAKE(ln->dg, N * GH);
    TAKE(ln->dgh, ln->cell->hh_apart ? N * GH : 0);
    TAKE(ln->dhn, (size_t)ln->maxB * H);
    TAKE(ln->dcn, (size_t)ln->maxB * H);
    TAKE(ln->dtab, (size_t)ln->V * GH);
    TAKE(ln->dcond, (size_t)ln->C * GH);
    TAKE(ln->dP, N * ln->A);
    TAKE(ln->dQ, N * ln->A);
    TAKE(ln->dctx, ln->W > 0 ? N * H : 0);
    TAKE(ln->da, ln->W);
#undef TAKE
    return off;
}

static size_t find(const rnn_learn *ln, const char *name, size_t *offs)
{
    for (int i = 0; i < ln->n_tensors; i++)
        if (strcmp(ln->specs[i].name, name) == 0) return offs[i];
    return (size_t)-1;
}

rnn_learn *rnn_learn_create(const rnn_model *model, int max_batch, int max_steps, char *err,
                            size_t errlen)
{
    if (!model) {
        snprintf(err, errlen, "learn: no model");
        return NULL;
    }
    const rnn_model_config *cfg = rnn_model_get_config(model);
    if (max_batch < 1 || max_batch > 4096 || max_steps < 1 || max_steps > 65536 ||
        (size_t)max_batch * max_steps > ((size_t)1 << 22)) {
        snprintf(err, errlen, "learn: a batch of %d x %d steps is out of range", max_batch,
                 max_steps);
        return NULL;
    }
    if (cfg->enc_layers > 0) {
        snprintf(err, errlen,
                 "learn: the model reads a clip through an encoder (drumify), which learning "
                 "does not support");
        return NULL;
    }
    rnn_learn *ln = calloc(1, sizeof *ln);
    if (!ln) {
        snprintf(err, errlen, "learn: out of memory");
        return NULL;
    }
    ln->cfg = *cfg;
    ln->cell = rnn_cell_describe(cfg->cell);
    ln->L = cfg->layers, ln->E = cfg->embed, ln->H = cfg->hidden, ln->V = cfg->vocab;
    ln->G = ln->cell->gates, ln->GH = ln->G * ln->H;
    ln->C = rnn_model_input_columns(cfg);
    ln->I0 = ln->E > 0 ? ln->E : ln->V;
    ln->ld0 = ln->I0 + ln->C;
    ln->W = cfg->attn_window, ln->A = cfg->attn_window > 0 ? cfg->attn_size : 0;
    ln->Hh = ln->W > 0 ? 2 * ln->H : ln->H;
    ln->maxB = max_batch, ln->maxT = max_steps;
    ln->n_tensors = rnn_model_tensor_specs(cfg, ln->specs);
    size_t offs[RNN_MAX_TENSORS];
    for (int i = 0; i < ln->n_tensors; i++) {
        offs[i] = ln->n_params;
        ln->n_params += ln->specs[i].count;
    }
    ln->o_embed = ln->E > 0 ? find(ln, "embed.weight", offs) : 0;
    for (int l = 0; l < ln->L; l++) {
        char name[RNN_TENSOR_NAME_MAX];
        size_t *o[4] = {&ln->o_wih[l], &ln->o_whh[l], &ln->o_bih[l], &ln->o_bhh[l]};
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "%s%d", ln->cell->tensors[k].name, l);
            *o[k] = find(ln, name, offs);
        }
    }
    ln->o_headw = find(ln, "head.weight", offs);
    ln->o_headb = find(ln, "head.bias", offs);
    if (ln->W > 0) {
        ln->o_w1 = find(ln, "attn.W1", offs);
        ln->o_w2 = find(ln, "attn.W2", offs);
        ln->o_av = find(ln, "attn.v", offs);
    }

    ln->gemm = gemm_base, ln->kernel = "baseline";
    ln->attn_fwd = attn_fwd_base, ln->attn_bwd = attn_bwd_base;
#ifdef LN_X86_LEVELS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) {
        ln->gemm = gemm_v4, ln->kernel = "x86-64-v4";
        ln->attn_fwd = attn_fwd_v4, ln->attn_bwd = attn_bwd_v4;
    } else if (__builtin_cpu_supports("x86-64-v3")) {
        ln->gemm = gemm_v3, ln->kernel = "x86-64-v3";
        ln->attn_fwd = attn_fwd_v3, ln->attn_bwd = attn_bwd_v3;
    }
#endif

    const size_t floats = layout(ln, NULL);
    const size_t ints = (size_t)max_batch * max_steps;
    ln->block = calloc(floats, sizeof(float));
    ln->in = calloc(ints, sizeof(int32_t));
    ln->tg = calloc(ints, sizeof(int32_t));
    ln->on = calloc(ints * (ln->C > 0 ? ln->C : 1), sizeof(uint16_t));
    ln->n_on = calloc(ints, sizeof(uint16_t));
    if (!ln->block || !ln->in || !ln->tg || !ln->on || !ln->n_on) {
        snprintf(err, errlen, "learn: out of memory for a batch of %d x %d steps", max_batch,
                 max_steps);
        rnn_learn_free(ln);
        return NULL;
    }
    ln->bytes = sizeof *ln + floats * sizeof(float) + ints * 2 * sizeof(int32_t) +
                ints * ((ln->C > 0 ? ln->C : 1) + 1) * sizeof(uint16_t);
    layout(ln, ln->block);
    for (int i = 0; i < ln->n_tensors; i++) {
        const float *t = rnn_model_tensor(model, ln->specs[i].name, NULL);
        if (!t) {
            snprintf(err, errlen, "learn: the model has no tensor %s", ln->specs[i].name);
            rnn_learn_free(ln);
            return NULL;
        }
        memcpy(ln->w0 + offs[i], t, ln->specs[i].count * sizeof(float));
    }
    double s = 0;
    for (size_t i = 0; i < ln->n_params; i++)
        s += (double)ln->w0[i] * ln->w0[i];
    ln->w0norm = sqrt(s);
    rnn_learn_forget(ln);
    return ln;
}

void rnn_learn_free(rnn_learn *ln)
{
    if (!ln) return;
    free(ln->block);
    free(ln->in);
    free(ln->tg);
    free(ln->on);
    free(ln->n_on);
    free(ln);
}

size_t rnn_learn_bytes(const rnn_learn *ln)
{
    return ln->bytes;
}

const rnn_model_config *rnn_learn_config(const rnn_learn *ln)
{
    return &ln->cfg;
}

int rnn_learn_columns(const rnn_learn *ln)
{
    return ln->C;
}

size_t rnn_learn_num_params(const rnn_learn *ln)
{
    return ln->n_params;
}

float *rnn_learn_params(rnn_learn *ln)
{
    return ln->w;
}

const float *rnn_learn_grads(const rnn_learn *ln)
{
    return ln->dw;
}

const float *rnn_learn_start(const rnn_learn *ln)
{
    return ln->w0;
}

long rnn_learn_steps(const rnn_learn *ln)
{
    return ln->steps;
}

const char *rnn_learn_kernel_name(const rnn_learn *ln)
{
    return ln->kernel;
}

void rnn_learn_forget(rnn_learn *ln)
{
    memcpy(ln->w, ln->w0, ln->n_params * sizeof(float));
    memset(ln->m, 0, ln->n_params * sizeof(float));
    memset(ln->v, 0, ln->n_params * sizeof(float));
    memset(ln->dw, 0, ln->n_params * sizeof(float));
    ln->steps = 0;
    rnn_learn_accept(ln);
}

void rnn_learn_accept(rnn_learn *ln)
{
    const size_t bytes = ln->n_params * sizeof(float);
    memcpy(ln->wa, ln->w, bytes);
    memcpy(ln->ma, ln->m, bytes);
    memcpy(ln->va, ln->v, bytes);
    ln->steps_a = ln->steps;
}

void rnn_learn_reject(rnn_learn *ln)
{
    const size_t bytes = ln->n_params * sizeof(float);
    memcpy(ln->w, ln->wa, bytes);
    memcpy(ln->m, ln->ma, bytes);
    memcpy(ln->v, ln->va, bytes);
    ln->steps = ln->steps_a;
}

double rnn_learn_distance(const rnn_learn *ln)
{
    double s = 0;
    for (size_t i = 0; i < ln->n_params; i++) {
        const double d = (double)ln->w[i] - ln->w0[i];
        s += d * d;
    }
    return ln->w0norm > 0 ? sqrt(s) / ln->w0norm : sqrt(s);
}

/* ---------------------------------------------------------------------------
 * Layers, each a forward and its backward. */

static float sigm(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

/* dst (cols, rows) = src (rows, cols of ld) transposed. */
static void transpose(float *dst, const float *src, int rows, int cols, size_t ld)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            dst[(size_t)c * rows + r] = src[(size_t)r * ld + c];
}

/* The rearranged weights of the current parameters: layer 0's table of
 * event projections (biases in it, and b_hh too unless the cell keeps the
 * hidden side apart), the input columns', every W^T. */
static void prepare(rnn_learn *ln)
{
    const int GH = ln->GH, H = ln->H, V = ln->V;
    const float *w0 = ln->w + ln->o_wih[0];
    const float *bih = ln->w + ln->o_bih[0], *bhh = ln->w + ln->o_bhh[0];
    if (ln->E > 0) {
        transpose(ln->wembT, w0, GH, ln->E, (size_t)ln->ld0);
        memset(ln->tab, 0, (size_t)V * GH * sizeof(float));
        ln->gemm(ln->tab, (size_t)GH, ln->w + ln->o_embed, (size_t)ln->E, 1, ln->wembT, (size_t)GH,
                 V, GH, ln->E);
    } else {
        transpose(ln->tab, w0, GH, V, (size_t)ln->ld0);
    }
    for (int v = 0; v < V; v++) {
        float *t = ln->tab + (size_t)v * GH;
        for (int g = 0; g < GH; g++)
            t[g] += bih[g] + (ln->cell->hh_apart ? 0.0f : bhh[g]);
    }
    if (ln->C > 0) transpose(ln->condT, w0 + ln->I0, GH, ln->C, (size_t)ln->ld0);
    for (int l = 0; l < ln->L; l++) {
        if (l > 0) transpose(ln->wihT[l], ln->w + ln->o_wih[l], GH, H, (size_t)H);
        transpose(ln->whhT[l], ln->w + ln->o_whh[l], GH, H, (size_t)H);
    }
    transpose(ln->headT, ln->w + ln->o_headw, V, ln->Hh, (size_t)ln->Hh);
    if (ln->W > 0) {
        transpose(ln->w1T, ln->w + ln->o_w1, ln->A, H, (size_t)H);
        transpose(ln->w2T, ln->w + ln->o_w2, ln->A, H, (size_t)H);
    }
}

/* Layer 0's gate inputs g (N, GH): the table row of each event plus the
 * weights of each input column on. */
static void input0_forward(float *g, const rnn_learn *ln, size_t N)
{
    const int GH = ln->GH;
    for (size_t r = 0; r < N; r++) {
        float *o = g + r * GH;
        memcpy(o, ln->tab + (size_t)ln->in[r] * GH, GH * sizeof(float));
        const uint16_t *on = ln->on + r * ln->C;
        for (int j = 0; j < ln->n_on[r]; j++) {
            const float *wc = ln->condT + (size_t)on[j] * GH;
            for (int k = 0; k < GH; k++)
                o[k] += wc[k];
        }
    }
}

/* The gradients of layer 0's input side from dg (N, GH): summed per event
 * class into dtab and per column on into dcond, then into the weights:
 * dW_ih's event columns (one-hot) or dW_ih (E columns) and the embedding's,
 * and the input columns' block of dW_ih. */
static void input0_backward(rnn_learn *ln, size_t N)
{
    const int GH = ln->GH, V = ln->V, C = ln->C;
    memset(ln->dtab, 0, (size_t)V * GH * sizeof(float));
    if (C > 0) memset(ln->dcond, 0, (size_t)C * GH * sizeof(float));
    for (size_t r = 0; r < N; r++) {
        const float *d = ln->dg + r * GH;
        float *t = ln->dtab + (size_t)ln->in[r] * GH;
        for (int k = 0; k < GH; k++)
            t[k] += d[k];
        const uint16_t *on = ln->on + r * C;
        for (int j = 0; j < ln->n_on[r]; j++) {
            float *dc = ln->dcond + (size_t)on[j] * GH;
            for (int k = 0; k < GH; k++)
                dc[k] += d[k];
        }
    }
    float *dw0 = ln->dw + ln->o_wih[0];
    if (ln->E > 0) {
        /* dW (GH, E) = dtab^T embed; dembed (V, E) = dtab W */
        ln->gemm(dw0, (size_t)ln->ld0, ln->dtab, 1, (size_t)GH, ln->w + ln->o_embed, (size_t)ln->E,
                 GH, ln->E, V);
        ln->gemm(ln->dw + ln->o_embed, (size_t)ln->E, ln->dtab, (size_t)GH, 1, ln->w + ln->o_wih[0],
                 (size_t)ln->ld0, V, ln->E, GH);
    } else {
        for (int g = 0; g < GH; g++)
            for (int v = 0; v < V; v++)
                dw0[(size_t)g * ln->ld0 + v] += ln->dtab[(size_t)v * GH + g];
    }
    for (int g = 0; g < GH; g++)
        for (int c = 0; c < C; c++)
            dw0[(size_t)g * ln->ld0 + ln->I0 + c] += ln->dcond[(size_t)c * GH + g];
}

/* One step of nb lanes of a cell: g (nb, GH) holds the input projections
 * plus, unless hh (GRU) keeps it apart, W_hh h + b_hh; they become the gate
 * activations, h the output, c the cell state. */
static void cell_forward(rnn_cell cell, float *h, float *c, float *g, const float *hh,
                         const float *hprev, const float *cprev, int nb, int H)
{
    for (int b = 0; b < nb; b++) {
        float *gb = g + (size_t)b * (cell == RNN_CELL_LSTM ? 4 : cell == RNN_CELL_GRU ? 3 : 1) * H;
        const float *hp = hprev + (size_t)b * H;
        float *hb = h + (size_t)b * H;
        if (cell == RNN_CELL_RNN) {
            for (int j = 0; j < H; j++)
                hb[j] = gb[j] = tanhf(gb[j]);
        } else if (cell == RNN_CELL_LSTM) {
            const float *cp = cprev + (size_t)b * H;
            float *cb = c + (size_t)b * H;
            for (int j = 0; j < H; j++) {
                const float i = sigm(gb[j]), f = sigm(gb[H + j]), gg = tanhf(gb[2 * H + j]),
                            o = sigm(gb[3 * H + j]);
                gb[j] = i, gb[H + j] = f, gb[2 * H + j] = gg, gb[3 * H + j] = o;
                cb[j] = f * cp[j] + i * gg;
                hb[j] = o * tanhf(cb[j]);
            }
        } else {
            const float *hb_ = hh + (size_t)b * 3 * H;
            for (int j = 0; j < H; j++) {
                const float r = sigm(gb[j] + hb_[j]), z = sigm(gb[H + j] + hb_[H + j]);
                const float n = tanhf(gb[2 * H + j] + r * hb_[2 * H + j]);
                gb[j] = r, gb[H + j] = z, gb[2 * H + j] = n;
                hb[j] = (1.0f - z) * n + z * hp[j];
            }
        }
    }
}

/* The same step back: dh (nb, H) the output's gradient (from above plus the
 * recurrent one), dc (nb, H) the cell state's, in and out (LSTM). dg
 * receives the input side's pre-activation gradients, dgh (GRU) the hidden
 * side's; dhp (nb, H) receives the part of h_{t-1}'s gradient that does not
 * go through W_hh (GRU's z h), zero for the others. */
static void cell_backward(rnn_cell cell, float *dg, float *dgh, float *dhp, float *dc,
                          const float *dh, const float *g, const float *hh, const float *hprev,
                          const float *c, const float *cprev, int nb, int H)
{
    const int GH = (cell == RNN_CELL_LSTM ? 4 : cell == RNN_CELL_GRU ? 3 : 1) * H;
    for (int b = 0; b < nb; b++) {
        const float *gb = g + (size_t)b * GH, *d = dh + (size_t)b * H;
        float *o = dg + (size_t)b * GH, *p = dhp + (size_t)b * H;
        if (cell == RNN_CELL_RNN) {
            for (int j = 0; j < H; j++) {
                o[j] = d[j] * (1.0f - gb[j] * gb[j]);
                p[j] = 0.0f;
            }
        } else if (cell == RNN_CELL_LSTM) {
            const float *cb = c + (size_t)b * H, *cp = cprev + (size_t)b * H;
            float *dcb = dc + (size_t)b * H;
            for (int j = 0; j < H; j++) {
                const float i = gb[j], f = gb[H + j], gg = gb[2 * H + j], og = gb[3 * H + j];
                const float tc = tanhf(cb[j]);
                const float dct = dcb[j] + d[j] * og * (1.0f - tc * tc);
                o[j] = dct * gg * i * (1.0f - i);
                o[H + j] = dct * cp[j] * f * (1.0f - f);
                o[2 * H + j] = dct * i * (1.0f - gg * gg);
                o[3 * H + j] = d[j] * tc * og * (1.0f - og);
                dcb[j] = dct * f;
                p[j] = 0.0f;
            }
        } else {
            const float *hb_ = hh + (size_t)b * GH, *hp = hprev + (size_t)b * H;
            float *oh = dgh + (size_t)b * GH;
            for (int j = 0; j < H; j++) {
                const float r = gb[j], z = gb[H + j], n = gb[2 * H + j];
                const float dn = d[j] * (1.0f - z) * (1.0f - n * n);
                const float dz = d[j] * (hp[j] - n) * z * (1.0f - z);
                const float dr = dn * hb_[2 * H + j] * r * (1.0f - r);
                o[j] = oh[j] = dr;
                o[H + j] = oh[H + j] = dz;
                o[2 * H + j] = dn;
                oh[2 * H + j] = dn * r;
                p[j] = d[j] * z;
            }
        }
    }
}

/* The attention over the top layer's outputs h (N, H): the projections
 * of every row as products, then the rows (attn_fwd). */
static void attn_forward(rnn_learn *ln, const float *h, size_t N)
{
    const int H = ln->H, A = ln->A;
    memset(ln->P, 0, N * A * sizeof(float));
    memset(ln->Q, 0, N * A * sizeof(float));
    ln->gemm(ln->P, (size_t)A, h, (size_t)H, 1, ln->w1T, (size_t)A, (int)N, A, H);
    ln->gemm(ln->Q, (size_t)A, h, (size_t)H, 1, ln->w2T, (size_t)A, (int)N, A, H);
    ln->attn_fwd(ln, h);
}

/* Back from dctx (N, H): the rows (attn_bwd) into dv, dP, dQ and dh, then
 * dW1 += dP^T h, dW2 += dQ^T h, dh += dP W1 + dQ W2. */
static void attn_backward(rnn_learn *ln, const float *h, size_t N)
{
    const int H = ln->H, A = ln->A;
    memset(ln->dP, 0, N * A * sizeof(float));
    memset(ln->dQ, 0, N * A * sizeof(float));
    ln->attn_bwd(ln, h);
    ln->gemm(ln->dw + ln->o_w1, (size_t)H, ln->dP, 1, (size_t)A, h, (size_t)H, A, H, (int)N);
    ln->gemm(ln->dw + ln->o_w2, (size_t)H, ln->dQ, 1, (size_t)A, h, (size_t)H, A, H, (int)N);
    ln->gemm(ln->dh, (size_t)H, ln->dP, (size_t)A, 1, ln->w + ln->o_w1, (size_t)H, (int)N, H, A);
    ln->gemm(ln->dh, (size_t)H, ln->dQ, (size_t)A, 1, ln->w + ln->o_w2, (size_t)H, (int)N, H, A);
}

/* Softmax of logits (N, V) in place into probabilities; returns the NLL
 * of the targets >= 0 (their number in *count). */
static double softmax_nll(float *p, const int32_t *tg, size_t N, int V, long *count)
{
    double nll = 0;
    long n = 0;
    for (size_t r = 0; r < N; r++) {
        float *x = p + r * V;
        float mx = x[0];
        for (int k = 1; k < V; k++)
            mx = x[k] > mx ? x[k] : mx;
        double s = 0;
        for (int k = 0; k < V; k++)
            s += exp((double)x[k] - mx);
        const double lse = mx + log(s);
        if (tg[r] >= 0) {
            nll += lse - x[tg[r]];
            n++;
        }
        for (int k = 0; k < V; k++)
            x[k] = (float)exp((double)x[k] - lse);
    }
    *count = n;
    return nll;
}

/* ---------------------------------------------------------------------------
 * The passes. */

double rnn_learn_forward(rnn_learn *ln, const int32_t *inputs, const float *cols,
                         const int32_t *targets, int B, int T, long *count)
{
    if (count) *count = 0;
    if (B < 1 || B > ln->maxB || T < 1 || T > ln->maxT || !inputs || !targets) return -1;
    const int H = ln->H, GH = ln->GH, V = ln->V, C = ln->C;
    const size_t N = (size_t)T * B, BH = (size_t)B * H;
    ln->B = B, ln->T = T;
    for (size_t r = 0; r < N; r++) {
        ln->in[r] = inputs[r] >= 0 && inputs[r] < V ? inputs[r] : 0;
        ln->tg[r] = targets[r] >= 0 && targets[r] < V ? targets[r] : -1;
        int n = 0;
        for (int c = 0; cols && c < C; c++)
            if (cols[r * C + c] != 0.0f) ln->on[r * C + n++] = (uint16_t)c;
        ln->n_on[r] = (uint16_t)n;
    }
    prepare(ln);
    const rnn_cell cell = ln->cfg.cell;
    for (int l = 0; l < ln->L; l++) {
        float *g = ln->gates[l], *hs = ln->hs[l], *cs = ln->cs[l], *hh = ln->ghh[l];
        const float *bih = ln->w + ln->o_bih[l], *bhh = ln->w + ln->o_bhh[l];
        if (l == 0) {
            input0_forward(g, ln, N);
        } else {
            for (size_t r = 0; r < N; r++)
                for (int k = 0; k < GH; k++)
                    g[r * GH + k] = bih[k] + (ln->cell->hh_apart ? 0.0f : bhh[k]);
            ln->gemm(g, (size_t)GH, ln->hs[l - 1] + BH, (size_t)H, 1, ln->wihT[l], (size_t)GH,
                     (int)N, GH, H);
        }
        memset(hs, 0, BH * sizeof(float));
        if (cs) memset(cs, 0, BH * sizeof(float));
        for (int t = 0; t < T; t++) {
            float *gt = g + (size_t)t * B * GH;
            const float *hp = hs + (size_t)t * BH;
            float *ht = NULL;
            if (hh) {
                ht = hh + (size_t)t * B * GH;
                for (int b = 0; b < B; b++)
                    memcpy(ht + (size_t)b * GH, bhh, GH * sizeof(float));
            }
            ln->gemm(hh ? ht : gt, (size_t)GH, hp, (size_t)H, 1, ln->whhT[l], (size_t)GH, B, GH, H);
            cell_forward(cell, hs + (size_t)(t + 1) * BH, cs ? cs + (size_t)(t + 1) * BH : NULL, gt,
                         ht, hp, cs ? cs + (size_t)t * BH : NULL, B, H);
        }
    }
    const float *top = ln->hs[ln->L - 1] + BH, *hb = ln->w + ln->o_headb;
    if (ln->W > 0) attn_forward(ln, top, N);
    for (size_t r = 0; r < N; r++)
        memcpy(ln->probs + r * V, hb, V * sizeof(float));
    ln->gemm(ln->probs, (size_t)V, top, (size_t)H, 1, ln->headT, (size_t)V, (int)N, V, H);
    if (ln->W > 0) /* the head's context columns */
        ln->gemm(ln->probs, (size_t)V, ln->ctx, (size_t)H, 1, ln->headT + (size_t)H * V, (size_t)V,
                 (int)N, V, H);
    long n = 0;
    const double nll = softmax_nll(ln->probs, ln->tg, N, V, &n);
    ln->count = n;
    if (count) *count = n;
    return nll;
}

void rnn_learn_backward(rnn_learn *ln)
{
    memset(ln->dw, 0, ln->n_params * sizeof(float));
    if (ln->count == 0) return;
    const int B = ln->B, T = ln->T, H = ln->H, GH = ln->GH, V = ln->V;
    const size_t N = (size_t)T * B, BH = (size_t)B * H;
    const rnn_cell cell = ln->cfg.cell;

    /* the head: dlogits = (p - onehot) / count, zero for targets not counted */
    const float scale = 1.0f / (float)ln->count;
    float *dl = ln->probs;
    for (size_t r = 0; r < N; r++) {
        float *d = dl + r * V;
        if (ln->tg[r] < 0) {
            memset(d, 0, V * sizeof(float));
            continue;
        }
        d[ln->tg[r]] -= 1.0f;
        for (int k = 0; k < V; k++)
            d[k] *= scale;
    }
    const float *top = ln->hs[ln->L - 1] + BH;
    const int Hh = ln->Hh;
    float *dhb = ln->dw + ln->o_headb, *dhw = ln->dw + ln->o_headw;
    const float *hw = ln->w + ln->o_headw;
    for (size_t r = 0; r < N; r++)
        for (int k = 0; k < V; k++)
            dhb[k] += dl[r * V + k];
    ln->gemm(dhw, (size_t)Hh, dl, 1, (size_t)V, top, (size_t)H, V, H, (int)N);
    memset(ln->dh, 0, N * H * sizeof(float));
    ln->gemm(ln->dh, (size_t)H, dl, (size_t)V, 1, hw, (size_t)Hh, (int)N, H, V);
    if (ln->W > 0) { /* the context columns, then back through the attention into dh */
        ln->gemm(dhw + H, (size_t)Hh, dl, 1, (size_t)V, ln->ctx, (size_t)H, V, H, (int)N);
        memset(ln->dctx, 0, N * H * sizeof(float));
        ln->gemm(ln->dctx, (size_t)H, dl, (size_t)V, 1, hw + H, (size_t)Hh, (int)N, H, V);
        attn_backward(ln, top, N);
    }

    for (int l = ln->L - 1; l >= 0; l--) {
        const float *g = ln->gates[l], *hs = ln->hs[l], *cs = ln->cs[l], *hh = ln->ghh[l];
        const float *whh = ln->w + ln->o_whh[l];
        float *dgh = ln->cell->hh_apart ? ln->dgh : ln->dg;
        memset(ln->dhn, 0, BH * sizeof(float));
        memset(ln->dcn, 0, BH * sizeof(float));
        for (int t = T - 1; t >= 0; t--) {
            const size_t rg = (size_t)t * B * GH, rh = (size_t)t * BH;
            float *d = ln->dh + rh;
            for (size_t i = 0; i < BH; i++)
                d[i] += ln->dhn[i];
            cell_backward(cell, ln->dg + rg, ln->dgh ? ln->dgh + rg : NULL, ln->dhn, ln->dcn, d,
                          g + rg, hh ? hh + rg : NULL, hs + rh, cs ? cs + rh + BH : NULL,
                          cs ? cs + rh : NULL, B, H);
            ln->gemm(ln->dhn, (size_t)H, dgh + rg, (size_t)GH, 1, whh, (size_t)H, B, H, GH);
        }
        /* weights and biases of the layer over the whole batch */
        ln->gemm(ln->dw + ln->o_whh[l], (size_t)H, dgh, 1, (size_t)GH, hs, (size_t)H, GH, H,
                 (int)N);
        float *dbi = ln->dw + ln->o_bih[l], *dbh = ln->dw + ln->o_bhh[l];
        for (size_t r = 0; r < N; r++)
            for (int k = 0; k < GH; k++) {
                dbi[k] += ln->dg[r * GH + k];
                dbh[k] += dgh[r * GH + k];
            }
        if (l == 0) {
            input0_backward(ln, N);
        } else {
            const float *x = ln->hs[l - 1] + BH, *wih = ln->w + ln->o_wih[l];
            ln->gemm(ln->dw + ln->o_wih[l], (size_t)H, ln->dg, 1, (size_t)GH, x, (size_t)H, GH, H,
                     (int)N);
            memset(ln->dx, 0, N * H * sizeof(float));
            ln->gemm(ln->dx, (size_t)H, ln->dg, (size_t)GH, 1, wih, (size_t)H, (int)N, H, GH);
            float *swap = ln->dh;
            ln->dh = ln->dx, ln->dx = swap;
        }
    }
    ln->count = 0; /* the probabilities now hold the logit gradients */
}

double rnn_learn_nll(rnn_learn *ln, const int32_t *inputs, const float *cols,
                     const int32_t *targets, int B, int T)
{
    long n = 0;
    const double s = rnn_learn_forward(ln, inputs, cols, targets, B, T, &n);
    ln->count = 0;
    return s < 0 || n == 0 ? -1 : s / (double)n;
}

double rnn_learn_step(rnn_learn *ln, const rnn_learn_options *o, const int32_t *inputs,
                      const float *cols, const int32_t *targets, int B, int T)
{
    long n = 0;
    const double s = rnn_learn_forward(ln, inputs, cols, targets, B, T, &n);
    if (s < 0 || n == 0 || !isfinite(s)) return -1;
    rnn_learn_backward(ln);
    const size_t P = ln->n_params;
    double sq = 0;
    for (size_t i = 0; i < P; i++)
        sq += (double)ln->dw[i] * ln->dw[i];
    if (!isfinite(sq)) return -1;
    const double norm = sqrt(sq);
    const float gs = o->clip > 0 && norm > o->clip ? (float)(o->clip / norm) : 1.0f;

    /* AdamW (PyTorch's order: decay, then the moment update), the decay
     * pulling towards w0 */
    ln->steps++;
    const double bc1 = 1.0 - pow(o->beta1, (double)ln->steps);
    const double bc2 = 1.0 - pow(o->beta2, (double)ln->steps);
    const float step = (float)(o->lr / bc1), bc2s = (float)sqrt(bc2);
    const float decay = o->lr * o->pull;
    double dist = 0;
    for (size_t i = 0; i < P; i++) {
        const float g = ln->dw[i] * gs;
        float w = ln->w[i] - decay * (ln->w[i] - ln->w0[i]);
        ln->m[i] = o->beta1 * ln->m[i] + (1.0f - o->beta1) * g;
        ln->v[i] = o->beta2 * ln->v[i] + (1.0f - o->beta2) * g * g;
        w -= step * ln->m[i] / (sqrtf(ln->v[i]) / bc2s + o->eps);
        ln->w[i] = w;
        const double d = (double)w - ln->w0[i];
        dist += d * d;
    }
    const double bound = (double)o->radius * ln->w0norm;
    if (o->radius > 0 && dist > bound * bound) {
        const float k = (float)(bound / sqrt(dist));
        for (size_t i = 0; i < P; i++)
            ln->w[i] = ln->w0[i] + k * (ln->w[i] - ln->w0[i]);
    }
    return s / (double)n;
}

rnn_model *rnn_learn_model(const rnn_learn *ln, const rnn_meta *meta, size_t n_meta, char *err,
                           size_t errlen)
{
    const float *t[RNN_MAX_TENSORS];
    size_t off = 0;
    for (int i = 0; i < ln->n_tensors; i++) {
        t[i] = ln->w + off;
        off += ln->specs[i].count;
    }
    void *buf = NULL;
    size_t len = 0;
    if (rnn_model_serialize(&ln->cfg, meta, n_meta, t, &buf, &len, err, errlen) != 0) return NULL;
    rnn_model *m = rnn_model_load_memory(buf, len, "learned model", err, errlen);
    free(buf);
    return m;
}
