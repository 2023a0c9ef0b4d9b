/* SPDX-License-Identifier: MIT */
/* rnnmidi listen: a spectral-flux onset detector, the method of aubio 0.4.9's
 * "specflux" onset as the detector configures it (no adaptive whitening).
 *
 * Per hop: the last `win` samples under a periodic Hann window, their
 * magnitude spectrum compressed as log(1 + 10 |X|), and the flux, the sum of
 * the bins' rises since the previous hop. The peak picker keeps the last 7
 * flux values, smooths a copy forward and backward with a fixed biquad, and
 * thresholds the value 5 hops back: smoothed - median - threshold * mean. A
 * local maximum of that above 0 is an onset, placed by a parabola through
 * it and its neighbours, unless the hop is below the silence gate (dB RMS)
 * or within the minimum inter-onset interval of the last onset. Onset times
 * are moved back by a fixed delay (4.3 hops, truncated) that covers the
 * peak picker's lag; the first loud hop after a reset is an onset too.
 *
 * Threads: create/free allocate (main or worker thread). reset, the setters
 * and process are audio-safe: no allocation, no lock, O(win) per call. */
#ifndef RNNMIDI_LISTEN_ONSET_H
#define RNNMIDI_LISTEN_ONSET_H

#include <stdint.h>

typedef struct rnn_onset rnn_onset;

/** An onset detector over windows of win samples (a power of two, >= 4)
 * stepping by hop (1..win) at sample_rate; NULL on a bad argument or when
 * out of memory. Threshold 0.3, silence -70 dB, minimum interval 50 ms.
 * Main/worker thread; free with rnn_onset_free. */
rnn_onset *rnn_onset_create(uint32_t win, uint32_t hop, double sample_rate);

/** Release; accepts NULL. Main/worker thread. */
void rnn_onset_free(rnn_onset *o);

/** Back to the state of a new detector (keeps the settings). Audio-safe. */
void rnn_onset_reset(rnn_onset *o);

/** Peak-picking threshold, silence gate (dB RMS of the hop) and minimum
 * inter-onset interval. Audio-safe. */
void rnn_onset_set_threshold(rnn_onset *o, float threshold);
void rnn_onset_set_silence(rnn_onset *o, float db);
void rnn_onset_set_minioi_ms(rnn_onset *o, double ms);

/** Analyse the next hop samples. Returns 0, or the onset's place inside
 * the picker's three-value window (> 0) when this hop has an onset.
 * Audio-safe. */
float rnn_onset_process(rnn_onset *o, const float *hop);

/** The last onset, in frames since the reset, its delay removed. */
uint64_t rnn_onset_last(const rnn_onset *o);

/** The delay removed from onset times, frames. */
uint32_t rnn_onset_delay(const rnn_onset *o);

/** The last hop's flux and thresholded (smoothed) flux, for tests. */
float rnn_onset_descriptor(const rnn_onset *o);
float rnn_onset_thresholded(const rnn_onset *o);

#endif
