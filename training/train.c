/* SPDX-License-Identifier: MIT */
/* rnnmidi training: batched forward, backpropagation through time, AdamW and
 * batching (contract in train.h).
 *
 * Letters: B lanes, T steps, E embedding, I layer input, H hidden, G gates,
 * V vocabulary, L layers. Arrays are time-major: row t * B + b. */
#include "train.h"
#include "train_kernels.h"

#include <cblas.h>
#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "../core/file.h"

/* ------------------------------------------------------------------------ */
/* Random numbers: splitmix64, one 64-bit word of state. */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static double rng_normal(uint64_t *s)
{
    double u1 = rng_uniform(s), u2 = rng_uniform(s);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Uniform integer in [0, n). */
static long rng_below(uint64_t *s, long n)
{
    return n <= 1 ? 0 : (long)(rng_next(s) % (uint64_t)n);
}

/* ------------------------------------------------------------------------ */
/* The trainer. */

struct rnn_trainer {
    rnn_model_config cfg;
    int B, T, L, E, H, V, G, I0;
    int Bg, b0;      /* lanes b0 .. b0 + B - 1 of a global batch of Bg (data parallelism) */
    long loss_count; /* > 0: the divisor of the next backward (the global batch's count) */

    int n_tensors;
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    size_t offsets[RNN_MAX_TENSORS];
    size_t n_params;
    float *params, *grads, *m, *v; /* one allocation each, same layout */

    /* offsets of the named tensors */
    size_t o_embed, o_wih[RNN_MAX_LAYERS], o_whh[RNN_MAX_LAYERS], o_bih[RNN_MAX_LAYERS],
        o_bhh[RNN_MAX_LAYERS], o_headw, o_headb;

    /* activations of the last forward */
    int32_t *inputs, *targets; /* (T, B) */
    float *ptab; /* (V, GH) E > 0: every class's input projection, embed W_ih^T + biases */
    float *stab; /* (V, GH) E > 0: gate gradients of layer 0 summed per input class */
    float *hs[RNN_MAX_LAYERS];       /* (T+1, B, H) outputs, row block 0 = carried-in h */
    float *cs[RNN_MAX_LAYERS];       /* (T+1, B, H) LSTM cell states */
    float *tc[RNN_MAX_LAYERS];       /* (T, B, H) LSTM tanh(c) */
    float *gates[RNN_MAX_LAYERS];    /* (T, B, GH) gate activations */
    float *hn[RNN_MAX_LAYERS];       /* (T, B, H) GRU W_hn h + b_hn */
    float *drop[RNN_MAX_LAYERS + 1]; /* (T, B, H) dropout masks: layer inputs 1..L-1, head (L) */
    float *xin[RNN_MAX_LAYERS + 1];  /* (T, B, H) dropped-out inputs (layers >= 1, head) */
    const float *in[RNN_MAX_LAYERS + 1]; /* what each layer (and the head, L) read */
    float *logits;                       /* (T, B, V) */
    float *probs;                        /* (T, B, V) */
    long count;                          /* counted targets of the last forward */
    int dropped;                         /* the last forward applied dropout */

    /* backward scratch */
    float *dh;  /* (T, B, H) gradient of a layer's output */
    float *dg;  /* (T, B, GH) gate pre-activation gradients (input side) */
    float *dgh; /* (T, B, GH) GRU: hidden side */
    float *dhn; /* (B, H) recurrent gradient into h_{t-1} */
    float *dcn; /* (B, H) recurrent gradient into c_{t-1} */
    float *ghh; /* (B, GH) GRU hidden projection of one step */

    /* carried state */
    float *state_h, *state_c; /* (L, B, H) */

    float dropout;
    uint64_t rng;

    /* threads, and what the current stage works on */
    struct pool *pool;
    int layer;
    double part_nll[RNN_TRAIN_MAX_THREADS];
    long part_n[RNN_TRAIN_MAX_THREADS], part_hit[RNN_TRAIN_MAX_THREADS];
    struct {
        float coef, beta1, beta2, eps, decay, step_size, bc2s;
    } opt;
};

static void *xcalloc(size_t n, size_t size)
{
    if (n == 0) n = 1;
    return calloc(n, size);
}

static int layout(rnn_trainer *tr)
{
    const rnn_model_config *c = &tr->cfg;
    int n = 0;
    size_t off = 0;
#define ADD(nm, r, cc, nd)                                                                         \
    do {                                                                                           \
        rnn_tensor_spec *s = &tr->specs[n];                                                        \
        snprintf(s->name, sizeof s->name, "%s", nm);                                               \
        s->ndim = (nd);                                                                            \
        s->shape[0] = (r);                                                                         \
        s->shape[1] = (cc);                                                                        \
        s->count = (size_t)(r) * (size_t)(cc);                                                     \
        tr->offsets[n] = off;                                                                      \
        off += s->count;                                                                           \
        n++;                                                                                       \
    } while (0)
    char name[RNN_TENSOR_NAME_MAX];
    int GH = tr->G * c->hidden;
    if (c->embed > 0) {
        tr->o_embed = off;
        ADD("embed.weight", c->vocab, c->embed, 2);
    }
    for (int k = 0; k < c->layers; k++) {
        int nin = k == 0 ? tr->I0 : c->hidden;
        tr->o_wih[k] = off;
        snprintf(name, sizeof name, "rnn.weight_ih_l%d", k);
        ADD(name, GH, nin, 2);
        tr->o_whh[k] = off;
        snprintf(name, sizeof name, "rnn.weight_hh_l%d", k);
        ADD(name, GH, c->hidden, 2);
        tr->o_bih[k] = off;
        snprintf(name, sizeof name, "rnn.bias_ih_l%d", k);
        ADD(name, GH, 1, 1);
        tr->o_bhh[k] = off;
        snprintf(name, sizeof name, "rnn.bias_hh_l%d", k);
        ADD(name, GH, 1, 1);
    }
    tr->o_headw = off;
    ADD("head.weight", c->vocab, c->hidden, 2);
    tr->o_headb = off;
    ADD("head.bias", c->vocab, 1, 1);
#undef ADD
    tr->n_tensors = n;
    tr->n_params = off;
    return 0;
}

rnn_trainer *rnn_trainer_create(const rnn_model_config *cfg, int B, int T, char *err, size_t errlen)
{
    int G = rnn_cell_gates(cfg->cell);
    if (G == 0 || cfg->layers < 1 || cfg->layers > RNN_MAX_LAYERS || cfg->hidden < 1 ||
        cfg->hidden > RNN_MAX_HIDDEN || cfg->embed < 0 || cfg->embed > RNN_MAX_EMBED ||
        cfg->vocab < 2 || cfg->vocab > RNN_MAX_VOCAB) {
        snprintf(err, errlen,
                 "impossible model: cell %d, %d layers (1..%d), hidden %d (1..%d), embed %d "
                 "(0..%d), vocabulary %d",
                 (int)cfg->cell, cfg->layers, RNN_MAX_LAYERS, cfg->hidden, RNN_MAX_HIDDEN,
                 cfg->embed, RNN_MAX_EMBED, cfg->vocab);
        return NULL;
    }
    if (B < 1 || B > 65536 || T < 1 || T > 65536 || (double)B * T > 16777216.0) {
        snprintf(err, errlen, "impossible window: batch %d, sequence length %d", B, T);
        return NULL;
    }
    rnn_trainer *tr = calloc(1, sizeof *tr);
    if (!tr) goto oom;
    tr->cfg = *cfg;
    tr->B = B;
    tr->T = T;
    tr->L = cfg->layers;
    tr->E = cfg->embed;
    tr->H = cfg->hidden;
    tr->V = cfg->vocab;
    tr->G = G;
    tr->I0 = cfg->embed > 0 ? cfg->embed : cfg->vocab;
    tr->Bg = B;
    tr->b0 = 0;
    layout(tr);

    size_t P = tr->n_params, TB = (size_t)T * B, BH = (size_t)B * tr->H, H = tr->H,
           GH = (size_t)G * tr->H, L = tr->L;
    int ok = (tr->params = xcalloc(P, sizeof(float))) && (tr->grads = xcalloc(P, sizeof(float))) &&
             (tr->m = xcalloc(P, sizeof(float))) && (tr->v = xcalloc(P, sizeof(float))) &&
             (tr->inputs = xcalloc(TB, sizeof(int32_t))) &&
             (tr->targets = xcalloc(TB, sizeof(int32_t))) &&
             (tr->logits = xcalloc(TB * tr->V, sizeof(float))) &&
             (tr->probs = xcalloc(TB * tr->V, sizeof(float))) &&
             (tr->dh = xcalloc(TB * H, sizeof(float))) &&
             (tr->dg = xcalloc(TB * GH, sizeof(float))) && (tr->dhn = xcalloc(BH, sizeof(float))) &&
             (tr->dcn = xcalloc(BH, sizeof(float))) &&
             (tr->state_h = xcalloc(L * BH, sizeof(float))) &&
             (tr->state_c = xcalloc(L * BH, sizeof(float)));
    if (ok && tr->E > 0)
        ok = (tr->ptab = xcalloc((size_t)tr->V * GH, sizeof(float))) &&
             (tr->stab = xcalloc((size_t)tr->V * GH, sizeof(float)));
    if (ok && cfg->cell == RNN_CELL_GRU)
        ok = (tr->dgh = xcalloc(TB * GH, sizeof(float))) &&
             (tr->ghh = xcalloc((size_t)B * GH, sizeof(float)));
    for (int l = 0; ok && l < tr->L; l++) {
        ok = (tr->hs[l] = xcalloc((TB + B) * H, sizeof(float))) &&
             (tr->gates[l] = xcalloc(TB * GH, sizeof(float)));
        if (ok && cfg->cell == RNN_CELL_LSTM)
            ok = (tr->cs[l] = xcalloc((TB + B) * H, sizeof(float))) &&
                 (tr->tc[l] = xcalloc(TB * H, sizeof(float)));
        if (ok && cfg->cell == RNN_CELL_GRU)
            ok = (tr->hn[l] = xcalloc(TB * H, sizeof(float))) != NULL;
    }
    for (int l = 1; ok && l <= tr->L; l++)
        ok = (tr->drop[l] = xcalloc(TB * H, sizeof(float))) &&
             (tr->xin[l] = xcalloc(TB * H, sizeof(float)));
    if (!ok) {
        rnn_trainer_free(tr);
        goto oom;
    }
    tr->rng = 0x5EEDull;
    return tr;
oom:
    snprintf(err, errlen, "out of memory for the trainer (batch %d x %d steps, %d x %d %s)", B, T,
             cfg->layers, cfg->hidden, cfg->cell == RNN_CELL_LSTM ? "lstm" : "cells");
    return NULL;
}

static void pool_free(struct pool *p);

void rnn_trainer_free(rnn_trainer *tr)
{
    if (!tr) return;
    pool_free(tr->pool);
    free(tr->params);
    free(tr->grads);
    free(tr->m);
    free(tr->v);
    free(tr->inputs);
    free(tr->targets);
    free(tr->ptab);
    free(tr->stab);
    for (int l = 0; l < RNN_MAX_LAYERS; l++) {
        free(tr->hs[l]);
        free(tr->cs[l]);
        free(tr->tc[l]);
        free(tr->gates[l]);
        free(tr->hn[l]);
    }
    for (int l = 0; l <= RNN_MAX_LAYERS; l++) {
        free(tr->drop[l]);
        free(tr->xin[l]);
    }
    free(tr->logits);
    free(tr->probs);
    free(tr->dh);
    free(tr->dg);
    free(tr->dgh);
    free(tr->dhn);
    free(tr->dcn);
    free(tr->ghh);
    free(tr->state_h);
    free(tr->state_c);
    free(tr);
}

const rnn_model_config *rnn_trainer_config(const rnn_trainer *tr)
{
    return &tr->cfg;
}
int rnn_trainer_lanes(const rnn_trainer *tr)
{
    return tr->B;
}
int rnn_trainer_window(const rnn_trainer *tr)
{
    return tr->T;
}
size_t rnn_trainer_num_params(const rnn_trainer *tr)
{
    return tr->n_params;
}
float *rnn_trainer_params(rnn_trainer *tr)
{
    return tr->params;
}
float *rnn_trainer_grads(rnn_trainer *tr)
{
    return tr->grads;
}
float *rnn_trainer_adam_m(rnn_trainer *tr)
{
    return tr->m;
}
float *rnn_trainer_adam_v(rnn_trainer *tr)
{
    return tr->v;
}
int rnn_trainer_num_tensors(const rnn_trainer *tr)
{
    return tr->n_tensors;
}
const rnn_tensor_spec *rnn_trainer_tensor_spec(const rnn_trainer *tr, int i)
{
    return i >= 0 && i < tr->n_tensors ? &tr->specs[i] : NULL;
}
float *rnn_trainer_tensor(rnn_trainer *tr, int i)
{
    return i >= 0 && i < tr->n_tensors ? tr->params + tr->offsets[i] : NULL;
}
float *rnn_trainer_grad_tensor(rnn_trainer *tr, int i)
{
    return i >= 0 && i < tr->n_tensors ? tr->grads + tr->offsets[i] : NULL;
}

void rnn_trainer_init_params(rnn_trainer *tr, uint64_t seed)
{
    uint64_t s = seed ^ 0xA5A5A5A55A5A5A5Aull;
    double k = 1.0 / sqrt((double)tr->H);
    for (int i = 0; i < tr->n_tensors; i++) {
        float *p = tr->params + tr->offsets[i];
        size_t n = tr->specs[i].count;
        int embed = strcmp(tr->specs[i].name, "embed.weight") == 0;
        for (size_t j = 0; j < n; j++)
            p[j] = embed ? (float)rng_normal(&s) : (float)((2.0 * rng_uniform(&s) - 1.0) * k);
    }
    memset(tr->m, 0, tr->n_params * sizeof(float));
    memset(tr->v, 0, tr->n_params * sizeof(float));
}

int rnn_trainer_load_model(rnn_trainer *tr, const rnn_model *model, char *err, size_t errlen)
{
    const rnn_model_config *c = rnn_model_get_config(model);
    if (c->kind != tr->cfg.kind || c->cell != tr->cfg.cell || c->layers != tr->cfg.layers ||
        c->embed != tr->cfg.embed || c->hidden != tr->cfg.hidden || c->vocab != tr->cfg.vocab) {
        snprintf(err, errlen,
                 "the preset is %s %s %d x %d (embed %d), the trainer wants %s %s %d x %d "
                 "(embed %d)",
                 rnn_kind_name(c->kind) ? rnn_kind_name(c->kind) : "?",
                 rnn_cell_name(c->cell) ? rnn_cell_name(c->cell) : "?", c->layers, c->hidden,
                 c->embed, rnn_kind_name(tr->cfg.kind) ? rnn_kind_name(tr->cfg.kind) : "?",
                 rnn_cell_name(tr->cfg.cell) ? rnn_cell_name(tr->cfg.cell) : "?", tr->cfg.layers,
                 tr->cfg.hidden, tr->cfg.embed);
        return -1;
    }
    for (int i = 0; i < tr->n_tensors; i++) {
        size_t n = 0;
        const float *src = rnn_model_tensor(model, tr->specs[i].name, &n);
        if (!src || n != tr->specs[i].count) {
            snprintf(err, errlen, "the preset has no tensor %s of %zu values", tr->specs[i].name,
                     tr->specs[i].count);
            return -1;
        }
        memcpy(tr->params + tr->offsets[i], src, n * sizeof(float));
    }
    return 0;
}

void rnn_trainer_set_dropout(rnn_trainer *tr, float p, uint64_t seed)
{
    tr->dropout = p > 0 && p < 1 ? p : 0;
    tr->rng = seed;
}

void rnn_trainer_reset_state(rnn_trainer *tr)
{
    size_t n = (size_t)tr->L * tr->B * tr->H;
    memset(tr->state_h, 0, n * sizeof(float));
    memset(tr->state_c, 0, n * sizeof(float));
}

void rnn_trainer_reset_lane(rnn_trainer *tr, int b)
{
    b -= tr->b0;
    if (b < 0 || b >= tr->B) return;
    for (int l = 0; l < tr->L; l++) {
        size_t o = ((size_t)l * tr->B + b) * tr->H;
        memset(tr->state_h + o, 0, tr->H * sizeof(float));
        memset(tr->state_c + o, 0, tr->H * sizeof(float));
    }
}

size_t rnn_trainer_state_size(const rnn_trainer *tr)
{
    return 2 * (size_t)tr->L * tr->B * tr->H;
}

void rnn_trainer_state_get(const rnn_trainer *tr, float *dst)
{
    size_t n = (size_t)tr->L * tr->B * tr->H;
    memcpy(dst, tr->state_h, n * sizeof(float));
    memcpy(dst + n, tr->state_c, n * sizeof(float));
}

void rnn_trainer_state_set(rnn_trainer *tr, const float *src)
{
    size_t n = (size_t)tr->L * tr->B * tr->H;
    memcpy(tr->state_h, src, n * sizeof(float));
    memcpy(tr->state_c, src + n, n * sizeof(float));
}

int rnn_trainer_set_lane_slice(rnn_trainer *tr, int global, int first)
{
    if (first < 0 || global < tr->B || first > global - tr->B) return -1;
    tr->Bg = global;
    tr->b0 = first;
    return 0;
}

void rnn_trainer_set_loss_count(rnn_trainer *tr, long count)
{
    tr->loss_count = count > 0 ? count : 0;
}

uint64_t rnn_trainer_rng_get(const rnn_trainer *tr)
{
    return tr->rng;
}

void rnn_trainer_rng_set(rnn_trainer *tr, uint64_t s)
{
    tr->rng = s;
}

/* ------------------------------------------------------------------------ */
/* Threads. The work of a window splits into stages; each stage is cut into
 * parts (row ranges, lane ranges or weight-row ranges, fixed by the part
 * count alone, so results do not depend on timing), part 0 on the calling
 * thread and the others on the pool. The lanes of a batch are independent
 * through the whole recurrence, so one stage covers all T steps of a layer. */

typedef void (*stage_fn)(rnn_trainer *tr, int part, int nparts);

typedef struct {
    struct pool *pool;
    int index;
} pool_slot;

struct pool {
    pthread_t th[RNN_TRAIN_MAX_THREADS];
    pool_slot slot[RNN_TRAIN_MAX_THREADS];
    int n, started;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned long gen;
    int pending, quit;
    stage_fn fn;
    rnn_trainer *tr;
};

static void *pool_main(void *arg)
{
    pool_slot *slot = arg;
    struct pool *p = slot->pool;
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->gen == seen && !p->quit)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->quit) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->gen;
        stage_fn fn = p->fn;
        rnn_trainer *tr = p->tr;
        pthread_mutex_unlock(&p->mu);
        fn(tr, slot->index, p->n);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mu);
    }
}

