/* SPDX-License-Identifier: MIT */
/* rnnmidi core: printable text (contract in text.h). */
#include "text.h"

#include <stdint.h>
#include <string.h>

size_t rnn_utf8_char(const uint8_t *s, size_t avail, uint32_t *cp)
{
    if (avail == 0) return 0;
    const uint8_t c = s[0];
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf; /* bounds of the second byte */
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        *cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        *cp = c & 0x0fu;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        *cp = c & 0x07u;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (avail < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 1; k < len; k++) {
        if (s[k] < 0x80 || s[k] > 0xbf) return 0;
        *cp = (*cp << 6) | (s[k] & 0x3fu);
    }
    return len;
}

size_t rnn_text_sanitize(char *dst, size_t n, const char *src)
{
    if (n == 0) return 0;
    size_t o = 0;
    const uint8_t *s = (const uint8_t *)(src ? src : "");
    const uint8_t *end = s + strlen((const char *)s);
    while (s < end) {
        uint32_t cp = 0;
        size_t len = rnn_utf8_char(s, (size_t)(end - s), &cp);
        const int bad = len == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
        const size_t out = bad ? 1 : len;
        if (o + out >= n) break;
        if (bad) {
            dst[o++] = '?';
            s += len ? len : 1; /* an invalid sequence: one byte at a time */
        } else {
            for (size_t k = 0; k < len; k++)
                dst[o++] = (char)s[k];
            s += len;
        }
    }
    dst[o] = '\0';
    return o;
}
