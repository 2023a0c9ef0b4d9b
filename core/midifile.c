/* SPDX-License-Identifier: MIT */
/* rnnmidi core: Standard MIDI File reader and writer (contract and the
 * list of tolerated and rejected oddities in midifile.h). */
#include "midifile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"

/* ------------------------------------------------------------------------ */
/* Reader */

typedef struct {
    const unsigned char *d;
    size_t size;
    const char *name;
    rnn_midi_warn_fn warn;
    void *user;
    rnn_midi_file *f;
    char *err;
    size_t errlen;

    /* The file is read twice: a first pass counts notes, tempo changes and
     * tracks (it stores and reports nothing), so the second one fills arrays
     * of exactly the right size. */
    int counting;
    size_t count_notes, count_tempos, count_meters, count_runs;

    size_t cap_notes, cap_tempos, cap_meters;
    /* Sounding notes of the current track, first in first out per
     * (channel, pitch): head/tail index into f->notes. While a note sounds,
     * its off field links to the next sounding note of its key: -2 - index,
     * or -1 for the last one (ticks are never negative). */
    int64_t head[16 * 128], tail[16 * 128];

    /* Where each track's notes and tempo changes start: each track is a run
     * already in time order, and the runs are merged at the end. */
    size_t *note_runs, *tempo_runs, *meter_runs;
    size_t n_note_runs, n_tempo_runs, n_meter_runs, cap_note_runs, cap_tempo_runs, cap_meter_runs;
} reader;

