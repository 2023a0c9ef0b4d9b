/* SPDX-License-Identifier: MIT */
/* rnnmidi core: the bidirectional encoder (contract in encoder.h, equations
 * in FORMAT.md, "Bidirectional encoder").
 *
 * One unit of work is one step of one direction of one layer: the products
 * W_ih x + b_ih and W_hh h + b_hh into two gate buffers, then the cell's
 * gate function updates h (and c) in place and writes h into the output row
 * of that step. The input side and the hidden side are kept apart for every
 * cell, since GRU needs them apart (b_hn inside the reset product) and the
 * others only add them. Each row is summed in column order in float, so a
 * unit gives the same bits whenever it runs; the cursor (layer, direction,
 * step) is all a slice boundary has to keep.
 *
 * The layers' outputs ping-pong between two (max_steps, 2 He) buffers:
 * layer k writes out[k & 1] and reads out[(k - 1) & 1] (layer 0 reads the
 * copied input), so the top layer's outputs are out[(Le - 1) & 1] and no
 * buffer is overwritten while a layer still reads it.
 *
 * The weights are copied at create into one block, row-major as the file
 * has them: an encoder runs once per clip, not per step of the audio grid,
 * so plain loops serve. Denormals: each work call sets FTZ/DAZ in MXCSR on
 * x86 and restores the caller's mode before returning, as core/net.c does.
 * Letters: Le layers, He hidden per direction, G gates, In input columns,
 * I_k the input of layer k, T steps. */
#include "encoder.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || (defined(__i386__) && defined(__SSE__))
#include <xmmintrin.h>
#define RNN_HAVE_MXCSR 1
#endif

/* One direction of one layer: its weights (in the block) and its state. */
typedef struct {
    const float *wih; /* (G He, I_k) */
    const float *whh; /* (G He, He) */
    const float *bih; /* (G He) */
    const float *bhh; /* (G He) */
} rnn_enc_dir;

/* A cell's gate function: h (and c) of one direction from the products of
 * the input side gi and of the hidden side gh, both with their biases. */
typedef void (*rnn_enc_gate_fn)(float *restrict h, float *restrict c, const float *restrict gi,
                                const float *restrict gh, int He);

struct rnn_enc {
    rnn_enc_config cfg;
    int G;
    rnn_enc_gate_fn gate;
    rnn_enc_dir dir[RNN_ENC_MAX_LAYERS][2];

    float *in;      /* (max_steps, In) the sequence begun */
    float *out[2];  /* (max_steps, 2 He) each, the layers' outputs in turn */
    float *h, *c;   /* (He) the state of the direction under way */
    float *gi, *gh; /* (G He) */

    /* the run: T steps, cursor at (layer, direction, step of that direction) */
    int T;
    int layer, d, t;
    int done_units;
    int finished; /* out holds a finished run of T steps */
    int busy;

    void *block;
    size_t block_bytes;
};

/* ------------------------------------------------------------------------ */
/* Gate functions, PyTorch's equations (core/cell.c). */

