/* SPDX-License-Identifier: MIT */
/* rnnmidi core: one network instance running one grid step at a time.
 *
 * At create the weights of the model are copied into one aligned block in a
 * layout made for a single-threaded matrix-vector product: every layer's
 * [W_ih | W_hh] is fused (one pass over the rows computes every gate from the
 * concatenated input [x | h]) and stored as panels of 64 rows in which one
 * input column is 64 contiguous floats. The product is then a stream of
 * broadcast(x[k]) * 8 vectors of weights into 8 independent accumulators:
 * weights are read once, in order, and no horizontal sum is needed. Each
 * output row is summed in column order whatever the blocking, so a step cut
 * into pieces gives bit-identical logits.
 *
 * Gate rows are padded per gate to a multiple of 16 (Hp) so every gate starts
 * on a vector boundary; padded rows are zero and their state stays zero.
 * The products of a layer are its cell's row of core/cell.c: one over
 * [x | h] for RNN and LSTM; GRU needs W_in x and W_hn h apart (b_hn sits
 * inside the reset product), so a GRU layer is three products: [r z] over
 * [x | h], n over x, n over h. The gate functions of every build share one
 * signature and are picked by cell type.
 * With E = 0 the one-hot input is a column pick of weight_ih_l0, stored
 * transposed at create so the pick reads one contiguous row. The condition
 * and lookback columns of a version 2 model (weight_ih_l0's last C + L
 * columns) are 0/1 inputs too and are stored the same way: a step adds the
 * row of each column that is on (no product over the zeros; the one-hot
 * blocks of a melody's lookback are thus column picks), in column order,
 * after the event, whether the step runs whole or in slices. A model with a
 * bidirectional encoder (core/encoder.h) has 2 He more columns after those:
 * dense values (the encoder's outputs at the step), stored transposed the
 * same way and added as value times row, in column order, in the same place
 * of the step.
 *
 * The hot code (the panel product and the gate functions) is GCC
 * vector-extension C built three times, for x86-64-v4, x86-64-v3 and the
 * baseline, and each net picks the best its CPU runs (__builtin_cpu_supports),
 * so the build itself stays generic x86-64 (and builds on aarch64). The gate
 * functions use their own vectorised exp (about 1 ulp) for sigmoid and tanh
 * instead of libm's scalar calls. The products run at about the read
 * bandwidth of the cache that holds the weights (tests/bench/bench_net.c).
 * Denormals: every piece of a step sets FTZ/DAZ in MXCSR on x86 and restores
 * the caller's mode before returning.
 *
 * A matrix the preset stores reduced (bf16 or int8, core/FORMAT.md) is not
 * unpacked to floats: its stored values become a core/qmat matrix of the
 * same padded rows, and its product is a job of its own that rounds its
 * input once when the job starts (rnn_qmat_input) and then adds row ranges
 * (rnn_qmat_mv_input), so a sliced step stays bit-identical to a whole one.
 * A product over [x | h] whose sides differ in dtype is cut in two: the
 * float32 side first (it stores), then each reduced side (it adds); a
 * product with no float32 side zeroes its rows first. The gates, the state
 * and every other number stay float32.
 *
 * With attention (core/attention.h) the top layer's h is attended over the
 * ring of its last n outputs between the top layer and the head, as a piece
 * of the same sliced work (one row of budget stands for H units of the
 * attention's work), and the head reads [h | context]: 2H columns.
 *
 * Recurrent state is double-buffered: a step reads state[cur] and writes
 * state[cur ^ 1], and only a finished step flips cur, so an abandoned step
 * leaves the last finished state; the attention's ring likewise takes the
 * step's h only when the step finishes (rnn_attn_commit). Dimension letters: L layers, E embedding,
 * H hidden (Hp padded), G gates, V vocabulary, K columns of a product. */
#include "net.h"
#include "attention.h"
#include "lookback.h"
#include "qmat.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || (defined(__i386__) && defined(__SSE__))
#include <xmmintrin.h>
#define RNN_HAVE_MXCSR 1
#endif

/* Three builds of the hot code, picked once per net at create: x86-64-v4
 * (AVX-512), x86-64-v3 (AVX2 + FMA) and the baseline (SSE2 on x86-64, NEON
 * on aarch64, 16-byte vectors: wider generic vectors spill on these).
 * Floating-point contraction is enabled on them so v3/v4 use FMA.
 * Tests pin a build with RNN_NET_ISA: 0 compiles the baseline only, 3 runs
 * x86-64-v3 when the CPU has it. */
#if defined(__GNUC__) && !defined(__clang__)
#define RNN_CONTRACT __attribute__((optimize("fp-contract=fast")))
#if defined(__x86_64__) && __GNUC__ >= 12 && !(defined(RNN_NET_ISA) && RNN_NET_ISA == 0)
#define RNN_X86_LEVELS 1
#define RNN_V4 __attribute__((target("arch=x86-64-v4")))
#define RNN_V3 __attribute__((target("arch=x86-64-v3")))
#endif
#else
#define RNN_CONTRACT
#endif
#define RNN_INLINE static inline __attribute__((always_inline))

enum {
    ROWS = 8,   /* rows are padded to this: the unit of a piece of work */
    PANEL = 64, /* rows per panel of the packed weights */
    UNIT = 16,  /* H is padded to this, the widest gate vector */
    ALIGN = 64
};

typedef float vf4 __attribute__((vector_size(4 * sizeof(float)), may_alias));
typedef int32_t vi4 __attribute__((vector_size(4 * sizeof(int32_t)), may_alias));
typedef float vf8 __attribute__((vector_size(8 * sizeof(float)), may_alias));
typedef int32_t vi8 __attribute__((vector_size(8 * sizeof(int32_t)), may_alias));
typedef float vf16 __attribute__((vector_size(16 * sizeof(float)), may_alias));
typedef int32_t vi16 __attribute__((vector_size(16 * sizeof(int32_t)), may_alias));

/* One matrix-vector product y = W x (float32 panels), or y += W x (a
 * reduced matrix): rows (multiple of ROWS) by K columns. */
typedef struct {
    const float *w; /* panels of PANEL rows: column k of panel p is w[p*PANEL*K + k*pw] */
    rnn_qmat *q;    /* or the reduced matrix (w NULL) */
    int zero;       /* q: set y to zero first (no float32 product stored it) */
    const float *x; /* K inputs */
    float *y;       /* rows outputs */
    int rows;
    int K;
    int finish; /* after this product: -1 nothing, 0..L-1 finish that layer, L the head */
} rnn_job;

/* One layer's gate function: its next state (h, then c when the cell has
 * it, Hp each) from its current state, the products a and the biases b. */
typedef void (*rnn_gate_fn)(float *restrict next, const float *restrict cur,
                            const float *restrict a, const float *restrict b, int Hp);

/* One build of the hot code: the product of one panel and the gate function
 * of every cell type. */
typedef struct {
    const char *name;
    void (*panel)(const float *restrict w, size_t pw, int K, const float *restrict x,
                  float *restrict y, int rows);
    rnn_gate_fn gates[RNN_CELL_COUNT];
} rnn_isa;

#define MAX_JOBS (RNN_CELL_MAX_PRODUCTS * RNN_MAX_LAYERS + 1)

struct rnn_net {
    const rnn_model *model;
    rnn_model_config cfg;
    const rnn_cell_desc *cell; /* the row of cfg.cell in core/cell.c */
    int G, Hp, Vp;
    const rnn_isa *isa;    /* the build of the kernels this CPU runs */
    int I[RNN_MAX_LAYERS]; /* columns of the input part of layer k (0 for k = 0 with E = 0) */

