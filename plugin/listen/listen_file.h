/* SPDX-License-Identifier: MIT */
/* rnnmidi listen: the audio note detector over a sound file, for tools
 * (`rnnmidi-listen`) and the demo. Reads any file libsndfile reads, at
 * any rate the detector takes (8..192 kHz), averaging its channels, and runs
 * the same detector the plugin runs, in 4096-frame blocks. Main/worker
 * thread; allocates; prints nothing. */
#ifndef RNNMIDI_LISTEN_FILE_H
#define RNNMIDI_LISTEN_FILE_H

#include <stddef.h>

#include "detector.h"

/* A heard note. Times in seconds from the start of the file: the detector's
 * estimates of when the sound began and ended (see rnn_detected_note_event's
 * age), and when its note-on was emitted (what a live host would get). */
typedef struct {
    double on, off, emitted;
    int pitch;
    int velocity;
} rnn_heard_note;

/** Detect the notes of the file at path with the given thresholds (NULL:
 * the defaults). On success returns 0 and sets *notes (a malloc'ed array in
 * time order, free() it; NULL when there are none), *n and *rate (the
 * file's sample rate). On failure returns -1 with a message naming the file
 * in err. Notes still sounding at the end end there; an off is never later
 * than the next note's on. */
int rnn_listen_file(const char *path, const rnn_detector_params *params, rnn_heard_note **notes,
                    size_t *n, double *rate, char *err, size_t errlen);

#endif
