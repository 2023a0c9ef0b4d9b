/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the musicality measure. Features of 4-bar windows of
 * event sequences (4/4 bars of 4 * spq steps), their distributions over
 * many windows, and the overlap of two such distributions (Yang & Lerch
 * 2018), so generated music can be set beside a real split.
 *
 * Melody features of a window (events of core/encoding.h):
 *   notes_per_bar   note-on events / 4
 *   in_key          share of the notes in the scale of the best of the 24
 *                   Krumhansl-Kessler keys (the profile with the highest
 *                   Pearson correlation with the window's pitch-class
 *                   counts of note onsets; major scale for major keys,
 *                   natural minor for minor keys)
 *   leap_ratio      share of intervals between successive notes of the
 *                   window larger than 5 semitones
 *   pc_entropy      Shannon entropy (bits) of the pitch classes of the notes
 *   repeated_bars   share of the window's bars (those with a note-on and at
 *                   least one bar before them in the sequence) whose events
 *                   equal those of one of the 3 bars before them
 *   longest_run     the longest run of successive notes of one pitch, in notes
 *   chord_tones     share of the notes struck on a beat (steps 0, spq, 2 spq,
 *                   3 spq of a bar) whose pitch class sounds in the harmony
 *                   condition at that step, over the notes on beats where the
 *                   harmony is not empty (only with a harmony)
 * Drum features:
 *   hits_per_bar    drum hits (set bits) / 4
 *   consistency     mean over the window's 3 pairs of successive bars of the
 *                   Jaccard index of their (step, class) onsets (pairs of two
 *                   empty bars left out)
 *   backbeat        share of the snare hits that fall on beats 2 and 4
 *                   (steps spq and 3 spq of a bar)
 *   hat_on_8ths     share of the closed/open hi-hat and ride hits that fall
 *                   on eighth-note positions (even steps at spq 4)
 *   repeated_bars   as the melody's: share of the window's bars (those with a
 *                   hit and at least one bar before them in the sequence)
 *                   whose events equal those of one of the 3 bars before them
 * A feature with nothing to count (no notes, no snare) is undefined (NaN)
 * and that window does not enter its distribution.
 *
 * Main thread; a set allocates as it grows. */
#ifndef RNNMIDI_MUSICALITY_H
#define RNNMIDI_MUSICALITY_H

#include <stddef.h>
#include <stdint.h>

#include "../core/encoding.h"

#define RNN_MUS_WINDOW_BARS 4
#define RNN_MUS_MAX_FEATURES 7

enum {
    RNN_MUS_NOTES_PER_BAR,
    RNN_MUS_IN_KEY,
    RNN_MUS_LEAP_RATIO,
    RNN_MUS_PC_ENTROPY,
    RNN_MUS_REPEATED_BARS,
    RNN_MUS_LONGEST_RUN,
    RNN_MUS_CHORD_TONES,
    RNN_MUS_MELODY_FEATURES
};

enum {
    RNN_MUS_HITS_PER_BAR,
    RNN_MUS_CONSISTENCY,
    RNN_MUS_BACKBEAT,
    RNN_MUS_HAT_ON_8THS,
    RNN_MUS_DRUM_REPEATED_BARS,
    RNN_MUS_DRUM_FEATURES
};

/** The number of features of a kind (7 melody, 5 drums; 0 otherwise). */
int rnn_mus_feature_count(rnn_kind kind);

/** The name of feature i of a kind ("notes_per_bar", ...), NULL when out of range. */
const char *rnn_mus_feature_name(rnn_kind kind, int i);

/** Whether feature i of a kind needs a harmony condition (chord_tones). */
int rnn_mus_feature_needs_harmony(rnn_kind kind, int i);

/** The features of the window of events[start .. start + 4 bars) of a
 * sequence of len steps (bars of 4 * spq steps, start at a bar line), into
 * out[rnn_mus_feature_count(kind)]; NaN where undefined. The bars before the
 * window (events[0 .. start)) are the lookback of repeated_bars. harmony
 * (melody only, may be NULL) holds the condition's pitch-class mask of each
 * step of the sequence (core/condition.h). Returns 0, or -1 when the window
 * does not fit the sequence or an argument is out of range. */
int rnn_mus_window(rnn_kind kind, const int32_t *events, size_t len, size_t start, int spq,
                   const uint16_t *harmony, double *out);

/* Per-feature values of many windows. */
typedef struct {
    rnn_kind kind;
    int spq;
    double *values[RNN_MUS_MAX_FEATURES]; /* the defined values of each feature */
    size_t count[RNN_MUS_MAX_FEATURES], cap[RNN_MUS_MAX_FEATURES];
    size_t windows; /* windows added */
} rnn_mus_set;

/** An empty set for a kind and grid. */
void rnn_mus_set_init(rnn_mus_set *set, rnn_kind kind, int spq);

/** Add the windows of a sequence: every 4 whole bars from step first_bar
 * (a bar line) on, as long as they fit, and, when ok_bar is not NULL, only
 * windows whose bars all have ok_bar[b] set (b counts bars from first_bar;
 * the caller marks bars that are not 4/4). harmony as for rnn_mus_window.
 * Returns the windows added, or -1 when out of memory. */
long rnn_mus_set_add(rnn_mus_set *set, const int32_t *events, size_t len, size_t first_bar,
                     const unsigned char *ok_bar, const uint16_t *harmony);

/** The mean of feature i over its defined values; NaN when there are none. */
double rnn_mus_set_mean(const rnn_mus_set *set, int i);

/** Release the values; accepts NULL. */
void rnn_mus_set_free(rnn_mus_set *set);

/** The overlap area of two samples' distributions, each estimated by a
 * Gaussian kernel density with Silverman's bandwidth (0.9 min(sd,
 * IQR / 1.34) n^-1/5, at least 1% of the pooled range and at least 1e-3):
 * the integral of min(p, q), by the trapezoid rule on 2001 points spanning
 * both samples and 6 bandwidths on either side. 1 for equal samples, near 0
 * for samples far apart; NaN when a sample is empty. */
double rnn_mus_overlap(const double *a, size_t na, const double *b, size_t nb);

#endif