    rnn_job jobs[2 * MAX_JOBS]; /* a product of mixed dtypes takes two */
    int njobs;
    rnn_qmat *qm[2 * MAX_JOBS]; /* the reduced matrices, owned */
    int nqm;
    int rows; /* total rows of all jobs */

    /* weights (in the block) */
    const float *embed; /* (V, E) the model's own table */
    float *col0;        /* (V, col0_n) weight_ih_l0 transposed, E = 0 only */
    int col0_n;         /* the cell's slots fed with x, times Hp */
    int C;              /* condition and lookback columns, after the event's in weight_ih_l0 */
    float *cond0;       /* (C, col0_n) those columns transposed, C > 0 only */
    uint16_t cond_on[RNN_MAX_INPUT_COLUMNS]; /* the columns on in the step in progress */
    int n_on;
    int Ce;       /* the encoder's columns, after the C in weight_ih_l0 (2 He, 0 without) */
    float *enc0;  /* (Ce, col0_n) those columns transposed, Ce > 0 only */
    float *enc_x; /* (Ce) the encoder's outputs of the step in progress */
    float *bias[RNN_MAX_LAYERS]; /* (slots*Hp): GRU r, z, b_in, b_hn */
    float *head_b;               /* (V) */
    int Hh;                      /* columns of the head: H, or 2H over [h | context] */
    rnn_attn *attn;              /* attention over the top layer's outputs, or NULL */

    /* state and scratch (in the block) */
    float *state[2]; /* per buffer and layer: h, then c (LSTM), Hp each */
    int cur;
    float *xin[RNN_MAX_LAYERS]; /* [input of layer k | h of layer k], I_k + H */
    float *xhead;               /* (Hh) top h, then the context with attention */
    float *gates[RNN_MAX_LAYERS];
    float *head_y; /* (Vp) */
    float *logits; /* (V) */

    /* step in progress */
    int busy;
    int event;
    int job;
    int pos;          /* row units (ROWS) of the current job done */
    int attending;    /* the top layer is done, the attention (or its charge) not */
    int attn_done;    /* the attention's context is ready */
    size_t attn_paid; /* row units of budget charged for the attention so far */

    void *block;
    size_t block_bytes;
};

/* ---------------------------------------------------------------------------
 * Kernels, written once for a vector type T and built per instruction set.
 *
 * mv_rows: n (1..8, a constant after inlining) vectors of rows from a panel
 * whose column stride is pw floats, one accumulator per vector, columns in
 * order. mv_panel: `rows` rows (a multiple of ROWS) from the same panel. */
#define RNN_KERNEL(S, T, ATTR)                                                                     \
    ATTR RNN_INLINE void mv_rows_##S(const float *restrict w, size_t pw, int K,                    \
                                     const float *restrict x, float *restrict y, const int n)      \
    {                                                                                              \
        T a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};          \
        for (int k = 0; k < K; k++) {                                                              \
            const T *r = (const T *)(w + (size_t)k * pw);                                          \
            const float xk = x[k];                                                                 \
            a0 += r[0] * xk;                                                                       \
            if (n > 1) a1 += r[1] * xk;                                                            \
            if (n > 2) a2 += r[2] * xk;                                                            \
            if (n > 3) a3 += r[3] * xk;                                                            \
            if (n > 4) a4 += r[4] * xk;                                                            \
            if (n > 5) a5 += r[5] * xk;                                                            \
            if (n > 6) a6 += r[6] * xk;                                                            \
            if (n > 7) a7 += r[7] * xk;                                                            \
        }                                                                                          \
        T *o = (T *)y;                                                                             \
        o[0] = a0;                                                                                 \
        if (n > 1) o[1] = a1;                                                                      \
        if (n > 2) o[2] = a2;                                                                      \
        if (n > 3) o[3] = a3;                                                                      \
        if (n > 4) o[4] = a4;                                                                      \
        if (n > 5) o[5] = a5;                                                                      \
        if (n > 6) o[6] = a6;                                                                      \
        if (n > 7) o[7] = a7;                                                                      \
    }                                                                                              \
    ATTR static void mv_panel_##S(const float *restrict w, size_t pw, int K,                       \
                                  const float *restrict x, float *restrict y, int rows)            \
    {                                                                                              \
        const int lanes = (int)(sizeof(T) / sizeof(float));                                        \
        for (int nv = rows / lanes; nv > 0;) {                                                     \
            int n = nv < 8 ? nv : 8;                                                               \
            switch (n) {                                                                           \
            case 8:                                                                                \
                mv_rows_##S(w, pw, K, x, y, 8);                                                    \
                break;                                                                             \
            case 7:                                                                                \
                mv_rows_##S(w, pw, K, x, y, 7);                                                    \
                break;                                                                             \
            case 6:                                                                                \
                mv_rows_##S(w, pw, K, x, y, 6);                                                    \
                break;                                                                             \
            case 5:                                                                                \
                mv_rows_##S(w, pw, K, x, y, 5);                                                    \
                break;                                                                             \
            case 4:                                                                                \
                mv_rows_##S(w, pw, K, x, y, 4);                                                    \
                break;                                                                             \
            case 3:                                                                                \
                mv_rows_##S(w, pw, K, x, y, 3);                                                    \
                break;                                                                             \
            case 2:                                                                                \
                mv_rows_##S(w, pw, K, x, y, 2);                                                    \
                break;                                                                             \
            default:                                                                               \
                mv_rows_##S(w, pw, K, x, y, 1);                                                    \
                break;                                                                             \
            }                                                                                      \
            w += n * lanes;                                                                        \
            y += n * lanes;                                                                        \
            nv -= n;                                                                               \
        }                                                                                          \
    }

/* Row units [u0, u1) (of ROWS rows) of a job's output. A reduced matrix
 * rounds its input when its job starts. */
static void job_run(const rnn_isa *isa, const rnn_job *j, int u0, int u1)
{
    if (j->q) {
        if (u0 == 0) rnn_qmat_input(j->q, j->x);
        if (j->zero) memset(j->y + (size_t)u0 * ROWS, 0, (size_t)(u1 - u0) * ROWS * sizeof(float));
        rnn_qmat_mv_input(j->q, j->y, u0 * ROWS, u1 * ROWS);
        return;
    }
    const int upp = PANEL / ROWS;
    while (u0 < u1) {
        int p = u0 / upp, off = u0 % upp;
        int prow = p * PANEL;
        int pw = j->rows - prow < PANEL ? j->rows - prow : PANEL;
        int n = pw / ROWS - off;
        if (n > u1 - u0) n = u1 - u0;
        isa->panel(j->w + (size_t)prow * j->K + (size_t)off * ROWS, (size_t)pw, j->K, j->x,
                   j->y + (size_t)u0 * ROWS, n * ROWS);
        u0 += n;
    }
}

/* ---------------------------------------------------------------------------
 * Gate functions, written once for a vector type T (integer twin U).
 *
 * exp for x in [-87, 88] (clamped), about 1 ulp: Cody-Waite reduction by
 * ln 2, a degree-6 polynomial (Cephes expf), 2^n put in the exponent bits;
 * adding 1.5 * 2^23 rounds to an integer. sigmoid = 1 / (1 + exp(-x)).
 * tanh: an odd polynomial below 0.625 (Cephes tanhf), 1 - 2/(e^2|x| + 1)
 * above. The helpers work in place through a pointer: after inlining nothing
 * goes through memory, and no wide vector crosses a call.
 *
 * Gate buffers: a holds the products, b the biases, in the cell's slots of
 * Hp (core/cell.c): RNN h; LSTM i, f, g, o; GRU r, z (W_i x + W_h h), W_in x,
 * W_hn h with b holding b_ir + b_hr, b_iz + b_hz, b_in, b_hn. Every gate
 * function has one signature: the layer's next state from its current state
 * (h, then c for LSTM) and the products. */
