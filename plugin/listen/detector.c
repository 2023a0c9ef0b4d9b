/* SPDX-License-Identifier: MIT */
/* rnnmidi listen: the audio note detector (see detector.h for the contract).
 *
 * Per hop: sanitise and DC-block the input, run the onset detector (onset.c)
 * and the pitch tracker (yin.c) on it, keep a short history of (hop end,
 * pitch, level), and step the segmenter. Times inside are absolute frame
 * counts (uint64) since the last reset; events are translated to offsets in
 * the caller's block. */
#include "detector.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onset.h"
#include "yin.h"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define HAVE_MXCSR 1
#endif

#define HIST 32           /* hops of history kept: > 12 (valley window), > pitch window / hop + 9 */
#define UNVOICED (-1.0f)  /* pitch of a hop without a confident pitch */
#define SAMPLE_LIMIT 2.0f /* input beyond this is clipped */
#define DC_CUTOFF_HZ 20.0 /* the DC blocker's corner */
#define PITCH_WINDOW_PART 0.6 /* a pitch window counts once this much of it follows the onset */
/* yin is O(window^2), so it runs on the signal decimated by 2 after a
 * 4th-order Butterworth lowpass at rate / 8: a quarter of the cost, the same
 * window length in time, fundamentals up to rate / 8 untouched. */
#define PITCH_DECIMATION 2
#define PITCH_HYSTERESIS 0.25f /* semitones beyond the half that a held pitch must move */

/* A biquad section, direct form I with a double state, as aubio's biquad
 * filter computes it. */
typedef struct {
    double b0, b1, b2, a1, a2;
    double x1, x2, y1, y2;
} biquad;

typedef struct {
    uint64_t end; /* absolute frame just after the hop */
    float midi;   /* fractional MIDI pitch, or UNVOICED */
    float level;  /* dBFS RMS of the hop */
} hop_info;

struct rnn_detector {
    /* configuration, fixed at create */
    double rate;
    uint32_t hop, onset_win, pitch_win;
    uint32_t onset_delay; /* the onset detector's estimate of its own delay, frames */
    float dc_r;
    double pitch_rate; /* rate / PITCH_DECIMATION, as an integer */

    /* analysis, created at create, used per hop */
    rnn_onset *onset;
    rnn_yin *pitch;   /* runs at rate / PITCH_DECIMATION */
    biquad aa[2];     /* anti-alias lowpass before decimation */
    float *hopbuf;    /* (hop) the hop being filled */
    float *lowpass;   /* (hop) the hop, lowpassed */
    float *decimated; /* (hop / PITCH_DECIMATION) */

    /* thresholds and what they mean in hops */
    rnn_detector_params par;
    int stable_hops;  /* hops a pitch must hold after an onset */
    int release_hops; /* unvoiced hops that end a note */

    /* input stage */
    uint32_t fill;
    float dc_x1, dc_y1;
    uint64_t pos; /* frames consumed since reset */

    /* history, a ring of the last HIST hops */
    hop_info hist[HIST];
    int hist_head, hist_n;

    /* segmenter */
    int note;            /* sounding pitch, -1 none */
    uint64_t note_since; /* when its note-on was emitted */
    int pending;         /* an onset waits for a stable pitch */
    uint64_t pending_onset;
    int pending_hops;
    int unvoiced_hops;
    uint32_t quiet_hops; /* hops in a row below the gate */

    /* a note-off that did not fit in the caller's array */
    int off_pending;
    uint8_t off_pitch;
    uint32_t off_age;

    uint64_t nonfinite, dropped;
};

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen) snprintf(err, errlen, "%s", msg);
}

static float clampf(float x, float lo, float hi)
{
    if (!(x >= lo)) /* also catches NaN */
        return lo;
    return x > hi ? hi : x;
}

