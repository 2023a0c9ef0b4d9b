/* SPDX-License-Identifier: MIT */
/* rnnmidi core: writer and validating reader of the preset file (.rnnw v1, v2).
 *
 * The byte layout is core/FORMAT.md. Every integer and float is decoded byte
 * by byte as little-endian, so the code reads the same on any host. The reader
 * never trusts the file: every offset is bounds-checked with overflow-checked
 * size_t arithmetic before it is read. When the file has exactly the size its
 * header announces, the CRC-32 is checked before any record is interpreted,
 * so a damaged byte reads as a checksum mismatch; when the size is off, the
 * records are walked to say which one is short, misnamed or misshaped.
 *
 * A loaded model is immutable: its tensors live in one 64-byte aligned block
 * (each tensor starting on a 64-byte boundary), its metadata in one text copy
 * with an array of key/value pointers into it.
 *
 * A record's dtype says how its values are stored (float32, bf16, or int8
 * with a float32 scale per row) and so how long it is: the reader learns
 * each record's size from the record itself, and keeps both the stored
 * values (for core/qmat) and the floats they stand for.
 *
 * Version 2 differs from version 1 in its longer header (the declared
 * conditions, the attention window and size, the lookback columns, the
 * bidirectional encoder's sizes, and a field kept for later layer options,
 * zero today), in layer 0's input columns and, with attention, in the
 * attention's tensors and the head's width, and with an encoder in its
 * tensors; a model with none of these is written as version 1, so such
 * presets stay byte for byte what they were. */
#include "model.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "condition.h"
#include "crc32.h"
#include "encoder.h"
#include "file.h"
#include "lookback.h"
#include "qmat.h"

#define RNNW_MAGIC "RNNW\0\r\n\x1a"
#define RNNW_MAGIC_SIZE 8
#define RNNW_VERSION_MAX 2
#define RNNW_HEADER_V1 64
#define RNNW_HEADER_V2 96
#define RNNW_V1_RESERVED 52 /* v1: bytes 52..63 are zero */
#define RNNW_V2_ATTN 68     /* v2: the attention window n, then its size A at 72 */
#define RNNW_V2_LOOKBACK 76 /* v2: the lookback columns L (0 = none) */
#define RNNW_V2_ENC 80      /* v2: encoder layers Le, hidden He at 84, input columns at 88 */
#define RNNW_V2_RESERVED 92 /* v2: bytes 92..95 are zero (the layer options to come) */
#define RNNW_NAME_LEN_MAX (RNN_TENSOR_NAME_MAX - 1)
#define RNNW_META_KEY_MAX 64
#define RNNW_ALIGN 64 /* bytes; tensor starts in a loaded model */

struct rnn_model {
    rnn_model_config cfg;
    int n_tensors;
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const float *tensors[RNN_MAX_TENSORS]; /* views into weights */
    float *weights;                        /* the one block of every tensor */
    rnn_dtype dtypes[RNN_MAX_TENSORS];     /* as stored */
    const void *stored[RNN_MAX_TENSORS];   /* reduced tensors: their values, in reduced */
    const float *scales[RNN_MAX_TENSORS];  /* int8 tensors: a scale per row, in reduced */
    void *reduced;                         /* the one block of every reduced tensor */
    size_t n_meta;
    rnn_meta *meta;  /* n_meta pairs, pointing into meta_text */
    char *meta_text; /* the metadata block, '=' and '\n' replaced by NUL */
};

/* ------------------------------------------------------------------------ */
/* Messages, checked arithmetic, little-endian bytes                        */