#define RNN_GATE_FUNCS(S, T, U, INL, HOT)                                                          \
    INL void v_exp_##S(T *px)                                                                      \
    {                                                                                              \
        T x = *px;                                                                                 \
        U m = x > 88.0f;                                                                           \
        x = (T)(((U)x & ~m) | ((U)((T){0} + 88.0f) & m));                                          \
        m = x < -87.0f;                                                                            \
        x = (T)(((U)x & ~m) | ((U)((T){0} - 87.0f) & m));                                          \
        const float magic = 12582912.0f;                                                           \
        T t = x * 1.44269504088896341f + magic;                                                    \
        T n = t - magic;                                                                           \
        T f = x - n * 0.693359375f;                                                                \
        f = f - n * -2.12194440e-4f;                                                               \
        T p = 1.9875691500e-4f + (T){0};                                                           \
        p = p * f + 1.3981999507e-3f;                                                              \
        p = p * f + 8.3334519073e-3f;                                                              \
        p = p * f + 4.1665795894e-2f;                                                              \
        p = p * f + 1.6666665459e-1f;                                                              \
        p = p * f + 5.0000001201e-1f;                                                              \
        p = p * (f * f) + f + 1.0f;                                                                \
        U e = ((U)t - (U)((T){0} + magic) + 127) << 23;                                            \
        *px = p * (T)e;                                                                            \
    }                                                                                              \
    INL void v_sigmoid_##S(T *px)                                                                  \
    {                                                                                              \
        T e = -*px;                                                                                \
        v_exp_##S(&e);                                                                             \
        *px = 1.0f / (1.0f + e);                                                                   \
    }                                                                                              \
    INL void v_tanh_##S(T *px)                                                                     \
    {                                                                                              \
        T x = *px;                                                                                 \
        U neg = x < 0.0f;                                                                          \
        T ax = (T)(((U)x & ~neg) | ((U)-x & neg));                                                 \
        T z = x * x;                                                                               \
        T p = -5.70498872745e-3f * z + 2.06390887954e-2f;                                          \
        p = p * z - 5.37397155531e-2f;                                                             \
        p = p * z + 1.33314422036e-1f;                                                             \
        p = p * z - 3.33332819422e-1f;                                                             \
        T small = p * z * x + x;                                                                   \
        T e = ax + ax;                                                                             \
        v_exp_##S(&e);                                                                             \
        T big = 1.0f - 2.0f / (e + 1.0f);                                                          \
        big = (T)(((U)big & ~neg) | ((U)-big & neg));                                              \
        U lo = ax < 0.625f;                                                                        \
        *px = (T)(((U)small & lo) | ((U)big & ~lo));                                               \
    }                                                                                              \
    HOT static void pw_rnn_##S(float *restrict hn, const float *restrict cur,                      \
                               const float *restrict a, const float *restrict b, int Hp)           \
    {                                                                                              \
        (void)cur;                                                                                 \
        for (int j = 0; j < Hp; j += (int)(sizeof(T) / sizeof(float))) {                           \
            T h = *(const T *)(a + j) + *(const T *)(b + j);                                       \
            v_tanh_##S(&h);                                                                        \
            *(T *)(hn + j) = h;                                                                    \
        }                                                                                          \
    }                                                                                              \
    HOT static void pw_lstm_##S(float *restrict next, const float *restrict cur,                   \
                                const float *restrict a, const float *restrict b, int Hp)          \
    {                                                                                              \
        float *restrict hn = next, *restrict cn = next + Hp;                                       \
        const float *restrict c = cur + Hp;                                                        \
        for (int j = 0; j < Hp; j += (int)(sizeof(T) / sizeof(float))) {                           \
            T i = *(const T *)(a + j) + *(const T *)(b + j);                                       \
            T f = *(const T *)(a + Hp + j) + *(const T *)(b + Hp + j);                             \
            T g = *(const T *)(a + 2 * Hp + j) + *(const T *)(b + 2 * Hp + j);                     \
            T o = *(const T *)(a + 3 * Hp + j) + *(const T *)(b + 3 * Hp + j);                     \
            v_sigmoid_##S(&i);                                                                     \
            v_sigmoid_##S(&f);                                                                     \
            v_tanh_##S(&g);                                                                        \
            v_sigmoid_##S(&o);                                                                     \
            T cc = f * *(const T *)(c + j) + i * g;                                                \
            *(T *)(cn + j) = cc;                                                                   \
            v_tanh_##S(&cc);                                                                       \
            *(T *)(hn + j) = o * cc;                                                               \
        }                                                                                          \
    }                                                                                              \
    HOT static void pw_gru_##S(float *restrict hn, const float *restrict h,                        \
                               const float *restrict a, const float *restrict b, int Hp)           \
    {                                                                                              \
        for (int j = 0; j < Hp; j += (int)(sizeof(T) / sizeof(float))) {                           \
            T r = *(const T *)(a + j) + *(const T *)(b + j);                                       \
            T z = *(const T *)(a + Hp + j) + *(const T *)(b + Hp + j);                             \
            v_sigmoid_##S(&r);                                                                     \
            v_sigmoid_##S(&z);                                                                     \
            T n = *(const T *)(a + 2 * Hp + j) + *(const T *)(b + 2 * Hp + j) +                    \
                  r * (*(const T *)(a + 3 * Hp + j) + *(const T *)(b + 3 * Hp + j));               \
            v_tanh_##S(&n);                                                                        \
            *(T *)(hn + j) = (1.0f - z) * n + z * *(const T *)(h + j);                             \
        }                                                                                          \
    }

/* The builds, and the one a net runs through. */
RNN_KERNEL(base, vf4, RNN_CONTRACT)
RNN_GATE_FUNCS(base, vf4, vi4, RNN_CONTRACT RNN_INLINE, RNN_CONTRACT)
/* A build's panel product and its gate function of every cell type. */
#define RNN_ISA(S, NAME)                                                                           \
    {                                                                                              \
        NAME, mv_panel_##S,                                                                        \
        {                                                                                          \
            [RNN_CELL_RNN] = pw_rnn_##S, [RNN_CELL_LSTM] = pw_lstm_##S,                            \
            [RNN_CELL_GRU] = pw_gru_##S                                                            \
        }                                                                                          \
    }
static const rnn_isa isa_base = RNN_ISA(base, "baseline");

#ifdef RNN_X86_LEVELS
RNN_KERNEL(v3, vf8, RNN_V3 RNN_CONTRACT)
RNN_GATE_FUNCS(v3, vf8, vi8, RNN_V3 RNN_CONTRACT RNN_INLINE, RNN_V3 RNN_CONTRACT)
static const rnn_isa isa_v3 = RNN_ISA(v3, "x86-64-v3");
#if !defined(RNN_NET_ISA) || RNN_NET_ISA >= 4
/* The products stay on 8 lanes with AVX-512 too: on Zen 4 they stream from
 * L3 better than 16-lane ones, while the gate functions run 1.5 times
 * faster on 16 lanes. */
#define RNN_HAVE_V4 1
RNN_KERNEL(v4, vf8, RNN_V4 RNN_CONTRACT)
RNN_GATE_FUNCS(v4, vf16, vi16, RNN_V4 RNN_CONTRACT RNN_INLINE, RNN_V4 RNN_CONTRACT)
static const rnn_isa isa_v4 = RNN_ISA(v4, "x86-64-v4");
#endif
#endif

static const rnn_isa *isa_pick(void)
{
#ifdef RNN_X86_LEVELS
    __builtin_cpu_init();
#ifdef RNN_HAVE_V4
    if (__builtin_cpu_supports("x86-64-v4")) return &isa_v4;
#endif
    if (__builtin_cpu_supports("x86-64-v3")) return &isa_v3;
#endif
    return &isa_base;
}

