/* SPDX-License-Identifier: MIT */
/* rnnmidi core: the lookback inputs of a grid step (Magenta's Lookback RNN),
 * the cheaper alternative to attention (core/attention.h): the events one
 * and two bars before the step being predicted, and whether the last event
 * repeats the events one and two bars before it. core/FORMAT.md ("Lookback
 * inputs (format v2)") gives the exact columns.
 *
 * The input of a step is the last event e_p (step p); the net predicts the
 * event of step p + 1. Its lookback columns are, for a bar of b steps: the
 * event of step p + 1 - b, the event of step p + 1 - 2b, and the flags
 * e_p == e_{p-b} and e_p == e_{p-2b}. Steps before the sequence's first
 * give zero columns and zero flags. The bar length is the caller's: the
 * metric position of core/condition.h gives it (steps between bar lines).
 *
 * One function for a file (the trainer: the sequence so far as an array)
 * and one for the engine (a fixed ring of the last 2 b + 1 events), which
 * give the same columns for the same history. Threads and memory: nothing
 * allocates, locks or takes more than bounded time; every call is audio
 * thread safe. A ring is plain data owned by the caller. */
#ifndef RNNMIDI_LOOKBACK_H
#define RNNMIDI_LOOKBACK_H

#include <stddef.h>
#include <stdint.h>

#include "encoding.h"

/* The longest bar the lookback reaches back over, in steps: 16 quarter
 * notes at 96 steps per quarter (a ring of 12 KiB). Longer bars give zero
 * columns. */
#define RNN_LOOKBACK_MAX_BAR 1536

/** The number of lookback columns of an encoding: 2 V + 2 for melody (the
 * two events one-hot), 2 * 9 + 2 for drums (the two events as drum sets);
 * 0 for an unknown kind. */
int rnn_lookback_columns(rnn_kind kind);

/** The most lookback columns on at one step: 4 for melody (one column of
 * each one-hot block and the two flags), all 20 for drums; 0 for an
 * unknown kind. What a step can cost (rnn_net_step_macs). */
int rnn_lookback_columns_on(rnn_kind kind);

/** The bar length the lookback of a step reaches back over: the bar of the
 * meter num/den holding at the step of its input event (rnn_metric_pos's
 * num, den) at spq steps per quarter, num * 4 * spq / den steps rounded to
 * the nearest whole step, halves up, and at least 1; 0 for a meter or grid
 * out of range (num < 1, den < 1, spq < 1). Any thread. */
int rnn_lookback_bar_steps(int num, int den, int spq);

/** Write the rnn_lookback_columns(kind) columns of the input whose last
 * event is hist[n - 1] (hist: the sequence's events from its first step,
 * n of them; n = 0 before the first step gives zeros) for bars of bar_steps
 * steps (1..RNN_LOOKBACK_MAX_BAR, else zeros). An event out of the kind's
 * range counts as event 0, as the net takes it. */
void rnn_lookback_fill(rnn_kind kind, const int32_t *hist, size_t n, int bar_steps, float *cols);

/* The last events of a live sequence. */
typedef struct {
    int32_t ev[2 * RNN_LOOKBACK_MAX_BAR + 1];
    uint32_t pos;   /* slot of the next event */
    uint32_t count; /* events held, up to the capacity */
} rnn_lookback_ring;

/** Forget every event (a new sequence). */
void rnn_lookback_clear(rnn_lookback_ring *r);

/** Append the event of the next step. */
void rnn_lookback_push(rnn_lookback_ring *r, int32_t event);

/** rnn_lookback_fill over the ring's events (the last one pushed is the last
 * event). */
void rnn_lookback_ring_fill(const rnn_lookback_ring *r, rnn_kind kind, int bar_steps, float *cols);

#endif
