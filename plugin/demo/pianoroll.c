/* SPDX-License-Identifier: MIT */
/* rnnmidi demo: the piano-roll picture. One drawing routine paints onto a
 * canvas that is either an RGB raster (then saved as PNG by core/png) or an
 * SVG stream; a 5x7 bitmap font labels the raster. */
#include "pianoroll.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/png.h"

/* Layout in pixels. */
#define LEFT 64
#define RIGHT 16
#define TOP 46
#define BOTTOM 26
#define GAP 22
#define ROW 6   /* one semitone */
#define LANE 14 /* one drum class */
#define MAX_WIDTH 8000

/* Colours, 0xRRGGBB. */
#define C_BG 0x17181eu
#define C_WHITE_ROW 0x24262fu
#define C_BLACK_ROW 0x1d1f27u
#define C_LANE_A 0x24262fu
#define C_LANE_B 0x1f2129u
#define C_BEAT 0x2e313bu
#define C_BAR 0x4c5163u
#define C_OCTAVE 0x3f4352u
#define C_TEXT 0xb8bdcbu
#define C_TITLE 0xf2f3f7u

static const uint32_t track_colours[DEMO_ROLL_TRACKS] = {
    0xe0e0e0u, /* 0: live input */
    0x6fa8dcu, /* 1: player / primer */
    0xf6a04du, /* 2: first model */
    0x7fd17fu, /* 3: second model */
    0xd58bd5u, 0xf2d05au, 0x5ad1c8u, 0xe86a6au,
};

static const char *const drum_names[RNN_DRUM_CLASSES] = {
    "KICK", "SNARE", "HH CLOSED", "HH OPEN", "TOM LOW", "TOM MID", "TOM HIGH", "CRASH", "RIDE",
};

/* ---- 5x7 font: rows top to bottom, bit 4 is the leftmost pixel ----------- */

static const char font_chars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-.:/#()=,_+%";
static const uint8_t font_rows[][7] = {
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C},
    {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E},
    {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}, {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C},
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}, {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10},
    {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}, {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11},
    {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C},
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F},
    {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}, {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11},
    {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10},
    {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}, {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11},
    {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}, {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04},
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}, {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11},
    {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}, {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F},
    {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C},
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}, {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00},
    {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}, {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02},
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}, {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00},
    {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}, {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F},
    {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}, {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03},
};

/* ---- canvas ---------------------------------------------------------------- */

typedef struct {
    int w, h;
    unsigned char *px; /* RGB raster, or NULL when drawing SVG */
    FILE *svg;
} canvas;

static void fill(canvas *c, int x, int y, int w, int h, uint32_t col)
{
    if (w <= 0 || h <= 0) return;
    if (c->svg) {
        fprintf(c->svg, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#%06x\"/>\n", x,
                y, w, h, (unsigned)col);
        return;
    }
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > c->w ? c->w : x + w, y1 = y + h > c->h ? c->h : y + h;
    for (int j = y0; j < y1; j++) {
        unsigned char *p = c->px + ((size_t)j * (size_t)c->w + (size_t)x0) * 3;
        for (int i = x0; i < x1; i++, p += 3) {
            p[0] = (unsigned char)(col >> 16);
            p[1] = (unsigned char)(col >> 8);
            p[2] = (unsigned char)col;
        }
    }
}

static int text_width(const char *s, int scale)
{
    return (int)strlen(s) * 6 * scale;
}

