/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the attention picture (contract in attnplot.h). */
#include "attnplot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/png.h"

/* Layout in pixels. */
#define MARGIN 12
#define GAP 10
#define PITCH_ROW 4 /* one semitone */
#define LANE 8      /* one drum class */
#define MAX_WIDTH 8000
#define MAX_HEAT 384 /* the lower panel's height at most */

/* Colours, 0xRRGGBB. */
#define C_BG 0x17181eu
#define C_PANEL 0x1f2129u
#define C_C_ROW 0x2a2d38u
#define C_BEAT 0x2e313bu
#define C_BAR 0x5a6075u
#define C_BAR_LAG 0x3a3f4eu
#define C_NOTE 0xf29a3au
#define C_HEAT 0xffb347u

typedef struct {
    unsigned char *px;
    int w, h;
} canvas;

static void fill(canvas *c, int x, int y, int w, int h, uint32_t col)
{
    for (int j = y < 0 ? 0 : y; j < y + h && j < c->h; j++)
        for (int i = x < 0 ? 0 : x; i < x + w && i < c->w; i++) {
            unsigned char *q = c->px + ((size_t)j * (size_t)c->w + (size_t)i) * 3;
            q[0] = (unsigned char)(col >> 16);
            q[1] = (unsigned char)(col >> 8);
            q[2] = (unsigned char)col;
        }
}

/* a mixed with b by t in 0..1 */
static uint32_t mix(uint32_t a, uint32_t b, double t)
{
    uint32_t out = 0;
    for (int s = 0; s < 24; s += 8) {
        const double x = (double)(a >> s & 255), y = (double)(b >> s & 255);
        out |= (uint32_t)lround(x + (y - x) * t) << s;
    }
    return out;
}

/* The passage's notes in steps, and their pitch span (melody). */
typedef struct {
    rnn_note *notes;
    size_t n;
    int lo, hi;
} roll;

static int roll_make(const rnn_attn_picture *p, roll *r)
{
    r->n = rnn_decode(p->kind, p->events, p->T, 0, 100, NULL, 0);
    r->notes = malloc((r->n ? r->n : 1) * sizeof *r->notes);
    if (!r->notes) return -1;
    rnn_decode(p->kind, p->events, p->T, 0, 100, r->notes, r->n);
    r->lo = 60;
    r->hi = 71;
    for (size_t i = 0; i < r->n && p->kind == RNN_KIND_MELODY; i++) {
        if (i == 0 || r->notes[i].pitch < r->lo) r->lo = r->notes[i].pitch;
        if (i == 0 || r->notes[i].pitch > r->hi) r->hi = r->notes[i].pitch;
    }
    if (r->hi - r->lo < 11) r->hi = r->lo + 11; /* an octave at least */
    return 0;
}

static void plan(const rnn_attn_picture *p, const roll *r, rnn_attn_geometry *g)
{
    g->cell = (MAX_WIDTH - 2 * MARGIN) / (int)(p->T > 0 ? p->T : 1);
    if (g->cell > 6) g->cell = 6;
    if (g->cell < 1) g->cell = 1;
    g->left = MARGIN;
    g->w = 2 * MARGIN + g->cell * (int)p->T;
    g->roll_top = MARGIN;
    g->roll_h =
        p->kind == RNN_KIND_MELODY ? (r->hi - r->lo + 1) * PITCH_ROW : RNN_DRUM_CLASSES * LANE;
    g->row = MAX_HEAT / p->n;
    if (g->row > 8) g->row = 8;
    if (g->row < 1) g->row = 1;
    g->heat_top = g->roll_top + g->roll_h + GAP;
    g->h = g->heat_top + g->row * p->n + MARGIN;
}

/* Bar and beat lines over [top, top + h). */
static void grid(canvas *c, const rnn_attn_picture *p, const rnn_attn_geometry *g, int top, int h)
{
    for (size_t t = 0; t <= p->T; t++) {
        const int x = g->left + g->cell * (int)t;
        if (t % (size_t)p->steps_per_bar == 0)
            fill(c, x, top, 1, h, C_BAR);
        else if (t % (size_t)p->steps_per_beat == 0)
            fill(c, x, top, 1, h, C_BEAT);
    }
}