/* ---------------------------------------------------------------------------
 * Create. */

static size_t round_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

/* Bump allocator over the block: first pass sizes, second pass carves. */
typedef struct {
    char *base;
    size_t used;
} carver;

static float *carve(carver *c, size_t nfloats)
{
    size_t off = c->used;
    c->used += round_up(nfloats * sizeof(float), ALIGN);
    return c->base ? (float *)(c->base + off) : NULL;
}

/* Which source row of a (G*H)-row PyTorch matrix a padded row r of gates
 * [g0, g0 + ng) holds, or -1 for a padding row. */
static int src_row(int r, int g0, int H, int Hp)
{
    int g = g0 + r / Hp, j = r % Hp;
    return j < H ? g * H + j : -1;
}

/* Fill the panels of one product: padded rows of gates [g0, g0 + ng); the
 * columns are the first I of wih (ld ldi) then whh (ld H), either may be
 * absent. */
static void pack(float *dst, int g0, int ng, int H, int Hp, const float *wih, int I, int ldi,
                 const float *whh)
{
    int rows = ng * Hp;
    int K = (wih ? I : 0) + (whh ? H : 0);
    for (int p = 0; p < rows; p += PANEL) {
        int pw = rows - p < PANEL ? rows - p : PANEL;
        float *P = dst + (size_t)p * K;
        for (int rr = 0; rr < pw; rr++) {
            int s = src_row(p + rr, g0, H, Hp);
            int k = 0;
            if (wih)
                for (int i = 0; i < I; i++, k++)
                    P[(size_t)k * pw + rr] = s < 0 ? 0.0f : wih[(size_t)s * ldi + i];
            if (whh)
                for (int i = 0; i < H; i++, k++)
                    P[(size_t)k * pw + rr] = s < 0 ? 0.0f : whh[(size_t)s * H + i];
        }
    }
}

static void add_job(rnn_net *net, float *w, const float *x, float *y, int rows, int K, int finish)
{
    rnn_job *j = &net->jobs[net->njobs++];
    j->q = NULL;
    j->zero = 0;
    j->w = w;
    j->x = x;
    j->y = y;
    j->rows = rows;
    j->K = K;
    j->finish = finish;
    net->rows += rows;
}

static const float *tensor(const rnn_model *m, const char *name, size_t want, char *err,
                           size_t errlen)
{
    size_t n = 0;
    const float *t = rnn_model_tensor(m, name, &n);
    if (!t || n != want) {
        snprintf(err, errlen, "net: tensor %s %s", name, t ? "has the wrong size" : "is missing");
        return NULL;
    }
    return t;
}

/* The reduced product of rows [g0 * Hp, (g0 + ng) * Hp) of the padded
 * layout of tensor `name` (stored rows g * H + j for j < H, padding rows
 * zero; the head passes H = V, Hp = Vp), its first `cols` columns of ld,
 * as a qmat job adding into y (zeroing first with `zero`); the matrix is
 * made from the stored values, so it multiplies exactly what the file
 * holds. 0, or -1 with a message. */
static int add_qjob(rnn_net *net, const char *name, int g0, int ng, int H, int Hp, int cols,
                    int ld, const float *x, float *y, int zero, char *err, size_t errlen)
{
    const rnn_dtype dt = rnn_model_tensor_dtype(net->model, name);
    const int rows = ng * Hp;
    const size_t n = (size_t)rows * (size_t)cols;
    rnn_qmat *q = NULL;
    char msg[200] = "out of memory";
    if (dt == RNN_DTYPE_BF16) {
        const uint16_t *src = rnn_model_tensor_bf16(net->model, name);
        uint16_t *w = calloc(n, sizeof *w);
        for (int r = 0; w && r < rows; r++) {
            const int s = src_row(r, g0, H, Hp);
            if (s >= 0) memcpy(w + (size_t)r * cols, src + (size_t)s * ld, (size_t)cols * 2);
        }
        if (w) q = rnn_qmat_create_bf16(w, rows, cols, (size_t)cols, msg, sizeof msg);
        free(w);
    } else {
        const float *scale;
        const int8_t *src = rnn_model_tensor_int8(net->model, name, &scale);
        int8_t *w = calloc(n, 1);
        float *sc = calloc((size_t)rows, sizeof *sc);
        for (int r = 0; w && sc && r < rows; r++) {
            const int s = src_row(r, g0, H, Hp);
            if (s < 0) continue;
            memcpy(w + (size_t)r * cols, src + (size_t)s * ld, (size_t)cols);
            sc[r] = scale[s];
        }
        if (w && sc) q = rnn_qmat_create_int8(w, sc, rows, cols, (size_t)cols, msg, sizeof msg);
        free(w);
        free(sc);
    }
    if (!q) {
        snprintf(err, errlen, "net: %s: %s", name, msg);
        return -1;
    }
    net->qm[net->nqm++] = q;
    rnn_job *j = &net->jobs[net->njobs++];
    *j = (rnn_job){.q = q, .zero = zero, .x = x, .y = y, .rows = rows, .K = cols, .finish = -1};
    net->rows += rows;
    return 0;
}

/* Floats of one layer's recurrent state: h, and c when the cell has it. */
static size_t Hp_parts(const rnn_net *net)
{
    return (size_t)net->Hp * net->cell->state_parts;
}

/* Tensor i of the cell's tensors of layer k (core/cell.c), of want floats. */
static const float *layer_tensor(const rnn_net *net, int k, int i, size_t want, char *err,
                                 size_t errlen)
{
    char name[RNN_TENSOR_NAME_MAX];
    snprintf(name, sizeof name, "%s%d", net->cell->tensors[i].name, k);
    return tensor(net->model, name, want, err, errlen);
}

/* The biases of layer k in its gate slots: each slot gets the biases of the
 * sides its product reads (b_ih + b_hh over [x | h], b_ih over x alone,
 * b_hh over h alone); padding rows are zero. */
static void fill_bias(float *b, const rnn_cell_desc *d, const float *bih, const float *bhh, int H,
                      int Hp)
{
    for (int p = 0; p < d->n_products; p++) {
        const rnn_cell_product *q = &d->products[p];
        for (int r = 0; r < q->n * Hp; r++) {
            const int s = src_row(r, q->gate, H, Hp);
            float v = 0.0f;
            if (s >= 0) v = q->x && q->h ? bih[s] + bhh[s] : q->x ? bih[s] : bhh[s];
            b[q->slot * Hp + r] = v;
        }
    }
}

/* Rows of the input slots of a (G*H, ld) matrix's column `col`, padded, in
 * product order: one row of col0 or cond0. */
static void input_column(float *row, const rnn_cell_desc *d, const float *wih, int ld, int col,
                         int H, int Hp)
{
    for (int p = 0; p < d->n_products; p++) {
        const rnn_cell_product *q = &d->products[p];
        for (int r = 0; q->x && r < q->n * Hp; r++) {
            int s = src_row(r, q->gate, H, Hp);
            *row++ = s < 0 ? 0.0f : wih[(size_t)s * ld + col];
        }
    }
}

/* Lay out (and with c->base set, fill) the buffers and products of layer k.
 * A product over x alone has no columns on a one-hot layer 0: the column
 * pick of col0 fills its slots in finish_layer. */
