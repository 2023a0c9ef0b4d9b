/* SPDX-License-Identifier: MIT */
/* rnnmidi LV2: Learn's thread and its hand-offs with run() (contract in
 * learner.h).
 *
 * Hand-offs, each one atomic pointer with one writer on either side:
 * - the ring: the thread publishes it in `ring`; run() reads it, sets it in
 *   the engine (or none while Learn is not on), then stores what it read
 *   in `ring_seen`. A ring replaced is freed by the thread once run() has
 *   seen its successor, so the engine never writes into a freed ring; until
 *   then no other ring is made.
 * - a learned model: the thread stores its generation, then the model, in
 *   `offer` while `offer` and `back` are empty; run() exchanges it out,
 *   swaps it into the engine when its generation is still the slot's (else
 *   refuses it) and puts the model replaced (or refused) in `back`, which
 *   the thread frees.
 * - controls and status: single atomic words.
 * The thread's own lock (`lock`) guards only the base model's path and the
 * learned copy for save(); run() never takes it. */
#define _GNU_SOURCE /* SCHED_IDLE */
#include "learner.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../../core/learn.h"
#include "../../core/record.h"
#include "ports.h"

#define PATH_CAP 4096
#define BATCH 8      /* windows an update step takes */
#define WINDOW 64    /* steps of a window */
#define STEPS 8      /* AdamW steps an update makes */
#define NEW_BARS 8   /* bars of new material that start an update */
#define HELD_BARS 2  /* the newest bars, held back to validate */
#define RING_QPM 200 /* the ring holds RING_MINUTES at this tempo */
#define RING_MINUTES 20
#define POLL_NS 10000000L /* the thread looks for work every 10 ms */

struct rnnmidi_learner {
    rnn_slot *slot;
    pthread_t thread;
    atomic_int stop;

    /* from the worker and for save(), under lock */
    pthread_mutex_t lock;
    char next_path[PATH_CAP], next_learned[PATH_CAP];
    uint32_t next_gen;
    int next_new;
    char path[PATH_CAP]; /* the base of the learner in use */
    rnn_model *learned;  /* the last kept update, for save(); NULL when none */

    /* run() -> thread */
    atomic_int learn;
    atomic_uint rate_bits;
    atomic_int forget;
    float forget_last; /* run()'s own: the port's value in the last block */

    /* the ring and the models, see above */
    _Atomic(rnn_rec *) ring, ring_seen;
    rnn_rec *ring_used; /* run()'s own: what the engine records into */
    _Atomic(rnn_engine_model *) offer, back;
    atomic_uint offer_gen;

    /* thread -> run() */
    atomic_int refused, busy;
    atomic_int rebuilding; /* a base model waits for its learner */
    _Atomic uint64_t due;  /* the ring's count at which an update is due */
    atomic_long phrases, updates, kept;
    atomic_uint nll0_bits, nll1_bits;

    /* the thread's own */
    rnn_rec *ring_old;
    rnn_learn *ln;
    uint32_t gen;
    int spq, C, cap;
    uint64_t done;    /* the ring's count at the last update */
    uint64_t counted; /* phrases counted up to this step */
    int32_t *ev, *pstart, *in, *tg;
    float *cols, *bcols;
    uint8_t *starts;
    uint64_t rng;
};

