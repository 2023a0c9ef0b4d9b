/* SPDX-License-Identifier: MIT */
/* rnnmidi core: the preset file (.rnnw v1 and v2), see core/FORMAT.md.
 *
 * A loaded rnn_model is immutable: any number of nets may run on it at once.
 * Loading and writing allocate and do I/O: main or worker thread only. */
#ifndef RNNMIDI_MODEL_H
#define RNNMIDI_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "cell.h"
#include "encoding.h"

#define RNN_MAX_LAYERS 4 /* the file format's cap too */
#define RNN_MAX_HIDDEN 4096
#define RNN_MAX_EMBED 4096
#define RNN_MAX_VOCAB 4096
#define RNN_MAX_STEPS_PER_QUARTER 96
#define RNN_MODEL_MAX_META ((size_t)1 << 20)    /* metadata block, bytes */
#define RNN_MODEL_MAX_BYTES ((size_t)512 << 20) /* whole preset file, bytes */
#define RNN_MAX_ENC_LAYERS 4 /* bidirectional encoder layers (core/encoder.h) */
#define RNN_MAX_TENSORS                                                                            \
    (2 + RNN_CELL_LAYER_TENSORS * RNN_MAX_LAYERS + 2 * RNN_CELL_LAYER_TENSORS * RNN_MAX_ENC_LAYERS + \
     3 + 2)
#define RNN_MAX_ATTN_WINDOW 1024 /* attention window n, stored outputs */
#define RNN_MAX_ATTN_SIZE 4096   /* attention size A */
#define RNN_TENSOR_NAME_MAX 64

/* Conditioning inputs a model takes beside the event (rnn_model_config's
 * conditions, a bit set; core/condition.h computes them). Their columns
 * follow the event's in layer 0's input, metric first, then harmony. */
#define RNN_COND_METRIC 1u  /* rnn_cond_metric_columns(spq) columns */
#define RNN_COND_HARMONY 2u /* 12 pitch-class columns; melody models only */
#define RNN_COND_ALL (RNN_COND_METRIC | RNN_COND_HARMONY)
/* With RNN_COND_NEXT (set by this version's trainer) the conditions beside
 * the input event of step t are those of step t + 1, the step whose event
 * the logits predict; without it (earlier version 2 files) those of step t.
 * Never alone: it qualifies the conditions above. */
#define RNN_COND_NEXT 4u
#define RNN_COND_KNOWN (RNN_COND_ALL | RNN_COND_NEXT)
#define RNN_MAX_COND_COLUMNS (2 + 4 * RNN_MAX_STEPS_PER_QUARTER + 16 + 12)

/* The lookback inputs (core/lookback.h): columns after the conditions' in
 * layer 0's input, rnn_lookback_columns(kind) of them (262 melody, 20
 * drums). A net's caller passes [conditions | lookback] as one vector. */
#define RNN_MAX_LOOKBACK_COLUMNS (2 * RNN_MELODY_VOCAB + 2)
#define RNN_MAX_INPUT_COLUMNS (RNN_MAX_COND_COLUMNS + RNN_MAX_LOOKBACK_COLUMNS)

/* The bidirectional encoder (core/encoder.h, FORMAT.md "Bidirectional
 * encoder"): its input row per step is a melody line and its harmony, the
 * 130 one-hot columns of the line's event then the 12 pitch classes
 * sounding under it (for drumify, the clip's other parts); its 2 He outputs
 * at a step are the last columns of layer 0's input, after the lookback's. */
#define RNN_ENC_INPUT_COLUMNS (RNN_MELODY_VOCAB + 12)

typedef struct {
    rnn_kind kind;         /* encoding kind */
    int steps_per_quarter; /* grid resolution */
    rnn_cell cell;
    int layers;          /* 1..RNN_MAX_LAYERS */
    int embed;           /* E; 0 = one-hot input */
    int hidden;          /* H */
    int vocab;           /* V, must equal rnn_kind_vocab(kind) */
    unsigned conditions; /* RNN_COND_* bits; 0 = none */
    int attn_window;     /* attention window n, 0 = no attention, 1..RNN_MAX_ATTN_WINDOW */
    int attn_size;       /* attention size A: 1..RNN_MAX_ATTN_SIZE with a window, else 0 */
    int lookback;        /* 1: the lookback inputs (rnn_model_lookback_columns), 0: none */
    int enc_layers;      /* bidirectional encoder layers Le, 0 = none, 1..RNN_MAX_ENC_LAYERS */
    int enc_hidden;      /* its hidden size He per direction: 1..RNN_MAX_HIDDEN with Le, else 0 */
    int enc_inputs; /* its input columns: RNN_ENC_INPUT_COLUMNS with Le (any 1..4096 for a
                       network that never becomes a file), else 0 */
} rnn_model_config; /* no conditions, attention, lookback or encoder: written as version 1 */