static int layout_layer(rnn_net *net, carver *c, int k, char *err, size_t errlen)
{
    const rnn_model_config *cfg = &net->cfg;
    const rnn_cell_desc *d = net->cell;
    const int E = cfg->embed, H = cfg->hidden, V = cfg->vocab, G = net->G, Hp = net->Hp;
    const int Isrc = k == 0 ? (E > 0 ? E : V) : H, I = net->I[k];
    const int C = k == 0 ? net->C : 0, Ce = k == 0 ? net->Ce : 0;
    const int ldi = Isrc + C + Ce; /* weight_ih's columns */
    const int fill = c->base != NULL;
    const float *wih = layer_tensor(net, k, 0, (size_t)G * H * ldi, err, errlen);
    const float *whh = wih ? layer_tensor(net, k, 1, (size_t)G * H * H, err, errlen) : NULL;
    const float *bih = whh ? layer_tensor(net, k, 2, (size_t)G * H, err, errlen) : NULL;
    const float *bhh = bih ? layer_tensor(net, k, 3, (size_t)G * H, err, errlen) : NULL;
    if (!bhh) return -1;

    net->xin[k] = carve(c, (size_t)I + H);
    net->gates[k] = carve(c, (size_t)d->slots * Hp);
    net->bias[k] = carve(c, (size_t)d->slots * Hp);
    float *xk = net->xin[k], *a = net->gates[k];
    char nih[RNN_TENSOR_NAME_MAX], nhh[RNN_TENSOR_NAME_MAX];
    snprintf(nih, sizeof nih, "%s%d", d->tensors[0].name, k);
    snprintf(nhh, sizeof nhh, "%s%d", d->tensors[1].name, k);
    const int xq = I > 0 && rnn_model_tensor_dtype(net->model, nih) != RNN_DTYPE_F32;
    const int hq = rnn_model_tensor_dtype(net->model, nhh) != RNN_DTYPE_F32;
    for (int p = 0; p < d->n_products; p++) {
        const rnn_cell_product *q = &d->products[p];
        const int sx = q->x && I > 0, sh = q->h; /* the sides this product reads */
        const int fx = sx && !xq, fh = sh && !hq; /* ... in float32 */
        const int K = (fx ? I : 0) + (fh ? H : 0);
        float *y = fill ? a + (size_t)q->slot * Hp : NULL;
        if (K > 0) {
            float *w = carve(c, (size_t)q->n * Hp * K);
            /* The sizing pass carves no memory: its pointers are NULL and no
             * offset may be added to them, so jobs are filled in only. */
            if (fill) {
                pack(w, q->gate, q->n, H, Hp, fx ? wih : NULL, I, ldi, fh ? whh : NULL);
                add_job(net, w, fx ? xk : xk + I, y, q->n * Hp, K, -1);
            }
        }
        if (fill && sx && xq &&
            add_qjob(net, nih, q->gate, q->n, H, Hp, I, ldi, xk, y, K == 0, err, errlen) < 0)
            return -1;
        if (fill && sh && hq &&
            add_qjob(net, nhh, q->gate, q->n, H, Hp, H, H, xk + I, y, K == 0 && !(sx && xq), err,
                     errlen) < 0)
            return -1;
    }
    if (fill) net->jobs[net->njobs - 1].finish = k; /* the layer's last product finishes it */
    if (fill) fill_bias(net->bias[k], d, bih, bhh, H, Hp);
    if (k == 0) net->col0_n = rnn_cell_input_slots(d) * Hp;
    if (k == 0 && E == 0) {
        /* one-hot input: row v of col0 is column v of weight_ih_l0, the rows
         * of the products fed with x in product order */
        net->col0 = carve(c, (size_t)V * net->col0_n);
        for (int v = 0; fill && v < V; v++)
            input_column(net->col0 + (size_t)v * net->col0_n, d, wih, ldi, v, H, Hp);
    }
    if (C > 0) {
        /* condition column j is column Isrc + j of weight_ih_l0 */
        net->cond0 = carve(c, (size_t)C * net->col0_n);
        for (int j = 0; fill && j < C; j++)
            input_column(net->cond0 + (size_t)j * net->col0_n, d, wih, ldi, Isrc + j, H, Hp);
    }
    if (Ce > 0) {
        /* encoder column j is column Isrc + C + j of weight_ih_l0 */
        net->enc0 = carve(c, (size_t)Ce * net->col0_n);
        net->enc_x = carve(c, (size_t)Ce);
        for (int j = 0; fill && j < Ce; j++)
            input_column(net->enc0 + (size_t)j * net->col0_n, d, wih, ldi, Isrc + C + j, H, Hp);
    }
    return 0;
}

/* Lay out (and with c->base set, fill) every buffer; 0 or -1. */
static int layout(rnn_net *net, carver *c, char *err, size_t errlen)
{
    const rnn_model_config *cfg = &net->cfg;
    const int L = cfg->layers, E = cfg->embed, V = cfg->vocab;
    const int fill = c->base != NULL;

    net->njobs = 0;
    net->rows = 0;
    if (E > 0) {
        net->embed = tensor(net->model, "embed.weight", (size_t)V * E, err, errlen);
        if (!net->embed) return -1;
    }
    for (int k = 0; k < L; k++)
        if (layout_layer(net, c, k, err, errlen) != 0) return -1;

    const int Hh = net->Hh;
    const float *hw = tensor(net->model, "head.weight", (size_t)V * Hh, err, errlen);
    const float *hb = tensor(net->model, "head.bias", (size_t)V, err, errlen);
    if (!hw || !hb) return -1;
    const int hred = rnn_model_tensor_dtype(net->model, "head.weight") != RNN_DTYPE_F32;
    float *wh = hred ? NULL : carve(c, (size_t)net->Vp * Hh);
    net->head_b = carve(c, (size_t)V);
    net->xhead = carve(c, (size_t)Hh);
    net->head_y = carve(c, (size_t)net->Vp);
    net->logits = carve(c, (size_t)V);
    if (fill && hred) {
        memcpy(net->head_b, hb, (size_t)V * sizeof(float));
        if (add_qjob(net, "head.weight", 0, 1, V, net->Vp, Hh, Hh, net->xhead, net->head_y, 1, err,
                     errlen) < 0)
            return -1;
        net->jobs[net->njobs - 1].finish = L;
    } else if (fill) {
        /* the head: V rows padded to Vp, Hh columns */
        for (int p = 0; p < net->Vp; p += PANEL) {
            int pw = net->Vp - p < PANEL ? net->Vp - p : PANEL;
            float *P = wh + (size_t)p * Hh;
            for (int rr = 0; rr < pw; rr++)
                for (int i = 0; i < Hh; i++)
                    P[(size_t)i * pw + rr] = p + rr < V ? hw[(size_t)(p + rr) * Hh + i] : 0.0f;
        }
        memcpy(net->head_b, hb, (size_t)V * sizeof(float));
        add_job(net, wh, net->xhead, net->head_y, net->Vp, Hh, L);
    }

    size_t per = (size_t)L * Hp_parts(net);
    net->state[0] = carve(c, per);
    net->state[1] = carve(c, per);
    return 0;
}