static unsigned float_bits(float f)
{
    unsigned u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_float(unsigned u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ---------------------------------------------------------------- windows */

/* Lane b: the window whose last target is step g of the copy (g is not its
 * phrase's first step); targets before count_from are not counted. */
static void lane(rnnmidi_learner *l, int b, int g, int count_from)
{
    const int p = l->pstart[g], C = l->C;
    const int t0 = g - WINDOW > p ? g - WINDOW : p;
    for (int t = 0; t < WINDOW; t++) {
        const int i = t0 + t, ok = i + 1 <= g;
        const size_t r = (size_t)t * BATCH + (size_t)b;
        l->in[r] = ok ? l->ev[i] : 0;
        l->tg[r] = ok && i + 1 >= count_from ? l->ev[i + 1] : -1;
        if (C == 0) continue;
        if (ok)
            memcpy(l->bcols + r * C, l->cols + (size_t)i * C, (size_t)C * sizeof(float));
        else
            memset(l->bcols + r * C, 0, (size_t)C * sizeof(float));
    }
}

static void lane_empty(rnnmidi_learner *l, int b)
{
    for (int t = 0; t < WINDOW; t++) {
        l->in[(size_t)t * BATCH + (size_t)b] = 0;
        l->tg[(size_t)t * BATCH + (size_t)b] = -1;
    }
}

/* The steps [h0, h1) of the copy as the targets of at most BATCH windows,
 * from the newest back (rnnmidi-learn's fill_held). */
static void fill_held(rnnmidi_learner *l, int h0, int h1)
{
    int b = 0, g = h1;
    while (g > h0 && b < BATCH) {
        const int last = g - 1, p = l->pstart[last];
        if (last == p) { /* a phrase's first step is no target */
            g = p;
            continue;
        }
        int from = last + 1 - WINDOW;
        if (from < p + 1) from = p + 1;
        if (from < h0) from = h0;
        lane(l, b++, last, from);
        g = from;
    }
    for (; b < BATCH; b++)
        lane_empty(l, b);
}

/* ----------------------------------------------------------------- models */

static void free_learner(rnnmidi_learner *l)
{
    rnn_learn_free(l->ln);
    l->ln = NULL;
    free(l->ev), free(l->pstart), free(l->in), free(l->tg);
    free(l->cols), free(l->bcols), free(l->starts);
    l->ev = l->pstart = l->in = l->tg = NULL;
    l->cols = l->bcols = NULL;
    l->starts = NULL;
}

/* The weights of a learned model file into the learner, as its accepted
 * ones (the starting weights stay the original's). 0, or -1 when the file
 * is not a learned model of the same shape. */
static int load_learned(rnnmidi_learner *l, const char *learned)
{
    char err[256];
    rnn_model *m = rnn_model_load(learned, err, sizeof err);
    if (!m) return -1;
    const rnn_model_config *a = rnn_model_get_config(m), *b = rnn_learn_config(l->ln);
    rnn_tensor_spec sa[RNN_MAX_TENSORS], sb[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(a, sa);
    int ok = n == rnn_model_tensor_specs(b, sb);
    size_t total = 0;
    for (int i = 0; ok && i < n; i++) {
        ok = !strcmp(sa[i].name, sb[i].name) && sa[i].count == sb[i].count &&
             rnn_model_tensor(m, sa[i].name, NULL);
        total += sa[i].count;
    }
    ok = ok && total == rnn_learn_num_params(l->ln);
    if (ok) {
        float *w = rnn_learn_params(l->ln);
        for (int i = 0; i < n; i++, w += sa[i - 1].count)
            memcpy(w, rnn_model_tensor(m, sa[i].name, NULL), sa[i].count * sizeof *w);
        rnn_learn_accept(l->ln);
    }
    rnn_model_free(m);
    return ok ? 0 : -1;
}

/* The learned weights as a model, named after the original. */
static rnn_model *learned_model(rnnmidi_learner *l)
{
    char err[256], name[256];
    const char *base = strrchr(l->path, '/');
    snprintf(name, sizeof name, "%.200s (learned)", base ? base + 1 : l->path);
    const rnn_meta meta[] = {{"name", name}, {"learned_from", l->path}};
    return rnn_learn_model(l->ln, meta, 2, err, sizeof err);
}

/* Hand a model to run(), of the learner's generation; waits (briefly, at
 * most a few blocks) while run() still holds the last one's hand-off. */
static void offer(rnnmidi_learner *l, rnn_engine_model *em)
{
    if (!em) return;
    while (!atomic_load(&l->stop) && atomic_load(&l->offer)) {
        struct timespec ts = {0, POLL_NS};
        nanosleep(&ts, NULL);
    }
    rnn_engine_model_free(atomic_exchange(&l->back, NULL));
    if (atomic_load(&l->stop) || l->gen != rnn_slot_generation(l->slot)) {
        rnn_engine_model_free(em); /* a newer model was asked for */
        return;
    }
    atomic_store(&l->offer_gen, l->gen);
    atomic_store(&l->offer, em);
}

/* A learner for the model of gen at path (and, when learned is not empty,
 * its learned weights), with a new ring for run(). */
static void rebuild(rnnmidi_learner *l, const char *path, const char *learned, uint32_t gen)
{
    free_learner(l);
    l->gen = gen;
    atomic_store(&l->refused, 0);
    atomic_store(&l->phrases, 0);
    atomic_store(&l->updates, 0);
    atomic_store(&l->kept, 0);
    atomic_store(&l->nll0_bits, 0);
    atomic_store(&l->nll1_bits, 0);
    pthread_mutex_lock(&l->lock);
    snprintf(l->path, sizeof l->path, "%s", path);
    rnn_model_free(l->learned);
    l->learned = NULL;
    pthread_mutex_unlock(&l->lock);

    char err[512];
    rnn_model *m = rnn_model_load(path, err, sizeof err);
    if (m) l->ln = rnn_learn_create(m, BATCH, WINDOW, err, sizeof err);
    rnn_model_free(m);
    rnn_rec *ring = NULL;
    if (l->ln) {
        l->spq = rnn_learn_config(l->ln)->steps_per_quarter;
        l->C = rnn_learn_columns(l->ln);
        l->cap = l->spq * RING_QPM * RING_MINUTES;
        ring = rnn_rec_create(l->cap, l->C, err, sizeof err);
        const size_t bt = (size_t)BATCH * WINDOW, cap = (size_t)l->cap;
        l->ev = malloc(cap * sizeof *l->ev);
        l->pstart = malloc(cap * sizeof *l->pstart);
        l->starts = malloc(cap);
        l->cols = l->C ? malloc(cap * (size_t)l->C * sizeof *l->cols) : NULL;
        l->in = malloc(bt * sizeof *l->in);
        l->tg = malloc(bt * sizeof *l->tg);
        l->bcols = l->C ? malloc(bt * (size_t)l->C * sizeof *l->bcols) : NULL;
        if (!ring || !l->ev || !l->pstart || !l->starts || !l->in || !l->tg ||
            (l->C && (!l->cols || !l->bcols))) {
            rnn_rec_free(ring);
            ring = NULL;
            free_learner(l);
        }
    } else if (m) {
        atomic_store(&l->refused, 1); /* a model core/learn cannot learn */
    }
    if (l->ln && learned[0] && load_learned(l, learned) == 0) {
        rnn_model *copy = learned_model(l);
        pthread_mutex_lock(&l->lock);
        l->learned = copy;
        pthread_mutex_unlock(&l->lock);
    }
    l->done = l->counted = 0;
    atomic_store(&l->due, l->ln ? (uint64_t)(NEW_BARS * 4 * l->spq) : UINT64_MAX);
    l->ring_old = atomic_exchange(&l->ring, ring);
}

/* ----------------------------------------------------------------- update */

/* Copy what the ring holds (the newest cap - 1 steps at most) into the
 * learner's buffers; returns the steps copied and their first number. */
static int copy_ring(rnnmidi_learner *l, rnn_rec *ring, uint64_t *first)
{
    for (int tries = 0; tries < 8; tries++) {
        const uint64_t w = rnn_rec_written(ring);
        uint64_t f = w > (uint64_t)l->cap - 1 ? w - (uint64_t)(l->cap - 1) : 0;
        f += (uint64_t)tries * 256; /* the writer came round: newer steps */
        if (f >= w) return 0;
        const int n = (int)(w - f);
        if (rnn_rec_read(ring, f, n, l->ev, l->C ? l->cols : NULL, l->starts) == n) {
            *first = f;
            return n;
        }
    }
    return 0;
}

static void update(rnnmidi_learner *l, rnn_rec *ring)
{
    uint64_t first = 0;
    const int n = copy_ring(l, ring, &first);
    const uint64_t w = first + (uint64_t)n;
    const int bar = 4 * l->spq, hold = HELD_BARS * bar;
    const uint64_t before = l->done;
    l->done = w;
    atomic_store(&l->due, w + (uint64_t)(NEW_BARS * bar));
    if (n < hold + bar) return;
    for (int i = 0; i < n; i++) {
        l->pstart[i] = i == 0 || l->starts[i] ? i : l->pstart[i - 1];
        if (l->starts[i] && first + (uint64_t)i >= l->counted) atomic_fetch_add(&l->phrases, 1);
    }
    l->counted = w;

    rnn_learn_options o;
    rnn_learn_options_default(&o);
    const float rate = bits_float(atomic_load(&l->rate_bits));
    o.radius *= isfinite(rate) && rate > 0 ? (rate < 4 ? rate : 4) : 0; /* the port's range */
    const float *bc = l->C ? l->bcols : NULL;
    const int train_end = n - hold;
    fill_held(l, train_end, n);
    const double nll0 = rnn_learn_nll(l->ln, l->in, bc, l->tg, BATCH, WINDOW);
    /* half the windows end in the steps not learned from before */
    int fresh = before > first ? (int)(before - first) : 0;
    if (fresh >= train_end) fresh = 0;
    for (int s = 0; s < STEPS && !atomic_load(&l->stop); s++) {
        for (int b = 0; b < BATCH; b++) {
            const int lo = b < BATCH / 2 ? fresh : 0;
            int g = -1;
            for (int tries = 0; tries < 16 && g < 0; tries++) {
                const int c = lo + (int)(next_u64(&l->rng) % (uint64_t)(train_end - lo));
                if (c > l->pstart[c]) g = c;
            }
            if (g < 0)
                lane_empty(l, b);
            else
                lane(l, b, g, 0);
        }
        rnn_learn_step(l->ln, &o, l->in, bc, l->tg, BATCH, WINDOW);
    }
    fill_held(l, train_end, n);
    const double nll1 = rnn_learn_nll(l->ln, l->in, bc, l->tg, BATCH, WINDOW);
    const int keep = nll0 < 0 || (nll1 >= 0 && nll1 <= nll0);
    atomic_store(&l->nll0_bits, float_bits((float)nll0));
    atomic_store(&l->nll1_bits, float_bits((float)nll1));
    atomic_fetch_add(&l->updates, 1);
    if (!keep) {
        rnn_learn_reject(l->ln);
        return;
    }
    rnn_learn_accept(l->ln);
    atomic_fetch_add(&l->kept, 1);
    char err[256];
    rnn_model *m = learned_model(l), *copy = learned_model(l);
    pthread_mutex_lock(&l->lock);
    rnn_model_free(l->learned);
    l->learned = copy;
    pthread_mutex_unlock(&l->lock);
    if (m) offer(l, rnn_engine_model_wrap(m, err, sizeof err));
}

/* Back to the starting weights; the original file plays again. */
static void forget(rnnmidi_learner *l)
{
    rnn_learn_forget(l->ln);
    atomic_store(&l->phrases, 0);
    atomic_store(&l->updates, 0);
    atomic_store(&l->kept, 0);
    atomic_store(&l->nll0_bits, 0);
    atomic_store(&l->nll1_bits, 0);
    pthread_mutex_lock(&l->lock);
    rnn_model_free(l->learned);
    l->learned = NULL;
    pthread_mutex_unlock(&l->lock);
    char err[512];
    offer(l, rnn_engine_model_prepare(l->path, err, sizeof err));
}

/* ----------------------------------------------------------------- thread */

static void lowest_priority(void)
{
    struct sched_param sp = {0};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0)
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
}

static void *thread_main(void *arg)
{
    rnnmidi_learner *l = arg;
    lowest_priority();
    while (!atomic_load(&l->stop)) {
        struct timespec ts = {0, POLL_NS};
        nanosleep(&ts, NULL);
        rnn_engine_model_free(atomic_exchange(&l->back, NULL));
        if (l->ring_old) {
            if (atomic_load(&l->ring_seen) != atomic_load(&l->ring)) continue;
            rnn_rec_free(l->ring_old);
            l->ring_old = NULL;
        }
        char path[PATH_CAP], learned[PATH_CAP];
        uint32_t gen = 0;
        /* a learner takes memory of the order of 6 copies of the weights:
         * made only once Learn is used, or to keep a session's learned model */
        pthread_mutex_lock(&l->lock);
        const int rebase =
            l->next_new && (atomic_load(&l->learn) != RNNMIDI_LEARN_OFF || l->next_learned[0]);
        if (rebase) {
            memcpy(path, l->next_path, sizeof path);
            memcpy(learned, l->next_learned, sizeof learned);
            gen = l->next_gen;
            l->next_new = 0;
        }
        pthread_mutex_unlock(&l->lock);
        if (rebase) {
            rebuild(l, path, learned, gen);
            atomic_store(&l->rebuilding, 0);
            continue;
        }
        if (!l->ln) continue;
        if (atomic_exchange(&l->forget, 0)) {
            forget(l);
            continue;
        }
        rnn_rec *ring = atomic_load(&l->ring);
        if (atomic_load(&l->learn) != RNNMIDI_LEARN_ON || !ring) continue;
        if (rnn_rec_written(ring) < l->done + (uint64_t)(NEW_BARS * 4 * l->spq)) continue;
        atomic_store(&l->busy, 1);
        update(l, ring);
        atomic_store(&l->busy, 0);
    }
    return NULL;
}

/* ------------------------------------------------------------------- API */

rnnmidi_learner *rnnmidi_learner_create(rnn_slot *slot, char *err, size_t errlen)
{
    rnnmidi_learner *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "learn: out of memory");
        return NULL;
    }
    l->slot = slot;
    l->rng = 0x5eed1ea4u;
    atomic_init(&l->rate_bits, float_bits(1.0f));
    atomic_init(&l->due, UINT64_MAX);
    if (pthread_mutex_init(&l->lock, NULL) != 0) {
        snprintf(err, errlen, "learn: no lock");
        free(l);
        return NULL;
    }
    if (pthread_create(&l->thread, NULL, thread_main, l) != 0) {
        snprintf(err, errlen, "learn: cannot start its thread");
        pthread_mutex_destroy(&l->lock);
        free(l);
        return NULL;
    }
    return l;
}

