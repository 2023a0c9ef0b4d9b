/* SPDX-License-Identifier: MIT */
/* Tests of core/midifile against a peer reader: midicsv (Debian package
 * midicsv). For the committed fixtures and, when `make corpus` has run, every
 * file of data/corpus, the note list of rnn_midi_read equals the one derived
 * here from midicsv's CSV: pitch, channel, velocity, on and off tick of every
 * note, tracks counted from 1, and so does the meter map: midicsv's
 * Time_signature events with a numerator above 0 and a denominator exponent
 * below 8, in time order (tracks in file order at one tick), the last of one
 * tick kept. The derivation pairs note-offs with note-ons
 * first in, first out per (track, channel, pitch), ends notes still sounding
 * at their track's End_track, and applies the one rule where the two must
 * differ: midicsv prints a data byte >= 128 as it is, the reader clamps it to
 * 127. (midicsv also stops at a glued second file, and so does the reader.)
 *
 * Then a table of malformed files, each with its expected error and byte
 * offset, tolerated oddities with their expected notes and warnings, and the
 * writer's round trip. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../core/midifile.h"
#include "../support/skip.h"
#include "../support/spawn_capture.h"

/* ------------------------------------------------------------------------ */
/* The peer: midicsv's CSV turned into notes. */

typedef struct {
    rnn_note *v;
    size_t n, cap;
    int ppq;
    rnn_midi_meter *meters;
    size_t n_meters;
} notes_t;

static void push_meter(notes_t *l, rnn_midi_meter m)
{
    /* midicsv prints track after track: insert after every meter of an
     * earlier or equal tick, then one per tick, the later one holding */
    size_t i = l->n_meters;
    while (i > 0 && l->meters[i - 1].tick > m.tick)
        i--;
    if (i > 0 && l->meters[i - 1].tick == m.tick) {
        l->meters[i - 1] = m;
        return;
    }
    l->meters = realloc(l->meters, (l->n_meters + 1) * sizeof *l->meters);
    assert_non_null(l->meters);
    memmove(l->meters + i + 1, l->meters + i, (l->n_meters - i) * sizeof *l->meters);
    l->meters[i] = m;
    l->n_meters++;
}

static void push(notes_t *l, rnn_note x)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        assert_non_null(l->v);
    }
    l->v[l->n++] = x;
}

/* Run midicsv on path; returns its stdout (malloc'ed, NUL-terminated). */
/* midicsv's CSV of a file (Debian package midicsv). */
static char *run_midicsv(const char *path)
{
    char *argv[] = {"midicsv", (char *)path, NULL};
    char *csv;
    spawn_capture(argv, &csv);
    return csv;
}