static void msgf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void msgf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* "name: problem" */
static int failf(char *err, size_t errlen, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int failf(char *err, size_t errlen, const char *name, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    msgf(err, errlen, "%s: %s", name, msg);
    return -1;
}

static int add_ok(size_t a, size_t b, size_t *r)
{
    return !__builtin_add_overflow(a, b, r);
}

static int mul_ok(size_t a, size_t b, size_t *r)
{
    return !__builtin_mul_overflow(a, b, r);
}

/* Round up to a multiple of 4; 0 on overflow (the caller's sizes are capped). */
static int pad4_ok(size_t n, size_t *r)
{
    if (!add_ok(n, 3, r)) return 0;
    *r &= ~(size_t)3;
    return 1;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* By the bit pattern, so it holds whatever the floating-point flags. */
static int bits_finite(uint32_t u)
{
    return (u & 0x7f800000u) != 0x7f800000u;
}

static uint32_t crc_of(const uint8_t *p, size_t n)
{
    return rnn_crc32(0, p, n);
}

/* ------------------------------------------------------------------------ */
/* Configurations and tensor specs                                          */

static int range_ok(const char *what, long long v, long long lo, long long hi, char *err,
                    size_t errlen)
{
    if (v > hi) {
        msgf(err, errlen, "%s %lld exceeds the maximum %lld", what, v, hi);
        return 0;
    }
    if (v < lo) {
        msgf(err, errlen, "%s %lld is below the minimum %lld", what, v, lo);
        return 0;
    }
    return 1;
}

/* One spec: its name (followed by the layer number when layer >= 0), rows,
 * and cols (0 for a vector). */
static void set_spec(rnn_tensor_spec *s, const char *name, int layer, int rows, int cols)
{
    if (layer >= 0)
        snprintf(s->name, sizeof s->name, "%s%d", name, layer);
    else
        snprintf(s->name, sizeof s->name, "%s", name);
    s->ndim = cols > 0 ? 2 : 1;
    s->shape[0] = rows;
    s->shape[1] = cols > 0 ? cols : 1;
    s->count = (size_t)rows * (size_t)s->shape[1];
}

/* The encoder of a config (Le > 0), as core/encoder.h takes it */
static rnn_enc_config enc_config(const rnn_model_config *c)
{
    return (rnn_enc_config){.cell = c->cell,
                            .layers = c->enc_layers,
                            .inputs = c->enc_inputs,
                            .hidden = c->enc_hidden};
}

/* Specs of a config whose fields are already within their caps: the cell's
 * tensors of every layer between the embedding and the head, then the
 * encoder's. */
static int build_specs(const rnn_model_config *c, const rnn_cell_desc *d, rnn_tensor_spec *s)
{
    int n = 0;
    const int gh = d->gates * c->hidden;
    if (c->embed > 0) set_spec(&s[n++], "embed.weight", -1, c->vocab, c->embed); // (V, E)
    for (int k = 0; k < c->layers; k++) {
        const int x0 = rnn_model_input_columns(c) + rnn_model_enc_columns(c);
        const int in = k > 0 ? c->hidden : c->embed > 0 ? c->embed + x0 : c->vocab + x0;
        for (int i = 0; i < RNN_CELL_LAYER_TENSORS; i++) {
            const rnn_cell_tensor *t = &d->tensors[i];
            const int cols = t->cols == 'I' ? in : t->cols == 'H' ? c->hidden : 0;
            set_spec(&s[n++], t->name, k, gh, cols); // (G*H, I_k), (G*H, H), (G*H)
        }
    }
    if (c->enc_layers > 0) {
        const rnn_enc_config e = enc_config(c);
        n += rnn_enc_tensor_specs(&e, s + n); // enc.*: 8 per layer
    }
    if (c->attn_window > 0) {
        set_spec(&s[n++], "attn.W1", -1, c->attn_size, c->hidden); // (A, H)
        set_spec(&s[n++], "attn.W2", -1, c->attn_size, c->hidden); // (A, H)
        set_spec(&s[n++], "attn.v", -1, c->attn_size, 0);          // (A)
    }
    const int head_in = c->attn_window > 0 ? 2 * c->hidden : c->hidden; /* [h | context] */
    set_spec(&s[n++], "head.weight", -1, c->vocab, head_in);            // (V, H) or (V, 2H)
    set_spec(&s[n++], "head.bias", -1, c->vocab, 0);                    // (V)
    return n;
}

/* Bytes of a tensor's data stored as dtype: float32 4 per value; bf16 2 per
 * value, then padding to 4; int8 1 per value, padding to 4, then a float32
 * scale per row. */
static int data_size(const rnn_tensor_spec *s, rnn_dtype dtype, size_t *r)
{
    size_t n;
    switch (dtype) {
    case RNN_DTYPE_BF16:
        return mul_ok(s->count, 2, &n) && pad4_ok(n, r);
    case RNN_DTYPE_INT8:
        return pad4_ok(s->count, &n) && add_ok(n, 4 * (size_t)s->shape[0], r);
    default:
        return mul_ok(s->count, 4, r);
    }
}

/* Bytes of one tensor record: length, name, padding, dtype, ndim, dims, data. */
static int record_size(const rnn_tensor_spec *s, rnn_dtype dtype, size_t *r)
{
    size_t name, data, n;
    if (!pad4_ok(strlen(s->name), &name)) return 0;
    if (!data_size(s, dtype, &data)) return 0;
    n = 4 + 4 + 4 + 4 * (size_t)s->ndim;
    return add_ok(n, name, &n) && add_ok(n, data, r);
}

/* The header of the version a config is written in: 1 without conditions,
 * attention, lookback and encoder. */
static size_t header_size(const rnn_model_config *c)
{
    return c->conditions || c->attn_window > 0 || c->lookback || c->enc_layers > 0
               ? RNNW_HEADER_V2
               : RNNW_HEADER_V1;
}

/* Bytes of the whole file for these specs stored as dtypes (NULL: all
 * float32, the largest), a header of hsize and a metadata block of
 * meta_size. */
static int file_size(const rnn_tensor_spec *s, const rnn_dtype *dtypes, int n, size_t hsize,
                     size_t meta_size, size_t *r)
{
    size_t total, rec;
    if (!pad4_ok(meta_size, &total)) return 0;
    if (!add_ok(total, hsize + 4, &total)) return 0;
    for (int i = 0; i < n; i++)
        if (!record_size(&s[i], dtypes ? dtypes[i] : RNN_DTYPE_F32, &rec) ||
            !add_ok(total, rec, &total))
            return 0;
    *r = total;
    return 1;
}

/* The caps of FORMAT.md on a network's shape as read (wider than int, so a
 * file's 32-bit fields are checked before they become ints). */
static int check_shape(long long cell, long long layers, long long embed, long long hidden,
                       char *err, size_t errlen)
{
    if (cell < 0 || cell >= RNN_CELL_COUNT) {
        char known[128];
        size_t at = 0;
        for (int i = 0; i < RNN_CELL_COUNT && at < sizeof known; i++)
            at += (size_t)snprintf(known + at, sizeof known - at, "%s%d = %s", i ? ", " : "", i,
                                   rnn_cell_name((rnn_cell)i));
        msgf(err, errlen, "unknown cell type %lld (%s)", cell, known);
        return -1;
    }
    if (!range_ok("layer count", layers, 1, RNN_MAX_LAYERS, err, errlen)) return -1;
    if (!range_ok("embedding size", embed, 0, RNN_MAX_EMBED, err, errlen)) return -1;
    if (!range_ok("hidden size", hidden, 1, RNN_MAX_HIDDEN, err, errlen)) return -1;
    return 0;
}

int rnn_model_cond_columns(const rnn_model_config *cfg)
{
    if (!cfg) return 0;
    const int metric = rnn_cond_metric_columns(cfg->steps_per_quarter);
    return (cfg->conditions & RNN_COND_METRIC ? metric : 0) +
           (cfg->conditions & RNN_COND_HARMONY ? RNN_COND_HARMONY_COLUMNS : 0);
}

int rnn_model_lookback_columns(const rnn_model_config *cfg)
{
    return cfg && cfg->lookback ? rnn_lookback_columns(cfg->kind) : 0;
}

int rnn_model_input_columns(const rnn_model_config *cfg)
{
    return rnn_model_cond_columns(cfg) + rnn_model_lookback_columns(cfg);
}

int rnn_model_enc_columns(const rnn_model_config *cfg)
{
    return cfg && cfg->enc_layers > 0 ? 2 * cfg->enc_hidden : 0;
}

int rnn_model_cond_offset(const rnn_model_config *cfg, unsigned which)
{
    if (!cfg || !(cfg->conditions & which)) return -1;
    if (which == RNN_COND_METRIC) return 0;
    if (which == RNN_COND_HARMONY)
        return cfg->conditions & RNN_COND_METRIC ? rnn_cond_metric_columns(cfg->steps_per_quarter)
                                                 : 0;
    return -1;
}

/* The condition bits of FORMAT.md: no unknown bit, harmony only for melody
 * (drums have no other voices to hear). */
static int check_conditions(long long kind, unsigned long long bits, char *err, size_t errlen)
{
    if (bits & ~(unsigned long long)RNN_COND_KNOWN) {
        msgf(err, errlen,
             "unknown condition bits 0x%llx (known: 1 = metric, 2 = harmony, 4 = of the "
             "predicted step)",
             bits & ~(unsigned long long)RNN_COND_KNOWN);
        return -1;
    }
    if ((bits & RNN_COND_NEXT) && !(bits & RNN_COND_ALL)) {
        msgf(err, errlen, "condition bit 4 (of the predicted step) with no condition");
        return -1;
    }
    if ((bits & RNN_COND_HARMONY) && kind != RNN_KIND_MELODY) {
        msgf(err, errlen, "the harmony condition is for melody models, this one is %s",
             kind == RNN_KIND_DRUMS ? "drums" : "of no known kind");
        return -1;
    }
    return 0;
}

/* The attention fields of FORMAT.md: a window of 0 (none) with a size of 0,
 * or a window of 1..RNN_MAX_ATTN_WINDOW with a size of 1..RNN_MAX_ATTN_SIZE. */
static int check_attention(long long window, long long size, char *err, size_t errlen)
{
    if (!range_ok("attention window", window, 0, RNN_MAX_ATTN_WINDOW, err, errlen)) return -1;
    if (window == 0 && size != 0) {
        msgf(err, errlen, "attention size %lld without attention (window 0): it must be 0", size);
        return -1;
    }
    if (window > 0 && !range_ok("attention size", size, 1, RNN_MAX_ATTN_SIZE, err, errlen))
        return -1;
    return 0;
}

/* The lookback flag of a config: 0, or 1 for a kind that has lookback
 * columns (melody, drums). */
static int check_lookback(long long kind, long long lookback, char *err, size_t errlen)
{
    if (!range_ok("lookback", lookback, 0, 1, err, errlen)) return -1;
    if (lookback && rnn_lookback_columns((rnn_kind)kind) == 0) {
        msgf(err, errlen, "lookback inputs for an encoding kind %lld that has none", kind);
        return -1;
    }
    return 0;
}

/* The encoder fields of FORMAT.md: no encoder (all three 0), or 1..4
 * layers of 1..RNN_MAX_HIDDEN units with input columns of RNN_ENC_INPUT_COLUMNS
 * (any_inputs: 1..RNN_ENC_MAX_INPUTS, for a network that never becomes a
 * file). *field (when not NULL) receives which field is wrong: 0 layers, 1
 * hidden, 2 inputs. */
static int check_encoder(long long layers, long long hidden, long long inputs, int any_inputs,
                         int *field, char *err, size_t errlen)
{
    int f = 0, bad = 0;
    if (!range_ok("encoder layers", layers, 0, RNN_MAX_ENC_LAYERS, err, errlen)) {
        bad = 1;
    } else if (layers == 0) {
        f = hidden != 0 ? 1 : 2;
        if (hidden != 0 || inputs != 0) {
            msgf(err, errlen, "encoder %s %lld without an encoder (0 layers): it must be 0",
                 hidden != 0 ? "hidden size" : "input columns", hidden != 0 ? hidden : inputs);
            bad = 1;
        }
    } else if (f = 1, !range_ok("encoder hidden size", hidden, 1, RNN_MAX_HIDDEN, err, errlen)) {
        bad = 1;
    } else if (f = 2, any_inputs) {
        bad = !range_ok("encoder input columns", inputs, 1, RNN_ENC_MAX_INPUTS, err, errlen);
    } else if (inputs != RNN_ENC_INPUT_COLUMNS) {
        msgf(err, errlen,
             "encoder input columns %lld, the encoder reads %d (a melody line's 130 events and "
             "12 pitch classes)",
             inputs, RNN_ENC_INPUT_COLUMNS);
        bad = 1;
    }
    if (field) *field = f;
    return bad ? -1 : 0;
}

/* The caps of FORMAT.md on a preset's fields as read: the shape, the
 * encoding, and a vocabulary that is the encoding's. */
static int check_fields(long long kind, long long spq, long long cell, long long layers,
                        long long embed, long long hidden, long long vocab, char *err,
                        size_t errlen)
{
    if (kind != RNN_KIND_MELODY && kind != RNN_KIND_DRUMS) {
        msgf(err, errlen, "unknown encoding kind %lld (1 = melody, 2 = drums)", kind);
        return -1;
    }
    if (!range_ok("steps per quarter", spq, 1, RNN_MAX_STEPS_PER_QUARTER, err, errlen)) return -1;
    if (check_shape(cell, layers, embed, hidden, err, errlen) < 0) return -1;
    const int want = rnn_kind_vocab((rnn_kind)kind);
    if (vocab != want) {
        msgf(err, errlen, "vocabulary %lld does not match the %s encoding (%d)", vocab,
             rnn_kind_name((rnn_kind)kind), want);
        return -1;
    }
    return 0;
}

int rnn_model_config_check(const rnn_model_config *cfg, char *err, size_t errlen)
{
    if (!cfg) {
        msgf(err, errlen, "no configuration");
        return -1;
    }
    if (check_fields(cfg->kind, cfg->steps_per_quarter, cfg->cell, cfg->layers, cfg->embed,
                     cfg->hidden, cfg->vocab, err, errlen) < 0 ||
        check_conditions(cfg->kind, cfg->conditions, err, errlen) < 0 ||
        check_attention(cfg->attn_window, cfg->attn_size, err, errlen) < 0 ||
        check_lookback(cfg->kind, cfg->lookback, err, errlen) < 0 ||
        check_encoder(cfg->enc_layers, cfg->enc_hidden, cfg->enc_inputs, 0, NULL, err, errlen) <
            0)
        return -1;
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int n = build_specs(cfg, rnn_cell_describe(cfg->cell), specs);
    size_t total;
    if (!file_size(specs, NULL, n, header_size(cfg), 0, &total) || total > RNN_MODEL_MAX_BYTES) {
        msgf(err, errlen,
             "%s with %d layers of %d, embedding %d: the tensors take over the %zu MiB limit "
             "of a preset",
             rnn_cell_name(cfg->cell), cfg->layers, cfg->hidden, cfg->embed,
             RNN_MODEL_MAX_BYTES >> 20);
        return -1;
    }
    return 0;
}

const char *rnn_dtype_name(rnn_dtype dtype)
{
    static const char *const names[RNN_DTYPE_COUNT] = {"float32", "bf16", "int8"};
    return (unsigned)dtype < RNN_DTYPE_COUNT ? names[dtype] : NULL;
}

int rnn_dtype_find(const char *name)
{
    if (!name) return -1;
    if (strcmp(name, "fp32") == 0) return RNN_DTYPE_F32;
    for (int i = 0; i < RNN_DTYPE_COUNT; i++)
        if (strcmp(name, rnn_dtype_name((rnn_dtype)i)) == 0) return i;
    return -1;
}

/* The reducible tensors (FORMAT.md): the matrices a step multiplies by a
 * dense vector. The embedding and a one-hot layer 0's weight_ih are read a
 * row or column at a time, the biases and the attention once per output:
 * reducing them would save no bandwidth and only lose precision. */
static int allowed(const rnn_model_config *c, const rnn_tensor_spec *s)
{
    if (strcmp(s->name, "head.weight") == 0) return 1;
    const rnn_cell_desc *d = rnn_cell_describe(c->cell);
    char name[RNN_TENSOR_NAME_MAX];
    for (int k = 0; k < c->layers; k++)
        for (int i = 0; i < RNN_CELL_LAYER_TENSORS; i++) {
            if (!d->tensors[i].cols) continue;
            snprintf(name, sizeof name, "%s%d", d->tensors[i].name, k);
            if (strcmp(s->name, name) == 0)
                return !(d->tensors[i].cols == 'I' && k == 0 && c->embed == 0);
        }
    return 0;
}

int rnn_model_dtype_allowed(const rnn_model_config *cfg, int i)
{
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(cfg, specs);
    return i >= 0 && i < n && allowed(cfg, &specs[i]);
}

int rnn_model_reduced_dtypes(const rnn_model_config *cfg, rnn_dtype dt, rnn_dtype *d)
{
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(cfg, specs);
    int reduced = 0;
    for (int i = 0; i < n; i++) {
        d[i] = allowed(cfg, &specs[i]) ? dt : RNN_DTYPE_F32;
        reduced += d[i] != RNN_DTYPE_F32;
    }
    return n < 0 ? -1 : reduced;
}

int rnn_model_tensor_specs(const rnn_model_config *cfg, rnn_tensor_spec *specs)
{
    if (!specs || rnn_model_config_check(cfg, NULL, 0) < 0) return -1;
    return build_specs(cfg, rnn_cell_describe(cfg->cell), specs);
}

int rnn_model_shape_specs(const rnn_model_config *cfg, rnn_tensor_spec *specs)
{
    if (!specs || !cfg ||
        check_shape(cfg->cell, cfg->layers, cfg->embed, cfg->hidden, NULL, 0) < 0 ||
        !range_ok("vocabulary", cfg->vocab, 1, RNN_MAX_VOCAB, NULL, 0) ||
        (cfg->conditions & ~RNN_COND_KNOWN) ||
        ((cfg->conditions & RNN_COND_NEXT) && !(cfg->conditions & RNN_COND_ALL)) ||
        check_attention(cfg->attn_window, cfg->attn_size, NULL, 0) < 0 ||
        check_lookback(cfg->kind, cfg->lookback, NULL, 0) < 0 ||
        check_encoder(cfg->enc_layers, cfg->enc_hidden, cfg->enc_inputs, 1, NULL, NULL, 0) < 0 ||
        (cfg->conditions && !range_ok("steps per quarter", cfg->steps_per_quarter, 1,
                                      RNN_MAX_STEPS_PER_QUARTER, NULL, 0)))
        return -1;
    return build_specs(cfg, rnn_cell_describe(cfg->cell), specs);
}

/* ------------------------------------------------------------------------ */
/* Metadata                                                                 */

static int key_char_ok(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

/* Strict UTF-8 (rnn_utf8_char). Returns the offset of the first bad byte, or
 * n when all is well. */
static size_t utf8_bad_at(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        const size_t len = rnn_utf8_char(s + i, n - i, &cp);
        if (len == 0) return i;
        i += len;
    }
    return n;
}

static int cmp_meta_key(const void *a, const void *b)
{
    return strcmp(((const rnn_meta *)a)->key, ((const rnn_meta *)b)->key);
}

/* Validate a metadata block and split it into pairs. On success *text and
 * *pairs are malloc'd (NULL when the block is empty). Messages have no
 * file name; the caller prefixes it. */
static int parse_meta(const uint8_t *b, size_t m, char **text_out, rnn_meta **pairs_out,
                      size_t *count_out, char *err, size_t errlen)
{
    *text_out = NULL;
    *pairs_out = NULL;
    *count_out = 0;
    size_t count = 0, line = 0;
    for (size_t pos = 0; pos < m;) {
        line++;
        const uint8_t *nl = memchr(b + pos, '\n', m - pos);
        if (!nl) {
            msgf(err, errlen, "bad metadata: line %zu does not end with a newline", line);
            return -1;
        }
        const size_t end = (size_t)(nl - b);
        const uint8_t *eq = memchr(b + pos, '=', end - pos);
        if (!eq) {
            msgf(err, errlen, "bad metadata: line %zu has no '='", line);
            return -1;
        }
        const size_t klen = (size_t)(eq - (b + pos));
        if (klen == 0) {
            msgf(err, errlen, "bad metadata: line %zu has an empty key", line);
            return -1;
        }
        if (klen > RNNW_META_KEY_MAX) {
            msgf(err, errlen, "bad metadata: line %zu has a key of %zu characters (at most %d)",
                 line, klen, RNNW_META_KEY_MAX);
            return -1;
        }
        for (size_t k = 0; k < klen; k++) {
            if (!key_char_ok(b[pos + k])) {
                msgf(err, errlen,
                     "bad metadata: line %zu has byte 0x%02x in its key (allowed: A-Z a-z 0-9 "
                     "_ . -)",
                     line, b[pos + k]);
                return -1;
            }
        }
        const uint8_t *v = eq + 1;
        const size_t vlen = (size_t)(nl - v);
        if (memchr(v, 0, vlen)) {
            msgf(err, errlen, "bad metadata: line %zu: NUL byte in the value of '%.*s'", line,
                 (int)klen, (const char *)b + pos);
            return -1;
        }
        const size_t bad = utf8_bad_at(v, vlen);
        if (bad != vlen) {
            msgf(err, errlen,
                 "bad metadata: line %zu: invalid UTF-8 (byte 0x%02x) in the value of '%.*s'", line,
                 v[bad], (int)klen, (const char *)b + pos);
            return -1;
        }
        count++;
        pos = end + 1;
    }
    if (count == 0) return 0;

    char *text = malloc(m);
    rnn_meta *pairs = malloc(count * sizeof *pairs); /* count <= m / 3: no overflow */
    rnn_meta *sorted = malloc(count * sizeof *sorted);
    if (!text || !pairs || !sorted) {
        free(text), free(pairs), free(sorted);
        msgf(err, errlen, "out of memory for %zu metadata entries", count);
        return -1;
    }
    memcpy(text, b, m);
    size_t i = 0;
    for (char *p = text; p < text + m; i++) {
        char *eq = strchr(p, '='); /* present and before the newline, checked above */
        char *nl = strchr(eq, '\n');
        *eq = '\0';
        *nl = '\0';
        pairs[i].key = p;
        pairs[i].value = eq + 1;
        p = nl + 1;
    }
    memcpy(sorted, pairs, count * sizeof *sorted);
    qsort(sorted, count, sizeof *sorted, cmp_meta_key);
    for (i = 1; i < count; i++) {
        if (strcmp(sorted[i - 1].key, sorted[i].key) == 0) {
            msgf(err, errlen, "bad metadata: duplicate key '%s'", sorted[i].key);
            free(text), free(pairs), free(sorted);
            return -1;
        }
    }
    free(sorted);
    *text_out = text;
    *pairs_out = pairs;
    *count_out = count;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */

void rnn_model_free(rnn_model *model)
{
    if (!model) return;
    free(model->weights);
    free(model->reduced);
    free(model->meta);
    free(model->meta_text);
    free(model);
}

/* A tensor name from the file, made printable for a message. */
static void printable_name(char *dst, size_t dstlen, const uint8_t *src, size_t n)
{
    size_t i = 0;
    for (; i < n && i + 1 < dstlen; i++)
        dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
    dst[i] = '\0';
}

static int truncated(char *err, size_t errlen, const char *name, const char *what, size_t need,
                     size_t off, size_t size)
{
    return failf(err, errlen, name, "truncated: %s needs %zu bytes at offset %zu, file has %zu",
                 what, need, off, size);
}

/* The size of a file whose records have the specs' names and the dtypes
 * their dtype fields say, each read where the records before it end; 0 when
 * a dtype field lies beyond the end or is unknown (the walk then says
 * which). With this size known before any record is interpreted, a damaged
 * byte in a file of the right size reads as a checksum mismatch, as it does
 * for float32 files. */
static int stored_size(const uint8_t *p, size_t size, const rnn_tensor_spec *specs, int n,
                       size_t hsize, size_t meta_size, size_t *r)
{
    size_t off, rec;
    if (!pad4_ok(meta_size, &off) || !add_ok(off, hsize, &off)) return 0;
    for (int i = 0; i < n; i++) {
        size_t at;
        if (!pad4_ok(off + 4 + strlen(specs[i].name), &at) || at > size || size - at < 4)
            return 0;
        const uint32_t dtype = rd32(p + at);
        if (dtype >= RNN_DTYPE_COUNT || !record_size(&specs[i], (rnn_dtype)dtype, &rec) ||
            !add_ok(off, rec, &off))
            return 0;
    }
    return add_ok(off, 4, r);
}

/* Walk the records after the metadata: the padding, then each tensor's name,
 * dtype and shape against its spec, then the room for the checksum. Fills
 * data_off with where each tensor's data start and dtypes with how they are
 * stored. */
static int walk_records(const uint8_t *p, size_t size, const char *name, size_t hsize,
                        size_t meta_size, const rnn_model_config *cfg,
                        const rnn_tensor_spec *specs, int n, size_t *data_off, rnn_dtype *dtypes,
                        char *err, size_t errlen)
{
    size_t off = hsize, padded;
    if (size - off < meta_size)
        return truncated(err, errlen, name, "metadata", meta_size, off, size);
    off += meta_size;
    pad4_ok(off, &padded); /* off <= size: no overflow */
    if (size - off < padded - off)
        return truncated(err, errlen, name, "metadata padding", padded - off, off, size);
    for (; off < padded; off++)
        if (p[off] != 0)
            return failf(err, errlen, name, "nonzero padding after the metadata at offset %zu",
                         off);

    for (int i = 0; i < n; i++) {
        const rnn_tensor_spec *s = &specs[i];
        const size_t want_len = strlen(s->name);
        char what[RNN_TENSOR_NAME_MAX + 16];
        size_t rec = 0, q;
        record_size(s, RNN_DTYPE_F32, &rec); /* checked in file_size; the dtype's below */
        snprintf(what, sizeof what, "tensor '%.63s'", s->name);
        if (size - off < 4) return truncated(err, errlen, name, what, rec, off, size);
        const uint32_t nlen = rd32(p + off);
        if (nlen < 1 || nlen > RNNW_NAME_LEN_MAX)
            return failf(err, errlen, name,
                         "tensor name length %u at offset %zu out of range 1..%d (expected "
                         "'%s')",
                         nlen, off, RNNW_NAME_LEN_MAX, s->name);
        if (nlen != want_len) {
            if (size - off - 4 < nlen) return truncated(err, errlen, name, what, rec, off, size);
            char found[RNN_TENSOR_NAME_MAX];
            printable_name(found, sizeof found, p + off + 4, nlen);
            return failf(err, errlen, name,
                         "wrong tensor name '%s' at offset %zu where '%s' was expected", found, off,
                         s->name);
        }
        /* the record up to its data, which its dtype sizes */
        q = off + 4 + want_len;
        pad4_ok(q, &padded);
        const size_t fixed = padded - off + 8 + 4 * (size_t)s->ndim;
        if (size - off < fixed) return truncated(err, errlen, name, what, rec, off, size);
        if (memcmp(p + off + 4, s->name, want_len) != 0) {
            char found[RNN_TENSOR_NAME_MAX];
            printable_name(found, sizeof found, p + off + 4, nlen);
            return failf(err, errlen, name,
                         "wrong tensor name '%s' at offset %zu where '%s' was expected", found, off,
                         s->name);
        }
        for (; q < padded; q++)
            if (p[q] != 0)
                return failf(err, errlen, name,
                             "nonzero padding after tensor name '%s' at offset %zu", s->name, q);
        const uint32_t dtype = rd32(p + q), ndim = rd32(p + q + 4);
        if (dtype >= RNN_DTYPE_COUNT)
            return failf(err, errlen, name,
                         "tensor '%s' has unknown dtype %u at offset %zu (0 = float32, 1 = "
                         "bf16, 2 = int8)",
                         s->name, dtype, q);
        if (dtype != RNN_DTYPE_F32 && !allowed(cfg, s))
            return failf(err, errlen, name,
                         "tensor '%s' has dtype %u (%s) at offset %zu, but it must be float32 "
                         "(only rnn.weight_ih_l*, with an embedding for layer 0, "
                         "rnn.weight_hh_l* and head.weight may be reduced)",
                         s->name, dtype, rnn_dtype_name((rnn_dtype)dtype), q);
        if (ndim != (uint32_t)s->ndim)
            return failf(err, errlen, name, "tensor '%s' has ndim %u, expected %d", s->name, ndim,
                         s->ndim);
        dtypes[i] = (rnn_dtype)dtype;
        record_size(s, dtypes[i], &rec); /* no larger than float32's */
        if (size - off < rec) return truncated(err, errlen, name, what, rec, off, size);
        q += 8;
        const uint32_t d0 = rd32(p + q), d1 = s->ndim == 2 ? rd32(p + q + 4) : 1;
        if (d0 != (uint32_t)s->shape[0] || d1 != (uint32_t)s->shape[1]) {
            if (s->ndim == 2)
                return failf(err, errlen, name,
                             "tensor '%s' has shape (%u, %u), the header says (%d, %d)", s->name,
                             d0, d1, s->shape[0], s->shape[1]);
            return failf(err, errlen, name, "tensor '%s' has shape (%u), the header says (%d)",
                         s->name, d0, s->shape[0]);
        }
        q += 4 * (size_t)s->ndim;
        data_off[i] = q;
        off += rec;
    }
    if (size - off < 4) return truncated(err, errlen, name, "checksum", 4, off, size);
    if (size - off > 4)
        return failf(err, errlen, name, "%zu trailing bytes after the checksum", size - off - 4);
    return 0;
}

static int check_crc(const uint8_t *p, size_t size, const char *name, char *err, size_t errlen)
{
    const uint32_t stored = rd32(p + size - 4), computed = crc_of(p, size - 4);
    if (stored != computed)
        return failf(err, errlen, name, "checksum mismatch (stored 0x%08x, computed 0x%08x)",
                     stored, computed);
    return 0;
}

/* Check and decode the reduced values of tensor s (dtype, at src) into the
 * floats they stand for (dst) and a copy of the stored values (raw; int8:
 * then the scales at scale). Names the offset of a bad value: a non-finite
 * bf16, an int8 -128, nonzero padding, a non-finite or negative scale. */
static int decode_reduced(const rnn_tensor_spec *s, rnn_dtype dtype, const uint8_t *p, size_t src,
                          float *dst, void *raw, float *scale, const char *name, char *err,
                          size_t errlen)
{
    const size_t count = s->count, cols = (size_t)s->shape[1];
    size_t end, at;
    if (dtype == RNN_DTYPE_BF16) {
        uint16_t *v = raw;
        for (size_t j = 0; j < count; j++) {
            v[j] = (uint16_t)(p[src + 2 * j] | p[src + 2 * j + 1] << 8);
            if ((v[j] & 0x7f80u) == 0x7f80u)
                return failf(err, errlen, name,
                             "non-finite weight in '%s' at index %zu (bf16 0x%04x at offset %zu)",
                             s->name, j, v[j], src + 2 * j);
            dst[j] = rnn_bf16_to_float(v[j]);
        }
        end = src + 2 * count;
    } else {
        int8_t *v = raw;
        for (size_t j = 0; j < count; j++) {
            v[j] = (int8_t)p[src + j];
            if (v[j] == -128)
                return failf(err, errlen, name,
                             "int8 weight -128 in '%s' at index %zu, offset %zu (int8 weights "
                             "are -127..127)",
                             s->name, j, src + j);
        }
        pad4_ok(src + count, &at);
        for (size_t r = 0; r < (size_t)s->shape[0]; r++) {
            const uint32_t u = rd32(p + at + 4 * r);
            const float f = bits_float(u);
            if (!bits_finite(u) || f < 0.0f || (u & 0x80000000u))
                return failf(err, errlen, name,
                             "int8 scale of row %zu of '%s' is %s at offset %zu (a scale is "
                             "finite and not negative)",
                             r, s->name, !bits_finite(u) ? "not finite" : "negative",
                             at + 4 * r);
            scale[r] = f;
            for (size_t c = 0; c < cols; c++)
                dst[r * cols + c] = (float)v[r * cols + c] * f;
        }
        end = src + count;
    }
    pad4_ok(end, &at);
    for (; end < at; end++)
        if (p[end] != 0)
            return failf(err, errlen, name, "nonzero padding after the data of '%s' at offset %zu",
                         s->name, end);
    return 0;
}

/* Decode the n tensors at data_off of p into one block of m, each tensor
 * starting on an RNNW_ALIGN boundary, and the stored values of the reduced
 * ones into another; refuses a non-finite weight. */
static int copy_weights(rnn_model *m, const uint8_t *p, const size_t *data_off, const char *name,
                        char *err, size_t errlen)
{
    const rnn_tensor_spec *specs = m->specs;
    const int n = m->n_tensors;
    const size_t per = RNNW_ALIGN / sizeof(float);
    size_t start[RNN_MAX_TENSORS], floats = 0, bytes, raw_at[RNN_MAX_TENSORS], raw = 0;
    int sizes_ok = 1;
    for (int i = 0; i < n && sizes_ok; i++) {
        start[i] = floats;
        sizes_ok = add_ok(floats, specs[i].count, &floats) && add_ok(floats, per - 1, &floats);
        floats -= floats % per;
        raw_at[i] = raw;
        if (m->dtypes[i] != RNN_DTYPE_F32) {
            size_t d;
            sizes_ok = sizes_ok && data_size(&specs[i], m->dtypes[i], &d) &&
                       add_ok(raw, d, &raw) && add_ok(raw, RNNW_ALIGN - 1, &raw);
            raw -= raw % RNNW_ALIGN;
        }
    }
    if (!sizes_ok || !mul_ok(floats, sizeof(float), &bytes) ||
        !(m->weights = aligned_alloc(RNNW_ALIGN, bytes)) ||
        (raw > 0 && !(m->reduced = aligned_alloc(RNNW_ALIGN, raw)))) {
        failf(err, errlen, name, "out of memory for %zu weights", floats);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        float *dst = m->weights + start[i];
        const uint8_t *src = p + data_off[i];
        m->tensors[i] = dst;
        if (m->dtypes[i] != RNN_DTYPE_F32) {
            uint8_t *r = (uint8_t *)m->reduced + raw_at[i];
            size_t scales;
            pad4_ok(specs[i].count, &scales);
            float *sc = m->dtypes[i] == RNN_DTYPE_INT8 ? (float *)(r + scales) : NULL;
            m->stored[i] = r;
            m->scales[i] = sc;
            if (decode_reduced(&specs[i], m->dtypes[i], p, data_off[i], dst, r, sc, name, err,
                               errlen) < 0)
                return -1;
            continue;
        }
        for (size_t j = 0; j < specs[i].count; j++) {
            const uint32_t u = rd32(src + 4 * j);
            if (!bits_finite(u)) {
                failf(err, errlen, name, "non-finite weight in '%s' at index %zu", specs[i].name,
                      j);
                return -1;
            }
            dst[j] = bits_float(u);
        }
    }
    return 0;
}

/* The attention fields of a version 2 header: the window n at offset 68,
 * the size A at 72. Messages name the offset of the field. */
static int read_attention(const uint8_t *p, uint32_t *window, uint32_t *size, char *err,
                          size_t errlen)
{
    const uint32_t n = rd32(p + RNNW_V2_ATTN), a = rd32(p + RNNW_V2_ATTN + 4);
    char msg[256];
    if (check_attention(n, a, msg, sizeof msg) < 0) {
        msgf(err, errlen, "%s, at offset %d", msg,
             n > RNN_MAX_ATTN_WINDOW ? RNNW_V2_ATTN : RNNW_V2_ATTN + 4);
        return -1;
    }
    *window = n;
    *size = a;
    return 0;
}

/* The lookback field of a version 2 header (offset 76): the lookback
 * columns, 0 (none) or exactly the encoding's (262 melody, 20 drums), so
 * the file cannot disagree with itself about them. */
static int read_lookback(const uint8_t *p, uint32_t kind, uint32_t *out, char *err, size_t errlen)
{
    const uint32_t got = rd32(p + RNNW_V2_LOOKBACK);
    const int want = rnn_lookback_columns((rnn_kind)kind);
    if (got != 0 && got != (uint32_t)want) {
        msgf(err, errlen,
             "lookback columns %u at offset %d, the %s encoding has 0 (none) or %d", got,
             RNNW_V2_LOOKBACK, rnn_kind_name((rnn_kind)kind), want);
        return -1;
    }
    *out = got != 0;
    return 0;
}

/* The encoder fields of a version 2 header: layers Le at offset 80, hidden
 * He at 84, input columns at 88; all 0 (no encoder), or Le in 1..4, He in
 * 1..RNN_MAX_HIDDEN and the encoder's 142 input columns. Messages name the
 * offset of the field. */
static int read_encoder(const uint8_t *p, uint32_t *layers, uint32_t *hidden, uint32_t *inputs,
                        char *err, size_t errlen)
{
    const uint32_t le = rd32(p + RNNW_V2_ENC), he = rd32(p + RNNW_V2_ENC + 4),
                   in = rd32(p + RNNW_V2_ENC + 8);
    char msg[256];
    int field = 0;
    if (check_encoder(le, he, in, 0, &field, msg, sizeof msg) < 0) {
        msgf(err, errlen, "%s, at offset %d", msg, RNNW_V2_ENC + 4 * field);
        return -1;
    }
    *layers = le;
    *hidden = he;
    *inputs = in;
    return 0;
}

/* The condition fields of a version 2 header (offsets 52..67): the bit set,
 * then the column counts it implies (total, metric, harmony), each checked
 * against what the bits and the steps per quarter give. Version 2 exists to
 * declare conditions, attention, lookback or an encoder: a v2 file with none
 * is refused, so each model has one encoding. Messages name the offset of
 * the field. */
static int read_conditions(const uint8_t *p, uint32_t kind, uint32_t spq, uint32_t attn_window,
                           uint32_t lookback, uint32_t enc_layers, uint32_t *out, char *err,
                           size_t errlen)
{
    const uint32_t bits = rd32(p + 52);
    if (bits == 0 && attn_window == 0 && lookback == 0 && enc_layers == 0) {
        msgf(err, errlen,
             "version 2 header declares no condition at offset 52 and no attention at offset "
             "68, nor lookback at offset 76, nor an encoder at offset 80 (such a model is a "
             "version 1 file)");
        return -1;
    }
    char msg[256];
    if (check_conditions(kind, bits, msg, sizeof msg) < 0) {
        msgf(err, errlen, "%s, at offset 52", msg);
        return -1;
    }
    const rnn_model_config c = {.steps_per_quarter = (int)spq, .conditions = bits};
    const uint32_t metric =
        bits & RNN_COND_METRIC ? (uint32_t)rnn_cond_metric_columns((int)spq) : 0;
    const uint32_t harmony = bits & RNN_COND_HARMONY ? RNN_COND_HARMONY_COLUMNS : 0;
    const uint32_t want[3] = {(uint32_t)rnn_model_cond_columns(&c), metric, harmony};
    static const char *const what[3] = {"condition columns", "metric columns", "harmony columns"};
    for (int i = 0; i < 3; i++) {
        const uint32_t got = rd32(p + 56 + 4 * i);
        if (got != want[i]) {
            msgf(err, errlen,
                 "%s %u at offset %d, the conditions 0x%x at %u steps per quarter "
                 "have %u",
                 what[i], got, 56 + 4 * i, bits, spq, want[i]);
            return -1;
        }
    }
    *out = bits;
    return 0;
}

static rnn_model *parse(const uint8_t *p, size_t size, const char *name, char *err, size_t errlen)
{
    char msg[400];
    if (size == 0) {
        failf(err, errlen, name, "empty file (not an rnnmidi preset)");
        return NULL;
    }
    if (memcmp(p, RNNW_MAGIC, size < RNNW_MAGIC_SIZE ? size : RNNW_MAGIC_SIZE) != 0) {
        failf(err, errlen, name, "wrong magic (not an rnnmidi preset)");
        return NULL;
    }
    if (size < RNNW_HEADER_V1) {
        truncated(err, errlen, name, "header", RNNW_HEADER_V1, 0, size);
        return NULL;
    }
    const uint32_t version = rd32(p + 8), header_size = rd32(p + 12);
    if (version < 1 || version > RNNW_VERSION_MAX) {
        failf(err, errlen, name, "unknown format version %u (this build reads versions 1..%d)",
              version, RNNW_VERSION_MAX);
        return NULL;
    }
    const size_t hsize = version == 1 ? RNNW_HEADER_V1 : RNNW_HEADER_V2;
    if (header_size != hsize) {
        failf(err, errlen, name, "wrong header size %u (version %u has %zu)", header_size, version,
              hsize);
        return NULL;
    }
    if (size < hsize) {
        truncated(err, errlen, name, "header", hsize, 0, size);
        return NULL;
    }
    uint32_t h[9]; /* kind, spq, cell, layers, embed, hidden, vocab, meta, count */
    for (int i = 0; i < 9; i++)
        h[i] = rd32(p + 16 + 4 * i);
    if (check_fields(h[0], h[1], h[2], h[3], h[4], h[5], h[6], msg, sizeof msg) < 0) {
        failf(err, errlen, name, "%s", msg);
        return NULL;
    }
    uint32_t conditions = 0, attn_window = 0, attn_size = 0, lookback = 0;
    uint32_t enc_layers = 0, enc_hidden = 0, enc_inputs = 0;
    if (version >= 2 &&
        (read_attention(p, &attn_window, &attn_size, msg, sizeof msg) < 0 ||
         read_lookback(p, h[0], &lookback, msg, sizeof msg) < 0 ||
         read_encoder(p, &enc_layers, &enc_hidden, &enc_inputs, msg, sizeof msg) < 0 ||
         read_conditions(p, h[0], h[1], attn_window, lookback, enc_layers, &conditions, msg,
                         sizeof msg) < 0)) {
        failf(err, errlen, name, "%s", msg);
        return NULL;
    }
    const rnn_model_config cfg = {
        .kind = (rnn_kind)h[0],
        .steps_per_quarter = (int)h[1],
        .cell = (rnn_cell)h[2],
        .layers = (int)h[3],
        .embed = (int)h[4],
        .hidden = (int)h[5],
        .vocab = (int)h[6],
        .conditions = conditions,
        .attn_window = (int)attn_window,
        .attn_size = (int)attn_size,
        .lookback = (int)lookback,
        .enc_layers = (int)enc_layers,
        .enc_hidden = (int)enc_hidden,
        .enc_inputs = (int)enc_inputs,
    };
    if (rnn_model_config_check(&cfg, msg, sizeof msg) < 0) {
        failf(err, errlen, name, "%s", msg);
        return NULL;
    }
    const size_t meta_size = h[7];
    if (meta_size > RNN_MODEL_MAX_META) {
        failf(err, errlen, name, "metadata size %zu exceeds the maximum %zu", meta_size,
              RNN_MODEL_MAX_META);
        return NULL;
    }
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int n = build_specs(&cfg, rnn_cell_describe(cfg.cell), specs);
    if (h[8] != (uint32_t)n) {
        failf(err, errlen, name, "tensor count %u, the header's %s config has %d", h[8],
              rnn_cell_name(cfg.cell), n);
        return NULL;
    }
    for (size_t i = version == 1 ? RNNW_V1_RESERVED : RNNW_V2_RESERVED; i < hsize; i++) {
        if (p[i] != 0) {
            failf(err, errlen, name, "nonzero reserved header byte at offset %zu", i);
            return NULL;
        }
    }
    size_t expected;
    if (!file_size(specs, NULL, n, hsize, meta_size, &expected)) {
        failf(err, errlen, name, "the sizes in the header overflow");
        return NULL;
    }
    int crc_done = 0;
    if (stored_size(p, size, specs, n, hsize, meta_size, &expected) && size == expected) {
        if (check_crc(p, size, name, err, errlen) < 0) return NULL;
        crc_done = 1;
    }
    size_t data_off[RNN_MAX_TENSORS];
    rnn_dtype dtypes[RNN_MAX_TENSORS];
    if (walk_records(p, size, name, hsize, meta_size, &cfg, specs, n, data_off, dtypes, err,
                     errlen) < 0)
        return NULL;
    if (!crc_done && check_crc(p, size, name, err, errlen) < 0) return NULL;

    rnn_model *m = calloc(1, sizeof *m);
    if (!m) {
        failf(err, errlen, name, "out of memory");
        return NULL;
    }
    m->cfg = cfg;
    m->n_tensors = n;
    memcpy(m->specs, specs, sizeof specs);
    memcpy(m->dtypes, dtypes, sizeof dtypes);
    if (parse_meta(p + hsize, meta_size, &m->meta_text, &m->meta, &m->n_meta, msg, sizeof msg) <
        0) {
        failf(err, errlen, name, "%s", msg);
        rnn_model_free(m);
        return NULL;
    }

    if (copy_weights(m, p, data_off, name, err, errlen) < 0) {
        rnn_model_free(m);
        return NULL;
    }
    return m;
}

rnn_model *rnn_model_load_memory(const void *data, size_t size, const char *name, char *err,
                                 size_t errlen)
{
    if (!name) name = "<memory>";
    if (!data && size > 0) {
        failf(err, errlen, name, "no data");
        return NULL;
    }
    if (size > RNN_MODEL_MAX_BYTES) {
        failf(err, errlen, name, "%zu bytes, over the %zu MiB limit of a preset", size,
              RNN_MODEL_MAX_BYTES >> 20);
        return NULL;
    }
    return parse(data, size, name, err, errlen);
}

static void errno_text(int e, char *buf, size_t n)
{
    if (strerror_r(e, buf, n) != 0) snprintf(buf, n, "error %d", e);
}

rnn_model *rnn_model_load(const char *path, char *err, size_t errlen)
{
    if (!path) {
        msgf(err, errlen, "no preset path given");
        return NULL;
    }
    size_t size;
    uint8_t *buf = rnn_file_read_all(path, RNN_MODEL_MAX_BYTES, &size, err, errlen);
    if (!buf) return NULL;
    rnn_model *m = parse(buf, size, path, err, errlen);
    free(buf);
    return m;
}

const rnn_model_config *rnn_model_get_config(const rnn_model *model)
{
    return &model->cfg;
}

const float *rnn_model_tensor(const rnn_model *model, const char *name, size_t *count)
{
    if (model && name) {
        for (int i = 0; i < model->n_tensors; i++) {
            if (strcmp(model->specs[i].name, name) == 0) {
                if (count) *count = model->specs[i].count;
                return model->tensors[i];
            }
        }
    }
    if (count) *count = 0;
    return NULL;
}

/* The index of tensor `name`, or -1. */
static int tensor_index(const rnn_model *model, const char *name)
{
    if (model && name)
        for (int i = 0; i < model->n_tensors; i++)
            if (strcmp(model->specs[i].name, name) == 0) return i;
    return -1;
}

rnn_dtype rnn_model_tensor_dtype(const rnn_model *model, const char *name)
{
    const int i = tensor_index(model, name);
    return i < 0 ? RNN_DTYPE_F32 : model->dtypes[i];
}

const uint16_t *rnn_model_tensor_bf16(const rnn_model *model, const char *name)
{
    const int i = tensor_index(model, name);
    return i >= 0 && model->dtypes[i] == RNN_DTYPE_BF16 ? model->stored[i] : NULL;
}

const int8_t *rnn_model_tensor_int8(const rnn_model *model, const char *name, const float **scale)
{
    const int i = tensor_index(model, name);
    const int ok = i >= 0 && model->dtypes[i] == RNN_DTYPE_INT8;
    if (scale) *scale = ok ? model->scales[i] : NULL;
    return ok ? model->stored[i] : NULL;
}

const char *rnn_model_meta(const rnn_model *model, const char *key)
{
    if (!model || !key) return NULL;
    for (size_t i = 0; i < model->n_meta; i++)
        if (strcmp(model->meta[i].key, key) == 0) return model->meta[i].value;
    return NULL;
}

size_t rnn_model_meta_count(const rnn_model *model)
{
    return model ? model->n_meta : 0;
}

rnn_meta rnn_model_meta_at(const rnn_model *model, size_t i)
{
    if (!model || i >= model->n_meta) return (rnn_meta){NULL, NULL};
    return model->meta[i];
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                  */

/* The metadata block of the pairs, validated as the reader will. */
static int build_meta(const rnn_meta *meta, size_t n_meta, uint8_t **out, size_t *outlen, char *err,
                      size_t errlen)
{
    size_t m = 0;
    *out = NULL;
    *outlen = 0;
    if (n_meta > 0 && !meta) {
        msgf(err, errlen, "%zu metadata entries but no array", n_meta);
        return -1;
    }
    for (size_t i = 0; i < n_meta; i++) {
        const char *k = meta[i].key, *v = meta[i].value;
        if (!k || !v) {
            msgf(err, errlen, "metadata entry %zu has no %s", i, k ? "value" : "key");
            return -1;
        }
        const size_t klen = strlen(k), vlen = strlen(v);
        if (klen == 0 || klen > RNNW_META_KEY_MAX) {
            msgf(err, errlen, "metadata key %zu has %zu characters (1..%d allowed)", i, klen,
                 RNNW_META_KEY_MAX);
            return -1;
        }
        for (size_t j = 0; j < klen; j++) {
            if (!key_char_ok((unsigned char)k[j])) {
                msgf(err, errlen, "metadata key %zu has byte 0x%02x (allowed: A-Z a-z 0-9 _ . -)",
                     i, (unsigned char)k[j]);
                return -1;
            }
        }
        if (strchr(v, '\n')) {
            msgf(err, errlen, "metadata value of '%s' contains a newline", k);
            return -1;
        }
        if (!add_ok(m, klen, &m) || !add_ok(m, vlen, &m) || !add_ok(m, 2, &m) ||
            m > RNN_MODEL_MAX_META) {
            msgf(err, errlen, "metadata takes over the %zu bytes allowed", RNN_MODEL_MAX_META);
            return -1;
        }
    }
    uint8_t *b = malloc(m ? m : 1);
    if (!b) {
        msgf(err, errlen, "out of memory for %zu bytes of metadata", m);
        return -1;
    }
    size_t at = 0;
    for (size_t i = 0; i < n_meta; i++) {
        const size_t klen = strlen(meta[i].key), vlen = strlen(meta[i].value);
        memcpy(b + at, meta[i].key, klen);
        b[at + klen] = '=';
        memcpy(b + at + klen + 1, meta[i].value, vlen);
        b[at + klen + 1 + vlen] = '\n';
        at += klen + vlen + 2;
    }
    char *text;
    rnn_meta *pairs;
    size_t count;
    if (parse_meta(b, m, &text, &pairs, &count, err, errlen) < 0) {
        free(b);
        return -1;
    }
    free(text);
    free(pairs);
    *out = b;
    *outlen = m;
    return 0;
}

/* Write tensor s's data as dtype at b: its values rounded (bf16 to nearest
 * even, int8 per row as core/qmat rounds), then for int8 the row scales;
 * padding stays the buffer's zeros. -1 for a value beyond bf16's range. */
static int put_reduced(uint8_t *b, const rnn_tensor_spec *s, rnn_dtype dtype, const float *t,
                       char *err, size_t errlen)
{
    const size_t rows = (size_t)s->shape[0], cols = (size_t)s->shape[1];
    if (dtype == RNN_DTYPE_BF16) {
        for (size_t j = 0; j < s->count; j++) {
            const uint16_t v = rnn_bf16_from_float(t[j]);
            if ((v & 0x7f80u) == 0x7f80u) {
                msgf(err, errlen, "weight %g in '%s' at index %zu is beyond the range of bf16",
                     (double)t[j], s->name, j);
                return -1;
            }
            b[2 * j] = (uint8_t)v;
            b[2 * j + 1] = (uint8_t)(v >> 8);
        }
        return 0;
    }
    size_t at;
    pad4_ok(s->count, &at);
    for (size_t r = 0; r < rows; r++) {
        /* finite, checked by the caller: the scale is max |w| / 127 >= 0 */
        const float sc = rnn_qmat_quantize_input(t + r * cols, (int)cols, (int8_t *)b + r * cols);
        wr32(b + at + 4 * r, float_bits(sc));
    }
    return 0;
}

/* Write tensor i of `from` as it is stored (its reduced values and scales,
 * not rounded again) at b. */
static void put_stored(uint8_t *b, const rnn_model *from, int i)
{
    const rnn_tensor_spec *s = &from->specs[i];
    if (from->dtypes[i] == RNN_DTYPE_BF16) {
        const uint16_t *v = from->stored[i];
        for (size_t j = 0; j < s->count; j++) {
            b[2 * j] = (uint8_t)v[j];
            b[2 * j + 1] = (uint8_t)(v[j] >> 8);
        }
        return;
    }
    size_t at;
    pad4_ok(s->count, &at);
    memcpy(b, from->stored[i], s->count);
    for (int r = 0; r < s->shape[0]; r++)
        wr32(b + at + 4 * (size_t)r, float_bits(from->scales[i][r]));
}

static int serialize(const rnn_model_config *cfg, const rnn_meta *meta, size_t n_meta,
                     const float *const *tensors, const rnn_dtype *dtypes, const rnn_model *from,
                     void **out, size_t *outlen, char *err, size_t errlen);

int rnn_model_serialize(const rnn_model_config *cfg, const rnn_meta *meta, size_t n_meta,
                        const float *const *tensors, void **out, size_t *outlen, char *err,
                        size_t errlen)
{
    return serialize(cfg, meta, n_meta, tensors, NULL, NULL, out, outlen, err, errlen);
}

int rnn_model_serialize_typed(const rnn_model_config *cfg, const rnn_meta *meta, size_t n_meta,
                              const float *const *tensors, const rnn_dtype *dtypes, void **out,
                              size_t *outlen, char *err, size_t errlen)
{
    return serialize(cfg, meta, n_meta, tensors, dtypes, NULL, out, outlen, err, errlen);
}

int rnn_model_serialize_model(const rnn_model *model, const rnn_meta *meta, size_t n_meta,
                              void **out, size_t *outlen, char *err, size_t errlen)
{
    if (!model) {
        msgf(err, errlen, "no model");
        return -1;
    }
    return serialize(&model->cfg, meta, n_meta, model->tensors, model->dtypes, model, out,
                     outlen, err, errlen);
}

/* Tensors as floats, each stored as dtypes[i] (NULL: float32): rounded
 * here, or with `from` copied as that model stores them. */
static int serialize(const rnn_model_config *cfg, const rnn_meta *meta, size_t n_meta,
                     const float *const *tensors, const rnn_dtype *dtypes, const rnn_model *from,
                     void **out, size_t *outlen, char *err, size_t errlen)
{
    if (!out || !outlen) {
        msgf(err, errlen, "no output buffer");
        return -1;
    }
    *out = NULL;
    *outlen = 0;
    if (rnn_model_config_check(cfg, err, errlen) < 0) return -1;
    if (!tensors) {
        msgf(err, errlen, "no tensors given");
        return -1;
    }
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int n = build_specs(cfg, rnn_cell_describe(cfg->cell), specs);
    for (int i = 0; i < n; i++) {
        if (!tensors[i]) {
            msgf(err, errlen, "tensor '%s' has no data", specs[i].name);
            return -1;
        }
        for (size_t j = 0; j < specs[i].count; j++) {
            if (!bits_finite(float_bits(tensors[i][j]))) {
                msgf(err, errlen, "non-finite weight in '%s' at index %zu", specs[i].name, j);
                return -1;
            }
        }
        const rnn_dtype dt = dtypes ? dtypes[i] : RNN_DTYPE_F32;
        if ((unsigned)dt >= RNN_DTYPE_COUNT) {
            msgf(err, errlen, "tensor '%s': unknown dtype %d", specs[i].name, (int)dt);
            return -1;
        }
        if (dt != RNN_DTYPE_F32 && !allowed(cfg, &specs[i])) {
            msgf(err, errlen,
                 "tensor '%s' must stay float32 (only rnn.weight_ih_l*, with an embedding for "
                 "layer 0, rnn.weight_hh_l* and head.weight may be %s)",
                 specs[i].name, rnn_dtype_name(dt));
            return -1;
        }
    }
    uint8_t *mb;
    size_t m, total;
    if (build_meta(meta, n_meta, &mb, &m, err, errlen) < 0) return -1;
    const size_t hsize = header_size(cfg);
    if (!file_size(specs, dtypes, n, hsize, m, &total) || total > RNN_MODEL_MAX_BYTES) {
        msgf(err, errlen, "the preset would take over the %zu MiB limit",
             RNN_MODEL_MAX_BYTES >> 20);
        free(mb);
        return -1;
    }
    uint8_t *b = calloc(1, total); /* zero: reserved bytes and padding */
    if (!b) {
        msgf(err, errlen, "out of memory for a preset of %zu bytes", total);
        free(mb);
        return -1;
    }
    memcpy(b, RNNW_MAGIC, RNNW_MAGIC_SIZE);
    const uint32_t h[21] = {
        hsize == RNNW_HEADER_V1 ? 1 : 2,       /* offset 8 */
        (uint32_t)hsize,                       /* 12 */
        (uint32_t)cfg->kind,                   /* 16 */
        (uint32_t)cfg->steps_per_quarter,      /* 20 */
        (uint32_t)cfg->cell,                   /* 24 */
        (uint32_t)cfg->layers,                 /* 28 */
        (uint32_t)cfg->embed,                  /* 32 */
        (uint32_t)cfg->hidden,                 /* 36 */
        (uint32_t)cfg->vocab,                  /* 40 */
        (uint32_t)m,                           /* 44, metadata size */
        (uint32_t)n,                           /* 48, tensor count; v1: 52..63 stay zero */
        cfg->conditions,                       /* 52, v2 only: the condition bits */
        (uint32_t)rnn_model_cond_columns(cfg), /* 56, their columns in all */
        (uint32_t)(cfg->conditions & RNN_COND_METRIC
                       ? rnn_cond_metric_columns(cfg->steps_per_quarter)
                       : 0),                                                /* 60 */
        cfg->conditions & RNN_COND_HARMONY ? RNN_COND_HARMONY_COLUMNS : 0u, /* 64 */
        (uint32_t)cfg->attn_window, /* 68, attention window n (0 = none) */
        (uint32_t)cfg->attn_size,   /* 72, attention size A */
        (uint32_t)rnn_model_lookback_columns(cfg), /* 76, lookback columns L */
        (uint32_t)cfg->enc_layers,                 /* 80, encoder layers Le (0 = none) */
        (uint32_t)cfg->enc_hidden,                 /* 84, encoder hidden He */
        (uint32_t)cfg->enc_inputs,                 /* 88, encoder input columns; 92..95 zero */
    };
    const int nh = hsize == RNNW_HEADER_V1 ? 11 : 21;
    for (int i = 0; i < nh; i++)
        wr32(b + 8 + 4 * i, h[i]);
    size_t off = hsize;
    if (m) memcpy(b + off, mb, m);
    free(mb);
    pad4_ok(off + m, &off);
    for (int i = 0; i < n; i++) {
        const size_t nlen = strlen(specs[i].name);
        wr32(b + off, (uint32_t)nlen);
        memcpy(b + off + 4, specs[i].name, nlen);
        pad4_ok(off + 4 + nlen, &off);
        const rnn_dtype dt = dtypes ? dtypes[i] : RNN_DTYPE_F32;
        wr32(b + off, (uint32_t)dt);
        wr32(b + off + 4, (uint32_t)specs[i].ndim);
        off += 8;
        for (int d = 0; d < specs[i].ndim; d++, off += 4)
            wr32(b + off, (uint32_t)specs[i].shape[d]);
        if (dt != RNN_DTYPE_F32) {
            size_t data;
            data_size(&specs[i], dt, &data);
            if (from)
                put_stored(b + off, from, i);
            else if (put_reduced(b + off, &specs[i], dt, tensors[i], err, errlen) < 0) {
                free(b);
                return -1;
            }
            off += data;
            continue;
        }
        for (size_t j = 0; j < specs[i].count; j++, off += 4)
            wr32(b + off, float_bits(tensors[i][j]));
    }
    wr32(b + off, crc_of(b, off));
    *out = b;
    *outlen = total;
    return 0;
}

/* write() all of buf, through short writes and interruptions. */
static int write_all(int fd, const uint8_t *buf, size_t n)
{
    while (n > 0) {
        const ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

int rnn_model_write(const char *path, const rnn_model_config *cfg, const rnn_meta *meta,
                    size_t n_meta, const float *const *tensors, char *err, size_t errlen)
{
    return rnn_model_write_typed(path, cfg, meta, n_meta, tensors, NULL, err, errlen);
}

int rnn_model_write_typed(const char *path, const rnn_model_config *cfg, const rnn_meta *meta,
                          size_t n_meta, const float *const *tensors, const rnn_dtype *dtypes,
                          char *err, size_t errlen)
{
    char msg[400], why[128];
    void *data;
    size_t size;
    if (!path) {
        msgf(err, errlen, "no preset path given");
        return -1;
    }
    if (rnn_model_serialize_typed(cfg, meta, n_meta, tensors, dtypes, &data, &size, msg,
                                  sizeof msg) < 0)
        return failf(err, errlen, path, "%s", msg);

    static const char suffix[] = ".tmp.XXXXXX";
    const size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof suffix);
    if (!tmp) {
        free(data);
        return failf(err, errlen, path, "out of memory");
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, suffix, sizeof suffix);

    const char *step = "cannot create a temporary file beside it";
    int created = 0;
    int fd = mkstemp(tmp);
    if (fd < 0) goto fail_errno;
    created = 1;
    step = "cannot set the permissions of the temporary file";
    if (fchmod(fd, 0644) != 0) goto fail_errno;
    step = "cannot write";
    if (write_all(fd, data, size) != 0) goto fail_errno;
    step = "cannot sync";
    if (fsync(fd) != 0) goto fail_errno;
    step = "cannot close";
    {
        const int r = close(fd);
        fd = -1;
        if (r != 0) goto fail_errno;
    }
    step = "cannot rename the temporary file over it";
    if (rename(tmp, path) != 0) goto fail_errno;

    /* Make the rename itself durable; not every file system can sync a folder. */
    {
        char *dir = malloc(plen + 2);
        if (dir) {
            memcpy(dir, path, plen + 1);
            char *slash = strrchr(dir, '/');
            if (!slash)
                strcpy(dir, ".");
            else if (slash == dir)
                dir[1] = '\0';
            else
                *slash = '\0';
            const int dfd = open(dir, O_RDONLY | O_CLOEXEC);
            if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
            }
            free(dir);
        }
    }
    free(tmp);
    free(data);
    return 0;

fail_errno:
    errno_text(errno, why, sizeof why);
    failf(err, errlen, path, "%s: %s", step, why);
    if (fd >= 0) close(fd);
    if (created) unlink(tmp);
    free(tmp);
    free(data);
    return -1;
}