static int clampi(int x, int lo, int hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

static uint32_t pow2_at_least(double x)
{
    uint32_t p = 1;
    while ((double)p < x)
        p <<= 1;
    return p;
}

void rnn_detected_to_midi(const rnn_detected_note_event *e, int channel, uint8_t msg[3])
{
    uint8_t ch = (uint8_t)clampi(channel, 0, 15);
    msg[0] = (uint8_t)((e->on ? 0x90 : 0x80) | ch);
    msg[1] = e->pitch & 0x7f;
    msg[2] = e->on ? (uint8_t)clampi(e->velocity, 1, 127) : 0;
}

void rnn_detector_default_params(rnn_detector_params *p)
{
    p->onset_threshold = 0.3f;
    p->gate_db = -50.0f;
    p->min_confidence = 0.6f;
    p->min_note_ms = 10.0f;
    p->release_ms = 40.0f;
    p->retrigger_db = 6.0f;
    p->median_hops = 5;
    p->min_pitch = 21;
    p->max_pitch = 108;
}

void rnn_detector_set_params(rnn_detector *d, const rnn_detector_params *p)
{
    rnn_detector_params q = *p;
    q.onset_threshold = clampf(q.onset_threshold, 0.01f, 2.0f);
    q.gate_db = clampf(q.gate_db, -90.0f, -10.0f);
    q.min_confidence = clampf(q.min_confidence, 0.0f, 1.0f);
    q.min_note_ms = clampf(q.min_note_ms, 0.0f, 100.0f);
    q.release_ms = clampf(q.release_ms, 5.0f, 500.0f);
    q.retrigger_db = clampf(q.retrigger_db, 0.0f, 40.0f);
    q.median_hops = clampi(q.median_hops, 1, 9) | 1;
    q.min_pitch = clampi(q.min_pitch, 0, 127);
    q.max_pitch = clampi(q.max_pitch, q.min_pitch, 127);
    d->par = q;

    double hop_ms = 1000.0 * d->hop / d->rate;
    d->stable_hops = clampi((int)lround(q.min_note_ms / hop_ms), 1, 16);
    d->release_hops = clampi((int)lround(q.release_ms / hop_ms), 1, 1000);
    rnn_onset_set_threshold(d->onset, q.onset_threshold);
    rnn_onset_set_silence(d->onset, q.gate_db);
}

void rnn_detector_get_params(const rnn_detector *d, rnn_detector_params *p)
{
    *p = d->par;
}

rnn_detector *rnn_detector_create(double sample_rate, int max_block, char *err, size_t errlen)
{
    if (!(sample_rate >= RNN_DETECTOR_MIN_RATE && sample_rate <= RNN_DETECTOR_MAX_RATE)) {
        set_err(err, errlen, "detector: sample rate must be 8000..192000 Hz");
        return NULL;
    }
    if (max_block < 0) {
        set_err(err, errlen, "detector: max_block must not be negative");
        return NULL;
    }
    rnn_detector *d = calloc(1, sizeof *d);
    if (!d) {
        set_err(err, errlen, "detector: out of memory");
        return NULL;
    }
    d->rate = sample_rate;
    /* ~5.3 ms hops: 256 frames at 44.1 and 48 kHz */
    d->hop = pow2_at_least(sample_rate * 0.004);
    /* the onset window: 4 hops; the pitch window also holds two periods of 100 Hz */
    d->onset_win = 4 * d->hop;
    d->pitch_win = pow2_at_least(fmax(4.0 * d->hop, 2.0 * sample_rate / 100.0));
    d->dc_r = (float)(1.0 - 2.0 * M_PI * DC_CUTOFF_HZ / sample_rate);

    long rate = lround(sample_rate);
    d->pitch_rate = (double)(rate / PITCH_DECIMATION);
    /* aubio's specflux onset without its adaptive whitening, which remembers
     * spectral peaks for ~100 s that an audio-safe reset could not clear */
    d->onset = rnn_onset_create(d->onset_win, d->hop, (double)rate);
    d->pitch = rnn_yin_create(d->pitch_win / PITCH_DECIMATION);
    /* RBJ lowpass sections with the Q of a 4th-order Butterworth */
    static const double q[2] = {0.5411961, 1.3065630};
    double w0 = 2.0 * M_PI / 8.0, cw = cos(w0);
    for (int i = 0; i < 2; i++) {
        double alpha = sin(w0) / (2.0 * q[i]), a0 = 1.0 + alpha;
        d->aa[i] = (biquad){.b0 = (1.0 - cw) / 2.0 / a0,
                            .b1 = (1.0 - cw) / a0,
                            .b2 = (1.0 - cw) / 2.0 / a0,
                            .a1 = -2.0 * cw / a0,
                            .a2 = (1.0 - alpha) / a0};
    }
    d->hopbuf = calloc(d->hop, sizeof *d->hopbuf);
    d->lowpass = calloc(d->hop, sizeof *d->lowpass);
    d->decimated = calloc(d->hop / PITCH_DECIMATION, sizeof *d->decimated);
    if (!d->onset || !d->pitch || !d->hopbuf || !d->lowpass || !d->decimated) {
        set_err(err, errlen, "detector: out of memory for the onset/pitch analysis");
        rnn_detector_free(d);
        return NULL;
    }
    d->onset_delay = rnn_onset_delay(d->onset);
    rnn_onset_set_minioi_ms(d->onset, 50.0);

    rnn_detector_params p;
    rnn_detector_default_params(&p);
    rnn_detector_set_params(d, &p);
    rnn_detector_reset(d);
    return d;
}

void rnn_detector_free(rnn_detector *d)
{
    if (!d) return;
    rnn_onset_free(d->onset);
    rnn_yin_free(d->pitch);
    free(d->hopbuf);
    free(d->lowpass);
    free(d->decimated);
    free(d);
}

void rnn_detector_reset(rnn_detector *d)
{
    rnn_onset_reset(d->onset);
    rnn_yin_reset(d->pitch);
    for (int i = 0; i < 2; i++)
        d->aa[i].x1 = d->aa[i].x2 = d->aa[i].y1 = d->aa[i].y2 = 0.0;
    d->fill = 0;
    d->dc_x1 = d->dc_y1 = 0.0f;
    d->pos = 0;
    d->hist_head = d->hist_n = 0;
    d->note = -1;
    d->note_since = 0;
    d->pending = 0;
    d->pending_onset = 0;
    d->pending_hops = 0;
    d->unvoiced_hops = 0;
    d->quiet_hops = 0;
    d->off_pending = 0;
    d->nonfinite = d->dropped = 0;
}

/* ---- history ---------------------------------------------------------- */

static const hop_info *hist_back(const rnn_detector *d, int k) /* k = 0: newest */
{
    return &d->hist[(d->hist_head - 1 - k + 2 * HIST) % HIST];
}

static void hist_push(rnn_detector *d, uint64_t end, float midi, float level)
{
    d->hist[d->hist_head] = (hop_info){end, midi, level};
    d->hist_head = (d->hist_head + 1) % HIST;
    if (d->hist_n < HIST) d->hist_n++;
}

/* The candidate note: the median of the voiced pitches among the last
 * median_hops hops ending at or after since, rounded to MIDI, when most of
 * those hops are voiced; then it must hold over the last `hold` such hops
 * (each voiced and within a semitone's half plus a margin). -1 otherwise. */
static int candidate(const rnn_detector *d, uint64_t since, int hold, float *median)
{
    float v[9];
    int n = 0, nv = 0;
    for (int k = 0; k < d->hist_n && n < d->par.median_hops; k++) {
        const hop_info *h = hist_back(d, k);
        if (h->end < since) break;
        n++;
        if (h->midi != UNVOICED) v[nv++] = h->midi;
    }
    if (nv == 0 || 2 * nv <= n || n < hold) return -1;
    for (int i = 1; i < nv; i++) /* insertion sort, nv <= 9 */
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            float t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    float med = (nv & 1) ? v[nv / 2] : 0.5f * (v[nv / 2 - 1] + v[nv / 2]);
    int c = (int)lroundf(med);
    if (median) *median = med;
    for (int k = 0; k < hold; k++) {
        const hop_info *h = hist_back(d, k);
        if (h->midi == UNVOICED || fabsf(h->midi - (float)c) > 0.6f) return -1;
    }
    return c;
}

/* Loudest hop since the onset, as a MIDI velocity. */
static uint8_t velocity_since(const rnn_detector *d, uint64_t since)
{
    float peak = -200.0f;
    for (int k = 0; k < d->hist_n; k++) {
        const hop_info *h = hist_back(d, k);
        if (h->end < since && k > 0) break;
        if (h->level > peak) peak = h->level;
    }
    float g = d->par.gate_db;
    float v = 127.0f * (peak - g) / (0.0f - g);
    return (uint8_t)clampi((int)lroundf(clampf(v, 1.0f, 127.0f)), 1, 127);
}

/* The deepest level valley (dB) among the hops ending at or after from: a
 * quiet hop with louder hops both before and after it, measured by the
 * smaller of the fall into it and the rise out of it; *dip gets the end of
 * that quiet hop. A repeated note is re-articulated (its level dips and
 * comes back); a steady tone or a slow attack that merely trips the onset
 * detector has no valley. */
static float valley_since(const rnn_detector *d, uint64_t from, uint64_t *dip)
{
    float peak = -1e9f, lo = 1e9f, lo_depth = 0.0f, best = 0.0f;
    uint64_t lo_end = from;
    for (int k = d->hist_n - 1; k >= 0; k--) { /* oldest first */
        const hop_info *h = hist_back(d, k);
        if (h->end < from) continue;
        if (h->level < lo) {
            lo = h->level;
            lo_end = h->end;
            lo_depth = peak - lo;
        } else {
            float v = fminf(lo_depth, h->level - lo);
            if (v > best) {
                best = v;
                *dip = lo_end;
            }
        }
        if (h->level > peak) peak = h->level;
    }
    return best;
}

/* ---- output ----------------------------------------------------------- */

typedef struct {
    rnn_detected_note_event *out;
    int n, max;
} sink;

static void emit_off(rnn_detector *d, sink *s, uint32_t frame, uint32_t age)
{
    if (d->note < 0) return;
    if (s->n < s->max)
        s->out[s->n++] = (rnn_detected_note_event){frame, age, 0, (uint8_t)d->note, 0};
    else {
        d->off_pending = 1;
        d->off_pitch = (uint8_t)d->note;
        d->off_age = age;
    }
    d->note = -1;
}

static void emit_on(rnn_detector *d, sink *s, uint32_t frame, uint64_t onset, int pitch)
{
    if (pitch < d->par.min_pitch || pitch > d->par.max_pitch) return;
    if (s->n >= s->max) {
        d->dropped++;
        return;
    }
    uint64_t now = d->pos;
    uint32_t age = onset < now ? (uint32_t)(now - onset) : 0;
    s->out[s->n++] =
        (rnn_detected_note_event){frame, age, 1, (uint8_t)pitch, velocity_since(d, onset)};
    d->note = pitch;
    d->note_since = d->pos;
    d->unvoiced_hops = 0;
}

/* ---- one hop ---------------------------------------------------------- */

static void biquad_run(biquad *f, float *x, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        const double x0 = fabsf(x[i]) < 2e-42f ? 0.0 : x[i];
        const double y0 =
            f->b0 * x0 + f->b1 * f->x1 - f->a1 * f->y1 + f->b2 * f->x2 - f->a2 * f->y2;
        x[i] = (float)y0;
        f->x2 = f->x1;
        f->x1 = x0;
        f->y2 = f->y1;
        f->y1 = y0;
    }
}

