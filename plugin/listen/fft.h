/* SPDX-License-Identifier: MIT */
/* rnnmidi listen: a small real FFT for the onset detector's spectra.
 *
 * Power-of-two sizes only (4 .. 65536): a complex radix-2 transform of half
 * the size on the even/odd samples packed as complex numbers, then the split
 * into the spectrum of the real signal. Forward and unnormalised, as FFTW's
 * r2c and aubio's fft: X[k] = sum_j x[j] exp(-2 pi i j k / n).
 *
 * Threads: create/free allocate (main or worker thread); forward touches
 * only the caller's buffers and the object's constant tables, so it is
 * audio-safe and one object may serve several threads at once. */
#ifndef RNNMIDI_LISTEN_FFT_H
#define RNNMIDI_LISTEN_FFT_H

#include <stdint.h>

typedef struct rnn_rfft rnn_rfft;

/** A transform of n real samples, n a power of two in 4..65536; NULL for
 * another n or when out of memory. Main/worker thread; free with
 * rnn_rfft_free. */
rnn_rfft *rnn_rfft_create(uint32_t n);

/** Release; accepts NULL. Main/worker thread. */
void rnn_rfft_free(rnn_rfft *f);

/** n, as created. Any thread. */
uint32_t rnn_rfft_size(const rnn_rfft *f);

/** The spectrum of the n samples in `in`: out[2k] and out[2k + 1] are the
 * real and imaginary parts of X[k], k = 0 .. n/2 (n + 2 floats; the
 * imaginary parts of X[0] and X[n/2] are 0). in and out must not overlap.
 * Any thread; no allocation. */
void rnn_rfft_forward(const rnn_rfft *f, const float *in, float *out);

#endif
