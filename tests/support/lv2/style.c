/* SPDX-License-Identifier: MIT */
/* The Learn tests' player (contract in style.h). */
#include "style.h"

#include "../../../core/encoding.h"

typedef struct {
    int at, pitch, len; /* start step in the motif, MIDI pitch, steps; pitch 0 ends */
} note;

static const note motifs[4][5] = {
    {{0, 57, 2}, {2, 60, 2}, {4, 64, 1}, {5, 62, 3}, {0, 0, 0}},
    {{0, 69, 3}, {3, 67, 1}, {4, 64, 2}, {6, 62, 2}, {0, 0, 0}},
    {{0, 60, 1}, {1, 62, 1}, {2, 64, 2}, {4, 67, 4}, {0, 0, 0}},
    {{0, 64, 2}, {2, 62, 2}, {4, 60, 2}, {6, 57, 1}, {0, 0, 0}},
};

/* The motif of the k-th 8 steps of a phrase: the order is the style. */
static int motif_of(int variant, int k)
{
    return (variant + k + (k >> 2)) & 3;
}

int style_variant(int64_t c)
{
    return (int)(c % 4);
}

void style_events(int variant, int32_t *ev)
{
    const int n = STYLE_PHRASE_STEPS;
    for (int s = 0; s < n; s++)
        ev[s] = 0;
    for (int k = 0; k < n / 8; k++)
        for (const note *m = motifs[motif_of(variant, k)]; m->pitch; m++) {
            const int end = k * 8 + m->at + m->len;
            if (end < n && ev[end] == 0) ev[end] = RNN_MELODY_NOTE_OFF;
        }
    for (int k = 0; k < n / 8; k++)
        for (const note *m = motifs[motif_of(variant, k)]; m->pitch; m++)
            ev[k * 8 + m->at] = RNN_MELODY_NOTE_ON(m->pitch);
}

void style_block(host_plugin *hp, int64_t start, uint32_t frames)
{
    const int64_t t = hp->pos - start, bar = t / STYLE_BAR_FRAMES;
    host_position(hp, 0, 1, 120, bar,
                  (float)(t - bar * STYLE_BAR_FRAMES) / (4.0f * STYLE_STEP_FRAMES));
    const int64_t cycle = (int64_t)STYLE_CYCLE_BARS * STYLE_BAR_FRAMES;
    /* the phrase the block is in, and the next one when it starts inside */
    for (int64_t c = t / cycle; c <= (t + frames) / cycle; c++) {
        const int64_t phrase = start + c * cycle;
        const int variant = style_variant(c);
        for (int k = 0; k < STYLE_PHRASE_STEPS / 8; k++)
            for (const note *m = motifs[motif_of(variant, k)]; m->pitch; m++) {
                const int64_t on = phrase + (int64_t)(k * 8 + m->at) * STYLE_STEP_FRAMES;
                /* the note ends a tenth of a step before its last step does */
                const int64_t off = on + (int64_t)m->len * STYLE_STEP_FRAMES - 600;
                if (on >= hp->pos && on < hp->pos + frames)
                    host_midi(hp, (uint32_t)(on - hp->pos), 0x90, (uint8_t)m->pitch, 90);
                if (off >= hp->pos && off < hp->pos + frames)
                    host_midi(hp, (uint32_t)(off - hp->pos), 0x80, (uint8_t)m->pitch, 0);
            }
    }
}