static void peer_notes(const char *path, notes_t *out)
{
    char *csv = run_midicsv(path);
    memset(out, 0, sizeof *out);
    /* sounding notes: FIFO per (track, channel, pitch) as index lists */
    size_t cap_open = 1024, n_open = 0;
    size_t *open = malloc(cap_open * sizeof *open);
    assert_non_null(open);
    char *save = NULL;
    for (char *line = strtok_r(csv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int track;
        long long t;
        char type[32];
        int used = 0;
        if (sscanf(line, "%d, %lld, %31[A-Za-z_]%n", &track, &t, type, &used) != 3) continue;
        const char *rest = line + used;
        if (strcmp(type, "Header") == 0) {
            int fmt, ntr, div;
            if (sscanf(rest, ", %d, %d, %d", &fmt, &ntr, &div) == 3) out->ppq = div;
        } else if (strcmp(type, "Time_signature") == 0) {
            int num, exp;
            if (sscanf(rest, ", %d, %d", &num, &exp) == 2 && num > 0 && exp >= 0 && exp < 8)
                push_meter(out, (rnn_midi_meter){t, num, 1 << exp});
        } else if (strcmp(type, "Note_on_c") == 0 || strcmp(type, "Note_off_c") == 0) {
            int ch, pitch, vel;
            assert_int_equal(sscanf(rest, ", %d, %d, %d", &ch, &pitch, &vel), 3);
            if (pitch > 127) pitch = 127;
            if (vel > 127) vel = 127; /* the reader's documented clamp */
            if (strcmp(type, "Note_on_c") == 0 && vel > 0) {
                push(out, (rnn_note){track, ch, pitch, vel, t, -1});
                if (n_open == cap_open) {
                    cap_open *= 2;
                    open = realloc(open, cap_open * sizeof *open);
                    assert_non_null(open);
                }
                open[n_open++] = out->n - 1;
            } else {
                for (size_t i = 0; i < n_open; i++) {
                    rnn_note *x = &out->v[open[i]];
                    if (x->track == track && x->channel == ch && x->pitch == pitch) {
                        x->off = t;
                        memmove(open + i, open + i + 1, (n_open - i - 1) * sizeof *open);
                        n_open--;
                        break;
                    }
                }
            }
        } else if (strcmp(type, "End_track") == 0) {
            for (size_t i = 0; i < n_open;) {
                if (out->v[open[i]].track == track) {
                    out->v[open[i]].off = t;
                    memmove(open + i, open + i + 1, (n_open - i - 1) * sizeof *open);
                    n_open--;
                } else {
                    i++;
                }
            }
        }
    }
    /* a track without End_track: its notes end at its last event, which
     * midicsv prints last for that track */
    for (size_t i = 0; i < n_open; i++) {
        rnn_note *x = &out->v[open[i]];
        int64_t last = x->on;
        for (size_t j = 0; j < out->n; j++)
            if (out->v[j].track == x->track) {
                if (out->v[j].on > last) last = out->v[j].on;
                if (out->v[j].off > last) last = out->v[j].off;
            }
        x->off = last;
    }
    free(open);
    free(csv);
    if (out->n) qsort(out->v, out->n, sizeof *out->v, rnn_note_cmp);
}

/* Compare the reader with the peer on one file; returns 1 when equal. */
static int agrees(const char *path, int verbose)
{
    notes_t peer;
    peer_notes(path, &peer);
    rnn_midi_file f;
    char err[512];
    int ok = rnn_midi_read_path(path, NULL, NULL, &f, err, sizeof err) == 0;
    if (!ok) {
        if (verbose) print_message("%s: reader failed: %s\n", path, err);
        free(peer.v);
        return 0;
    }
    int eq = f.ppq == peer.ppq && f.n_notes == peer.n;
    for (size_t i = 0; eq && i < f.n_notes; i++) {
        if (rnn_note_cmp(&f.notes[i], &peer.v[i]) != 0 ||
            f.notes[i].velocity != peer.v[i].velocity) {
            eq = 0;
            if (verbose) {
                const rnn_note *a = &f.notes[i], *b = &peer.v[i];
                print_message(
                    "%s: note %zu: reader %d %d %d %d %lld %lld, midicsv %d %d %d %d %lld %lld\n",
                    path, i, a->track, a->channel, a->pitch, a->velocity, (long long)a->on,
                    (long long)a->off, b->track, b->channel, b->pitch, b->velocity,
                    (long long)b->on, (long long)b->off);
            }
        }
    }
    if (!eq && verbose && (f.ppq != peer.ppq || f.n_notes != peer.n))
        print_message("%s: reader ppq %d, %zu notes; midicsv ppq %d, %zu notes\n", path, f.ppq,
                      f.n_notes, peer.ppq, peer.n);
    int meters_eq = f.n_meters == peer.n_meters;
    for (size_t i = 0; meters_eq && i < f.n_meters; i++)
        meters_eq = f.meters[i].tick == peer.meters[i].tick &&
                    f.meters[i].num == peer.meters[i].num && f.meters[i].den == peer.meters[i].den;
    if (!meters_eq && verbose)
        print_message("%s: reader %zu meters, midicsv %zu (first difference at or before %zu)\n",
                      path, f.n_meters, peer.n_meters, f.n_meters);
    eq = eq && meters_eq;
    rnn_midi_free(&f);
    free(peer.v);
    free(peer.meters);
    return eq;
}

typedef struct {
    char **v;
    size_t n;
} paths_t;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_mid(const char *dir, int recurse, paths_t *out)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (recurse) list_mid(p, recurse, out);
            continue;
        }
        const char *dot = strrchr(e->d_name, '.');
        if (!dot || (strcmp(dot, ".mid") != 0 && strcmp(dot, ".MID") != 0)) continue;
        out->v = realloc(out->v, (out->n + 1) * sizeof *out->v);
        assert_non_null(out->v);
        out->v[out->n++] = strdup(p);
    }
    closedir(d);
    qsort(out->v, out->n, sizeof *out->v, cmp_str);
}

static void free_paths(paths_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i]);
    free(p->v);
}

static void test_fixtures_match_midicsv(void **state)
{
    (void)state;
    paths_t p = {0};
    list_mid("tests/fixtures/midi", 0, &p);
    assert_true(p.n >= 5);
    size_t eq = 0;
    for (size_t i = 0; i < p.n; i++)
        eq += (size_t)agrees(p.v[i], 1);
    print_message("midicsv agreement on fixtures: %zu of %zu files equal\n", eq, p.n);
    assert_int_equal(eq, p.n);
    free_paths(&p);
}

static void test_corpus_matches_midicsv(void **state)
{
    (void)state;
    struct stat st;
    if (stat("data/corpus", &st) != 0) {
        test_skip_note("test_corpus_matches_midicsv", "data/corpus is absent (make corpus)");
        skip();
    }
    paths_t p = {0};
    list_mid("data/corpus", 1, &p);
    size_t eq = 0;
    for (size_t i = 0; i < p.n; i++)
        eq += (size_t)agrees(p.v[i], 1);
    print_message("midicsv agreement on data/corpus: %zu of %zu files equal\n", eq, p.n);
    assert_true(p.n > 0);
    assert_int_equal(eq, p.n);
    free_paths(&p);
}

/* ------------------------------------------------------------------------ */
/* Malformed files: bytes, expected message part, expected offset. */

#define HDR0 "MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60" /* format 0, 1 track, ppq 96 */
#define EOT "\x00\xff\x2f\x00"
#define TRK(len) "MTrk\x00\x00\x00" len

typedef struct {
    const char *what;
    const char *data;
    size_t size;
    const char *expect;
    size_t offset;
} bad_case;

#define BAD(what, bytes, expect, offset)                                                           \
    {                                                                                              \
        what, bytes, sizeof(bytes) - 1, expect, offset                                             \
    }

