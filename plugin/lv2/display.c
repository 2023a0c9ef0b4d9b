/* SPDX-License-Identifier: MIT */
/* rnnmidi LV2: the inline display (see display.h for the threads, the
 * snapshot and the layout). The audio thread's side records note spans into
 * a ring of atomics under a sequence count; render()'s side copies them
 * out, checks the count, and draws pixels itself with a 3x5 bitmap font:
 * the plugin links no drawing library. */
#include "display.h"

#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "seqlock.h"

#define READ_TRIES 64
#define NAME_WORDS (RNN_DISPLAY_NAME / 8)
#define MAX_GRID_LINES 256

_Static_assert(RNN_DISPLAY_NAME % 8 == 0, "the name is kept in 64-bit words");

typedef struct {
    _Atomic uint64_t start, end;
    _Atomic uint32_t info; /* pitch | who << 8 */
} shared_span;

struct rnn_display {
    /* shared: written by the one writer between an odd and an even seq */
    atomic_uint seq;
    _Atomic uint64_t now, frames_per_bar, beats_per_bar, total;
    _Atomic int64_t bar_origin;
    _Atomic uint32_t mode;
    _Atomic uint64_t name[NAME_WORDS];
    shared_span span[RNN_DISPLAY_SPANS];

    /* the writer's own */
    double rate;
    uint64_t total_w;
    uint64_t open[2][128]; /* index + 1 of the span sounding, 0 when none */
    uint32_t n_open;
    uint64_t last_note;  /* frame of the latest start or end */
    uint64_t last_draw;  /* now at the last draw request */
    int drawn;           /* a draw was requested at all */
    int changed;         /* the header or the grid changed since then */
    double bpm, meter;   /* the host's tempo and beats per bar, 0 until said */
    int64_t origin;      /* a frame where the host's bar begins */
    const void *model_w; /* the model whose name was published */
    char name_w[RNN_DISPLAY_NAME];
    uint64_t fpb_w, bpb_w;
    int64_t origin_w;
    uint32_t mode_w;

    /* render()'s own */
    rnn_display_snapshot snaps[2];
    rnn_display_snapshot *good; /* the last consistent one */
    uint32_t *pixels;
    size_t cap;
    LV2_Inline_Display_Image_Surface surface;
};

/* --------------------------------------------------------------- writer */

#define STORE(field, v) atomic_store_explicit(&(field), (v), memory_order_relaxed)
#define LOAD(field) atomic_load_explicit(&(field), memory_order_relaxed)

rnn_display *rnn_display_create(double rate)
{
    rnn_display *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->rate = rate > 0 ? rate : 48000;
    d->good = &d->snaps[0];
    d->model_w = d; /* no model yet, and its name not yet published */
    /* 120 BPM in 4/4 until the engine says otherwise */
    rnn_display_set(d, 0, d->rate * 2, 4, 0, RNN_MODE_ACCOMPANY, "");
    d->good->frames_per_bar = (uint64_t)(d->rate * 2);
    d->good->beats_per_bar = 4;
    return d;
}

void rnn_display_free(rnn_display *d)
{
    if (!d) return;
    free(d->pixels);
    free(d);
}

/* End the span open at (who, pitch) at frame at; inside a write. */
static void end_span(rnn_display *d, int who, int pitch, uint64_t at)
{
    uint64_t idx = d->open[who][pitch];
    if (!idx) return;
    shared_span *s = &d->span[(idx - 1) % RNN_DISPLAY_SPANS];
    uint64_t start = LOAD(s->start);
    STORE(s->end, at > start ? at : start);
    d->open[who][pitch] = 0;
    d->n_open--;
    d->last_note = at;
}

static void start_span(rnn_display *d, int who, int pitch, uint64_t at)
{
    end_span(d, who, pitch, at);
    uint64_t i = d->total_w;
    shared_span *s = &d->span[i % RNN_DISPLAY_SPANS];
    if (i >= RNN_DISPLAY_SPANS) { /* the oldest span leaves the ring */
        uint32_t info = LOAD(s->info);
        int ow = (info >> 8) & 1, op = info & 127;
        if (d->open[ow][op] == i - RNN_DISPLAY_SPANS + 1) {
            d->open[ow][op] = 0;
            d->n_open--;
        }
    }
    STORE(s->start, at);
    STORE(s->end, RNN_DISPLAY_OPEN);
    STORE(s->info, (uint32_t)pitch | (uint32_t)who << 8);
    d->total_w = i + 1;
    STORE(d->total, d->total_w);
    d->open[who][pitch] = i + 1;
    d->n_open++;
    d->last_note = at;
}

