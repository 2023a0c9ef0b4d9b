/* SPDX-License-Identifier: MIT */
/* rnnmidi core: the conditioning inputs of a grid step (contract in
 * condition.h, columns in FORMAT.md).
 *
 * The metric position in exact arithmetic. Beat j of a meter num/den
 * starting at tick t0 lies at tick t0 + j * 4 ppq / den, i.e. at grid
 * position y_j = (t0 den + 4 ppq j) spq / (ppq den) steps, and on step
 * floor(y_j + 1/2). Beat j is on step s or before it exactly when
 * y_j < s + 1/2, that is when j < ((2s + 1) ppq den - 2 t0 den spq) / (8 ppq spq):
 * the step's beat is the largest such j, an integer division. The host's
 * version does the same in beats (one step is 4 spq / den of them). */
#include "condition.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SPQ 96
#define MAX_TICK ((int64_t)1 << 40) /* keeps every product below 2^63 */
#define MAX_STEP ((int64_t)1 << 32)

static int den_ok(int den)
{
    return den >= 1 && den <= 128 && (den & (den - 1)) == 0;
}

int rnn_cond_metric_columns(int spq)
{
    if (spq < 1 || spq > MAX_SPQ) return 0;
    return 2 + 4 * spq + RNN_COND_MAX_BEATS;
}

/* The step a tick rounds to, as core/encoding.c puts notes on the grid. */
static int64_t tick_step(int64_t tick, int ppq, int spq)
{
    return (2 * tick * spq + ppq) / (2 * (int64_t)ppq);
}

/* The step beat j of a meter with denominator den from tick t0 falls on. */
static int64_t beat_step(int64_t t0, int den, int64_t j, int ppq, int spq)
{
    return (2 * spq * (t0 * den + 4 * (int64_t)ppq * j) + (int64_t)ppq * den) /
           (2 * (int64_t)ppq * den);
}

int rnn_cond_metric_file(const rnn_midi_meter *meters, size_t n, int ppq, int spq, int64_t step,
                         rnn_metric_pos *out)
{
    if (ppq < 1 || ppq > 0x7FFF || spq < 1 || spq > MAX_SPQ || step < 0 || step > MAX_STEP ||
        (n && !meters))
        return -1;
    /* the last meter whose first step is at or before step (tick order is
     * step order, as rounding keeps order) */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (meters[mid].tick <= MAX_TICK && tick_step(meters[mid].tick, ppq, spq) <= step)
            lo = mid + 1;
        else
            hi = mid;
    }
    int64_t t0 = 0;
    int num = 4, den = 4;
    if (lo > 0) {
        const rnn_midi_meter *m = &meters[lo - 1];
        if (m->tick < 0 || m->num < 1 || !den_ok(m->den)) return -1;
        t0 = m->tick;
        num = m->num;
        den = m->den;
    }
    const int64_t N = (2 * step + 1) * ppq * den - 2 * t0 * den * spq;
    const int64_t D = 8 * (int64_t)ppq * spq;
    const int64_t j = N >= 1 ? (N - 1) / D : 0; /* N >= 1: beat 0 is on or before step */
    const int64_t bar_j = j - j % num;
    const int64_t on = beat_step(t0, den, j, ppq, spq);
    out->bar_start = beat_step(t0, den, bar_j, ppq, spq) == step;
    out->beat_start = on == step;
    out->step_in_beat = (int)(step - on);
    out->beat_in_bar = (int)(j % num);
    out->num = num;
    out->den = den;
    return 0;
}

int rnn_cond_metric_host(double bar_beat, int beat_unit, double beats_per_bar, int spq,
                         rnn_metric_pos *out)
{
    if (!den_ok(beat_unit) || spq < 1 || spq > MAX_SPQ || !isfinite(bar_beat) ||
        !isfinite(beats_per_bar))
        return -1;
    double nb = floor(beats_per_bar + 0.5);
    if (nb < 1) nb = 1;
    if (nb > 255) nb = 255;                  /* the largest numerator a MIDI file can hold */
    const double sb = 4.0 * spq / beat_unit; /* steps per beat */
    const double h = 0.5 / sb;               /* half a step, in beats */
    double p = fmod(bar_beat, nb);
    if (p < 0) p += nb;
    /* a later bar line may round onto this step (several, when a bar is
     * shorter than half a step): the step is in the bar of the last of them */
    p -= (ceil((p + h) / nb) - 1) * nb;
    const double j = ceil(p + h) - 1;
    out->bar_start = floor(-p * sb + 0.5) == 0;
    out->step_in_beat = (int)-floor((j - p) * sb + 0.5);
    out->beat_start = out->step_in_beat == 0;
    out->beat_in_bar = (int)j;
    out->num = (int)nb;
    out->den = beat_unit;
    return 0;
}