static const bad_case bad_cases[] = {
    BAD("empty file", "", "not a Standard MIDI File", 0),
    BAD("text file", "hello, this is not MIDI at all", "not a Standard MIDI File", 0),
    BAD("RIFF wrapper", "RIFF\x10\x00\x00\x00RMIDdata", "RIFF", 0),
    BAD("truncated header", "MThd\x00\x00\x00\x06\x00\x00\x00", "header truncated", 11),
    BAD("header length 5", "MThd\x00\x00\x00\x05\x00\x00\x00\x01\x00\x60", "shorter than 6", 4),
    BAD("header length past the end", "MThd\x00\x00\x01\x00\x00\x00\x00\x01\x00\x60",
        "runs past the end of the file", 4),
    BAD("format 2", "MThd\x00\x00\x00\x06\x00\x02\x00\x01\x00\x60" TRK("\x04") EOT, "format 2", 8),
    BAD("format 7", "MThd\x00\x00\x00\x06\x00\x07\x00\x01\x00\x60" TRK("\x04") EOT,
        "unknown format 7", 8),
    BAD("SMPTE division", "MThd\x00\x00\x00\x06\x00\x00\x00\x01\xe7\x28" TRK("\x04") EOT,
        "SMPTE time division (25 frames/s, 40 ticks/frame)", 12),
    BAD("division 0", "MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x00" TRK("\x04") EOT,
        "division of 0", 12),
    BAD("zero tracks", "MThd\x00\x00\x00\x06\x00\x01\x00\x00\x00\x60" TRK("\x04") EOT,
        "header claims 0 tracks", 10),
    BAD("65535 tracks claimed", "MThd\x00\x00\x00\x06\x00\x01\xff\xff\x00\x60" TRK("\x04") EOT,
        "header claims 65535 tracks, the file holds 1", 26),
    BAD("no track chunk", HDR0, "header claims 1 tracks, the file holds 0", 14),
    BAD("truncated chunk header", HDR0 "MTr", "chunk header truncated", 14),
    BAD("chunk length past the end", HDR0 TRK("\x10") EOT, "chunk length 16 runs past the end", 18),
    BAD("2 GB chunk length", HDR0 "MTrk\x80\x00\x00\x00" EOT, "chunk length 2147483648 runs past",
        18),
    BAD("4 GB chunk length", HDR0 "MTrk\xff\xff\xff\xff" EOT, "chunk length 4294967295 runs past",
        18),
    BAD("truncated track", HDR0 TRK("\x03") "\x00\x90\x3c",
        "channel message runs past the end of the track", 23),
    BAD("running status with no earlier status", HDR0 TRK("\x07") "\x00\x3c\x40" EOT,
        "running status (data byte 0x3C) with no earlier status", 23),
    BAD("running status after SysEx only", HDR0 TRK("\x0b") "\x00\xf0\x01\xf7\x00\x3c\x40" EOT,
        "running status (data byte 0x3C) with no earlier status", 27),
    BAD("delta-time of 5 bytes", HDR0 TRK("\x0c") "\x80\x80\x80\x80\x00\x90\x3c\x40" EOT,
        "delta-time is longer than 4 bytes", 22),
    BAD("delta-time cut by the chunk end", HDR0 TRK("\x01") "\x81",
        "delta-time runs past the end of the track", 22),
    BAD("delta-time without event", HDR0 TRK("\x01") "\x00", "event missing after a delta-time",
        23),
    BAD("meta event past the chunk end", HDR0 TRK("\x06") "\x00\xff\x01\x10\x61\x62",
        "meta event of 16 bytes runs past the end of the track", 23),
    BAD("meta length of 5 bytes", HDR0 TRK("\x0c") "\x00\xff\x01\x80\x80\x80\x80\x01" EOT,
        "meta event length is longer than 4 bytes", 25),
    BAD("meta type missing", HDR0 TRK("\x02") "\x00\xff", "meta event runs past", 23),
    BAD("SysEx past the chunk end", HDR0 TRK("\x05") "\x00\xf0\x05\x01\x02",
        "SysEx of 5 bytes runs past the end of the track", 23),
    BAD("system common F1 in a track", HDR0 TRK("\x07") "\x00\xf1\x00" EOT, "status byte 0xF1", 23),
    BAD("real-time F8 in a track", HDR0 TRK("\x06") "\x00\xf8" EOT, "status byte 0xF8", 23),
    BAD("second header before the tracks",
        "MThd\x00\x00\x00\x06\x00\x01\x00\x02\x00\x60" TRK("\x04") EOT HDR0 TRK("\x04") EOT,
        "a second header before the 2 tracks", 26),
};

static void test_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        /* a copy of exactly the bytes, so ASan sees any read past them */
        unsigned char *data = malloc(c->size ? c->size : 1);
        assert_non_null(data);
        memcpy(data, c->data, c->size);
        rnn_midi_file f;
        memset(&f, 0x55, sizeof f);
        char err[512];
        int rc = rnn_midi_read(data, c->size, "bad.mid", &f, err, sizeof err);
        char want[64];
        snprintf(want, sizeof want, "bad.mid: offset %zu: ", c->offset);
        if (rc != -1 || strncmp(err, want, strlen(want)) != 0 || !strstr(err, c->expect))
            fail_msg("%s: rc %d, message \"%s\"; expected \"%s...%s\"", c->what, rc, err, want,
                     c->expect);
        assert_null(f.notes);
        assert_int_equal(f.n_notes, 0);
        assert_null(f.tempos);
        free(data);
    }
}

/* ------------------------------------------------------------------------ */
/* Tolerated oddities */

typedef struct {
    const char *what;
    const char *data;
    size_t size;
    size_t n_notes;
    rnn_note notes[4];
    size_t warnings;
    const char *warning; /* part of the first warning, or NULL */
} ok_case;

#define OK(what, bytes, n, notes, w, wtext)                                                        \
    {                                                                                              \
        what, bytes, sizeof(bytes) - 1, n, notes, w, wtext                                         \
    }