static int fail(reader *r, size_t off, const char *fmt, ...)
{
    if (r->err && r->errlen) {
        int k = snprintf(r->err, r->errlen, "%s: offset %zu: ", r->name, off);
        if (k >= 0 && (size_t)k < r->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(r->err + k, r->errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static void warn(reader *r, size_t off, const char *fmt, ...)
{
    if (r->counting) return;
    char msg[256];
    int k = snprintf(msg, sizeof msg, "%s: offset %zu: ", r->name, off);
    if (k >= 0 && (size_t)k < sizeof msg) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg + k, sizeof msg - (size_t)k, fmt, ap);
        va_end(ap);
    }
    if (r->f->warnings == 0) snprintf(r->f->warning, sizeof r->f->warning, "%s", msg);
    r->f->warnings++;
    if (r->warn) r->warn(r->user, msg);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unsigned be16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* Variable-length quantity of at most 4 bytes ending before end. */
static int read_vlq(reader *r, size_t *pos, size_t end, const char *what, uint32_t *v)
{
    uint32_t x = 0;
    size_t start = *pos;
    for (int i = 0; i < 4; i++) {
        if (*pos >= end) return fail(r, start, "%s runs past the end of the track", what);
        unsigned char b = r->d[(*pos)++];
        x = x << 7 | (b & 0x7F);
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return fail(r, start, "%s is longer than 4 bytes", what);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int note_on(reader *r, size_t off, int track, int ch, int pitch, int vel, int64_t tick)
{
    if (r->counting) {
        r->count_notes++;
        return 0;
    }
    rnn_midi_file *f = r->f;
    if (grow((void **)&f->notes, &r->cap_notes, f->n_notes + 1, sizeof *f->notes))
        return fail(r, off, "out of memory");
    size_t i = f->n_notes++;
    f->notes[i] = (rnn_note){track, ch, pitch, vel, tick, -1};
    int k = ch * 128 + pitch;
    if (r->tail[k] < 0)
        r->head[k] = (int64_t)i;
    else
        f->notes[r->tail[k]].off = -2 - (int64_t)i;
    r->tail[k] = (int64_t)i;
    return 0;
}

static void note_off(reader *r, int ch, int pitch, int64_t tick)
{
    if (r->counting) return;
    int k = ch * 128 + pitch;
    int64_t i = r->head[k];
    if (i < 0) return; /* nothing sounds: a stray note-off is harmless */
    int64_t link = r->f->notes[i].off;
    r->head[k] = link <= -2 ? -2 - link : -1;
    if (r->head[k] < 0) r->tail[k] = -1;
    r->f->notes[i].off = tick;
}

static int add_tempo(reader *r, size_t off, int64_t tick, int32_t usec)
{
    if (r->counting) {
        r->count_tempos++;
        return 0;
    }
    rnn_midi_file *f = r->f;
    if (grow((void **)&f->tempos, &r->cap_tempos, f->n_tempos + 1, sizeof *f->tempos))
        return fail(r, off, "out of memory");
    f->tempos[f->n_tempos++] = (rnn_midi_tempo){tick, usec};
    return 0;
}

static int add_meter(reader *r, size_t off, int64_t tick, int num, int den)
{
    if (r->counting) {
        r->count_meters++;
        return 0;
    }
    rnn_midi_file *f = r->f;
    if (grow((void **)&f->meters, &r->cap_meters, f->n_meters + 1, sizeof *f->meters))
        return fail(r, off, "out of memory");
    f->meters[f->n_meters++] = (rnn_midi_meter){tick, num, den};
    return 0;
}

/* Record that a run starts at index `start` (a track's first note or tempo). */
static int add_run(reader *r, size_t off, size_t **runs, size_t *n, size_t *cap, size_t start)
{
    if (grow((void **)runs, cap, *n + 1, sizeof **runs)) return fail(r, off, "out of memory");
    (*runs)[(*n)++] = start;
    return 0;
}

static int meta_event(reader *r, size_t off, unsigned type, const unsigned char *p, uint32_t len,
                      int64_t tick, int *first_ts, int *first_key)
{
    rnn_midi_file *f = r->f;
    switch (type) {
    case 0x51: /* tempo */
        if (len != 3) {
            warn(r, off, "tempo event of %u bytes ignored", (unsigned)len);
            return 0;
        }
        if (((uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]) == 0) {
            warn(r, off, "tempo of 0 microseconds per quarter ignored");
            return 0;
        }
        return add_tempo(r, off, tick,
                         (int32_t)((uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]));
    case 0x58: /* time signature */
        if (len < 2) {
            warn(r, off, "time signature of %u bytes ignored", (unsigned)len);
            return 0;
        }
        if (len != 4) warn(r, off, "time signature of %u bytes", (unsigned)len);
        if (*first_ts && p[1] < 8 && !r->counting) {
            f->ts_num = p[0];
            f->ts_den = 1 << p[1];
            *first_ts = 0;
        }
        if (p[0] == 0 || p[1] >= 8) return 0; /* no meter: left out of the map */
        return add_meter(r, off, tick, p[0], 1 << p[1]);
    case 0x59: /* key signature */
        if (len != 2) {
            warn(r, off, "key signature of %u bytes ignored", (unsigned)len);
            return 0;
        }
        if (p[1] > 1)
            warn(r, off, "key signature mode %u is neither 0 (major) nor 1 (minor)", p[1]);
        if (*first_key && !r->counting) {
            f->key_sharps = (int)(signed char)p[0];
            f->key_minor = p[1] == 1;
            *first_key = 0;
        }
        return 0;
    default:
        return 0; /* text, names, markers, sequencer-specific: not needed */
    }
}

int rnn_note_cmp(const void *pa, const void *pb)
{
    const rnn_note *a = pa, *b = pb;
#define CMP(x)                                                                                     \
    if (a->x != b->x) return a->x < b->x ? -1 : 1
    CMP(on);
    CMP(track);
    CMP(channel);
    CMP(pitch);
    CMP(off);
    CMP(velocity);
#undef CMP
    return 0;
}

/* Sorting. A track's notes come in time order, and so do its tempo changes:
 * only notes starting on one tick need ordering within a track, then the
 * tracks are merged with a small buffer (merge_runs). */

static void note_swap(rnn_note *a, rnn_note *b)
{
    rnn_note t = *a;
    *a = *b;
    *b = t;
}

static void note_sift(rnn_note *v, size_t i, size_t n)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) return;
        if (c + 1 < n && rnn_note_cmp(&v[c], &v[c + 1]) < 0) c++;
        if (rnn_note_cmp(&v[i], &v[c]) >= 0) return;
        note_swap(&v[i], &v[c]);
        i = c;
    }
}

/* In place; insertion sort for the usual chord, heapsort for a crowd. */
static void note_sort_in_place(rnn_note *v, size_t n)
{
    if (n <= 16) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && rnn_note_cmp(&v[j - 1], &v[j]) > 0; j--)
                note_swap(&v[j - 1], &v[j]);
        return;
    }
    for (size_t i = n / 2; i-- > 0;)
        note_sift(v, i, n);
    for (size_t e = n - 1; e > 0; e--) {
        note_swap(&v[0], &v[e]);
        note_sift(v, 0, e);
    }
}

/* Notes of one track, in order of onset: order each group of one onset. */
static void sort_ties(rnn_note *v, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && v[j].on == v[i].on)
            j++;
        if (j - i > 1) note_sort_in_place(v + i, j - i);
        i = j;
    }
}

