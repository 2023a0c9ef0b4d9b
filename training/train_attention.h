/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the attention layer over a window of steps, forward and
 * backward (the layer of core/FORMAT.md, "Attention (format v2)"; the core's
 * step-by-step version is core/attention.c).
 *
 * Letters: B lanes, T steps of a window, N the attention window n (at most
 * RNN_ATTN_MAX_N, core/attention.h), H the top layer's outputs, A the
 * attention size. Window rows are time-major, row t*B + b. A window starts
 * with each lane's last outputs of the window before it, `past` (N, B, H),
 * row j*B + b being lane b's output N - j steps before the window; only the
 * last npast[b] of them (rows j >= N - npast[b]) are outputs of the lane's
 * sequence, the others are ignored (npast[b] = 0 at a sequence's start, N
 * once a sequence has run N steps).
 *
 * Truncated BPTT: the past outputs are constants, as the carried recurrent
 * state is; no gradient flows into them, but W1 applied to them is
 * differentiated. Within the window everything is: dh gets the gradient of
 * each h_t through W2 h_t and through its use as a key (W1 h_t) and a value
 * at the later steps of the window.
 *
 * Paired functions in the trainer's style: outputs first, then inputs and
 * weights, then dimensions; gradients take a d and are added to (+=). The
 * forward keeps what the backward reads in `cache` (the projections of every
 * key and query) and `att`; the backward recomputes the tanh values rather
 * than keep T B N A of them. Projections run through cblas_sgemm.
 * Any thread; nothing is allocated. */
#ifndef RNNMIDI_TRAIN_ATTENTION_H
#define RNNMIDI_TRAIN_ATTENTION_H

#include <stddef.h>

/** Floats of the forward's cache: (N + T) B A key projections, then T B A
 * query projections. */
size_t rnn_attn_cache_size(int B, int T, int N, int A);

/** Floats of the backward's scratch: the same shape as the cache. */
size_t rnn_attn_scratch_size(int B, int T, int N, int A);

/** ctx (T*B, H): the contexts; att (T*B, N): the attention weights, entry
 * N-1-j of a row for the output j+1 steps back, 0 where there is none;
 * cache: rnn_attn_cache_size floats. h (T*B, H) the top layer's outputs,
 * past (N*B, H) and npast (B) the carried outputs (past may be NULL when
 * every npast[b] is 0), W1 (A, H), W2 (A, H), v (A). */
void rnn_attn_forward(float *ctx, float *att, float *cache, const float *h, const float *past,
                      const int *npast, const float *W1, const float *W2, const float *v, int B,
                      int T, int N, int H, int A);

/** dh (T*B, H), dW1 (A, H), dW2 (A, H), dv (A) += the gradients of a loss
 * whose gradient with respect to ctx is dctx (T*B, H); scratch:
 * rnn_attn_scratch_size floats. att and cache as the forward left them; the
 * other inputs as given to it. */
void rnn_attn_backward(float *dh, float *dW1, float *dW2, float *dv, float *scratch,
                       const float *dctx, const float *att, const float *cache, const float *h,
                       const float *past, const int *npast, const float *W1, const float *W2,
                       const float *v, int B, int T, int N, int H, int A);

/** Carry a window's outputs over to the next window: past (N*B, H) and
 * npast (B) become each lane's last N outputs of its past and h (T*B, H),
 * npast[b] = min(N, npast[b] + T). A lane that then starts a new sequence
 * gets npast[b] = 0 from the caller. */
void rnn_attn_carry(float *past, int *npast, const float *h, int B, int T, int N, int H);

#endif
