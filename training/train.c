/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the trainer object, and the batched forward pass and
 * backpropagation through time of one window (contract in train.h; the
 * files of the trainer are listed in train_impl.h).
 *
 * The parameters are one block in core/model.c's tensor order, so a preset
 * is written from views into it; gradients and Adam moments share the
 * layout. The activations of a window are one block of named views too
 * (rnn_train_acts). Each cell type's step runs through its row of
 * train_cells.c, the products of the input side and of the head here, as
 * stages split across the threads (train_pool.c).
 *
 * A conditioned model's layer 0 reads x = [embed(e) or onehot(e) | cond]:
 * W_ih of layer 0 is (GH, I0 + C), the event's columns then the condition
 * columns (the lookback columns, when the model takes them, are the last of
 * these C: to the trainer they are conditions like the others), so its
 * products take ld0 = I0 + C as their leading dimension and the condition
 * block is one more product over the (T*B, C) 0/1 columns.
 *
 * With a bidirectional encoder (train_encoder.h) layer 0 reads
 * [event | cond | enc]: the encoder runs over each window's encoder inputs
 * first, and its outputs (T*B, Ce) are one more dense block of W_ih's
 * columns, as the condition block is (after dropout, in training); in the
 * backward the gradient of that block's input, dg W_enc, goes back into
 * the encoder.
 *
 * With attention (train_attention.h) the head reads [h_top | ctx] (2H
 * columns): its gradient splits into the top layer's dh and the contexts',
 * which the attention's backward turns into more of dh before BPTT. The
 * attention reads the top layer's outputs before dropout (as the core's
 * does), the head the dropped-out ones; each window's outputs are carried
 * into the next window's past.
 *
 * Letters: B lanes, T steps, E embedding, I layer input, H hidden, G gates,
 * GH = G*H, V vocabulary, L layers, C condition and lookback columns. Arrays are
 * time-major: row t * B + b. */
#include "train_attention.h"
#include "train_impl.h"
#include "train_kernels.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* The trainer. */

/* Offsets of the tensors of core/model.c's specs in the parameter block, and
 * of the named ones: embed (when E > 0), the cell's four per layer, the head. */
static void param_layout(rnn_trainer *tr)
{
    size_t off = 0;
    for (int i = 0; i < tr->n_tensors; i++) {
        tr->offsets[i] = off;
        off += tr->specs[i].count;
    }
    tr->n_params = off;
    const int first = tr->E > 0 ? 1 : 0;
    tr->o_embed = 0;
    for (int k = 0; k < tr->L; k++) {
        const size_t *o = tr->offsets + first + (size_t)k * RNN_CELL_LAYER_TENSORS;
        tr->o_wih[k] = o[0];
        tr->o_whh[k] = o[1];
        tr->o_bih[k] = o[2];
        tr->o_bhh[k] = o[3];
    }
    tr->o_headw = tr->offsets[tr->n_tensors - 2];
    tr->o_headb = tr->offsets[tr->n_tensors - 1];
    for (int i = 0; i < tr->n_enc; i++) /* the encoder's, after the decoder's layers */
        tr->o_enc[i] = tr->offsets[first + (size_t)tr->L * RNN_CELL_LAYER_TENSORS + i];
    if (tr->N > 0) { /* attn.W1, attn.W2, attn.v just before the head */
        tr->o_attn_w1 = tr->offsets[tr->n_tensors - 5];
        tr->o_attn_w2 = tr->offsets[tr->n_tensors - 4];
        tr->o_attn_v = tr->offsets[tr->n_tensors - 3];
    }
}

/* The attention's buffers (N > 0); 1, or 0 out of memory. */
static int attn_alloc(rnn_trainer *tr)
{
    const size_t B = (size_t)tr->B, T = (size_t)tr->T, N = (size_t)tr->N, H = (size_t)tr->H;
    return (tr->past = xcalloc(N * B * H, sizeof(float))) &&
           (tr->past_used = xcalloc(N * B * H, sizeof(float))) &&
           (tr->npast = xcalloc(B, sizeof(int))) && (tr->npast_used = xcalloc(B, sizeof(int))) &&
           (tr->ctx = xcalloc(T * B * H, sizeof(float))) &&
           (tr->att = xcalloc(T * B * N, sizeof(float))) &&
           (tr->attn_cache =
                xcalloc(rnn_attn_cache_size(tr->B, tr->T, tr->N, tr->A), sizeof(float))) &&
           (tr->attn_scratch =
                xcalloc(rnn_attn_scratch_size(tr->B, tr->T, tr->N, tr->A), sizeof(float))) &&
           (tr->hcat = xcalloc(T * B * 2 * H, sizeof(float))) &&
           (tr->dhcat = xcalloc(T * B * 2 * H, sizeof(float)));
}

/* The encoder's buffers (Ce > 0); 1, or 0 out of memory. */
static int enc_alloc(rnn_trainer *tr)
{
    const size_t TB = (size_t)tr->T * tr->B;
    return (tr->enc_x = xcalloc(TB * (size_t)tr->ecfg.inputs, sizeof(float))) &&
           (tr->enc_out = xcalloc(TB * (size_t)tr->Ce, sizeof(float))) &&
           (tr->denc = xcalloc(TB * (size_t)tr->Ce, sizeof(float))) &&
           (tr->enc_mask = xcalloc(TB * (size_t)tr->Ce, sizeof(float))) &&
           (tr->enc_drop = xcalloc(TB * (size_t)tr->Ce, sizeof(float))) &&
           (tr->enc_acts =
                xcalloc(rnn_enc_train_acts_size(&tr->ecfg, tr->B, tr->T), sizeof(float))) &&
           (tr->enc_scratch =
                xcalloc(rnn_enc_train_scratch_size(&tr->ecfg, tr->B, tr->T), sizeof(float)));
}

/* The views of the activation block from base (NULL: sizes only); returns
 * the floats of the block. Each view starts on a 64-byte boundary. */
