/* SPDX-License-Identifier: MIT */
/* rnnmidi demo: played events -> note list. */
#include "record.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void demo_record_init(demo_record *r, double sample_rate, double bpm, int ppq)
{
    memset(r, 0, sizeof *r);
    r->sample_rate = sample_rate;
    r->bpm = bpm;
    r->ppq = ppq;
    for (int s = 0; s < DEMO_RECORD_SOURCES; s++)
        for (int c = 0; c < 16; c++)
            for (int p = 0; p < 128; p++)
                r->open_on[s][c][p] = -1;
}

int64_t demo_record_ticks(const demo_record *r, uint64_t frame)
{
    return llround((double)frame / r->sample_rate * r->bpm / 60.0 * r->ppq);
}

static int close_note(demo_record *r, int src, int ch, int pitch, uint64_t frame)
{
    int64_t on = r->open_on[src][ch][pitch];
    if (on < 0) return 0;
    r->open_on[src][ch][pitch] = -1;
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 1024;
        rnn_note *nn = realloc(r->notes, cap * sizeof *nn);
        if (!nn) {
            r->failed = 1;
            return -1;
        }
        r->notes = nn;
        r->cap = cap;
    }
    rnn_note *n = &r->notes[r->n++];
    n->track = src + 1;
    n->channel = ch;
    n->pitch = pitch;
    n->velocity = r->open_vel[src][ch][pitch];
    n->on = demo_record_ticks(r, (uint64_t)on);
    n->off = demo_record_ticks(r, frame);
    if (n->off < n->on) n->off = n->on;
    return 0;
}

int demo_record_event(demo_record *r, const demo_event *ev)
{
    if (ev->source >= DEMO_RECORD_SOURCES || ev->size < 1) return 0;
    if (ev->frame > r->last_frame) r->last_frame = ev->frame;
    int status = ev->data[0] & 0xF0, ch = ev->data[0] & 0x0F;
    if (status == 0xB0 && ev->size >= 3 && (ev->data[1] == 120 || ev->data[1] == 123)) {
        for (int p = 0; p < 128; p++)
            if (close_note(r, ev->source, ch, p, ev->frame)) return -1;
        return 0;
    }
    if ((status != 0x90 && status != 0x80) || ev->size < 3) return 0;
    int pitch = ev->data[1] & 0x7F, vel = ev->data[2] & 0x7F;
    if (close_note(r, ev->source, ch, pitch, ev->frame)) return -1;
    if (status == 0x90 && vel > 0) {
        r->open_on[ev->source][ch][pitch] = (int64_t)ev->frame;
        r->open_vel[ev->source][ch][pitch] = (uint8_t)vel;
        r->counts[ev->source]++;
    }
    return 0;
}

static int note_cmp(const void *a, const void *b)
{
    const rnn_note *x = a, *y = b;
    if (x->on != y->on) return x->on < y->on ? -1 : 1;
    if (x->track != y->track) return x->track < y->track ? -1 : 1;
    if (x->channel != y->channel) return x->channel < y->channel ? -1 : 1;
    if (x->pitch != y->pitch) return x->pitch < y->pitch ? -1 : 1;
    if (x->off != y->off) return x->off < y->off ? -1 : 1;
    return (x->velocity > y->velocity) - (x->velocity < y->velocity);
}

int demo_record_finish(demo_record *r, uint64_t end_frame)
{
    for (int s = 0; s < DEMO_RECORD_SOURCES; s++)
        for (int c = 0; c < 16; c++)
            for (int p = 0; p < 128; p++)
                if (close_note(r, s, c, p, end_frame)) return -1;
    if (r->n) qsort(r->notes, r->n, sizeof *r->notes, note_cmp);
    return r->failed ? -1 : 0;
}

void demo_record_free(demo_record *r)
{
    if (!r) return;
    free(r->notes);
    r->notes = NULL;
    r->n = r->cap = 0;
}