#define NOTES(...)                                                                                 \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }
#define NT(tr, ch, p, v, on, off)                                                                  \
    {                                                                                              \
        tr, ch, p, v, on, off                                                                      \
    }

static const ok_case ok_cases[] = {
    OK("running status across a meta event",
       HDR0 TRK("\x0f") "\x00\x90\x3c\x40\x00\xff\x01\x00\x10\x3c\x00" EOT, 1,
       NOTES(NT(1, 0, 60, 64, 0, 16)), 0, NULL),
    OK("running status across SysEx and an escape",
       HDR0 TRK("\x1a") "\x00\x90\x3c\x40\x00\xf0\x02\x01\xf7\x08\x3c\x00\x00\xf7\x01\xf8\x08\x3e"
                        "\x41\x08\x3e\x00" EOT,
       2, NOTES(NT(1, 0, 60, 64, 0, 8), NT(1, 0, 62, 65, 16, 24)), 0, NULL),
    OK("velocity 0x80 taken as 127", HDR0 TRK("\x0c") "\x00\x90\x3c\x80\x10\x80\x3c\x00" EOT, 1,
       NOTES(NT(1, 0, 60, 127, 0, 16)), 1, "data byte 0x80 taken as 127"),
    OK("pitch 0xCC taken as 127", HDR0 TRK("\x0c") "\x00\x91\xcc\x40\x10\x81\x7f\x00" EOT, 1,
       NOTES(NT(1, 1, 127, 64, 0, 16)), 1, "offset 24: data byte 0xCC"),
    OK("missing end-of-track", HDR0 TRK("\x08") "\x00\x90\x3c\x40\x10\x80\x3c\x00", 1,
       NOTES(NT(1, 0, 60, 64, 0, 16)), 1, "no end-of-track"),
    OK("bytes after end-of-track", HDR0 TRK("\x08") EOT "\x00\x90\x3c\x40", 0, NOTES({0}), 1,
       "offset 26: 4 bytes after the end of track 1"),
    OK("note sounding at the end", HDR0 TRK("\x08") "\x00\x90\x3c\x40\x20\xff\x2f\x00", 1,
       NOTES(NT(1, 0, 60, 64, 0, 32)), 1, "1 notes of track 1 still sounding"),
    OK("key signature mode 3", HDR0 TRK("\x0a") "\x00\xff\x59\x02\xfd\x03" EOT, 0, NOTES({0}), 1,
       "key signature mode 3"),
    OK("overlapping notes of one pitch, first in first out",
       HDR0 TRK("\x12") "\x00\x90\x3c\x40\x0a\x3c\x41\x0a\x80\x3c\x00\x0a\x3c\x00" EOT, 2,
       NOTES(NT(1, 0, 60, 64, 0, 20), NT(1, 0, 60, 65, 10, 30)), 0, NULL),
    OK("stray note-off", HDR0 TRK("\x08") "\x00\x80\x3c\x00" EOT, 0, NOTES({0}), 0, NULL),
    OK("track chunk beyond the header's count",
       HDR0 TRK("\x04") EOT TRK("\x0c") "\x00\x90\x3c\x40\x10\x80\x3c\x00" EOT, 0, NOTES({0}), 1,
       "offset 26: track chunk beyond the 1"),
    OK("unknown chunk between tracks",
       "MThd\x00\x00\x00\x06\x00\x01\x00\x02\x00\x60" TRK("\x04") EOT
       "XFIH\x00\x00\x00\x02hi" TRK("\x0c") "\x00\x95\x3c\x40\x10\x85\x3c\x00" EOT,
       1, NOTES(NT(2, 5, 60, 64, 0, 16)), 1, "offset 26: unknown chunk type skipped"),
    OK("two files glued together",
       HDR0 TRK("\x0c") "\x00\x90\x3c\x40\x10\x80\x3c\x00" EOT HDR0 TRK(
           "\x0c") "\x00\x90\x48\x40\x10\x80\x48\x00" EOT,
       1, NOTES(NT(1, 0, 60, 64, 0, 16)), 1, "offset 34: a second MIDI file glued"),
    OK("trailing bytes", HDR0 TRK("\x04") EOT "\x00\x00", 0, NOTES({0}), 1, "2 trailing bytes"),
    OK("format 0 claiming two tracks",
       "MThd\x00\x00\x00\x06\x00\x00\x00\x02\x00\x60" TRK("\x04") EOT TRK("\x04") EOT, 0,
       NOTES({0}), 1, "format 0 file claims 2 tracks"),
    OK("tempo of 2 bytes", HDR0 TRK("\x0a") "\x00\xff\x51\x02\x01\x02" EOT, 0, NOTES({0}), 1,
       "tempo event of 2 bytes ignored"),
};

static int n_warned;

static void count_warning(void *user, const char *msg)
{
    (void)msg;
    (*(int *)user)++;
}