static size_t acts_layout(rnn_trainer *tr, float *base)
{
    rnn_train_acts *a = &tr->acts;
    const size_t TB = (size_t)tr->T * tr->B, BH = (size_t)tr->B * tr->H, H = (size_t)tr->H,
                 GH = (size_t)tr->G * tr->H, V = (size_t)tr->V, L = (size_t)tr->L;
    const int ptab = tr->E > 0, cstate = tr->cell->state_parts > 1, aux = tr->tcell->aux,
              apart = tr->cell->hh_apart;
    size_t off = 0;
#define VIEW(ptr, n)                                                                               \
    do {                                                                                           \
        const size_t n_ = (n);                                                                     \
        (ptr) = base && n_ ? base + off : NULL;                                                    \
        off += (n_ + 15) / 16 * 16;                                                                \
    } while (0)
    VIEW(a->ptab, ptab ? V * GH : 0);
    VIEW(a->stab, ptab ? V * GH : 0);
    for (size_t l = 0; l < L; l++) {
        VIEW(a->hs[l], (TB + tr->B) * H);
        VIEW(a->cs[l], cstate ? (TB + tr->B) * H : 0);
        VIEW(a->aux[l], aux ? TB * H : 0);
        VIEW(a->gates[l], TB * GH);
    }
    for (size_t l = 1; l <= L; l++) {
        VIEW(a->drop[l], TB * H);
        VIEW(a->xin[l], TB * H);
    }
    VIEW(a->logits, TB * V);
    VIEW(a->probs, TB * V);
    VIEW(a->dh, TB * H);
    VIEW(a->dg, TB * GH);
    VIEW(a->dgh, apart ? TB * GH : 0);
    VIEW(a->dhn, BH);
    VIEW(a->dcn, BH);
    VIEW(a->ghh, apart ? (size_t)tr->B * GH : 0);
    VIEW(a->wpack, rnn_k_pack_size(tr->G * tr->H, tr->H) > rnn_k_pack_size(tr->H, tr->G * tr->H)
                       ? rnn_k_pack_size(tr->G * tr->H, tr->H)
                       : rnn_k_pack_size(tr->H, tr->G * tr->H));
    VIEW(a->state_h, L * BH);
    VIEW(a->state_c, L * BH);
#undef VIEW
    return off;
}

