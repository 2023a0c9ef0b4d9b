/* SPDX-License-Identifier: MIT */
/* Support for the demo's tests: fixture presets with seeded random weights
 * (test fixtures, not trained models: they only have to run through the real
 * engine), a scratch folder, running build/test/rnnmidi-demo with a chosen
 * environment and capturing its output, reading sound files, and an ALSA
 * configuration in which PortAudio finds one output device without any
 * hardware: the "file" PCM plugin over the "null" PCM, so a stream really
 * runs (faster than real time) and its samples land in a raw float file.
 * Links against libsndfile and core/. Main thread; allocates. */
#ifndef RNNMIDI_TESTS_DEMO_FIXTURE_H
#define RNNMIDI_TESTS_DEMO_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "../../../core/model.h"

/** Write a preset of kind/cell/sizes with weights from a seeded generator,
 * scaled so the net's output is varied, and the metadata name `name` (NULL:
 * "fixture melody" or "fixture drums"). 0 or -1 (with a message on stderr). */
int fx_write_model_named(const char *path, rnn_kind kind, rnn_cell cell, int layers, int embed,
                         int hidden, uint32_t seed, const char *name);

static inline int fx_write_model_sized(const char *path, rnn_kind kind, rnn_cell cell, int layers,
                                       int embed, int hidden, uint32_t seed)
{
    return fx_write_model_named(path, kind, cell, layers, embed, hidden, seed, NULL);
}

/** 1 layer, E 16, H 32. */
static inline int fx_write_model(const char *path, rnn_kind kind, rnn_cell cell, uint32_t seed)
{
    return fx_write_model_sized(path, kind, cell, 1, 16, 32, seed);
}

/** A fresh folder under /tmp; path receives it. 0 or -1. */
int fx_tmpdir(char *path, size_t n, const char *tag);
/** Remove a folder and what it holds. */
void fx_rmtree(const char *path);

/** An ALSA setup with one device: the "file" plugin over "null", writing
 * what is played to raw_path and, when in_path is not NULL, capturing from
 * in_path (raw samples in the stream's format). Written as HOME/.asoundrc.
 * 0 or -1. */
int fx_write_asoundrc_in(const char *home, const char *raw_path, const char *in_path);

static inline int fx_write_asoundrc(const char *home, const char *raw_path)
{
    return fx_write_asoundrc_in(home, raw_path, NULL);
}

/** When set, the next fx_run reads its stdin from this file. */
extern const char *fx_stdin_path;

/** Run the sanitizer-built demo ($RNNMIDI_TOOLS/rnnmidi-demo, else
 * build/test/rnnmidi-demo) with argv (NULL-terminated, argv[0] ignored) in
 * cwd (NULL: here) with HOME=home (NULL: unchanged). out receives
 * stdout+stderr (NUL-terminated, truncated to n). Returns the exit status,
 * or -1. */
int fx_run(const char *home, const char *cwd, char **argv, char *out, size_t n);

/** Read a sound file as interleaved floats; *frames, *channels, *rate set.
 * NULL on error; the caller frees. */
float *fx_read_sound(const char *path, size_t *frames, int *channels, int *rate);
/** Read a whole file; NULL when missing; the caller frees. */
unsigned char *fx_slurp(const char *path, size_t *size);

#endif