static void test_tolerated(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ok_cases / sizeof ok_cases[0]; i++) {
        const ok_case *c = &ok_cases[i];
        unsigned char *data = malloc(c->size);
        assert_non_null(data);
        memcpy(data, c->data, c->size);
        rnn_midi_file f;
        char err[512];
        n_warned = 0;
        if (rnn_midi_read_cb(data, c->size, "odd.mid", count_warning, &n_warned, &f, err,
                             sizeof err) != 0)
            fail_msg("%s: %s", c->what, err);
        if (f.n_notes != c->n_notes) fail_msg("%s: %zu notes", c->what, f.n_notes);
        for (size_t k = 0; k < c->n_notes; k++) {
            if (rnn_note_cmp(&f.notes[k], &c->notes[k]) ||
                f.notes[k].velocity != c->notes[k].velocity)
                fail_msg("%s: note %zu is %d %d %d %d %lld %lld", c->what, k, f.notes[k].track,
                         f.notes[k].channel, f.notes[k].pitch, f.notes[k].velocity,
                         (long long)f.notes[k].on, (long long)f.notes[k].off);
        }
        if (f.warnings != c->warnings || (size_t)n_warned != c->warnings)
            fail_msg("%s: %zu warnings (%d reported): %s", c->what, f.warnings, n_warned,
                     f.warning);
        if (c->warning && !strstr(f.warning, c->warning))
            fail_msg("%s: warning \"%s\", expected \"%s\"", c->what, f.warning, c->warning);
        if (c->warnings) assert_true(strncmp(f.warning, "odd.mid: offset ", 16) == 0);
        if (strstr(c->what, "glued")) assert_int_equal(f.bytes_read, 34);
        rnn_midi_free(&f);
        free(data);
    }
}

static void test_meta_information(void **state)
{
    (void)state;
    /* format 1: tempo changes in two tracks come back sorted; the first time
     * and key signatures are kept. */
    static const char bytes[] = "MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0" TRK(
        "\x1a") "\x00\xff\x51\x03\x09\x27\xc0"
                "\x64\xff\x51\x03\x06\x1a\x80"
                "\x00\xff\x58\x04\x06\x03\x18\x08" EOT TRK(
                    "\x19") "\x32\xff\x51\x03\x07\xa1\x20"
                            "\x00\xff\x59\x02\xfe\x01"
                            "\x00\xff\x58\x04\x02\x02\x18\x08" EOT;
    rnn_midi_file f;
    char err[256];
    assert_int_equal(rnn_midi_read(bytes, sizeof bytes - 1, "meta.mid", &f, err, sizeof err), 0);
    assert_int_equal(f.format, 1);
    assert_int_equal(f.n_tracks, 2);
    assert_int_equal(f.ppq, 480);
    assert_int_equal(f.n_tempos, 3);
    assert_int_equal(f.tempos[0].tick, 0);
    assert_int_equal(f.tempos[0].usec_per_quarter, 600000);
    assert_int_equal(f.tempos[1].tick, 50);
    assert_int_equal(f.tempos[1].usec_per_quarter, 500000);
    assert_int_equal(f.tempos[2].tick, 100);
    assert_int_equal(f.tempos[2].usec_per_quarter, 400000);
    assert_int_equal(f.ts_num, 6);
    assert_int_equal(f.ts_den, 8);
    assert_int_equal(f.key_sharps, -2);
    assert_int_equal(f.key_minor, 1);
    assert_int_equal(f.end_tick, 100);
    assert_int_equal(f.warnings, 0);
    rnn_midi_free(&f);
    rnn_midi_free(&f);
    rnn_midi_free(NULL);
}

static void test_read_path_errors(void **state)
{
    (void)state;
    rnn_midi_file f;
    char err[512];
    assert_int_equal(
        rnn_midi_read_path("tests/fixtures/midi/no-such-file.mid", NULL, NULL, &f, err, sizeof err),
        -1);
    assert_non_null(strstr(err, "no-such-file.mid"));
    assert_int_equal(rnn_midi_read_path("tests/fixtures/midi", NULL, NULL, &f, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "tests/fixtures/midi"));
    assert_int_equal(rnn_midi_read_path("tests/fixtures/midi/fmt0_running_status.mid", NULL, NULL,
                                        &f, err, sizeof err),
                     0);
    assert_int_equal(f.n_notes, 12);
    assert_int_equal(f.key_minor, 0);
    assert_int_equal(f.key_sharps, 2);
    assert_int_equal(f.ts_num, 3);
    rnn_midi_free(&f);
}

/* ------------------------------------------------------------------------ */
/* Writer */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* Random notes over a few (track, channel) pairs, with overlaps of one pitch
 * but no note of a pitch nested inside another of the same pitch (which a
 * MIDI file cannot tell apart). */
static size_t random_notes(rnn_note *x, size_t max)
{
    static const int32_t keys[][2] = {{1, 0}, {1, 9}, {3, 0}, {2, 5}};
    size_t n = 0;
    for (size_t k = 0; k < 4; k++) {
        for (int pitch = 58; pitch < 64; pitch++) {
            int64_t on = rnd(100), off_prev = -1;
            int cnt = 1 + (int)rnd(12);
            for (int i = 0; i < cnt && n < max; i++) {
                int64_t off = on + rnd(300);
                if (off < off_prev) off = off_prev;
                if (off == on && off_prev > on) off = on + 1;
                x[n++] = (rnn_note){keys[k][0], keys[k][1], pitch, 1 + (int32_t)rnd(127), on, off};
                off_prev = off;
                on += 1 + rnd(200);
            }
        }
    }
    x[n++] = (rnn_note){1, 0, 0, 1, 1u << 30, (1u << 30) + 7}; /* needs a 5-byte-free long delta */
    return n;
}

