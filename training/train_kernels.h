/* SPDX-License-Identifier: MIT */
/* rnnmidi training: pointwise kernels of the trainer (internal to the
 * trainer: train_cells.c, train.c and train_optim.c call them).
 *
 * nb lanes of H units each; gate blocks are (nb, G*H) rows in PyTorch's gate
 * order. Forward kernels turn gate pre-activations into activations in place;
 * backward kernels turn output gradients into gate pre-activation gradients.
 * Any thread; no allocation. */
#ifndef RNNMIDI_TRAIN_KERNELS_H
#define RNNMIDI_TRAIN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/** out (N, C) += bias (C) on every row. */
void rnn_k_add_bias(float *out, const float *bias, size_t N, int C);

/** dbias[c0..c1) += column sums of d (N, C) over those columns, and
 * dbias2's too unless it is NULL (two biases of one gradient, as LSTM's). */
void rnn_k_bias_backward(float *dbias, float *dbias2, const float *d, size_t N, int C, size_t c0,
                         size_t c1);

/** Columns [c0, c1) of tab (V, C) = the rows r of d (N, C) summed per class
 * cls[r] (each in 0..V-1), each sum in row order. */
void rnn_k_sum_rows_by_class(float *tab, const float *d, const int32_t *cls, size_t N, int V, int C,
                             size_t c0, size_t c1);

/** x[i] *= mask[i]. */
void rnn_k_mul_mask(float *x, const float *mask, size_t n);

/** LSTM step: g (nb, 4H) pre-activations -> i, f, g, o; c = f cprev + i g,
 * tc = tanh(c), h = o tc. */
void rnn_k_lstm_point(float *g, const float *cprev, float *c, float *tc, float *h, int nb, int H);

/** RNN step: g (nb, H) -> tanh(g), copied to h. */
void rnn_k_rnn_point(float *g, float *h, int nb, int H);

/** GRU step: g (nb, 3H) holds W_ih x + b_ih, ghh (nb, 3H) W_hh h + b_hh;
 * g becomes r, z, n; hn keeps W_hn h + b_hn; h = (1-z) n + z hprev. */
void rnn_k_gru_point(float *g, const float *ghh, const float *hprev, float *hn, float *h, int nb,
                     int H);

/** LSTM step backward: dh = dhout + dhn; writes dg (nb, 4H) and the new dcn
 * (gradient into c_{t-1}); dhn is read only (the caller adds dg W_hh after). */
void rnn_k_lstm_point_backward(float *dg, float *dhn, float *dcn, const float *g,
                               const float *dhout, const float *cprev, const float *tc, int nb,
                               int H);

/** RNN step backward: dg = (dhout + dhn) (1 - h^2). */
void rnn_k_rnn_point_backward(float *dg, const float *g, const float *dhout, const float *dhn,
                              int nb, int H);

/** GRU step backward: dg input-side and dgt hidden-side gate gradients
 * (nb, 3H); dhn becomes z dh, the direct path into h_{t-1}. */
void rnn_k_gru_point_backward(float *dg, float *dgt, float *dhn, const float *g, const float *dhout,
                              const float *hprev, const float *hn, int nb, int H);

/** Softmax of rows [r0, r1) of logits (rows of V) into probs; returns the NLL
 * sum of targets >= 0, their count and argmax hits. */
double rnn_k_softmax_rows(float *probs, const float *logits, const int32_t *targets, size_t r0,
                          size_t r1, int V, long *count, long *hits);

/** The floats of B (K, N) packed for rnn_k_gemm_packed: N rounded up to
 * whole panels of RNN_K_PANEL columns, times K. */
size_t rnn_k_pack_size(int K, int N);

/** Columns in a panel of a packed B. */
#define RNN_K_PANEL 16

/** Panels [p0, p1) of B (K, N) into bp (rnn_k_pack_size floats): panel p
 * holds columns p*RNN_K_PANEL.. as K rows of RNN_K_PANEL floats, zero past
 * N. B is b (K, N) row-major, or with trans b (N, K) used transposed. */
void rnn_k_pack(float *bp, const float *b, int K, int N, int trans, int p0, int p1);

/** C (M, N) = A (M, K) B, or C += A B with accumulate; A rows lda apart,
 * C rows ldc apart, B packed by rnn_k_pack. Each element of C is the same
 * sum in the same order whatever M and the row's place in A, so a split of
 * the rows across threads does not change a result. */
void rnn_k_gemm_packed(float *C, int ldc, const float *A, int lda, const float *bp, int M, int N,
                       int K, int accumulate);

/** rnn_k_gemm_packed with one build of it (the tests hold each to the
 * reference): level 4 (x86-64-v4), 3 (x86-64-v3) or 0 (the baseline).
 * Returns the level, or -1 when this CPU or compiler has no such build
 * (C untouched). rnn_k_gemm_packed runs the highest one there is. */
int rnn_k_gemm_packed_build(int level, float *C, int ldc, const float *A, int lda, const float *bp,
                            int M, int N, int K, int accumulate);

/** One AdamW update of n parameters (PyTorch's formula). */
void rnn_k_adamw(float *p, const float *g, float *m, float *v, size_t n, float beta1, float beta2,
                 float eps, float decay, float step_size, float bc2s);

#endif