rnn_net *rnn_net_create(const rnn_model *model, char *err, size_t errlen)
{
    if (!model) {
        snprintf(err, errlen, "net: no model");
        return NULL;
    }
    const rnn_model_config *cfg = rnn_model_get_config(model);
    if (!cfg || rnn_model_config_check(cfg, err, errlen) != 0) return NULL;
    if (cfg->layers < 1 || cfg->layers > RNN_MAX_LAYERS) {
        snprintf(err, errlen, "net: %d layers, the net runs 1..%d", cfg->layers, RNN_MAX_LAYERS);
        return NULL;
    }
    rnn_net *net = calloc(1, sizeof *net);
    if (!net) {
        snprintf(err, errlen, "net: out of memory");
        return NULL;
    }
    net->model = model;
    net->cfg = *cfg;
    net->isa = isa_pick();
    net->cell = rnn_cell_describe(cfg->cell);
    net->G = net->cell->gates;
    net->Hp = (int)round_up((size_t)cfg->hidden, UNIT);
    net->Vp = (int)round_up((size_t)cfg->vocab, ROWS);
    net->C = rnn_model_input_columns(cfg);
    net->Ce = rnn_model_enc_columns(cfg);
    net->Hh = cfg->attn_window > 0 ? 2 * cfg->hidden : cfg->hidden;
    for (int k = 0; k < cfg->layers; k++)
        net->I[k] = k == 0 ? cfg->embed : cfg->hidden;

    carver c = {NULL, 0};
    if (layout(net, &c, err, errlen) != 0) {
        free(net);
        return NULL;
    }
    net->block_bytes = c.used;
    net->block = aligned_alloc(ALIGN, c.used);
    if (!net->block) {
        snprintf(err, errlen, "net: out of memory (%zu bytes)", c.used);
        free(net);
        return NULL;
    }
    memset(net->block, 0, c.used);
    c.base = net->block;
    c.used = 0;
    if (layout(net, &c, err, errlen) != 0) {
        rnn_net_free(net);
        return NULL;
    }
    if (cfg->attn_window > 0) {
        const float *w1 =
            tensor(model, "attn.W1", (size_t)cfg->attn_size * cfg->hidden, err, errlen);
        const float *w2 =
            tensor(model, "attn.W2", (size_t)cfg->attn_size * cfg->hidden, err, errlen);
        const float *v = tensor(model, "attn.v", (size_t)cfg->attn_size, err, errlen);
        if (w1 && w2 && v)
            net->attn = rnn_attn_create(cfg->hidden, cfg->attn_size, cfg->attn_window, w1, w2, v,
                                        err, errlen);
        if (!net->attn) {
            rnn_net_free(net);
            return NULL;
        }
    }
    rnn_net_reset(net);
    return net;
}

void rnn_net_free(rnn_net *net)
{
    if (!net) return;
    for (int i = 0; i < net->nqm; i++)
        rnn_qmat_free(net->qm[i]);
    rnn_attn_free(net->attn);
    free(net->block);
    free(net);
}

size_t rnn_net_bytes(const rnn_net *net)
{
    if (!net) return 0;
    size_t q = 0;
    for (int i = 0; i < net->nqm; i++)
        q += rnn_qmat_bytes(net->qm[i]);
    return sizeof *net + net->block_bytes + q + rnn_attn_bytes(net->attn);
}

const rnn_model *rnn_net_model(const rnn_net *net)
{
    return net->model;
}

static size_t state_floats(const rnn_net *net)
{
    return (size_t)net->cfg.layers * Hp_parts(net);
}

void rnn_net_reset(rnn_net *net)
{
    memset(net->state[0], 0, state_floats(net) * sizeof(float));
    memset(net->state[1], 0, state_floats(net) * sizeof(float));
    memset(net->logits, 0, (size_t)net->cfg.vocab * sizeof(float));
    net->cur = 0;
    net->busy = 0;
    net->attending = 0;
    if (net->attn) rnn_attn_reset(net->attn);
}

/* ---------------------------------------------------------------------------
 * Step. */

/* The state of layer k in buffer buf: h, then c when the cell has it. */
static float *st_h(const rnn_net *net, int buf, int k)
{
    return net->state[buf] + (size_t)k * Hp_parts(net);
}

void rnn_net_step_begin_enc(rnn_net *net, int event, const float *cond, const float *enc)
{
    const int E = net->cfg.embed, H = net->cfg.hidden;
    if (event < 0 || event >= net->cfg.vocab) event = 0;
    net->event = event;
    net->n_on = 0;
    for (int j = 0; cond && j < net->C; j++)
        if (cond[j] != 0.0f) net->cond_on[net->n_on++] = (uint16_t)j;
    if (net->Ce > 0) {
        if (enc)
            memcpy(net->enc_x, enc, (size_t)net->Ce * sizeof(float));
        else
            memset(net->enc_x, 0, (size_t)net->Ce * sizeof(float));
    }
    if (E > 0) memcpy(net->xin[0], net->embed + (size_t)event * E, (size_t)E * sizeof(float));
    for (int k = 0; k < net->cfg.layers; k++)
        memcpy(net->xin[k] + net->I[k], st_h(net, net->cur, k), (size_t)H * sizeof(float));
    net->job = 0;
    net->pos = 0;
    net->busy = 1;
    net->attending = 0;
}

void rnn_net_step_begin_cond(rnn_net *net, int event, const float *cond)
{
    rnn_net_step_begin_enc(net, event, cond, NULL);
}

void rnn_net_step_begin(rnn_net *net, int event)
{
    rnn_net_step_begin_cond(net, event, NULL);
}

/* Add row `row` (col0_n floats, the input slots in product order) of a
 * transposed block to the gate buffer a; with `set`, the slots of a product
 * over x alone take it as it is (that product did not run). */
static void add_input_row(const rnn_net *net, float *a, const float *row, int set)
{
    const rnn_cell_desc *d = net->cell;
    const int Hp = net->Hp;
    for (int p = 0; p < d->n_products; p++) {
        const rnn_cell_product *q = &d->products[p];
        float *y = a + (size_t)q->slot * Hp;
        if (!q->x) continue;
        if (q->h || !set)
            for (int r = 0; r < q->n * Hp; r++)
                y[r] += row[r];
        else
            memcpy(y, row, (size_t)q->n * Hp * sizeof(float));
        row += (size_t)q->n * Hp;
    }
}

/* a += v * row over the input slots (col0_n floats, product order) of the
 * products fed with x; a product over x alone has run (E > 0) or had its
 * slots set by the one-hot column, so every slot adds */
static void add_input_row_scaled(const rnn_net *net, float *a, const float *row, float v)
{
    const rnn_cell_desc *d = net->cell;
    const int Hp = net->Hp;
    for (int p = 0; p < d->n_products; p++) {
        const rnn_cell_product *q = &d->products[p];
        float *y = a + (size_t)q->slot * Hp;
        if (!q->x) continue;
        for (int r = 0; r < q->n * Hp; r++)
            y[r] += v * row[r];
        row += (size_t)q->n * Hp;
    }
}

static void finish_layer(rnn_net *net, int k)
{
    const int H = net->cfg.hidden, Hp = net->Hp, L = net->cfg.layers;
    const int cur = net->cur, nxt = cur ^ 1;
    float *a = net->gates[k];
    if (k == 0 && net->cfg.embed == 0) {
        /* the one-hot column joins the products over [x | h]; a product over
         * x alone did not run, so its slots take the column as it is */
        add_input_row(net, a, net->col0 + (size_t)net->event * net->col0_n, 1);
    }
    if (k == 0)
        for (int i = 0; i < net->n_on; i++)
            add_input_row(net, a, net->cond0 + (size_t)net->cond_on[i] * net->col0_n, 0);
    for (int j = 0; k == 0 && j < net->Ce; j++)
        add_input_row_scaled(net, a, net->enc0 + (size_t)j * net->col0_n, net->enc_x[j]);
    float *hn = st_h(net, nxt, k);
    net->isa->gates[net->cfg.cell](hn, st_h(net, cur, k), a, net->bias[k], Hp);
    memcpy(k + 1 < L ? net->xin[k + 1] : net->xhead, hn, (size_t)H * sizeof(float));
    if (k + 1 == L && net->attn) {
        rnn_attn_begin(net->attn, hn);
        net->attending = 1;
        net->attn_done = 0;
        net->attn_paid = 0;
    }
}

/* Run the attention on *left row units of budget, H of its units a row of
 * ROWS. It is given what cannot overrun the budget (a work call may do up to
 * a piece more than it is asked), and charged for what it did in whole row
 * units; a finished attend is charged as a full ring's plus the margin, so
 * every step costs the rows rnn_net_step_rows announces, however many
 * outputs are stored (a host that counts a step's pieces once, at load,
 * can pace every step by that count). What the budget cannot pay now is
 * paid by the next call, before the head. */