static void test_writer_roundtrip(void **state)
{
    (void)state;
    for (int trial = 0; trial < 20; trial++) {
        rnn_note x[400];
        size_t n = random_notes(x, 399);
        int ppq = trial % 2 ? 480 : 96;
        double bpm = 60 + trial * 7;
        size_t size;
        char err[256];
        unsigned char *data = rnn_midi_write_mem(x, n, ppq, bpm, &size, err, sizeof err);
        assert_non_null(data);
        rnn_midi_file f;
        assert_int_equal(rnn_midi_read(data, size, "written.mid", &f, err, sizeof err), 0);
        assert_int_equal(f.warnings, 0);
        assert_int_equal(f.format, 1);
        assert_int_equal(f.ppq, ppq);
        assert_int_equal(f.n_tracks, 5);
        assert_int_equal(f.n_tempos, 1);
        assert_int_equal(f.tempos[0].usec_per_quarter, (int32_t)(60e6 / bpm + 0.5));
        assert_int_equal(f.ts_num, 4);
        assert_int_equal(f.ts_den, 4);
        /* the writer's track of a note: 2 + rank of its (track, channel) */
        for (size_t i = 0; i < n; i++) {
            int64_t key = (int64_t)x[i].track * 16 + x[i].channel;
            x[i].track = key == 16 ? 2 : key == 25 ? 3 : key == 37 ? 4 : 5;
        }
        qsort(x, n, sizeof *x, rnn_note_cmp);
        assert_int_equal(f.n_notes, n);
        for (size_t i = 0; i < n; i++) {
            const rnn_note *a = &f.notes[i], *b = &x[i];
            if (rnn_note_cmp(a, b) != 0 || a->velocity != b->velocity)
                fail_msg(
                    "trial %d note %zu: read %d %d %d %d %lld %lld, written %d %d %d %d %lld %lld",
                    trial, i, a->track, a->channel, a->pitch, a->velocity, (long long)a->on,
                    (long long)a->off, b->track, b->channel, b->pitch, b->velocity,
                    (long long)b->on, (long long)b->off);
        }
        rnn_midi_free(&f);
        free(data);
    }
}

static void test_writer_file_and_midicsv(void **state)
{
    (void)state;
    char dir[] = "/tmp/rnnmidi-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/out.mid", dir);
    rnn_note x[400];
    size_t n = random_notes(x, 399);
    char err[256];
    assert_int_equal(rnn_midi_write_path(path, x, n, 192, 97.5, err, sizeof err), 0);
    /* the peer reads the written file as the reader does */
    assert_true(agrees(path, 1));
    /* overwrite in place; nothing but the file is left in the folder */
    assert_int_equal(rnn_midi_write_path(path, x, 10, 192, 120, err, sizeof err), 0);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d)) != NULL)
        entries += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 1);
    /* errors: a folder that does not exist, notes that MIDI cannot carry */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/missing/out.mid", dir);
    assert_int_equal(rnn_midi_write_path(bad, x, n, 192, 120, err, sizeof err), -1);
    assert_non_null(strstr(err, "missing/out.mid"));
    size_t size;
    rnn_note wrong[] = {
        {1, 0, 128, 100, 0, 4}, {1, 16, 60, 100, 0, 4}, {1, 0, 60, 0, 0, 4}, {1, 0, 60, 100, 5, 4}};
    for (int i = 0; i < 4; i++) {
        assert_null(rnn_midi_write_mem(&wrong[i], 1, 96, 120, &size, err, sizeof err));
        assert_non_null(strstr(err, "not writable"));
    }
    assert_null(rnn_midi_write_mem(x, 1, 0, 120, &size, err, sizeof err));
    assert_null(rnn_midi_write_mem(x, 1, 96, 0, &size, err, sizeof err));
    /* no notes: a valid file with the conductor track only */
    unsigned char *data = rnn_midi_write_mem(NULL, 0, 96, 120, &size, err, sizeof err);
    assert_non_null(data);
    rnn_midi_file f;
    assert_int_equal(rnn_midi_read(data, size, "empty.mid", &f, err, sizeof err), 0);
    assert_int_equal(f.n_notes, 0);
    assert_int_equal(f.n_tracks, 1);
    rnn_midi_free(&f);
    free(data);
    unlink(path);
    rmdir(dir);
}

/* The meter map of tests/fixtures/midi/meters.mid, written out by hand from
 * make_fixtures.py: 3/4, 6/8, 7/8, then 5/4 (track 1) and 4/4 (track 2) at
 * one tick, where the later track holds; the numerator 0 at 1296 is no
 * meter. ts_num/ts_den keep the first one. The map is also midicsv's (the
 * fixture is among those test_fixtures_match_midicsv compares). */
static void test_meter_map(void **state)
{
    (void)state;
    rnn_midi_file f;
    char err[256];
    assert_int_equal(
        rnn_midi_read_path("tests/fixtures/midi/meters.mid", NULL, NULL, &f, err, sizeof err), 0);
    const rnn_midi_meter want[] = {{0, 3, 4}, {288, 6, 8}, {576, 7, 8}, {912, 4, 4}};
    assert_int_equal(f.n_meters, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(f.meters[i].tick, want[i].tick);
        assert_int_equal(f.meters[i].num, want[i].num);
        assert_int_equal(f.meters[i].den, want[i].den);
    }
    assert_int_equal(f.ts_num, 3);
    assert_int_equal(f.ts_den, 4);
    assert_true(agrees("tests/fixtures/midi/meters.mid", 1));
    rnn_midi_free(&f);
    /* a file without a time signature has an empty map (4/4 by the contract) */
    assert_int_equal(
        rnn_midi_read_path("tests/fixtures/midi/velocity_cc.mid", NULL, NULL, &f, err, sizeof err),
        0);
    assert_int_equal(f.n_meters, 0);
    assert_int_equal(f.ts_num, 4);
    rnn_midi_free(&f);
}