static void pool_free(struct pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->started; i++)
        pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    free(p);
}

static struct pool *pool_create(int n)
{
    struct pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n;
    p->started = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 1; i < n; i++) {
        p->slot[i].pool = p;
        p->slot[i].index = i;
        if (pthread_create(&p->th[i], NULL, pool_main, &p->slot[i]) != 0) {
            pool_free(p);
            return NULL;
        }
        p->started = i + 1;
    }
    return p;
}

static void run_stage(rnn_trainer *tr, stage_fn fn)
{
    struct pool *p = tr->pool;
    if (!p || p->n <= 1) {
        fn(tr, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->tr = tr;
    p->pending = p->n - 1;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    fn(tr, 0, p->n);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

int rnn_trainer_set_threads(rnn_trainer *tr, int n)
{
    if (n < 1) n = 1;
    if (n > RNN_TRAIN_MAX_THREADS) n = RNN_TRAIN_MAX_THREADS;
    if (n > tr->B) n = tr->B;
    pool_free(tr->pool);
    tr->pool = NULL;
    if (n > 1 && !(tr->pool = pool_create(n))) return -1;
    return 0;
}

int rnn_trainer_threads(const rnn_trainer *tr)
{
    return tr->pool ? tr->pool->n : 1;
}

static void split(size_t n, int part, int nparts, size_t *lo, size_t *hi)
{
    *lo = n * (size_t)part / (size_t)nparts;
    *hi = n * (size_t)(part + 1) / (size_t)nparts;
}

/* ------------------------------------------------------------------------ */
/* Dropout masks (drawn in order on the calling thread, so they depend on the
 * seed alone). */

/* A dropout mask (values 0 or 1/(1-p)) and out = in * mask. */
static void dropout_forward(float *out, float *mask, const float *in, size_t n, float p,
                            uint64_t *rng)
{
    float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n;) {
        uint64_t r = rng_next(rng);
        /* four 16-bit draws per 64-bit word */
        for (int k = 0; k < 4 && i < n; k++, i++) {
            float u = (float)((r >> (16 * k)) & 0xFFFF) * (1.0f / 65536.0f);
            mask[i] = u < p ? 0.0f : keep;
            out[i] = in[i] * mask[i];
        }
    }
}

/* The part of the dropout mask of a global batch (T, Bg, H) that falls on
 * lanes b0 .. b0 + B - 1, written as (T, B, H): the same draws as
 * dropout_forward over the whole batch. splitmix64's state after k words is
 * the seed plus k times its increment, so word w is drawn directly. */
static void dropout_forward_slice(const rnn_trainer *tr, float *out, float *mask, const float *in,
                                  float p, uint64_t *rng)
{
    const size_t T = (size_t)tr->T, B = (size_t)tr->B, Bg = (size_t)tr->Bg, H = (size_t)tr->H;
    const uint64_t s0 = *rng;
    float keep = 1.0f / (1.0f - p);
    for (size_t t = 0; t < T; t++)
        for (size_t j = 0; j < B; j++) {
            size_t gi = ((t * Bg) + (size_t)tr->b0 + j) * H, li = (t * B + j) * H;
            uint64_t word = 0, r = 0;
            for (size_t h = 0; h < H; h++) {
                size_t i = gi + h;
                if (h == 0 || (i & 3) == 0) {
                    word = (uint64_t)(i >> 2);
                    uint64_t st = s0 + word * 0x9E3779B97F4A7C15ull;
                    r = rng_next(&st);
                }
                float u = (float)((r >> (16 * (i & 3))) & 0xFFFF) * (1.0f / 65536.0f);
                mask[li + h] = u < p ? 0.0f : keep;
                out[li + h] = in[li + h] * mask[li + h];
            }
        }
    *rng = s0 + (uint64_t)((T * Bg * H + 3) / 4) * 0x9E3779B97F4A7C15ull;
}

static void dropout_layer(rnn_trainer *tr, float *out, float *mask, const float *in)
{
    if (tr->Bg == tr->B)
        dropout_forward(out, mask, in, (size_t)tr->T * tr->B * tr->H, tr->dropout, &tr->rng);
    else
        dropout_forward_slice(tr, out, mask, in, tr->dropout, &tr->rng);
}

/* ------------------------------------------------------------------------ */
/* Forward stages. tr->layer names the layer a stage works on. */

/* vocabulary rows: with an embedding, layer 0's input projection takes one of
 * V values, embed W_ih^T + b_ih (+ b_hh), so it is computed per class (V
 * rows) instead of per step (T x B rows) */
static void st_ptab(rnn_trainer *tr, int part, int nparts)
{
    const int E = tr->E, GH = tr->G * tr->H;
    size_t v0, v1;
    split((size_t)tr->V, part, nparts, &v0, &v1);
    if (v1 <= v0) return;
    float *p = tr->ptab + v0 * GH;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(v1 - v0), GH, E, 1.0f,
                tr->params + tr->o_embed + v0 * E, E, tr->params + tr->o_wih[0], E, 0.0f, p, GH);
    rnn_k_add_bias(p, tr->params + tr->o_bih[0], v1 - v0, GH);
    if (tr->cfg.cell != RNN_CELL_GRU) rnn_k_add_bias(p, tr->params + tr->o_bhh[0], v1 - v0, GH);
}

/* rows of the window: the input projection (TB, GH) in one product per part */
static void st_inproj(rnn_trainer *tr, int part, int nparts)
{
    const int l = tr->layer, H = tr->H, GH = tr->G * H;
    const size_t TB = (size_t)tr->T * tr->B;
    const float *wih = tr->params + tr->o_wih[l];
    size_t r0, r1;
    split(TB, part, nparts, &r0, &r1);
    if (r1 <= r0) return;
    float *gates = tr->gates[l] + r0 * GH;
    if (l == 0 && tr->E > 0) {
        for (size_t r = r0; r < r1; r++)
            memcpy(tr->gates[0] + r * GH, tr->ptab + (size_t)tr->inputs[r] * GH,
                   GH * sizeof(float));
        return; /* the biases are in the table */
    }
    if (l == 0) {
        for (size_t r = r0; r < r1; r++) {
            int x = tr->inputs[r];
            float *gr = tr->gates[l] + r * GH;
            for (int k = 0; k < GH; k++)
                gr[k] = wih[(size_t)k * tr->V + x];
        }
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(r1 - r0), GH, H, 1.0f,
                    tr->in[l] + r0 * H, H, wih, H, 0.0f, gates, GH);
    }
    rnn_k_add_bias(gates, tr->params + tr->o_bih[l], r1 - r0, GH);
    if (tr->cfg.cell != RNN_CELL_GRU) rnn_k_add_bias(gates, tr->params + tr->o_bhh[l], r1 - r0, GH);
}

