/* SPDX-License-Identifier: MIT */
/* rnnmidi core: the recording ring of the player's grid steps (contract in
 * record.h).
 *
 * Step i lives in slot i % capacity. The writer fills the slot of step w
 * (the count written so far), then publishes w + 1 with a release store;
 * while it fills that slot, step w - capacity (which lived there) is being
 * destroyed. So a reader that copied steps [first, first + n) and then
 * reads the count again as w2 (after an acquire fence, so the copy is
 * ordered before it) knows the copy is whole when first >= w2 + 1 -
 * capacity: no slot it read was written to since w2 was published, and
 * none before that held a step other than its own. The slots are read and
 * written with relaxed atomics (a plain copy would be a data race in C11
 * terms), which compile to ordinary loads and stores. */
#include "record.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rnn_rec {
    int cap, columns;
    _Atomic int32_t *event; /* (cap) */
    _Atomic uint32_t *meta; /* (cap) columns on (low 8 bits), bit 8: a phrase starts */
    _Atomic uint16_t *on;   /* (cap, RNN_REC_MAX_ON) the columns on */
    _Atomic uint64_t written, dropped;
    int pending_break; /* writer's own */
    size_t bytes;
};

#define META_START 0x100u

rnn_rec *rnn_rec_create(int capacity, int columns, char *err, size_t errlen)
{
    if (capacity < 1 || capacity > (1 << 24) || columns < 0 || columns > 65535) {
        snprintf(err, errlen, "record: %d steps of %d columns is out of range", capacity, columns);
        return NULL;
    }
    rnn_rec *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "record: out of memory");
        return NULL;
    }
    r->cap = capacity, r->columns = columns;
    r->event = calloc((size_t)capacity, sizeof *r->event);
    r->meta = calloc((size_t)capacity, sizeof *r->meta);
    r->on = calloc((size_t)capacity * RNN_REC_MAX_ON, sizeof *r->on);
    if (!r->event || !r->meta || !r->on) {
        snprintf(err, errlen, "record: out of memory for %d steps", capacity);
        rnn_rec_free(r);
        return NULL;
    }
    r->bytes = sizeof *r + (size_t)capacity * (sizeof *r->event + sizeof *r->meta +
                                               RNN_REC_MAX_ON * sizeof *r->on);
    atomic_init(&r->written, 0);
    atomic_init(&r->dropped, 0);
    r->pending_break = 1;
    return r;
}

void rnn_rec_free(rnn_rec *r)
{
    if (!r) return;
    free((void *)r->event);
    free((void *)r->meta);
    free((void *)r->on);
    free(r);
}

size_t rnn_rec_bytes(const rnn_rec *r)
{
    return r->bytes;
}

int rnn_rec_capacity(const rnn_rec *r)
{
    return r->cap;
}

int rnn_rec_columns(const rnn_rec *r)
{
    return r->columns;
}

int rnn_rec_push(rnn_rec *r, int32_t event, const float *cols)
{
    const uint64_t w = atomic_load_explicit(&r->written, memory_order_relaxed);
    const size_t slot = (size_t)(w % (uint64_t)r->cap);
    _Atomic uint16_t *on = r->on + slot * RNN_REC_MAX_ON;
    unsigned n = 0;
    int cut = 0;
    for (int c = 0; cols && c < r->columns; c++) {
        if (cols[c] == 0.0f) continue;
        if (n == RNN_REC_MAX_ON) {
            cut = 1;
            break;
        }
        atomic_store_explicit(&on[n++], (uint16_t)c, memory_order_relaxed);
    }
    atomic_store_explicit(&r->event[slot], event, memory_order_relaxed);
    atomic_store_explicit(&r->meta[slot], n | (r->pending_break ? META_START : 0u),
                          memory_order_relaxed);
    r->pending_break = 0;
    if (cut)
        atomic_store_explicit(&r->dropped,
                              atomic_load_explicit(&r->dropped, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    atomic_store_explicit(&r->written, w + 1, memory_order_release);
    return cut;
}

void rnn_rec_break(rnn_rec *r)
{
    r->pending_break = 1;
}

uint64_t rnn_rec_written(const rnn_rec *r)
{
    return atomic_load_explicit(&((rnn_rec *)r)->written, memory_order_acquire);
}

uint64_t rnn_rec_dropped(const rnn_rec *r)
{
    return atomic_load_explicit(&((rnn_rec *)r)->dropped, memory_order_relaxed);
}

/* Steps [first, first + n) are still in a ring whose count is w. */
static int held(const rnn_rec *r, uint64_t first, int n, uint64_t w)
{
    return first + (uint64_t)n <= w && first + (uint64_t)r->cap >= w + 1;
}

int rnn_rec_read(const rnn_rec *r, uint64_t first, int n, int32_t *events, float *cols,
                 uint8_t *starts)
{
    rnn_rec *m = (rnn_rec *)r; /* atomics are read through non-const pointers */
    if (n < 0 || n > r->cap) return -1;
    const uint64_t w1 = atomic_load_explicit(&m->written, memory_order_acquire);
    if (!held(r, first, n, w1)) return -1;
    if (cols) memset(cols, 0, (size_t)n * r->columns * sizeof *cols);
    for (int i = 0; i < n; i++) {
        const size_t slot = (size_t)((first + (uint64_t)i) % (uint64_t)r->cap);
        events[i] = atomic_load_explicit(&m->event[slot], memory_order_relaxed);
        const uint32_t meta = atomic_load_explicit(&m->meta[slot], memory_order_relaxed);
        if (starts) starts[i] = (meta & META_START) != 0;
        const unsigned k = meta & 0xFFu;
        for (unsigned j = 0; cols && j < k && j < RNN_REC_MAX_ON; j++) {
            const uint16_t c =
                atomic_load_explicit(&m->on[slot * RNN_REC_MAX_ON + j], memory_order_relaxed);
            if (c < r->columns) cols[(size_t)i * r->columns + c] = 1.0f;
        }
    }
    atomic_thread_fence(memory_order_acquire);
    const uint64_t w2 = atomic_load_explicit(&m->written, memory_order_relaxed);
    return held(r, first, n, w2) ? n : -1;
}
