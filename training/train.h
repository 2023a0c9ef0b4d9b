/* SPDX-License-Identifier: MIT */
/* rnnmidi training: the batched trainer of a stacked RNN / LSTM / GRU.
 *
 * One rnn_trainer holds, for one model configuration and one window shape
 * (B lanes x T steps): the parameters in one contiguous block laid out in the
 * preset's tensor order (core/model.c's tensor specs, core/FORMAT.md), the
 * gradients and the two Adam moments in the same layout, the activations the
 * backward pass needs, and the recurrent state carried from one window to
 * the next. The files that implement it are listed in train_impl.h.
 *
 * Letters: B lanes of a batch, T steps of a window, E embedding, I input of a
 * layer (E, or V for a one-hot input, or H), H hidden, G gates, V vocabulary.
 * Every (T, B, ...) array is time-major: row t * B + b.
 *
 * Equations are PyTorch's nn.RNN (tanh), nn.LSTM (i,f,g,o) and nn.GRU (r,z,n,
 * b_hn inside the reset product); dropout (inverted) acts on the input of
 * every layer above the first and on the input of the head.
 *
 * Matrix products go through cblas_sgemm, but for each step's product with
 * W_hh: a kernel of the trainer's own over W_hh packed once per pass, as a
 * BLAS call of that small shape repacks the matrix at every step. Main
 * thread only; nothing here is real-time safe. */
#ifndef RNNMIDI_TRAIN_H
#define RNNMIDI_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>

#include "../core/model.h"

typedef struct rnn_trainer rnn_trainer;

/** Create a trainer for cfg and windows of B lanes x T steps; parameters are
 * zero until rnn_trainer_init_params, rnn_trainer_load_model or a write
 * through rnn_trainer_tensor. cfg's vocabulary may be any 2..RNN_MAX_VOCAB
 * (a preset's must be its encoding's; tests train tiny ones). NULL with a
 * message on failure (bad sizes, out of memory). */
rnn_trainer *rnn_trainer_create(const rnn_model_config *cfg, int B, int T, char *err,
                                size_t errlen);

/** Release a trainer; accepts NULL. */
void rnn_trainer_free(rnn_trainer *tr);

#define RNN_TRAIN_MAX_THREADS 16

/** Threads the trainer splits its work over (1 by default; at most
 * RNN_TRAIN_MAX_THREADS and B). Results depend on the count, not on timing:
 * resume with the same count. 0, or -1 when threads cannot start (then 1). */
int rnn_trainer_set_threads(rnn_trainer *tr, int n);
int rnn_trainer_threads(const rnn_trainer *tr);

/** The configuration, the lanes B and the window length T. */
const rnn_model_config *rnn_trainer_config(const rnn_trainer *tr);
int rnn_trainer_lanes(const rnn_trainer *tr);
int rnn_trainer_window(const rnn_trainer *tr);

/** Number of parameters, and the flat blocks (parameters, gradients, Adam
 * first and second moments), all in the same layout. */
size_t rnn_trainer_num_params(const rnn_trainer *tr);
float *rnn_trainer_params(rnn_trainer *tr);
float *rnn_trainer_grads(rnn_trainer *tr);
float *rnn_trainer_adam_m(rnn_trainer *tr);
float *rnn_trainer_adam_v(rnn_trainer *tr);

/** Tensors in file order: their number, spec i, and pointers into the
 * parameter (or gradient) block. */
int rnn_trainer_num_tensors(const rnn_trainer *tr);
const rnn_tensor_spec *rnn_trainer_tensor_spec(const rnn_trainer *tr, int i);
float *rnn_trainer_tensor(rnn_trainer *tr, int i);
float *rnn_trainer_grad_tensor(rnn_trainer *tr, int i);

/** PyTorch's default initialisation from a seed: U(-1/sqrt(H), 1/sqrt(H)) for
 * the cells, N(0, 1) for the embedding, U(-1/sqrt(H), 1/sqrt(H)) for the head. */
void rnn_trainer_init_params(rnn_trainer *tr, uint64_t seed);

/** Copy a loaded preset's weights in; -1 with a message when its
 * configuration differs from the trainer's. */
int rnn_trainer_load_model(rnn_trainer *tr, const rnn_model *model, char *err, size_t errlen);

/** Dropout probability applied in training forwards (0 = off), and the seed
 * of the dropout masks. */
