/* SPDX-License-Identifier: MIT */
/* rnnmidi core: event vocabularies and note <-> event-sequence conversion
 * (contract in encoding.h).
 *
 * The grid. A tick t lies on step round(t * spq / ppq), halves rounded up
 * (floor((2 * t * spq + ppq) / (2 * ppq))). A note sounds on the steps
 * [on_step, off_step); a note whose on and off fall on the same step still
 * sounds for that one step (off_step = on_step + 1).
 *
 * Melody, per (track, channel) outside channel 10: the notes are heard by
 * core/listen step by step, which reduces them to one line, the skyline
 * (highest pitch sounding), and gives each step its event (the rules are in
 * listen.h): a new attack of the top pitch or a change of the top pitch is a
 * note-on (a lower note held under a higher one that ended is emitted
 * again), the end of the line a note-off.
 *
 * Drums: the notes of channel 10 of all tracks together (a drum kit is often
 * spread over several tracks, one per instrument); core/listen sets a note's
 * drum class on its onset step, pitches outside the map are dropped.
 *
 * Sequences: a run of 16 or more silent steps (melody: no note sounds;
 * drums: no hit) splits the material. A melody sequence runs from its first
 * note-on to the note-off after its last note, a drum sequence from its
 * first to its last hit. Sequences under 32 steps or with fewer than 8 notes
 * (melody: note-on events; drums: hits, i.e. set bits) are dropped. */
#include "encoding.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listen.h"

#define MAX_STEPS_PER_QUARTER 96
#define MAX_ENCODED_STEPS ((int64_t)1 << 22) /* per rnn_encode call: 4M steps, 2^18 bars of 4/4 */

int rnn_kind_vocab(rnn_kind kind)
{
    switch (kind) {
    case RNN_KIND_MELODY:
        return RNN_MELODY_VOCAB;
    case RNN_KIND_DRUMS:
        return RNN_DRUMS_VOCAB;
    }
    return 0;
}

const char *rnn_kind_name(rnn_kind kind)
{
    switch (kind) {
    case RNN_KIND_MELODY:
        return "melody";
    case RNN_KIND_DRUMS:
        return "drums";
    }
    return NULL;
}

/* Magenta DrumsRNN's DEFAULT_DRUM_TYPE_PITCHES: the first pitch of each class
 * is the one played when decoding. */
static const signed char drum_type_pitches[RNN_DRUM_CLASSES][16] = {
    {36, 35, -1},                                                     /* kick */
    {38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85, -1}, /* snare */
    {42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 22, -1},                 /* closed hi-hat */
    {46, 67, 72, 74, 79, 81, 26, -1},                                 /* open hi-hat */
    {45, 29, 41, 43, 61, 64, 84, -1},                                 /* low tom */
    {48, 47, 60, 63, 77, 86, 87, -1},                                 /* mid tom */
    {50, 30, 62, 76, 83, -1},                                         /* high tom */
    {49, 52, 55, 57, 58, -1},                                         /* crash */
    {51, 53, 59, 82, -1},                                             /* ride */
};

int rnn_drum_class_of_pitch(int pitch)
{
    if (pitch < 0 || pitch > 127) return -1;
    for (int c = 0; c < RNN_DRUM_CLASSES; c++)
        for (int i = 0; i < 16 && drum_type_pitches[c][i] >= 0; i++)
            if (drum_type_pitches[c][i] == pitch) return c;
    return -1;
}

int rnn_drum_pitch_of_class(int c)
{
    if (c < 0 || c >= RNN_DRUM_CLASSES) return -1;
    return drum_type_pitches[c][0];
}

static int64_t tick_to_step(int64_t tick, int ppq, int spq)
{
    return (2 * tick * spq + ppq) / (2 * (int64_t)ppq);
}

typedef struct {
    int32_t track, channel, pitch;
    int64_t on, off; /* steps, off > on */
} gnote;

static int gnote_cmp(const void *pa, const void *pb)
{
    const gnote *a = pa, *b = pb;
#define CMP(x)                                                                                     \
    if (a->x != b->x) return a->x < b->x ? -1 : 1
    CMP(track);
    CMP(channel);
    CMP(on);
    CMP(off);
    CMP(pitch);
#undef CMP
    return 0;
}

/* Pending output of one rnn_encode call, appended to the list at the end. */
typedef struct {
    rnn_seq *seqs;
    size_t count, cap;
} seq_buf;

static int seq_push(seq_buf *b, int32_t *events, size_t len, int64_t start, int32_t track,
                    int32_t channel)
{
    if (b->count == b->cap) {
        size_t c = b->cap ? 2 * b->cap : 16;
        rnn_seq *q = realloc(b->seqs, c * sizeof *q);
        if (!q) return -1;
        b->seqs = q;
        b->cap = c;
    }
    b->seqs[b->count++] = (rnn_seq){events, len, start, track, channel, NULL, NULL, NULL};
    return 0;
}

