/* SPDX-License-Identifier: MIT */
/* rnnmidi training: SHA-256 (FIPS 180-4), used to split data sets by file
 * content. Any thread; no allocation. */
#ifndef RNNMIDI_SHA256_H
#define RNNMIDI_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t bytes;
    unsigned char block[64];
    size_t fill;
} rnn_sha256;

/** Start a hash. */
void rnn_sha256_init(rnn_sha256 *s);

/** Add n bytes. */
void rnn_sha256_update(rnn_sha256 *s, const void *data, size_t n);

/** Finish into 32 bytes of digest. */
void rnn_sha256_final(rnn_sha256 *s, unsigned char digest[32]);

/** Hash a buffer at once and write the 64 lowercase hex digits and a NUL to hex. */
void rnn_sha256_hex(const void *data, size_t n, char hex[65]);

#endif
