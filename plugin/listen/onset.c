/* SPDX-License-Identifier: MIT */
/* rnnmidi listen: the spectral-flux onset detector (see onset.h). Sums and
 * the window are float, the smoothing biquad runs in double, as aubio does,
 * so that the decisions match aubio's on the same input. */
#include "onset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fft.h"

#define PP_POST 5 /* the picker's window: PP_POST hops back, PP_PRE ahead */
#define PP_PRE 1
#define PP_LEN (PP_POST + PP_PRE + 1)
#define COMPRESSION 10.0f /* log(1 + COMPRESSION |X|) */

/* The picker's smoothing biquad: aubio 0.4.9's coefficients, feedback a1
 * only (b0, b1, b2, a1). */
static const double PP_B0 = 0.15998789, PP_B1 = 0.31997577, PP_B2 = 0.15998789, PP_A1 = 0.23484048;

struct rnn_onset {
    uint32_t win, hop, bins, delay;
    double rate;
    rnn_rfft *fft;
    float *window; /* (win) periodic Hann */
    float *frame;  /* (win) the last win input samples */
    float *grain;  /* (win) frame under the window */
    float *spec;   /* (win + 2) complex spectrum */
    float *oldmag; /* (bins) last hop's compressed magnitudes */

    float threshold, silence;
    uint64_t minioi;

    float keep[PP_LEN]; /* last flux values, oldest first */
    float peek[3];      /* last thresholded values */
    float desc, thresholded;
    uint64_t total, last; /* frames since reset; last onset, delay included */
};

rnn_onset *rnn_onset_create(uint32_t win, uint32_t hop, double sample_rate)
{
    if (win < 4 || (win & (win - 1)) || hop < 1 || hop > win || !(sample_rate >= 1.0)) return NULL;
    rnn_onset *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->win = win;
    o->hop = hop;
    o->bins = win / 2 + 1;
    o->rate = sample_rate;
    o->delay = (uint32_t)(4.3 * hop);
    o->fft = rnn_rfft_create(win);
    o->window = malloc(win * sizeof *o->window);
    o->frame = calloc(win, sizeof *o->frame);
    o->grain = malloc(win * sizeof *o->grain);
    o->spec = malloc((win + 2) * sizeof *o->spec);
    o->oldmag = calloc(o->bins, sizeof *o->oldmag);
    if (!o->fft || !o->window || !o->frame || !o->grain || !o->spec || !o->oldmag) {
        rnn_onset_free(o);
        return NULL;
    }
    for (uint32_t i = 0; i < win; i++) /* aubio's "hanningz", in its precision */
        o->window[i] = (float)(0.5 * (1.0 - cosf((float)(2.0 * M_PI * i / win))));
    o->threshold = 0.3f;
    o->silence = -70.0f;
    rnn_onset_set_minioi_ms(o, 50.0);
    rnn_onset_reset(o);
    return o;
}

void rnn_onset_free(rnn_onset *o)
{
    if (!o) return;
    rnn_rfft_free(o->fft);
    free(o->window);
    free(o->frame);
    free(o->grain);
    free(o->spec);
    free(o->oldmag);
    free(o);
}

void rnn_onset_reset(rnn_onset *o)
{
    memset(o->frame, 0, o->win * sizeof *o->frame);
    memset(o->oldmag, 0, o->bins * sizeof *o->oldmag);
    memset(o->keep, 0, sizeof o->keep);
    memset(o->peek, 0, sizeof o->peek);
    o->desc = o->thresholded = 0.0f;
    o->total = o->last = 0;
}

void rnn_onset_set_threshold(rnn_onset *o, float threshold)
{
    o->threshold = threshold;
}

void rnn_onset_set_silence(rnn_onset *o, float db)
{
    o->silence = db;
}

void rnn_onset_set_minioi_ms(rnn_onset *o, double ms)
{
    double f = floor(ms / 1000.0 * o->rate + 0.5);
    o->minioi = f > 0.0 ? (uint64_t)f : 0;
}

uint64_t rnn_onset_last(const rnn_onset *o)
{
    return o->last - o->delay;
}

uint32_t rnn_onset_delay(const rnn_onset *o)
{
    return o->delay;
}

float rnn_onset_descriptor(const rnn_onset *o)
{
    return o->desc;
}

float rnn_onset_thresholded(const rnn_onset *o)
{
    return o->thresholded;
}

