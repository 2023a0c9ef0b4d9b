/* SPDX-License-Identifier: MIT */
/* rnnmidi core: the model slot, the one hand-off of prepared models between
 * the thread that prepares them and the thread that runs the engine.
 *
 * A host prepares a model off the audio thread (rnn_engine_model_prepare)
 * and offers it to the slot; the audio thread takes it at the start of a
 * block, swaps it into its engine (rnn_slot_install does both) and hands the
 * model it replaced back; the preparing thread retires what came back, i.e.
 * frees it, off the audio thread. A model offered while an earlier one still
 * waits replaces it (the earlier one never reached the audio thread and is
 * freed by the offer).
 *
 * Generations. Every request for a model (a file chosen, a state restored)
 * starts a new generation (rnn_slot_request) before its model is prepared;
 * the model is offered with that generation. A model of an older generation
 * is freed instead of taken, however the loads finish: the last request wins.
 *
 * Threads and ownership.
 * - create, free: main thread; free when no other thread uses the slot.
 * - request, generation: any thread.
 * - offer, retire: the preparing thread (a worker, or the main thread), one
 *   at a time. offer allocates a small record and takes the model over.
 * - take, give_back, install: the one thread that runs the engine (the audio
 *   thread; any thread while no audio runs). No allocation, no lock, no
 *   system call: an atomic exchange to take, a compare-and-swap push to give
 *   back (retried only while a retire runs at that very moment).
 * Models still pending or handed back when the slot is freed are freed with
 * it; the engine's current model stays the engine's. */
#ifndef RNNMIDI_SLOT_H
#define RNNMIDI_SLOT_H

#include <stdint.h>

#include "engine.h"

typedef struct rnn_slot rnn_slot;

/** An empty slot (generation 0), or NULL when out of memory. Main thread. */
rnn_slot *rnn_slot_create(void);

/** Release the slot and every model it holds; accepts NULL. Main thread,
 * when no other thread uses the slot. */
void rnn_slot_free(rnn_slot *s);

/** Start a new generation and return it: models of older generations, also
 * those already offered, will not be taken. Any thread. */
uint32_t rnn_slot_request(rnn_slot *s);

/** The latest generation started. Any thread. */
uint32_t rnn_slot_generation(const rnn_slot *s);

/** Offer a prepared model of generation gen; the slot takes it over. 1 when
 * it now waits to be taken, 0 when it was freed instead (a newer generation
 * was requested, em is NULL, or no memory). Preparing thread. */
int rnn_slot_offer(rnn_slot *s, rnn_engine_model *em, uint32_t gen);

/** The model waiting to be taken, now the caller's, or NULL (none, or only
 * one of an older generation, which goes to retirement). After a model is
 * taken, rnn_slot_give_back must come before the next take. Audio thread. */
rnn_engine_model *rnn_slot_take(rnn_slot *s);

/** Hand back the model the taken one replaced (NULL when there was none) to
 * be freed by rnn_slot_retire. Only after a take that returned a model; the
 * caller no longer uses old. Audio thread. */
void rnn_slot_give_back(rnn_slot *s, rnn_engine_model *old);

/** Take the waiting model, if any, swap it into e and hand the previous one
 * back: the model now installed, or NULL when nothing changed. Audio thread. */
const rnn_engine_model *rnn_slot_install(rnn_slot *s, rnn_engine *e);

/** Free the models handed back (and the records of models never taken);
 * returns the number of models freed. Preparing thread. */
int rnn_slot_retire(rnn_slot *s);

#endif