/* Name and shape of one tensor in the file's fixed order (PyTorch names):
 *   embed.weight        (V, E)          only when E > 0
 *   the cell's tensors of each layer k (core/cell.c), today
 *   rnn.weight_ih_l{k}  (G*H, I_k)      I_0 = E (or V when E = 0) + C + L; I_k = H after
 *   rnn.weight_hh_l{k}  (G*H, H)
 *   rnn.bias_ih_l{k}    (G*H)
 *   rnn.bias_hh_l{k}    (G*H)
 *   enc.*               the encoder's 8 per layer (rnn_enc_tensor_specs), with Le > 0
 *   attn.W1             (A, H)          only with attention (attn_window > 0)
 *   attn.W2             (A, H)
 *   attn.v              (A)
 *   head.weight         (V, H), or (V, 2H) over [h | context] with attention
 *   head.bias           (V)
 * G is the cell's gate count: 1 (rnn), 4 (lstm: i,f,g,o), 3 (gru: r,z,n);
 * C the condition columns (rnn_model_cond_columns), L the lookback columns
 * (rnn_model_lookback_columns); with an encoder I_0 adds its 2 He outputs
 * (rnn_model_enc_columns) after them. */
typedef struct {
    char name[RNN_TENSOR_NAME_MAX];
    int ndim;     /* 1 or 2 */
    int shape[2]; /* rows, cols (cols = 1 when ndim = 1) */
    size_t count; /* rows * cols */
} rnn_tensor_spec;

typedef struct {
    const char *key;
    const char *value;
} rnn_meta;

/* How a tensor's values are stored (the dtype of its record, core/FORMAT.md);
 * the numbers are the file's and rnn_qmat_dtype's. Only the matrices that
 * an inference step multiplies by a dense vector may be reduced
 * (rnn_model_dtype_allowed); every other tensor is float32. */
typedef enum {
    RNN_DTYPE_F32 = 0,  /* IEEE-754 binary32 */
    RNN_DTYPE_BF16 = 1, /* bfloat16, round to nearest even */
    RNN_DTYPE_INT8 = 2  /* int8 in [-127, 127] times a float32 scale per row */
} rnn_dtype;
#define RNN_DTYPE_COUNT 3

typedef struct rnn_model rnn_model;

/** Check a config against the caps of core/FORMAT.md, including that its
 * tensors fit in RNN_MODEL_MAX_BYTES; 0, or -1 with a message. Any thread. */
int rnn_model_config_check(const rnn_model_config *cfg, char *err, size_t errlen);

/** Condition columns C of a config: the metric columns of its steps per
 * quarter when it takes RNN_COND_METRIC, plus 12 for RNN_COND_HARMONY; 0 for
 * none, for NULL, or for an out-of-range steps per quarter. Any thread. */
int rnn_model_cond_columns(const rnn_model_config *cfg);

/** The first of the condition columns of `which` (one RNN_COND_* bit),
 * counted from 0 at the first condition column (metric at 0, harmony after
 * it), or -1 when the config does not take it. Any thread. */
int rnn_model_cond_offset(const rnn_model_config *cfg, unsigned which);

/** Lookback columns L of a config: rnn_lookback_columns(kind) when it takes
 * the lookback inputs, else 0 (also for NULL). They follow the C condition
 * columns. Any thread. */
int rnn_model_lookback_columns(const rnn_model_config *cfg);

/** The columns of layer 0's input after the event's: C + L, the conditions
 * then the lookback. Any thread. */
int rnn_model_input_columns(const rnn_model_config *cfg);

/** The encoder's columns of layer 0's input, after the lookback's: 2 He
 * with an encoder, else 0 (also for NULL). Dense values (the encoder's
 * outputs), not 0/1 columns. Any thread. */
int rnn_model_enc_columns(const rnn_model_config *cfg);

/** Fill specs (room for RNN_MAX_TENSORS) with the tensors of cfg in file
 * order; returns their number, or -1 for an invalid config. Any thread. */
int rnn_model_tensor_specs(const rnn_model_config *cfg, rnn_tensor_spec *specs);

/** The same for a network shape alone: cfg's kind is not looked at unless
 * it takes the lookback inputs (then melody or drums), nor its steps per
 * quarter unless it takes conditions (then 1..96), and its
 * vocabulary may be any 1..RNN_MAX_VOCAB (the trainer runs tiny vocabularies
 * in its tests); nor is the preset's size cap checked. Only for networks
 * that never become a file: the writer and the reader keep every check of
 * rnn_model_config_check. Returns the count, or -1 when the cell or a size
 * is out of range. Any thread. */
int rnn_model_shape_specs(const rnn_model_config *cfg, rnn_tensor_spec *specs);

/** "float32", "bf16", "int8", or NULL for an unknown dtype. Any thread. */
const char *rnn_dtype_name(rnn_dtype dtype);

/** The dtype called `name` ("fp32" or "float32", "bf16", "int8"), or -1. Any
 * thread. */
int rnn_dtype_find(const char *name);

