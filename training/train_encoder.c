/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the bidirectional encoder over a window, forward and
 * backward (contract in train_encoder.h).
 *
 * A direction of a layer is the trainer's recurrence (train.c) run over its
 * own order of the steps: the reverse direction reads its input rows
 * reversed in time (copied into a scratch block, so the input product, the
 * weight gradient and the input gradient stay one sgemm each over T B
 * aligned rows), and everything it keeps is in its own order. Only the
 * layer's output and the input gradient are put back in time order.
 *
 * Letters as in train_encoder.h; d is the direction (0 forward, 1
 * reverse), s a step in the direction's order. */
#include "train_encoder.h"
#include "train_impl.h"
#include "train_kernels.h"

#include <cblas.h>
#include <string.h>

/* The views of one layer's direction in the activations. */
typedef struct {
    float *gates; /* (T*B, GH) the gate activations, direction order */
    float *hs;    /* ((T+1)*B, He) h before step 0 (zero), then after each step */
    float *cs;    /* the same for c, LSTM only */
    float *aux;   /* (T*B, He) the cell's extra values, when it keeps them */
} enc_dir_acts;

/* All views of acts (and of the backward's scratch); NULL base: sizes only. */
typedef struct {
    float *ys[RNN_ENC_MAX_LAYERS]; /* (T*B, 2 He) each layer's output, time order */
    enc_dir_acts dir[RNN_ENC_MAX_LAYERS][2];
    float *xr;    /* (T*B, I max) a layer's input in direction order */
    float *ghh;   /* (B, GH) the cell's scratch, GRU only */
    float *wpack; /* W_hh packed for the cell's step */
    size_t n;     /* floats of acts */
    /* scratch */
    float *dy[2];     /* (T*B, 2 He) the gradient of a layer's output, in turn */
    float *dhd;       /* (T*B, He) the gradient of one direction's h, direction order */
    float *dg, *dgh;  /* (T*B, GH) */
    float *dhn, *dcn; /* (B, He) */
    float *xs;        /* (T*B, I max) a layer's input in direction order, again */
    float *bpack;     /* W_hh packed for the cell's step back */
    float *dxr;       /* (T*B, I max) the input gradient, direction order */
    size_t n_scratch;
} enc_views;

static size_t view(float **p, float *base, size_t *off, size_t n)
{
    *p = base && n ? base + *off : NULL;
    *off += (n + 15) / 16 * 16;
    return *off;
}

static int layout(enc_views *v, float *acts, float *scratch, const rnn_enc_config *cfg, int B,
                  int T)
{
    if (rnn_enc_config_check(cfg, 0, NULL, 0) != 0 || B < 1 || T < 1) return -1;
    const rnn_cell_desc *cd = rnn_cell_describe(cfg->cell);
    const rnn_train_cell *tc = rnn_train_cell_get(cfg->cell);
    const size_t TB = (size_t)T * B, He = (size_t)cfg->hidden, GH = (size_t)cd->gates * He;
    const size_t Imax = (size_t)cfg->inputs > 2 * He ? (size_t)cfg->inputs : 2 * He;
    const size_t pack = rnn_k_pack_size((int)GH, (int)He) > rnn_k_pack_size((int)He, (int)GH)
                            ? rnn_k_pack_size((int)GH, (int)He)
                            : rnn_k_pack_size((int)He, (int)GH);
    size_t off = 0;
    for (int k = 0; k < cfg->layers; k++) {
        view(&v->ys[k], acts, &off, TB * 2 * He);
        for (int d = 0; d < 2; d++) {
            enc_dir_acts *a = &v->dir[k][d];
            view(&a->gates, acts, &off, TB * GH);
            view(&a->hs, acts, &off, TB * He + B * He);
            view(&a->cs, acts, &off, cd->state_parts > 1 ? TB * He + B * He : 0);
            view(&a->aux, acts, &off, tc->aux ? TB * He : 0);
        }
    }
    view(&v->xr, acts, &off, TB * Imax);
    view(&v->ghh, acts, &off, cd->hh_apart ? B * GH : 0);
    v->n = view(&v->wpack, acts, &off, pack);
    off = 0;
    view(&v->dy[0], scratch, &off, TB * 2 * He);
    view(&v->dy[1], scratch, &off, TB * 2 * He);
    view(&v->dhd, scratch, &off, TB * He);
    view(&v->dg, scratch, &off, TB * GH);
    view(&v->dgh, scratch, &off, cd->hh_apart ? TB * GH : 0);
    view(&v->dhn, scratch, &off, B * He);
    view(&v->dcn, scratch, &off, B * He);
    view(&v->xs, scratch, &off, TB * Imax);
    view(&v->bpack, scratch, &off, pack);
    v->n_scratch = view(&v->dxr, scratch, &off, TB * Imax);
    return 0;
}