#define ELEM_MAX 64 /* the largest element merged (an rnn_note is 32 bytes) */

static void swap_elems(unsigned char *a, unsigned char *b, size_t size)
{
    unsigned char t[ELEM_MAX];
    memcpy(t, a, size);
    memcpy(a, b, size);
    memcpy(b, t, size);
}

static void reverse(unsigned char *base, size_t size, size_t lo, size_t hi)
{
    while (lo + 1 < hi)
        swap_elems(base + lo++ * size, base + --hi * size, size);
}

/* First index in [lo, hi) whose element is not before x (upper: after x). */
static size_t search(const unsigned char *base, size_t size, size_t lo, size_t hi, const void *x,
                     int upper, int (*cmp)(const void *, const void *))
{
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        int c = cmp(base + m * size, x);
        if (c < 0 || (upper && c == 0))
            lo = m + 1;
        else
            hi = m;
    }
    return lo;
}

/* Merge the sorted neighbours [lo, mid) and [mid, hi) of base (elements of
 * `size` bytes) stably: of two equal elements the one of [lo, mid) comes
 * first. When the shorter side fits in buf (cap elements) it is copied
 * there and merged back; otherwise the larger side is cut in half, the
 * matching cut of the other side found by binary search, the middle rotated,
 * and each half merged the same way. */
static void merge_two(unsigned char *base, size_t size, size_t lo, size_t mid, size_t hi,
                      int (*cmp)(const void *, const void *), unsigned char *buf, size_t cap)
{
    if (lo == mid || mid == hi || cmp(base + (mid - 1) * size, base + mid * size) <= 0) return;
    const size_t na = mid - lo, nb = hi - mid;
    if (na <= cap && na <= nb) { /* forward, from the copy of the left side */
        memcpy(buf, base + lo * size, na * size);
        size_t i = 0, j = mid, k = lo;
        while (i < na && j < hi) {
            if (cmp(base + j * size, buf + i * size) < 0)
                memcpy(base + k++ * size, base + j++ * size, size);
            else
                memcpy(base + k++ * size, buf + i++ * size, size);
        }
        memcpy(base + k * size, buf + i * size, (na - i) * size);
        return;
    }
    if (nb <= cap) { /* backward, from the copy of the right side */
        memcpy(buf, base + mid * size, nb * size);
        size_t i = mid, j = nb, k = hi; /* one past the next element of each */
        while (i > lo && j > 0) {
            if (cmp(buf + (j - 1) * size, base + (i - 1) * size) < 0)
                memcpy(base + --k * size, base + --i * size, size);
            else
                memcpy(base + --k * size, buf + --j * size, size);
        }
        memcpy(base + (k - j) * size, buf, j * size);
        return;
    }
    size_t cut1, cut2;
    if (na >= nb) {
        cut1 = lo + na / 2;
        cut2 = search(base, size, mid, hi, base + cut1 * size, 0, cmp);
    } else {
        cut2 = mid + nb / 2;
        cut1 = search(base, size, lo, mid, base + cut2 * size, 1, cmp);
    }
    reverse(base, size, cut1, mid);
    reverse(base, size, mid, cut2);
    reverse(base, size, cut1, cut2);
    const size_t m = cut1 + (cut2 - mid);
    merge_two(base, size, lo, cut1, m, cmp, buf, cap);
    merge_two(base, size, m, cut2, hi, cmp, buf, cap);
}

/* Merge n elements made of sorted runs starting at starts[0] = 0 <
 * starts[1] < ... < starts[nruns - 1] into one sorted array, stably (equal
 * elements keep the order of their runs): neighbours pairwise, level by
 * level. The scratch buffer holds a sixteenth of the array (at least 4096
 * elements): the peak stays near the size of the array itself. */
static int merge_runs(void *base, size_t size, size_t n, const size_t *starts, size_t nruns,
                      int (*cmp)(const void *, const void *))
{
    if (nruns < 2) return 0;
    size_t cap = n / 16 > 4096 ? n / 16 : 4096;
    if (cap > n / 2 + 1) cap = n / 2 + 1;
    unsigned char *buf = malloc(cap * size);
    if (!buf) return -1;
    for (size_t w = 1; w < nruns; w *= 2)
        for (size_t i = 0; i + w < nruns; i += 2 * w) {
            size_t hi = i + 2 * w < nruns ? starts[i + 2 * w] : n;
            merge_two(base, size, starts[i], starts[i + w], hi, cmp, buf, cap);
        }
    free(buf);
    return 0;
}

