/* SPDX-License-Identifier: MIT */
/* rnnmidi demo: a session, i.e. what the audio callback runs.
 *
 * A session holds one core engine per model (a melody and a drum preset can
 * play together), the synth, an optional audio-note detector, the primer's
 * MIDI scheduled in frames, and three single-producer single-consumer queues:
 * live MIDI in and commands (main thread -> audio thread), and everything
 * played (audio thread -> main thread, for the screen, the MIDI file and the
 * piano roll). Each part's models reach its engine through a model slot
 * (core/slot.h). demo_session_process is the same code under the PortAudio
 * callback and under the offline renderer, so a render is what a live run
 * would have played.
 *
 * The engines run on their own tempo (no host transport), all from one clock,
 * unless the session is given positions: then they follow those as a host's
 * transport (a file's tempo and meter map, for --harmony).
 * Player notes go to every engine; each engine's output goes to the synth.
 * Channels: melody parts play on channels 1 and 3, drums on 10, and the
 * player's notes sound on channel 2 (soft keys). */
#ifndef RNNMIDI_DEMO_DEMO_H
#define RNNMIDI_DEMO_DEMO_H

#include <stddef.h>
#include <stdint.h>

#include "../../core/engine.h"
#include "synth.h"

#define DEMO_MAX_PARTS 3
#define DEMO_PLAYER_CHANNEL 1 /* where the player's melodic notes sound (MIDI channel 2) */

/* One MIDI message at an absolute frame. source 0 is the player (primer,
 * live MIDI, detected audio notes); source k >= 1 is part k - 1. */
typedef struct {
    uint64_t frame;
    uint8_t source;
    uint8_t size;
    uint8_t data[3];
} demo_event;

/* A host position for the engines from an absolute frame on (t.frame is
 * not read): a file's tempo or meter change. */
typedef struct {
    uint64_t frame;
    rnn_transport t;
} demo_position;

typedef struct {
    double sample_rate; /* Hz */
    uint32_t max_block; /* frames the callback may ask for at most (bigger blocks are split) */
    uint32_t seed;      /* 1..16777215: engines' sampling and the synth's noise */
    int n_parts;        /* 0..DEMO_MAX_PARTS */
    rnn_engine_model *models[DEMO_MAX_PARTS]; /* taken over by the session, even on failure */
    float params[RNN_PARAM_COUNT];            /* applied to every engine where param_set[i] */
    uint8_t param_set[RNN_PARAM_COUNT];
    const demo_event *primer; /* player MIDI at frames (sorted), copied; may be NULL */
    size_t n_primer;
    const demo_position *positions; /* sorted by frame, copied; NULL: the engines free-run */
    size_t n_positions;
    int detector;        /* 1: run the audio-note detector on the input */
    float input_monitor; /* gain of the audio input in the output mix (0 = not heard) */
} demo_config;

typedef struct demo_session demo_session;

/** Build a session. NULL with a message on failure. Main thread; allocates. */
demo_session *demo_session_create(const demo_config *cfg, char *err, size_t errlen);

/** Release; accepts NULL. Main thread, with the audio stream stopped. */
void demo_session_free(demo_session *s);

/** Run frames frames: in is mono input (NULL = silence), out receives
 * interleaved stereo. Audio thread: no allocation, lock or I/O. */
void demo_session_process(demo_session *s, const float *in, float *out, uint32_t frames);

/** Queue a live MIDI message from the player (it reaches the engines at the
 * start of the next block). 0, or -1 when the queue is full. Main thread. */
int demo_session_push_midi(demo_session *s, const uint8_t *msg, size_t len);

/** Queue a setting for part (or every part when part < 0). 0 or -1 (full).
 * Main thread. */
int demo_session_set_param(demo_session *s, int part, rnn_engine_param id, float value);

/** Queue a new seed: every engine takes it and restarts together, sounding
 * notes end. 0 or -1 (full). Main thread. */
int demo_session_reseed(demo_session *s, uint32_t seed);

/** Play em on part from the start of a coming block: the part's engine
 * keeps its settings and its channel. The session takes em over, also when
 * it refuses it (-1: no such part, or a model of another kind than the
 * part's). The model it replaces waits for demo_session_retire. Main thread;
 * allocates. */
int demo_session_set_model(demo_session *s, int part, rnn_engine_model *em);

/** Free the models that set_model replaced and the audio thread has let go
 * of; returns how many. Main thread. */
int demo_session_retire(demo_session *s);

/** Move up to max played events into out (oldest first); returns how many.
 * Main thread. */
size_t demo_session_drain(demo_session *s, demo_event *out, size_t max);

/** Frames processed so far. Any thread. */
uint64_t demo_session_position(const demo_session *s);

/** Events lost because the played-events queue was full. Any thread. */
uint64_t demo_session_lost_events(const demo_session *s);

/** Number of parts, and the encoding kind of part i. Any thread. */
int demo_session_parts(const demo_session *s);
rnn_kind demo_session_part_kind(const demo_session *s, int part);

/** Counters of part i's engine (read on the main thread: approximate while
 * the stream runs). */
void demo_session_part_stats(const demo_session *s, int part, rnn_engine_stats *st);

/** The conditions of part i's last committed step (rnn_engine_last_cond;
 * read on the main thread: approximate while the stream runs). Returns the
 * number of columns written to cols (NULL for none), 0 before the first. */
int demo_session_part_cond(const demo_session *s, int part, rnn_engine_cond *c, float *cols);

#endif