static float sigmoid(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

static void gate_rnn(float *restrict h, float *restrict c, const float *restrict gi,
                     const float *restrict gh, int He)
{
    (void)c;
    for (int j = 0; j < He; j++)
        h[j] = tanhf(gi[j] + gh[j]);
}

static void gate_lstm(float *restrict h, float *restrict c, const float *restrict gi,
                      const float *restrict gh, int He)
{
    for (int j = 0; j < He; j++) {
        const float i = sigmoid(gi[j] + gh[j]);
        const float f = sigmoid(gi[He + j] + gh[He + j]);
        const float g = tanhf(gi[2 * He + j] + gh[2 * He + j]);
        const float o = sigmoid(gi[3 * He + j] + gh[3 * He + j]);
        c[j] = f * c[j] + i * g;
        h[j] = o * tanhf(c[j]);
    }
}

static void gate_gru(float *restrict h, float *restrict c, const float *restrict gi,
                     const float *restrict gh, int He)
{
    (void)c;
    for (int j = 0; j < He; j++) {
        const float r = sigmoid(gi[j] + gh[j]);
        const float z = sigmoid(gi[He + j] + gh[He + j]);
        const float n = tanhf(gi[2 * He + j] + r * gh[2 * He + j]);
        h[j] = (1.0f - z) * n + z * h[j];
    }
}

static const rnn_enc_gate_fn gate_fns[RNN_CELL_COUNT] = {
    [RNN_CELL_RNN] = gate_rnn,
    [RNN_CELL_LSTM] = gate_lstm,
    [RNN_CELL_GRU] = gate_gru,
};

/* ------------------------------------------------------------------------ */
/* Sizes and tensors. */

int rnn_enc_config_check(const rnn_enc_config *cfg, int check_steps, char *err, size_t errlen)
{
    const char *what = NULL;
    long v = 0, hi = 0;
    if (!cfg) {
        snprintf(err, errlen, "no encoder configuration");
        return -1;
    }
    if (!rnn_cell_describe(cfg->cell))
        what = "cell", v = cfg->cell, hi = RNN_CELL_COUNT - 1;
    else if (cfg->layers < 1 || cfg->layers > RNN_ENC_MAX_LAYERS)
        what = "layers", v = cfg->layers, hi = RNN_ENC_MAX_LAYERS;
    else if (cfg->inputs < 1 || cfg->inputs > RNN_ENC_MAX_INPUTS)
        what = "input columns", v = cfg->inputs, hi = RNN_ENC_MAX_INPUTS;
    else if (cfg->hidden < 1 || cfg->hidden > RNN_ENC_MAX_HIDDEN)
        what = "hidden size", v = cfg->hidden, hi = RNN_ENC_MAX_HIDDEN;
    else if (check_steps && (cfg->max_steps < 1 || cfg->max_steps > RNN_ENC_MAX_STEPS))
        what = "maximum steps", v = cfg->max_steps, hi = RNN_ENC_MAX_STEPS;
    if (what) {
        snprintf(err, errlen, "encoder %s %ld outside %d..%ld", what, v,
                 strcmp(what, "cell") == 0 ? 0 : 1, hi);
        return -1;
    }
    return 0;
}

int rnn_enc_tensor_specs(const rnn_enc_config *cfg, rnn_tensor_spec *specs)
{
    char err[128];
    if (rnn_enc_config_check(cfg, 0, err, sizeof err) != 0) return -1;
    const rnn_cell_desc *d = rnn_cell_describe(cfg->cell);
    const int GH = d->gates * cfg->hidden;
    int n = 0;
    for (int k = 0; k < cfg->layers; k++)
        for (int r = 0; r < 2; r++)
            for (int i = 0; i < RNN_CELL_LAYER_TENSORS; i++) {
                const rnn_cell_tensor *ct = &d->tensors[i];
                rnn_tensor_spec *s = &specs[n++];
                /* the cell's names are "rnn.weight_ih_l": the encoder's
                 * are the same after "enc." */
                const char *base = strchr(ct->name, '.');
                snprintf(s->name, sizeof s->name, "enc%s%d%s", base ? base : ct->name, k,
                         r ? "_reverse" : "");
                s->shape[0] = GH;
                if (ct->cols == 0) {
                    s->ndim = 1;
                    s->shape[1] = 1;
                } else {
                    s->ndim = 2;
                    s->shape[1] = ct->cols == 'H' ? cfg->hidden
                                  : k == 0        ? cfg->inputs
                                                  : 2 * cfg->hidden;
                }
                s->count = (size_t)s->shape[0] * s->shape[1];
            }
    return n;
}

size_t rnn_enc_step_macs(const rnn_enc_config *cfg)
{
    rnn_tensor_spec specs[RNN_ENC_MAX_TENSORS];
    const int n = rnn_enc_tensor_specs(cfg, specs);
    size_t macs = 0;
    for (int i = 0; i < n; i++)
        if (specs[i].ndim == 2) macs += specs[i].count;
    return macs;
}

/* ------------------------------------------------------------------------ */
/* Create and free. */

/* floats rounded up to a 64-byte boundary */
static size_t pad16(size_t n)
{
    return (n + 15) / 16 * 16;
}

rnn_enc *rnn_enc_create(const rnn_enc_config *cfg, const float *const *tensors, char *err,
                        size_t errlen)
{
    if (rnn_enc_config_check(cfg, 1, err, errlen) != 0) return NULL;
    rnn_tensor_spec specs[RNN_ENC_MAX_TENSORS];
    const int n = rnn_enc_tensor_specs(cfg, specs);
    for (int i = 0; i < n; i++)
        if (!tensors || !tensors[i]) {
            snprintf(err, errlen, "encoder tensor %s missing", specs[i].name);
            return NULL;
        }
    const size_t He = (size_t)cfg->hidden, S = (size_t)cfg->max_steps;
    const int G = rnn_cell_gates(cfg->cell);
    size_t floats = 0;
    for (int i = 0; i < n; i++)
        floats += pad16(specs[i].count);
    floats += pad16(S * (size_t)cfg->inputs) + 2 * pad16(S * 2 * He) + 2 * pad16(He) +
              2 * pad16((size_t)G * He);
    rnn_enc *enc = calloc(1, sizeof *enc);
    float *block = aligned_alloc(64, floats * sizeof(float));
    if (!enc || !block) {
        free(enc), free(block);
        snprintf(err, errlen, "encoder: out of memory (%zu bytes)", floats * sizeof(float));
        return NULL;
    }
    memset(block, 0, floats * sizeof(float));
    enc->cfg = *cfg;
    enc->G = G;
    enc->gate = gate_fns[cfg->cell];
    enc->block = block;
    enc->block_bytes = floats * sizeof(float);
    float *p = block;
    for (int i = 0; i < n; i++) {
        memcpy(p, tensors[i], specs[i].count * sizeof(float));
        rnn_enc_dir *d = &enc->dir[i / RNN_ENC_TENSORS_PER_LAYER][(i / RNN_CELL_LAYER_TENSORS) & 1];
        const float **slot[RNN_CELL_LAYER_TENSORS] = {&d->wih, &d->whh, &d->bih, &d->bhh};
        *slot[i % RNN_CELL_LAYER_TENSORS] = p;
        p += pad16(specs[i].count);
    }
    enc->in = p, p += pad16(S * (size_t)cfg->inputs);
    enc->out[0] = p, p += pad16(S * 2 * He);
    enc->out[1] = p, p += pad16(S * 2 * He);
    enc->h = p, p += pad16(He);
    enc->c = p, p += pad16(He);
    enc->gi = p, p += pad16((size_t)G * He);
    enc->gh = p;
    return enc;
}

rnn_enc *rnn_enc_create_model(const rnn_model *model, int max_steps, char *err, size_t errlen)
{
    const rnn_model_config *m = model ? rnn_model_get_config(model) : NULL;
    if (!m || m->enc_layers < 1) {
        snprintf(err, errlen, "the model has no bidirectional encoder");
        return NULL;
    }
    const rnn_enc_config cfg = {.cell = m->cell,
                                .layers = m->enc_layers,
                                .inputs = m->enc_inputs,
                                .hidden = m->enc_hidden,
                                .max_steps = max_steps};
    rnn_tensor_spec specs[RNN_ENC_MAX_TENSORS];
    const float *tensors[RNN_ENC_MAX_TENSORS];
    const int n = rnn_enc_tensor_specs(&cfg, specs);
    for (int i = 0; i < n; i++) {
        size_t count = 0;
        tensors[i] = rnn_model_tensor(model, specs[i].name, &count);
        if (tensors[i] && count != specs[i].count) tensors[i] = NULL;
    }
    return rnn_enc_create(&cfg, n > 0 ? tensors : NULL, err, errlen);
}

void rnn_enc_free(rnn_enc *enc)
{
    if (!enc) return;
    free(enc->block);
    free(enc);
}

size_t rnn_enc_bytes(const rnn_enc *enc)
{
    return enc ? sizeof *enc + enc->block_bytes : 0;
}

const rnn_enc_config *rnn_enc_get_config(const rnn_enc *enc)
{
    return &enc->cfg;
}

/* ------------------------------------------------------------------------ */
/* The run. */

/* y (rows) = b + W x, W (rows, K) row-major, each row summed in column order */
static void affine(float *restrict y, const float *restrict w, const float *restrict b,
                   const float *restrict x, int rows, int K)
{
    for (int r = 0; r < rows; r++) {
        const float *wr = w + (size_t)r * K;
        float s = 0.0f;
        for (int k = 0; k < K; k++)
            s += wr[k] * x[k];
        y[r] = s + b[r];
    }
}

/* One unit: the step of the cursor's layer and direction, then the cursor
 * moves on (to the reverse direction, then to the next layer). */
static void unit(rnn_enc *enc)
{
    const int He = enc->cfg.hidden, GH = enc->G * He, T = enc->T, k = enc->layer, d = enc->d;
    const int Ik = k == 0 ? enc->cfg.inputs : 2 * He;
    const float *in = k == 0 ? enc->in : enc->out[(k - 1) & 1];
    float *out = enc->out[k & 1];
    const rnn_enc_dir *w = &enc->dir[k][d];
    if (enc->t == 0) { /* each direction starts from the zero state */
        memset(enc->h, 0, (size_t)He * sizeof(float));
        memset(enc->c, 0, (size_t)He * sizeof(float));
    }
    const int step = d ? T - 1 - enc->t : enc->t;
    affine(enc->gi, w->wih, w->bih, in + (size_t)step * Ik, GH, Ik);
    affine(enc->gh, w->whh, w->bhh, enc->h, GH, He);
    enc->gate(enc->h, enc->c, enc->gi, enc->gh, He);
    memcpy(out + (size_t)step * 2 * He + (size_t)d * He, enc->h, (size_t)He * sizeof(float));
    enc->done_units++;
    if (++enc->t < T) return;
    enc->t = 0;
    if (++enc->d < 2) return;
    enc->d = 0;
    enc->layer++;
}

int rnn_enc_begin(rnn_enc *enc, const float *x, int T)
{
    if (!x || T < 1 || T > enc->cfg.max_steps) return -1;
    memcpy(enc->in, x, (size_t)T * enc->cfg.inputs * sizeof(float));
    enc->T = T;
    enc->layer = enc->d = enc->t = 0;
    enc->done_units = 0;
    enc->finished = 0;
    enc->busy = 1;
    return 0;
}

int rnn_enc_work(rnn_enc *enc, int budget)
{
    if (!enc->busy) return 1;
#ifdef RNN_HAVE_MXCSR
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040); /* FTZ | DAZ */
#endif
    if (budget < 1) budget = 1;
    while (budget-- > 0 && enc->layer < enc->cfg.layers)
        unit(enc);
    if (enc->layer == enc->cfg.layers) {
        enc->busy = 0;
        enc->finished = 1;
    }
#ifdef RNN_HAVE_MXCSR
    _mm_setcsr(csr);
#endif
    return !enc->busy;
}

int rnn_enc_work_total(const rnn_enc *enc)
{
    return 2 * enc->cfg.layers * enc->T;
}

int rnn_enc_work_done(const rnn_enc *enc)
{
    return enc->done_units;
}

int rnn_enc_run(rnn_enc *enc, const float *x, int T)
{
    if (rnn_enc_begin(enc, x, T) != 0) return -1;
    rnn_enc_work(enc, rnn_enc_work_total(enc));
    return 0;
}

const float *rnn_enc_output(const rnn_enc *enc, int *T)
{
    if (T) *T = enc->finished ? enc->T : 0;
    return enc->finished ? enc->out[(enc->cfg.layers - 1) & 1] : NULL;
}