/* lanes: the recurrence of one layer over the window */
static void st_recur(rnn_trainer *tr, int part, int nparts)
{
    const int l = tr->layer, B = tr->B, T = tr->T, H = tr->H, GH = tr->G * H;
    const size_t BH = (size_t)B * H;
    const float *whh = tr->params + tr->o_whh[l], *bhh = tr->params + tr->o_bhh[l];
    size_t b0, b1;
    split((size_t)B, part, nparts, &b0, &b1);
    const int nb = (int)(b1 - b0);
    if (nb <= 0) return;
    float *hs = tr->hs[l];
    memcpy(hs + b0 * H, tr->state_h + l * BH + b0 * H, (size_t)nb * H * sizeof(float));
    if (tr->cfg.cell == RNN_CELL_LSTM)
        memcpy(tr->cs[l] + b0 * H, tr->state_c + l * BH + b0 * H, (size_t)nb * H * sizeof(float));
    for (int t = 0; t < T; t++) {
        float *g = tr->gates[l] + ((size_t)t * B + b0) * GH;
        const float *hprev = hs + (size_t)t * BH + b0 * H;
        float *h = hs + (size_t)(t + 1) * BH + b0 * H;
        switch (tr->cfg.cell) {
        case RNN_CELL_LSTM:
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, GH, H, 1.0f, hprev, H, whh, H,
                        1.0f, g, GH);
            rnn_k_lstm_point(g, tr->cs[l] + (size_t)t * BH + b0 * H,
                             tr->cs[l] + (size_t)(t + 1) * BH + b0 * H,
                             tr->tc[l] + (size_t)t * BH + b0 * H, h, nb, H);
            break;
        case RNN_CELL_RNN:
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, GH, H, 1.0f, hprev, H, whh, H,
                        1.0f, g, GH);
            rnn_k_rnn_point(g, h, nb, H);
            break;
        case RNN_CELL_GRU: {
            float *ghh = tr->ghh + b0 * GH;
            for (int b = 0; b < nb; b++)
                memcpy(ghh + (size_t)b * GH, bhh, GH * sizeof(float));
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, GH, H, 1.0f, hprev, H, whh, H,
                        1.0f, ghh, GH);
            rnn_k_gru_point(g, ghh, hprev, tr->hn[l] + (size_t)t * BH + b0 * H, h, nb, H);
            break;
        }
        }
    }
    memcpy(tr->state_h + l * BH + b0 * H, hs + (size_t)T * BH + b0 * H,
           (size_t)nb * H * sizeof(float));
    if (tr->cfg.cell == RNN_CELL_LSTM)
        memcpy(tr->state_c + l * BH + b0 * H, tr->cs[l] + (size_t)T * BH + b0 * H,
               (size_t)nb * H * sizeof(float));
}

/* rows: logits, softmax and the loss */
static void st_head(rnn_trainer *tr, int part, int nparts)
{
    const int H = tr->H, V = tr->V;
    const size_t TB = (size_t)tr->T * tr->B;
    size_t r0, r1;
    split(TB, part, nparts, &r0, &r1);
    tr->part_nll[part] = 0;
    tr->part_n[part] = tr->part_hit[part] = 0;
    if (r1 <= r0) return;
    for (size_t r = r0; r < r1; r++)
        memcpy(tr->logits + r * V, tr->params + tr->o_headb, V * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(r1 - r0), V, H, 1.0f,
                tr->in[tr->L] + r0 * H, H, tr->params + tr->o_headw, H, 1.0f, tr->logits + r0 * V,
                V);
    tr->part_nll[part] = rnn_k_softmax_rows(tr->probs, tr->logits, tr->targets, r0, r1, V,
                                            &tr->part_n[part], &tr->part_hit[part]);
}