size_t rnn_enc_train_acts_size(const rnn_enc_config *cfg, int B, int T)
{
    enc_views v;
    return layout(&v, NULL, NULL, cfg, B, T) == 0 ? v.n : 0;
}

size_t rnn_enc_train_scratch_size(const rnn_enc_config *cfg, int B, int T)
{
    enc_views v;
    return layout(&v, NULL, NULL, cfg, B, T) == 0 ? v.n_scratch : 0;
}

/* dst (T*B, n) = src's T blocks of B rows in direction d's order (step s of
 * the reverse direction is time T-1-s); src rows ld floats apart, from
 * column c0 */
static void order_rows(float *dst, const float *src, int d, int T, int B, size_t n, size_t ld,
                       size_t c0)
{
    for (int s = 0; s < T; s++) {
        const int t = d ? T - 1 - s : s;
        for (int b = 0; b < B; b++)
            memcpy(dst + ((size_t)s * B + b) * n, src + ((size_t)t * B + b) * ld + c0,
                   n * sizeof(float));
    }
}

/* The layer-k direction-d weights: w_ih, w_hh, b_ih, b_hh */
static const float *const *dir_w(const float *const *w, int k, int d)
{
    return w + (size_t)k * RNN_ENC_TENSORS_PER_LAYER + (size_t)d * RNN_CELL_LAYER_TENSORS;
}

/* One direction of one layer: its gates, states and outputs (into the
 * layer's ys, columns d He ..). xd (T*B, NI) is the input in direction
 * order; NI, not I, which <complex.h> (through cblas.h) takes. */
static void dir_forward(float *ys, const enc_dir_acts *a, float *ghh, float *wpack, const float *xd,
                        const float *const *wd, const rnn_cell_desc *cd, const rnn_train_cell *tc,
                        int d, int B, int T, int NI, int He)
{
    const int GH = cd->gates * He;
    const size_t TB = (size_t)T * B, BH = (size_t)B * He;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)TB, GH, NI, 1.0f, xd, NI, wd[0], NI,
                0.0f, a->gates, GH);
    rnn_k_add_bias(a->gates, wd[2], TB, GH);
    if (!cd->hh_apart) rnn_k_add_bias(a->gates, wd[3], TB, GH);
    rnn_k_pack(wpack, wd[1], He, GH, 1, 0, (GH + RNN_K_PANEL - 1) / RNN_K_PANEL);
    memset(a->hs, 0, BH * sizeof(float));
    if (a->cs) memset(a->cs, 0, BH * sizeof(float));
    for (int s = 0; s < T; s++) {
        const size_t now = (size_t)s * BH, next = now + BH;
        tc->forward(a->hs + next, a->cs ? a->cs + next : NULL, a->aux ? a->aux + now : NULL,
                    a->gates + (size_t)s * B * GH, ghh, a->hs + now, a->cs ? a->cs + now : NULL,
                    wpack, wd[3], B, He);
        const int t = d ? T - 1 - s : s;
        for (int b = 0; b < B; b++)
            memcpy(ys + ((size_t)t * B + b) * 2 * He + (size_t)d * He,
                   a->hs + next + (size_t)b * He, (size_t)He * sizeof(float));
    }
}

void rnn_enc_train_forward(float *out, float *acts, const float *x, const float *const *w,
                           const rnn_enc_config *cfg, int B, int T)
{
    enc_views v;
    if (layout(&v, acts, NULL, cfg, B, T) != 0) return;
    const rnn_cell_desc *cd = rnn_cell_describe(cfg->cell);
    const rnn_train_cell *tc = rnn_train_cell_get(cfg->cell);
    const int He = cfg->hidden;
    for (int k = 0; k < cfg->layers; k++) {
        const int NI = k == 0 ? cfg->inputs : 2 * He;
        const float *in = k == 0 ? x : v.ys[k - 1];
        for (int d = 0; d < 2; d++) {
            const float *xd = in;
            if (d) {
                order_rows(v.xr, in, 1, T, B, (size_t)NI, (size_t)NI, 0);
                xd = v.xr;
            }
            dir_forward(v.ys[k], &v.dir[k][d], v.ghh, v.wpack, xd, dir_w(w, k, d), cd, tc, d, B, T,
                        NI, He);
        }
    }
    memcpy(out, v.ys[cfg->layers - 1], (size_t)T * B * 2 * He * sizeof(float));
}

