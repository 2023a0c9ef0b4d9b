/* SPDX-License-Identifier: MIT */
/* rnnmidi demo: a MIDI file as the player plays it. Its notes on their
 * frames (through the file's tempo map), and for --harmony its tempo and
 * meter changes as the positions a DAW playing the file would send the
 * engines (time:Position: bars counted from 0, each time signature starting
 * a bar, beats of its denominator).
 *
 * Main thread: these allocate; the caller frees what they return and prints
 * what went wrong. */
#ifndef RNNMIDI_DEMO_SONG_H
#define RNNMIDI_DEMO_SONG_H

#include <stddef.h>
#include <stdint.h>

#include "../../core/midifile.h"
#include "demo.h"

/** Seconds from the file's start to tick, through its tempo map. */
double demo_tick_seconds(const rnn_midi_file *mf, int64_t tick);

/** qsort order of player events: by frame, note-offs first at one frame. */
int demo_event_order(const void *a, const void *b);

/** The file's notes as player events at rate (Hz), sorted; those on
 * channel 10 left out when no_drums. NULL when out of memory; *n = 0 (and
 * a NULL result) when no note is left. */
demo_event *demo_song_notes(const rnn_midi_file *mf, double rate, int no_drums, size_t *n);

/** The position at the file's start and at each of its tempo and meter
 * changes, at rate (Hz), sorted; *n >= 1. NULL when out of memory. */
demo_position *demo_song_positions(const rnn_midi_file *mf, double rate, size_t *n);

#endif