rnn_trainer *rnn_trainer_create(const rnn_model_config *cfg, int B, int T, char *err, size_t errlen)
{
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int n = rnn_model_shape_specs(cfg, specs);
    if (n < 0 || cfg->vocab < 2) {
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
    tr->cell = rnn_cell_describe(cfg->cell);
    tr->tcell = rnn_train_cell_get(cfg->cell);
    tr->B = B;
    tr->T = T;
    tr->L = cfg->layers;
    tr->E = cfg->embed;
    tr->H = cfg->hidden;
    tr->V = cfg->vocab;
    tr->G = tr->cell->gates;
    tr->I0 = cfg->embed > 0 ? cfg->embed : cfg->vocab;
    tr->C = rnn_model_input_columns(cfg);
    tr->Ce = rnn_model_enc_columns(cfg);
    tr->ld0 = tr->I0 + tr->C + tr->Ce;
    tr->ecfg = (rnn_enc_config){.cell = cfg->cell,
                                .layers = cfg->enc_layers,
                                .inputs = cfg->enc_inputs,
                                .hidden = cfg->enc_hidden,
                                .max_steps = T};
    tr->n_enc = cfg->enc_layers * 2 * RNN_CELL_LAYER_TENSORS;
    tr->Bg = B;
    tr->b0 = 0;
    tr->N = cfg->attn_window;
    tr->A = cfg->attn_size;
    tr->Hh = tr->N > 0 ? 2 * tr->H : tr->H;
    tr->n_tensors = n;
    memcpy(tr->specs, specs, (size_t)n * sizeof specs[0]);
    param_layout(tr);

    const size_t P = tr->n_params, TB = (size_t)T * B, nact = acts_layout(tr, NULL);
    int ok = (tr->params = xcalloc(P, sizeof(float))) && (tr->grads = xcalloc(P, sizeof(float))) &&
             (tr->m = xcalloc(P, sizeof(float))) && (tr->v = xcalloc(P, sizeof(float))) &&
             (tr->inputs = xcalloc(TB, sizeof(int32_t))) &&
             (tr->targets = xcalloc(TB, sizeof(int32_t))) &&
             (tr->cond = xcalloc(TB * (size_t)tr->C, sizeof(float))) &&
             (tr->act_block = aligned_alloc(64, nact * sizeof(float))) &&
             (tr->N == 0 || attn_alloc(tr)) && (tr->Ce == 0 || enc_alloc(tr));
    if (!ok) {
        rnn_trainer_free(tr);
        goto oom;
    }
    memset(tr->act_block, 0, nact * sizeof(float));
    acts_layout(tr, tr->act_block);
    tr->rng = 0x5EEDull;
    return tr;
oom:
    snprintf(err, errlen, "out of memory for the trainer (batch %d x %d steps, %d x %d %s)", B, T,
             cfg->layers, cfg->hidden, rnn_cell_name(cfg->cell));
    return NULL;
}

void rnn_trainer_free(rnn_trainer *tr)
{
    if (!tr) return;
    rnn_pool_free(tr->pool);
    free(tr->params);
    free(tr->grads);
    free(tr->m);
    free(tr->v);
    free(tr->inputs);
    free(tr->targets);
    free(tr->cond);
    free(tr->act_block);
    free(tr->past);
    free(tr->past_used);
    free(tr->npast);
    free(tr->npast_used);
    free(tr->ctx);
    free(tr->att);
    free(tr->attn_cache);
    free(tr->attn_scratch);
    free(tr->hcat);
    free(tr->dhcat);
    free(tr->enc_x);
    free(tr->enc_out);
    free(tr->denc);
    free(tr->enc_mask);
    free(tr->enc_drop);
    free(tr->enc_acts);
    free(tr->enc_scratch);
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
    for (int i = 0; i < tr->n_tensors; i++) {
        float *p = tr->params + tr->offsets[i];
        size_t n = tr->specs[i].count;
        int embed = strcmp(tr->specs[i].name, "embed.weight") == 0;
        const int enc = strncmp(tr->specs[i].name, "enc.", 4) == 0; /* its own He */
        const double k = 1.0 / sqrt((double)(enc ? tr->ecfg.hidden : tr->H));
        for (size_t j = 0; j < n; j++)
            p[j] = embed ? (float)rng_normal(&s) : (float)((2.0 * rng_uniform(&s) - 1.0) * k);
    }
    memset(tr->m, 0, tr->n_params * sizeof(float));
    memset(tr->v, 0, tr->n_params * sizeof(float));
}

int rnn_trainer_load_model(rnn_trainer *tr, const rnn_model *model, char *err, size_t errlen)
{
    const rnn_model_config *c = rnn_model_get_config(model);
    if (c->conditions != tr->cfg.conditions ||
        ((c->conditions || c->lookback) && c->steps_per_quarter != tr->cfg.steps_per_quarter)) {
        snprintf(err, errlen,
                 "the preset takes conditions 0x%x at %d steps per quarter, the trainer 0x%x "
                 "at %d",
                 c->conditions, c->steps_per_quarter, tr->cfg.conditions,
                 tr->cfg.steps_per_quarter);
        return -1;
    }
    if (c->kind != tr->cfg.kind || c->cell != tr->cfg.cell || c->layers != tr->cfg.layers ||
        c->embed != tr->cfg.embed || c->hidden != tr->cfg.hidden || c->vocab != tr->cfg.vocab ||
        c->attn_window != tr->cfg.attn_window || c->attn_size != tr->cfg.attn_size ||
        c->lookback != tr->cfg.lookback || c->enc_layers != tr->cfg.enc_layers ||
        c->enc_hidden != tr->cfg.enc_hidden || c->enc_inputs != tr->cfg.enc_inputs) {
        snprintf(err, errlen,
                 "the preset is %s %s %d x %d (embed %d, attention %d x %d, lookback %d, "
                 "encoder %d x %d), the trainer wants %s %s %d x %d (embed %d, attention %d x "
                 "%d, lookback %d, encoder %d x %d)",
                 rnn_kind_name(c->kind) ? rnn_kind_name(c->kind) : "?",
                 rnn_cell_name(c->cell) ? rnn_cell_name(c->cell) : "?", c->layers, c->hidden,
                 c->embed, c->attn_window, c->attn_size, c->lookback, c->enc_layers,
                 c->enc_hidden, rnn_kind_name(tr->cfg.kind) ? rnn_kind_name(tr->cfg.kind) : "?",
                 rnn_cell_name(tr->cfg.cell) ? rnn_cell_name(tr->cfg.cell) : "?", tr->cfg.layers,
                 tr->cfg.hidden, tr->cfg.embed, tr->cfg.attn_window, tr->cfg.attn_size,
                 tr->cfg.lookback, tr->cfg.enc_layers, tr->cfg.enc_hidden);
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
    memset(tr->acts.state_h, 0, n * sizeof(float));
    memset(tr->acts.state_c, 0, n * sizeof(float));
    if (tr->N > 0) memset(tr->npast, 0, (size_t)tr->B * sizeof(int));
}

void rnn_trainer_reset_lane(rnn_trainer *tr, int b)
{
    b -= tr->b0;
    if (b < 0 || b >= tr->B) return;
    for (int l = 0; l < tr->L; l++) {
        size_t o = ((size_t)l * tr->B + b) * tr->H;
        memset(tr->acts.state_h + o, 0, tr->H * sizeof(float));
        memset(tr->acts.state_c + o, 0, tr->H * sizeof(float));
    }
    if (tr->N > 0) tr->npast[b] = 0; /* a new sequence attends to nothing before it */
}

/* Floats of the attention's carried state: npast (B), then past (N, B, H). */
static size_t attn_state_size(const rnn_trainer *tr)
{
    return tr->N > 0 ? (size_t)tr->B + (size_t)tr->N * tr->B * tr->H : 0;
}

size_t rnn_trainer_state_size(const rnn_trainer *tr)
{
    return 2 * (size_t)tr->L * tr->B * tr->H + attn_state_size(tr);
}

void rnn_trainer_state_get(const rnn_trainer *tr, float *dst)
{
    size_t n = (size_t)tr->L * tr->B * tr->H;
    memcpy(dst, tr->acts.state_h, n * sizeof(float));
    memcpy(dst + n, tr->acts.state_c, n * sizeof(float));
    if (tr->N == 0) return;
    dst += 2 * n;
    for (int b = 0; b < tr->B; b++)
        dst[b] = (float)tr->npast[b];
    memcpy(dst + tr->B, tr->past, (size_t)tr->N * tr->B * tr->H * sizeof(float));
}

void rnn_trainer_state_set(rnn_trainer *tr, const float *src)
{
    size_t n = (size_t)tr->L * tr->B * tr->H;
    memcpy(tr->acts.state_h, src, n * sizeof(float));
    memcpy(tr->acts.state_c, src + n, n * sizeof(float));
    if (tr->N == 0) return;
    src += 2 * n;
    for (int b = 0; b < tr->B; b++) /* a count that is not one of 0..N is none */
        tr->npast[b] = src[b] >= 0 && src[b] <= (float)tr->N ? (int)src[b] : 0;
    memcpy(tr->past, src + tr->B, (size_t)tr->N * tr->B * tr->H * sizeof(float));
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
/* Dropout masks: the draws depend on the seed alone. A mask over the global
 * batch (T, Bg, H) takes four 16-bit draws from each splitmix64 word, and
 * word w comes from the state after w words (the seed plus w increments),
 * so any part of it is drawn directly: each thread draws its rows of lanes
 * b0 .. b0 + B - 1 and gets what one draw in order over the whole batch
 * gives. */

#define SPLITMIX_STEP 0x9E3779B97F4A7C15ull

/* Rows [r0, r1) of the (T, B) rows of the mask seeded s0 (values 0 or
 * 1/(1-p)), and out = in * mask. */
static void dropout_forward(float *out, float *mask, const float *in, float p, uint64_t s0,
                            size_t r0, size_t r1, int B, int Bg, int b0, int H)
{
    const float keep = 1.0f / (1.0f - p);
    for (size_t r = r0; r < r1; r++) {
        const size_t t = r / (size_t)B, j = r % (size_t)B;
        const size_t gi = (t * Bg + (size_t)b0 + j) * H, li = r * H;
        uint64_t w = 0;
        for (size_t h = 0; h < (size_t)H; h++) {
            const size_t i = gi + h;
            if (h == 0 || (i & 3) == 0) {
                uint64_t st = s0 + (uint64_t)(i >> 2) * SPLITMIX_STEP;
                w = rng_next(&st);
            }
            const float u = (float)((w >> (16 * (i & 3))) & 0xFFFF) * (1.0f / 65536.0f);
            mask[li + h] = u < p ? 0.0f : keep;
            out[li + h] = in[li + h] * mask[li + h];
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Layers, each a forward and its backward: outputs first, then inputs and
 * weights, then dimensions; gradients take a d. N is a number of rows (a
 * part of the T*B rows of a window, or of the V classes). The forwards keep
 * what the backwards read: the gate activations and the cell's aux, the
 * probabilities, the dropout masks (dropout above). */

/* The input projection of N rows: out (N, GH) = x (N, NI) W^T + b_ih, plus
 * b_hh unless the cell adds it in its step (bhh NULL). W is the first NI
 * columns of a (GH, ldw) matrix; NI, not I, which <complex.h> (through
 * cblas.h) takes. */
static void proj_forward(float *out, const float *x, const float *w, const float *bih,
                         const float *bhh, size_t N, int NI, int ldw, int GH)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, GH, NI, 1.0f, x, NI, w, ldw, 0.0f,
                out, GH);
    rnn_k_add_bias(out, bih, N, GH);
    if (bhh) rnn_k_add_bias(out, bhh, N, GH);
}

/* dx (N, NI) = dout (N, GH) W (the first NI of ldw columns), or dx += with
 * beta = 1; then times the dropout mask of x when there is one. */
static void proj_backward(float *dx, const float *dout, const float *w, const float *mask, size_t N,
                          int NI, int ldw, int GH, float beta)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, NI, GH, 1.0f, dout, GH, w, ldw,
                beta, dx, NI);
    if (mask) rnn_k_mul_mask(dx, mask, N * NI);
}

/* Rows [g0, g1) of dW (GH, NI of ldw columns) += dout^T x over N rows. */
static void proj_backward_weights(float *dw, const float *dout, const float *x, size_t N, int NI,
                                  int ldw, int GH, size_t g0, size_t g1)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(g1 - g0), NI, (int)N, 1.0f,
                dout + g0, GH, x, NI, 1.0f, dw + g0 * ldw, ldw);
}

