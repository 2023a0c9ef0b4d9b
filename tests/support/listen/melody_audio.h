/* SPDX-License-Identifier: MIT */
/* Test and benchmark support for the audio note detector: note lists
 * (tests/fixtures/melodies/NAME.txt, `onset offset pitch [velocity]` lines in
 * seconds), a renderer (sine or band-limited saw voice with an envelope,
 * optional white noise at a given SNR), WAV files through libsndfile, a
 * driver that runs plugin/listen/detector over a signal in varying block
 * sizes, and a scorer (onset tolerance, exact pitch). Links against
 * libsndfile and the detector (librnnlisten.a). Main thread; the functions
 * that return buffers or fill lists allocate, the caller frees. */
#ifndef RNNMIDI_TESTS_MELODY_AUDIO_H
#define RNNMIDI_TESTS_MELODY_AUDIO_H

#include <stddef.h>
#include <stdint.h>

#include "../../../plugin/listen/detector.h"

typedef struct {
    double on, off; /* seconds */
    int pitch;
    int velocity;
} ma_note;

typedef struct {
    ma_note *v;
    size_t n, cap;
} ma_notes;

/** Append a note. Returns 0, or -1 when out of memory. */
int ma_push(ma_notes *l, ma_note x);
/** Free a list and zero it. */
void ma_notes_free(ma_notes *l);
/** Read a note list; '#' starts a comment line. Returns 0 or -1. */
int ma_load(const char *path, ma_notes *out);

/* MA_VOICE is voice-like: harmonics falling as 1/n^2, a 40 ms attack and a
 * 5.5 Hz vibrato of +-30 cents, with white noise at the given SNR. */
typedef enum { MA_SINE = 0, MA_SAW = 1, MA_SAW_NOISE = 2, MA_VOICE = 3 } ma_voice;

/** The voice's name for reports (a static string). */
const char *ma_voice_name(ma_voice v);
/** xorshift64*: a deterministic uniform value in [0, 1). */
double ma_uniform(uint64_t *s);

/** Render notes at rate into a new buffer of *frames samples (1 s of tail).
 * Each note: 5 ms attack (voice: 40 ms), 60 ms decay to 70 %, 20 ms release
 * ending at its offset, peak 0.6 * velocity / 127. Noise (saw+noise, voice):
 * white, SNR in dB against the signal's power while notes sound. NULL when
 * out of memory; the caller frees. */
float *ma_render(const ma_notes *m, ma_voice voice, double rate, double snr_db, uint64_t seed,
                 size_t *frames);

/** A mono 32-bit float WAV file. Returns 0 or -1. */
int ma_write_wav(const char *path, const float *y, size_t n, int rate);
/** The same signal on both channels of a 16-bit PCM WAV file. Returns 0 or -1. */
int ma_write_wav_stereo16(const char *path, const float *y, size_t n, int rate);
/** Read a file's first channel (any format libsndfile reads); NULL on error,
 * else a buffer of *frames samples the caller frees. */
float *ma_read_audio(const char *path, size_t *frames, int *rate);

/* A detected note: emitted = when the note-on reached the caller (seconds),
 * on = its estimated onset (emitted - age), off = the note-off's estimate. */
typedef struct {
    double emitted, on, off;
    int pitch, velocity;
} ma_det;

typedef struct {
    ma_det *v;
    size_t n, cap;
} ma_dets;

/** Free a list and zero it. */
void ma_dets_free(ma_dets *l);

/** Collect events of one process call (block starting at frame base) into
 * notes; *open is the index of the sounding note or -1. Returns -1 on an
 * inconsistent stream (a note-on while one sounds, a note-off of another
 * pitch, a frame outside the block). */
int ma_collect(ma_dets *l, int *open, const rnn_detected_note_event *ev, int n, uint64_t base,
               uint32_t frames, double rate);

/** Run a detector over y in blocks whose sizes cycle through blocks[]
 * (0 allowed), then close a note still open at the end. Returns 0, or -1 on
 * an inconsistent event stream. */
int ma_detect(rnn_detector *d, const float *y, size_t n, const uint32_t *blocks, size_t n_blocks,
              ma_dets *out);

typedef struct {
    int truth, detected, matched;
    double precision, recall, f1;
    double median_latency_ms;   /* emitted - true onset, matched notes */
    double median_est_error_ms; /* estimated onset - true onset, matched notes */
} ma_score;

/** qsort's comparison of two doubles, ascending. */
int ma_cmp_double(const void *a, const void *b);
/** The median of v (sorted in place); NAN when n is 0. */
double ma_median(double *v, size_t n);

/** Match each true note, in order, to the unmatched detection of the same
 * pitch whose emission is closest to its onset within tol seconds. When lat
 * and est are given (room for truth->n each), they receive per matched note
 * the latency (emitted - true) and the onset estimate's error, in ms. */
ma_score ma_match(const ma_notes *truth, const ma_dets *det, double tol, double *lat, double *est);

/** ma_match without the per-note figures. */
static inline ma_score ma_score_notes(const ma_notes *truth, const ma_dets *det, double tol)
{
    return ma_match(truth, det, tol, NULL, NULL);
}

#endif