/* Text with its top-left corner at (x, y). */
static void text(canvas *c, int x, int y, const char *s, uint32_t col, int scale)
{
    if (c->svg) {
        fprintf(c->svg,
                "<text x=\"%d\" y=\"%d\" fill=\"#%06x\" font-family=\"monospace\" "
                "font-size=\"%d\">",
                x, y + 7 * scale, (unsigned)col, 9 * scale);
        for (const char *p = s; *p; p++) {
            if (*p == '<')
                fputs("&lt;", c->svg);
            else if (*p == '>')
                fputs("&gt;", c->svg);
            else if (*p == '&')
                fputs("&amp;", c->svg);
            else
                fputc(*p, c->svg);
        }
        fputs("</text>\n", c->svg);
        return;
    }
    for (const char *p = s; *p; p++, x += 6 * scale) {
        const char *f = strchr(font_chars, toupper((unsigned char)*p));
        if (!f || !*p) continue;
        const uint8_t *rows = font_rows[f - font_chars];
        for (int r = 0; r < 7; r++)
            for (int b = 0; b < 5; b++)
                if (rows[r] & (0x10 >> b)) fill(c, x + b * scale, y + r * scale, scale, scale, col);
    }
}

static uint32_t mix(uint32_t a, uint32_t b, float t)
{
    uint32_t out = 0;
    for (int sh = 0; sh <= 16; sh += 8) {
        float x = (float)((a >> sh) & 0xFF) * (1.0f - t) + (float)((b >> sh) & 0xFF) * t;
        out |= (uint32_t)(x + 0.5f) << sh;
    }
    return out;
}

static int is_black_key(int pitch)
{
    int pc = pitch % 12;
    return pc == 1 || pc == 3 || pc == 6 || pc == 8 || pc == 10;
}

/* ---- layout ---------------------------------------------------------------- */

typedef struct {
    int w, h;
    int lo, hi; /* pitch range of the melody panel; hi < lo when there is none */
    int mel_top, mel_h;
    int drum_top, drum_h; /* drum_h 0 when there are no drums */
    int64_t end;          /* ticks */
    double px_per_tick;
    int ppq, bpb;
} layout;

static layout plan(const rnn_note *notes, size_t n, const demo_roll_info *info)
{
    layout L;
    memset(&L, 0, sizeof L);
    L.ppq = info->ppq > 0 ? info->ppq : 480;
    L.bpb = info->beats_per_bar > 0 ? info->beats_per_bar : 4;
    int lo = 128, hi = -1, drums = 0;
    int64_t end = 0;
    for (size_t i = 0; i < n; i++) {
        if (notes[i].off > end) end = notes[i].off;
        if (notes[i].on > end) end = notes[i].on;
        if (notes[i].channel == RNN_DRUMS_CHANNEL) {
            drums = 1;
            continue;
        }
        if (notes[i].pitch < lo) lo = notes[i].pitch;
        if (notes[i].pitch > hi) hi = notes[i].pitch;
    }
    /* whole bars of time, whole octaves of pitch (two at least) */
    int64_t bar = (int64_t)L.ppq * L.bpb;
    L.end = end <= 0 ? bar : (end + bar - 1) / bar * bar;
    if (hi >= lo) {
        lo = lo / 12 * 12;
        hi = hi / 12 * 12 + 11;
        while (hi - lo + 1 < 24) {
            if (lo >= 12)
                lo -= 12;
            else
                hi += 12;
        }
        if (hi > 127) hi = 127;
    }
    L.lo = lo, L.hi = hi;
    double quarters = (double)L.end / L.ppq;
    double pxq = 24.0;
    if (quarters * pxq > MAX_WIDTH) pxq = MAX_WIDTH / quarters;
    int min_w = info->min_width > 0 ? info->min_width : 640;
    if (quarters * pxq < min_w) pxq = min_w / quarters;
    L.px_per_tick = pxq / L.ppq;
    L.w = LEFT + (int)(quarters * pxq + 0.5) + RIGHT;
    int y = TOP;
    if (hi >= lo) {
        L.mel_top = y;
        L.mel_h = (hi - lo + 1) * ROW;
        y += L.mel_h + GAP;
    }
    if (drums) {
        L.drum_top = y;
        L.drum_h = RNN_DRUM_CLASSES * LANE;
        y += L.drum_h + GAP;
    }
    if (hi < lo && !drums) y += GAP; /* an empty roll still has an axis */
    L.h = y - GAP + BOTTOM;
    if (L.h < TOP + BOTTOM + 20) L.h = TOP + BOTTOM + 20;
    return L;
}