/* The condition block of layer 0: out (N, GH) += cond (N, C) Wc^T, Wc the
 * C columns of W_ih that follow the event's (ld ldw). The columns are 0/1,
 * so this adds, per row, the weight columns of the conditions on. */
static void cond_forward(float *out, const float *cond, const float *wc, size_t N, int C, int ldw,
                         int GH)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, GH, C, 1.0f, cond, C, wc, ldw,
                1.0f, out, GH);
}

/* Rows [g0, g1) of dWc += dout^T cond over N rows (the conditions are
 * inputs: they take no gradient). */
static void cond_backward_weights(float *dwc, const float *dout, const float *cond, size_t N, int C,
                                  int ldw, int GH, size_t g0, size_t g1)
{
    proj_backward_weights(dwc, dout, cond, N, C, ldw, GH, g0, g1);
}

/* A one-hot input: row r of out (N, GH) is column inputs[r] of W (GH, V
 * of ldw columns), plus the biases as proj_forward. */
static void onehot_forward(float *out, const int32_t *inputs, const float *w, const float *bih,
                           const float *bhh, size_t N, int ldw, int GH)
{
    for (size_t r = 0; r < N; r++) {
        const int x = inputs[r];
        float *o = out + r * GH;
        for (int k = 0; k < GH; k++)
            o[k] = w[(size_t)k * ldw + x];
    }
    rnn_k_add_bias(out, bih, N, GH);
    if (bhh) rnn_k_add_bias(out, bhh, N, GH);
}

/* Rows [g0, g1) of dW (GH, V of ldw columns): column inputs[r] gathers row
 * r of dout. */
static void onehot_backward(float *dw, const float *dout, const int32_t *inputs, size_t N, int ldw,
                            int GH, size_t g0, size_t g1)
{
    for (size_t r = 0; r < N; r++) {
        const int x = inputs[r];
        const float *d = dout + r * GH;
        for (size_t k = g0; k < g1; k++)
            dw[k * ldw + x] += d[k];
    }
}

/* A table lookup: row r of out (N, GH) is row inputs[r] of tab (V, GH). With
 * an embedding, layer 0's input projection takes one of V values, so it is
 * a table of V rows (proj_forward of the embedding) instead of T*B rows. */
static void lookup_forward(float *out, const int32_t *inputs, const float *tab, size_t N, int GH)
{
    for (size_t r = 0; r < N; r++)
        memcpy(out + r * GH, tab + (size_t)inputs[r] * GH, GH * sizeof(float));
}

/* Columns [g0, g1) of dtab (V, GH) = the rows of dout summed per input class
 * (the table's gradient, from which dW_ih and the embedding's follow in V
 * rows instead of T*B). */
static void lookup_backward(float *dtab, const float *dout, const int32_t *inputs, size_t N, int V,
                            int GH, size_t g0, size_t g1)
{
    rnn_k_sum_rows_by_class(dtab, dout, inputs, N, V, GH, g0, g1);
}

/* base + off, or NULL for a view the cell does not use */
static float *at(float *base, size_t off)
{
    return base ? base + off : NULL;
}

static const float *at_c(const float *base, size_t off)
{
    return base ? base + off : NULL;
}

/* The recurrence of lanes [b0, b0 + nb) of B over T steps, one step of the
 * cell (train_cells.c) at a time: hs (T+1, B, H) the outputs after the
 * carried-in h (row block 0, from state_h), cs the cell states likewise
 * (when the cell has them), aux (T, B, H) the cell's extra activations;
 * gates (T, B, GH) hold the input projections and become the activations;
 * ghh (B, GH) scratch. The final state goes back to state_h, state_c. */
static void recur_forward(float *hs, float *cs, float *aux, float *gates, float *ghh,
                          float *state_h, float *state_c, const float *whh, const float *bhh,
                          const rnn_train_cell *cell, int T, int B, size_t b0, int nb, int H,
                          int GH)
{
    const size_t BH = (size_t)B * H, lanes = (size_t)nb * H * sizeof(float);
    memcpy(hs + b0 * H, state_h + b0 * H, lanes);
    if (cs) memcpy(cs + b0 * H, state_c + b0 * H, lanes);
    for (int t = 0; t < T; t++) {
        const size_t now = (size_t)t * BH + b0 * H, next = (size_t)(t + 1) * BH + b0 * H;
        cell->forward(hs + next, at(cs, next), at(aux, now), gates + ((size_t)t * B + b0) * GH,
                      at(ghh, b0 * GH), hs + now, at(cs, now), whh, bhh, nb, H);
    }
    memcpy(state_h + b0 * H, hs + (size_t)T * BH + b0 * H, lanes);
    if (cs) memcpy(state_c + b0 * H, cs + (size_t)T * BH + b0 * H, lanes);
}

