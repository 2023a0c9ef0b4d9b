/* SPDX-License-Identifier: MIT */
/* rnnmidi core: one network instance running one grid step at a time.
 *
 * Equations and gate order are PyTorch's nn.RNN (tanh), nn.LSTM (i,f,g,o) and
 * nn.GRU (r,z,n, with b_hn inside the reset product), then a dense head to V
 * logits. All state and scratch are allocated by rnn_net_create; the step
 * functions never allocate, lock, print or do I/O (audio thread safe). */
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

/** Zero the recurrent state. Audio thread safe. */
void rnn_net_reset(rnn_net *net);

/** Feed one input event (0 <= event < V) and return the V logits of the next
 * step; the pointer stays valid until the next step on this net. An event out
 * of range is treated as event 0. Audio thread safe. */
const float *rnn_net_step(rnn_net *net, int event);

/** The same step cut into pieces of bounded work, so a host can spread it over
 * several audio blocks: begin(event), then work(net, budget) until it returns
 * 1; each call does at most about `budget` weight rows (at least one). The
 * logits are then rnn_net_logits(). A begin during an unfinished step
 * abandons it (the state stays at the last finished step). Audio thread safe. */
void rnn_net_step_begin(rnn_net *net, int event);
int rnn_net_step_work(rnn_net *net, int budget);

/** Total weight rows of one step (the unit of rnn_net_step_work's budget). */
int rnn_net_step_rows(const rnn_net *net);

/** Logits of the last finished step (zeros before the first). */
const float *rnn_net_logits(const rnn_net *net);

/** Number of floats of recurrent state (h, and c for LSTM, of every layer). */
size_t rnn_net_state_size(const rnn_net *net);

/** Copy the recurrent state out to / back from a caller buffer of
 * rnn_net_state_size() floats, to branch and come back. Audio thread safe. */
void rnn_net_state_get(const rnn_net *net, float *dst);
void rnn_net_state_set(rnn_net *net, const float *src);

#endif