/* Below the gate: the hop's mean square in dB, as aubio's silence test. */
static int is_silent(const float *x, uint32_t n, float gate_db)
{
    float e = 0.0f;
    for (uint32_t i = 0; i < n; i++)
        e += x[i] * x[i];
    return 10.0f * log10f(e / (float)n) < gate_db;
}

/* One pass of the smoothing biquad over v, from a zero state. */
static void biquad_pass(float *v, int n)
{
    double x1 = 0.0, x2 = 0.0, y1 = 0.0;
    for (int j = 0; j < n; j++) {
        double x0 = fabsf(v[j]) < 2e-42f ? 0.0 : v[j]; /* no denormals */
        double y0 = PP_B0 * x0 + PP_B1 * x1 - PP_A1 * y1 + PP_B2 * x2;
        v[j] = (float)y0;
        x2 = x1;
        x1 = x0;
        y1 = y0;
    }
}

static float median7(const float *v)
{
    float s[PP_LEN];
    memcpy(s, v, sizeof s);
    for (int i = 1; i < PP_LEN; i++)
        for (int j = i; j > 0 && s[j - 1] > s[j]; j--) {
            float t = s[j];
            s[j] = s[j - 1];
            s[j - 1] = t;
        }
    return s[PP_LEN / 2];
}

/* The peak picker: 0 or the peak's place in peek (0..2). */
static float pick(rnn_onset *o, float flux)
{
    memmove(o->keep, o->keep + 1, (PP_LEN - 1) * sizeof *o->keep);
    o->keep[PP_LEN - 1] = flux;
    float proc[PP_LEN], rev[PP_LEN];
    memcpy(proc, o->keep, sizeof proc);
    biquad_pass(proc, PP_LEN); /* forward, then backward: zero phase */
    for (int j = 0; j < PP_LEN; j++)
        rev[PP_LEN - 1 - j] = proc[j];
    biquad_pass(rev, PP_LEN);
    float mean = 0.0f;
    for (int j = 0; j < PP_LEN; j++) {
        proc[j] = rev[PP_LEN - 1 - j];
        mean += proc[j];
    }
    mean /= (float)PP_LEN;
    float median = median7(proc);
    o->peek[0] = o->peek[1];
    o->peek[1] = o->peek[2];
    o->thresholded = proc[PP_POST] - median - mean * o->threshold;
    o->peek[2] = o->thresholded;
    const float s0 = o->peek[0], s1 = o->peek[1], s2 = o->peek[2];
    if (!(s1 > s0 && s1 > s2 && s1 > 0.0f)) return 0.0f;
    return 1.0f + 0.5f * (s0 - s2) / (s0 - 2.0f * s1 + s2);
}

float rnn_onset_process(rnn_onset *o, const float *hop)
{
    const uint32_t win = o->win, keep = win - o->hop;
    memmove(o->frame, o->frame + o->hop, keep * sizeof *o->frame);
    memcpy(o->frame + keep, hop, o->hop * sizeof *o->frame);
    for (uint32_t i = 0; i < win; i++)
        o->grain[i] = o->frame[i] * o->window[i];
    /* aubio rotates the grain by half a window first: a sign per bin, which
     * leaves the magnitudes alone */
    rnn_rfft_forward(o->fft, o->grain, o->spec);
    float flux = 0.0f;
    for (uint32_t k = 0; k < o->bins; k++) {
        const float re = o->spec[2 * k], im = o->spec[2 * k + 1];
        const float mag = logf(COMPRESSION * sqrtf(re * re + im * im) + 1.0f);
        if (mag > o->oldmag[k]) flux += mag - o->oldmag[k];
        o->oldmag[k] = mag;
    }
    o->desc = flux;

    float onset = pick(o, flux);
    if (onset > 0.0f) {
        if (is_silent(hop, o->hop, o->silence)) {
            onset = 0.0f;
        } else {
            uint64_t at = o->total + (uint64_t)floorf(onset * (float)o->hop + 0.5f);
            if (o->last + o->minioi < at) {
                if (o->last > 0 && o->delay > at)
                    onset = 0.0f; /* would precede the start */
                else
                    o->last = at > o->delay ? at : o->delay;
            } else {
                onset = 0.0f; /* too soon after the last one */
            }
        }
    } else if (o->total <= o->delay && !is_silent(hop, o->hop, o->silence) &&
               (o->total == 0 || o->last + o->minioi < o->total)) {
        /* sound from the start: an onset at the start */
        onset = (float)(o->delay / o->hop);
        o->last = o->total + o->delay;
    }
    o->total += o->hop;
    return onset;
}
