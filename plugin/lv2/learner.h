/* SPDX-License-Identifier: MIT */
/* rnnmidi LV2: Learn, the plugin learning the player's style while they
 * play (core/learn on what the engine records, core/record).
 *
 * The learner owns a thread of its own at the lowest priority (SCHED_IDLE,
 * or nice 19 where that is refused), started by create and stopped by free
 * with a flag and a join. Not the LV2 worker: one update (8 AdamW steps on 8
 * windows of 64 steps) takes from tens of milliseconds to seconds, far over
 * what a worker may hold the host's queue (model loads, state restores);
 * and a thread at the lowest priority yields to audio and GUI by
 * construction.
 *
 * For the model the worker loaded (rnnmidi_learner_base: its path and its
 * generation in the model slot), once Learn is not off (or at once for a
 * session's learned model), the thread makes an rnn_learn and a
 * recording ring of about 20 minutes at the model's grid, and hands the
 * ring to run(), which gives it to the engine (rnn_engine_set_record) while
 * Learn is on. A model core/learn refuses (attention) plays on unchanged and
 * the state reads "cannot learn this preset". When 8 new bars (at 4/4 on the
 * model's grid) of the player's line have come in, the thread makes an
 * update: 8 steps on windows of what was heard, half ending in the new
 * bars, the newest 2 bars held back; it is kept only when the held-back
 * bars are predicted no worse (rnn_learn_accept), else undone. A kept
 * update becomes a model (rnn_learn_model, rnn_engine_model_wrap) that
 * run() swaps into the engine at the start of a block, when no newer model
 * was requested from the slot meanwhile; the model it replaced comes back
 * to the thread to be freed. Forget goes back to the starting weights and
 * swaps the original file in again.
 *
 * Threads. create, free: main thread (instantiate, cleanup). base: the
 * worker, or restore() (not the audio thread: it takes a lock). run: the
 * audio thread, once a block: atomics only, no allocation, lock or system
 * call. write, base_path: any other thread (save()), under the lock. */
#ifndef RNNMIDI_LV2_LEARNER_H
#define RNNMIDI_LV2_LEARNER_H

#include <stddef.h>
#include <stdint.h>

#include "../../core/engine.h"
#include "../../core/slot.h"

typedef struct rnnmidi_learner rnnmidi_learner;

/* What run() shows on the status ports. */
typedef struct {
    int state;                   /* RNNMIDI_LSTATE_* */
    long phrases;                /* phrases heard since the base model or the last forget */
    long updates;                /* updates made (kept or undone) */
    long kept;                   /* of them, kept */
    float nll_before, nll_after; /* the last update's held-back NLL, nats a step */
} rnnmidi_learn_status;

/** A learner swapping its models into the engine beside slot (whose
 * generations it honours), its thread started. NULL with a message when
 * out of memory or no thread can be started. Main thread. */
rnnmidi_learner *rnnmidi_learner_create(rnn_slot *slot, char *err, size_t errlen);

/** Stop the thread (it finishes the update it is in), and free everything
 * the learner holds, also a model that run() has not taken. Accepts NULL.
 * Main thread, after the engine no longer records into its ring: free the
 * engine first. */
void rnnmidi_learner_free(rnnmidi_learner *l);

/** The model of generation gen of the slot was prepared from path: learn on
 * it from now on (what was learned before is dropped). Worker thread. */
void rnnmidi_learner_base(rnnmidi_learner *l, const char *path, uint32_t gen);

/** Like base, then start from the learned weights of the model file at
 * learned (a session's learned model), the original staying path's. */
void rnnmidi_learner_base_learned(rnnmidi_learner *l, const char *path, const char *learned,
                                  uint32_t gen);

/** Once a block, before the engine runs: learn is RNNMIDI_LEARN_*, rate the
 * learn rate (a multiple of core/learn's radius), forget the Forget port
 * (its rise forgets). Sets the engine's recording, swaps a learned model in
 * and fills *st. Audio thread: atomics only. */
void rnnmidi_learner_run(rnnmidi_learner *l, rnn_engine *e, int learn, float rate, float forget,
                         rnnmidi_learn_status *st);

/** Write the learned model (float32, its metadata naming the original)
 * to path: 0, 1 when nothing was learned since the base model or the last
 * forget (nothing written), -1 with a message. Not the audio thread. */
int rnnmidi_learner_write(rnnmidi_learner *l, const char *path, char *err, size_t errlen);

/** The original's path of the learned model (as base got it), copied into
 * out (cap bytes); 0, or -1 when none. Not the audio thread. */
int rnnmidi_learner_base_path(rnnmidi_learner *l, char *out, size_t cap);

#endif