/* The writer's meters: read back by the reader and by midicsv, the default
 * 4/4 when none are given, and the meters it refuses. */
static void test_writer_meters(void **state)
{
    (void)state;
    char dir[] = "/tmp/rnnmidi-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/meters.mid", dir);
    rnn_note x[] = {{1, 0, 60, 100, 0, 96}, {1, 0, 62, 100, 300, 400}, {1, 0, 64, 100, 5000, 5100}};
    /* 7/8 from 0, 3/4 from 336, 6/8 from 912, 4/4 two delta-time lengths
     * away (padded with empty text events) */
    const rnn_midi_meter m[] = {
        {0, 7, 8}, {336, 3, 4}, {912, 6, 8}, {912 + ((int64_t)0x0FFFFFFF * 2 + 5), 4, 4}};
    char err[256];
    assert_int_equal(rnn_midi_write_path_meters(path, x, 3, 96, 120, m, 4, err, sizeof err), 0);
    rnn_midi_file f;
    assert_int_equal(rnn_midi_read_path(path, NULL, NULL, &f, err, sizeof err), 0);
    assert_int_equal(f.n_meters, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(f.meters[i].tick, m[i].tick);
        assert_int_equal(f.meters[i].num, m[i].num);
        assert_int_equal(f.meters[i].den, m[i].den);
    }
    assert_int_equal(f.n_notes, 3);
    rnn_midi_free(&f);
    assert_true(agrees(path, 1));
    /* none given: 4/4 at tick 0, as rnn_midi_write_mem writes */
    size_t size, size0;
    unsigned char *d = rnn_midi_write_mem_meters(x, 3, 96, 120, NULL, 0, &size, err, sizeof err);
    unsigned char *d0 = rnn_midi_write_mem(x, 3, 96, 120, &size0, err, sizeof err);
    assert_non_null(d);
    assert_non_null(d0);
    assert_int_equal(size, size0);
    assert_memory_equal(d, d0, size);
    assert_int_equal(rnn_midi_read(d, size, "default.mid", &f, err, sizeof err), 0);
    assert_int_equal(f.n_meters, 1);
    assert_int_equal(f.meters[0].tick, 0);
    assert_int_equal(f.meters[0].num, 4);
    assert_int_equal(f.meters[0].den, 4);
    rnn_midi_free(&f);
    free(d);
    free(d0);
    const rnn_midi_meter bad[][2] = {{{0, 0, 4}, {0, 0, 0}},  {{0, 256, 4}, {0, 0, 0}},
                                     {{0, 3, 6}, {0, 0, 0}},  {{0, 3, 256}, {0, 0, 0}},
                                     {{-1, 3, 4}, {0, 0, 0}}, {{0, 3, 4}, {0, 6, 8}},
                                     {{96, 3, 4}, {48, 6, 8}}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t k = bad[i][1].num ? 2 : 1;
        assert_null(rnn_midi_write_mem_meters(x, 3, 96, 120, bad[i], k, &size, err, sizeof err));
        assert_non_null(strstr(err, "not writable"));
    }
    unlink(path);
    rmdir(dir);
}

/* ------------------------------------------------------------------------ */
/* Merging the tracks: tempo maps and notes of random multi-track files */

typedef struct {
    unsigned char *d;
    size_t n, cap;
} bytes_t;