void rnn_trainer_set_dropout(rnn_trainer *tr, float p, uint64_t seed);

/** The carried state: zero all lanes, or one lane. */
void rnn_trainer_reset_state(rnn_trainer *tr);
void rnn_trainer_reset_lane(rnn_trainer *tr, int b);

/** Floats of carried state (h, and c for LSTM: L x B x H each), and copies
 * in and out (for checkpoints). */
size_t rnn_trainer_state_size(const rnn_trainer *tr);
void rnn_trainer_state_get(const rnn_trainer *tr, float *dst);
void rnn_trainer_state_set(rnn_trainer *tr, const float *src);

/** Data parallelism: this trainer's B lanes are lanes first .. first + B - 1
 * of a global batch of `global` lanes that several trainers (processes)
 * share. rnn_trainer_forward then reads (T, global) inputs and targets and
 * keeps its columns, and draws the dropout masks of the whole global batch,
 * keeping its part (so the slices together see exactly the masks of one
 * trainer of `global` lanes); rnn_trainer_reset_lane takes global lane
 * numbers and ignores the others; rnn_trainer_evaluate runs on the B lanes
 * alone. global = B, first = 0 is the default. Returns 0, or -1 when the
 * slice does not fit. */
int rnn_trainer_set_lane_slice(rnn_trainer *tr, int global, int first);

/** The divisor of the next rnn_trainer_backward (call after the forward):
 * the counted targets of the whole global batch, so that the slices'
 * gradients add up to the gradient of the global mean. 0 = the forward's own
 * count (the default, reset by every forward). */
void rnn_trainer_set_loss_count(rnn_trainer *tr, long count);

/** Dropout generator state (for checkpoints). */
uint64_t rnn_trainer_rng_get(const rnn_trainer *tr);
void rnn_trainer_rng_set(rnn_trainer *tr, uint64_t s);

/** Forward one window. inputs, targets: (T, B) time-major class ids; a target
 * < 0 is not counted. Starts from the carried state and leaves the final state
 * in it. training != 0 applies dropout. Returns the summed NLL (nats) of the
 * counted targets; *count (may be NULL) receives their number and *correct
 * (may be NULL) how many had the argmax logit. */
double rnn_trainer_forward(rnn_trainer *tr, const int32_t *inputs, const int32_t *targets,
                           int training, long *count, long *correct);

/** The same with the condition columns of a conditioned config: cond is
 * (T, B, C) time-major, C = rnn_model_input_columns(cfg) (the conditions,
 * then the lookback columns), each 0 or 1, the columns of layer 0's input
 * after the event's; NULL = all zero.
 * rnn_trainer_forward is this with NULL. */
double rnn_trainer_forward_cond(rnn_trainer *tr, const int32_t *inputs, const float *cond,
                                const int32_t *targets, int training, long *count, long *correct);

/** The same for a model with a bidirectional encoder (cfg.enc_layers > 0):
 * enc_in (T, B, In) time-major are the encoder's input rows
 * (cfg.enc_inputs columns each), NULL = all zero. The encoder reads the
 * window's T steps of each lane as one whole sequence (no state carried
 * from the window before); its outputs enter layer 0 after the condition
 * and lookback columns, and the backward reaches its weights. Dropout (in
 * training) acts on its outputs as on the input of a layer above the first.
 * Without an encoder enc_in is ignored. */
double rnn_trainer_forward_enc(rnn_trainer *tr, const int32_t *inputs, const float *cond,
                               const float *enc_in, const int32_t *targets, int training,
                               long *count, long *correct);

/** Logits of the last forward, (T, B, V). */
const float *rnn_trainer_logits(const rnn_trainer *tr);

/** Zero the gradients. */
void rnn_trainer_zero_grad(rnn_trainer *tr);

/** Accumulate into the gradients the gradient of the mean NLL of the last
 * forward (the sum divided by its count), back through the window only
 * (truncated BPTT: the carried-in state is a constant). */
void rnn_trainer_backward(rnn_trainer *tr);

/** Global L2 norm of the gradients; when max_norm > 0 and the norm exceeds it,
 * scale them to max_norm (PyTorch's clip_grad_norm_). Returns the norm before
 * clipping. */
double rnn_trainer_clip_grad(rnn_trainer *tr, double max_norm);

