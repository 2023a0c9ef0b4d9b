/* SPDX-License-Identifier: MIT */
/* rnnmidi training: MIDI files and folders to encoded sequences, split by file.
 *
 * The split of a file is fixed by the sha256 of its bytes: first hex digit
 * 'f' -> test, 'e' -> valid, anything else -> train. Main thread only. */
#ifndef RNNMIDI_DATASET_H
#define RNNMIDI_DATASET_H

#include <stddef.h>
#include <stdio.h>

#include "../core/condition.h"
#include "../core/encoding.h"
#include "../core/lookback.h"
#include "../core/model.h"

typedef enum { RNN_SPLIT_TRAIN = 0, RNN_SPLIT_VALID = 1, RNN_SPLIT_TEST = 2 } rnn_split;
#define RNN_SPLITS 3

typedef struct {
    char *path;   /* the file */
    char *reason; /* why it could not be read */
} rnn_failed_file;

typedef struct {
    rnn_kind kind;
    int steps_per_quarter;
    rnn_seq_list split[RNN_SPLITS]; /* sequences of each split */
    size_t files[RNN_SPLITS];       /* files read into each split */
    size_t notes[RNN_SPLITS];       /* notes read from them */
    rnn_failed_file *failed;        /* files skipped, with their reason */
    size_t n_failed;
} rnn_dataset;

/** Split of a file's bytes (sha256 rule above). */
rnn_split rnn_split_of_bytes(const void *data, size_t size);

/** "train" / "valid" / "test". */
const char *rnn_split_name(rnn_split s);

/** Parse "train"/"valid"/"test" (returns -1 otherwise). */
int rnn_split_parse(const char *name);

/** Read every .mid/.midi/.kar file under the given paths (files or folders,
 * recursively, in sorted order so results do not depend on the file system),
 * encode them, and sort their sequences into ds->split. Unreadable files are
 * recorded in ds->failed (and reported to log when log is not NULL); they are
 * not an error. Returns 0, or -1 with a message (a missing path, no MIDI file
 * at all). Symlinks are followed, but each folder and each file (by device
 * and inode) is visited once: a link back up the tree is not walked again, and
 * a file reached by two paths counts once, under the path the walk meets
 * first (it takes the entries of each folder in name order).
 * Folders deeper than 32 levels are not walked. ds must be zeroed first. */
int rnn_dataset_load(rnn_dataset *ds, const char *const *paths, size_t n_paths, rnn_kind kind,
                     int steps_per_quarter, FILE *log, char *err, size_t errlen);

/** rnn_dataset_load that also gives every sequence the inputs of a
 * bidirectional encoder when `encoder` is set (rnn_seq.enc, drumify.h: the
 * file's parts outside channel 10 at each of its steps), keeping only the
 * files that have such parts (the others are recorded in ds->failed). */
int rnn_dataset_load_encoder(rnn_dataset *ds, const char *const *paths, size_t n_paths,
                             rnn_kind kind, int steps_per_quarter, int encoder, FILE *log,
                             char *err, size_t errlen);

/** The MIDI files under the given paths, as rnn_dataset_load finds them
 * (same walk, each file once, sorted by path): *files is a malloc'ed array
 * of n malloc'ed paths (release with rnn_dataset_list_free). Returns 0, or
 * -1 with a message (a missing path, no MIDI file at all). */
int rnn_dataset_list(const char *const *paths, size_t n_paths, char ***files, size_t *n, char *err,
                     size_t errlen);

/** Release what rnn_dataset_list returned; accepts NULL. */
void rnn_dataset_list_free(char **files, size_t n);

/** Release everything; accepts NULL. */
void rnn_dataset_free(rnn_dataset *ds);

/* The conditions of one step packed in 32 bits (rnn_seq.cond), as
 * rnn_dataset_load computes them from each file for every sequence (the
 * metric position from its meter map, the harmony of its other voices for
 * melody, core/condition.h): bits 0..11 the harmony's pitch classes (bit 0
 * = C), 12 bar start, 13 beat start, 14..22 steps since the beat (at most
 * 511), 23..27 beat of the bar (at most 31); both counts beyond what the
 * columns tell apart. */
uint32_t rnn_cond_code(const rnn_metric_pos *p, uint16_t harmony);

/** The conditions of a step of a file's sequence: the metric position of
 * grid step `step` (meters, ppq as rnn_midi_file has them) and the harmony
 * mask. -1 for arguments rnn_cond_metric_file refuses. */
int rnn_cond_code_file(const rnn_midi_file *mf, int spq, int64_t step, uint16_t harmony,
                       uint32_t *code);

/** Write the rnn_model_cond_columns(cfg) condition columns of a step's code
 * into cols: the metric position when cfg takes it, then the harmony
 * transposed up by k semitones (as the melody is), or zeros when
 * harmony_on is 0. */
void rnn_cond_code_columns(uint32_t code, const rnn_model_config *cfg, int k, int harmony_on,
                           float *cols);

/** The lookback columns of a step of a sequence fed one event at a time (the
 * tools' generation): push the step's input event e onto ring (cleared where
 * the sequence starts) and write the rnn_model_lookback_columns(cfg) columns
 * at cols for the bar of the meter at the step (p's num and den; 4/4 when p
 * is NULL). Nothing when cfg takes no lookback. */
void rnn_lookback_step(rnn_lookback_ring *ring, const rnn_model_config *cfg, int e,
                       const rnn_metric_pos *p, float *cols);

/** The lookback columns of step t of a whole sequence (its events and bar
 * lengths, 4/4 without them), as the batcher makes them for an untransposed
 * window; nothing when cfg takes no lookback. */
void rnn_seq_lookback(const rnn_seq *s, size_t t, const rnn_model_config *cfg, float *cols);

/** The rnn_model_input_columns(cfg) columns beside the event of step t of a
 * whole sequence, as the trainer gives them: the conditions of step t + 1
 * (whose event is predicted; step t itself when it is the last) for a model
 * with RNN_COND_NEXT, of step t otherwise, zero without s->cond; the
 * harmony zeroed unless harmony_on; then the lookback columns of step t. */
void rnn_seq_columns(const rnn_seq *s, size_t t, const rnn_model_config *cfg, int harmony_on,
                     float *cols);

/** The rnn_model_input_columns(cfg) columns beside the input event e of grid
 * step `step` of a file's grid (its meters at ppq; none: 4/4), as the
 * trainer gives them: the conditions of step + 1 for a model with
 * RNN_COND_NEXT, of step otherwise, with harmony[i] the harmony of step
 * first + i (none outside n_harmony steps, or at all when harmony is NULL); then the
 * lookback columns of step from look, which hears e. Step -1 is the 'no
 * event' step before the first: the last step of a bar of the first meter,
 * no part of the sequence (zero lookback columns; look does not hear it).
 * Returns cols, or NULL for a model that takes no columns. */
const float *rnn_grid_columns(const rnn_midi_meter *meters, size_t n_meters, int ppq,
                              const uint16_t *harmony, int64_t first, size_t n_harmony,
                              const rnn_model_config *cfg, int64_t step, int e,
                              rnn_lookback_ring *look, float *cols);

#endif
