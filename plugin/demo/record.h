/* SPDX-License-Identifier: MIT */
/* rnnmidi demo: turns the stream of played MIDI events (demo_event, frames)
 * back into a note list in ticks, for the MIDI file and the piano roll.
 *
 * Track numbers: 1 = the player, 1 + k = part k. A note-on over a sounding
 * note of the same track, channel and pitch ends that note first. Times are
 * ticks at ppq and the tempo given at init (later tempo changes keep the
 * seconds right; bars then drift in the picture). Main thread; allocates. */
#ifndef RNNMIDI_DEMO_RECORD_H
#define RNNMIDI_DEMO_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "demo.h"

#define DEMO_RECORD_SOURCES (DEMO_MAX_PARTS + 1)

typedef struct {
    double sample_rate, bpm;
    int ppq;
    rnn_note *notes;
    size_t n, cap;
    int64_t open_on[DEMO_RECORD_SOURCES][16][128]; /* frame, -1 = not sounding */
    uint8_t open_vel[DEMO_RECORD_SOURCES][16][128];
    size_t counts[DEMO_RECORD_SOURCES]; /* note-ons per source */
    uint64_t last_frame;
    int failed; /* out of memory: notes were lost */
} demo_record;

/** Start an empty recording. Main thread. */
void demo_record_init(demo_record *r, double sample_rate, double bpm, int ppq);

/** Take one event. 0, or -1 when out of memory (also sets failed). */
int demo_record_event(demo_record *r, const demo_event *ev);

/** End every sounding note at end_frame and sort the notes (rnn_note_cmp
 * order: on, track, channel, pitch). 0 or -1. */
int demo_record_finish(demo_record *r, uint64_t end_frame);

/** Ticks of a frame. */
int64_t demo_record_ticks(const demo_record *r, uint64_t frame);

/** Release the notes; accepts NULL. */
void demo_record_free(demo_record *r);

#endif
