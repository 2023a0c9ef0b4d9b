/* SPDX-License-Identifier: MIT */
/* rnnmidi core: text from a file made safe to print. A preset's metadata is
 * valid UTF-8 but may hold terminal escape sequences (ESC ] 0 ; ... BEL sets
 * a terminal's title, ESC [ 31 m its colour); anything printed that came from
 * a file goes through rnn_text_sanitize first. No allocation; any thread. */
#ifndef RNNMIDI_TEXT_H
#define RNNMIDI_TEXT_H

#include <stddef.h>
#include <stdint.h>

/** Copy the NUL-terminated src into dst (room for n > 0 bytes, always
 * NUL-terminated) with every C0 control (U+0000..U+001F: ESC, BEL, tab,
 * newline, ...), DEL (U+007F), C1 control (U+0080..U+009F) and every byte of
 * invalid UTF-8 (stray continuation bytes, truncated or overlong sequences,
 * surrogates, code points over U+10FFFF) replaced by '?'. A character that
 * does not fit is left out whole, never cut. Returns the bytes written
 * (strlen(dst)). src may be NULL (an empty string). */
size_t rnn_text_sanitize(char *dst, size_t n, const char *src);

/** The length (1..4) of the valid UTF-8 character at s, of which avail bytes
 * may be read, with its code point in *cp; 0 when the bytes there are not
 * one (strict: no overlong forms, surrogates, code points over U+10FFFF or
 * sequences cut short by avail). Any thread. */
size_t rnn_utf8_char(const uint8_t *s, size_t avail, uint32_t *cp);

#endif
