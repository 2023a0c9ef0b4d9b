/* SPDX-License-Identifier: MIT */
/* rnnmidi core: the lookback inputs of a grid step (contract in lookback.h,
 * columns in FORMAT.md). Both histories, the array and the ring, are read
 * through one accessor: the event j steps before the last one, or -1 when
 * the sequence had not started, so the two give the same columns. */
#include "lookback.h"

#include <string.h>

#define RING_CAP (2 * RNN_LOOKBACK_MAX_BAR + 1)

typedef struct {
    const int32_t *ev;
    size_t n;    /* events held */
    size_t last; /* index of the last event (ring: its slot) */
    size_t cap;  /* 0 for an array, else the ring's size */
} history;

static int32_t back(const history *h, size_t j)
{
    if (j >= h->n) return -1;
    if (!h->cap) return h->ev[h->last - j];
    return h->ev[(h->last + h->cap - j) % h->cap];
}

static int32_t in_range(rnn_kind kind, int32_t e)
{
    const int32_t V = kind == RNN_KIND_MELODY ? RNN_MELODY_VOCAB : RNN_DRUMS_VOCAB;
    return e >= 0 && e < V ? e : 0;
}

int rnn_lookback_columns(rnn_kind kind)
{
    if (kind == RNN_KIND_MELODY) return 2 * RNN_MELODY_VOCAB + 2;
    if (kind == RNN_KIND_DRUMS) return 2 * RNN_DRUM_CLASSES + 2;
    return 0;
}

int rnn_lookback_columns_on(rnn_kind kind)
{
    if (kind == RNN_KIND_MELODY) return 4;
    return rnn_lookback_columns(kind);
}

int rnn_lookback_bar_steps(int num, int den, int spq)
{
    if (num < 1 || den < 1 || spq < 1) return 0;
    /* 2 * num * 4 * spq / den rounded half up, in integers: exact for any
     * meter a file or a host gives (num up to 255, den up to 128) */
    const long long twice = 8LL * num * spq;
    const long long b = (twice / den + 1) / 2;
    return b < 1 ? 1 : b > INT32_MAX ? INT32_MAX : (int)b;
}

/* One looked-back event into its block of columns (nothing for none). */
static void put_event(rnn_kind kind, int32_t e, float *block)
{
    if (e < 0) return;
    e = in_range(kind, e);
    if (kind == RNN_KIND_MELODY) {
        block[e] = 1.0f;
    } else {
        for (int d = 0; d < RNN_DRUM_CLASSES; d++)
            block[d] = (float)((e >> d) & 1);
    }
}

static void fill(const history *h, rnn_kind kind, int bar_steps, float *cols)
{
    const int C = rnn_lookback_columns(kind);
    if (!C) return;
    memset(cols, 0, (size_t)C * sizeof(float));
    if (bar_steps < 1 || bar_steps > RNN_LOOKBACK_MAX_BAR || h->n == 0) return;
    const size_t b = (size_t)bar_steps, W = (size_t)(C - 2) / 2;
    /* the step predicted is one after the last: one bar before it is b - 1
     * steps before the last */
    put_event(kind, back(h, b - 1), cols);
    put_event(kind, back(h, 2 * b - 1), cols + W);
    const int32_t last = in_range(kind, back(h, 0)), e1 = back(h, b), e2 = back(h, 2 * b);
    cols[2 * W] = e1 >= 0 && in_range(kind, e1) == last;
    cols[2 * W + 1] = e2 >= 0 && in_range(kind, e2) == last;
}

void rnn_lookback_fill(rnn_kind kind, const int32_t *hist, size_t n, int bar_steps, float *cols)
{
    const history h = {hist, n, n ? n - 1 : 0, 0};
    fill(&h, kind, bar_steps, cols);
}

void rnn_lookback_clear(rnn_lookback_ring *r)
{
    r->pos = 0;
    r->count = 0;
}

void rnn_lookback_push(rnn_lookback_ring *r, int32_t event)
{
    r->ev[r->pos] = event;
    r->pos = r->pos + 1 == RING_CAP ? 0 : r->pos + 1;
    if (r->count < RING_CAP) r->count++;
}

void rnn_lookback_ring_fill(const rnn_lookback_ring *r, rnn_kind kind, int bar_steps, float *cols)
{
    const size_t cap = RING_CAP, pos = r->pos % cap;
    const history h = {r->ev, r->count > cap ? cap : r->count, (pos + cap - 1) % cap, cap};
    fill(&h, kind, bar_steps, cols);
}
