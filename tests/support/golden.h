/* SPDX-License-Identifier: MIT */
/* Reading the binary golden files that tests/golden/make_*golden.py write
 * (little-endian values back to back, layouts in each script): the whole
 * file in memory, then values taken in order. A missing file, or a take past
 * the end, fails the running cmocka test. Main thread. */
#ifndef RNNMIDI_GOLDEN_H
#define RNNMIDI_GOLDEN_H

#include <stddef.h>

typedef struct {
    unsigned char *data;
    size_t size, pos;
} golden_reader;

/** Read path (at most 1 MiB) into r. */
void golden_open(golden_reader *r, const char *path);

/** Copy the next n bytes into dst. */
void golden_take(golden_reader *r, void *dst, size_t n);

/** The next n floats in a malloc'ed array (the caller frees). */
float *golden_take_floats(golden_reader *r, size_t n);

/** Release what golden_open read; accepts a zeroed reader. */
void golden_close(golden_reader *r);

#endif
