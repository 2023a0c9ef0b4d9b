/* SPDX-License-Identifier: MIT */
/* rnnmidi core: the conditioning inputs of a grid step, beside its event.
 *
 * Two kinds, each computed by one function from a file (the trainer, the
 * musicality measure) and by one from live input (the engine), so a net
 * hears the same thing in both places. core/FORMAT.md ("Conditioning inputs
 * (format v2)") gives the exact columns.
 *
 * Metric position: where a step falls in its beat and its bar. A meter
 * num/den has num beats of a 1/den note per bar (6/8: six eighths; the
 * beat is the denominator's note, not the dotted quarter). Every beat and
 * bar line lies at an exact position; each is put on the step it rounds
 * to, halves up, the rule that puts notes on the grid (core/encoding.c). A
 * step's beat is the last beat put on it or before it, its bar the bar of
 * that beat. When the beat is a whole number of steps (4 * spq divisible by
 * den) this is exact; otherwise beats and bar lines fall on the nearest
 * steps (7/16 at 2 steps per quarter: beats of half a step, bars of 3 and 4
 * steps in turn), and beats shorter than a step share a step, which takes
 * the last of them.
 *
 * Harmony: the 12 pitch classes sounding at a step in the voices other than
 * the encoded line, as a 12-bit mask (bit 0 = C). From a file: every
 * non-drum note of the file, except, in the line's own (track, channel),
 * the notes of the pitch the line plays at that step. Live: the keys the
 * player holds (rnn_held).
 *
 * Threads and memory: rnn_held and the rnn_cond_metric_host /
 * rnn_cond_metric_fill / rnn_cond_harmony_fill functions allocate nothing,
 * lock nothing and take bounded time: audio thread safe. rnn_cond_metric_file
 * takes O(log n) in the meter map and allocates nothing (any thread);
 * rnn_cond_harmony_file allocates and is for the main/worker thread. */
#ifndef RNNMIDI_CONDITION_H
#define RNNMIDI_CONDITION_H

#include <stddef.h>
#include <stdint.h>

#include "encoding.h"
#include "midifile.h"

#define RNN_COND_MAX_BEATS 16 /* beat-in-bar columns; later beats take the last one */
#define RNN_COND_HARMONY_COLUMNS 12

/* The metric position of one step. */
typedef struct {
    int bar_start;    /* 1 when a bar line falls on this step */
    int beat_start;   /* 1 when a beat falls on this step */
    int step_in_beat; /* steps since the step of the step's beat, >= 0 */
    int beat_in_bar;  /* 0-based beat of the bar, >= 0 */
    int num, den;     /* the meter holding at the step */
} rnn_metric_pos;

/** The number of metric columns for steps_per_quarter spq (1..96):
 * 2 + 4 * spq + RNN_COND_MAX_BEATS. Any thread. */
int rnn_cond_metric_columns(int spq);

/** The metric position of grid step `step` (>= 0) of a file: ppq ticks per
 * quarter, spq steps per quarter, meters sorted by tick as rnn_midi_read
 * gives them (n 0 = 4/4 throughout; 4/4 also holds before the first one).
 * A meter holds from the step its tick rounds to; of meters that round to
 * one step the last holds. Returns 0, or -1 for arguments out of range
 * (ppq 1..32767, spq 1..96, a meter with num < 1 or den not a power of two
 * 1..128, step < 0). Any thread; allocates nothing. */
int rnn_cond_metric_file(const rnn_midi_meter *meters, size_t n, int ppq, int spq, int64_t step,
                         rnn_metric_pos *out);

/** The metric position of a step from a host's transport (LV2
 * time:Position): bar_beat is the position of the step's grid point in the
 * bar, in beats (time:barBeat, 0 <= bar_beat < beats_per_bar), beat_unit the
 * meter's denominator (time:beatUnit), beats_per_bar its numerator
 * (time:beatsPerBar, rounded to a whole number of at least 1). Gives what
 * rnn_cond_metric_file gives for a file of that meter at that position.
 * Returns 0, or -1 for arguments out of range (beat_unit not a power of two
 * 1..128, spq 1..96, bar_beat not finite). Audio thread safe. */
int rnn_cond_metric_host(double bar_beat, int beat_unit, double beats_per_bar, int spq,
                         rnn_metric_pos *out);

/** Write the rnn_cond_metric_columns(spq) columns of a position into cols
 * (0 or 1 each; column layout in core/FORMAT.md). Audio thread safe. */
void rnn_cond_metric_fill(const rnn_metric_pos *p, int spq, float *cols);

/** The harmony of every step of a melody sequence encoded from notes (ppq,
 * spq as given to rnn_encode): masks[i] is the 12-bit pitch-class set of
 * step seq->start_step + i. Returns 0, or -1 with a message (out of memory,
 * bad arguments). Main/worker thread; allocates while it runs. */
int rnn_cond_harmony_file(const rnn_note *notes, size_t n, int ppq, int spq, const rnn_seq *seq,
                          uint16_t *masks, char *err, size_t errlen);

/** Write the 12 harmony columns of a mask into cols (column k = pitch
 * class k, 0 or 1). Audio thread safe. */
void rnn_cond_harmony_fill(uint16_t mask, float *cols);

/* The keys a live player holds: plain data owned by the caller, no
 * allocation, audio thread safe. A key is up or down: striking a held key
 * again keeps it down, one release lifts it. */
typedef struct {
    uint32_t down[4]; /* bit p % 32 of word p / 32: key p is down */
} rnn_held;

/** No key down. */
void rnn_held_clear(rnn_held *h);

/** Key pitch (0..127; others are ignored) goes down. */
void rnn_held_note_on(rnn_held *h, int pitch);

/** Key pitch goes up. */
void rnn_held_note_off(rnn_held *h, int pitch);

/** The pitch-class set of the keys down (bit 0 = C). */
uint16_t rnn_held_mask(const rnn_held *h);

#endif
