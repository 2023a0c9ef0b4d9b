/* SPDX-License-Identifier: MIT */
/* rnnmidi core: an 8-bit RGB picture as a PNG file (zlib's deflate and
 * CRC), the one PNG writer of the tools: the demo's piano roll,
 * rnnmidi-gen's attention picture. Nothing on the audio thread uses it.
 *
 * Main or worker thread: allocates and writes. */
#ifndef RNNMIDI_PNG_H
#define RNNMIDI_PNG_H

#include <stddef.h>
#include <stdio.h>

/** Write the picture rgb (3 bytes a pixel, w * h pixels, rows top to
 * bottom; w and h 1..2^24) to the open file f as a PNG (8-bit RGB, no
 * interlace, one IDAT). Returns 0, or -1 on a write error or no memory. */
int rnn_png_write_file(FILE *f, const unsigned char *rgb, int w, int h);

/** The same into the file at path (created or truncated). Returns 0, or
 * -1 with a message naming the file. */
int rnn_png_write(const char *path, const unsigned char *rgb, int w, int h, char *err,
                  size_t errlen);

#endif
