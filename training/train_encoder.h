/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the bidirectional encoder over B lanes of T steps,
 * forward and backward (the encoder of core/FORMAT.md, "Bidirectional
 * encoder"; the core's version, for whole sequences in slices, is
 * core/encoder.c). Both are held to the same PyTorch golden files
 * (tests/golden/make_encoder_golden.py).
 *
 * Every lane is a whole sequence of T steps: the forward layers start from
 * zero at step 0, the reverse layers at step T-1 (no state is carried
 * between calls, so there is no truncation: the gradient is exact).
 *
 * Letters: B lanes, T steps, Le layers, He hidden per direction, G gates,
 * GH = G He, In input columns, I_k the input of layer k (In, or 2 He).
 * Window rows are time-major, row t*B + b. Weights are given as the 8 Le
 * pointers of rnn_enc_tensor_specs (core/encoder.h) order, their gradients
 * likewise.
 *
 * Paired functions in the trainer's style: outputs first, then inputs and
 * weights, then dimensions; gradients take a d and are added to (+=). The
 * forward keeps what the backward reads in `acts`: per layer and direction
 * the gate activations, the states and the cell's extra values, in the
 * order the direction runs (the reverse direction's step s is time T-1-s),
 * and each layer's output. The input products, the weight gradients and
 * the input gradients are one cblas_sgemm each over the T B rows of a
 * direction; the recurrence is the trainer's cell table (train_cells.c)
 * step by step. Any thread; nothing is allocated. */
#ifndef RNNMIDI_TRAIN_ENCODER_H
#define RNNMIDI_TRAIN_ENCODER_H

#include <stddef.h>

#include "../core/encoder.h"

/** Floats of the forward's activations for cfg (its max_steps is not
 * looked at) and B lanes of T steps; 0 for bad sizes. */
size_t rnn_enc_train_acts_size(const rnn_enc_config *cfg, int B, int T);

/** Floats of the backward's scratch (the forward needs none beyond acts). */
size_t rnn_enc_train_scratch_size(const rnn_enc_config *cfg, int B, int T);

/** out (T*B, 2 He): the top layer's outputs, [forward | reverse] per row;
 * acts: rnn_enc_train_acts_size floats. x (T*B, In) the inputs, w the
 * weights. */
void rnn_enc_train_forward(float *out, float *acts, const float *x, const float *const *w,
                           const rnn_enc_config *cfg, int B, int T);

/** dw (8 Le gradients) += the gradients of a loss whose gradient with
 * respect to out is dout (T*B, 2 He); dx (T*B, In) = the gradient of the
 * inputs when not NULL. scratch: rnn_enc_train_scratch_size floats; acts as
 * the forward left them, x and w as given to it. */
void rnn_enc_train_backward(float *dx, float *const *dw, float *scratch, const float *dout,
                            const float *acts, const float *x, const float *const *w,
                            const rnn_enc_config *cfg, int B, int T);

#endif