static void draw_roll(canvas *c, const rnn_attn_picture *p, const roll *r,
                      const rnn_attn_geometry *g)
{
    const int width = g->cell * (int)p->T;
    fill(c, g->left, g->roll_top, width, g->roll_h, C_PANEL);
    if (p->kind == RNN_KIND_MELODY) {
        for (int q = r->lo; q <= r->hi; q++)
            if (q % 12 == 0)
                fill(c, g->left, g->roll_top + (r->hi - q) * PITCH_ROW, width, PITCH_ROW, C_C_ROW);
    } else {
        for (int k = 1; k < RNN_DRUM_CLASSES; k += 2)
            fill(c, g->left, g->roll_top + k * LANE, width, LANE, C_C_ROW);
    }
    grid(c, p, g, g->roll_top, g->roll_h);
    for (size_t i = 0; i < r->n; i++) {
        const rnn_note *nt = &r->notes[i];
        const int x = g->left + g->cell * (int)nt->on;
        int len = g->cell * (int)(nt->off - nt->on);
        if (len < 2) len = 2;
        if (p->kind == RNN_KIND_MELODY)
            fill(c, x, g->roll_top + (r->hi - nt->pitch) * PITCH_ROW, len - 1, PITCH_ROW - 1,
                 C_NOTE);
        else
            fill(c, x, g->roll_top + rnn_drum_class_of_pitch(nt->pitch) * LANE + 1,
                 g->cell > 2 ? g->cell - 1 : g->cell, LANE - 2, C_NOTE);
    }
}

static void draw_heat(canvas *c, const rnn_attn_picture *p, const rnn_attn_geometry *g)
{
    const int width = g->cell * (int)p->T, n = p->n;
    fill(c, g->left, g->heat_top, width, g->row * n, C_PANEL);
    float top = 0;
    for (size_t i = 0; i < p->T * (size_t)n; i++)
        if (p->weights[i] > top) top = p->weights[i];
    for (size_t t = 0; t < p->T; t++)
        for (int lag = 1; lag <= n; lag++) {
            const float wgt = p->weights[t * (size_t)n + (size_t)(n - lag)];
            if (!(wgt > 0) || !(top > 0)) continue;
            /* a square root, so that a weight spread over a few steps still shows */
            const double v = sqrt(wgt / top);
            fill(c, g->left + g->cell * (int)t, g->heat_top + (lag - 1) * g->row, g->cell, g->row,
                 mix(C_PANEL, C_HEAT, v));
        }
    for (int lag = p->steps_per_bar; lag <= n; lag += p->steps_per_bar)
        fill(c, g->left, g->heat_top + lag * g->row - 1, width, 1, C_BAR_LAG);
    grid(c, p, g, g->heat_top, g->row * n);
}

unsigned char *rnn_attn_picture_raster(const rnn_attn_picture *p, rnn_attn_geometry *g)
{
    if (!p || !p->events || !p->weights || p->T < 1 || p->T > MAX_WIDTH || p->n < 1 ||
        p->n > 1024 || p->steps_per_beat < 1 || p->steps_per_bar < 1)
        return NULL;
    roll r;
    if (roll_make(p, &r) != 0) return NULL;
    plan(p, &r, g);
    canvas c = {malloc((size_t)g->w * (size_t)g->h * 3), g->w, g->h};
    if (c.px) {
        fill(&c, 0, 0, c.w, c.h, C_BG);
        draw_roll(&c, p, &r, g);
        draw_heat(&c, p, g);
    }
    free(r.notes);
    return c.px;
}

int rnn_attn_picture_png(const char *path, const rnn_attn_picture *p, char *err, size_t errlen)
{
    rnn_attn_geometry g;
    unsigned char *px = rnn_attn_picture_raster(p, &g);
    if (!px) {
        snprintf(err, errlen, "%s: out of memory drawing the attention picture", path);
        return -1;
    }
    int rc = rnn_png_write(path, px, g.w, g.h, err, errlen);
    free(px);
    return rc;
}