/* The pitch in Hz (0: none) and its confidence, from the decimated hop. */
static float pitch_hz(rnn_detector *d, float *conf)
{
    const uint32_t n = d->hop / PITCH_DECIMATION;
    const float period = rnn_yin_process(d->pitch, d->decimated, n);
    *conf = rnn_yin_confidence(d->pitch);
    float e = 0.0f;
    for (uint32_t i = 0; i < n; i++)
        e += d->decimated[i] * d->decimated[i];
    if (10.0f * log10f(e / (float)n) < d->par.gate_db) return 0.0f;
    return period > 0.0f ? (float)(d->pitch_rate / (double)period) : 0.0f;
}

static void run_hop(rnn_detector *d, sink *s, uint32_t frame)
{
    const float *x = d->hopbuf;
    double ss = 0.0;
    for (uint32_t i = 0; i < d->hop; i++)
        ss += (double)x[i] * x[i];
    float level = (float)(10.0 * log10(ss / d->hop + 1e-20));

    const int onset = rnn_onset_process(d->onset, d->hopbuf) > 0.0f;
    memcpy(d->lowpass, d->hopbuf, d->hop * sizeof *d->lowpass);
    biquad_run(&d->aa[0], d->lowpass, d->hop);
    biquad_run(&d->aa[1], d->lowpass, d->hop);
    for (uint32_t i = 0; i < d->hop / PITCH_DECIMATION; i++)
        d->decimated[i] = d->lowpass[PITCH_DECIMATION * i];
    /* Once the whole pitch window is below the gate, yin (the costliest
     * step, and one whose answer is discarded there) rests: its window then
     * holds sub-gate signal, as good as the skipped sub-gate hops. */
    int silent = level < d->par.gate_db;
    d->quiet_hops = silent ? d->quiet_hops + 1 : 0;
    float hz = 0.0f, conf = 0.0f;
    if (d->quiet_hops <= d->pitch_win / d->hop) hz = pitch_hz(d, &conf);
    d->pos += d->hop;

    float midi = UNVOICED;
    if (!silent && isfinite(hz) && hz > 20.0f && hz < 5000.0f && isfinite(conf) &&
        conf >= d->par.min_confidence)
        midi = 69.0f + 12.0f * log2f(hz / 440.0f);
    hist_push(d, d->pos, midi, level);

    if (onset) {
        /* the onset's time, its delay removed, in frames since the reset */
        uint64_t last = rnn_onset_last(d->onset);
        uint64_t age = d->pos > last ? d->pos - last : 0;
        uint64_t max_age = d->onset_delay + 2u * d->hop;
        if (age > max_age) age = max_age;
        d->pending = 1;
        d->pending_onset = d->pos > age ? d->pos - age : 0;
        d->pending_hops = 0;
    }

    if (d->note >= 0) {
        d->unvoiced_hops = midi == UNVOICED ? d->unvoiced_hops + 1 : 0;
        if (silent)
            emit_off(d, s, frame, d->hop);
        else if (d->unvoiced_hops >= d->release_hops)
            emit_off(d, s, frame, (uint32_t)d->unvoiced_hops * d->hop);
    }

    if (d->pending) {
        uint64_t since = d->pending_onset + (uint64_t)(PITCH_WINDOW_PART * d->pitch_win);
        int c = candidate(d, since, d->stable_hops, NULL);
        uint64_t start = d->pending_onset, dip = start;
        if (c >= 0 && c == d->note) {
            /* the same pitch again: a new note only once the level has
             * dipped and risen again inside the sounding note (not in the
             * valley that began it, which precedes its note-on); until then
             * the sounding note goes on */
            uint64_t from = start > 8u * d->hop ? start - 8u * d->hop : 0;
            if (from < d->note_since) from = d->note_since;
            if (valley_since(d, from, &dip) < d->par.retrigger_db) {
                c = -1;
            } else { /* judge the pitch on what follows the dip alone */
                start = dip;
                c = candidate(d, dip + (uint64_t)(PITCH_WINDOW_PART * d->pitch_win), d->stable_hops,
                              NULL);
            }
        }
        if (c >= 0) {
            emit_off(d, s, frame, 0);
            emit_on(d, s, frame, start, c);
            d->pending = 0;
        } else if (++d->pending_hops > (int)(d->pitch_win / d->hop) + d->stable_hops + 8) {
            d->pending = 0; /* an onset without a pitch: noise, a click */
        }
    } else if (!silent) {
        /* a deep level valley inside the sounding note re-articulates it
         * even when the onset detector stays quiet (slow attacks in noise) */
        uint64_t from = d->pos > 12u * d->hop ? d->pos - 12u * d->hop : 0, dip = 0;
        if (from < d->note_since) from = d->note_since;
        if (d->note >= 0 && valley_since(d, from, &dip) >= 2.0f * d->par.retrigger_db) {
            d->pending = 1;
            d->pending_onset = dip;
            d->pending_hops = 0;
        }
        /* a pitch that changes or appears without an onset (legato, soft
         * attacks) must hold a little longer than one after an onset */
        int hold = d->stable_hops + 2;
        float med = 0.0f;
        int c = candidate(d, 0, hold, &med);
        if (c >= 0 && d->note >= 0 && fabsf(med - (float)d->note) < 0.5f + PITCH_HYSTERESIS)
            c = d->note; /* vibrato or a slide around the sounding note */
        if (c >= 0 && c != d->note) {
            uint64_t back = (uint64_t)hold * d->hop + d->pitch_win / 2;
            emit_off(d, s, frame, 0);
            emit_on(d, s, frame, d->pos > back ? d->pos - back : 0, c);
        }
    }
}

