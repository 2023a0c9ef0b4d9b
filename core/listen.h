/* SPDX-License-Identifier: MIT */
/* rnnmidi core: listen, notes -> events on the step grid. The one place where
 * notes become the network's input: rnn_encode (core/encoding.c) feeds it a
 * file's notes step by step, the engine (core/engine.c) the player's MIDI as
 * it comes, so the engine hears the player as the trainer encodes a file.
 *
 * A listener has an open step. The notes that start or end in it are told to
 * it in the order they happen; rnn_listen_step closes it, returns its event
 * and opens the next. Which step a note falls in is the caller's: the trainer
 * rounds ticks to steps, the engine closes step k at position k + 0.5.
 *
 * Melody (one line, the skyline: the highest pitch sounding). A note sounds
 * from the step it starts in up to the step before the one it ends in; a note
 * that starts and ends in the same step sounds for that step. A step's event:
 *   - note-on(p) when the highest note sounding in the step was struck in it
 *     (p: the highest pitch struck in the step, also when it was already
 *     sounding), or when the highest pitch sounding differs from the line's
 *     pitch at the step before (a higher note came in over a held one, or a
 *     higher note ended over a held lower one: the lower note is emitted
 *     again);
 *   - note-off when nothing sounds and something did at the step before;
 *   - no event otherwise (the same note holds, or the rest goes on).
 * So in one line a new note ends the previous one, and a note struck under a
 * higher held note is hidden. Notes of one pitch may overlap: the pitch sounds
 * until the last of them ends.
 *
 * Drums: a step's event is the set of drum classes struck in it (bit c for
 * class c of the GM map in encoding.h); hits have no length.
 *
 * Threads and memory. rnn_listen is plain data owned by the caller (a struct
 * member, a local); its fields are private to listen.c. Nothing here
 * allocates, locks or does I/O, and every call looks at 128 pitches at most,
 * so every function is audio thread safe. */
#ifndef RNNMIDI_LISTEN_H
#define RNNMIDI_LISTEN_H

#include <stdint.h>

#include "encoding.h"

typedef struct {
    int32_t count[128]; /* melody notes sounding, per pitch */
    int32_t sounding;   /* melody notes sounding in all */
    int32_t top;        /* highest pitch sounding, -1 */
    int32_t struck;     /* highest melody pitch struck in the open step, -1 */
    uint32_t drums;     /* drum classes struck in the open step */
    int32_t line;       /* the line's pitch at the last closed step, -1 */
} rnn_listen;

/** Nothing sounding, a new line, an empty open step. */
void rnn_listen_init(rnn_listen *l);

/** A new line (a new sequence): forget the open step's strikes and the line's
 * last pitch; the notes sounding go on sounding, so the next step strikes the
 * highest of them again. */
void rnn_listen_new_line(rnn_listen *l);

/** A melody note of pitch (0..127; others are ignored) starts in the open step. */
void rnn_listen_note_on(rnn_listen *l, int pitch);

/** A melody note of pitch ends in the open step: one of the notes of that
 * pitch stops sounding. Ignored when no note of that pitch sounds. */
void rnn_listen_note_off(rnn_listen *l, int pitch);

/** A key of a live player is struck: a pitch is a key, up or down, and
 * striking a key already down strikes it again without adding a note (one
 * rnn_listen_note_off lifts it). The same as rnn_listen_note_on otherwise. */
void rnn_listen_key_on(rnn_listen *l, int pitch);

/** A drum note of a GM pitch is struck in the open step. Returns its drum
 * class (0..8), or -1 when the pitch is not in the map (then it is ignored). */
int rnn_listen_drum(rnn_listen *l, int pitch);

/** Close the open step and return its event in the encoding of kind (melody:
 * 0..129, drums: 0..511; 0 for another kind); the next step opens. */
int rnn_listen_step(rnn_listen *l, rnn_kind kind);

/** 1 when a melody note or a drum hit was struck in the open step, else 0. */
int rnn_listen_struck(const rnn_listen *l);

/** The number of melody notes sounding now. */
int rnn_listen_sounding(const rnn_listen *l);

/** The line's pitch at the last closed step (what its events play there:
 * the last note-on's pitch until a note-off), or -1. */
int rnn_listen_line(const rnn_listen *l);

#endif