void rnn_cond_metric_fill(const rnn_metric_pos *p, int spq, float *cols)
{
    const int n = rnn_cond_metric_columns(spq);
    if (n == 0) return;
    memset(cols, 0, (size_t)n * sizeof *cols);
    const int slots = 4 * spq;
    cols[0] = (float)(p->bar_start != 0);
    cols[1] = (float)(p->beat_start != 0);
    int s = p->step_in_beat < 0 ? 0 : p->step_in_beat >= slots ? slots - 1 : p->step_in_beat;
    int b = p->beat_in_bar < 0                     ? 0
            : p->beat_in_bar >= RNN_COND_MAX_BEATS ? RNN_COND_MAX_BEATS - 1
                                                   : p->beat_in_bar;
    cols[2 + s] = 1;
    cols[2 + slots + b] = 1;
}

int rnn_cond_harmony_file(const rnn_note *notes, size_t n, int ppq, int spq, const rnn_seq *seq,
                          uint16_t *masks, char *err, size_t errlen)
{
    if (ppq < 1 || ppq > 0x7FFF || spq < 1 || spq > MAX_SPQ || !seq || seq->start_step < 0 ||
        (n && !notes) || (seq->len && (!seq->events || !masks))) {
        snprintf(err, errlen, "harmony: bad arguments");
        return -1;
    }
    const size_t len = seq->len;
    if (len == 0) return 0;
    /* the line's pitch at each step, as the events play it */
    int8_t *line = malloc(len);
    if (!line) {
        snprintf(err, errlen, "harmony: out of memory for %zu steps", len);
        return -1;
    }
    int cur = -1;
    for (size_t i = 0; i < len; i++) {
        int32_t e = seq->events[i];
        if (e == RNN_MELODY_NOTE_OFF)
            cur = -1;
        else if (e >= RNN_MELODY_NOTE_ON(0) && e < RNN_MELODY_VOCAB)
            cur = e - RNN_MELODY_NOTE_ON(0);
        line[i] = (int8_t)cur;
    }
    memset(masks, 0, len * sizeof *masks);
    const int64_t a = seq->start_step, e = a + (int64_t)len;
    for (size_t k = 0; k < n; k++) {
        const rnn_note *x = &notes[k];
        if (x->channel == RNN_DRUMS_CHANNEL || x->pitch < 0 || x->pitch > 127 || x->on < 0 ||
            x->off < x->on || x->off > MAX_TICK)
            continue;
        int64_t on = tick_step(x->on, ppq, spq), off = tick_step(x->off, ppq, spq);
        if (off <= on) off = on + 1; /* sounds for its one step, as in encoding.c */
        if (on < a) on = a;
        if (off > e) off = e;
        const int own = x->track == seq->track && x->channel == seq->channel;
        const uint16_t bit = (uint16_t)(1u << (x->pitch % 12));
        for (int64_t s = on; s < off; s++)
            if (!own || line[s - a] != x->pitch) masks[s - a] |= bit;
    }
    free(line);
    return 0;
}

void rnn_cond_harmony_fill(uint16_t mask, float *cols)
{
    for (int k = 0; k < RNN_COND_HARMONY_COLUMNS; k++)
        cols[k] = (float)(mask >> k & 1);
}

void rnn_held_clear(rnn_held *h)
{
    memset(h->down, 0, sizeof h->down);
}

void rnn_held_note_on(rnn_held *h, int pitch)
{
    if (pitch >= 0 && pitch <= 127) h->down[pitch >> 5] |= 1u << (pitch & 31);
}

void rnn_held_note_off(rnn_held *h, int pitch)
{
    if (pitch >= 0 && pitch <= 127) h->down[pitch >> 5] &= ~(1u << (pitch & 31));
}

uint16_t rnn_held_mask(const rnn_held *h)
{
    uint16_t m = 0;
    for (int p = 0; p < 128; p++)
        if (h->down[p >> 5] >> (p & 31) & 1) m |= (uint16_t)(1u << (p % 12));
    return m;
}
