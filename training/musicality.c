/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the musicality measure (definitions in musicality.h). */
#include "musicality.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const melody_names[RNN_MUS_MELODY_FEATURES] = {
    "notes_per_bar", "in_key",      "leap_ratio", "pc_entropy",
    "repeated_bars", "longest_run", "chord_tones"};
static const char *const drum_names[RNN_MUS_DRUM_FEATURES] = {
    "hits_per_bar", "consistency", "backbeat", "hat_on_8ths", "repeated_bars"};

int rnn_mus_feature_count(rnn_kind kind)
{
    return kind == RNN_KIND_MELODY  ? RNN_MUS_MELODY_FEATURES
           : kind == RNN_KIND_DRUMS ? RNN_MUS_DRUM_FEATURES
                                    : 0;
}

const char *rnn_mus_feature_name(rnn_kind kind, int i)
{
    if (i < 0 || i >= rnn_mus_feature_count(kind)) return NULL;
    return kind == RNN_KIND_MELODY ? melody_names[i] : drum_names[i];
}

int rnn_mus_feature_needs_harmony(rnn_kind kind, int i)
{
    return kind == RNN_KIND_MELODY && i == RNN_MUS_CHORD_TONES;
}

/* Krumhansl & Kessler (1982) key profiles, tonic first. */
static const double kk_major[12] = {6.35, 2.23, 3.48, 2.33, 4.38, 4.09,
                                    2.52, 5.19, 2.39, 3.66, 2.29, 2.88};
static const double kk_minor[12] = {6.33, 2.68, 3.52, 5.38, 2.60, 3.53,
                                    2.54, 4.75, 3.98, 2.69, 3.34, 3.17};
static const int scale_major[12] = {1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1};
static const int scale_minor[12] = {1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0};

