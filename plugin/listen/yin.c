/* SPDX-License-Identifier: MIT */
/* rnnmidi listen: the YIN pitch tracker (see yin.h). The difference function
 * is summed in float in the order aubio sums it, so that the two agree on
 * the same frames to the last bit or nearly. */
#include "yin.h"

#include <stdlib.h>
#include <string.h>

#define TAUS 8 /* lags whose difference sums run side by side */

struct rnn_yin {
    uint32_t win, len; /* len = win / 2 lags */
    float tol;
    float *buf; /* (win) the last win samples */
    float *d;   /* (len) the normalised difference function */
    uint32_t peak;
};

rnn_yin *rnn_yin_create(uint32_t win)
{
    if (win < 8 || (win & 1)) return NULL;
    rnn_yin *y = calloc(1, sizeof *y);
    if (!y) return NULL;
    y->win = win;
    y->len = win / 2;
    y->tol = 0.15f;
    y->buf = calloc(win, sizeof *y->buf);
    y->d = calloc(y->len, sizeof *y->d);
    if (!y->buf || !y->d) {
        rnn_yin_free(y);
        return NULL;
    }
    return y;
}

void rnn_yin_free(rnn_yin *y)
{
    if (!y) return;
    free(y->buf);
    free(y->d);
    free(y);
}

void rnn_yin_reset(rnn_yin *y)
{
    memset(y->buf, 0, y->win * sizeof *y->buf);
    memset(y->d, 0, y->len * sizeof *y->d);
    y->peak = 0;
}

void rnn_yin_set_tolerance(rnn_yin *y, float tol)
{
    y->tol = tol;
}

/* The vertex of the parabola through d[pos - 1], d[pos], d[pos + 1]. */
static float vertex(const float *d, uint32_t len, uint32_t pos)
{
    if (pos == 0 || pos == len - 1) return (float)pos;
    const float s0 = d[pos - 1], s1 = d[pos], s2 = d[pos + 1];
    return (float)pos + 0.5f * (s0 - s2) / (s0 - 2.0f * s1 + s2);
}

float rnn_yin_process(rnn_yin *y, const float *in, uint32_t n)
{
    if (n > y->win) n = y->win;
    const uint32_t keep = y->win - n, len = y->len;
    memmove(y->buf, y->buf + n, keep * sizeof *y->buf);
    memcpy(y->buf + keep, in, n * sizeof *y->buf);

    const float *x = y->buf;
    float *d = y->d;
    float cum = 0.0f;
    d[0] = 1.0f;
    /* TAUS lags at a time: each lag's sum still runs over j in order (so
     * the values are aubio's to the bit), but the lags' sums are independent
     * and the compiler can compute them side by side */
    for (uint32_t tau0 = 1; tau0 < len; tau0 += TAUS) {
        const uint32_t nb = len - tau0 < TAUS ? len - tau0 : TAUS;
        float s[TAUS] = {0};
        if (nb == TAUS) {
            for (uint32_t j = 0; j < len; j++) {
                const float xj = x[j], *xt = x + j + tau0;
                for (uint32_t k = 0; k < TAUS; k++) {
                    const float t = xj - xt[k];
                    s[k] += t * t;
                }
            }
        } else {
            for (uint32_t j = 0; j < len; j++)
                for (uint32_t k = 0; k < nb; k++) {
                    const float t = x[j] - x[j + tau0 + k];
                    s[k] += t * t;
                }
        }
        for (uint32_t k = 0; k < nb; k++) {
            const uint32_t tau = tau0 + k;
            cum += s[k];
            d[tau] = cum != 0.0f ? s[k] * ((float)tau / cum) : 1.0f;
            /* three lags back: d is known on both sides of it */
            if (tau > 4) {
                const uint32_t p = tau - 3;
                if (d[p] < y->tol && d[p] < d[p + 1]) {
                    y->peak = p;
                    return vertex(d, len, p);
                }
            }
        }
    }
    uint32_t best = 0; /* the last of equal minima, as aubio's */
    float low = d[0];
    for (uint32_t t = 1; t < len; t++)
        if (!(low < d[t])) {
            best = t;
            low = d[t];
        }
    y->peak = best;
    return vertex(d, len, best);
}

float rnn_yin_confidence(const rnn_yin *y)
{
    return 1.0f - y->d[y->peak];
}
