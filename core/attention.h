/* SPDX-License-Identifier: MIT */
/* rnnmidi core: Bahdanau attention over the last n top-layer outputs, one
 * grid step at a time (equations and tensor names in core/FORMAT.md,
 * "Attention (format v2)").
 *
 * At step t, given the top layer's output h_t: q = W2 h_t, a score
 * u_i = v . tanh(W1 h_i + q) for each stored output h_i (i = t-n .. t-1,
 * fewer at the start), a = softmax(u), and the context c_t = sum_i a_i h_i
 * (zero when nothing is stored yet); then h_t and W1 h_t go into the ring,
 * replacing the oldest. Each W1 projection is thus computed once, when its
 * output is made. The head reads [h_t | c_t].
 *
 * Cost of a step (H hidden, A attention size, n window): 2 A H multiply-adds
 * for the two projections, n A for the scores (and n A tanh), n H for the
 * context (rnn_attn_step_macs). At H = 256, A = 128, n = 64 that is 10 to 15%
 * of a 2 x 256 LSTM step (tests/bench/bench_attention.c measures it):
 * several microseconds, too much for one audio block of a plugin that
 * spreads the net's step over blocks, so the attention can be cut into
 * pieces too (rnn_attn_begin / rnn_attn_work).
 *
 * Threads and memory: create/free allocate and are for the main/worker
 * thread; every other call allocates nothing, locks nothing, takes bounded
 * time and is audio thread safe. One object belongs to one thread at a time.
 * Sums over the stored outputs run oldest first whatever the ring's position,
 * so a state saved and restored continues bit for bit. */
#ifndef RNNMIDI_ATTENTION_H
#define RNNMIDI_ATTENTION_H

#include <stddef.h>

#define RNN_ATTN_MAX_H 4096
#define RNN_ATTN_MAX_A 4096
#define RNN_ATTN_MAX_N 1024

typedef struct rnn_attn rnn_attn;

/** Create the layer for outputs of H floats, attention size A and a window
 * of n past outputs, copying the weights W1 (A, H), W2 (A, H) and v (A)
 * (row-major, the caller keeps its own). Ring empty. NULL with a message for
 * sizes out of range (1..RNN_ATTN_MAX_*), missing weights or no memory.
 * Main/worker thread; allocates. */
rnn_attn *rnn_attn_create(int H, int A, int n, const float *W1, const float *W2, const float *v,
                          char *err, size_t errlen);

/** Release a layer; accepts NULL. Main/worker thread. */
void rnn_attn_free(rnn_attn *at);

/** Bytes allocated for this layer. Any thread. */
size_t rnn_attn_bytes(const rnn_attn *at);

/** Empty the ring and zero the context and weights. Audio thread safe. */
void rnn_attn_reset(rnn_attn *at);

/** One step: attend from h (H floats, the top layer's output of this step)
 * over the stored outputs, then store h. Returns the context c_t (H floats),
 * valid until the next step or reset on this layer. Audio thread safe. */
const float *rnn_attn_step(rnn_attn *at, const float *h);

/** The same step in two halves, for a net whose step can be cut into slices
 * and abandoned (core/net.h): attend computes and returns the context of h
 * as rnn_attn_step does but leaves the ring as it is; commit then stores the
 * attended h and its projection. A second attend before a commit replaces
 * the first; commit without a finished attend does nothing; reset and
 * state_set drop a pending one. Audio thread safe. */
const float *rnn_attn_attend(rnn_attn *at, const float *h);
void rnn_attn_commit(rnn_attn *at);

/** The attend itself cut into pieces of bounded work, as rnn_net_step_begin
 * and rnn_net_step_work cut a net's step: begin(h) (h is copied), then
 * work(budget) until it returns 1; each call does about `budget` units of
 * work (at least one input column of the projections, one score or one
 * key of the context). The context is then rnn_attn_context(), bit for bit
 * the one attend gives, and commit stores h. A begin during an unfinished
 * attend abandons it. A unit is a multiply-add, a tanh counting as 5;
 * rnn_attn_work_total gives the units of a whole attend with the outputs
 * stored now. Audio thread safe. */
void rnn_attn_begin(rnn_attn *at, const float *h);
int rnn_attn_work(rnn_attn *at, size_t budget);
size_t rnn_attn_work_total(const rnn_attn *at);

/** Units done so far by the attend under way (begun by rnn_attn_begin),
 * counted as rnn_attn_work_total counts them; the whole total once it is
 * finished. A work call stops at the first piece that reaches its budget,
 * so it does at most budget - 1 + rnn_attn_work_piece units. Audio thread
 * safe. */
size_t rnn_attn_work_done(const rnn_attn *at);
size_t rnn_attn_work_piece(const rnn_attn *at);

/** rnn_attn_work_total with a full ring: the most an attend can take. */
size_t rnn_attn_work_max(const rnn_attn *at);

/** The context of the last finished attend (zeros before the first; being
 * rewritten while a sliced attend runs its context phase). */
const float *rnn_attn_context(const rnn_attn *at);

/** The attention weights of the last step, n floats: entry n-1-j is the
 * weight of the output of j+1 steps before it; entries with no stored output
 * are 0 (all 0 before the first step and at a step with an empty ring). */
const float *rnn_attn_weights(const rnn_attn *at);

/** Number of outputs stored now (0..n). */
int rnn_attn_count(const rnn_attn *at);

/** Name of the build of the step this layer runs, picked at create for its
 * CPU: "x86-64-v4", "x86-64-v3" or "baseline". Any thread. */
const char *rnn_attn_kernel_name(const rnn_attn *at);

/** Multiply-adds of one step with a full ring: 2 A H + n A + n H. */
size_t rnn_attn_step_macs(int H, int A, int n);

/** Floats of state: 1 + n H + n A (the count, then the stored outputs and
 * their projections, oldest first). */
size_t rnn_attn_state_size(const rnn_attn *at);

/** Copy the ring out to / back from a caller buffer of rnn_attn_state_size()
 * floats. A count that is not a whole number in 0..n restores an empty ring.
 * The context and weights of the last step are not part of the state (a
 * step recomputes them). Audio thread safe. */
void rnn_attn_state_get(const rnn_attn *at, float *dst);
void rnn_attn_state_set(rnn_attn *at, const float *src);

#endif