/* One direction of one layer back: dwd += its weight gradients, dxd (T*B,
 * NI, direction order) = the gradient of its input; dy (T*B, 2 He, time
 * order) the gradient of the layer's output. */
static void dir_backward(float *dxd, float *const *dwd, const enc_views *v, const enc_dir_acts *a,
                         const float *dy, const float *xd, const float *const *wd,
                         const rnn_cell_desc *cd, const rnn_train_cell *tc, int d, int B, int T,
                         int NI, int He)
{
    const int GH = cd->gates * He;
    const size_t TB = (size_t)T * B, BH = (size_t)B * He;
    order_rows(v->dhd, dy, d, T, B, (size_t)He, 2 * (size_t)He, (size_t)d * He);
    rnn_k_pack(v->bpack, wd[1], GH, He, 0, 0, (He + RNN_K_PANEL - 1) / RNN_K_PANEL);
    memset(v->dhn, 0, BH * sizeof(float));
    memset(v->dcn, 0, BH * sizeof(float));
    for (int s = T - 1; s >= 0; s--) {
        const size_t gro = (size_t)s * B * GH, hro = (size_t)s * BH;
        tc->backward(v->dg + gro, v->dgh ? v->dgh + gro : NULL, v->dhn, v->dcn, v->dhd + hro,
                     a->gates + gro, a->hs + hro, a->cs ? a->cs + hro : NULL,
                     a->aux ? a->aux + hro : NULL, v->bpack, B, He);
    }
    const float *dgh = cd->hh_apart ? v->dgh : v->dg;
    /* dW_hh += dgh^T h_prev: h before each step is hs's first T blocks */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, GH, He, (int)TB, 1.0f, dgh, GH, a->hs, He,
                1.0f, dwd[1], He);
    if (cd->hh_apart) {
        rnn_k_bias_backward(dwd[3], NULL, dgh, TB, GH, 0, (size_t)GH);
        rnn_k_bias_backward(dwd[2], NULL, v->dg, TB, GH, 0, (size_t)GH);
    } else { /* one gradient for both biases */
        rnn_k_bias_backward(dwd[2], dwd[3], v->dg, TB, GH, 0, (size_t)GH);
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, GH, NI, (int)TB, 1.0f, v->dg, GH, xd, NI,
                1.0f, dwd[0], NI);
    if (dxd)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)TB, NI, GH, 1.0f, v->dg, GH,
                    wd[0], NI, 0.0f, dxd, NI);
}

void rnn_enc_train_backward(float *dx, float *const *dw, float *scratch, const float *dout,
                            const float *acts, const float *x, const float *const *w,
                            const rnn_enc_config *cfg, int B, int T)
{
    enc_views v;
    /* the views into acts are only read here */
    if (layout(&v, (float *)acts, scratch, cfg, B, T) != 0) return;
    const rnn_cell_desc *cd = rnn_cell_describe(cfg->cell);
    const rnn_train_cell *tc = rnn_train_cell_get(cfg->cell);
    const int He = cfg->hidden;
    const size_t TB = (size_t)T * B;
    const float *dy = dout;
    for (int k = cfg->layers - 1; k >= 0; k--) {
        const int NI = k == 0 ? cfg->inputs : 2 * He;
        const float *in = k == 0 ? x : v.ys[k - 1];
        /* the gradient of this layer's input: the next dy, or dx */
        float *din = k > 0 ? v.dy[k & 1] : dx;
        if (din) memset(din, 0, TB * NI * sizeof(float));
        for (int d = 0; d < 2; d++) {
            const float *xd = in;
            if (d) {
                order_rows(v.xs, in, 1, T, B, (size_t)NI, (size_t)NI, 0);
                xd = v.xs;
            }
            dir_backward(din ? v.dxr : NULL,
                         dw + (size_t)k * RNN_ENC_TENSORS_PER_LAYER +
                             (size_t)d * RNN_CELL_LAYER_TENSORS,
                         &v, &v.dir[k][d], dy, xd, dir_w(w, k, d), cd, tc, d, B, T, NI, He);
            if (!din) continue;
            for (int s = 0; s < T; s++) { /* back to time order, added */
                const int t = d ? T - 1 - s : s;
                const float *src = v.dxr + (size_t)s * B * NI;
                float *dst = din + (size_t)t * B * NI;
                for (size_t i = 0; i < (size_t)B * NI; i++)
                    dst[i] += src[i];
            }
        }
        dy = din;
    }
}
