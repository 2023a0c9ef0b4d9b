/* SPDX-License-Identifier: MIT */
/* The MIDI reader's heap: malloc, calloc, realloc and free are counted
 * through the linker (--wrap, see the Makefile) while the reader runs, and
 * its peak must stay near what it keeps (the notes and tempo changes it
 * returns) and within a fixed multiple of the file's size, on files built
 * to be dense in notes, in tracks and in tempo changes. */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../core/midifile.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

/* volatile: the compiler takes malloc for a call that leaves them alone */
static volatile int counting;
static volatile size_t live, peak;

static void count(void *p, long sign)
{
    if (!counting || !p) return;
    size_t n = malloc_usable_size(p);
    if (sign > 0) {
        live += n;
        if (live > peak) peak = live;
    } else {
        live = n > live ? 0 : live - n;
    }
}

void *__wrap_malloc(size_t n)
{
    void *p = __real_malloc(n);
    count(p, 1);
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    void *p = __real_calloc(n, size);
    count(p, 1);
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    count(p, -1);
    void *q = __real_realloc(p, n);
    if (q)
        count(q, 1);
    else
        count(p, 1); /* p is still there */
    return q;
}

void __wrap_free(void *p)
{
    count(p, -1);
    __real_free(p);
}

/* ------------------------------------------------------------------------ */

typedef struct {
    unsigned char *d;
    size_t n, cap;
} bytes_t;

static void put(bytes_t *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = 2 * (b->n + n) + 256;
        b->d = realloc(b->d, b->cap);
        assert_non_null(b->d);
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

/* A format-1 file of ntracks tracks of about track_bytes each. kind 0:
 * note-on and note-off pairs (6 bytes a note); 1: note-ons only, 3 bytes
 * each, ended at the track's end (the most notes a byte can hold); 2: tempo
 * changes, 7 bytes each, interleaved across the tracks. */
static bytes_t build(int ntracks, size_t track_bytes, int kind)
{
    bytes_t f = {0};
    unsigned char h[14] = {'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 1, 0, (unsigned char)ntracks,
                           1,   0xE0};
    put(&f, h, 14);
    for (int k = 0; k < ntracks; k++) {
        bytes_t t = {0};
        for (uint32_t i = 0; t.n < track_bytes; i++) {
            unsigned char p = (unsigned char)(30 + (i * 7 + (uint32_t)k) % 70);
            if (kind == 2) {
                unsigned char e[7] = {i ? (unsigned char)ntracks : (unsigned char)k,
                                      0xFF,
                                      0x51,
                                      3,
                                      7,
                                      0xA1,
                                      (unsigned char)i};
                put(&t, e, 7);
                continue;
            }
            unsigned char start[2] = {0, 0x90 | (unsigned char)(k % 16)};
            put(&t, start, i ? 1 : 2);
            unsigned char e[5] = {p, 100, 1, p, 0};
            put(&t, e, kind == 0 ? 5 : 2);
        }
        unsigned char th[8] = {'M',
                               'T',
                               'r',
                               'k',
                               (unsigned char)((t.n + 4) >> 24),
                               (unsigned char)((t.n + 4) >> 16),
                               (unsigned char)((t.n + 4) >> 8),
                               (unsigned char)(t.n + 4)};
        put(&f, th, 8);
        put(&f, t.d, t.n);
        put(&f, "\0\xff\x2f\0", 4);
        free(t.d);
    }
    return f;
}

/* Read f in memory and through a file; check the peaks. */
static void check(const char *what, const bytes_t *f)
{
    rnn_midi_file mf;
    char err[256];
    live = peak = 0;
    counting = 1;
    int rc = rnn_midi_read(f->d, f->n, what, &mf, err, sizeof err);
    counting = 0;
    if (rc) fail_msg("%s: %s", what, err);
    const size_t kept = mf.n_notes * sizeof *mf.notes + mf.n_tempos * sizeof *mf.tempos;
    const size_t slack = 64 << 10; /* the reader's own state: 32 KB of sounding notes */
    print_message("%s: %zu bytes, %zu notes, %zu tempo changes: peak %zu bytes, kept %zu\n", what,
                  f->n, mf.n_notes, mf.n_tempos, peak, kept);
    if (peak > kept + kept / 10 + slack)
        fail_msg("%s: peak %zu bytes, more than 1.1 x the %zu kept", what, peak, kept);
    /* 3 bytes of file can hold a note of 32 bytes, and the merge takes a
     * sixteenth more: 32 / 3 * 17 / 16 < 12 */
    if (peak > 12 * f->n + slack)
        fail_msg("%s: peak %zu bytes, more than 12 x the file's %zu", what, peak, f->n);
    rnn_midi_free(&mf);

    char path[] = "/tmp/rnnmidi_mem_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, f->d, f->n), (ssize_t)f->n);
    assert_int_equal(close(fd), 0);
    live = peak = 0;
    counting = 1;
    rc = rnn_midi_read_path(path, NULL, NULL, &mf, err, sizeof err);
    counting = 0;
    unlink(path);
    if (rc) fail_msg("%s: %s", what, err);
    if (peak > f->n + kept + kept / 10 + slack)
        fail_msg("%s from a file: peak %zu bytes, more than the file and 1.1 x the %zu kept", what,
                 peak, kept);
    rnn_midi_free(&mf);
}

static void test_counter_counts(void **state)
{
    (void)state;
    live = peak = 0;
    counting = 1;
    void *p = malloc(1000);
    void *q = realloc(p, 5000);
    counting = 0;
    if (peak < 5000 || peak >= 7000) fail_msg("peak %zu after malloc(1000), realloc to 5000", peak);
    free(q);
}

static void test_peak_near_what_is_kept(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        int tracks, kind;
        size_t bytes;
    } files[] = {
        {"one track of note pairs", 1, 0, 2 << 20},
        {"four tracks of note pairs", 4, 0, 1 << 20},
        {"sixteen tracks of note-ons", 16, 1, 128 << 10},
        {"two tracks of tempo changes", 2, 2, 512 << 10},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        bytes_t f = build(files[i].tracks, files[i].bytes, files[i].kind);
        check(files[i].what, &f);
        free(f.d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_counts),
        cmocka_unit_test(test_peak_near_what_is_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
