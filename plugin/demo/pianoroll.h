/* SPDX-License-Identifier: MIT */
/* rnnmidi demo: a piano-roll picture of what was played, as PNG or SVG.
 *
 * Two panels share the time axis (x, with bar and beat lines and bar
 * numbers): melodic notes on a pitch axis (y, one row per semitone, black-key
 * rows shaded, a labelled line at every C), and drums (MIDI channel 10) on
 * one lane per drum class (kick, snare, hats, toms, crash, ride). Notes are
 * coloured by their track and brightened by velocity; a legend names the
 * tracks. The PNG is written by core/png, the SVG as text.
 *
 * Main thread: allocates and writes a file. */
#ifndef RNNMIDI_DEMO_PIANOROLL_H
#define RNNMIDI_DEMO_PIANOROLL_H

#include <stddef.h>

#include "../../core/encoding.h"

#define DEMO_ROLL_TRACKS 8

typedef struct {
    int ppq;                                   /* ticks per quarter of the notes' times */
    double bpm;                                /* for the seconds in the caption */
    int beats_per_bar;                         /* 4 when 0 */
    const char *title;                         /* caption, may be NULL */
    const char *track_names[DEMO_ROLL_TRACKS]; /* name of note track t at [t], may be NULL */
    int min_width;                             /* pixels of the time axis at least (0: 640) */
} demo_roll_info;

/** Draw notes (times in ticks at info->ppq; channel 9 = drums) to path: SVG
 * when path ends in ".svg", PNG otherwise. Returns 0, or -1 with a message
 * naming the file. Main thread. */
int demo_pianoroll_write(const char *path, const rnn_note *notes, size_t n,
                         const demo_roll_info *info, char *err, size_t errlen);

/** Draw into a new malloc'd RGB image (3 bytes per pixel, rows top to bottom);
 * *w and *h receive its size. NULL when out of memory. Main thread. */
unsigned char *demo_pianoroll_raster(const rnn_note *notes, size_t n, const demo_roll_info *info,
                                     int *w, int *h);

#endif
