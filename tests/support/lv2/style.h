/* SPDX-License-Identifier: MIT */
/* A player with a style of their own, for the Learn tests: 4-bar melody
 * phrases made of four fixed 8-step motifs in a fixed order (one of four
 * variants per phrase), a 2-bar rest after each, at 120 BPM in 4/4 at
 * 48 kHz (6000 frames a 16th). style_block writes one block's transport
 * and notes into the test host's control port, from the block's position
 * alone, so blocks of any length play the same notes; style_events gives a
 * phrase as the trainer encodes a melody. Test thread only. */
#ifndef RNNMIDI_TESTS_LV2_STYLE_H
#define RNNMIDI_TESTS_LV2_STYLE_H

#include <stdint.h>

#include "lv2_host.h"

#define STYLE_RATE 48000
#define STYLE_STEP_FRAMES 6000
#define STYLE_BAR_FRAMES (16 * STYLE_STEP_FRAMES)
#define STYLE_PHRASE_STEPS 64
#define STYLE_CYCLE_BARS 6 /* 4 bars of phrase, 2 of rest */

/** After host_begin: a rolling time:Position at frame 0 and the player's
 * notes of the frames [hp->pos, hp->pos + frames), the song starting at
 * frame start (bar 0). */
void style_block(host_plugin *hp, int64_t start, uint32_t frames);

/** The events of a phrase of variant (0..3) on the grid, as the trainer
 * encodes a melody: note-on where a note starts, note-off where one ends
 * and none starts, 0 elsewhere. ev holds STYLE_PHRASE_STEPS. */
void style_events(int variant, int32_t *ev);

/** The variant the phrase of cycle c plays. */
int style_variant(int64_t c);

#endif
