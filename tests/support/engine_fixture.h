/* SPDX-License-Identifier: MIT */
/* Test fixture for the engine and LV2 tests: a preset with RANDOM weights,
 * built here so the tests need no trained model. It is a fixture, not a
 * model: its metadata says so and nothing ships it. Needs core/ only. Any
 * thread; the generators' state is the caller's. */
#ifndef RNNMIDI_ENGINE_FIXTURE_H
#define RNNMIDI_ENGINE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "../../core/model.h"

/** Host block sizes for the tests: a pseudo-random walk that comes back to
 * 0, 1, 4096 and 8192 frames once in `cases` blocks, otherwise 1..max. */
uint32_t fixture_block(uint64_t *s, uint32_t cases, uint32_t max);

/** Deterministic uniform weights in [-scale, scale). */
float fixture_uniform(uint64_t *s, float scale);

/** Serialize a random-weight preset into *buf (malloc'd, the caller frees)
 * or write it to path (when path is not NULL). Returns 0 or -1. */
int fixture_build(rnn_kind kind, rnn_cell cell, int layers, int embed, int hidden, uint64_t seed,
                  const char *path, void **buf, size_t *len);

/** The same preset, loaded; NULL on failure; release with rnn_model_free. */
rnn_model *fixture_model(rnn_kind kind, rnn_cell cell, int layers, int embed, int hidden,
                         uint64_t seed);

/** A preset of any configuration with weights as PyTorch initialises them
 * (uniform in +-1/sqrt(H); the embedding in +-1.7), every tensor times
 * scale, loaded; NULL on failure; release with rnn_model_free. For the
 * benchmarks, whose figures must not depend on a trained preset. */
rnn_model *fixture_random_model(const rnn_model_config *cfg, uint64_t seed, float scale);

#endif
