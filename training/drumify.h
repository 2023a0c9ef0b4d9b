/* SPDX-License-Identifier: MIT */
/* rnnmidi training: drumify's data, the same for training and for the
 * rnnmidi-drumify tool: what a bidirectional encoder reads of a file (its
 * parts outside channel 10, one row a grid step: core/FORMAT.md,
 * "Bidirectional encoder"), and a drum track added to a file's own bytes.
 *
 * A step's input is packed in 32 bits (rnn_enc_code): the event of the
 * other parts' line (the skyline of every note outside channel 10, all
 * tracks and channels together, encoded as a melody) in bits 0..7, and the
 * 12 pitch classes sounding in those parts in bits 8..19 (bit 8 = C). A
 * note sounds from the step its onset rounds to up to the step before the
 * one its release rounds to, at least its onset step, as the harmony
 * condition counts it. Main thread; the functions that allocate say so. */
#ifndef RNNMIDI_DRUMIFY_H
#define RNNMIDI_DRUMIFY_H

#include <stddef.h>
#include <stdint.h>

#include "../core/midifile.h"

/** The packed input of one step: a melody event (0..129, anything else
 * counts as 0) and a 12-bit pitch-class mask. */
uint32_t rnn_enc_code(int event, uint16_t pcs);

/** The RNN_ENC_INPUT_COLUMNS (142) columns of a packed step into row: the
 * one-hot of its event, then its 12 pitch classes (each 0 or 1). */
void rnn_enc_code_row(uint32_t code, float *row);

/** The packed inputs of steps 0 .. *n - 1 of a file at spq steps per
 * quarter, *n covering every note of the file (drums too), into a malloc'ed
 * array *codes (free it). *other (when not NULL) receives the number of
 * notes outside channel 10. Returns 0, or -1 with a message (bad spq,
 * out of memory). Allocates. */
int rnn_enc_codes_file(const rnn_midi_file *mf, int spq, uint32_t **codes, size_t *n, size_t *other,
                       char *err, size_t errlen);

/** A Standard MIDI File's bytes (its first `used` bytes, the file as the
 * reader took it) with one more track holding notes (ticks at the file's
 * ppq; every note on its own channel): the header's track count plus one (a
 * format 0 file becomes format 1, its track unchanged), the original tracks
 * byte for byte, the new track appended. Returns a malloc'ed buffer and its
 * size, or NULL with a message (not a MIDI file, a note it cannot write,
 * 65535 tracks already). Allocates. */
unsigned char *rnn_midi_add_track(const unsigned char *data, size_t used, int ppq,
                                  const rnn_note *notes, size_t n, size_t *size, char *err,
                                  size_t errlen);

#endif