static int read_track(reader *r, size_t pos, size_t end, int track, int *first_ts, int *first_key)
{
    rnn_midi_file *f = r->f;
    int64_t tick = 0;
    unsigned running = 0;
    int ended = 0;
    for (int k = 0; k < 16 * 128; k++)
        r->head[k] = r->tail[k] = -1;
    const size_t first_note = f->n_notes, first_tempo = f->n_tempos, first_meter = f->n_meters;
    const size_t start = pos;

    while (pos < end) {
        uint32_t delta;
        if (read_vlq(r, &pos, end, "delta-time", &delta)) return -1;
        tick += delta;
        if (pos >= end)
            return fail(r, pos, "event missing after a delta-time at the end of the track");
        size_t ev = pos;
        unsigned status = r->d[pos];
        if (status & 0x80)
            pos++;
        else if (running)
            status = running;
        else
            return fail(r, ev, "running status (data byte 0x%02X) with no earlier status", status);

        if (status < 0xF0) {
            running = status;
            int n = (status & 0xF0) == 0xC0 || (status & 0xF0) == 0xD0 ? 1 : 2;
            if (pos + (size_t)n > end)
                return fail(r, ev, "channel message runs past the end of the track");
            int v[2] = {0, 0};
            for (int i = 0; i < n; i++) {
                v[i] = r->d[pos + (size_t)i];
                if (v[i] > 127) {
                    warn(r, pos + (size_t)i, "data byte 0x%02X taken as 127", v[i]);
                    v[i] = 127;
                }
            }
            pos += (size_t)n;
            int ch = (int)(status & 0x0F);
            if ((status & 0xF0) == 0x90 && v[1] > 0) {
                if (note_on(r, ev, track, ch, v[0], v[1], tick)) return -1;
            } else if ((status & 0xF0) == 0x80 || (status & 0xF0) == 0x90) {
                note_off(r, ch, v[0], tick);
            }
        } else if (status == 0xFF) {
            if (pos >= end) return fail(r, ev, "meta event runs past the end of the track");
            unsigned type = r->d[pos++];
            uint32_t len;
            if (read_vlq(r, &pos, end, "meta event length", &len)) return -1;
            if (len > end - pos)
                return fail(r, ev, "meta event of %u bytes runs past the end of the track",
                            (unsigned)len);
            if (type == 0x2F) {
                pos += len;
                ended = 1;
                break;
            }
            if (meta_event(r, ev, type, r->d + pos, len, tick, first_ts, first_key)) return -1;
            pos += len;
        } else if (status == 0xF0 || status == 0xF7) {
            uint32_t len;
            if (read_vlq(r, &pos, end, "SysEx length", &len)) return -1;
            if (len > end - pos)
                return fail(r, ev, "SysEx of %u bytes runs past the end of the track",
                            (unsigned)len);
            pos += len;
        } else {
            return fail(r, ev, "status byte 0x%02X does not belong in a MIDI file", status);
        }
    }
    if (!ended)
        warn(r, end, "track %d has no end-of-track event", track);
    else if (pos < end)
        warn(r, pos, "%zu bytes after the end of track %d ignored", end - pos, track);
    if (r->counting) return 0;
    if (tick > f->end_tick) f->end_tick = tick;

    size_t open = 0;
    for (size_t i = first_note; i < f->n_notes; i++)
        if (f->notes[i].off < 0) {
            f->notes[i].off = tick;
            open++;
        }
    if (open) warn(r, end, "%zu notes of track %d still sounding at its end", open, track);
    if (f->n_notes > first_note) {
        sort_ties(f->notes + first_note, f->n_notes - first_note);
        if (add_run(r, start, &r->note_runs, &r->n_note_runs, &r->cap_note_runs, first_note))
            return -1;
    }
    if (f->n_tempos > first_tempo &&
        add_run(r, start, &r->tempo_runs, &r->n_tempo_runs, &r->cap_tempo_runs, first_tempo))
        return -1;
    if (f->n_meters > first_meter &&
        add_run(r, start, &r->meter_runs, &r->n_meter_runs, &r->cap_meter_runs, first_meter))
        return -1;
    return 0;
}

static int tempo_cmp(const void *pa, const void *pb)
{
    const rnn_midi_tempo *a = pa, *b = pb;
    return (a->tick > b->tick) - (a->tick < b->tick);
}