double rnn_trainer_forward(rnn_trainer *tr, const int32_t *inputs, const int32_t *targets,
                           int training, long *count, long *correct)
{
    const int B = tr->B, T = tr->T, H = tr->H, V = tr->V, E = tr->E;
    for (size_t t = 0; t < (size_t)T; t++)
        for (size_t j = 0; j < (size_t)B; j++) {
            size_t r = t * B + j, gr = t * tr->Bg + (size_t)tr->b0 + j;
            int x = inputs[gr];
            tr->inputs[r] = x >= 0 && x < V ? x : 0;
            tr->targets[r] = targets[gr] < V ? targets[gr] : -1;
        }
    tr->dropped = training && tr->dropout > 0;

    tr->in[0] = NULL; /* layer 0 reads rows of ptab (E > 0) or columns of W_ih */
    if (E > 0) run_stage(tr, st_ptab);
    for (int l = 0; l < tr->L; l++) {
        if (l > 0) {
            const float *below = tr->hs[l - 1] + (size_t)B * H;
            if (tr->dropped) {
                dropout_layer(tr, tr->xin[l], tr->drop[l], below);
                tr->in[l] = tr->xin[l];
            } else {
                tr->in[l] = below;
            }
        }
        tr->layer = l;
        run_stage(tr, st_inproj);
        run_stage(tr, st_recur);
    }
    const float *top = tr->hs[tr->L - 1] + (size_t)B * H;
    if (tr->dropped) {
        dropout_layer(tr, tr->xin[tr->L], tr->drop[tr->L], top);
        top = tr->xin[tr->L];
    }
    tr->in[tr->L] = top;
    run_stage(tr, st_head);

    double nll = 0;
    long n = 0, hit = 0;
    int nparts = tr->pool ? tr->pool->n : 1;
    for (int p = 0; p < nparts; p++) {
        nll += tr->part_nll[p];
        n += tr->part_n[p];
        hit += tr->part_hit[p];
    }
    tr->count = n;
    tr->loss_count = 0;
    if (count) *count = n;
    if (correct) *correct = hit;
    return nll;
}

const float *rnn_trainer_logits(const rnn_trainer *tr)
{
    return tr->logits;
}

void rnn_trainer_zero_grad(rnn_trainer *tr)
{
    memset(tr->grads, 0, tr->n_params * sizeof(float));
}

/* ------------------------------------------------------------------------ */
/* Backward stages. */

/* rows: the logit gradients (p - onehot) / count in place of the
 * probabilities, and the gradient of the head's input into tr->dh */
static void st_dlogits(rnn_trainer *tr, int part, int nparts)
{
    const int H = tr->H, V = tr->V;
    const size_t TB = (size_t)tr->T * tr->B;
    size_t r0, r1;
    split(TB, part, nparts, &r0, &r1);
    if (r1 <= r0) return;
    float scale = 1.0f / (float)(tr->loss_count > 0 ? tr->loss_count : tr->count);
    for (size_t r = r0; r < r1; r++) {
        float *d = tr->probs + r * V;
        int y = tr->targets[r];
        if (y < 0) {
            memset(d, 0, V * sizeof(float));
            continue;
        }
        d[y] -= 1.0f;
        for (int k = 0; k < V; k++)
            d[k] *= scale;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(r1 - r0), H, V, 1.0f,
                tr->probs + r0 * V, V, tr->params + tr->o_headw, H, 0.0f, tr->dh + r0 * H, H);
    if (tr->dropped) rnn_k_mul_mask(tr->dh + r0 * H, tr->drop[tr->L] + r0 * H, (r1 - r0) * H);
}

/* rows of the head's weights */
static void st_dhead(rnn_trainer *tr, int part, int nparts)
{
    const int H = tr->H, V = tr->V;
    const size_t TB = (size_t)tr->T * tr->B;
    size_t v0, v1;
    split((size_t)V, part, nparts, &v0, &v1);
    if (v1 <= v0) return;
    rnn_k_bias_backward(tr->grads + tr->o_headb, tr->probs, TB, V, v0, v1);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(v1 - v0), H, (int)TB, 1.0f,
                tr->probs + v0, V, tr->in[tr->L], H, 1.0f, tr->grads + tr->o_headw + v0 * H, H);
}

/* lanes: backpropagation through the window of one layer; tr->dh holds the
 * gradient of its outputs, the gate gradients go to tr->dg (and tr->dgh) */
static void st_bptt(rnn_trainer *tr, int part, int nparts)
{
    const int l = tr->layer, B = tr->B, T = tr->T, H = tr->H, GH = tr->G * H;
    const size_t BH = (size_t)B * H;
    const float *whh = tr->params + tr->o_whh[l];
    size_t b0, b1;
    split((size_t)B, part, nparts, &b0, &b1);
    const int nb = (int)(b1 - b0);
    if (nb <= 0) return;
    float *dhn = tr->dhn + b0 * H, *dcn = tr->dcn + b0 * H;
    memset(dhn, 0, (size_t)nb * H * sizeof(float));
    memset(dcn, 0, (size_t)nb * H * sizeof(float));
    for (int t = T - 1; t >= 0; t--) {
        const size_t gro = ((size_t)t * B + b0) * GH, hro = (size_t)t * BH + b0 * H;
        const float *g = tr->gates[l] + gro;
        float *dg = tr->dg + gro;
        const float *dhout = tr->dh + hro;
        switch (tr->cfg.cell) {
        case RNN_CELL_LSTM:
            rnn_k_lstm_point_backward(dg, dhn, dcn, g, dhout, tr->cs[l] + hro, tr->tc[l] + hro, nb,
                                      H);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, H, GH, 1.0f, dg, GH, whh, H,
                        0.0f, dhn, H);
            break;
        case RNN_CELL_RNN:
            rnn_k_rnn_point_backward(dg, g, dhout, dhn, nb, H);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, H, GH, 1.0f, dg, GH, whh, H,
                        0.0f, dhn, H);
            break;
        case RNN_CELL_GRU: {
            float *dgt = tr->dgh + gro;
            rnn_k_gru_point_backward(dg, dgt, dhn, g, dhout, tr->hs[l] + hro, tr->hn[l] + hro, nb,
                                     H);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, H, GH, 1.0f, dgt, GH, whh, H,
                        1.0f, dhn, H);
            break;
        }
        }
    }
}

/* gate rows of one layer's weight gradients, one product each over the window */
static void st_dweights(rnn_trainer *tr, int part, int nparts)
{
    const int l = tr->layer, H = tr->H, GH = tr->G * H;
    const size_t TB = (size_t)tr->T * tr->B;
    size_t g0, g1;
    split((size_t)GH, part, nparts, &g0, &g1);
    if (g1 <= g0) return;
    const int ng = (int)(g1 - g0);
    const float *dgh = tr->cfg.cell == RNN_CELL_GRU ? tr->dgh : tr->dg;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ng, H, (int)TB, 1.0f, dgh + g0, GH,
                tr->hs[l], H, 1.0f, tr->grads + tr->o_whh[l] + g0 * H, H);
    rnn_k_bias_backward(tr->grads + tr->o_bhh[l], dgh, TB, GH, g0, g1);
    rnn_k_bias_backward(tr->grads + tr->o_bih[l], tr->dg, TB, GH, g0, g1);
    float *dwih = tr->grads + tr->o_wih[l];
    if (l == 0 && tr->E == 0) {
        for (size_t r = 0; r < TB; r++) {
            int x = tr->inputs[r];
            const float *d = tr->dg + r * GH;
            for (size_t k = g0; k < g1; k++)
                dwih[k * tr->V + x] += d[k];
        }
    } else if (l == 0) {
        /* the gate gradients summed per input class (V, GH), then
         * dW_ih = stab^T embed: V rows instead of T x B */
        const int E = tr->E;
        float *st = tr->stab;
        for (int v = 0; v < tr->V; v++)
            memset(st + (size_t)v * GH + g0, 0, (size_t)ng * sizeof(float));
        for (size_t r = 0; r < TB; r++) {
            float *d = st + (size_t)tr->inputs[r] * GH;
            const float *s = tr->dg + r * GH;
            for (size_t k = g0; k < g1; k++)
                d[k] += s[k];
        }
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ng, E, tr->V, 1.0f, st + g0, GH,
                    tr->params + tr->o_embed, E, 1.0f, dwih + g0 * E, E);
    } else {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ng, H, (int)TB, 1.0f, tr->dg + g0, GH,
                    tr->in[l], H, 1.0f, dwih + g0 * H, H);
    }
}

/* rows: the gradient of the input of layer l >= 1 (the layer below's
 * outputs), into tr->dh */
static void st_dx(rnn_trainer *tr, int part, int nparts)
{
    const int l = tr->layer, H = tr->H, GH = tr->G * H;
    const size_t TB = (size_t)tr->T * tr->B;
    size_t r0, r1;
    split(TB, part, nparts, &r0, &r1);
    if (r1 <= r0) return;
    float *dx = tr->dh;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(r1 - r0), H, GH, 1.0f,
                tr->dg + r0 * GH, GH, tr->params + tr->o_wih[l], H, 0.0f, dx + r0 * H, H);
    if (tr->dropped) rnn_k_mul_mask(dx + r0 * H, tr->drop[l] + r0 * H, (r1 - r0) * H);
}

/* vocabulary rows: the embedding's gradient, stab W_ih (the per-class sums of
 * layer 0's gate gradients, st_dweights fills stab) */
static void st_dembed(rnn_trainer *tr, int part, int nparts)
{
    const int E = tr->E, GH = tr->G * tr->H;
    size_t v0, v1;
    split((size_t)tr->V, part, nparts, &v0, &v1);
    if (v1 <= v0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(v1 - v0), E, GH, 1.0f,
                tr->stab + v0 * GH, GH, tr->params + tr->o_wih[0], E, 1.0f,
                tr->grads + tr->o_embed + v0 * E, E);
}

void rnn_trainer_backward(rnn_trainer *tr)
{
    if (tr->count == 0 && tr->loss_count == 0) return;
    run_stage(tr, st_dlogits);
    run_stage(tr, st_dhead);
    for (int l = tr->L - 1; l >= 0; l--) {
        tr->layer = l;
        run_stage(tr, st_bptt);
        run_stage(tr, st_dweights);
        if (l > 0) run_stage(tr, st_dx); /* tr->dh is free once the layer's pass is done */
    }
    if (tr->E > 0) run_stage(tr, st_dembed);
    tr->count = 0; /* the probabilities now hold the logit gradients */
    tr->loss_count = 0;
}