static int tick_x(const layout *L, int64_t t)
{
    return LEFT + (int)((double)t * L->px_per_tick + 0.5);
}

/* ---- drawing --------------------------------------------------------------- */

static void grid(canvas *c, const layout *L, int top, int h)
{
    int64_t beat = L->ppq, bar = (int64_t)L->ppq * L->bpb;
    int beat_px = (int)(L->px_per_tick * (double)beat);
    for (int64_t t = 0; t <= L->end; t += beat) {
        int x = tick_x(L, t);
        if (t % bar == 0)
            fill(c, x, top, 1, h, C_BAR);
        else if (beat_px >= 6)
            fill(c, x, top, 1, h, C_BEAT);
    }
}

static void draw(canvas *c, const rnn_note *notes, size_t n, const demo_roll_info *info,
                 const layout *L)
{
    char buf[160];
    int right = L->w - RIGHT;
    fill(c, 0, 0, L->w, L->h, C_BG);

    /* caption and legend */
    text(c, 10, 8, info->title ? info->title : "rnnmidi", C_TITLE, 2);
    int lx = 10;
    double seconds = info->bpm > 0 ? (double)L->end / L->ppq * 60.0 / info->bpm : 0.0;
    snprintf(buf, sizeof buf, "%.0f BPM  %d/4  %.1f S", info->bpm, L->bpb, seconds);
    text(c, lx, 30, buf, C_TEXT, 1);
    lx += text_width(buf, 1) + 18;
    int used[DEMO_ROLL_TRACKS] = {0};
    for (size_t i = 0; i < n; i++)
        if (notes[i].track >= 0 && notes[i].track < DEMO_ROLL_TRACKS) used[notes[i].track] = 1;
    for (int t = 0; t < DEMO_ROLL_TRACKS; t++) {
        if (!used[t]) continue;
        const char *name = info->track_names[t];
        if (!name) {
            snprintf(buf, sizeof buf, "TRACK %d", t);
            name = buf;
        }
        fill(c, lx, 30, 10, 7, track_colours[t]);
        text(c, lx + 14, 30, name, C_TEXT, 1);
        lx += 14 + text_width(name, 1) + 16;
    }

    /* melody panel */
    if (L->hi >= L->lo) {
        for (int p = L->lo; p <= L->hi; p++) {
            int y = L->mel_top + (L->hi - p) * ROW;
            fill(c, LEFT, y, right - LEFT, ROW, is_black_key(p) ? C_BLACK_ROW : C_WHITE_ROW);
        }
        grid(c, L, L->mel_top, L->mel_h);
        for (int p = L->lo; p <= L->hi; p++) {
            if (p % 12) continue;
            int y = L->mel_top + (L->hi - p + 1) * ROW - 1; /* bottom edge of the C row */
            fill(c, LEFT, y, right - LEFT, 1, C_OCTAVE);
            snprintf(buf, sizeof buf, "C%d", p / 12 - 1);
            text(c, LEFT - 8 - text_width(buf, 1), y - 6, buf, C_TEXT, 1);
        }
    }
    /* drum panel */
    if (L->drum_h) {
        for (int k = 0; k < RNN_DRUM_CLASSES; k++) {
            int y = L->drum_top + k * LANE;
            fill(c, LEFT, y, right - LEFT, LANE, k % 2 ? C_LANE_B : C_LANE_A);
            int tw = text_width(drum_names[k], 1);
            text(c, LEFT - 6 - tw, y + (LANE - 7) / 2, drum_names[k], C_TEXT, 1);
        }
        grid(c, L, L->drum_top, L->drum_h);
    }

    /* notes: a darker outline around a fill that brightens with velocity */
    int drum_w = (int)(L->px_per_tick * L->ppq / 4.0);
    if (drum_w < 3) drum_w = 3;
    for (size_t i = 0; i < n; i++) {
        const rnn_note *nt = &notes[i];
        uint32_t base =
            track_colours[nt->track >= 0 && nt->track < DEMO_ROLL_TRACKS ? nt->track : 0];
        float v = (float)(nt->velocity < 1 ? 1 : nt->velocity > 127 ? 127 : nt->velocity) / 127.0f;
        uint32_t body = mix(C_BG, base, 0.35f + 0.65f * v);
        uint32_t edge = mix(0x000000u, base, 0.45f);
        int x0 = tick_x(L, nt->on), y, w, h;
        if (nt->channel == RNN_DRUMS_CHANNEL) {
            int k = rnn_drum_class_of_pitch(nt->pitch);
            if (k < 0 || !L->drum_h) continue;
            y = L->drum_top + k * LANE + 2;
            h = LANE - 4;
            w = drum_w;
        } else {
            if (nt->pitch < L->lo || nt->pitch > L->hi) continue;
            y = L->mel_top + (L->hi - nt->pitch) * ROW;
            h = ROW;
            w = tick_x(L, nt->off) - x0;
            if (w < 3) w = 3;
        }
        fill(c, x0, y, w, h, edge);
        fill(c, x0 + 1, y + 1, w - 2, h - 2, body);
    }

    /* bar numbers under the last panel */
    int64_t bar = (int64_t)L->ppq * L->bpb;
    int bar_px = (int)(L->px_per_tick * (double)bar);
    int every = bar_px >= 28 ? 1 : bar_px >= 14 ? 2 : bar_px >= 7 ? 4 : 8;
    int axis_y = L->h - BOTTOM + 6;
    for (int64_t t = 0, b = 1; t < L->end; t += bar, b++) {
        if ((b - 1) % every) continue;
        snprintf(buf, sizeof buf, "%lld", (long long)b);
        text(c, tick_x(L, t) + 2, axis_y, buf, C_TEXT, 1);
    }
    text(c, 10, axis_y, "BAR", C_TEXT, 1);
}

