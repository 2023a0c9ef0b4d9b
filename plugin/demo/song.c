/* SPDX-License-Identifier: MIT */
/* rnnmidi demo: a MIDI file as the player plays it (contract in song.h).
 *
 * Bars of the positions: a time signature starts a bar, also where it cuts
 * the previous meter's bar short (rnn_cond_metric_file counts bars from it
 * the same way), so the bar a meter starts is the last one's first bar plus
 * the bars begun under it. */
#include "song.h"

#include <math.h>
#include <stdlib.h>

double demo_tick_seconds(const rnn_midi_file *mf, int64_t tick)
{
    double t = 0.0;
    int64_t last = 0;
    int32_t us = RNN_MIDI_DEFAULT_TEMPO;
    for (size_t i = 0; i < mf->n_tempos && mf->tempos[i].tick < tick; i++) {
        t += (double)(mf->tempos[i].tick - last) * us / 1e6 / mf->ppq;
        last = mf->tempos[i].tick;
        us = mf->tempos[i].usec_per_quarter;
    }
    return t + (double)(tick - last) * us / 1e6 / mf->ppq;
}

int demo_event_order(const void *a, const void *b)
{
    const demo_event *x = a, *y = b;
    if (x->frame != y->frame) return x->frame < y->frame ? -1 : 1;
    /* a note struck again at the frame it ends ends first */
    int xo = (x->data[0] & 0xF0) == 0x80, yo = (y->data[0] & 0xF0) == 0x80;
    return yo - xo;
}

demo_event *demo_song_notes(const rnn_midi_file *mf, double rate, int no_drums, size_t *n)
{
    *n = 0;
    if (mf->n_notes == 0) return NULL;
    demo_event *ev = malloc(2 * mf->n_notes * sizeof *ev);
    if (!ev) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < mf->n_notes; i++) {
        const rnn_note *nt = &mf->notes[i];
        if (no_drums && nt->channel == RNN_DRUMS_CHANNEL) continue;
        uint64_t on = (uint64_t)llround(demo_tick_seconds(mf, nt->on) * rate);
        uint64_t off = (uint64_t)llround(demo_tick_seconds(mf, nt->off) * rate);
        if (off <= on) off = on + 1;
        ev[k++] = (demo_event){
            on, 0, 3, {(uint8_t)(0x90 | nt->channel), (uint8_t)nt->pitch, (uint8_t)nt->velocity}};
        ev[k++] = (demo_event){off, 0, 3, {(uint8_t)(0x80 | nt->channel), (uint8_t)nt->pitch, 64}};
    }
    if (k == 0) {
        free(ev);
        return NULL;
    }
    qsort(ev, k, sizeof *ev, demo_event_order);
    *n = k;
    return ev;
}

demo_position *demo_song_positions(const rnn_midi_file *mf, double rate, size_t *n_out)
{
    const size_t cap = mf->n_tempos + mf->n_meters + 1;
    demo_position *pos = malloc(cap * sizeof *pos);
    if (!pos) return NULL;
    size_t n = 0, ti = 0, mi = 0;
    int64_t tick = 0, t0 = 0; /* the change; where the meter holding at it began */
    int32_t us = RNN_MIDI_DEFAULT_TEMPO, num = 4, den = 4;
    double first_bar = 0; /* the bar the meter holding began with */
    for (;;) {
        while (ti < mf->n_tempos && mf->tempos[ti].tick <= tick)
            us = mf->tempos[ti++].usec_per_quarter;
        while (mi < mf->n_meters && mf->meters[mi].tick <= tick) {
            const rnn_midi_meter *m = &mf->meters[mi++];
            const double bar_len = num * 4.0 * mf->ppq / den; /* ticks */
            first_bar += ceil((double)(m->tick - t0) / bar_len - 1e-9);
            t0 = m->tick;
            num = m->num;
            den = m->den;
        }
        const double beat_len = 4.0 * mf->ppq / den, into = (double)(tick - t0);
        const double bars = floor(into / (num * beat_len) + 1e-9);
        rnn_transport t = {0};
        t.flags =
            RNN_TRANSPORT_SPEED | RNN_TRANSPORT_BBT | RNN_TRANSPORT_TEMPO | RNN_TRANSPORT_METER;
        t.speed = 1;
        t.bpm = 60e6 / us * den / 4.0; /* beats of the meter's note */
        t.beats_per_bar = num;
        t.beat_unit = den;
        t.bar = (int64_t)(first_bar + bars);
        t.bar_beat = (into - bars * num * beat_len) / beat_len;
        pos[n++] = (demo_position){(uint64_t)llround(demo_tick_seconds(mf, tick) * rate), t};
        int64_t next = INT64_MAX;
        if (ti < mf->n_tempos) next = mf->tempos[ti].tick;
        if (mi < mf->n_meters && mf->meters[mi].tick < next) next = mf->meters[mi].tick;
        if (next == INT64_MAX || n == cap) break;
        tick = next;
    }
    *n_out = n;
    return pos;
}