/** One AdamW step (PyTorch's torch.optim.AdamW: decoupled weight decay on
 * every tensor). step counts from 1. */
void rnn_trainer_adamw(rnn_trainer *tr, float lr, float beta1, float beta2, float eps,
                       float weight_decay, long step);

/* ------------------------------------------------------------------------ */
/* Batching: B lanes each walk through sequences window after window, the
 * state carried while a lane stays in one sequence. */

typedef struct rnn_batcher rnn_batcher;

/** A batcher over seqs (which must outlive it). random != 0: each lane takes
 * sequences in a shuffled order that is redrawn every pass, starts at a random
 * offset below T, and (melody only, transpose > 0) transposes each sequence by
 * a random k in [-transpose, transpose]. random == 0: the sequences in order,
 * whole, each once (for evaluation). NULL on failure. */
rnn_batcher *rnn_batcher_create(const rnn_seq_list *seqs, rnn_kind kind, int B, int T, int random,
                                int transpose, uint64_t seed);
void rnn_batcher_free(rnn_batcher *bt);

/** Fill the next window (inputs, targets: (T, B) time-major). Lanes that start
 * a new sequence have their state zeroed in tr (which may be NULL). Returns the number of counted
 * targets (0 when an ordered batcher is exhausted). */
long rnn_batcher_next(rnn_batcher *bt, rnn_trainer *tr, int32_t *inputs, int32_t *targets);

/** From now on, fill the condition columns of cfg (rnn_model_input_columns)
 * for every window from the sequences' packed conditions (rnn_seq.cond,
 * training/dataset.h; a sequence without them gets zeros): the metric
 * position, and the harmony transposed as the melody is; then, for a
 * lookback model, the lookback columns of each input from the sequence's
 * events since its first step (transposed too), with the bar lengths of
 * rnn_seq.bar (4/4 for a sequence without them). A random batcher
 * zeroes the harmony of a lane's window with probability harmony_drop (so a
 * model learns to play with and without a player); an ordered one keeps
 * it (harmony_drop 0) or zeroes all of it (1). 0, or -1 out of memory. */
int rnn_batcher_set_conditions(rnn_batcher *bt, const rnn_model_config *cfg, float harmony_drop);

/** The condition columns of the last window, (T, B, C); NULL without
 * conditions. Valid until the next call on bt. */
const float *rnn_batcher_cond(const rnn_batcher *bt);

/** The encoder rows of the last window, (T, B, cfg.enc_inputs), for a
 * config with a bidirectional encoder given to rnn_batcher_set_conditions
 * (from the sequences' rnn_seq.enc: row t is the input of the step the
 * window's row t predicts, zeros where it has no target); NULL without an
 * encoder. Valid until the next call on bt. */
const float *rnn_batcher_enc(const rnn_batcher *bt);

/** Serialised size of the batcher's state, and save / restore (for
 * checkpoints; restore onto a batcher created with the same arguments).
 * Restore returns 0, or -1 when the blob does not fit. */
size_t rnn_batcher_state_size(const rnn_batcher *bt);
void rnn_batcher_state_save(const rnn_batcher *bt, void *dst);
int rnn_batcher_state_load(rnn_batcher *bt, const void *src, size_t size);

/** Mean NLL per step (nats) of a model over seqs, each sequence run whole from
 * a zero state, with the conditions of the sequences when the model takes
 * them; *accuracy (may be NULL) the argmax accuracy; *steps (may be
 * NULL) the count. Uses tr's weights and window shape; the carried state is
 * lost. Returns -1 when there is nothing to count. */
double rnn_trainer_evaluate(rnn_trainer *tr, const rnn_seq_list *seqs, rnn_kind kind,
                            double *accuracy, long *steps);

/* ------------------------------------------------------------------------ */
/* The whole training run. */

/* Data-parallel training over a group of processes (MPI, see
 * training/CLUSTER.md). Rank r of size computes lanes
 * [batch * r / size, batch * (r + 1) / size) of every global batch; every
 * rank holds all the sequences, draws the same windows from the same batcher
 * and applies the same update to the summed gradients. Both calls are
 * collective (every rank makes the same calls in the same order) and return
 * 0, or -1 with a message when a rank fails or does not answer within the
 * group's deadline plus extra_wait seconds. */
