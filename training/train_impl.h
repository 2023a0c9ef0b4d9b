/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the trainer's insides, shared by the files of the
 * trainer and by no one else (the API is train.h).
 *
 *   train.c             the trainer object, the forward and backward passes
 *   train_cells.c       each cell type's batched step, forward and backward
 *   train_kernels.c     the pointwise kernels those steps call
 *   train_optim.c       gradient clipping, AdamW, the learning-rate schedule
 *   train_pool.c        the threads that share the stages of a pass
 *   train_batch.c       the batcher and the evaluation over a sequence list
 *   train_checkpoint.c  the checkpoint file
 *   train_loop.c        rnn_train_run: the training loop and its progress
 *
 * and beside them, with APIs of their own: train_attention.c (the attention
 * layer over a window) and train_encoder.c (the bidirectional encoder).
 *
 * Letters: B lanes, T steps, E embedding, I layer input, H hidden, G gates,
 * V vocabulary, L layers. Arrays are time-major: row t * B + b. Main thread
 * (and the pool's threads inside a stage). */
#ifndef RNNMIDI_TRAIN_IMPL_H
#define RNNMIDI_TRAIN_IMPL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "train.h"
#include "train_encoder.h"

/* ------------------------------------------------------------------------ */
/* Random numbers: splitmix64, one 64-bit word of state. */

static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline double rng_uniform(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static inline double rng_normal(uint64_t *s)
{
    double u1 = rng_uniform(s), u2 = rng_uniform(s);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Uniform integer in [0, n). */
static inline long rng_below(uint64_t *s, long n)
{
    return n <= 1 ? 0 : (long)(rng_next(s) % (uint64_t)n);
}

/* calloc that gives a pointer for n = 0 too. */
static inline void *xcalloc(size_t n, size_t size)
{
    if (n == 0) n = 1;
    return calloc(n, size);
}

/* ------------------------------------------------------------------------ */
/* Each cell type's batched step (train_cells.c): the training side of its
 * row in core/cell.c, which the core cannot hold (it never links BLAS).
 *
 * forward: one step of nb lanes. g (nb, G*H) holds W_ih x + b_ih, plus b_hh
 * unless the cell keeps W_hh h + b_hh apart (core's hh_apart, then ghh
 * (nb, G*H) is its scratch); g becomes the gate activations, h (nb, H) the
 * output; c and cprev are the cell state (state_parts = 2); aux (nb, H) is
 * what the backward needs beyond the gates (LSTM tanh(c), GRU W_hn h + b_hn).
 *
 * backward: the same step back. dhout (nb, H) is the gradient from above,
 * dhn the recurrent gradient into h_t on entry and into h_{t-1} on return,
 * dcn the same for c; dg (nb, G*H) receives the gate pre-activation
 * gradients of the input side, dgh those of the hidden side when the cell
 * keeps it apart (otherwise they are dg). Unused pointers are NULL.
 *
 * whh is W_hh packed for rnn_k_gemm_packed (train_kernels.h): transposed
 * (K = H, N = GH) for the forward, as it is (K = GH, N = H) for the backward. */
typedef struct {
    rnn_cell cell;
    int aux; /* keeps aux, (T, B, H) per layer */
    void (*forward)(float *h, float *c, float *aux, float *g, float *ghh, const float *hprev,
                    const float *cprev, const float *whh, const float *bhh, int nb, int H);
    void (*backward)(float *dg, float *dgh, float *dhn, float *dcn, const float *dhout,
                     const float *g, const float *hprev, const float *cprev, const float *aux,
                     const float *whh, int nb, int H);
} rnn_train_cell;

/** The row of a cell type, NULL for an unknown one. */
const rnn_train_cell *rnn_train_cell_get(rnn_cell cell);

/* ------------------------------------------------------------------------ */
/* The trainer. */

/* The activations of a window and the backward's scratch: one allocation,
 * named views into it (acts_layout in train.c sizes them; a view the
 * configuration does not use is NULL). */
typedef struct {
    float *ptab; /* (V, GH) E > 0: every class's input projection, embed W_ih^T + biases */
    float *stab; /* (V, GH) E > 0: gate gradients of layer 0 summed per input class */
    float *hs[RNN_MAX_LAYERS];    /* (T+1, B, H) outputs, row block 0 = carried-in h */
    float *cs[RNN_MAX_LAYERS];    /* (T+1, B, H) cell states (state_parts = 2) */
    float *aux[RNN_MAX_LAYERS];   /* (T, B, H) the cell's aux (LSTM tanh(c), GRU W_hn h + b_hn) */
    float *gates[RNN_MAX_LAYERS]; /* (T, B, GH) gate activations */
    float *drop[RNN_MAX_LAYERS + 1]; /* (T, B, H) dropout masks: layer inputs 1..L-1, head (L) */
    float *xin[RNN_MAX_LAYERS + 1];  /* (T, B, H) dropped-out inputs (layers >= 1, head) */
    float *logits;                   /* (T, B, V) */
    float *probs;                    /* (T, B, V), the logit gradients after a backward */
    float *dh;                       /* (T, B, H) gradient of a layer's output */
    float *dg;                       /* (T, B, GH) gate pre-activation gradients (input side) */
    float *dgh;                      /* (T, B, GH) hidden side, when the cell keeps it apart */
    float *dhn;                      /* (B, H) recurrent gradient into h_{t-1} */
    float *dcn;                      /* (B, H) recurrent gradient into c_{t-1} */
    float *ghh;                      /* (B, GH) hidden projection of one step, kept apart */
    float *wpack;                    /* W_hh of the layer in its pass, packed (rnn_k_pack) */
    float *state_h, *state_c;        /* (L, B, H) the carried state */
} rnn_train_acts;

struct rnn_trainer {
    rnn_model_config cfg;
    const rnn_cell_desc *cell;   /* core/cell.c's row of cfg.cell */
    const rnn_train_cell *tcell; /* and its training side */
    int B, T, L, E, H, V, G, I0;
    int C;      /* condition and lookback columns of layer 0's input, after its I0
                   (rnn_model_input_columns) */
    int Ce;     /* the encoder's columns of layer 0's input, after the C: 2 He (0 without) */
    int ld0;    /* columns of W_ih of layer 0: I0 + C + Ce */
    int Bg, b0; /* lanes b0 .. b0 + B - 1 of a global batch of Bg (data parallelism) */
    long loss_count; /* > 0: the divisor of the next backward (the global batch's count) */

    int n_tensors;
    rnn_tensor_spec specs[RNN_MAX_TENSORS]; /* core/model.c's, in file order */
    size_t offsets[RNN_MAX_TENSORS];
    size_t n_params;
    float *params, *grads, *m, *v; /* one allocation each, same layout */

    /* offsets of the named tensors */
    size_t o_embed, o_wih[RNN_MAX_LAYERS], o_whh[RNN_MAX_LAYERS], o_bih[RNN_MAX_LAYERS],
        o_bhh[RNN_MAX_LAYERS], o_headw, o_headb;

    /* the last forward */
    int32_t *inputs, *targets; /* (T, B) */
    float *cond;               /* (T, B, C) the condition columns, 0/1 (C > 0 only) */
    float *act_block;          /* every view of acts */
    rnn_train_acts acts;
    const float *in[RNN_MAX_LAYERS + 1]; /* what each layer (and the head, L) read */
    long count;                          /* counted targets of the last forward */
    int dropped;                         /* the last forward applied dropout */

    float dropout;
    uint64_t rng;

    /* attention (N > 0, train_attention.h) over the top layer's outputs; the
     * head reads [h | ctx], Hh = 2H columns (H without attention) */
    int N, A, Hh;
    size_t o_attn_w1, o_attn_w2, o_attn_v;
    float *past, *past_used; /* (N, B, H) carried outputs: for the next window; what the last
                                forward read */
    int *npast, *npast_used; /* (B) how many of them are the lane's sequence */
    float *ctx;              /* (T, B, H) contexts; the context gradients in a backward */
    float *att;              /* (T, B, N) attention weights */
    float *attn_cache, *attn_scratch;
    float *hcat, *dhcat; /* (T, B, 2H) the head's input and its gradient */

    /* the bidirectional encoder (Ce > 0, train_encoder.h) over each window's
     * encoder inputs; its outputs are the last Ce columns of layer 0's input */
    rnn_enc_config ecfg;
    int n_enc;                                /* its tensors: 8 Le */
    size_t o_enc[8 * RNN_MAX_ENC_LAYERS];     /* their offsets, rnn_enc_tensor_specs order */
    float *enc_x;                             /* (T, B, In) the window's encoder inputs */
    float *enc_out, *denc;                    /* (T, B, Ce) its outputs, and their gradient */
    float *enc_mask, *enc_drop; /* (T, B, Ce) dropout: its mask, the outputs after it */
    const float *enc_in0;       /* what layer 0 read: enc_out, or enc_drop */
    float *enc_acts, *enc_scratch;

    /* threads, and what the current stage works on */
    struct rnn_pool *pool;
    int layer;
    int packed_fwd;     /* st_pack packs W_hh for the forward (1) or the backward (0) */
    uint64_t drop_seed; /* st_dropout's generator state */
    double part_sum[RNN_TRAIN_MAX_THREADS]; /* per part: NLL, or squared gradient norm */
    long part_n[RNN_TRAIN_MAX_THREADS], part_hit[RNN_TRAIN_MAX_THREADS];
    struct {
        float coef, beta1, beta2, eps, decay, step_size, bc2s;
    } opt;
};

/* ------------------------------------------------------------------------ */
/* Threads (train_pool.c). The work of a pass splits into stages; each stage
 * is cut into parts (row ranges, lane ranges or weight-row ranges, fixed by
 * the part count alone, so results do not depend on timing), which the
 * calling thread and the pool's claim one at a time until none is left. */

typedef void (*rnn_stage_fn)(rnn_trainer *tr, int part, int nparts);

/** Run fn over every part (one per thread, 1 without a pool); returns when
 * all are done. */
void rnn_run_stage(rnn_trainer *tr, rnn_stage_fn fn);

/** The number of parts a stage has. */
int rnn_stage_parts(const rnn_trainer *tr);

/** Release a pool; accepts NULL. */
void rnn_pool_free(struct rnn_pool *p);

/** [lo, hi): part `part` of nparts of n items. */
static inline void split(size_t n, int part, int nparts, size_t *lo, size_t *hi)
{
    *lo = n * (size_t)part / (size_t)nparts;
    *hi = n * (size_t)(part + 1) / (size_t)nparts;
}

/* ------------------------------------------------------------------------ */
/* Checkpoints (train_checkpoint.c). */

typedef struct {
    long step;
    int epoch, bad_epochs;
    double best_valid, seconds;
    long best_step; /* the step of the best weights (not in the file: epoch - bad_epochs) */
} rnn_run_progress;

/** Resume: one process reads the file; a group has rank 0 read it and send
 * its bytes to every rank. Fills the trainer, the batcher, best and pr.
 * 0, or -1 with a message. */
int rnn_checkpoint_load(const char *path, const rnn_train_options *o, rnn_trainer *tr,
                        rnn_batcher *bt, float *best, rnn_run_progress *pr, char *err,
                        size_t errlen);

/** Write a checkpoint of the whole group (collective with o->comm). 0, or
 * -1 with a message. */
int rnn_checkpoint_save(const char *path, const rnn_train_options *o, rnn_trainer *tr,
                        const rnn_batcher *bt, const float *best, const rnn_run_progress *pr,
                        char *err, size_t errlen);

#endif
