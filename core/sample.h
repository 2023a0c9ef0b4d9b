/* SPDX-License-Identifier: MIT */
/* rnnmidi core: a seeded random generator and the sampler (temperature,
 * top-p, masks). Deterministic for a seed on every platform. Nothing here
 * allocates except rnn_sampler_create/free; drawing is audio thread safe. */
#ifndef RNNMIDI_SAMPLE_H
#define RNNMIDI_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

/* xoshiro128-style or splitmix-seeded generator; plain data so it can be copied. */
typedef struct {
    uint64_t s[2];
} rnn_rng;

/** Seed the generator (any seed, 0 included, gives a valid state). */
void rnn_rng_seed(rnn_rng *rng, uint64_t seed);

/** Next 32 random bits. */
uint32_t rnn_rng_u32(rnn_rng *rng);

/** Uniform in [0, 1) with 24 bits of precision (exact in float). */
float rnn_rng_uniform(rnn_rng *rng);

typedef struct rnn_sampler rnn_sampler;

/** A sampler for vocabularies up to max_vocab, with its scratch. Main/worker thread. */
rnn_sampler *rnn_sampler_create(int max_vocab);

/** Release; accepts NULL. */
void rnn_sampler_free(rnn_sampler *s);

/** Draw a class from logits[0..V) at temperature T (T <= 0: argmax) keeping
 * only the smallest set of classes whose probability reaches top_p (top_p >= 1
 * or <= 0: all), never a class with forbidden[c] != 0 (forbidden may be NULL).
 * Non-finite logits count as forbidden. When every class is forbidden it
 * returns -1. Audio thread safe. */
int rnn_sample(rnn_sampler *s, rnn_rng *rng, const float *logits, int V, float temperature,
               float top_p, const uint8_t *forbidden);

/** rnn_sample in two halves, so that a host can do the costly half (the
 * probabilities and the nucleus: V exponentials and a heap) before the
 * moment of the draw: prepare keeps the distribution of logits under the
 * settings in the sampler (the logits and the mask may change after it),
 * and each draw then returns the class rnn_sample would have returned with
 * the generator in the same state, taking one random number as it would
 * (none at temperature <= 0, none and -1 when every class is forbidden or
 * the arguments are invalid). A draw costs a walk over the nucleus. The
 * prepared distribution stays until the next prepare or rnn_sample on this
 * sampler. Audio thread safe. */
void rnn_sample_prepare(rnn_sampler *s, const float *logits, int V, float temperature,
                        float top_p, const uint8_t *forbidden);
int rnn_sample_draw(rnn_sampler *s, rnn_rng *rng);

#endif
