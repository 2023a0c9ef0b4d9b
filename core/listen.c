/* SPDX-License-Identifier: MIT */
/* rnnmidi core: listen (contract in listen.h).
 *
 * The highest pitch sounding is kept as notes come and go, so closing a step
 * is constant work and a file's island of any length is encoded in one pass;
 * only the end of the highest note looks for the next one down. A note struck
 * and released inside the open step no longer counts as sounding, but the
 * highest pitch struck in the step does: that is how it sounds for the step. */
#include "listen.h"

#include <string.h>

static int valid_pitch(int pitch)
{
    return pitch >= 0 && pitch <= 127;
}

void rnn_listen_init(rnn_listen *l)
{
    memset(l->count, 0, sizeof l->count);
    l->sounding = 0;
    l->top = -1;
    rnn_listen_new_line(l);
}

void rnn_listen_new_line(rnn_listen *l)
{
    l->struck = -1;
    l->drums = 0;
    l->line = -1;
}

void rnn_listen_note_on(rnn_listen *l, int pitch)
{
    if (!valid_pitch(pitch)) return;
    l->count[pitch]++;
    l->sounding++;
    if (pitch > l->top) l->top = pitch;
    if (pitch > l->struck) l->struck = pitch;
}

void rnn_listen_note_off(rnn_listen *l, int pitch)
{
    if (!valid_pitch(pitch) || l->count[pitch] == 0) return;
    l->count[pitch]--;
    l->sounding--;
    if (pitch != l->top || l->count[pitch] > 0) return;
    int p = pitch - 1;
    while (p >= 0 && l->count[p] == 0)
        p--;
    l->top = p;
}

void rnn_listen_key_on(rnn_listen *l, int pitch)
{
    if (valid_pitch(pitch) && l->count[pitch] > 0) rnn_listen_note_off(l, pitch);
    rnn_listen_note_on(l, pitch);
}

int rnn_listen_drum(rnn_listen *l, int pitch)
{
    int c = rnn_drum_class_of_pitch(pitch);
    if (c >= 0) l->drums |= 1u << c;
    return c;
}

/* The melody event of the open step. A pitch struck at or above the highest
 * one still sounding sounded for the step; when it is above, it was released
 * inside the step, and the line moves on from it at the next step. */
static int melody_event(rnn_listen *l)
{
    int ev = RNN_MELODY_NO_EVENT;
    if (l->struck >= 0 && l->struck >= l->top) {
        ev = RNN_MELODY_NOTE_ON(l->struck);
        l->line = l->struck;
    } else if (l->top != l->line) {
        ev = l->top < 0 ? RNN_MELODY_NOTE_OFF : RNN_MELODY_NOTE_ON(l->top);
        l->line = l->top;
    }
    return ev;
}

int rnn_listen_step(rnn_listen *l, rnn_kind kind)
{
    int ev = 0;
    if (kind == RNN_KIND_MELODY)
        ev = melody_event(l);
    else if (kind == RNN_KIND_DRUMS)
        ev = (int)l->drums;
    l->struck = -1;
    l->drums = 0;
    return ev;
}

int rnn_listen_struck(const rnn_listen *l)
{
    return l->struck >= 0 || l->drums != 0;
}

int rnn_listen_sounding(const rnn_listen *l)
{
    return l->sounding;
}

int rnn_listen_line(const rnn_listen *l)
{
    return l->line;
}