/* Back through the window (truncated BPTT: the carried-in state is a
 * constant) for lanes [b0, b0 + nb): dh (T, B, H) the gradient of the
 * outputs; dg (T, B, GH) receives the gate gradients of the input side,
 * dgh those of the hidden side when the cell keeps it apart; dhn, dcn
 * (B, H) the recurrent gradients. */
static void recur_backward(float *dg, float *dgh, float *dhn, float *dcn, const float *dh,
                           const float *gates, const float *hs, const float *cs, const float *aux,
                           const float *whh, const rnn_train_cell *cell, int T, int B, size_t b0,
                           int nb, int H, int GH)
{
    const size_t BH = (size_t)B * H;
    dhn += b0 * H;
    dcn += b0 * H;
    memset(dhn, 0, (size_t)nb * H * sizeof(float));
    memset(dcn, 0, (size_t)nb * H * sizeof(float));
    for (int t = T - 1; t >= 0; t--) {
        const size_t gro = ((size_t)t * B + b0) * GH, hro = (size_t)t * BH + b0 * H;
        cell->backward(dg + gro, at(dgh, gro), dhn, dcn, dh + hro, gates + gro, hs + hro,
                       at_c(cs, hro), at_c(aux, hro), whh, nb, H);
    }
}

/* The head over N rows: logits (N, V) = b + x (N, H) W^T, probs their
 * softmax; returns the NLL of the targets >= 0, their count and argmax hits. */
static double head_forward(float *logits, float *probs, long *count, long *hits, const float *x,
                           const int32_t *targets, const float *w, const float *b, size_t N, int H,
                           int V)
{
    for (size_t r = 0; r < N; r++)
        memcpy(logits + r * V, b, V * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, V, H, 1.0f, x, H, w, H, 1.0f,
                logits, V);
    return rnn_k_softmax_rows(probs, logits, targets, 0, N, V, count, hits);
}

/* The head back over N rows: dlogits holds the probabilities and becomes
 * (p - onehot) * scale (zero rows for targets < 0); dx (N, H) = dlogits W,
 * times the dropout mask of x when there is one. */
static void head_backward(float *dx, float *dlogits, const int32_t *targets, const float *mask,
                          const float *w, float scale, size_t N, int H, int V)
{
    for (size_t r = 0; r < N; r++) {
        float *d = dlogits + r * V;
        int y = targets[r];
        if (y < 0) {
            memset(d, 0, V * sizeof(float));
            continue;
        }
        d[y] -= 1.0f;
        for (int k = 0; k < V; k++)
            d[k] *= scale;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, H, V, 1.0f, dlogits, V, w, H,
                0.0f, dx, H);
    if (mask) rnn_k_mul_mask(dx, mask, N * H);
}

/* Rows [v0, v1) of the head's dW (V, H) += dlogits^T x and of db over N rows. */
static void head_backward_weights(float *dw, float *db, const float *dlogits, const float *x,
                                  size_t N, int H, int V, size_t v0, size_t v1)
{
    rnn_k_bias_backward(db, NULL, dlogits, N, V, v0, v1);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(v1 - v0), H, (int)N, 1.0f,
                dlogits + v0, V, x, H, 1.0f, dw + v0 * H, H);
}

/* ------------------------------------------------------------------------ */
/* Stages: each splits its rows, lanes or weight rows into the part of its
 * thread and calls a layer; tr->layer names the layer it works on. */

#define PARAM(name) (tr->params + tr->o_##name)
#define GRAD(name) (tr->grads + tr->o_##name)

/* vocabulary rows: layer 0's table of input projections (E > 0) */
static void st_ptab(rnn_trainer *tr, int part, int nparts)
{
    const int E = tr->E, GH = tr->G * tr->H;
    size_t v0, v1;
    split((size_t)tr->V, part, nparts, &v0, &v1);
    if (v1 <= v0) return;
    proj_forward(tr->acts.ptab + v0 * GH, PARAM(embed) + v0 * E, PARAM(wih[0]), PARAM(bih[0]),
                 tr->cell->hh_apart ? NULL : PARAM(bhh[0]), v1 - v0, E, tr->ld0, GH);
}

/* rows of the window: the input projection of layer tr->layer */
static void st_inproj(rnn_trainer *tr, int part, int nparts)
{
    const int l = tr->layer, GH = tr->G * tr->H;
    size_t r0, r1;
    split((size_t)tr->T * tr->B, part, nparts, &r0, &r1);
    if (r1 <= r0) return;
    float *gates = tr->acts.gates[l] + r0 * GH;
    const float *bhh = tr->cell->hh_apart ? NULL : PARAM(bhh[l]);
    if (l == 0 && tr->E > 0) /* the biases are in the table */
        lookup_forward(gates, tr->inputs + r0, tr->acts.ptab, r1 - r0, GH);
    else if (l == 0)
        onehot_forward(gates, tr->inputs + r0, PARAM(wih[0]), PARAM(bih[0]), bhh, r1 - r0, tr->ld0,
                       GH);
    else
        proj_forward(gates, tr->in[l] + r0 * tr->H, PARAM(wih[l]), PARAM(bih[l]), bhh, r1 - r0,
                     tr->H, tr->H, GH);
    if (l == 0 && tr->C > 0)
        cond_forward(gates, tr->cond + r0 * tr->C, PARAM(wih[0]) + tr->I0, r1 - r0, tr->C, tr->ld0,
                     GH);
    if (l == 0 && tr->Ce > 0) /* the encoder's outputs: a dense block, the same product */
        cond_forward(gates, tr->enc_in0 + r0 * tr->Ce, PARAM(wih[0]) + tr->I0 + tr->C, r1 - r0,
                     tr->Ce, tr->ld0, GH);
}

/* panels: W_hh of layer tr->layer packed for the steps of a pass, transposed
 * for the forward (tr->packed_fwd), as it is for the backward */
static void st_pack(rnn_trainer *tr, int part, int nparts)
{
    const int H = tr->H, GH = tr->G * H, fwd = tr->packed_fwd;
    const int K = fwd ? H : GH, N = fwd ? GH : H;
    size_t p0, p1;
    split((size_t)(N + RNN_K_PANEL - 1) / RNN_K_PANEL, part, nparts, &p0, &p1);
    rnn_k_pack(tr->acts.wpack, PARAM(whh[tr->layer]), K, N, fwd, (int)p0, (int)p1);
}