typedef struct {
    int64_t step;
    int32_t pitch;
} note_end;

static int note_end_cmp(const void *pa, const void *pb)
{
    const note_end *a = pa, *b = pb;
    return (a->step > b->step) - (a->step < b->step);
}

/* One melody island: the notes g[0..n) of one (track, channel), sorted by
 * onset, no silent gap of RNN_SPLIT_GAP_STEPS inside, covering steps [a, e)
 * (e = latest release). core/listen hears them step by step, the ends of a
 * step before its starts (a note's end is never in its own start step): the
 * work is O(n log n + 128 n + length) however long the notes are held. */
static int melody_island(const gnote *g, size_t n, int64_t a, int64_t e, seq_buf *b)
{
    size_t len = (size_t)(e - a + 1); /* the note-off step e included */
    if (len < RNN_MIN_SEQ_STEPS) return 0;
    int32_t *ev = malloc(len * sizeof *ev);
    note_end *ends = malloc(n * sizeof *ends);
    if (!ev || !ends) {
        free(ev);
        free(ends);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        ends[i] = (note_end){g[i].off, g[i].pitch};
    qsort(ends, n, sizeof *ends, note_end_cmp);
    rnn_listen l;
    rnn_listen_init(&l);
    size_t on = 0, off = 0, notes = 0;
    for (size_t s = 0; s < len; s++) {
        int64_t step = a + (int64_t)s;
        for (; off < n && ends[off].step == step; off++)
            rnn_listen_note_off(&l, ends[off].pitch);
        for (; on < n && g[on].on == step; on++)
            rnn_listen_note_on(&l, g[on].pitch);
        ev[s] = rnn_listen_step(&l, RNN_KIND_MELODY);
        notes += ev[s] >= RNN_MELODY_NOTE_ON(0);
    }
    free(ends);
    if (notes < RNN_MIN_SEQ_NOTES) {
        free(ev);
        return 0;
    }
    if (seq_push(b, ev, len, a, g[0].track, g[0].channel)) {
        free(ev);
        return -1;
    }
    return 0;
}

/* One drum island: the hits g[0..n) (GM pitches in the map), sorted by
 * onset, from step a to the last hit at step last, heard step by step. */
static int drum_island(const gnote *g, size_t n, int64_t a, int64_t last, seq_buf *b)
{
    size_t len = (size_t)(last - a + 1);
    if (len < RNN_MIN_SEQ_STEPS) return 0;
    int32_t *ev = malloc(len * sizeof *ev);
    if (!ev) return -1;
    rnn_listen l;
    rnn_listen_init(&l);
    size_t i = 0, hits = 0;
    for (size_t s = 0; s < len; s++) {
        for (; i < n && g[i].on == a + (int64_t)s; i++)
            rnn_listen_drum(&l, g[i].pitch);
        ev[s] = rnn_listen_step(&l, RNN_KIND_DRUMS);
        for (int c = 0; c < RNN_DRUM_CLASSES; c++)
            hits += (size_t)(ev[s] >> c & 1);
    }
    if (hits < RNN_MIN_SEQ_NOTES) {
        free(ev);
        return 0;
    }
    if (seq_push(b, ev, len, a, 0, RNN_DRUMS_CHANNEL)) {
        free(ev);
        return -1;
    }
    return 0;
}

int rnn_encode(rnn_kind kind, const rnn_note *notes, size_t n, int ppq, int steps_per_quarter,
               rnn_seq_list *out, char *err, size_t errlen)
{
    if (kind != RNN_KIND_MELODY && kind != RNN_KIND_DRUMS) {
        snprintf(err, errlen, "unknown encoding kind %d", (int)kind);
        return -1;
    }
    if (ppq < 1 || ppq > 0x7FFF) {
        snprintf(err, errlen, "ppq %d is outside 1..32767", ppq);
        return -1;
    }
    if (steps_per_quarter < 1 || steps_per_quarter > MAX_STEPS_PER_QUARTER) {
        snprintf(err, errlen, "steps per quarter %d is outside 1..%d", steps_per_quarter,
                 MAX_STEPS_PER_QUARTER);
        return -1;
    }
    gnote *g = malloc((n ? n : 1) * sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const rnn_note *x = &notes[i];
        if (x->pitch < 0 || x->pitch > 127 || x->channel < 0 || x->channel > 15 || x->on < 0 ||
            x->off < x->on || x->off > ((int64_t)1 << 40)) {
            snprintf(err, errlen, "note %zu (channel %d pitch %d ticks %lld..%lld) is invalid", i,
                     x->channel, x->pitch, (long long)x->on, (long long)x->off);
            free(g);
            return -1;
        }
        int drum = x->channel == RNN_DRUMS_CHANNEL;
        if (drum != (kind == RNN_KIND_DRUMS)) continue;
        gnote y = {x->track, x->channel, x->pitch, tick_to_step(x->on, ppq, steps_per_quarter),
                   tick_to_step(x->off, ppq, steps_per_quarter)};
        if (y.off <= y.on) y.off = y.on + 1;
        if (drum) {
            if (rnn_drum_class_of_pitch(x->pitch) < 0) continue;
            y.track = 0; /* all tracks together */
            y.off = y.on + 1;
        }
        g[m++] = y;
    }
    qsort(g, m, sizeof *g, gnote_cmp);

    /* Islands: runs of one (track, channel) without a long silence. Their
     * total length is checked before anything is allocated for them. */
    int64_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        seq_buf b = {0};
        size_t i = 0;
        while (i < m) {
            size_t j = i + 1;
            int64_t end = g[i].off;
            while (j < m && g[j].track == g[i].track && g[j].channel == g[i].channel &&
                   g[j].on - end < RNN_SPLIT_GAP_STEPS) {
                if (g[j].off > end) end = g[j].off;
                j++;
            }
            int64_t len = kind == RNN_KIND_MELODY ? end - g[i].on + 1 : end - 1 - g[i].on + 1;
            if (pass == 0) {
                total += len;
                if (total > MAX_ENCODED_STEPS) {
                    snprintf(err, errlen, "the notes span more than %lld grid steps",
                             (long long)MAX_ENCODED_STEPS);
                    free(g);
                    return -1;
                }
            } else {
                int rc = kind == RNN_KIND_MELODY ? melody_island(g + i, j - i, g[i].on, end, &b)
                                                 : drum_island(g + i, j - i, g[i].on, end - 1, &b);
                if (rc) goto oom;
            }
            i = j;
        }
        if (pass == 0) continue;
        if (b.count) {
            rnn_seq *q = realloc(out->seqs, (out->count + b.count) * sizeof *q);
            if (!q) goto oom;
            memcpy(q + out->count, b.seqs, b.count * sizeof *q);
            out->seqs = q;
            out->count += b.count;
        }
        free(b.seqs);
        break;
    oom:
        for (size_t k = 0; k < b.count; k++)
            free(b.seqs[k].events);
        free(b.seqs);
        free(g);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    free(g);
    return 0;
}

void rnn_seq_list_free(rnn_seq_list *list)
{
    if (!list) return;
    for (size_t i = 0; i < list->count; i++) {
        free(list->seqs[i].events);
        free(list->seqs[i].cond);
        free(list->seqs[i].bar);
        free(list->seqs[i].enc);
    }
    free(list->seqs);
    list->seqs = NULL;
    list->count = 0;
}

size_t rnn_decode(rnn_kind kind, const int32_t *events, size_t len, int channel, int velocity,
                  rnn_note *out, size_t max)
{
    size_t count = 0;
#define EMIT(p, a, b)                                                                              \
    do {                                                                                           \
        if (count < max)                                                                           \
            out[count] = (rnn_note){0, channel, (p), velocity, (int64_t)(a), (int64_t)(b)};        \
        count++;                                                                                   \
    } while (0)
    if (kind == RNN_KIND_MELODY) {
        int32_t pitch = -1;
        size_t start = 0;
        for (size_t s = 0; s < len; s++) {
            int32_t e = events[s];
            if (e == RNN_MELODY_NO_EVENT || e < 0 || e >= RNN_MELODY_VOCAB) continue;
            if (pitch >= 0) EMIT(pitch, start, s);
            pitch = e >= 2 ? e - 2 : -1;
            start = s;
        }
        if (pitch >= 0) EMIT(pitch, start, len);
    } else if (kind == RNN_KIND_DRUMS) {
        for (size_t s = 0; s < len; s++) {
            int32_t e = events[s];
            if (e <= 0 || e >= RNN_DRUMS_VOCAB) continue;
            for (int c = 0; c < RNN_DRUM_CLASSES; c++)
                if (e >> c & 1) EMIT(rnn_drum_pitch_of_class(c), s, s + 1);
        }
    }
#undef EMIT
    return count;
}

int rnn_transpose_melody(int32_t *events, size_t len, int k)
{
    for (size_t s = 0; s < len; s++) {
        int32_t e = events[s];
        if (e >= 2 && e < RNN_MELODY_VOCAB && (e - 2 + k < 0 || e - 2 + k > 127)) return -1;
    }
    for (size_t s = 0; s < len; s++)
        if (events[s] >= 2 && events[s] < RNN_MELODY_VOCAB) events[s] += k;
    return 0;
}
