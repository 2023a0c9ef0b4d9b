/* SPDX-License-Identifier: MIT */
/* rnnmidi core: a bidirectional encoder over a whole sequence (a clip to
 * drumify, a finished call to answer): equations, tensor names and order in
 * core/FORMAT.md, "Bidirectional encoder".
 *
 * Le layers of He units in each direction, of one cell type (PyTorch's
 * nn.RNN / nn.LSTM / nn.GRU with bidirectional=True, its gate order and its
 * `_reverse` tensors): the forward layer reads steps 0..T-1, the reverse
 * layer T-1..0, each from a zero state, and a step's output is
 * [forward h | reverse h], 2 He floats; layer k >= 1 reads the 2 He outputs
 * of layer k-1. The input of layer 0 is one dense row of In floats per step,
 * whatever its columns mean (the model that holds the encoder defines them).
 *
 * The work can be cut into slices, so a host can spread it over audio
 * blocks: begin(x, T), then work(budget) until it returns 1. The unit of
 * work is one step of one direction of one layer (2 Le T units a sequence);
 * every unit is computed by the same code whatever the slicing, so a sliced
 * run and a whole one give the same outputs bit for bit.
 *
 * Threads and memory: create/free allocate and are for the main/worker
 * thread; everything else allocates nothing, locks nothing, prints nothing,
 * takes time bounded by its budget and is audio thread safe. Sequences are
 * at most the max_steps given at create. One encoder belongs to one thread
 * at a time. */
#ifndef RNNMIDI_ENCODER_H
#define RNNMIDI_ENCODER_H

#include <stddef.h>

#include "cell.h"
#include "model.h"

#define RNN_ENC_MAX_LAYERS RNN_MAX_ENC_LAYERS
#define RNN_ENC_MAX_HIDDEN RNN_MAX_HIDDEN
#define RNN_ENC_MAX_INPUTS 4096
#define RNN_ENC_MAX_STEPS 65536
#define RNN_ENC_TENSORS_PER_LAYER (2 * RNN_CELL_LAYER_TENSORS) /* forward, then reverse */
#define RNN_ENC_MAX_TENSORS (RNN_ENC_TENSORS_PER_LAYER * RNN_ENC_MAX_LAYERS)

typedef struct {
    rnn_cell cell;
    int layers;    /* Le, 1..RNN_ENC_MAX_LAYERS */
    int inputs;    /* In: columns of layer 0's input row, 1..RNN_ENC_MAX_INPUTS */
    int hidden;    /* He per direction, 1..RNN_ENC_MAX_HIDDEN; outputs are 2 He */
    int max_steps; /* longest sequence, 1..RNN_ENC_MAX_STEPS (create only) */
} rnn_enc_config;

typedef struct rnn_enc rnn_enc;

/** Check cfg's sizes (max_steps too when check_steps); 0, or -1 with a
 * message. Any thread. */
int rnn_enc_config_check(const rnn_enc_config *cfg, int check_steps, char *err, size_t errlen);

/** The encoder's tensors in file order into specs (room for
 * RNN_ENC_MAX_TENSORS): per layer k, PyTorch's enc.weight_ih_l{k} (G He,
 * I_k), enc.weight_hh_l{k} (G He, He), enc.bias_ih_l{k}, enc.bias_hh_l{k},
 * then the same four with the suffix _reverse; I_0 = In, I_k = 2 He.
 * Returns their number (8 Le), or -1 for bad sizes (max_steps is not
 * looked at). Any thread. */
int rnn_enc_tensor_specs(const rnn_enc_config *cfg, rnn_tensor_spec *specs);

/** Create an encoder, copying the weights: tensors[i] holds spec i of
 * rnn_enc_tensor_specs (row-major; the caller keeps its own). NULL with a
 * message for bad sizes, a missing tensor or no memory. Main/worker
 * thread; allocates. */
rnn_enc *rnn_enc_create(const rnn_enc_config *cfg, const float *const *tensors, char *err,
                        size_t errlen);

/** The encoder of a loaded model (one with enc_layers > 0), its weights
 * copied, for sequences of up to max_steps. NULL with a message for a model
 * without an encoder, a bad max_steps or no memory. Main/worker thread;
 * allocates. */
rnn_enc *rnn_enc_create_model(const rnn_model *model, int max_steps, char *err, size_t errlen);

/** Release an encoder; accepts NULL. Main/worker thread. */
void rnn_enc_free(rnn_enc *enc);

/** Bytes allocated for this encoder. Any thread. */
size_t rnn_enc_bytes(const rnn_enc *enc);

/** The configuration it was created with. Any thread. */
const rnn_enc_config *rnn_enc_get_config(const rnn_enc *enc);

/** Start a sequence of T rows of In floats (x, row-major, copied before
 * the call returns), abandoning any run in progress. 0, or -1 (nothing
 * changed) when x is NULL or T is outside 1..max_steps. Audio thread safe. */
int rnn_enc_begin(rnn_enc *enc, const float *x, int T);

/** Do at most `budget` units (at least one) of the run begun; returns 1
 * when it is finished (also when nothing was begun), else 0. Audio thread
 * safe. */
int rnn_enc_work(rnn_enc *enc, int budget);

/** Units of the run begun (2 Le T), and those done so far. */
int rnn_enc_work_total(const rnn_enc *enc);
int rnn_enc_work_done(const rnn_enc *enc);

/** begin and work to the end in one call; 0 or -1 as begin. Audio thread
 * safe, in time proportional to T. */
int rnn_enc_run(rnn_enc *enc, const float *x, int T);

/** The outputs of the last finished run, (T, 2 He) row-major, row t being
 * [forward | reverse] at step t; *T (when not NULL) receives its steps.
 * NULL (and *T = 0) before a first run and while one is under way. Valid
 * until the next begin. Audio thread safe. */
const float *rnn_enc_output(const rnn_enc *enc, int *T);

/** Multiply-adds of one encoded step: both directions of every layer, the
 * W_ih and W_hh products. 0 for bad sizes. Any thread. */
size_t rnn_enc_step_macs(const rnn_enc_config *cfg);

#endif