/* ------------------------------------------------------------------------ */
/* Clipping and AdamW over the flat parameter block. */

static void st_sumsq(rnn_trainer *tr, int part, int nparts)
{
    size_t i0, i1;
    split(tr->n_params, part, nparts, &i0, &i1);
    double ss = 0;
    for (size_t i = i0; i < i1; i++)
        ss += (double)tr->grads[i] * tr->grads[i];
    tr->part_nll[part] = ss;
}

static void st_scale(rnn_trainer *tr, int part, int nparts)
{
    size_t i0, i1;
    split(tr->n_params, part, nparts, &i0, &i1);
    for (size_t i = i0; i < i1; i++)
        tr->grads[i] *= tr->opt.coef;
}

double rnn_trainer_clip_grad(rnn_trainer *tr, double max_norm)
{
    run_stage(tr, st_sumsq);
    double ss = 0;
    int nparts = tr->pool ? tr->pool->n : 1;
    for (int p = 0; p < nparts; p++)
        ss += tr->part_nll[p];
    double norm = sqrt(ss);
    if (max_norm > 0 && norm > max_norm) {
        /* PyTorch's clip_grad_norm_: coef = max_norm / (norm + 1e-6) */
        tr->opt.coef = (float)(max_norm / (norm + 1e-6));
        run_stage(tr, st_scale);
    }
    return norm;
}

static void st_adamw(rnn_trainer *tr, int part, int nparts)
{
    size_t i0, i1;
    split(tr->n_params, part, nparts, &i0, &i1);
    rnn_k_adamw(tr->params + i0, tr->grads + i0, tr->m + i0, tr->v + i0, i1 - i0, tr->opt.beta1,
                tr->opt.beta2, tr->opt.eps, tr->opt.decay, tr->opt.step_size, tr->opt.bc2s);
}

void rnn_trainer_adamw(rnn_trainer *tr, float lr, float beta1, float beta2, float eps,
                       float weight_decay, long step)
{
    double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    tr->opt.step_size = (float)(lr / bc1);
    tr->opt.bc2s = (float)sqrt(bc2);
    tr->opt.decay = 1.0f - lr * weight_decay;
    tr->opt.beta1 = beta1;
    tr->opt.beta2 = beta2;
    tr->opt.eps = eps;
    run_stage(tr, st_adamw);
}

/* ------------------------------------------------------------------------ */
/* Batching. */

typedef struct {
    int32_t seq; /* -1: no sequence */
    int32_t k;   /* transposition */
    int64_t pos; /* first input of the next window */
} lane;

struct rnn_batcher {
    const rnn_seq_list *seqs;
    rnn_kind kind;
    int B, T, random, transpose;
    uint64_t rng;
    int32_t *order; /* shuffled (or plain) sequence order */
    size_t n, next; /* sequences, next place in order */
    lane *lanes;
    int32_t *scratch; /* a whole sequence, to check a transposition */
    int32_t *window;  /* T + 1 events */
    size_t maxlen;
};

static void shuffle(rnn_batcher *bt)
{
    for (size_t i = bt->n; i > 1; i--) {
        size_t j = (size_t)rng_below(&bt->rng, (long)i);
        int32_t t = bt->order[i - 1];
        bt->order[i - 1] = bt->order[j];
        bt->order[j] = t;
    }
}

rnn_batcher *rnn_batcher_create(const rnn_seq_list *seqs, rnn_kind kind, int B, int T, int random,
                                int transpose, uint64_t seed)
{
    if (B < 1 || T < 1) return NULL;
    rnn_batcher *bt = calloc(1, sizeof *bt);
    if (!bt) return NULL;
    bt->seqs = seqs;
    bt->kind = kind;
    bt->B = B;
    bt->T = T;
    bt->random = random;
    bt->transpose = kind == RNN_KIND_MELODY && transpose > 0 ? transpose : 0;
    bt->rng = seed ^ 0x0BA7C4E5ull;
    for (size_t i = 0; i < seqs->count; i++)
        if (seqs->seqs[i].len >= 2) bt->n++;
    for (size_t i = 0; i < seqs->count; i++)
        if (seqs->seqs[i].len > bt->maxlen) bt->maxlen = seqs->seqs[i].len;
    bt->order = xcalloc(bt->n, sizeof(int32_t));
    bt->lanes = xcalloc((size_t)B, sizeof(lane));
    bt->window = xcalloc((size_t)T + 1, sizeof(int32_t));
    bt->scratch = bt->transpose ? xcalloc(bt->maxlen, sizeof(int32_t)) : NULL;
    if (!bt->order || !bt->lanes || !bt->window || (bt->transpose && !bt->scratch) ||
        (random && bt->n == 0) || seqs->count > INT32_MAX) {
        rnn_batcher_free(bt);
        return NULL;
    }
    size_t j = 0;
    for (size_t i = 0; i < seqs->count; i++)
        if (seqs->seqs[i].len >= 2) bt->order[j++] = (int32_t)i;
    if (random) shuffle(bt);
    for (int b = 0; b < B; b++)
        bt->lanes[b].seq = -1;
    return bt;
}

void rnn_batcher_free(rnn_batcher *bt)
{
    if (!bt) return;
    free(bt->order);
    free(bt->lanes);
    free(bt->scratch);
    free(bt->window);
    free(bt);
}

/* Give lane b its next sequence; 0 when an ordered batcher has none left. */
static int lane_start(rnn_batcher *bt, lane *ln)
{
    if (bt->next >= bt->n) {
        if (!bt->random) {
            ln->seq = -1;
            return 0;
        }
        shuffle(bt);
        bt->next = 0;
    }
    ln->seq = bt->order[bt->next++];
    ln->pos = 0;
    ln->k = 0;
    if (!bt->random) return 1;
    const rnn_seq *s = &bt->seqs->seqs[ln->seq];
    long room = (long)s->len - 1;
    ln->pos = rng_below(&bt->rng, room < bt->T ? room : bt->T);
    if (bt->transpose) {
        int k = (int)rng_below(&bt->rng, 2L * bt->transpose + 1) - bt->transpose;
        if (k != 0) {
            memcpy(bt->scratch, s->events, s->len * sizeof(int32_t));
            if (rnn_transpose_melody(bt->scratch, s->len, k) == 0) ln->k = k;
        }
    }
    return 1;
}

long rnn_batcher_next(rnn_batcher *bt, rnn_trainer *tr, int32_t *inputs, int32_t *targets)
{
    const int B = bt->B, T = bt->T;
    long counted = 0;
    for (int b = 0; b < B; b++) {
        lane *ln = &bt->lanes[b];
        if (ln->seq < 0 || ln->pos + 1 >= (int64_t)bt->seqs->seqs[ln->seq].len) {
            if (ln->seq < 0 && !bt->random && bt->next >= bt->n) {
                /* an exhausted ordered lane stays idle */
            } else {
                lane_start(bt, ln);
                if (tr) rnn_trainer_reset_lane(tr, b);
            }
        }
        if (ln->seq < 0) {
            for (int t = 0; t < T; t++) {
                inputs[(size_t)t * B + b] = 0;
                targets[(size_t)t * B + b] = -1;
            }
            continue;
        }
        const rnn_seq *s = &bt->seqs->seqs[ln->seq];
        int64_t avail = (int64_t)s->len - ln->pos; /* events from pos */
        int n = avail > T + 1 ? T + 1 : (int)avail;
        memcpy(bt->window, s->events + ln->pos, (size_t)n * sizeof(int32_t));
        if (ln->k) rnn_transpose_melody(bt->window, (size_t)n, ln->k);
        for (int t = 0; t < T; t++) {
            size_t r = (size_t)t * B + b;
            inputs[r] = t < n ? bt->window[t] : 0;
            targets[r] = t + 1 < n ? bt->window[t + 1] : -1;
            counted += t + 1 < n;
        }
        ln->pos += T;
    }
    return counted;
}

#define BATCHER_MAGIC 0x42544348u

size_t rnn_batcher_state_size(const rnn_batcher *bt)
{
    return 5 * sizeof(uint64_t) + bt->n * sizeof(int32_t) + (size_t)bt->B * sizeof(lane);
}

void rnn_batcher_state_save(const rnn_batcher *bt, void *dst)
{
    uint64_t head[5] = {BATCHER_MAGIC, bt->n, (uint64_t)bt->B, bt->rng, bt->next};
    unsigned char *p = dst;
    memcpy(p, head, sizeof head);
    p += sizeof head;
    memcpy(p, bt->order, bt->n * sizeof(int32_t));
    p += bt->n * sizeof(int32_t);
    memcpy(p, bt->lanes, (size_t)bt->B * sizeof(lane));
}

int rnn_batcher_state_load(rnn_batcher *bt, const void *src, size_t size)
{
    if (size != rnn_batcher_state_size(bt)) return -1;
    uint64_t head[5];
    memcpy(head, src, sizeof head);
    if (head[0] != BATCHER_MAGIC || head[1] != bt->n || head[2] != (uint64_t)bt->B ||
        head[4] > bt->n)
        return -1;
    const unsigned char *p = (const unsigned char *)src + sizeof head;
    int32_t *order = malloc(bt->n ? bt->n * sizeof(int32_t) : 1);
    lane *lanes = malloc((size_t)bt->B * sizeof(lane));
    if (!order || !lanes) {
        free(order);
        free(lanes);
        return -1;
    }
    memcpy(order, p, bt->n * sizeof(int32_t));
    memcpy(lanes, p + bt->n * sizeof(int32_t), (size_t)bt->B * sizeof(lane));
    for (size_t i = 0; i < bt->n; i++)
        if (order[i] < 0 || (size_t)order[i] >= bt->seqs->count) goto bad;
    for (int b = 0; b < bt->B; b++)
        if (lanes[b].seq >= (int32_t)bt->seqs->count || lanes[b].seq < -1 || lanes[b].pos < 0 ||
            lanes[b].k < -127 || lanes[b].k > 127)
            goto bad;
    memcpy(bt->order, order, bt->n * sizeof(int32_t));
    memcpy(bt->lanes, lanes, (size_t)bt->B * sizeof(lane));
    bt->next = (size_t)head[4];
    bt->rng = head[3];
    free(order);
    free(lanes);
    return 0;
bad:
    free(order);
    free(lanes);
    return -1;
}