typedef struct rnn_train_comm rnn_train_comm;
struct rnn_train_comm {
    int rank, size;
    /* sum over the ranks, in place: n floats f and nd doubles d */
    int (*sum)(rnn_train_comm *c, float *f, size_t n, double *d, int nd, double extra_wait,
               char *err, size_t errlen);
    /* rank 0's n bytes to every rank */
    int (*bcast)(rnn_train_comm *c, void *buf, size_t n, double extra_wait, char *err,
                 size_t errlen);
    void *ctx;
};

typedef struct {
    rnn_model_config cfg;
    int batch, seq_len;
    float lr, lr_min_ratio; /* peak rate; the cosine decays to lr * lr_min_ratio */
    long warmup;            /* optimiser steps of linear warm-up */
    float beta1, beta2, eps;
    float clip, dropout, weight_decay;
    int transpose;        /* melody augmentation range (semitones), 0 = off */
    float harmony_drop;   /* share of windows whose harmony condition is zeroed */
    int epochs;           /* at most this many epochs */
    long max_steps;       /* stop after this many optimiser steps (0 = none); the
                             cosine schedule still spans the epochs */
    long steps_per_epoch; /* 0 = train tokens / (B x T) */
    int patience;         /* epochs without a better valid NLL before stopping */
    uint64_t seed;
    double checkpoint_seconds;        /* 0 = only on interrupt and at the end */
    const char *checkpoint_path;      /* NULL = no checkpoints */
    const char *resume_path;          /* NULL = a fresh run */
    const rnn_model *init;            /* NULL = random initialisation */
    FILE *log_csv;                    /* NULL = none */
    FILE *progress;                   /* NULL = quiet */
    int progress_tty;                 /* a redrawn bar instead of plain lines */
    volatile sig_atomic_t *interrupt; /* set to non-zero (a signal) to stop */
    int threads;                      /* trainer threads (results depend on the count) */
    rnn_train_comm *comm;             /* NULL = one process; else every rank runs
                                         rnn_train_run with the same options; rank 0
                                         alone evaluates, logs, shows progress and
                                         writes (and reads) the checkpoint */
} rnn_train_options;

/** Defaults: LSTM 2 x 256, E = 64, B = 64, T = 64, lr 2e-3 with warm-up and
 * cosine decay, clip 1, dropout 0.25, weight decay 0.01, transposition +-5. */
void rnn_train_options_default(rnn_train_options *o, rnn_kind kind);

typedef struct {
    long steps;         /* optimiser steps done */
    int epochs;         /* epochs finished */
    double best_valid;  /* best valid NLL (nats per step), -1 without a valid split */
    double last_valid;  /* valid NLL of the last step's weights, -1 without a valid split */
    long best_step;     /* the step whose weights best_params holds (0 = the initial ones) */
    double last_loss;   /* train loss of the last step */
    int interrupted;    /* stopped by *interrupt */
    int early_stopped;  /* stopped by patience */
    float *best_params; /* malloc'd copy of the best weights (the caller frees) */
    size_t n_params;
    double seconds; /* wall time of this run (not counting earlier resumed parts) */
} rnn_train_result;

/** Train on train (valid may be empty: then the last weights are kept).
 * The valid split is evaluated at the end of every epoch and, when the run
 * stops anywhere else (--max-steps, *interrupt), once more on the last
 * step's weights, after the checkpoint is written; best_params are the best
 * of these validations. The checkpoint holds only the epochs' validations,
 * so a resumed run continues as one never stopped. Progress shows the
 * percentage of the whole run (up to max_steps or epochs x steps per epoch).
 * Returns 0, or -1 with a message. The result's best_params are in the
 * trainer layout of o->cfg. */
int rnn_train_run(const rnn_train_options *o, const rnn_seq_list *train, const rnn_seq_list *valid,
                  rnn_train_result *res, char *err, size_t errlen);

/** Optimiser steps recorded in a checkpoint file, -1 when it cannot be read. */
long rnn_train_checkpoint_steps(const char *path);

/** The learning rate at a step (warm-up, then cosine to lr * lr_min_ratio over
 * total steps). */
double rnn_train_lr(const rnn_train_options *o, long step, long total);

/** OpenBLAS's core name, and whether it is the slow generic fallback this
 * CPU gets from old OpenBLAS builds; threads for OpenBLAS. */
const char *rnn_blas_corename(void);
int rnn_blas_is_fallback(void);
void rnn_blas_set_threads(int n);

#endif