unsigned char *demo_pianoroll_raster(const rnn_note *notes, size_t n, const demo_roll_info *info,
                                     int *w, int *h)
{
    layout L = plan(notes, n, info);
    canvas c = {L.w, L.h, malloc((size_t)L.w * (size_t)L.h * 3), NULL};
    if (!c.px) return NULL;
    draw(&c, notes, n, info, &L);
    *w = L.w;
    *h = L.h;
    return c.px;
}

/* ---- files ----------------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    if (a < b) return 0;
    for (size_t i = 0; i < b; i++)
        if (tolower((unsigned char)s[a - b + i]) != suffix[i]) return 0;
    return 1;
}

int demo_pianoroll_write(const char *path, const rnn_note *notes, size_t n,
                         const demo_roll_info *info, char *err, size_t errlen)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    int rc;
    if (ends_with(path, ".svg")) {
        layout L = plan(notes, n, info);
        canvas c = {L.w, L.h, NULL, f};
        fprintf(f,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                "viewBox=\"0 0 %d %d\" shape-rendering=\"crispEdges\">\n",
                L.w, L.h, L.w, L.h);
        draw(&c, notes, n, info, &L);
        fputs("</svg>\n", f);
        rc = ferror(f) ? -1 : 0;
        if (rc) snprintf(err, errlen, "%s: write error", path);
    } else {
        int w, h;
        unsigned char *px = demo_pianoroll_raster(notes, n, info, &w, &h);
        if (!px) {
            snprintf(err, errlen, "%s: out of memory drawing the piano roll", path);
            fclose(f);
            return -1;
        }
        rc = rnn_png_write_file(f, px, w, h);
        free(px);
        if (rc) snprintf(err, errlen, "%s: write error", path);
    }
    if (fclose(f) != 0 && rc == 0) {
        snprintf(err, errlen, "%s: write error: %s", path, strerror(errno));
        rc = -1;
    }
    return rc;
}