double rnn_trainer_evaluate(rnn_trainer *tr, const rnn_seq_list *seqs, rnn_kind kind,
                            double *accuracy, long *steps)
{
    const size_t TB = (size_t)tr->T * tr->B;
    rnn_batcher *bt = rnn_batcher_create(seqs, kind, tr->B, tr->T, 0, 0, 0);
    int32_t *in = malloc(TB * sizeof(int32_t)), *tg = malloc(TB * sizeof(int32_t));
    double nll = 0;
    long n = 0, hit = 0;
    const int Bg = tr->Bg, b0 = tr->b0; /* a lane slice evaluates on its own lanes */
    tr->Bg = tr->B;
    tr->b0 = 0;
    if (bt && in && tg) {
        rnn_trainer_reset_state(tr);
        while (rnn_batcher_next(bt, tr, in, tg) > 0) {
            long c = 0, h = 0;
            nll += rnn_trainer_forward(tr, in, tg, 0, &c, &h);
            n += c;
            hit += h;
        }
    }
    tr->count = 0;
    tr->Bg = Bg;
    tr->b0 = b0;
    rnn_batcher_free(bt);
    free(in);
    free(tg);
    if (accuracy) *accuracy = n ? (double)hit / n : 0;
    if (steps) *steps = n;
    return n ? nll / n : -1;
}

/* ------------------------------------------------------------------------ */
/* OpenBLAS. */

const char *rnn_blas_corename(void)
{
    const char *s = openblas_get_corename();
    return s ? s : "unknown";
}

int rnn_blas_is_fallback(void)
{
    const char *s = rnn_blas_corename();
    return strcasecmp(s, "Prescott") == 0 || strcasecmp(s, "Core2") == 0 ||
           strcasecmp(s, "Katmai") == 0;
}

void rnn_blas_set_threads(int n)
{
    openblas_set_num_threads(n > 0 ? n : 1);
}

/* ------------------------------------------------------------------------ */
/* The training run. */

void rnn_train_options_default(rnn_train_options *o, rnn_kind kind)
{
    memset(o, 0, sizeof *o);
    o->cfg.kind = kind;
    o->cfg.steps_per_quarter = RNN_DEFAULT_STEPS_PER_QUARTER;
    o->cfg.cell = RNN_CELL_LSTM;
    o->cfg.layers = 2;
    o->cfg.embed = 64;
    o->cfg.hidden = 256;
    o->cfg.vocab = rnn_kind_vocab(kind);
    o->batch = 64;
    o->seq_len = 64;
    o->lr = 2e-3f;
    o->lr_min_ratio = 0.05f;
    o->warmup = 200;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
    o->clip = 1.0f;
    o->dropout = 0.25f;
    o->weight_decay = 0.01f;
    o->transpose = kind == RNN_KIND_MELODY ? 5 : 0;
    o->epochs = 12;
    o->patience = 3;
    o->seed = 1;
    o->checkpoint_seconds = 300;
    o->threads = 2;
}

double rnn_train_lr(const rnn_train_options *o, long step, long total)
{
    if (o->warmup > 0 && step < o->warmup) return o->lr * (double)(step + 1) / (double)o->warmup;
    if (total <= o->warmup) return o->lr;
    double x = (double)(step - o->warmup) / (double)(total - o->warmup);
    if (x > 1) x = 1;
    double lo = o->lr * o->lr_min_ratio;
    return lo + 0.5 * (o->lr - lo) * (1.0 + cos(3.141592653589793 * x));
}

typedef struct {
    long step;
    int epoch, bad_epochs;
    double best_valid, seconds;
    long best_step; /* the step of the best weights (not in the file: epoch - bad_epochs) */
} run_progress;

#define CKPT_MAGIC "RNNCKPT\x01"

static int write_all(FILE *f, const void *p, size_t n, uLong *crc)
{
    *crc = crc32(*crc, p, (uInt)n);
    return fwrite(p, 1, n, f) == n ? 0 : -1;
}

/* Floats of the carried state of the whole global batch (2, L, Bg, H), and
 * copies of this trainer's lanes into it (to_global) or out of it. */
static size_t global_state_size(const rnn_trainer *tr)
{
    return 2 * (size_t)tr->L * tr->Bg * tr->H;
}

static void state_slice(rnn_trainer *tr, float *g, int to_global)
{
    const size_t BH = (size_t)tr->B * tr->H;
    for (int part = 0; part < 2; part++)
        for (int l = 0; l < tr->L; l++) {
            float *loc = (part ? tr->state_c : tr->state_h) + (size_t)l * BH;
            float *glob = g + ((size_t)part * tr->L + l) * tr->Bg * tr->H + (size_t)tr->b0 * tr->H;
            if (to_global)
                memcpy(glob, loc, BH * sizeof(float));
            else
                memcpy(loc, glob, BH * sizeof(float));
        }
}

static int write_checkpoint(const char *path, const rnn_train_options *o, rnn_trainer *tr,
                            const rnn_batcher *bt, const float *best, const float *state,
                            size_t ssz, const run_progress *pr, char *err, size_t errlen)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 8);
    size_t bsz = rnn_batcher_state_size(bt);
    void *bstate = malloc(bsz);
    if (!tmp || !bstate) {
        free(tmp);
        free(bstate);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    snprintf(tmp, plen + 8, "%s.tmp", path);
    rnn_batcher_state_save(bt, bstate);
    FILE *f = fopen(tmp, "wb");
    int rc = -1;
    if (f) {
        uLong crc = crc32(0, NULL, 0);
        int32_t head[12] = {(int32_t)o->cfg.kind, o->cfg.steps_per_quarter,
                            (int32_t)o->cfg.cell, o->cfg.layers,
                            o->cfg.embed,         o->cfg.hidden,
                            o->cfg.vocab,         o->batch,
                            o->seq_len,           pr->epoch,
                            pr->bad_epochs,       o->threads > 1 ? o->threads : 1};
        int64_t nums[5] = {(int64_t)o->seed, pr->step, (int64_t)rnn_trainer_num_params(tr),
                           (int64_t)ssz, (int64_t)bsz};
        double d[2] = {pr->best_valid, pr->seconds};
        uint64_t rng = rnn_trainer_rng_get(tr);
        size_t P = rnn_trainer_num_params(tr);
        rc = write_all(f, CKPT_MAGIC, 8, &crc) | write_all(f, head, sizeof head, &crc) |
             write_all(f, nums, sizeof nums, &crc) | write_all(f, d, sizeof d, &crc) |
             write_all(f, &rng, sizeof rng, &crc) |
             write_all(f, rnn_trainer_params(tr), P * sizeof(float), &crc) |
             write_all(f, rnn_trainer_adam_m(tr), P * sizeof(float), &crc) |
             write_all(f, rnn_trainer_adam_v(tr), P * sizeof(float), &crc) |
             write_all(f, best, P * sizeof(float), &crc) |
             write_all(f, state, ssz * sizeof(float), &crc) | write_all(f, bstate, bsz, &crc);
        uint32_t c32 = (uint32_t)crc;
        if (fwrite(&c32, 4, 1, f) != 1) rc = -1;
        if (fflush(f) != 0 || fsync(fileno(f)) != 0) rc = -1;
        if (fclose(f) != 0) rc = -1;
        if (rc == 0 && rename(tmp, path) != 0) rc = -1;
        if (rc != 0) {
            snprintf(err, errlen, "%s: cannot write the checkpoint (%s)", path, strerror(errno));
            remove(tmp);
        }
    } else {
        snprintf(err, errlen, "%s: cannot create the checkpoint (%s)", tmp, strerror(errno));
    }
    free(tmp);
    free(bstate);
    return rc;
}

static int read_all(FILE *f, void *p, size_t n, uLong *crc)
{
    if (fread(p, 1, n, f) != n) return -1;
    *crc = crc32(*crc, p, (uInt)n);
    return 0;
}