void rnn_display_midi(rnn_display *d, int who, uint64_t at, const uint8_t *msg, uint32_t size)
{
    if (!d || size < 2 || (who != RNN_DISPLAY_PLAYER && who != RNN_DISPLAY_NET)) return;
    int status = msg[0] & 0xf0, key = msg[1] & 127;
    if (size == 3 && status == 0x90 && msg[2] > 0) {
        rnn_seq_write_begin(&d->seq);
        start_span(d, who, key, at);
        rnn_seq_write_end(&d->seq);
    } else if (size == 3 && (status == 0x80 || status == 0x90)) {
        if (!d->open[who][key]) return;
        rnn_seq_write_begin(&d->seq);
        end_span(d, who, key, at);
        rnn_seq_write_end(&d->seq);
    } else if (size == 3 && status == 0xB0 && (msg[1] == 120 || msg[1] == 123)) {
        rnn_seq_write_begin(&d->seq);
        for (int p = 0; p < 128; p++)
            end_span(d, who, p, at);
        rnn_seq_write_end(&d->seq);
    }
}

void rnn_display_all_off(rnn_display *d, uint64_t at)
{
    if (!d || !d->n_open) return;
    rnn_seq_write_begin(&d->seq);
    for (int w = 0; w < 2; w++)
        for (int p = 0; p < 128; p++)
            end_span(d, w, p, at);
    rnn_seq_write_end(&d->seq);
}

void rnn_display_transport(rnn_display *d, uint64_t at, const rnn_transport *t)
{
    if (!d || !t) return;
    if ((t->flags & RNN_TRANSPORT_TEMPO) && isfinite(t->bpm) && t->bpm >= 1 && t->bpm <= 1000)
        d->bpm = t->bpm;
    if ((t->flags & RNN_TRANSPORT_METER) && isfinite(t->beats_per_bar) && t->beats_per_bar >= 1 &&
        t->beats_per_bar <= 64)
        d->meter = t->beats_per_bar;
    if ((t->flags & RNN_TRANSPORT_BBT) && d->bpm > 0 && isfinite(t->bar_beat) &&
        fabs(t->bar_beat) < 1e6)
        d->origin = (int64_t)at - (int64_t)llround(t->bar_beat * d->rate * 60.0 / d->bpm);
}

void rnn_display_set(rnn_display *d, uint64_t now, double frames_per_bar, uint32_t beats_per_bar,
                     int64_t bar_origin, uint32_t mode, const char *name)
{
    if (!d) return;
    uint64_t fpb = isfinite(frames_per_bar) && frames_per_bar >= 1 && frames_per_bar < 1e12
                       ? (uint64_t)llround(frames_per_bar)
                       : (uint64_t)(d->rate * 2);
    uint64_t bpb = beats_per_bar >= 1 && beats_per_bar <= 64 ? beats_per_bar : 4;
    int64_t origin = fpb ? bar_origin % (int64_t)fpb : 0;
    if (!name) name = "";
    int new_name = strncmp(name, d->name_w, RNN_DISPLAY_NAME - 1) != 0;
    if (fpb != d->fpb_w || bpb != d->bpb_w || origin != d->origin_w || mode != d->mode_w ||
        new_name)
        d->changed = 1;

    rnn_seq_write_begin(&d->seq);
    STORE(d->now, now);
    STORE(d->frames_per_bar, fpb);
    STORE(d->beats_per_bar, bpb);
    STORE(d->bar_origin, origin);
    STORE(d->mode, mode);
    if (new_name) {
        memset(d->name_w, 0, sizeof d->name_w);
        for (size_t i = 0; i + 1 < RNN_DISPLAY_NAME && name[i]; i++)
            d->name_w[i] = name[i];
        for (int k = 0; k < NAME_WORDS; k++) {
            uint64_t word;
            memcpy(&word, d->name_w + 8 * k, 8);
            STORE(d->name[k], word);
        }
    }
    rnn_seq_write_end(&d->seq);
    d->fpb_w = fpb;
    d->bpb_w = bpb;
    d->origin_w = origin;
    d->mode_w = mode;
}

