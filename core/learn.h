/* SPDX-License-Identifier: MIT */
/* rnnmidi core: fine-tuning a model on what the player played.
 *
 * An rnn_learn holds a float32 copy of a model's weights (the starting
 * weights kept beside them), their gradients and Adam moments in one
 * layout (the preset's tensor order, core/FORMAT.md), and the activations
 * of a batch of at most max_batch phrases of at most max_steps steps; all
 * of it is allocated by rnn_learn_create. A batch is what rnn_net takes one
 * step at a time, laid out time-major as the offline trainer's windows
 * (row t * B + b): each step's input event, its input columns (the
 * conditions then the lookback, rnn_net_cond_columns of them, from the
 * caller exactly as it would give them to rnn_net_step_cond) and the event
 * to predict. Every phrase starts from the zero state.
 *
 * Equations are core/net's (PyTorch's nn.RNN, nn.LSTM, nn.GRU, dense head,
 * and the attention of core/FORMAT.md: each step attends to the phrase's
 * last n top-layer outputs before it, an empty ring at the phrase's start,
 * and the head reads [h | context]); the gradients are those of the mean
 * NLL by backpropagation through the whole phrase, the attention's keys
 * and values included.
 *
 * The optimiser is AdamW whose decay pulls towards the starting weights
 * instead of towards zero, so the model keeps what it knew; after each step
 * the distance from the starting weights is bounded: ||w - w0|| <= radius
 * ||w0|| (the player's "learn rate" control sets the radius).
 *
 * Threads: a learner is used by one thread at a time, never the audio
 * thread (a step takes tens to hundreds of milliseconds); create, free and
 * rnn_learn_model allocate; forward, backward, step and nll do not allocate,
 * lock, print or do I/O, so the job can run at a low priority beside the
 * audio without touching the allocator. Matrix products are cache-blocked
 * loops built for x86-64-v4, x86-64-v3 and the baseline, picked at create. */
#ifndef RNNMIDI_LEARN_H
#define RNNMIDI_LEARN_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

typedef struct rnn_learn rnn_learn;

typedef struct {
    float lr;                /* Adam's step size (1e-3) */
    float beta1, beta2, eps; /* Adam's moments (0.9, 0.999, 1e-8) */
    float pull;   /* decoupled decay towards the starting weights, per unit of lr (0.01) */
    float radius; /* ||w - w0|| / ||w0|| at most this after a step (0.02) */
    float clip;   /* the gradient's global norm clipped to this, 0 = off (1) */
} rnn_learn_options;

/** The defaults above. Any thread. */
void rnn_learn_options_default(rnn_learn_options *o);

/** A learner for `model` (float32 or reduced: it learns in float32) and
 * batches of at most max_batch phrases by max_steps steps. The model is
 * only read during the call. NULL with a message for sizes out of range
 * or no memory. Worker/main thread;
 * allocates everything the learner will use. */
rnn_learn *rnn_learn_create(const rnn_model *model, int max_batch, int max_steps, char *err,
                            size_t errlen);

/** Release a learner; accepts NULL. */
void rnn_learn_free(rnn_learn *ln);

/** Bytes the learner allocated. */
size_t rnn_learn_bytes(const rnn_learn *ln);

/** The configuration of the model it learns on. */
const rnn_model_config *rnn_learn_config(const rnn_learn *ln);

/** Input columns a step takes beside its event (rnn_model_input_columns). */
int rnn_learn_columns(const rnn_learn *ln);

/** The parameters, their gradients (of the last backward) and the starting
 * weights, each rnn_learn_num_params floats in the preset's tensor order.
 * The parameters may be written between steps (tests). */
size_t rnn_learn_num_params(const rnn_learn *ln);
float *rnn_learn_params(rnn_learn *ln);
const float *rnn_learn_grads(const rnn_learn *ln);
const float *rnn_learn_start(const rnn_learn *ln);

/** Forward a batch of B <= max_batch phrases by T <= max_steps steps:
 * inputs (T, B) events (out of range counts as 0, as rnn_net), cols
 * (T, B, rnn_learn_columns) 0/1 input columns (any nonzero is 1; NULL = all
 * zero), targets (T, B) the events to predict (< 0 or >= V: not counted).
 * Returns the summed NLL (nats) of the counted targets, their number in
 * *count (may be NULL); -1 for a bad shape. Keeps what the backward needs. */
double rnn_learn_forward(rnn_learn *ln, const int32_t *inputs, const float *cols,
                         const int32_t *targets, int B, int T, long *count);

/** The gradient of the mean NLL of the last forward into the gradients
 * (overwritten, not accumulated). Nothing when it counted no target. */
void rnn_learn_backward(rnn_learn *ln);

/** One update on a batch: forward, backward, clip, an AdamW step pulled
 * towards the starting weights, the bound on the distance. Returns the
 * batch's mean NLL before the step, or -1 (weights unchanged) for a bad
 * shape, no counted target, or a gradient that is not finite. */
double rnn_learn_step(rnn_learn *ln, const rnn_learn_options *o, const int32_t *inputs,
                      const float *cols, const int32_t *targets, int B, int T);

/** Mean NLL of a batch under the current weights (a forward), -1 when
 * nothing is counted. */
double rnn_learn_nll(rnn_learn *ln, const int32_t *inputs, const float *cols,
                     const int32_t *targets, int B, int T);

/** Updates applied since create or the last forget. */
long rnn_learn_steps(const rnn_learn *ln);

/** ||w - w0|| / ||w0||: how far the weights moved. */
double rnn_learn_distance(const rnn_learn *ln);

/** Back to the starting weights, the moments and the step count zeroed
 * (the plugin's Forget); they are the accepted weights again. */
void rnn_learn_forget(rnn_learn *ln);

/** Keep the current weights, moments and step count as the accepted ones
 * (an update that passed its validation). */
void rnn_learn_accept(rnn_learn *ln);

/** Back to the accepted weights, moments and step count (an update that
 * made the held-back phrases worse); the starting ones before any accept. */
void rnn_learn_reject(rnn_learn *ln);

/** A new model of the current weights, every tensor float32, with the
 * metadata given, ready for rnn_engine_model_prepare and the slot. NULL
 * with a message (no memory). Worker/main thread; allocates. */
rnn_model *rnn_learn_model(const rnn_learn *ln, const rnn_meta *meta, size_t n_meta, char *err,
                           size_t errlen);

/** The name of the kernel build picked at create ("x86-64-v4",
 * "x86-64-v3", "baseline"). */
const char *rnn_learn_kernel_name(const rnn_learn *ln);

#endif