void rnnmidi_learner_free(rnnmidi_learner *l)
{
    if (!l) return;
    atomic_store(&l->stop, 1);
    pthread_join(l->thread, NULL);
    free_learner(l);
    rnn_rec_free(l->ring_old);
    rnn_rec_free(atomic_load(&l->ring));
    rnn_engine_model_free(atomic_load(&l->offer));
    rnn_engine_model_free(atomic_load(&l->back));
    rnn_model_free(l->learned);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

void rnnmidi_learner_base_learned(rnnmidi_learner *l, const char *path, const char *learned,
                                  uint32_t gen)
{
    pthread_mutex_lock(&l->lock);
    snprintf(l->next_path, sizeof l->next_path, "%s", path);
    snprintf(l->next_learned, sizeof l->next_learned, "%s", learned ? learned : "");
    l->next_gen = gen;
    l->next_new = 1;
    atomic_store(&l->rebuilding, 1);
    pthread_mutex_unlock(&l->lock);
}

void rnnmidi_learner_base(rnnmidi_learner *l, const char *path, uint32_t gen)
{
    rnnmidi_learner_base_learned(l, path, NULL, gen);
}

void rnnmidi_learner_run(rnnmidi_learner *l, rnn_engine *e, int learn, float rate, float forget,
                         rnnmidi_learn_status *st)
{
    atomic_store_explicit(&l->learn, learn, memory_order_relaxed);
    atomic_store_explicit(&l->rate_bits, float_bits(rate), memory_order_relaxed);
    if (forget >= 0.5f && !(l->forget_last >= 0.5f)) atomic_store(&l->forget, 1);
    l->forget_last = forget;

    rnn_rec *ring = atomic_load_explicit(&l->ring, memory_order_acquire);
    rnn_rec *use = learn == RNNMIDI_LEARN_ON ? ring : NULL;
    if (use != l->ring_used) {
        rnn_engine_set_record(e, use);
        l->ring_used = use;
    }
    atomic_store_explicit(&l->ring_seen, ring, memory_order_release);

    /* the plain load first: most blocks find nothing and write nothing */
    if (atomic_load_explicit(&l->offer, memory_order_relaxed)) {
        rnn_engine_model *em = atomic_exchange_explicit(&l->offer, NULL, memory_order_acq_rel);
        if (em && atomic_load(&l->offer_gen) == rnn_slot_generation(l->slot))
            em = rnn_engine_set_model(e, em); /* now the one replaced */
        atomic_store_explicit(&l->back, em, memory_order_release);
    }

    const int refused = atomic_load_explicit(&l->refused, memory_order_relaxed);
    /* Learning: an update runs, or is due, or the learner is being made:
     * the thread is behind the player (it yields to everything else) */
    const int busy =
        atomic_load_explicit(&l->busy, memory_order_relaxed) ||
        atomic_load_explicit(&l->rebuilding, memory_order_relaxed) ||
        (ring && rnn_rec_written(ring) >= atomic_load_explicit(&l->due, memory_order_relaxed));
    st->state = learn == RNNMIDI_LEARN_OFF      ? RNNMIDI_LSTATE_OFF
                : refused                       ? RNNMIDI_LSTATE_CANNOT
                : learn == RNNMIDI_LEARN_FREEZE ? RNNMIDI_LSTATE_FROZEN
                : busy                          ? RNNMIDI_LSTATE_LEARNING
                                                : RNNMIDI_LSTATE_LISTENING;
    st->phrases = atomic_load_explicit(&l->phrases, memory_order_relaxed);
    st->updates = atomic_load_explicit(&l->updates, memory_order_relaxed);
    st->kept = atomic_load_explicit(&l->kept, memory_order_relaxed);
    st->nll_before = bits_float(atomic_load_explicit(&l->nll0_bits, memory_order_relaxed));
    st->nll_after = bits_float(atomic_load_explicit(&l->nll1_bits, memory_order_relaxed));
}

int rnnmidi_learner_write(rnnmidi_learner *l, const char *path, char *err, size_t errlen)
{
    pthread_mutex_lock(&l->lock);
    int rc = 1;
    if (l->learned) {
        rnn_tensor_spec specs[RNN_MAX_TENSORS];
        const rnn_model_config *cfg = rnn_model_get_config(l->learned);
        const int n = rnn_model_tensor_specs(cfg, specs);
        const float *t[RNN_MAX_TENSORS];
        for (int i = 0; i < n; i++)
            t[i] = rnn_model_tensor(l->learned, specs[i].name, NULL);
        rnn_meta meta[8];
        size_t n_meta = rnn_model_meta_count(l->learned);
        if (n_meta > 8) n_meta = 8;
        for (size_t i = 0; i < n_meta; i++)
            meta[i] = rnn_model_meta_at(l->learned, i);
        rc = rnn_model_write(path, cfg, meta, n_meta, t, err, errlen);
    }
    pthread_mutex_unlock(&l->lock);
    return rc;
}

int rnnmidi_learner_base_path(rnnmidi_learner *l, char *out, size_t cap)
{
    pthread_mutex_lock(&l->lock);
    const int ok = l->path[0] != 0;
    snprintf(out, cap, "%s", l->path);
    pthread_mutex_unlock(&l->lock);
    return ok ? 0 : -1;
}