static int meter_cmp(const void *pa, const void *pb)
{
    const rnn_midi_meter *a = pa, *b = pb;
    return (a->tick > b->tick) - (a->tick < b->tick);
}

/* After the stable merge, the last of several meters at one tick is the one
 * that holds from it: keep that one only. */
static void collapse_meters(rnn_midi_file *f)
{
    size_t k = 0;
    for (size_t i = 0; i < f->n_meters; i++) {
        if (k > 0 && f->meters[k - 1].tick == f->meters[i].tick) k--;
        f->meters[k++] = f->meters[i];
    }
    f->n_meters = k;
}

/* The chunks after the header, from *pos: tracks read in turn, the rest
 * skipped with a warning. Returns 0 with *pos at the end of what belongs to
 * the file and *tracks the track chunks read, or -1. */
static int read_chunks(reader *r, unsigned ntracks, size_t *pos_io, int *tracks_out)
{
    const unsigned char *d = r->d;
    const size_t size = r->size;
    int first_ts = 1, first_key = 1;
    size_t pos = *pos_io;
    int tracks = 0;
    while (pos < size) {
        if (size - pos < 8) {
            if (tracks < (int)ntracks) return fail(r, pos, "chunk header truncated");
            warn(r, pos, "%zu trailing bytes ignored", size - pos);
            break;
        }
        uint32_t len = be32(d + pos + 4);
        if (memcmp(d + pos, "MThd", 4) == 0) {
            if (tracks < (int)ntracks)
                return fail(r, pos, "a second header before the %u tracks the first one claims",
                            ntracks);
            warn(r, pos, "a second MIDI file glued after the first is ignored");
            break;
        }
        if (len > size - pos - 8)
            return fail(r, pos + 4,
                        "chunk length %u runs past the end of the file (%zu bytes left)",
                        (unsigned)len, size - pos - 8);
        if (memcmp(d + pos, "MTrk", 4) != 0) {
            warn(r, pos, "unknown chunk type skipped");
        } else if (tracks >= (int)ntracks) {
            warn(r, pos, "track chunk beyond the %u the header claims ignored", ntracks);
        } else {
            tracks++;
            if (read_track(r, pos + 8, pos + 8 + len, tracks, &first_ts, &first_key)) return -1;
        }
        pos += 8 + (size_t)len;
    }
    if (tracks < (int)ntracks)
        return fail(r, pos, "header claims %u tracks, the file holds %d", ntracks, tracks);
    *pos_io = pos;
    *tracks_out = tracks;
    return 0;
}