/* rows: the dropout of the input of layer tr->layer >= 1 (the outputs of the
 * layer below; L: the head's input), seeded tr->drop_seed */
static void st_dropout(rnn_trainer *tr, int part, int nparts)
{
    const int l = tr->layer;
    size_t r0, r1;
    split((size_t)tr->T * tr->B, part, nparts, &r0, &r1);
    dropout_forward(tr->acts.xin[l], tr->acts.drop[l], tr->acts.hs[l - 1] + (size_t)tr->B * tr->H,
                    tr->dropout, tr->drop_seed, r0, r1, tr->B, tr->Bg, tr->b0, tr->H);
}

/* lanes: the recurrence of layer tr->layer */
static void st_recur(rnn_trainer *tr, int part, int nparts)
{
    const rnn_train_acts *a = &tr->acts;
    const int l = tr->layer;
    const size_t BH = (size_t)tr->B * tr->H;
    size_t b0, b1;
    split((size_t)tr->B, part, nparts, &b0, &b1);
    if (b1 <= b0) return;
    recur_forward(a->hs[l], a->cs[l], a->aux[l], a->gates[l], a->ghh, a->state_h + l * BH,
                  a->state_c + l * BH, a->wpack, PARAM(bhh[l]), tr->tcell, tr->T, tr->B, b0,
                  (int)(b1 - b0), tr->H, tr->G * tr->H);
}

/* rows: logits, softmax and the loss */
static void st_head(rnn_trainer *tr, int part, int nparts)
{
    const int H = tr->Hh, V = tr->V;
    size_t r0, r1;
    split((size_t)tr->T * tr->B, part, nparts, &r0, &r1);
    tr->part_sum[part] = 0;
    tr->part_n[part] = tr->part_hit[part] = 0;
    if (r1 <= r0) return;
    tr->part_sum[part] = head_forward(
        tr->acts.logits + r0 * V, tr->acts.probs + r0 * V, &tr->part_n[part], &tr->part_hit[part],
        tr->in[tr->L] + r0 * H, tr->targets + r0, PARAM(headw), PARAM(headb), r1 - r0, H, V);
}

/* rows: the logit gradients in place of the probabilities, and the gradient
 * of the head's input into dh */
static void st_dlogits(rnn_trainer *tr, int part, int nparts)
{
    const int H = tr->H, V = tr->V;
    size_t r0, r1;
    split((size_t)tr->T * tr->B, part, nparts, &r0, &r1);
    if (r1 <= r0) return;
    float scale = 1.0f / (float)(tr->loss_count > 0 ? tr->loss_count : tr->count);
    if (tr->N > 0) { /* [dh | dctx] first; attn_backward splits it */
        head_backward(tr->dhcat + r0 * 2 * H, tr->acts.probs + r0 * V, tr->targets + r0, NULL,
                      PARAM(headw), scale, r1 - r0, 2 * H, V);
        return;
    }
    head_backward(tr->acts.dh + r0 * H, tr->acts.probs + r0 * V, tr->targets + r0,
                  tr->dropped ? tr->acts.drop[tr->L] + r0 * H : NULL, PARAM(headw), scale, r1 - r0,
                  H, V);
}

/* rows of the head's weights */
static void st_dhead(rnn_trainer *tr, int part, int nparts)
{
    size_t v0, v1;
    split((size_t)tr->V, part, nparts, &v0, &v1);
    if (v1 <= v0) return;
    head_backward_weights(GRAD(headw), GRAD(headb), tr->acts.probs, tr->in[tr->L],
                          (size_t)tr->T * tr->B, tr->Hh, tr->V, v0, v1);
}

/* The attention of the window over the top layer's outputs h (before
 * dropout); the head's input becomes [top | ctx] (top after dropout), and
 * the window's outputs go into the past of the next one. */
static void attn_forward(rnn_trainer *tr, const float *h, const float *top)
{
    const size_t B = (size_t)tr->B, H = (size_t)tr->H, TB = (size_t)tr->T * B;
    memcpy(tr->past_used, tr->past, (size_t)tr->N * B * H * sizeof(float));
    memcpy(tr->npast_used, tr->npast, B * sizeof(int));
    rnn_attn_forward(tr->ctx, tr->att, tr->attn_cache, h, tr->past_used, tr->npast_used,
                     PARAM(attn_w1), PARAM(attn_w2), PARAM(attn_v), tr->B, tr->T, tr->N, tr->H,
                     tr->A);
    for (size_t r = 0; r < TB; r++) {
        memcpy(tr->hcat + r * 2 * H, top + r * H, H * sizeof(float));
        memcpy(tr->hcat + r * 2 * H + H, tr->ctx + r * H, H * sizeof(float));
    }
    rnn_attn_carry(tr->past, tr->npast, h, tr->B, tr->T, tr->N, tr->H);
}

/* The head's input gradient [dh | dctx] (st_dlogits) into the top layer's
 * dh (through the dropout mask) and the contexts', then the attention's
 * backward: its weights' gradients, and more of dh. */
static void attn_backward(rnn_trainer *tr)
{
    const size_t B = (size_t)tr->B, H = (size_t)tr->H, TB = (size_t)tr->T * B;
    float *dh = tr->acts.dh;
    const float *mask = tr->dropped ? tr->acts.drop[tr->L] : NULL;
    for (size_t r = 0; r < TB; r++) {
        const float *d = tr->dhcat + r * 2 * H;
        for (size_t i = 0; i < H; i++)
            dh[r * H + i] = mask ? d[i] * mask[r * H + i] : d[i];
        memcpy(tr->ctx + r * H, d + H, H * sizeof(float)); /* the forward's ctx is not needed */
    }
    rnn_attn_backward(dh, GRAD(attn_w1), GRAD(attn_w2), GRAD(attn_v), tr->attn_scratch, tr->ctx,
                      tr->att, tr->attn_cache, tr->acts.hs[tr->L - 1] + B * H, tr->past_used,
                      tr->npast_used, PARAM(attn_w1), PARAM(attn_w2), PARAM(attn_v), tr->B, tr->T,
                      tr->N, tr->H, tr->A);
}

