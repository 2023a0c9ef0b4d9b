/* SPDX-License-Identifier: MIT */
/* rnnmidi training: each cell type's batched step, forward and backward
 * (contract in train_impl.h), the training side of core/cell.c's table.
 *
 * A step of nb lanes is one product with W_hh and one pointwise kernel of
 * train_kernels.c. The product is rnn_k_gemm_packed over W_hh packed once
 * per pass (train.c): the forward's whh is W_hh^T packed (K = H, N = GH),
 * the backward's W_hh packed (K = GH, N = H). The generic code of train.c
 * calls these through the table and never asks which cell it runs. A new
 * cell type is a row here, its two pointwise kernels, and its row of
 * core/cell.c. */
#include "train_impl.h"
#include "train_kernels.h"

#include <string.h>

/* g (nb, GH) += hprev (nb, H) W_hh^T, whh the packed W_hh^T */
static void add_hh(float *g, const float *hprev, const float *whh, int nb, int GH, int H)
{
    rnn_k_gemm_packed(g, GH, hprev, H, whh, nb, GH, H, 1);
}

/* dhn (nb, H) = dg (nb, GH) W_hh, or += with accumulate; whh the packed W_hh */
static void dh_from_gates(float *dhn, const float *dg, const float *whh, int nb, int GH, int H,
                          int accumulate)
{
    rnn_k_gemm_packed(dhn, H, dg, GH, whh, nb, H, GH, accumulate);
}

/* ------------------------------------------------------------------------ */
/* nn.RNN (tanh): h' = tanh(W_ih x + b_ih + W_hh h + b_hh). */

static void rnn_forward(float *h, float *c, float *aux, float *g, float *ghh, const float *hprev,
                        const float *cprev, const float *whh, const float *bhh, int nb, int H)
{
    (void)c, (void)aux, (void)ghh, (void)cprev, (void)bhh;
    add_hh(g, hprev, whh, nb, H, H);
    rnn_k_rnn_point(g, h, nb, H);
}

static void rnn_backward(float *dg, float *dgh, float *dhn, float *dcn, const float *dhout,
                         const float *g, const float *hprev, const float *cprev, const float *aux,
                         const float *whh, int nb, int H)
{
    (void)dgh, (void)dcn, (void)hprev, (void)cprev, (void)aux;
    rnn_k_rnn_point_backward(dg, g, dhout, dhn, nb, H);
    dh_from_gates(dhn, dg, whh, nb, H, H, 0);
}

/* ------------------------------------------------------------------------ */
/* nn.LSTM: gates i, f, g, o; c' = f c + i g, h' = o tanh(c'); aux = tanh(c'). */

static void lstm_forward(float *h, float *c, float *aux, float *g, float *ghh, const float *hprev,
                         const float *cprev, const float *whh, const float *bhh, int nb, int H)
{
    (void)ghh, (void)bhh;
    add_hh(g, hprev, whh, nb, 4 * H, H);
    rnn_k_lstm_point(g, cprev, c, aux, h, nb, H);
}

static void lstm_backward(float *dg, float *dgh, float *dhn, float *dcn, const float *dhout,
                          const float *g, const float *hprev, const float *cprev, const float *aux,
                          const float *whh, int nb, int H)
{
    (void)dgh, (void)hprev;
    rnn_k_lstm_point_backward(dg, dhn, dcn, g, dhout, cprev, aux, nb, H);
    dh_from_gates(dhn, dg, whh, nb, 4 * H, H, 0);
}

/* ------------------------------------------------------------------------ */
/* nn.GRU: gates r, z, n; n = tanh(W_in x + b_in + r (W_hn h + b_hn)), so
 * W_hh h + b_hh is computed apart (ghh) and aux keeps W_hn h + b_hn; the
 * hidden side's gate gradients (dgh) differ from the input side's in n. */

static void gru_forward(float *h, float *c, float *aux, float *g, float *ghh, const float *hprev,
                        const float *cprev, const float *whh, const float *bhh, int nb, int H)
{
    (void)c, (void)cprev;
    const int GH = 3 * H;
    for (int b = 0; b < nb; b++)
        memcpy(ghh + (size_t)b * GH, bhh, GH * sizeof(float));
    add_hh(ghh, hprev, whh, nb, GH, H);
    rnn_k_gru_point(g, ghh, hprev, aux, h, nb, H);
}

static void gru_backward(float *dg, float *dgh, float *dhn, float *dcn, const float *dhout,
                         const float *g, const float *hprev, const float *cprev, const float *aux,
                         const float *whh, int nb, int H)
{
    (void)dcn, (void)cprev;
    rnn_k_gru_point_backward(dg, dgh, dhn, g, dhout, hprev, aux, nb, H);
    dh_from_gates(dhn, dgh, whh, nb, 3 * H, H, 1);
}

/* ------------------------------------------------------------------------ */

static const rnn_train_cell cells[RNN_CELL_COUNT] = {
    [RNN_CELL_RNN] = {RNN_CELL_RNN, 0, rnn_forward, rnn_backward},
    [RNN_CELL_LSTM] = {RNN_CELL_LSTM, 1, lstm_forward, lstm_backward},
    [RNN_CELL_GRU] = {RNN_CELL_GRU, 1, gru_forward, gru_backward},
};

const rnn_train_cell *rnn_train_cell_get(rnn_cell cell)
{
    return (unsigned)cell < RNN_CELL_COUNT ? &cells[cell] : NULL;
}
