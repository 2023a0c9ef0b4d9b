/* SPDX-License-Identifier: MIT */
/* Note lists, a renderer, WAV files and a scorer for the detector's tests
 * and benchmark (melody_audio.h). */
#include "melody_audio.h"

#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ma_push(ma_notes *l, ma_note x)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        ma_note *v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return 0;
}

void ma_notes_free(ma_notes *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Read a note list; '#' starts a comment line. Returns 0 or -1. */
int ma_load(const char *path, ma_notes *out)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256];
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        ma_note x = {0, 0, 0, 100};
        int k = sscanf(line, "%lf %lf %d %d", &x.on, &x.off, &x.pitch, &x.velocity);
        if (k < 3 || !(x.off > x.on) || x.pitch < 0 || x.pitch > 127 || ma_push(out, x)) {
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

const char *ma_voice_name(ma_voice v)
{
    static const char *const name[4] = {"sine", "saw", "saw+noise20dB", "voice+noise20dB"};
    return name[v & 3];
}

static double ma_polyblep(double t, double dt)
{
    if (t < dt) {
        t /= dt;
        return t + t - t * t - 1.0;
    }
    if (t > 1.0 - dt) {
        t = (t - 1.0) / dt;
        return t * t + t + t + 1.0;
    }
    return 0.0;
}

/* xorshift64* and Box-Muller: deterministic white Gaussian noise */
double ma_uniform(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return ((*s * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}

static double ma_gauss(uint64_t *s)
{
    double u1 = ma_uniform(s), u2 = ma_uniform(s);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Render notes at rate into a new buffer of *frames samples (1 s of tail).
 * Each note: 5 ms attack (voice: 40 ms), 60 ms decay to 70 %, 20 ms release
 * ending at its offset, peak 0.6 * velocity / 127. Noise (saw+noise, voice):
 * white, SNR in dB against the signal's power while notes sound. */
float *ma_render(const ma_notes *m, ma_voice voice, double rate, double snr_db, uint64_t seed,
                 size_t *frames)
{
    double end = 0.0;
    for (size_t i = 0; i < m->n; i++)
        end = fmax(end, m->v[i].off);
    size_t n = (size_t)((end + 1.0) * rate);
    float *y = calloc(n, sizeof *y);
    if (!y) return NULL;
    double sig_pow = 0.0;
    size_t sig_n = 0;
    for (size_t i = 0; i < m->n; i++) {
        const ma_note *x = &m->v[i];
        double f = 440.0 * pow(2.0, (x->pitch - 69) / 12.0), dt = f / rate;
        double amp = 0.6 * x->velocity / 127.0, dur = x->off - x->on, phase = 0.0;
        size_t a = (size_t)(x->on * rate), b = (size_t)(x->off * rate);
        for (size_t k = a; k < b && k < n; k++) {
            double t = (k - a) / rate, env, att = voice == MA_VOICE ? 0.040 : 0.005;
            if (t < att)
                env = t / att;
            else if (t < att + 0.060)
                env = 1.0 - 0.3 * (t - att) / 0.06;
            else
                env = 0.7;
            if (t > dur - 0.020) env *= fmax(0.0, (dur - t) / 0.020);
            double s = 0.0;
            if (voice == MA_SINE)
                s = sin(2.0 * M_PI * phase);
            else if (voice == MA_VOICE) {
                for (int h = 1; h <= 8 && h * f < 0.45 * rate; h++)
                    s += sin(2.0 * M_PI * h * phase) / (h * h);
                dt = f * pow(2.0, 0.3 / 12.0 * sin(2.0 * M_PI * 5.5 * t)) / rate;
            } else
                s = 2.0 * phase - 1.0 - ma_polyblep(phase, dt);
            phase += dt;
            if (phase >= 1.0) phase -= 1.0;
            double v = amp * env * s;
            y[k] += (float)v;
            sig_pow += v * v;
            sig_n++;
        }
    }
    if ((voice == MA_SAW_NOISE || voice == MA_VOICE) && sig_n) {
        double sd = sqrt(sig_pow / sig_n / pow(10.0, snr_db / 10.0));
        uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
        for (size_t k = 0; k < n; k++)
            y[k] += (float)(sd * ma_gauss(&s));
    }
    *frames = n;
    return y;
}

int ma_write_wav(const char *path, const float *y, size_t n, int rate)
{
    SF_INFO info = {0};
    info.samplerate = rate;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    if (!f) return -1;
    sf_count_t w = sf_writef_float(f, y, (sf_count_t)n);
    return sf_close(f) == 0 && w == (sf_count_t)n ? 0 : -1;
}

/* The same signal on both channels of a 16-bit PCM WAV file. */
int ma_write_wav_stereo16(const char *path, const float *y, size_t n, int rate)
{
    float *st = malloc((2 * n + 1) * sizeof *st);
    if (!st) return -1;
    for (size_t i = 0; i < n; i++)
        st[2 * i] = st[2 * i + 1] = y[i];
    SF_INFO info = {0};
    info.samplerate = rate;
    info.channels = 2;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    if (!f) {
        free(st);
        return -1;
    }
    sf_count_t w = sf_writef_float(f, st, (sf_count_t)n);
    free(st);
    return sf_close(f) == 0 && w == (sf_count_t)n ? 0 : -1;
}

/* Read a file's first channel (any format libsndfile reads). */
float *ma_read_audio(const char *path, size_t *frames, int *rate)
{
    SF_INFO info = {0};
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    if (!f) return NULL;
    size_t n = (size_t)info.frames, ch = (size_t)info.channels;
    float *all = malloc((n * ch + 1) * sizeof *all), *y = malloc((n + 1) * sizeof *y);
    if (!all || !y || sf_readf_float(f, all, info.frames) != info.frames) {
        free(all);
        free(y);
        sf_close(f);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        y[i] = all[i * ch];
    free(all);
    sf_close(f);
    *frames = n;
    *rate = info.samplerate;
    return y;
}

void ma_dets_free(ma_dets *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Collect events of one process call (block starting at frame base) into
 * notes. Returns -1 on an inconsistent stream (a note-on while one sounds,
 * a note-off of another pitch, a frame outside the block). */
int ma_collect(ma_dets *l, int *open, const rnn_detected_note_event *ev, int n, uint64_t base,
               uint32_t frames, double rate)
{
    for (int i = 0; i < n; i++) {
        const rnn_detected_note_event *e = &ev[i];
        if (e->frame >= frames || (i > 0 && e->frame < ev[i - 1].frame)) return -1;
        double t = (double)(base + e->frame) / rate;
        if (e->on) {
            if (*open >= 0 || e->velocity < 1 || e->velocity > 127) return -1;
            if (l->n == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 64;
                ma_det *v = realloc(l->v, cap * sizeof *v);
                if (!v) return -1;
                l->v = v;
                l->cap = cap;
            }
            l->v[l->n] = (ma_det){t, t - e->age / rate, -1.0, e->pitch, e->velocity};
            *open = (int)l->n++;
        } else {
            if (*open < 0 || l->v[*open].pitch != e->pitch) return -1;
            l->v[*open].off = t - e->age / rate;
            *open = -1;
        }
    }
    return 0;
}

/* Run a detector over y in blocks whose sizes cycle through blocks[]
 * (0 allowed), then close a note still open at the end. Returns 0, or -1 on
 * an inconsistent event stream. */
int ma_detect(rnn_detector *d, const float *y, size_t n, const uint32_t *blocks, size_t n_blocks,
              ma_dets *out)
{
    double rate = rnn_detector_sample_rate(d);
    uint32_t maxb = 0;
    for (size_t i = 0; i < n_blocks; i++)
        maxb = blocks[i] > maxb ? blocks[i] : maxb;
    int cap = rnn_detector_max_events(d, maxb);
    rnn_detected_note_event *ev = malloc((size_t)cap * sizeof *ev);
    if (!ev) return -1;
    int open = -1, rc = 0;
    size_t pos = 0, bi = 0;
    while (pos < n && rc == 0) {
        uint32_t b = blocks[bi++ % n_blocks];
        if (b > n - pos) b = (uint32_t)(n - pos);
        int k = rnn_detector_process(d, y + pos, b, ev, cap);
        rc = ma_collect(out, &open, ev, k, pos, b, rate);
        pos += b;
    }
    if (open >= 0) out->v[open].off = (double)n / rate;
    free(ev);
    return rc;
}

int ma_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double ma_median(double *v, size_t n)
{
    if (!n) return NAN;
    qsort(v, n, sizeof *v, ma_cmp_double);
    return n & 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Match each true note, in order, to the unmatched detection of the same
 * pitch whose emission is closest to its onset within tol seconds. When lat
 * and est are given (room for truth->n each), they receive per matched note
 * the latency (emitted - true) and the onset estimate's error, in ms. */
ma_score ma_match(const ma_notes *truth, const ma_dets *det, double tol, double *lat, double *est)
{
    ma_score s = {(int)truth->n, (int)det->n, 0, 0, 0, 0, NAN, NAN};
    char *used = calloc(det->n + 1, 1);
    double *l = calloc(truth->n + 1, sizeof *l), *e = calloc(truth->n + 1, sizeof *e);
    if (!used || !l || !e) {
        free(used);
        free(l);
        free(e);
        return s;
    }
    for (size_t i = 0; i < truth->n; i++) {
        long best = -1;
        double bd = tol;
        for (size_t j = 0; j < det->n; j++) {
            double dt = fabs(det->v[j].emitted - truth->v[i].on);
            if (!used[j] && det->v[j].pitch == truth->v[i].pitch && dt <= bd) {
                bd = dt;
                best = (long)j;
            }
        }
        if (best >= 0) {
            used[best] = 1;
            l[s.matched] = 1000.0 * (det->v[best].emitted - truth->v[i].on);
            e[s.matched] = 1000.0 * (det->v[best].on - truth->v[i].on);
            s.matched++;
        }
    }
    if (lat) memcpy(lat, l, (size_t)s.matched * sizeof *l);
    if (est) memcpy(est, e, (size_t)s.matched * sizeof *e);
    s.precision = s.detected ? (double)s.matched / s.detected : 0.0;
    s.recall = s.truth ? (double)s.matched / s.truth : 0.0;
    s.f1 = s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0;
    s.median_latency_ms = ma_median(l, (size_t)s.matched);
    s.median_est_error_ms = ma_median(e, (size_t)s.matched);
    free(used);
    free(l);
    free(e);
    return s;
}