int rnn_midi_read_cb(const void *data, size_t size, const char *name, rnn_midi_warn_fn warnfn,
                     void *user, rnn_midi_file *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (err && errlen) err[0] = 0;
    reader *r = calloc(1, sizeof *r);
    if (!r) {
        if (err && errlen) snprintf(err, errlen, "%s: out of memory", name ? name : "(memory)");
        return -1;
    }
    r->d = data;
    r->size = size;
    r->name = name ? name : "(memory)";
    r->warn = warnfn;
    r->user = user;
    r->f = out;
    r->err = err;
    r->errlen = errlen;
    out->ts_num = 4;
    out->ts_den = 4;
    out->key_minor = -1;

    int rc = -1;
    const unsigned char *d = data;
    if (size < 14 || memcmp(d, "MThd", 4) != 0) {
        if (size >= 4 && memcmp(d, "MThd", 4) == 0)
            fail(r, size, "header truncated (%zu bytes, a header needs 14)", size);
        else if (size >= 4 && memcmp(d, "RIFF", 4) == 0)
            fail(r, 0, "RIFF (RMID) file, not a Standard MIDI File");
        else
            fail(r, 0, "not a Standard MIDI File (no \"MThd\" header)");
        goto done;
    }
    uint32_t hlen = be32(d + 4);
    if (hlen < 6) {
        fail(r, 4, "header length %u is shorter than 6", (unsigned)hlen);
        goto done;
    }
    if (hlen > size - 8) {
        fail(r, 4, "header length %u runs past the end of the file", (unsigned)hlen);
        goto done;
    }
    unsigned format = be16(d + 8), ntracks = be16(d + 10), division = be16(d + 12);
    if (format == 2) {
        fail(r, 8, "format 2 (independent sequences) is not supported");
        goto done;
    }
    if (format > 2) {
        fail(r, 8, "unknown format %u", format);
        goto done;
    }
    if (division & 0x8000) {
        fail(r, 12, "SMPTE time division (%d frames/s, %u ticks/frame) is not supported",
             -(int)(signed char)(division >> 8), division & 0xFF);
        goto done;
    }
    if (division == 0) {
        fail(r, 12, "division of 0 ticks per quarter");
        goto done;
    }
    if (ntracks == 0) {
        fail(r, 10, "header claims 0 tracks");
        goto done;
    }
    if (format == 0 && ntracks != 1) warn(r, 10, "format 0 file claims %u tracks", ntracks);
    out->format = (int)format;
    out->ppq = (int)division;

    size_t pos = 8 + (size_t)hlen;
    int tracks = 0;
    r->counting = 1; /* counts what comes before a failure too */
    (void)read_chunks(r, ntracks, &pos, &tracks);
    r->counting = 0;
    if ((r->count_notes && !(out->notes = malloc(r->count_notes * sizeof *out->notes))) ||
        (r->count_tempos && !(out->tempos = malloc(r->count_tempos * sizeof *out->tempos))) ||
        (r->count_meters && !(out->meters = malloc(r->count_meters * sizeof *out->meters)))) {
        fail(r, 0, "out of memory for %zu notes", r->count_notes);
        goto done;
    }
    r->cap_notes = r->count_notes;
    r->cap_tempos = r->count_tempos;
    r->cap_meters = r->count_meters;
    pos = 8 + (size_t)hlen;
    if (read_chunks(r, ntracks, &pos, &tracks)) goto done;
    out->n_tracks = tracks;
    out->bytes_read = pos;
    /* stable: at one tick the later track's tempo change wins */
    if (merge_runs(out->notes, sizeof *out->notes, out->n_notes, r->note_runs, r->n_note_runs,
                   rnn_note_cmp) ||
        merge_runs(out->tempos, sizeof *out->tempos, out->n_tempos, r->tempo_runs, r->n_tempo_runs,
                   tempo_cmp) ||
        merge_runs(out->meters, sizeof *out->meters, out->n_meters, r->meter_runs, r->n_meter_runs,
                   meter_cmp)) {
        fail(r, 0, "out of memory sorting %zu notes", out->n_notes);
        goto done;
    }
    collapse_meters(out);
    rc = 0;
done:
    free(r->note_runs);
    free(r->tempo_runs);
    free(r->meter_runs);
    free(r);
    if (rc) {
        rnn_midi_free(out);
    }
    return rc;
}

int rnn_midi_read(const void *data, size_t size, const char *name, rnn_midi_file *out, char *err,
                  size_t errlen)
{
    return rnn_midi_read_cb(data, size, name, NULL, NULL, out, err, errlen);
}

unsigned char *rnn_midi_slurp(const char *path, size_t *size, char *err, size_t errlen)
{
    return rnn_file_read_all(path, RNN_MIDI_MAX_FILE_BYTES, size, err, errlen);
}

int rnn_midi_read_path(const char *path, rnn_midi_warn_fn warnfn, void *user, rnn_midi_file *out,
                       char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t size;
    unsigned char *buf = rnn_midi_slurp(path, &size, err, errlen);
    if (!buf) return -1;
    int rc = rnn_midi_read_cb(buf, size, path, warnfn, user, out, err, errlen);
    free(buf);
    return rc;
}

void rnn_midi_free(rnn_midi_file *f)
{
    if (!f) return;
    free(f->notes);
    free(f->tempos);
    free(f->meters);
    memset(f, 0, sizeof *f);
}

/* ------------------------------------------------------------------------ */
/* Writer */