/** 1 when spec i of rnn_model_tensor_specs(cfg) may be stored reduced (bf16
 * or int8): rnn.weight_ih_l{k} (for k = 0 only with an embedding),
 * rnn.weight_hh_l{k} and head.weight; else 0. Any thread. */
int rnn_model_dtype_allowed(const rnn_model_config *cfg, int i);

/** The dtype of every tensor of rnn_model_tensor_specs(cfg) when the
 * reducible ones (rnn_model_dtype_allowed) are stored as dt and the others
 * as float32, into d (RNN_MAX_TENSORS entries); returns how many are dt
 * (0 for float32), or -1 for a bad config. Any thread. */
int rnn_model_reduced_dtypes(const rnn_model_config *cfg, rnn_dtype dt, rnn_dtype *d);

/** Load and validate a preset from a file. Returns NULL with a message naming
 * the file and the problem in err. Main/worker thread. */
rnn_model *rnn_model_load(const char *path, char *err, size_t errlen);

/** Same from a memory buffer; name is used in messages. The buffer is copied. */
rnn_model *rnn_model_load_memory(const void *data, size_t size, const char *name, char *err,
                                 size_t errlen);

/** Release a model; accepts NULL. No net may still use it. Main/worker thread. */
void rnn_model_free(rnn_model *model);

/** The model's configuration; valid while the model lives. */
const rnn_model_config *rnn_model_get_config(const rnn_model *model);

/** Tensor data by name (NULL when absent), starting on a 64-byte boundary;
 * *count receives its element count when count is not NULL. A reduced
 * tensor reads as the floats its stored values stand for, exactly (bf16
 * widened; int8 times its row's scale, rounded once, as rnn_qmat_weight).
 * Valid while the model lives. Any thread. */
const float *rnn_model_tensor(const rnn_model *model, const char *name, size_t *count);

/** The dtype a tensor is stored in (RNN_DTYPE_F32 for an absent name). Any
 * thread. */
rnn_dtype rnn_model_tensor_dtype(const rnn_model *model, const char *name);

/** A reduced tensor's stored values, row-major (NULL unless the tensor is
 * stored in that dtype): bf16 values; int8 values with, in *scale, one
 * scale per row. Valid while the model lives. Any thread. */
const uint16_t *rnn_model_tensor_bf16(const rnn_model *model, const char *name);
const int8_t *rnn_model_tensor_int8(const rnn_model *model, const char *name,
                                    const float **scale);

/** Metadata value for key, or NULL. */
const char *rnn_model_meta(const rnn_model *model, const char *key);

/** Number of metadata entries, and entry i. */
size_t rnn_model_meta_count(const rnn_model *model);
rnn_meta rnn_model_meta_at(const rnn_model *model, size_t i);

/** Serialize a preset into a new malloc'd buffer (*out, *outlen; the caller
 * frees it). tensors[i] holds the data of spec i of rnn_model_tensor_specs(cfg).
 * Returns 0, or -1 with a message. Main/worker thread. */
int rnn_model_serialize(const rnn_model_config *cfg, const rnn_meta *meta, size_t n_meta,
                        const float *const *tensors, void **out, size_t *outlen, char *err,
                        size_t errlen);

/** Serialize and write to path through a temporary file and a rename, so a
 * failed write never leaves a truncated preset. Returns 0 or -1 with a
 * message naming the file. Main/worker thread. */
int rnn_model_write(const char *path, const rnn_model_config *cfg, const rnn_meta *meta,
                    size_t n_meta, const float *const *tensors, char *err, size_t errlen);

/** rnn_model_serialize and rnn_model_write with tensor i stored as
 * dtypes[i] (NULL: all float32): a reduced tensor is rounded here (bf16 to
 * nearest even; int8 per row by max |w| / 127, as rnn_qmat_create). -1 with
 * a message for a dtype on a tensor that must stay float32
 * (rnn_model_dtype_allowed) or a weight beyond bf16's range. The version
 * does not change with the dtypes (core/FORMAT.md). Main/worker thread. */
int rnn_model_serialize_typed(const rnn_model_config *cfg, const rnn_meta *meta, size_t n_meta,
                              const float *const *tensors, const rnn_dtype *dtypes, void **out,
                              size_t *outlen, char *err, size_t errlen);
int rnn_model_write_typed(const char *path, const rnn_model_config *cfg, const rnn_meta *meta,
                          size_t n_meta, const float *const *tensors, const rnn_dtype *dtypes,
                          char *err, size_t errlen);

/** Serialize a loaded model with the metadata given: every tensor as the
 * model stores it, reduced ones with their stored values and scales (not
 * rounded again), so a file loaded and written back with its own metadata
 * is the same bytes. Main/worker thread. */
int rnn_model_serialize_model(const rnn_model *model, const rnn_meta *meta, size_t n_meta,
                              void **out, size_t *outlen, char *err, size_t errlen);

#endif
