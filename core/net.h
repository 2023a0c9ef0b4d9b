/* SPDX-License-Identifier: MIT */
/* rnnmidi core: one network instance running one grid step at a time.
 *
 * Equations and gate order are PyTorch's nn.RNN (tanh), nn.LSTM (i,f,g,o) and
 * nn.GRU (r,z,n, with b_hn inside the reset product), then, when the model
 * has it, attention over the top layer's last n outputs (core/attention.h),
 * then a dense head to V logits over h (or [h | context]). All state and scratch are allocated by
 * rnn_net_create; the step functions never allocate, lock, print or do I/O (audio thread safe). */
#ifndef RNNMIDI_NET_H
#define RNNMIDI_NET_H

#include <stddef.h>

#include "model.h"

typedef struct rnn_net rnn_net;

/** Create a net on a loaded model (which must outlive the net), state zeroed.
 * NULL with a message on failure. Main/worker thread; allocates. */
rnn_net *rnn_net_create(const rnn_model *model, char *err, size_t errlen);

/** Release a net; accepts NULL. Main/worker thread. */
void rnn_net_free(rnn_net *net);

/** Bytes allocated for this net (state, scratch, the struct). Any thread. */
size_t rnn_net_bytes(const rnn_net *net);

/** The model the net runs on. */
const rnn_model *rnn_net_model(const rnn_net *net);

/** Zero the recurrent state and empty the attention's ring. Audio thread
 * safe. */
void rnn_net_reset(rnn_net *net);

/** Input columns the model takes beside the event (rnn_model_input_columns
 * of its config: the conditions, metric then harmony, then the lookback
 * columns; 0 for a version 1 model). Any thread. */
int rnn_net_cond_columns(const rnn_net *net);

/** Feed one input event (0 <= event < V) and the step's conditions and
 * lookback columns, and return the V logits of the next step; the pointer
 * stays valid until the next step on this net. An event out of range is
 * treated as event 0. cond holds rnn_net_cond_columns() values, the
 * conditions then the lookback (core/lookback.h), each 0 or 1 (any nonzero
 * value counts as 1), read before the call returns; NULL means all zero. A
 * step adds the weights of each column on, counted in rnn_net_step_macs.
 * Audio thread safe. */
const float *rnn_net_step_cond(rnn_net *net, int event, const float *cond);

/** Encoder columns the model takes after the conditions and lookback: the
 * 2 He outputs of its bidirectional encoder (rnn_model_enc_columns), 0
 * without one. Any thread. */
int rnn_net_enc_columns(const rnn_net *net);

/** rnn_net_step_cond with the encoder's outputs at this step too: enc holds
 * rnn_net_enc_columns() values (a row of rnn_enc_output, core/encoder.h),
 * read before the call returns; NULL means all zero, and a model without an
 * encoder ignores it. Each adds its weight column times its value, counted
 * in rnn_net_step_macs. rnn_net_step_cond is this with NULL. Audio thread
 * safe. */
const float *rnn_net_step_enc(rnn_net *net, int event, const float *cond, const float *enc);

/** rnn_net_step_cond with no condition on (any model). Audio thread safe. */
const float *rnn_net_step(rnn_net *net, int event);

/** The same step cut into pieces of bounded work, so a host can spread it over
 * several audio blocks: begin(event, cond), then work(net, budget) until it
 * returns 1; each call does at most about `budget` weight rows (at least one)
 * and the condition columns once. The logits are then rnn_net_logits(),
 * bit-identical to a whole step's. begin reads cond before it returns. A
 * begin during an unfinished step abandons it (the state stays at the last
 * finished step). rnn_net_step_begin is begin_cond with NULL, begin_cond
 * begin_enc with NULL (begin_enc reads enc before it returns, as
 * rnn_net_step_enc). Audio thread safe. */
void rnn_net_step_begin_enc(rnn_net *net, int event, const float *cond, const float *enc);
void rnn_net_step_begin_cond(rnn_net *net, int event, const float *cond);
void rnn_net_step_begin(rnn_net *net, int event);
int rnn_net_step_work(rnn_net *net, int budget);

/** Total weight rows of one step (the unit of rnn_net_step_work's budget).
 * With attention a row of budget stands for H units of its work, and every
 * step is charged a full ring's (rnn_attn_work_max), so the count is the
 * same for every step. */
int rnn_net_step_rows(const rnn_net *net);

/** Logits of the last finished step (zeros before the first). */
const float *rnn_net_logits(const rnn_net *net);

/** Name of the build of the kernels this net runs, picked at create for
 * its CPU: "x86-64-v4" (AVX-512), "x86-64-v3" (AVX2 + FMA) or "baseline"
 * (SSE2 on x86-64, NEON on aarch64). Any thread. */
const char *rnn_net_kernel_name(const rnn_net *net);

/** Name of the core/qmat kernel the net's reduced matrices (bf16, int8)
 * run (rnn_qmat_kernel_name: "avx512bf16", "avx512vnni", "avxvnni", "avx2",
 * "portable"), picked at create for its CPU; NULL when the model stores
 * every matrix in float32. Any thread. */
const char *rnn_net_qmat_kernel_name(const rnn_net *net);

/** Run every reduced matrix through the kernel `name` (tests and benches
 * compare the paths): 0, or -1 (nothing changed) when the net has no
 * reduced matrix or one of them cannot run it here. A step in progress is
 * abandoned. Main thread, not during a step. */
int rnn_net_set_qmat_kernel(rnn_net *net, const char *name);

/** Multiply-adds of one step of a net on cfg: rows times columns of every
 * matrix product, rows padded as the net computes them, and the input rows
 * of every condition column as if all were on (the cost a host budgets
 * for). 0 for an invalid config. Any thread. */
size_t rnn_net_step_macs(const rnn_model_config *cfg);

/** Check that the model's numbers stay finite, before anything runs it: no
 * row of any product may be able to sum beyond the range of float for any
 * input (|weight| times the largest input of its column, every h lying in
 * [-1, 1]), and 16 steps from the zero state over a fixed sequence of
 * inputs must leave every state and logit finite. Returns 0, or -1 with a
 * message starting with `name` (the file; NULL for none). Leaves the state
 * zeroed. Main/worker thread. */
int rnn_net_probe(rnn_net *net, const char *name, char *err, size_t errlen);

/** The attention weights of the last finished step (rnn_attn_weights:
 * entry n-1-j is the weight of the top layer's output of j+1 steps before
 * it, 0 where none is stored), or NULL for a model without attention;
 * *n (when not NULL) receives the window n, 0 without attention. Valid
 * until the next step; while a sliced step runs they are being rewritten.
 * For tools that draw what a step attended to. Audio thread safe. */
const float *rnn_net_attn_weights(const rnn_net *net, int *n);

/** Number of floats of state: h, and c for LSTM, of every layer, then with
 * attention its ring (rnn_attn_state_size: the count of stored outputs, the
 * outputs and their projections). */
size_t rnn_net_state_size(const rnn_net *net);

/** Copy the recurrent state out to / back from a caller buffer of
 * rnn_net_state_size() floats, to branch and come back. Audio thread safe. */
void rnn_net_state_get(const rnn_net *net, float *dst);
void rnn_net_state_set(rnn_net *net, const float *src);

#endif