typedef struct {
    unsigned char *d;
    size_t n, cap;
    int oom;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->oom) return;
    if (grow((void **)&b->d, &b->cap, b->n + n, 1)) {
        b->oom = 1;
        return;
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put_byte(buf *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    put(b, &c, 1);
}

static void put_be32(buf *b, uint32_t v)
{
    unsigned char p[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put(b, p, 4);
}

static void put_vlq(buf *b, uint32_t v)
{
    unsigned char t[5];
    int n = 0;
    t[n++] = v & 0x7F;
    while (v >>= 7)
        t[n++] = (unsigned char)(0x80 | (v & 0x7F));
    while (n--)
        put_byte(b, t[n]);
}

/* A delta-time of any length: one longer than a delta-time can say is
 * padded with empty text events. */
static void put_delta(buf *b, int64_t dt)
{
    while (dt > 0x0FFFFFFF) {
        put_vlq(b, 0x0FFFFFFF);
        unsigned char txt[3] = {0xFF, 0x01, 0};
        put(b, txt, 3);
        dt -= 0x0FFFFFFF;
    }
    put_vlq(b, (uint32_t)dt);
}

/* Fill in the length of the chunk whose length field is at len_at. */
static void put_len(buf *b, size_t len_at)
{
    uint32_t len = (uint32_t)(b->n - len_at - 4);
    b->d[len_at] = (unsigned char)(len >> 24);
    b->d[len_at + 1] = (unsigned char)(len >> 16);
    b->d[len_at + 2] = (unsigned char)(len >> 8);
    b->d[len_at + 3] = (unsigned char)len;
}

typedef struct {
    int64_t tick;
    int order; /* 0 = end of a note, 1 = start, 2 = end of a zero-length note */
    size_t note;
} wevent;

static int wevent_cmp(const void *pa, const void *pb)
{
    const wevent *a = pa, *b = pb;
    if (a->tick != b->tick) return a->tick < b->tick ? -1 : 1;
    if (a->order != b->order) return a->order - b->order;
    return (a->note > b->note) - (a->note < b->note);
}

static int64_t pair_key(const rnn_note *n)
{
    return (int64_t)n->track * 16 + n->channel;
}

static int key_cmp(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return (a > b) - (a < b);
}

/* The exponent of a power-of-two denominator 1..128, -1 for anything else. */
static int den_log2(int den)
{
    for (int e = 0; e < 8; e++)
        if (den == 1 << e) return e;
    return -1;
}

unsigned char *rnn_midi_write_mem_meters(const rnn_note *notes, size_t n, int ppq, double bpm,
                                         const rnn_midi_meter *meters, size_t n_meters,
                                         size_t *size, char *err, size_t errlen)
{
    static const rnn_midi_meter common_time = {0, 4, 4};
    if (!meters || n_meters == 0) {
        meters = &common_time;
        n_meters = 1;
    }
    for (size_t i = 0; i < n_meters; i++) {
        const rnn_midi_meter *m = &meters[i];
        if (m->num < 1 || m->num > 255 || den_log2(m->den) < 0 || m->tick < 0 ||
            m->tick > (int64_t)1 << 40 || (i > 0 && m->tick <= meters[i - 1].tick)) {
            snprintf(err, errlen,
                     "meter %zu (%d/%d at tick %lld) is not writable (numerator 1..255, "
                     "denominator a power of two 1..128, ticks ascending)",
                     i, m->num, m->den, (long long)m->tick);
            return NULL;
        }
    }
    if (ppq < 1 || ppq > 0x7FFF) {
        snprintf(err, errlen, "ppq %d is outside 1..32767", ppq);
        return NULL;
    }
    if (!(bpm >= 4.0 && bpm <= 1000.0)) {
        snprintf(err, errlen, "tempo %g bpm is outside 4..1000", bpm);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const rnn_note *x = &notes[i];
        if (x->channel < 0 || x->channel > 15 || x->pitch < 0 || x->pitch > 127 ||
            x->velocity < 1 || x->velocity > 127 || x->on < 0 || x->off < x->on ||
            x->off > (int64_t)1 << 40 || x->track < 0) {
            snprintf(err, errlen,
                     "note %zu (track %d channel %d pitch %d velocity %d ticks %lld..%lld) is "
                     "not writable",
                     i, x->track, x->channel, x->pitch, x->velocity, (long long)x->on,
                     (long long)x->off);
            return NULL;
        }
    }
    int64_t *keys = malloc((n ? n : 1) * sizeof *keys);
    wevent *ev = malloc((n ? 2 * n : 1) * sizeof *ev);
    buf b = {0};
    if (!keys || !ev) goto oom;
    for (size_t i = 0; i < n; i++)
        keys[i] = pair_key(&notes[i]);
    qsort(keys, n, sizeof *keys, key_cmp);
    size_t nkeys = 0;
    for (size_t i = 0; i < n; i++)
        if (nkeys == 0 || keys[nkeys - 1] != keys[i]) keys[nkeys++] = keys[i];
    if (nkeys + 1 > 0xFFFF) {
        snprintf(err, errlen, "%zu tracks do not fit a MIDI file", nkeys + 1);
        free(keys);
        free(ev);
        return NULL;
    }

    put(&b, "MThd", 4);
    put_be32(&b, 6);
    unsigned char hdr[6] = {0,
                            1,
                            (unsigned char)((nkeys + 1) >> 8),
                            (unsigned char)(nkeys + 1),
                            (unsigned char)(ppq >> 8),
                            (unsigned char)ppq};
    put(&b, hdr, 6);

    /* conductor track: the tempo and the meters */
    uint32_t usec = (uint32_t)(60e6 / bpm + 0.5);
    put(&b, "MTrk", 4);
    size_t cond_at = b.n;
    put_be32(&b, 0);
    put_byte(&b, 0);
    unsigned char tempo[6] = {0xFF,
                              0x51,
                              3,
                              (unsigned char)(usec >> 16),
                              (unsigned char)(usec >> 8),
                              (unsigned char)usec};
    put(&b, tempo, 6);
    int64_t mt = 0;
    for (size_t i = 0; i < n_meters; i++) {
        put_delta(&b, meters[i].tick - mt);
        mt = meters[i].tick;
        /* 24 MIDI clocks per metronome click and 8 32nds per quarter: the
         * values every sequencer writes for a quarter-note click */
        const unsigned char num = (unsigned char)meters[i].num;
        const unsigned char den = (unsigned char)den_log2(meters[i].den);
        unsigned char ts[7] = {0xFF, 0x58, 4, num, den, 24, 8};
        put(&b, ts, 7);
    }
    put_byte(&b, 0);
    unsigned char eot[3] = {0xFF, 0x2F, 0};
    put(&b, eot, 3);
    if (b.oom) goto oom;
    put_len(&b, cond_at);

    for (size_t k = 0; k < nkeys; k++) {
        size_t ne = 0;
        for (size_t i = 0; i < n; i++) {
            if (pair_key(&notes[i]) != keys[k]) continue;
            ev[ne++] = (wevent){notes[i].on, 1, i};
            ev[ne++] = (wevent){notes[i].off, notes[i].off == notes[i].on ? 2 : 0, i};
        }
        qsort(ev, ne, sizeof *ev, wevent_cmp);
        put(&b, "MTrk", 4);
        size_t len_at = b.n;
        put_be32(&b, 0);
        int64_t t = 0;
        for (size_t e = 0; e < ne; e++) {
            const rnn_note *x = &notes[ev[e].note];
            put_delta(&b, ev[e].tick - t);
            t = ev[e].tick;
            if (ev[e].order == 1) {
                unsigned char m[3] = {(unsigned char)(0x90 | x->channel), (unsigned char)x->pitch,
                                      (unsigned char)x->velocity};
                put(&b, m, 3);
            } else {
                unsigned char m[3] = {(unsigned char)(0x80 | x->channel), (unsigned char)x->pitch,
                                      64};
                put(&b, m, 3);
            }
        }
        put_byte(&b, 0);
        put(&b, eot, 3);
        if (b.oom) goto oom;
        put_len(&b, len_at);
    }
    if (b.oom) goto oom;
    free(keys);
    free(ev);
    *size = b.n;
    return b.d;
oom:
    snprintf(err, errlen, "out of memory");
    free(keys);
    free(ev);
    free(b.d);
    return NULL;
}

unsigned char *rnn_midi_write_mem(const rnn_note *notes, size_t n, int ppq, double bpm,
                                  size_t *size, char *err, size_t errlen)
{
    return rnn_midi_write_mem_meters(notes, n, ppq, bpm, NULL, 0, size, err, errlen);
}

int rnn_midi_write_path(const char *path, const rnn_note *notes, size_t n, int ppq, double bpm,
                        char *err, size_t errlen)
{
    return rnn_midi_write_path_meters(path, notes, n, ppq, bpm, NULL, 0, err, errlen);
}

int rnn_midi_write_path_meters(const char *path, const rnn_note *notes, size_t n, int ppq,
                               double bpm, const rnn_midi_meter *meters, size_t n_meters, char *err,
                               size_t errlen)
{
    size_t size;
    unsigned char *data =
        rnn_midi_write_mem_meters(notes, n, ppq, bpm, meters, n_meters, &size, err, errlen);
    if (!data) return -1;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 8);
    if (!tmp) {
        free(data);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".XXXXXX", 8);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create a temporary file: %s", path, strerror(errno));
        free(tmp);
        free(data);
        return -1;
    }
    size_t done = 0;
    while (done < size) {
        ssize_t k = write(fd, data + done, size - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            snprintf(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            free(tmp);
            free(data);
            return -1;
        }
        done += (size_t)k;
    }
    free(data);
    int bad = fchmod(fd, 0644) != 0 || fsync(fd) != 0;
    if (close(fd) != 0) bad = 1;
    if (bad) {
        snprintf(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}