static int read_checkpoint(FILE *f, const char *path, const rnn_train_options *o, rnn_trainer *tr,
                           rnn_batcher *bt, float *best, run_progress *pr, char *err, size_t errlen)
{
    size_t P = rnn_trainer_num_params(tr), ssz = global_state_size(tr);
    size_t bsz = rnn_batcher_state_size(bt);
    float *params = malloc(P * sizeof(float)), *m = malloc(P * sizeof(float)),
          *v = malloc(P * sizeof(float)), *bp = malloc(P * sizeof(float)),
          *state = malloc(ssz * sizeof(float));
    void *bstate = malloc(bsz);
    int rc = -1;
    const char *why = "truncated or unreadable";
    char magic[8];
    int32_t head[12];
    int64_t nums[5];
    double d[2];
    uint64_t rng;
    uint32_t c32;
    uLong crc = crc32(0, NULL, 0);
    if (!params || !m || !v || !bp || !state || !bstate) {
        why = "out of memory";
        goto done;
    }
    if (read_all(f, magic, 8, &crc) || memcmp(magic, CKPT_MAGIC, 8) != 0) {
        why = "not an rnnmidi checkpoint";
        goto done;
    }
    if (read_all(f, head, sizeof head, &crc) || read_all(f, nums, sizeof nums, &crc) ||
        read_all(f, d, sizeof d, &crc) || read_all(f, &rng, sizeof rng, &crc))
        goto done;
    if (head[0] != (int32_t)o->cfg.kind || head[1] != o->cfg.steps_per_quarter ||
        head[2] != (int32_t)o->cfg.cell || head[3] != o->cfg.layers || head[4] != o->cfg.embed ||
        head[5] != o->cfg.hidden || head[6] != o->cfg.vocab || head[7] != o->batch ||
        head[8] != o->seq_len) {
        why = "made with another model or batch shape (give the same options as the first run)";
        goto done;
    }
    if (head[11] != (o->threads > 1 ? o->threads : 1)) {
        why = "made with another --threads (the thread count shapes the arithmetic)";
        goto done;
    }
    if ((uint64_t)nums[0] != o->seed) {
        why = "made with another --seed";
        goto done;
    }
    if ((size_t)nums[2] != P || (size_t)nums[3] != ssz || (size_t)nums[4] != bsz) {
        why = "made on other data or sizes";
        goto done;
    }
    if (read_all(f, params, P * sizeof(float), &crc) || read_all(f, m, P * sizeof(float), &crc) ||
        read_all(f, v, P * sizeof(float), &crc) || read_all(f, bp, P * sizeof(float), &crc) ||
        read_all(f, state, ssz * sizeof(float), &crc) || read_all(f, bstate, bsz, &crc) ||
        fread(&c32, 4, 1, f) != 1)
        goto done;
    if (c32 != (uint32_t)crc) {
        why = "checksum mismatch";
        goto done;
    }
    if (fgetc(f) != EOF) {
        why = "trailing bytes";
        goto done;
    }
    if (rnn_batcher_state_load(bt, bstate, bsz) != 0) {
        why = "made on other data";
        goto done;
    }
    memcpy(rnn_trainer_params(tr), params, P * sizeof(float));
    memcpy(rnn_trainer_adam_m(tr), m, P * sizeof(float));
    memcpy(rnn_trainer_adam_v(tr), v, P * sizeof(float));
    memcpy(best, bp, P * sizeof(float));
    state_slice(tr, state, 0);
    rnn_trainer_rng_set(tr, rng);
    pr->step = nums[1];
    pr->epoch = head[9];
    pr->bad_epochs = head[10];
    pr->best_valid = d[0];
    pr->seconds = d[1];
    rc = 0;
done:
    if (rc != 0) snprintf(err, errlen, "%s: cannot resume: %s", path, why);
    free(params);
    free(m);
    free(v);
    free(bp);
    free(state);
    free(bstate);
    return rc;
}

/* Resume: one process reads the file; a group has rank 0 read it and send
 * its bytes to every rank, which all parse the same bytes. */
static int load_checkpoint(const char *path, const rnn_train_options *o, rnn_trainer *tr,
                           rnn_batcher *bt, float *best, run_progress *pr, char *err, size_t errlen)
{
    rnn_train_comm *cm = o->comm;
    FILE *f;
    if (!cm) {
        if (!(f = rnn_file_fopen_read(path, err, errlen))) return -1;
        int rc = read_checkpoint(f, path, o, tr, bt, best, pr, err, errlen);
        fclose(f);
        return rc;
    }
    unsigned char *buf = NULL;
    double len = -1;
    if (cm->rank == 0) {
        char why[400] = "";
        if ((f = rnn_file_fopen_read(path, why, sizeof why))) {
            long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
            if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
                fread(buf, 1, (size_t)n, f) == (size_t)n)
                len = (double)n;
            fclose(f);
        }
        if (len < 0 && why[0])
            snprintf(err, errlen, "%s", why);
        else if (len < 0)
            snprintf(err, errlen, "%s: cannot read the checkpoint (%s)", path, strerror(errno));
    }
    char e2[256];
    if (cm->bcast(cm, &len, sizeof len, 0, e2, sizeof e2) != 0) {
        if (cm->rank != 0 || len >= 0) snprintf(err, errlen, "%s", e2);
        free(buf);
        return -1;
    }
    if (len < 0) {
        if (cm->rank != 0) snprintf(err, errlen, "%s: rank 0 cannot read the checkpoint", path);
        free(buf);
        return -1;
    }
    if (cm->rank != 0 && !(buf = malloc((size_t)len))) {
        snprintf(err, errlen, "out of memory for the checkpoint");
        return -1;
    }
    if (cm->bcast(cm, buf, (size_t)len, 0, err, errlen) != 0) {
        free(buf);
        return -1;
    }
    int rc = -1;
    if ((f = fmemopen(buf, (size_t)len, "rb"))) {
        rc = read_checkpoint(f, path, o, tr, bt, best, pr, err, errlen);
        fclose(f);
    } else {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    }
    free(buf);
    return rc;
}

/* A checkpoint of the whole group: the ranks' carried states summed into the
 * global layout (each rank fills its own lanes, zeros elsewhere), a check
 * that every rank holds the same weights, and rank 0 writes the file. */
static int save_checkpoint(const char *path, const rnn_train_options *o, rnn_trainer *tr,
                           const rnn_batcher *bt, const float *best, const run_progress *pr,
                           char *err, size_t errlen)
{
    rnn_train_comm *cm = o->comm;
    size_t ssz = global_state_size(tr);
    float *state = calloc(ssz ? ssz : 1, sizeof(float));
    if (!state) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    state_slice(tr, state, 1);
    int rc = 0;
    if (cm) {
        /* sum(h) and sum(h^2) of a 20-bit hash h of the weights: equal hashes
         * on every rank if and only if sum(h)^2 = size * sum(h^2) */
        uLong crc = crc32(0, NULL, 0);
        crc = crc32(crc, (const Bytef *)rnn_trainer_params(tr),
                    (uInt)(rnn_trainer_num_params(tr) * sizeof(float)));
        double h = (double)(crc & 0xFFFFFu), d[2] = {h, h * h};
        rc = cm->sum(cm, state, ssz, d, 2, 0, err, errlen);
        if (rc == 0 && d[0] * d[0] != (double)cm->size * d[1]) {
            snprintf(err, errlen, "the ranks' weights differ (a rank computed another update)");
            rc = -1;
        }
    }
    if (rc == 0) {
        int wrc = !cm || cm->rank == 0
                      ? write_checkpoint(path, o, tr, bt, best, state, ssz, pr, err, errlen)
                      : 0;
        rc = wrc;
        if (cm) {
            double w = wrc != 0;
            char e2[256];
            if (cm->sum(cm, NULL, 0, &w, 1, 0, e2, sizeof e2) != 0) {
                if (wrc == 0) snprintf(err, errlen, "%s", e2);
                rc = -1;
            } else if (w > 0) {
                if (cm->rank != 0) snprintf(err, errlen, "%s: rank 0 cannot write it", path);
                rc = -1;
            }
        }
    }
    free(state);
    return rc;
}