static void attend_work(rnn_net *net, int *left)
{
    rnn_attn *at = net->attn;
    const size_t pu = (size_t)ROWS * (size_t)net->cfg.hidden;
    const size_t margin = rnn_attn_work_piece(at) - 1;
    if (!net->attn_done) {
        const size_t room = (size_t)*left * pu;
        net->attn_done = rnn_attn_work(at, room > margin ? room - margin : 1);
        if (net->attn_done)
            memcpy(net->xhead + net->cfg.hidden, rnn_attn_context(at),
                   (size_t)net->cfg.hidden * sizeof(float));
    }
    const size_t did = net->attn_done ? rnn_attn_work_max(at) + margin : rnn_attn_work_done(at);
    const size_t owed = (did + pu - 1) / pu - net->attn_paid;
    const size_t pay = owed < (size_t)*left ? owed : (size_t)*left;
    net->attn_paid += pay;
    *left -= (int)pay;
    if (net->attn_done && pay == owed) net->attending = 0;
}

static void finish_head(rnn_net *net)
{
    const int V = net->cfg.vocab;
    for (int v = 0; v < V; v++)
        net->logits[v] = net->head_y[v] + net->head_b[v];
    if (net->attn) rnn_attn_commit(net->attn);
    net->cur ^= 1;
    net->busy = 0;
}

int rnn_net_step_work(rnn_net *net, int budget)
{
    if (!net->busy) return 1;
#ifdef RNN_HAVE_MXCSR
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040); /* FTZ | DAZ */
#endif
    int left = budget / ROWS;
    if (left < 1) left = 1;
    while (left > 0 && net->busy) {
        if (net->attending) {
            attend_work(net, &left);
            continue;
        }
        const rnn_job *j = &net->jobs[net->job];
        int total = j->rows / ROWS;
        int n = total - net->pos < left ? total - net->pos : left;
        job_run(net->isa, j, net->pos, net->pos + n);
        net->pos += n;
        left -= n;
        if (net->pos == total) {
            net->pos = 0;
            net->job++;
            if (j->finish == net->cfg.layers)
                finish_head(net);
            else if (j->finish >= 0)
                finish_layer(net, j->finish);
        }
    }
#ifdef RNN_HAVE_MXCSR
    _mm_setcsr(csr);
#endif
    return !net->busy;
}

const float *rnn_net_step_enc(rnn_net *net, int event, const float *cond, const float *enc)
{
    rnn_net_step_begin_enc(net, event, cond, enc);
    rnn_net_step_work(net, INT_MAX);
    return net->logits;
}

const float *rnn_net_step_cond(rnn_net *net, int event, const float *cond)
{
    return rnn_net_step_enc(net, event, cond, NULL);
}

const float *rnn_net_step(rnn_net *net, int event)
{
    return rnn_net_step_cond(net, event, NULL);
}

int rnn_net_cond_columns(const rnn_net *net)
{
    return net->C;
}

int rnn_net_enc_columns(const rnn_net *net)
{
    return net->Ce;
}

int rnn_net_step_rows(const rnn_net *net)
{
    if (!net->attn) return net->rows;
    /* the attention as attend_work charges it: a full ring's work, H units
     * a row, and the margin */
    const size_t pu = (size_t)ROWS * (size_t)net->cfg.hidden;
    const size_t units = rnn_attn_work_max(net->attn) + rnn_attn_work_piece(net->attn) - 1;
    return net->rows + ROWS * (int)((units + pu - 1) / pu);
}

const float *rnn_net_logits(const rnn_net *net)
{
    return net->logits;
}

const float *rnn_net_attn_weights(const rnn_net *net, int *n)
{
    if (n) *n = net->attn ? net->cfg.attn_window : 0;
    return net->attn ? rnn_attn_weights(net->attn) : NULL;
}

size_t rnn_net_state_size(const rnn_net *net)
{
    return (size_t)net->cfg.layers * net->cfg.hidden * net->cell->state_parts +
           (net->attn ? rnn_attn_state_size(net->attn) : 0);
}

/* Part i of the caller's layout (h of every layer, then c of every layer
 * when the cell has it) in the net's state, which keeps a layer's parts
 * together. */
static float *state_part(const rnn_net *net, int i)
{
    const int L = net->cfg.layers;
    return st_h(net, net->cur, i % L) + (size_t)(i / L) * net->Hp;
}

void rnn_net_state_get(const rnn_net *net, float *dst)
{
    const int H = net->cfg.hidden, n = net->cfg.layers * net->cell->state_parts;
    for (int i = 0; i < n; i++)
        memcpy(dst + (size_t)i * H, state_part(net, i), (size_t)H * sizeof(float));
    if (net->attn) rnn_attn_state_get(net->attn, dst + (size_t)n * H);
}

void rnn_net_state_set(rnn_net *net, const float *src)
{
    const int H = net->cfg.hidden, n = net->cfg.layers * net->cell->state_parts;
    net->busy = 0;
    net->attending = 0;
    for (int i = 0; i < n; i++)
        memcpy(state_part(net, i), src + (size_t)i * H, (size_t)H * sizeof(float));
    if (net->attn) rnn_attn_state_set(net->attn, src + (size_t)n * H);
}

const char *rnn_net_kernel_name(const rnn_net *net)
{
    return net->isa->name;
}

const char *rnn_net_qmat_kernel_name(const rnn_net *net)
{
    return net->nqm > 0 ? rnn_qmat_kernel_name(net->qm[0]) : NULL;
}

int rnn_net_set_qmat_kernel(rnn_net *net, const char *name)
{
    for (int i = 0; i < net->nqm; i++)
        if (!rnn_qmat_kernel_supported(rnn_qmat_get_dtype(net->qm[i]), name)) return -1;
    for (int i = 0; i < net->nqm; i++)
        rnn_qmat_set_kernel(net->qm[i], name);
    net->busy = 0; /* a step in progress lost its rounded inputs */
    return net->nqm > 0 ? 0 : -1;
}

size_t rnn_net_step_macs(const rnn_model_config *cfg)
{
    const rnn_cell_desc *d = cfg ? rnn_cell_describe(cfg->cell) : NULL;
    if (!d || cfg->layers < 1 || cfg->layers > RNN_MAX_LAYERS || cfg->hidden < 1 ||
        cfg->hidden > RNN_MAX_HIDDEN || cfg->embed < 0 || cfg->embed > RNN_MAX_EMBED ||
        cfg->vocab < 1 || cfg->vocab > RNN_MAX_VOCAB)
        return 0;
    const size_t H = (size_t)cfg->hidden, Hp = round_up(H, UNIT);
    size_t macs = 0;
    for (int k = 0; k < cfg->layers; k++)
        macs += rnn_cell_layer_macs(d, k == 0 ? (size_t)cfg->embed : H, H, Hp);
    if (cfg->embed == 0) /* the one-hot input adds one column */
        macs += (size_t)rnn_cell_input_slots(d) * Hp;
    /* each condition column on adds one column, and all may be; of the
     * lookback columns at most rnn_lookback_columns_on */
    const size_t on = (size_t)rnn_model_cond_columns(cfg) +
                      (cfg->lookback ? (size_t)rnn_lookback_columns_on(cfg->kind) : 0);
    macs += on * rnn_cell_input_slots(d) * Hp;
    /* the encoder's outputs at the step: dense columns, every one adds */
    macs += (size_t)rnn_model_enc_columns(cfg) * rnn_cell_input_slots(d) * Hp;
    const size_t Hh = cfg->attn_window > 0 ? 2 * H : H; /* [h | context] */
    macs += round_up((size_t)cfg->vocab, ROWS) * Hh;
    macs += rnn_attn_step_macs(cfg->hidden, cfg->attn_size, cfg->attn_window);
    return macs;
}

