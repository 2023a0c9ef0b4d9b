/* SPDX-License-Identifier: MIT */
/* rnnmidi listen: the YIN pitch tracker (de Cheveigné and Kawahara, 2002)
 * in the form of aubio 0.4.9's "yin" pitch method.
 *
 * A buffer of the last `win` samples slides by each call's samples. Over
 * its first half, the difference function d(tau) = sum_j (x[j] -
 * x[j + tau])^2 for tau = 1 .. win/2 - 1 is normalised by its running mean
 * (d'(0) = 1, d'(tau) = d(tau) tau / sum_{t<=tau} d(t)); the first tau with
 * d'(tau) below the tolerance (0.15) that is a local minimum is the period,
 * else the tau of the smallest d'. A parabola through the neighbours refines
 * it; the confidence is 1 - d'(period).
 *
 * Threads: create/free allocate (main or worker thread); reset, the setter
 * and process are audio-safe (no allocation; O(win^2 / 4) per call at
 * most). */
#ifndef RNNMIDI_LISTEN_YIN_H
#define RNNMIDI_LISTEN_YIN_H

#include <stdint.h>

typedef struct rnn_yin rnn_yin;

/** A tracker over a window of win samples (even, >= 8); NULL on a bad
 * argument or when out of memory. Main/worker thread; free with
 * rnn_yin_free. */
rnn_yin *rnn_yin_create(uint32_t win);

/** Release; accepts NULL. Main/worker thread. */
void rnn_yin_free(rnn_yin *y);

/** Empty the window (all zeros). Audio-safe. */
void rnn_yin_reset(rnn_yin *y);

/** The tolerance on d' (default 0.15). Audio-safe. */
void rnn_yin_set_tolerance(rnn_yin *y, float tol);

/** Append n samples (n <= win) and estimate: the period in samples
 * (fractional), or 0 when none was found. Audio-safe. */
float rnn_yin_process(rnn_yin *y, const float *in, uint32_t n);

/** 1 - d' at the last period found, for the last process call. */
float rnn_yin_confidence(const rnn_yin *y);

#endif
