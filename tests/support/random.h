/* SPDX-License-Identifier: MIT */
/* Deterministic pseudo-random numbers for tests and benchmarks (xorshift64):
 * the same state gives the same values on every machine. The state is the
 * caller's; any thread. */
#ifndef RNNMIDI_RANDOM_H
#define RNNMIDI_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/** The next value, uniform in [-1, 1) (24 bits); *s must not be 0. */
float xorshift_uniform(uint64_t *s);

/** n values of scale * xorshift_uniform in a malloc'ed array (the caller
 * frees; room for one more float), or NULL when out of memory. */
float *xorshift_floats(uint64_t *s, size_t n, float scale);

#endif