/* lanes: back through the window of layer tr->layer */
static void st_bptt(rnn_trainer *tr, int part, int nparts)
{
    const rnn_train_acts *a = &tr->acts;
    const int l = tr->layer;
    size_t b0, b1;
    split((size_t)tr->B, part, nparts, &b0, &b1);
    if (b1 <= b0) return;
    recur_backward(a->dg, a->dgh, a->dhn, a->dcn, a->dh, a->gates[l], a->hs[l], a->cs[l], a->aux[l],
                   a->wpack, tr->tcell, tr->T, tr->B, b0, (int)(b1 - b0), tr->H, tr->G * tr->H);
}

/* gate rows of one layer's weight and bias gradients over the window */
static void st_dweights(rnn_trainer *tr, int part, int nparts)
{
    const rnn_train_acts *a = &tr->acts;
    const int l = tr->layer, H = tr->H, GH = tr->G * H;
    const size_t TB = (size_t)tr->T * tr->B;
    size_t g0, g1;
    split((size_t)GH, part, nparts, &g0, &g1);
    if (g1 <= g0) return;
    const float *dgh = tr->cell->hh_apart ? a->dgh : a->dg;
    proj_backward_weights(GRAD(whh[l]), dgh, a->hs[l], TB, H, H, GH, g0, g1);
    /* with layer 0's table, the input side's column sums are the table
     * gradient's: V rows to add instead of T*B */
    const int tab = l == 0 && tr->E > 0;
    if (tab) lookup_backward(a->stab, a->dg, tr->inputs, TB, tr->V, GH, g0, g1);
    const float *dgi = tab ? a->stab : a->dg;
    const size_t ni = tab ? (size_t)tr->V : TB;
    if (tr->cell->hh_apart) {
        rnn_k_bias_backward(GRAD(bhh[l]), NULL, dgh, TB, GH, g0, g1);
        rnn_k_bias_backward(GRAD(bih[l]), NULL, dgi, ni, GH, g0, g1);
    } else { /* one gradient for both biases: summed once */
        rnn_k_bias_backward(GRAD(bih[l]), GRAD(bhh[l]), dgi, ni, GH, g0, g1);
    }
    if (l == 0 && tr->E == 0) {
        onehot_backward(GRAD(wih[0]), a->dg, tr->inputs, TB, tr->ld0, GH, g0, g1);
    } else if (tab) {
        proj_backward_weights(GRAD(wih[0]), a->stab, PARAM(embed), (size_t)tr->V, tr->E, tr->ld0,
                              GH, g0, g1);
    } else {
        proj_backward_weights(GRAD(wih[l]), a->dg, tr->in[l], TB, H, H, GH, g0, g1);
    }
    if (l == 0 && tr->C > 0)
        cond_backward_weights(GRAD(wih[0]) + tr->I0, a->dg, tr->cond, TB, tr->C, tr->ld0, GH, g0,
                              g1);
    if (l == 0 && tr->Ce > 0)
        proj_backward_weights(GRAD(wih[0]) + tr->I0 + tr->C, a->dg, tr->enc_in0, TB, tr->Ce,
                              tr->ld0, GH, g0, g1);
}

/* rows: the gradient of the input of layer tr->layer >= 1 (the outputs of
 * the layer below), into dh */
static void st_dx(rnn_trainer *tr, int part, int nparts)
{
    const int l = tr->layer, H = tr->H, GH = tr->G * H;
    size_t r0, r1;
    split((size_t)tr->T * tr->B, part, nparts, &r0, &r1);
    if (r1 <= r0) return;
    proj_backward(tr->acts.dh + r0 * H, tr->acts.dg + r0 * GH, PARAM(wih[l]),
                  tr->dropped ? tr->acts.drop[l] + r0 * H : NULL, r1 - r0, H, H, GH, 0.0f);
}

/* vocabulary rows: the embedding's gradient from layer 0's table gradient
 * (st_dweights fills stab) */
static void st_dembed(rnn_trainer *tr, int part, int nparts)
{
    const int E = tr->E, GH = tr->G * tr->H;
    size_t v0, v1;
    split((size_t)tr->V, part, nparts, &v0, &v1);
    if (v1 <= v0) return;
    proj_backward(GRAD(embed) + v0 * E, tr->acts.stab + v0 * GH, PARAM(wih[0]), NULL, v1 - v0, E,
                  tr->ld0, GH, 1.0f);
}

/* rows and panels: everything layer tr->layer needs before its recurrence,
 * in one stage: its input's dropout (layers >= 1 in training), W_hh packed
 * for the forward, the input projection. A part's rows of the dropout are
 * the rows its input projection reads (the same split), so no part waits
 * for another. */
static void st_layer_in(rnn_trainer *tr, int part, int nparts)
{
    if (tr->layer > 0 && tr->dropped) st_dropout(tr, part, nparts);
    st_pack(tr, part, nparts);
    st_inproj(tr, part, nparts);
}

/* gate rows and rows: after the layer's BPTT, its weight gradients and the
 * gradient of its input (layers >= 1), which both read only dg */
static void st_dlayer(rnn_trainer *tr, int part, int nparts)
{
    st_dweights(tr, part, nparts);
    if (tr->layer > 0) st_dx(tr, part, nparts);
}

/* The encoder over the window's encoder inputs (tr->enc_x), into
 * tr->enc_out; in training with dropout, its outputs through a mask drawn
 * as a layer's (the generator moves on by the global batch's words) into
 * tr->enc_drop. tr->enc_in0 is what layer 0 reads. */
static void enc_forward(rnn_trainer *tr)
{
    const float *w[8 * RNN_MAX_ENC_LAYERS];
    for (int i = 0; i < tr->n_enc; i++)
        w[i] = tr->params + tr->o_enc[i];
    rnn_enc_train_forward(tr->enc_out, tr->enc_acts, tr->enc_x, w, &tr->ecfg, tr->B, tr->T);
    tr->enc_in0 = tr->enc_out;
    if (!tr->dropped) return;
    const uint64_t seed = tr->rng;
    tr->rng += (uint64_t)(((size_t)tr->T * tr->Bg * tr->Ce + 3) / 4) * SPLITMIX_STEP;
    dropout_forward(tr->enc_drop, tr->enc_mask, tr->enc_out, tr->dropout, seed, 0,
                    (size_t)tr->T * tr->B, tr->B, tr->Bg, tr->b0, tr->Ce);
    tr->enc_in0 = tr->enc_drop;
}