static double pearson(const double *x, const double *y, int n)
{
    double mx = 0, my = 0;
    for (int i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= n;
    my /= n;
    double sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : 0;
}

/* Share of the notes counted in pc[] that lie in the scale of the best key. */
static double in_key_share(const double pc[12], double notes)
{
    double best = -2, share = 0;
    for (int minor = 0; minor < 2; minor++)
        for (int tonic = 0; tonic < 12; tonic++) {
            double prof[12];
            const double *kk = minor ? kk_minor : kk_major;
            const int *scale = minor ? scale_minor : scale_major;
            for (int k = 0; k < 12; k++)
                prof[(tonic + k) % 12] = kk[k];
            double r = pearson(pc, prof, 12);
            if (r > best) { /* the first of equals: C major before the rest */
                best = r;
                double in = 0;
                for (int k = 0; k < 12; k++)
                    if (scale[k]) in += pc[(tonic + k) % 12];
                share = in / notes;
            }
        }
    return share;
}

/* repeated_bars of the window of `bar`-step bars at start: the bars with an
 * event of class `struck` or above, and a bar before them in the sequence,
 * that repeat one of the 3 bars before them; NaN without such a bar. */
static double repeated_bars(const int32_t *ev, size_t start, size_t bar, int32_t struck)
{
    double bars = 0, repeats = 0;
    for (size_t b = 0; b < RNN_MUS_WINDOW_BARS; b++) {
        const size_t at = start + b * bar;
        if (at < bar) continue; /* the sequence's first bar has none before it */
        int on = 0;
        for (size_t s = 0; s < bar; s++)
            on |= ev[at + s] >= struck;
        if (!on) continue;
        bars++;
        for (size_t k = 1; k <= 3 && k * bar <= at; k++)
            if (memcmp(ev + at, ev + at - k * bar, bar * sizeof *ev) == 0) {
                repeats++;
                break;
            }
    }
    return bars > 0 ? repeats / bars : NAN;
}

static void melody_window(const int32_t *ev, size_t start, int spq, const uint16_t *harmony,
                          double *out)
{
    const size_t bar = 4 * (size_t)spq, n = RNN_MUS_WINDOW_BARS * bar;
    double pc[12] = {0};
    double notes = 0, intervals = 0, leaps = 0, on_beat = 0, chord = 0;
    int prev = -1, run = 0, longest = 0;
    for (size_t s = start; s < start + n; s++) {
        int32_t e = ev[s];
        if (e < RNN_MELODY_NOTE_ON(0) || e >= RNN_MELODY_VOCAB) continue;
        int p = e - RNN_MELODY_NOTE_ON(0);
        notes++;
        pc[p % 12]++;
        if (prev >= 0) {
            intervals++;
            leaps += abs(p - prev) > 5;
        }
        run = p == prev ? run + 1 : 1;
        if (run > longest) longest = run;
        prev = p;
        if (harmony && (s - start) % (size_t)spq == 0 && harmony[s]) {
            on_beat++;
            chord += harmony[s] >> (p % 12) & 1;
        }
    }
    out[RNN_MUS_NOTES_PER_BAR] = notes / RNN_MUS_WINDOW_BARS;
    out[RNN_MUS_IN_KEY] = notes > 0 ? in_key_share(pc, notes) : NAN;
    out[RNN_MUS_LEAP_RATIO] = intervals > 0 ? leaps / intervals : NAN;
    double h = 0;
    for (int k = 0; k < 12; k++)
        if (pc[k] > 0) h -= pc[k] / notes * log2(pc[k] / notes);
    out[RNN_MUS_PC_ENTROPY] = notes > 0 ? h : NAN;
    out[RNN_MUS_REPEATED_BARS] = repeated_bars(ev, start, bar, RNN_MELODY_NOTE_ON(0));
    out[RNN_MUS_LONGEST_RUN] = notes > 0 ? longest : NAN;
    out[RNN_MUS_CHORD_TONES] = on_beat > 0 ? chord / on_beat : NAN;
}

enum { SNARE = 1, CLOSED_HAT = 2, OPEN_HAT = 3, RIDE = 8 };

static double popcount9(int32_t e)
{
    double c = 0;
    for (int k = 0; k < RNN_DRUM_CLASSES; k++)
        c += e >> k & 1;
    return c;
}

static void drum_window(const int32_t *ev, size_t start, int spq, double *out)
{
    const size_t bar = 4 * (size_t)spq, n = RNN_MUS_WINDOW_BARS * bar;
    double hits = 0, snares = 0, backbeat = 0, hats = 0, hats8 = 0;
    for (size_t s = start; s < start + n; s++) {
        int32_t e = ev[s] > 0 && ev[s] < RNN_DRUMS_VOCAB ? ev[s] : 0;
        const size_t at = (s - start) % bar;
        hits += popcount9(e);
        if (e >> SNARE & 1) {
            snares++;
            backbeat += at == (size_t)spq || at == 3 * (size_t)spq;
        }
        double h = (e >> CLOSED_HAT & 1) + (e >> OPEN_HAT & 1) + (e >> RIDE & 1);
        hats += h;
        if (2 * at % (size_t)spq == 0) hats8 += h;
    }
    double pairs = 0, jaccard = 0;
    for (size_t b = 1; b < RNN_MUS_WINDOW_BARS; b++) {
        double both = 0, either = 0;
        for (size_t s = 0; s < bar; s++) {
            int32_t x = ev[start + (b - 1) * bar + s], y = ev[start + b * bar + s];
            both += popcount9(x & y & (RNN_DRUMS_VOCAB - 1));
            either += popcount9((x | y) & (RNN_DRUMS_VOCAB - 1));
        }
        if (either > 0) {
            pairs++;
            jaccard += both / either;
        }
    }
    out[RNN_MUS_HITS_PER_BAR] = hits / RNN_MUS_WINDOW_BARS;
    out[RNN_MUS_CONSISTENCY] = pairs > 0 ? jaccard / pairs : NAN;
    out[RNN_MUS_BACKBEAT] = snares > 0 ? backbeat / snares : NAN;
    out[RNN_MUS_HAT_ON_8THS] = hats > 0 ? hats8 / hats : NAN;
    out[RNN_MUS_DRUM_REPEATED_BARS] = repeated_bars(ev, start, bar, 1);
}

int rnn_mus_window(rnn_kind kind, const int32_t *events, size_t len, size_t start, int spq,
                   const uint16_t *harmony, double *out)
{
    if (spq < 1 || spq > 96 || !events || !out || rnn_mus_feature_count(kind) == 0) return -1;
    const size_t n = RNN_MUS_WINDOW_BARS * 4 * (size_t)spq;
    if (start > len || len - start < n) return -1;
    if (kind == RNN_KIND_MELODY)
        melody_window(events, start, spq, harmony, out);
    else
        drum_window(events, start, spq, out);
    return 0;
}

void rnn_mus_set_init(rnn_mus_set *set, rnn_kind kind, int spq)
{
    memset(set, 0, sizeof *set);
    set->kind = kind;
    set->spq = spq;
}

static int push_value(rnn_mus_set *set, int i, double v)
{
    if (set->count[i] == set->cap[i]) {
        size_t c = set->cap[i] ? 2 * set->cap[i] : 256;
        double *q = realloc(set->values[i], c * sizeof *q);
        if (!q) return -1;
        set->values[i] = q;
        set->cap[i] = c;
    }
    set->values[i][set->count[i]++] = v;
    return 0;
}

long rnn_mus_set_add(rnn_mus_set *set, const int32_t *events, size_t len, size_t first_bar,
                     const unsigned char *ok_bar, const uint16_t *harmony)
{
    const size_t bar = 4 * (size_t)set->spq, n = RNN_MUS_WINDOW_BARS * bar;
    const int nf = rnn_mus_feature_count(set->kind);
    long added = 0;
    for (size_t w = first_bar, b = 0; w <= len && len - w >= n; w += n, b += RNN_MUS_WINDOW_BARS) {
        int ok = 1;
        for (size_t k = 0; ok_bar && k < RNN_MUS_WINDOW_BARS; k++)
            ok = ok && ok_bar[b + k];
        if (!ok) continue;
        double f[RNN_MUS_MAX_FEATURES];
        if (rnn_mus_window(set->kind, events, len, w, set->spq, harmony, f)) return -1;
        for (int i = 0; i < nf; i++)
            if (!isnan(f[i]) && push_value(set, i, f[i])) return -1;
        set->windows++;
        added++;
    }
    return added;
}

double rnn_mus_set_mean(const rnn_mus_set *set, int i)
{
    if (i < 0 || i >= RNN_MUS_MAX_FEATURES || set->count[i] == 0) return NAN;
    double s = 0;
    for (size_t k = 0; k < set->count[i]; k++)
        s += set->values[i][k];
    return s / (double)set->count[i];
}

void rnn_mus_set_free(rnn_mus_set *set)
{
    if (!set) return;
    for (int i = 0; i < RNN_MUS_MAX_FEATURES; i++)
        free(set->values[i]);
    memset(set, 0, sizeof *set);
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* Silverman's bandwidth of a sample (sorted copy made here); 0 when it
 * cannot be had (out of memory is reported as -1). */
static double silverman(const double *x, size_t n)
{
    double *s = malloc(n * sizeof *s);
    if (!s) return -1;
    memcpy(s, x, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    double m = 0, v = 0;
    for (size_t i = 0; i < n; i++)
        m += s[i];
    m /= (double)n;
    for (size_t i = 0; i < n; i++)
        v += (s[i] - m) * (s[i] - m);
    double sd = n > 1 ? sqrt(v / (double)(n - 1)) : 0;
    double iqr = (s[(3 * (n - 1)) / 4] - s[(n - 1) / 4]) / 1.34;
    free(s);
    double spread = iqr > 0 && iqr < sd ? iqr : sd;
    return 0.9 * spread * pow((double)n, -0.2);
}

static double kde(const double *x, size_t n, double bw, double t)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double z = (t - x[i]) / bw;
        if (z > -8 && z < 8) s += exp(-0.5 * z * z);
    }
    return s / ((double)n * bw * sqrt(2 * M_PI));
}

double rnn_mus_overlap(const double *a, size_t na, const double *b, size_t nb)
{
    if (na == 0 || nb == 0) return NAN;
    double lo = a[0], hi = a[0];
    for (size_t i = 0; i < na; i++) {
        lo = fmin(lo, a[i]);
        hi = fmax(hi, a[i]);
    }
    for (size_t i = 0; i < nb; i++) {
        lo = fmin(lo, b[i]);
        hi = fmax(hi, b[i]);
    }
    double floor_bw = fmax(0.01 * (hi - lo), 1e-3);
    double ba = silverman(a, na), bb = silverman(b, nb);
    if (ba < 0 || bb < 0) return NAN;
    ba = fmax(ba, floor_bw);
    bb = fmax(bb, floor_bw);
    const double from = lo - 6 * fmax(ba, bb), to = hi + 6 * fmax(ba, bb);
    const int points = 2001;
    const double dx = (to - from) / (points - 1);
    double area = 0, prev = 0;
    for (int k = 0; k < points; k++) {
        double t = from + dx * k;
        double m = fmin(kde(a, na, ba, t), kde(b, nb, bb, t));
        if (k > 0) area += 0.5 * (m + prev) * dx;
        prev = m;
    }
    return area > 1 ? 1 : area;
}