static void put_bytes(bytes_t *b, const void *p, size_t n)
{
    if (n == 0) return;
    if (b->n + n > b->cap) {
        b->cap = 2 * (b->n + n) + 256;
        b->d = realloc(b->d, b->cap);
        assert_non_null(b->d);
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put_vlq(bytes_t *b, uint32_t v)
{
    unsigned char t[5];
    int n = 0;
    t[n++] = v & 0x7F;
    while (v >>= 7)
        t[n++] = (unsigned char)(0x80 | (v & 0x7F));
    while (n--)
        put_bytes(b, &t[n], 1);
}

static void put_header(bytes_t *b, int format, int ntracks, int ppq)
{
    unsigned char h[14] = {'M',
                           'T',
                           'h',
                           'd',
                           0,
                           0,
                           0,
                           6,
                           0,
                           (unsigned char)format,
                           (unsigned char)(ntracks >> 8),
                           (unsigned char)ntracks,
                           (unsigned char)(ppq >> 8),
                           (unsigned char)ppq};
    put_bytes(b, h, sizeof h);
}

static void put_track(bytes_t *b, const bytes_t *events)
{
    unsigned char h[8] = {'M',
                          'T',
                          'r',
                          'k',
                          (unsigned char)((events->n + 4) >> 24),
                          (unsigned char)((events->n + 4) >> 16),
                          (unsigned char)((events->n + 4) >> 8),
                          (unsigned char)(events->n + 4)};
    put_bytes(b, h, 8);
    put_bytes(b, events->d, events->n);
    put_bytes(b, "\0\xff\x2f\0", 4);
}

static void put_tempo(bytes_t *t, uint32_t delta, uint32_t usec)
{
    put_vlq(t, delta);
    unsigned char e[6] = {0xFF,
                          0x51,
                          3,
                          (unsigned char)(usec >> 16),
                          (unsigned char)(usec >> 8),
                          (unsigned char)usec};
    put_bytes(t, e, 6);
}

/* The tempo map the obvious way: every change in file order (track by
 * track), then sorted by tick and, at one tick, by that file order, so the
 * later track's change comes last. */
typedef struct {
    rnn_midi_tempo t;
    size_t order;
} ref_tempo;

static int ref_tempo_cmp(const void *pa, const void *pb)
{
    const ref_tempo *a = pa, *b = pb;
    if (a->t.tick != b->t.tick) return a->t.tick < b->t.tick ? -1 : 1;
    return (a->order > b->order) - (a->order < b->order);
}

static void test_random_files_merge(void **state)
{
    (void)state;
    char dir[] = "/tmp/rnnmidi_merge_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/random.mid", dir);
    /* 24 small files, then 2 whose tracks are larger than the merge buffer */
    for (int trial = 0; trial < 26; trial++) {
        const int big = trial >= 24;
        const int ntracks = big ? 2 + trial % 2 : 1 + (int)rnd(5);
        bytes_t file = {0};
        put_header(&file, ntracks > 1, ntracks, 96);
        ref_tempo *ref = malloc(5 * 30000 * sizeof *ref);
        assert_non_null(ref);
        size_t nref = 0;
        for (int tr = 0; tr < ntracks; tr++) {
            bytes_t ev = {0};
            uint32_t tick = 0;
            const int nev = big ? 30000 : (int)rnd(300);
            for (int e = 0; trial % 3 == 0 && e < 40; e++) { /* a crowd on one tick */
                unsigned char m[4] = {0, (unsigned char)(0x90 | rnd(3)),
                                      (unsigned char)(40 + rnd(30)), (unsigned char)(1 + rnd(127))};
                put_bytes(&ev, m, 4);
            }
            for (int e = 0; e < nev; e++) {
                /* many zero deltas: chords, crowds, tempo changes on one tick */
                /* big files: about 20 events on every tick, so that equal
                 * ticks meet wherever the merge cuts */
                uint32_t delta = big ? (rnd(20) ? 0 : 1) : rnd(3) ? 0 : rnd(50);
                tick += delta;
                if (rnd(big ? 3 : 5) == 0) {
                    uint32_t usec = 200000 + rnd(800000);
                    put_tempo(&ev, delta, usec);
                    ref[nref] = (ref_tempo){{tick, (int32_t)usec}, nref};
                    nref++;
                } else {
                    unsigned char m[3] = {(unsigned char)((rnd(2) ? 0x90 : 0x80) | rnd(3)),
                                          (unsigned char)(60 + rnd(4)), (unsigned char)rnd(128)};
                    put_vlq(&ev, delta);
                    put_bytes(&ev, m, 3);
                }
            }
            put_track(&file, &ev);
            free(ev.d);
        }
        rnn_midi_file f;
        char err[256];
        assert_int_equal(rnn_midi_read(file.d, file.n, "random.mid", &f, err, sizeof err), 0);
        qsort(ref, nref, sizeof *ref, ref_tempo_cmp);
        assert_int_equal(f.n_tempos, nref);
        for (size_t i = 0; i < nref; i++) {
            assert_int_equal(f.tempos[i].tick, ref[i].t.tick);
            assert_int_equal(f.tempos[i].usec_per_quarter, ref[i].t.usec_per_quarter);
        }
        rnn_midi_free(&f);
        free(ref);
        /* the notes, against midicsv */
        FILE *fp = fopen(path, "wb");
        assert_non_null(fp);
        assert_int_equal(fwrite(file.d, 1, file.n, fp), file.n);
        assert_int_equal(fclose(fp), 0);
        if (!agrees(path, 1)) fail_msg("random file %d: the reader and midicsv differ", trial);
        free(file.d);
    }
    unlink(path);
    rmdir(dir);
}

/* 80,000 tempo changes, the two tracks' changes interleaved in time: an
 * insertion sort of the two runs took seconds (tests/bench/bench_midi.c). */
static void test_tempo_merge_80k(void **state)
{
    (void)state;
    bytes_t file = {0}, a = {0}, b = {0};
    put_header(&file, 1, 2, 480);
    for (uint32_t i = 0; i < 40000; i++) {
        put_tempo(&a, i ? 2 : 0, 500000 + i); /* ticks 0, 2, 4, ... */
        put_tempo(&b, i ? 2 : 1, 600000 + i); /* ticks 1, 3, 5, ... */
    }
    put_tempo(&b, 0, 700000); /* tick 79999, the same as the one before it: it comes after */
    put_track(&file, &a);
    put_track(&file, &b);
    rnn_midi_file f;
    char err[256];
    assert_int_equal(rnn_midi_read(file.d, file.n, "tempo80k.mid", &f, err, sizeof err), 0);
    assert_int_equal(f.n_tempos, 80001);
    for (size_t i = 0; i < 80000; i++) {
        assert_int_equal(f.tempos[i].tick, (int64_t)i);
        assert_int_equal(f.tempos[i].usec_per_quarter,
                         (i % 2 ? 600000 : 500000) + (int32_t)(i / 2));
    }
    assert_int_equal(f.tempos[80000].tick, 79999);
    assert_int_equal(f.tempos[80000].usec_per_quarter, 700000);
    rnn_midi_free(&f);
    free(file.d);
    free(a.d);
    free(b.d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_tolerated),
        cmocka_unit_test(test_meta_information),
        cmocka_unit_test(test_read_path_errors),
        cmocka_unit_test(test_writer_roundtrip),
        cmocka_unit_test(test_writer_file_and_midicsv),
        cmocka_unit_test(test_meter_map),
        cmocka_unit_test(test_writer_meters),
        cmocka_unit_test(test_random_files_merge),
        cmocka_unit_test(test_tempo_merge_80k),
        cmocka_unit_test(test_fixtures_match_midicsv),
        cmocka_unit_test(test_corpus_matches_midicsv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