long rnn_train_checkpoint_steps(const char *path)
{
    FILE *f = rnn_file_fopen_read(path, NULL, 0);
    if (!f) return -1;
    char magic[8];
    int32_t head[12];
    int64_t nums[5];
    long steps = -1;
    if (fread(magic, 8, 1, f) == 1 && memcmp(magic, CKPT_MAGIC, 8) == 0 &&
        fread(head, sizeof head, 1, f) == 1 && fread(nums, sizeof nums, 1, f) == 1)
        steps = (long)nums[1];
    fclose(f);
    return steps;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void format_hms(char *buf, size_t n, double s)
{
    if (s < 0 || s > 1e7) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

/* The valid NLL of the trainer's weights, computed by rank 0 and sent to the
 * other ranks, which wait for it with an allowance of `allow` seconds. The
 * carried state is kept. 0, or -1 with a message. */
static int validate(rnn_trainer *tr, const rnn_train_options *o, const rnn_seq_list *valid,
                    double allow, double *vnll, char *err, size_t errlen)
{
    rnn_train_comm *cm = o->comm;
    *vnll = -1;
    if (!cm || cm->rank == 0) {
        float *state = malloc(rnn_trainer_state_size(tr) * sizeof(float));
        if (!state) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        rnn_trainer_state_get(tr, state);
        *vnll = rnn_trainer_evaluate(tr, valid, o->cfg.kind, NULL, NULL);
        rnn_trainer_state_set(tr, state);
        free(state);
    }
    if (cm && cm->bcast(cm, vnll, sizeof *vnll, allow, err, errlen) != 0) return -1;
    return 0;
}

int rnn_train_run(const rnn_train_options *o, const rnn_seq_list *train, const rnn_seq_list *valid,
                  rnn_train_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    res->best_valid = res->last_valid = -1;
    size_t tokens = 0;
    for (size_t i = 0; i < train->count; i++)
        if (train->seqs[i].len >= 2) tokens += train->seqs[i].len - 1;
    if (tokens == 0) {
        snprintf(err, errlen, "no training sequence of two steps or more");
        return -1;
    }
    int have_valid = 0;
    for (size_t i = 0; valid && i < valid->count; i++)
        have_valid |= valid->seqs[i].len >= 2;
    if (o->epochs < 1 || o->lr <= 0 || o->clip < 0 || o->dropout < 0 || o->dropout >= 1 ||
        o->weight_decay < 0 || o->patience < 1) {
        snprintf(err, errlen,
                 "impossible options: epochs %d, lr %g, clip %g, dropout %g, weight decay %g, "
                 "patience %d",
                 o->epochs, o->lr, o->clip, o->dropout, o->weight_decay, o->patience);
        return -1;
    }

    /* data parallelism: this rank's lanes b0 .. b0 + nb - 1 of the batch */
    rnn_train_comm *cm = o->comm;
    const int rank = cm ? cm->rank : 0, size = cm ? cm->size : 1;
    if (size < 1 || rank < 0 || rank >= size || o->batch < size) {
        snprintf(err, errlen, "a batch of %d lanes cannot be shared by %d ranks (--batch >= ranks)",
                 o->batch, size);
        return -1;
    }
    const int b0 = (int)((long)o->batch * rank / size),
              nb = (int)((long)o->batch * (rank + 1) / size) - b0;
    rnn_trainer *tr = rnn_trainer_create(&o->cfg, nb, o->seq_len, err, errlen);
    if (!tr) return -1;
    if (rnn_trainer_set_lane_slice(tr, o->batch, b0) != 0) {
        snprintf(err, errlen, "bad lane slice");
        rnn_trainer_free(tr);
        return -1;
    }
    const size_t P = rnn_trainer_num_params(tr), TB = (size_t)o->batch * o->seq_len;
    rnn_batcher *bt =
        rnn_batcher_create(train, o->cfg.kind, o->batch, o->seq_len, 1, o->transpose, o->seed);
    float *best = malloc(P * sizeof(float));
    int32_t *in = malloc(TB * sizeof(int32_t)), *tg = malloc(TB * sizeof(int32_t));
    int rc = -1;
    if (!bt || !best || !in || !tg) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (o->init) {
        if (rnn_trainer_load_model(tr, o->init, err, errlen) != 0) goto done;
    } else {
        rnn_trainer_init_params(tr, o->seed);
    }
    rnn_trainer_set_dropout(tr, o->dropout, o->seed ^ 0xD80F0Full);
    if (o->threads > 1 && rnn_trainer_set_threads(tr, o->threads) != 0) {
        snprintf(err, errlen, "cannot start %d threads", o->threads);
        goto done;
    }
    memcpy(best, rnn_trainer_params(tr), P * sizeof(float));

    run_progress pr = {0, 0, 0, -1, 0, 0};
    long spe = o->steps_per_epoch > 0 ? o->steps_per_epoch : (long)((tokens + TB - 1) / TB);
    if (o->resume_path) {
        if (load_checkpoint(o->resume_path, o, tr, bt, best, &pr, err, errlen) != 0) goto done;
        /* the best weights are those of the last epoch that improved */
        if (pr.best_valid >= 0) pr.best_step = (long)(pr.epoch - pr.bad_epochs) * spe;
    }
    long total = spe * o->epochs;
    long stop = o->max_steps > 0 && o->max_steps < total ? o->max_steps : total;
    double t0 = now_seconds(), last_ckpt = t0, last_line = t0, rate_t = t0;
    long rate_step = pr.step;
    double rate = 0, loss = 0, t_start = t0;
    const long first_step = pr.step;
    int stopped = pr.bad_epochs >= o->patience;
    int group_stop = 0, group_ckpt = 0; /* the group's agreed interrupt and checkpoint */
    size_t valid_tokens = 0;
    for (size_t i = 0; have_valid && i < valid->count; i++)
        valid_tokens += valid->seqs[i].len;
    double step_time = 0; /* mean seconds per step, for the wait on rank 0's evaluation */
    /* the other ranks wait for rank 0's evaluation: its windows of nb lanes
     * at a generous guess of their time */
    const double valid_windows =
        have_valid ? (double)valid_tokens / ((double)nb * o->seq_len) + (double)valid->count : 0;
    double last_vnll = -1; /* the valid NLL of the last step, when it was validated */

    while (pr.step < stop && !stopped) {
        if (cm ? group_stop : o->interrupt && *o->interrupt) {
            res->interrupted = 1;
            break;
        }
        long gcount = rnn_batcher_next(bt, tr, in, tg);
        rnn_trainer_zero_grad(tr);
        long count = 0;
        double nll = rnn_trainer_forward(tr, in, tg, 1, &count, NULL);
        if (cm) rnn_trainer_set_loss_count(tr, gcount);
        rnn_trainer_backward(tr);
        if (cm) {
            /* one fused sum of the gradients, with the loss and the flags */
            double d[3] = {nll, o->interrupt && *o->interrupt ? 1 : 0,
                           rank == 0 && o->checkpoint_path && o->checkpoint_seconds > 0 &&
                                   now_seconds() - last_ckpt >= o->checkpoint_seconds
                               ? 1
                               : 0};
            if (cm->sum(cm, rnn_trainer_grads(tr), P, d, 3, 0, err, errlen) != 0) goto done;
            nll = d[0];
            count = gcount;
            group_stop = d[1] > 0;
            group_ckpt = d[2] > 0;
        }
        double norm = rnn_trainer_clip_grad(tr, o->clip);
        double lr = rnn_train_lr(o, pr.step, total);
        rnn_trainer_adamw(tr, (float)lr, o->beta1, o->beta2, o->eps, o->weight_decay, pr.step + 1);
        pr.step++;
        loss = count ? nll / count : 0;
        if (!isfinite(loss) || !isfinite(norm)) {
            snprintf(err, errlen,
                     "the loss diverged at step %ld (loss %g, gradient norm %g): lower --lr",
                     pr.step, loss, norm);
            goto done;
        }

        double t = now_seconds();
        if (t - rate_t >= 2.0 || rate == 0) {
            if (pr.step > rate_step && t > rate_t) rate = (pr.step - rate_step) / (t - rate_t);
            rate_t = t;
            rate_step = pr.step;
        }
        double vnll = -1;
        int epoch_end = pr.step % spe == 0;
        if (epoch_end) {
            pr.epoch++;
            if (have_valid) {
                if (validate(tr, o, valid, 60 + 10 * valid_windows * step_time, &vnll, err,
                             errlen) != 0)
                    goto done;
                last_vnll = vnll;
                rate_t = now_seconds(); /* the rate counts training steps only */
                rate_step = pr.step;
                if (pr.best_valid < 0 || vnll < pr.best_valid) {
                    pr.best_valid = vnll;
                    pr.best_step = pr.step;
                    pr.bad_epochs = 0;
                    memcpy(best, rnn_trainer_params(tr), P * sizeof(float));
                } else if (++pr.bad_epochs >= o->patience) {
                    stopped = 1;
                }
            }
        }
        if (o->log_csv) {
            fprintf(o->log_csv, "%ld,%d,%.6f,", pr.step, pr.epoch, loss);
            if (vnll >= 0) fprintf(o->log_csv, "%.6f", vnll);
            fprintf(o->log_csv, ",%.6g,%.6g,%.3f\n", lr, norm, rate);
            if (epoch_end) fflush(o->log_csv);
        }
        if (o->progress) {
            char eta[32];
            format_hms(eta, sizeof eta, rate > 0 ? (stop - pr.step) / rate : 0);
            double pct = 100.0 * (double)pr.step / (double)stop; /* of the whole run */
            int last = pr.step == stop;
            if (o->progress_tty && (epoch_end || last || t - last_line >= 0.1 || pr.step == 1)) {
                last_line = t;
                int w = 30, fill = (int)(pct / 100 * w);
                char bar[64];
                for (int i = 0; i < w; i++)
                    bar[i] = i < fill ? '#' : '.';
                bar[w] = 0;
                fprintf(o->progress,
                        "\repoch %d/%ld [%s] %5.1f%%  %.2f steps/s  ETA %s  loss %.4f   ",
                        pr.epoch + (epoch_end ? 0 : 1), (stop + spe - 1) / spe, bar, pct, rate, eta,
                        loss);
                if (epoch_end && vnll >= 0)
                    fprintf(o->progress, "\nepoch %d: valid NLL %.4f%s\n", pr.epoch, vnll,
                            vnll == pr.best_valid ? " (best)" : "");
                else if (epoch_end)
                    fputc('\n', o->progress);
                fflush(o->progress);
            } else if (!o->progress_tty &&
                       (epoch_end || last || t - last_line >= 10.0 || pr.step == 1)) {
                fprintf(o->progress, "step %ld/%ld epoch %d %.1f%% %.2f steps/s ETA %s loss %.4f",
                        pr.step, stop, pr.epoch + (epoch_end ? 0 : 1), pct, rate, eta, loss);
                if (epoch_end && vnll >= 0)
                    fprintf(o->progress, " valid_nll %.4f%s", vnll,
                            vnll == pr.best_valid ? " (best)" : "");
                fputc('\n', o->progress);
                fflush(o->progress);
                last_line = t;
            }
        }
        if (cm ? group_ckpt
               : o->checkpoint_path && o->checkpoint_seconds > 0 &&
                     t - last_ckpt >= o->checkpoint_seconds) {
            pr.seconds += t - t0;
            t0 = t;
            if (o->log_csv) fflush(o->log_csv); /* the log covers the checkpoint */
            if (save_checkpoint(o->checkpoint_path, o, tr, bt, best, &pr, err, errlen) != 0)
                goto done;
            last_ckpt = t;
        }
        step_time = (now_seconds() - t_start) / (double)(pr.step - first_step);
    }
    pr.seconds += now_seconds() - t0;
    if (o->progress && o->progress_tty) fputc('\n', o->progress);
    if (o->checkpoint_path &&
        save_checkpoint(o->checkpoint_path, o, tr, bt, best, &pr, err, errlen) != 0)
        goto done;
    res->last_valid = pr.step == pr.best_step ? pr.best_valid : last_vnll;
    if (!have_valid) {
        memcpy(best, rnn_trainer_params(tr), P * sizeof(float));
        pr.best_step = pr.step;
    } else if (pr.step == 0 || pr.step % spe != 0) {
        /* the run stopped between validations (max_steps, an interrupt): the
         * last weights are validated too, after the checkpoint, which keeps
         * the epochs' choice so that a resumed run goes on as if never
         * stopped */
        if (o->progress) {
            fprintf(o->progress, "validating the weights of step %ld\n", pr.step);
            fflush(o->progress);
        }
        double vnll;
        if (validate(tr, o, valid, 60 + 10 * valid_windows * step_time, &vnll, err, errlen) != 0)
            goto done;
        res->last_valid = vnll;
        int better = pr.best_valid < 0 || vnll < pr.best_valid;
        if (o->progress) {
            fprintf(o->progress, "step %ld: valid NLL %.4f%s\n", pr.step, vnll,
                    better ? " (best)" : "");
            fflush(o->progress);
        }
        if (better) {
            pr.best_valid = vnll;
            pr.best_step = pr.step;
            memcpy(best, rnn_trainer_params(tr), P * sizeof(float));
        }
    }
    res->steps = pr.step;
    res->epochs = pr.epoch;
    res->early_stopped = stopped;
    res->best_step = pr.best_step;
    res->best_valid = pr.best_valid;
    res->last_loss = loss;
    res->seconds = pr.seconds;
    res->best_params = best;
    res->n_params = P;
    best = NULL;
    rc = 0;
done:
    rnn_trainer_free(tr);
    rnn_batcher_free(bt);
    free(best);
    free(in);
    free(tg);
    return rc;
}
