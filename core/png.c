/* SPDX-License-Identifier: MIT */
/* rnnmidi core: the PNG writer (contract in png.h). Every row is stored
 * unfiltered and the whole picture deflated at once by zlib's compress2:
 * the pictures are a few megabytes at most, and flat colours compress
 * well without filters. */
#include "png.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* One chunk: length, type, data, the CRC of type and data. */
static int put_chunk(FILE *f, const char *type, const unsigned char *data, size_t len)
{
    unsigned char be[4], cb[4];
    be32(be, (uint32_t)len);
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    if (len) crc = crc32(crc, data, (uInt)len);
    be32(cb, (uint32_t)crc);
    return fwrite(be, 1, 4, f) == 4 && fwrite(type, 1, 4, f) == 4 &&
                   (len == 0 || fwrite(data, 1, len, f) == len) && fwrite(cb, 1, 4, f) == 4
               ? 0
               : -1;
}

int rnn_png_write_file(FILE *f, const unsigned char *rgb, int w, int h)
{
    if (!f || !rgb || w < 1 || h < 1 || w > (1 << 24) || h > (1 << 24)) return -1;
    const size_t stride = (size_t)w * 3 + 1, raw_len = stride * (size_t)h;
    unsigned char *raw = malloc(raw_len);
    uLongf zlen = compressBound((uLong)raw_len);
    unsigned char *z = malloc(zlen);
    int rc = -1;
    if (raw && z) {
        for (int j = 0; j < h; j++) {
            raw[(size_t)j * stride] = 0; /* filter: none */
            memcpy(raw + (size_t)j * stride + 1, rgb + (size_t)j * (size_t)w * 3, (size_t)w * 3);
        }
        if (compress2(z, &zlen, raw, (uLong)raw_len, 9) == Z_OK) {
            static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
            unsigned char ihdr[13] = {0};
            be32(ihdr, (uint32_t)w);
            be32(ihdr + 4, (uint32_t)h);
            ihdr[8] = 8; /* bits a sample; then colour type 2 (RGB), deflate, no filter, no
                            interlace */
            ihdr[9] = 2;
            rc = fwrite(sig, 1, 8, f) == 8 && put_chunk(f, "IHDR", ihdr, 13) == 0 &&
                         put_chunk(f, "IDAT", z, zlen) == 0 && put_chunk(f, "IEND", NULL, 0) == 0
                     ? 0
                     : -1;
        }
    }
    free(raw);
    free(z);
    return rc;
}

int rnn_png_write(const char *path, const unsigned char *rgb, int w, int h, char *err,
                  size_t errlen)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    int rc = rnn_png_write_file(f, rgb, w, h);
    if (rc) snprintf(err, errlen, "%s: write error", path);
    if (fclose(f) != 0 && rc == 0) {
        snprintf(err, errlen, "%s: write error: %s", path, strerror(errno));
        rc = -1;
    }
    return rc;
}
