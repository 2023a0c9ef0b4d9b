/* SPDX-License-Identifier: MIT */
/* rnnmidi demo: the terminal side of a live run. Keys change the settings
 * every engine of a session shares (through the session's command queue),
 * a status line shows them, and a scrolling view prints one line per grid
 * step (a sixteenth) with the notes that sound: a pitch lane per semitone
 * ('#' struck, '|' held, ':' every C), then one letter per drum class
 * (K kick, S snare, h closed hat, o open hat, l/t/m low/mid/high tom,
 * C crash, R ride), coloured by who played it when the output is a terminal.
 *
 * This is part of the demo program: it reads stdin and prints on stdout.
 * Main thread only. */
#ifndef RNNMIDI_DEMO_TERM_H
#define RNNMIDI_DEMO_TERM_H

#include <stdint.h>

#include "demo.h"

extern const char *const demo_mode_names[RNN_MODE_COUNT];   /* continue call accompany */
extern const char *const demo_scale_names[RNN_SCALE_COUNT]; /* off major minor ... */
extern const char *const demo_key_names[12];                /* C C# ... B */

/* What the player sees and changes; the same values go to every engine. */
typedef struct {
    int mode, key, scale;
    float temperature, tempo, density;
    uint32_t seed;
    int lowest, highest; /* the view's pitch range */
} demo_controls;

/** Keys without Enter or echo (restored at exit and by demo_term_restore).
 * On a pipe or file, stdin just stops blocking. 0, or -1 when stdin is not
 * a terminal. */
int demo_term_raw(void);
void demo_term_restore(void);

/** The next key, or -1 when none is waiting. */
int demo_term_key(void);

/** Apply key ch (arrows are read whole): 1 when a setting changed (the
 * change is queued to s), 0 when nothing did, -1 for quit. */
int demo_handle_key(int ch, demo_controls *c, demo_session *s);

/** The status line and the list of keys. */
void demo_print_status(const demo_controls *c);
void demo_print_keys(void);

typedef struct demo_view demo_view;

/** A view from step 0 (color: ANSI colours). NULL when out of memory. */
demo_view *demo_view_create(int color);
void demo_view_free(demo_view *v);

/** Take a played event (from demo_session_drain). */
void demo_view_add(demo_view *v, const demo_event *ev);

/** Print the lines of every step that starts at or before frame upto. */
void demo_view_print(demo_view *v, const demo_controls *c, double sample_rate, uint64_t upto);

#endif