/* The name shown for a model: its metadata's name, else its file's. */
static const char *model_name(const rnn_engine_model *em)
{
    if (!em) return "no model";
    const char *name = rnn_model_meta(rnn_engine_model_get(em), "name");
    if (name && name[0]) return name;
    const char *path = rnn_engine_model_path(em), *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int rnn_display_follow(rnn_display *d, uint64_t now, const rnn_engine *e)
{
    if (!d || !e) return 0;
    rnn_engine_stats st;
    rnn_engine_get_stats(e, &st);
    double bpm, meter;
    int64_t origin;
    if (st.host_transport && d->bpm > 0) {
        bpm = d->bpm;
        meter = d->meter > 0 ? d->meter : 4;
        origin = d->origin;
    } else {
        bpm = rnn_engine_get_param(e, RNN_PARAM_TEMPO);
        meter = 4;
        origin = 0;
    }
    if (!(bpm >= 1)) bpm = 120;
    const rnn_engine_model *em = rnn_engine_get_model(e);
    const char *name = em == d->model_w ? d->name_w : model_name(em);
    d->model_w = em;
    uint32_t mode = (uint32_t)rnn_engine_get_param(e, RNN_PARAM_MODE);
    rnn_display_set(d, now, d->rate * 60.0 * meter / bpm, (uint32_t)meter, origin, mode, name);

    /* the roll scrolls while a note sounds or one is still in view */
    uint64_t window = RNN_DISPLAY_BARS * d->fpb_w;
    int moving = d->n_open > 0 || (d->total_w > 0 && now < d->last_note + window);
    int due = !d->drawn || now - d->last_draw >= (uint64_t)(d->rate / RNN_DISPLAY_DRAW_HZ);
    if (!(moving || d->changed) || !due) return 0;
    d->drawn = 1;
    d->changed = 0;
    d->last_draw = now;
    return 1;
}

/* --------------------------------------------------------------- reader */

int rnn_display_read(const rnn_display *cd, rnn_display_snapshot *out)
{
    rnn_display *d = (rnn_display *)cd; /* atomics are only loaded */
    for (int t = 0; t < READ_TRIES; t++) {
        unsigned s1 = rnn_seq_read_begin(&d->seq);
        if (s1 & 1) {
            if (t > READ_TRIES / 2) sched_yield();
            continue;
        }
        out->now = LOAD(d->now);
        out->frames_per_bar = LOAD(d->frames_per_bar);
        out->beats_per_bar = LOAD(d->beats_per_bar);
        out->bar_origin = LOAD(d->bar_origin);
        out->mode = LOAD(d->mode);
        out->total = LOAD(d->total);
        uint64_t first = out->total > RNN_DISPLAY_SPANS ? out->total - RNN_DISPLAY_SPANS : 0;
        out->n = (uint32_t)(out->total - first);
        for (uint32_t i = 0; i < out->n; i++) {
            const shared_span *s = &d->span[(first + i) % RNN_DISPLAY_SPANS];
            uint32_t info = LOAD(s->info);
            out->span[i].start = LOAD(s->start);
            out->span[i].end = LOAD(s->end);
            out->span[i].pitch = (uint8_t)(info & 127);
            out->span[i].who = (uint8_t)((info >> 8) & 1);
        }
        for (int k = 0; k < NAME_WORDS; k++) {
            uint64_t word = LOAD(d->name[k]);
            memcpy(out->name + 8 * k, &word, 8);
        }
        out->name[RNN_DISPLAY_NAME - 1] = 0;
        if (rnn_seq_read_ok(&d->seq, s1)) return 1;
    }
    return 0;
}

/* ----------------------------------------------------------------- draw */

/* A 3x5 font: five rows of three pixels, '#' lit. Letters are drawn in
 * capitals; anything without a glyph is drawn as '?'. */
static const struct {
    char c;
    const char rows[5][4];
} font[] = {
    {' ', {"...", "...", "...", "...", "..."}}, {'A', {".#.", "#.#", "###", "#.#", "#.#"}},
    {'B', {"##.", "#.#", "##.", "#.#", "##."}}, {'C', {".##", "#..", "#..", "#..", ".##"}},
    {'D', {"##.", "#.#", "#.#", "#.#", "##."}}, {'E', {"###", "#..", "##.", "#..", "###"}},
    {'F', {"###", "#..", "##.", "#..", "#.."}}, {'G', {".##", "#..", "#.#", "#.#", ".##"}},
    {'H', {"#.#", "#.#", "###", "#.#", "#.#"}}, {'I', {"###", ".#.", ".#.", ".#.", "###"}},
    {'J', {"..#", "..#", "..#", "#.#", ".#."}}, {'K', {"#.#", "#.#", "##.", "#.#", "#.#"}},
    {'L', {"#..", "#..", "#..", "#..", "###"}}, {'M', {"#.#", "###", "###", "#.#", "#.#"}},
    {'N', {"##.", "#.#", "#.#", "#.#", "#.#"}}, {'O', {".#.", "#.#", "#.#", "#.#", ".#."}},
    {'P', {"##.", "#.#", "##.", "#..", "#.."}}, {'Q', {".#.", "#.#", "#.#", "##.", ".##"}},
    {'R', {"##.", "#.#", "##.", "#.#", "#.#"}}, {'S', {".##", "#..", ".#.", "..#", "##."}},
    {'T', {"###", ".#.", ".#.", ".#.", ".#."}}, {'U', {"#.#", "#.#", "#.#", "#.#", "###"}},
    {'V', {"#.#", "#.#", "#.#", "#.#", ".#."}}, {'W', {"#.#", "#.#", "###", "###", "#.#"}},
    {'X', {"#.#", "#.#", ".#.", "#.#", "#.#"}}, {'Y', {"#.#", "#.#", ".#.", ".#.", ".#."}},
    {'Z', {"###", "..#", ".#.", "#..", "###"}}, {'0', {"###", "#.#", "#.#", "#.#", "###"}},
    {'1', {".#.", "##.", ".#.", ".#.", "###"}}, {'2', {"##.", "..#", ".#.", "#..", "###"}},
    {'3', {"##.", "..#", ".#.", "..#", "##."}}, {'4', {"#.#", "#.#", "###", "..#", "..#"}},
    {'5', {"###", "#..", "##.", "..#", "##."}}, {'6', {".##", "#..", "###", "#.#", "###"}},
    {'7', {"###", "..#", ".#.", ".#.", ".#."}}, {'8', {"###", "#.#", "###", "#.#", "###"}},
    {'9', {"###", "#.#", "###", "..#", "##."}}, {'-', {"...", "...", "###", "...", "..."}},
    {'+', {"...", ".#.", "###", ".#.", "..."}}, {'.', {"...", "...", "...", "...", ".#."}},
    {',', {"...", "...", "...", ".#.", "#.."}}, {'/', {"..#", "..#", ".#.", "#..", "#.."}},
    {'(', {".#.", "#..", "#..", "#..", ".#."}}, {')', {".#.", "..#", "..#", "..#", ".#."}},
    {'_', {"...", "...", "...", "...", "###"}}, {':', {"...", ".#.", "...", ".#.", "..."}},
    {'?', {"##.", "..#", ".#.", "...", ".#."}},
};

static int glyph(char c)
{
    if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    int unknown = 0;
    for (int i = 0; i < (int)(sizeof font / sizeof font[0]); i++) {
        if (font[i].c == c) return i;
        if (font[i].c == '?') unknown = i;
    }
    return unknown;
}

typedef struct {
    uint32_t *px;
    int w, h, stride; /* stride in pixels */
} canvas;

static void fill(const canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb)
{
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > c->w) x1 = c->w;
    if (y1 > c->h) y1 = c->h;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            c->px[(size_t)y * (size_t)c->stride + (size_t)x] = rgb;
}

