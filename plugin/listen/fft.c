/* SPDX-License-Identifier: MIT */
/* rnnmidi listen: the real FFT (see fft.h).
 *
 * With m = n / 2 and z[j] = x[2j] + i x[2j+1], Z = FFT_m(z) gives the even
 * and odd half-spectra E[k] = (Z[k] + conj Z[m-k]) / 2 and O[k] = (Z[k] -
 * conj Z[m-k]) / 2i, and X[k] = E[k] + w^k O[k] with w = exp(-2 pi i / n);
 * X[m-k] = conj(E[k] - w^k O[k]), so each pair (k, m-k) is finished in
 * place. The tables are computed in double and stored as float. */
#include "fft.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct rnn_rfft {
    uint32_t n, m;
    uint32_t *rev; /* (m) bit-reversed index */
    float *tw;     /* (m/2, 2) exp(-2 pi i k / m): the complex FFT's twiddles */
    float *split;  /* (m/2 + 1, 2) exp(-2 pi i k / n): the real split's */
};

rnn_rfft *rnn_rfft_create(uint32_t n)
{
    if (n < 4 || n > 65536 || (n & (n - 1))) return NULL;
    rnn_rfft *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->n = n;
    f->m = n / 2;
    f->rev = malloc(f->m * sizeof *f->rev);
    f->tw = malloc(f->m * sizeof *f->tw); /* m/2 complex */
    f->split = malloc((f->m / 2 + 1) * 2 * sizeof *f->split);
    if (!f->rev || !f->tw || !f->split) {
        rnn_rfft_free(f);
        return NULL;
    }
    uint32_t bits = 0;
    while ((1u << bits) < f->m)
        bits++;
    for (uint32_t i = 0; i < f->m; i++) {
        uint32_t r = 0;
        for (uint32_t b = 0; b < bits; b++)
            r |= ((i >> b) & 1u) << (bits - 1 - b);
        f->rev[i] = r;
    }
    for (uint32_t k = 0; k < f->m / 2; k++) {
        double a = -2.0 * M_PI * (double)k / (double)f->m;
        f->tw[2 * k] = (float)cos(a);
        f->tw[2 * k + 1] = (float)sin(a);
    }
    for (uint32_t k = 0; k <= f->m / 2; k++) {
        double a = -2.0 * M_PI * (double)k / (double)n;
        f->split[2 * k] = (float)cos(a);
        f->split[2 * k + 1] = (float)sin(a);
    }
    return f;
}

void rnn_rfft_free(rnn_rfft *f)
{
    if (!f) return;
    free(f->rev);
    free(f->tw);
    free(f->split);
    free(f);
}

uint32_t rnn_rfft_size(const rnn_rfft *f)
{
    return f->n;
}

void rnn_rfft_forward(const rnn_rfft *f, const float *in, float *out)
{
    const uint32_t m = f->m;
    /* pack in bit-reversed order, then radix-2 decimation in time */
    for (uint32_t j = 0; j < m; j++) {
        uint32_t r = f->rev[j];
        out[2 * r] = in[2 * j];
        out[2 * r + 1] = in[2 * j + 1];
    }
    for (uint32_t len = 2; len <= m; len <<= 1) {
        const uint32_t half = len / 2, step = m / len;
        for (uint32_t s = 0; s < m; s += len)
            for (uint32_t k = 0; k < half; k++) {
                const float wr = f->tw[2 * k * step], wi = f->tw[2 * k * step + 1];
                float *a = out + 2 * (s + k), *b = out + 2 * (s + k + half);
                const float tr = b[0] * wr - b[1] * wi, ti = b[0] * wi + b[1] * wr;
                b[0] = a[0] - tr;
                b[1] = a[1] - ti;
                a[0] += tr;
                a[1] += ti;
            }
    }
    /* the split; X[m] goes past Z's m complex values into out[n], out[n+1] */
    const float z0r = out[0], z0i = out[1];
    out[0] = z0r + z0i;
    out[1] = 0.0f;
    out[2 * m] = z0r - z0i;
    out[2 * m + 1] = 0.0f;
    for (uint32_t k = 1; k <= m / 2; k++) {
        float *p = out + 2 * k, *q = out + 2 * (m - k);
        const float ar = p[0], ai = p[1], br = q[0], bi = q[1];
        const float er = 0.5f * (ar + br), ei = 0.5f * (ai - bi);   /* E[k] */
        const float orr = 0.5f * (ai + bi), oi = -0.5f * (ar - br); /* O[k] */
        const float wr = f->split[2 * k], wi = f->split[2 * k + 1];
        const float tr = wr * orr - wi * oi, ti = wr * oi + wi * orr; /* w^k O[k] */
        p[0] = er + tr;
        p[1] = ei + ti;
        q[0] = er - tr;
        q[1] = -(ei - ti);
    }
}