int rnn_detector_process(rnn_detector *d, const float *in, uint32_t frames,
                         rnn_detected_note_event *out, int max_out)
{
    sink s = {out, 0, max_out > 0 && out ? max_out : 0};
    if (frames == 0 || !in) return 0;
#ifdef HAVE_MXCSR
    unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040); /* flush denormals to zero, treat them as zero */
#endif
    if (d->off_pending && s.n < s.max) {
        s.out[s.n++] = (rnn_detected_note_event){0, d->off_age, 0, d->off_pitch, 0};
        d->off_pending = 0;
    }
    float *buf = d->hopbuf;
    const float r = d->dc_r;
    for (uint32_t i = 0; i < frames; i++) {
        float x = in[i];
        if (!isfinite(x)) {
            x = 0.0f;
            d->nonfinite++;
        }
        x = x > SAMPLE_LIMIT ? SAMPLE_LIMIT : x < -SAMPLE_LIMIT ? -SAMPLE_LIMIT : x;
        float y = x - d->dc_x1 + r * d->dc_y1;
        d->dc_x1 = x;
        d->dc_y1 = y;
        buf[d->fill++] = y;
        if (d->fill == d->hop) {
            d->fill = 0;
            run_hop(d, &s, i);
        }
    }
#ifdef HAVE_MXCSR
    _mm_setcsr(csr);
#endif
    return s.n;
}

int rnn_detector_max_events(const rnn_detector *d, uint32_t frames)
{
    uint64_t hops = ((uint64_t)frames + d->hop - 1) / d->hop + 1;
    uint64_t n = 2 * hops + 1;
    return n > 0x7fffffff ? 0x7fffffff : (int)n;
}

int rnn_detector_current_pitch(const rnn_detector *d)
{
    return d->note >= 0 ? d->note : d->off_pending ? d->off_pitch : -1;
}
uint32_t rnn_detector_hop_size(const rnn_detector *d)
{
    return d->hop;
}
uint32_t rnn_detector_onset_window(const rnn_detector *d)
{
    return d->onset_win;
}
uint32_t rnn_detector_pitch_window(const rnn_detector *d)
{
    return d->pitch_win;
}
uint32_t rnn_detector_pitch_decimation(const rnn_detector *d)
{
    (void)d;
    return PITCH_DECIMATION;
}
double rnn_detector_sample_rate(const rnn_detector *d)
{
    return d->rate;
}
uint64_t rnn_detector_nonfinite_samples(const rnn_detector *d)
{
    return d->nonfinite;
}
uint64_t rnn_detector_dropped_events(const rnn_detector *d)
{
    return d->dropped;
}