/* Text from x on the header's baseline; returns the x after it. */
static int text(const canvas *c, int x, int y, int scale, const char *s, uint32_t rgb)
{
    for (; *s && x < c->w; s++) {
        int g = glyph(*s);
        for (int r = 0; r < 5; r++)
            for (int k = 0; k < 3; k++)
                if (font[g].rows[r][k] == '#')
                    fill(c, x + k * scale, y + r * scale, x + (k + 1) * scale, y + (r + 1) * scale,
                         rgb);
        x += 4 * scale;
    }
    return x;
}

/* The column of frame t, kept to -1..w. */
static int column(double t, double t0, double window, int w)
{
    double x = floor((t - t0) * w / window);
    return x < -1 ? -1 : x > w ? w : (int)x;
}

static const char *mode_text(uint32_t mode)
{
    switch (mode) {
    case RNN_MODE_CONTINUE:
        return "continue";
    case RNN_MODE_CALL_RESPONSE:
        return "call+response";
    case RNN_MODE_ACCOMPANY:
        return "accompany";
    default:
        return "?";
    }
}

void rnn_display_draw(const rnn_display_snapshot *s, uint32_t *pixels, int w, int h, int stride)
{
    if (!s || !pixels || w <= 0 || h <= 0 || stride < 4 * w) return;
    canvas c = {pixels, w, h, stride / 4};
    fill(&c, 0, 0, w, h, RNN_DISPLAY_BG_RGB);

    int scale = h >= 96 ? 2 : 1;
    int top = RNN_DISPLAY_HEADER(scale);
    if (h - top < 8) top = 0;
    if (top) {
        int x = text(&c, 2 * scale, scale, scale, mode_text(s->mode), RNN_DISPLAY_MODE_RGB);
        text(&c, x + 4 * scale, scale, scale, s->name, RNN_DISPLAY_NAME_RGB);
    }

    /* time: the last RNN_DISPLAY_BARS bars, now at the right edge */
    double fpb = s->frames_per_bar ? (double)s->frames_per_bar : 96000.0;
    double window = RNN_DISPLAY_BARS * fpb;
    double t0 = (double)s->now - window;
#define XOF(t) column((double)(t), t0, window, w)

    /* beat and bar lines, the beats only when they stand apart */
    uint64_t bpb = s->beats_per_bar ? s->beats_per_bar : 4;
    double beat = fpb / (double)bpb;
    int beats = beat * w / window >= 4;
    double k0 = ceil((t0 - (double)s->bar_origin) / beat);
    for (int i = 0; i < MAX_GRID_LINES; i++) {
        double k = k0 + i, t = (double)s->bar_origin + k * beat;
        if (t > (double)s->now) break;
        int bar = fmod(k, (double)bpb) == 0;
        if (!bar && !beats) continue;
        int x = XOF(t);
        fill(&c, x, top, x + 1, h, bar ? RNN_DISPLAY_BAR_RGB : RNN_DISPLAY_BEAT_RGB);
    }

    /* pitches: those in view, at least RNN_DISPLAY_MIN_PITCHES of them */
    int lo = 128, hi = -1;
    for (uint32_t i = 0; i < s->n; i++) {
        const rnn_display_span *sp = &s->span[i];
        uint64_t end = sp->end == RNN_DISPLAY_OPEN ? s->now : sp->end;
        if (sp->start > s->now || (double)end < t0) continue;
        if (sp->pitch < lo) lo = sp->pitch;
        if (sp->pitch > hi) hi = sp->pitch;
    }
    if (hi < 0) lo = 48, hi = 71;
    if (hi - lo + 1 < RNN_DISPLAY_MIN_PITCHES) {
        int mid = (lo + hi) / 2;
        lo = mid - RNN_DISPLAY_MIN_PITCHES / 2;
        if (lo < 0) lo = 0;
        if (lo > 128 - RNN_DISPLAY_MIN_PITCHES) lo = 128 - RNN_DISPLAY_MIN_PITCHES;
        hi = lo + RNN_DISPLAY_MIN_PITCHES - 1;
    }
    int n = hi - lo + 1, rows = h - top;

    for (int who = 0; who < 2; who++) {
        uint32_t rgb = who == RNN_DISPLAY_PLAYER ? RNN_DISPLAY_PLAYER_RGB : RNN_DISPLAY_NET_RGB;
        for (uint32_t i = 0; i < s->n; i++) {
            const rnn_display_span *sp = &s->span[i];
            if (sp->who != who) continue;
            uint64_t end = sp->end == RNN_DISPLAY_OPEN ? s->now : sp->end;
            if (sp->start > s->now || (double)end < t0) continue;
            int x0 = XOF(sp->start), x1 = XOF(end);
            if (x1 <= x0) x1 = x0 + 1;
            int y0 = top + (hi - sp->pitch) * rows / n, y1 = top + (hi - sp->pitch + 1) * rows / n;
            if (y1 <= y0) y1 = y0 + 1;
            fill(&c, x0, y0, x1, y1, rgb);
        }
    }
#undef XOF
}

LV2_Inline_Display_Image_Surface *rnn_display_render(rnn_display *d, uint32_t w, uint32_t max_h)
{
    if (!d || w == 0 || max_h == 0) return NULL;
    if (w > RNN_DISPLAY_MAX_W) w = RNN_DISPLAY_MAX_W;
    uint32_t h = w / 2 ? w / 2 : 1;
    if (h > max_h) h = max_h;
    if (h > RNN_DISPLAY_MAX_H) h = RNN_DISPLAY_MAX_H;
    size_t need = (size_t)w * h;
    if (need > d->cap) {
        uint32_t *p = realloc(d->pixels, need * sizeof *p);
        if (!p) return NULL;
        d->pixels = p;
        d->cap = need;
    }
    rnn_display_snapshot *spare = d->good == &d->snaps[0] ? &d->snaps[1] : &d->snaps[0];
    if (rnn_display_read(d, spare)) d->good = spare;
    rnn_display_draw(d->good, d->pixels, (int)w, (int)h, (int)(4 * w));
    d->surface.data = (unsigned char *)d->pixels;
    d->surface.width = (int)w;
    d->surface.height = (int)h;
    d->surface.stride = (int)(4 * w);
    return &d->surface;
}