/* After layer 0's BPTT (a->dg its gate gradients): the gradient of the
 * encoder's outputs, dg W_enc, then the encoder's backward into its
 * weights' gradients. */
static void enc_backward(rnn_trainer *tr)
{
    const size_t TB = (size_t)tr->T * tr->B;
    const int GH = tr->G * tr->H;
    proj_backward(tr->denc, tr->acts.dg, PARAM(wih[0]) + tr->I0 + tr->C,
                  tr->enc_in0 == tr->enc_drop ? tr->enc_mask : NULL, TB, tr->Ce, tr->ld0, GH, 0.0f);
    const float *w[8 * RNN_MAX_ENC_LAYERS];
    float *dw[8 * RNN_MAX_ENC_LAYERS];
    for (int i = 0; i < tr->n_enc; i++) {
        w[i] = tr->params + tr->o_enc[i];
        dw[i] = tr->grads + tr->o_enc[i];
    }
    rnn_enc_train_backward(NULL, dw, tr->enc_scratch, tr->denc, tr->enc_acts, tr->enc_x, w,
                           &tr->ecfg, tr->B, tr->T);
}

#undef PARAM
#undef GRAD

/* ------------------------------------------------------------------------ */
/* The passes. */

/* The dropout of the input of layer l >= 1 (L: the head's) into xin[l]: its
 * mask is drawn (by st_dropout) from the generator's state now, and the
 * generator moves on by the words of the whole global batch's mask. */
static const float *dropout_draw(rnn_trainer *tr, int l)
{
    tr->layer = l;
    tr->drop_seed = tr->rng;
    tr->rng += (uint64_t)(((size_t)tr->T * tr->Bg * tr->H + 3) / 4) * SPLITMIX_STEP;
    return tr->acts.xin[l];
}

/* dropout_draw and the stage that applies it */
static const float *dropout_layer(rnn_trainer *tr, int l)
{
    const float *x = dropout_draw(tr, l);
    rnn_run_stage(tr, st_dropout);
    return x;
}

double rnn_trainer_forward(rnn_trainer *tr, const int32_t *inputs, const int32_t *targets,
                           int training, long *count, long *correct)
{
    return rnn_trainer_forward_cond(tr, inputs, NULL, targets, training, count, correct);
}

double rnn_trainer_forward_cond(rnn_trainer *tr, const int32_t *inputs, const float *cond,
                                const int32_t *targets, int training, long *count, long *correct)
{
    return rnn_trainer_forward_enc(tr, inputs, cond, NULL, targets, training, count, correct);
}

double rnn_trainer_forward_enc(rnn_trainer *tr, const int32_t *inputs, const float *cond,
                               const float *enc_in, const int32_t *targets, int training,
                               long *count, long *correct)
{
    const int B = tr->B, T = tr->T, H = tr->H, V = tr->V, E = tr->E, C = tr->C;
    for (size_t t = 0; t < (size_t)T; t++)
        for (size_t j = 0; j < (size_t)B; j++) {
            size_t r = t * B + j, gr = t * tr->Bg + (size_t)tr->b0 + j;
            int x = inputs[gr];
            tr->inputs[r] = x >= 0 && x < V ? x : 0;
            tr->targets[r] = targets[gr] < V ? targets[gr] : -1;
            for (int c = 0; c < C; c++) /* any nonzero is on, as in the core's step */
                tr->cond[r * C + c] = cond && cond[gr * C + c] != 0.0f ? 1.0f : 0.0f;
        }
    tr->dropped = training && tr->dropout > 0;
    if (tr->Ce > 0) {
        const size_t In = (size_t)tr->ecfg.inputs;
        for (size_t t = 0; t < (size_t)T; t++)
            for (size_t j = 0; j < (size_t)B; j++) {
                const size_t r = t * B + j, gr = t * tr->Bg + (size_t)tr->b0 + j;
                if (enc_in)
                    memcpy(tr->enc_x + r * In, enc_in + gr * In, In * sizeof(float));
                else
                    memset(tr->enc_x + r * In, 0, In * sizeof(float));
            }
        enc_forward(tr);
    }

    tr->in[0] = NULL; /* layer 0 reads rows of ptab (E > 0) or columns of W_ih */
    if (E > 0) rnn_run_stage(tr, st_ptab);
    for (int l = 0; l < tr->L; l++) {
        if (l > 0) {
            const float *below = tr->acts.hs[l - 1] + (size_t)B * H;
            tr->in[l] = tr->dropped ? dropout_draw(tr, l) : below;
        }
        tr->layer = l;
        tr->packed_fwd = 1;
        rnn_run_stage(tr, st_layer_in);
        rnn_run_stage(tr, st_recur);
    }
    const float *top = tr->acts.hs[tr->L - 1] + (size_t)B * H;
    if (tr->dropped) top = dropout_layer(tr, tr->L);
    if (tr->N > 0) {
        attn_forward(tr, tr->acts.hs[tr->L - 1] + (size_t)B * H, top);
        top = tr->hcat;
    }
    tr->in[tr->L] = top;
    rnn_run_stage(tr, st_head);

    double nll = 0;
    long n = 0, hit = 0;
    int nparts = rnn_stage_parts(tr);
    for (int p = 0; p < nparts; p++) {
        nll += tr->part_sum[p];
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
    return tr->acts.logits;
}

void rnn_trainer_zero_grad(rnn_trainer *tr)
{
    memset(tr->grads, 0, tr->n_params * sizeof(float));
}

void rnn_trainer_backward(rnn_trainer *tr)
{
    if (tr->count == 0 && tr->loss_count == 0) return;
    rnn_run_stage(tr, st_dlogits);
    rnn_run_stage(tr, st_dhead);
    if (tr->N > 0) attn_backward(tr);
    for (int l = tr->L - 1; l >= 0; l--) {
        tr->layer = l;
        tr->packed_fwd = 0;
        rnn_run_stage(tr, st_pack);
        rnn_run_stage(tr, st_bptt);
        rnn_run_stage(tr, st_dlayer); /* tr->acts.dh is free once the layer's BPTT is done */
    }
    if (tr->Ce > 0) enc_backward(tr); /* layer 0's dg is still there */
    if (tr->E > 0) rnn_run_stage(tr, st_dembed);
    tr->count = 0; /* the probabilities now hold the logit gradients */
    tr->loss_count = 0;
}
