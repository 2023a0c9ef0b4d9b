/* SPDX-License-Identifier: MIT */
/* rnnmidi core: CRC-32 of the preset files.
 *
 * The CRC of zlib's crc32() and of PNG, gzip and Ethernet (ISO-HDLC: the
 * reflected polynomial 0xEDB88320, initial value and final xor all ones), so
 * rnn_crc32(rnn_crc32(0, a, n), b, m) equals zlib's crc32 of a then b. Kept
 * in core so that the LV2 plugin does not load zlib into the host for it. */
#ifndef RNNMIDI_CRC32_H
#define RNNMIDI_CRC32_H

#include <stddef.h>
#include <stdint.h>

/** The CRC-32 of len bytes at buf continuing crc (0 to start). buf may be
 * NULL when len is 0. Any thread; no allocation. */
uint32_t rnn_crc32(uint32_t crc, const void *buf, size_t len);

#endif