/* ---------------------------------------------------------------------------
 * Probe: can this model's numbers leave the range of float? */

/* Largest |value| of a tensor. */
static double max_abs(const float *t, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)t[i]) > m) m = fabs((double)t[i]);
    return m;
}

/* The sum of |weight| * (largest |input| of its column) plus |biases| of every
 * row of every product: what a pre-activation can reach for any input, given
 * that every h (tanh, o * tanh(c), GRU's mix) lies in [-1, 1]. An LSTM's c
 * grows by at most 1 a step, so it stays finite too. */
static int check_bounds(const rnn_net *net, const char *name, char *err, size_t errlen)
{
    const rnn_model_config *cfg = &net->cfg;
    const int L = cfg->layers, E = cfg->embed, H = cfg->hidden, V = cfg->vocab, G = net->G;
    const double limit = FLT_MAX / 8; /* room for the sums of GRU's n gate and LSTM's c */
    const char *sep = name ? ": " : "";
    char t[RNN_CELL_LAYER_TENSORS][RNN_TENSOR_NAME_MAX]; /* w_ih, w_hh, b_ih, b_hh */
    double x0 = E > 0 ? max_abs(net->embed, (size_t)V * E) : 1.0;
    for (int k = 0; k < L; k++) {
        int Isrc = k == 0 ? (E > 0 ? E : V) : H, C = k == 0 ? net->C : 0;
        const int Ce = k == 0 ? net->Ce : 0;
        double xmax = k == 0 ? x0 : 1.0;
        for (int i = 0; i < RNN_CELL_LAYER_TENSORS; i++)
            snprintf(t[i], sizeof t[i], "%s%d", net->cell->tensors[i].name, k);
        const float *wih = rnn_model_tensor(net->model, t[0], NULL);
        const float *whh = rnn_model_tensor(net->model, t[1], NULL);
        const float *bih = rnn_model_tensor(net->model, t[2], NULL);
        const float *bhh = rnn_model_tensor(net->model, t[3], NULL);
        for (int s = 0; s < G * H; s++) {
            double sum = fabs((double)bih[s]) + fabs((double)bhh[s]);
            const float *wi = wih + (size_t)s * (Isrc + C + Ce), *wh = whh + (size_t)s * H;
            if (k == 0 && E == 0)
                sum += max_abs(wi, (size_t)Isrc); /* one-hot: one column at a time */
            else
                for (int i = 0; i < Isrc; i++)
                    sum += fabs((double)wi[i]) * xmax;
            /* conditions, lookback: 0 or 1, all may be on; the encoder's
             * outputs: each an h of its cell, in [-1, 1] */
            for (int i = Isrc; i < Isrc + C + Ce; i++)
                sum += fabs((double)wi[i]);
            for (int i = 0; i < H; i++)
                sum += fabs((double)wh[i]);
            if (!(sum < limit)) {
                snprintf(err, errlen,
                         "%s%slayer %d row %d (%s, %s and the biases) can sum to %.3g, beyond "
                         "the range of float: the weights are too large to compute",
                         name ? name : "", sep, k, s, t[0], t[1], sum);
                return -1;
            }
        }
    }
    if (net->attn) {
        /* the scores: W1 h_i + W2 h_t over h in [-1, 1], then |u| <= sum |v|;
         * the context is a mean of such h, so in [-1, 1] too */
        const int A = cfg->attn_size;
        const float *w1 = rnn_model_tensor(net->model, "attn.W1", NULL);
        const float *w2 = rnn_model_tensor(net->model, "attn.W2", NULL);
        const float *av = rnn_model_tensor(net->model, "attn.v", NULL);
        double vsum = max_abs(av, (size_t)A) * A;
        for (int a = 0; a < A && vsum < limit; a++) {
            double sum = 0;
            for (int i = 0; i < H; i++)
                sum += fabs((double)w1[(size_t)a * H + i]) + fabs((double)w2[(size_t)a * H + i]);
            if (!(sum < limit)) vsum = sum;
        }
        if (!(vsum < limit)) {
            snprintf(err, errlen,
                     "%s%sthe attention (attn.W1, attn.W2, attn.v) can sum to %.3g, beyond the "
                     "range of float: the weights are too large to compute",
                     name ? name : "", sep, vsum);
            return -1;
        }
    }
    const int Hh = net->Hh;
    const float *hw = rnn_model_tensor(net->model, "head.weight", NULL);
    const float *hb = rnn_model_tensor(net->model, "head.bias", NULL);
    for (int v = 0; v < V; v++) {
        double sum = fabs((double)hb[v]);
        for (int i = 0; i < Hh; i++)
            sum += fabs((double)hw[(size_t)v * Hh + i]);
        if (!(sum < limit)) {
            snprintf(err, errlen,
                     "%s%slogit %d (head.weight and head.bias) can sum to %.3g, beyond the range "
                     "of float: the weights are too large to compute",
                     name ? name : "", sep, v, sum);
            return -1;
        }
    }
    return 0;
}

enum { PROBE_STEPS = 16 };

int rnn_net_probe(rnn_net *net, const char *name, char *err, size_t errlen)
{
    if (check_bounds(net, name, err, errlen) != 0) return -1;
    const int V = net->cfg.vocab;
    const size_t n = state_floats(net);
    const char *sep = name ? ": " : "";
    uint32_t x = 0x2545f491u;
    int rc = 0;
    /* the encoder's outputs of a step (up to 2 x 4096 floats: not on the stack) */
    float *enc = net->Ce > 0 ? malloc((size_t)net->Ce * sizeof *enc) : NULL;
    if (net->Ce > 0 && !enc) {
        snprintf(err, errlen, "%s%sout of memory", name ? name : "", sep);
        return -1;
    }
    rnn_net_reset(net);
    for (int t = 0; t < PROBE_STEPS && rc == 0; t++) {
        /* 'no event', then a fixed pseudo-random walk over the classes;
         * conditions none, then all, then columns on at random */
        x = x * 1664525u + 1013904223u;
        int ev = t == 0 ? 0 : (int)((x >> 8) % (uint32_t)V);
        float cond[RNN_MAX_INPUT_COLUMNS];
        uint32_t bits = x;
        for (int j = 0; j < net->C; j++, bits = bits * 1664525u + 1013904223u)
            cond[j] = t == 0 ? 0.0f : t == 1 ? 1.0f : (float)(bits >> 31);
        /* encoder outputs: none, then all 1, then -1 or 1 at random */
        for (int j = 0; j < net->Ce; j++, bits = bits * 1664525u + 1013904223u)
            enc[j] = t == 0 ? 0.0f : t == 1 ? 1.0f : (bits >> 31) ? 1.0f : -1.0f;
        const float *y = rnn_net_step_enc(net, ev, cond, enc);
        const float *st = net->state[net->cur];
        const char *what = NULL;
        float bad = 0;
        for (size_t i = 0; i < n && !what; i++)
            if (!isfinite(st[i])) {
                what = "the recurrent state";
                bad = st[i];
            }
        for (int v = 0; v < V && !what; v++)
            if (!isfinite(y[v])) {
                what = "the logits";
                bad = y[v];
            }
        if (what) {
            snprintf(err, errlen,
                     "%s%s%s became %g at step %d from the zero state (input %d): the model "
                     "computes non-finite numbers",
                     name ? name : "", sep, what, (double)bad, t + 1, ev);
            rc = -1;
        }
    }
    free(enc);
    rnn_net_reset(net);
    return rc;
}
