/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the preset reader (`make fuzz-model`, and with
 * -DFUZZ_FIX_CRC `make fuzz-model-crc`). Any input must give a model or an
 * error naming the buffer, never a crash, a hang or an outsized allocation.
 *
 * The CRC-32 at the end of a preset stops nearly every mutation at the
 * checksum; the FUZZ_FIX_CRC build writes the right checksum over the last
 * four bytes first, so mutations reach the header, metadata and tensor checks
 * (and a checksum mismatch is then itself a failure).
 *
 * An accepted model must be what the reader promises:
 *  - a config that passes rnn_model_config_check, every tensor of its specs
 *    present with its count, 64-byte aligned, every weight finite;
 *  - metadata whose keys find their own values;
 *  - written back by rnn_model_serialize (float32 tensors) or
 *    rnn_model_serialize_typed (bf16 and float32 tensors: bf16 values read
 *    as floats round back to themselves), the very bytes that were read (the
 *    format has one spelling of each preset), and by rnn_model_serialize_model
 *    (any dtype: int8 rows keep their stored scales) too;
 * and, when it has at most FUZZ_MAX_WEIGHTS weights (larger ones are only
 * loaded and checked, so a big valid preset cannot time the fuzzer out):
 *  - net steps whose sliced form (begin, work with a small budget) gives the
 *    same logits and state, bit for bit, as the whole step, and a state
 *    get/set that brings a step back exactly;
 *  - sampler draws that are -1 or an allowed class;
 *  - an engine running it with a rolling transport, player notes, settings
 *    from the input and a stop: output sorted, inside the block, well-formed
 *    notes, and no note left sounding after the stop. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../../core/engine.h"
#include "../../core/model.h"
#include "../../core/net.h"
#include "../../core/sample.h"

/* Weights of the largest model the target runs (128 KiB of floats: every
 * input up to the fuzzer's -max_len of 128 KiB qualifies). */
#define FUZZ_MAX_WEIGHTS ((size_t)1 << 15)
#define FUZZ_NAME "fuzz.rnnw"
#define FUZZ_BLOCKS 16
#define FUZZ_OUT 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_model: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The bytes after the model, read as a stream of choices (0 when used up). */
typedef struct {
    const uint8_t *p;
    size_t n, at;
} choices;

static unsigned pick(choices *c)
{
    return c->n ? c->p[c->at++ % c->n] : 0;
}

/* The model as the reader promises it; returns its weight count. */
static size_t check_model(const rnn_model *m, const uint8_t *data, size_t size)
{
    const rnn_model_config *cfg = rnn_model_get_config(m);
    CHECK(rnn_model_config_check(cfg, NULL, 0) == 0);
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(cfg, specs);
    CHECK(n > 0 && n <= RNN_MAX_TENSORS);
    const float *tensors[RNN_MAX_TENSORS];
    size_t weights = 0;
    for (int i = 0; i < n; i++) {
        size_t count = 0;
        tensors[i] = rnn_model_tensor(m, specs[i].name, &count);
        CHECK(tensors[i] != NULL);
        CHECK(count == specs[i].count);
        CHECK(((uintptr_t)tensors[i] & 63) == 0);
        for (size_t j = 0; j < count; j++)
            CHECK(tensors[i][j] - tensors[i][j] == 0.0f); /* finite */
        weights += count;
    }
    CHECK(rnn_model_tensor(m, "no.such.tensor", NULL) == NULL);

    const size_t n_meta = rnn_model_meta_count(m);
    rnn_meta *meta = calloc(n_meta ? n_meta : 1, sizeof *meta);
    CHECK(meta != NULL);
    for (size_t i = 0; i < n_meta; i++) {
        meta[i] = rnn_model_meta_at(m, i);
        CHECK(meta[i].key && meta[i].value && meta[i].key[0]);
        CHECK(rnn_model_meta(m, meta[i].key) == meta[i].value);
    }
    CHECK(rnn_model_meta_at(m, n_meta).key == NULL);

    void *out = NULL;
    size_t outlen = 0;
    char err[512];
    rnn_dtype dtypes[RNN_MAX_TENSORS];
    int has_int8 = 0;
    for (int i = 0; i < n; i++) {
        dtypes[i] = rnn_model_tensor_dtype(m, specs[i].name);
        CHECK(dtypes[i] == RNN_DTYPE_F32 || rnn_model_dtype_allowed(cfg, i));
        has_int8 |= dtypes[i] == RNN_DTYPE_INT8;
    }
    if (!has_int8) {
        CHECK(rnn_model_serialize_typed(cfg, meta, n_meta, tensors, dtypes, &out, &outlen, err,
                                        sizeof err) == 0);
        CHECK(outlen == size && memcmp(out, data, size) == 0);
        free(out);
    }
    CHECK(rnn_model_serialize_model(m, meta, n_meta, &out, &outlen, err, sizeof err) == 0);
    CHECK(outlen == size && memcmp(out, data, size) == 0);
    free(out);
    free(meta);
    return weights;
}

/* Whole and sliced steps agree bit for bit, with the fuzzer's condition
 * columns when the model takes them; state get/set replays a step. */
static void check_net(const rnn_model *m, choices *c)
{
    char err[512];
    rnn_net *a = rnn_net_create(m, err, sizeof err);
    rnn_net *b = rnn_net_create(m, err, sizeof err);
    CHECK(a && b);
    const int V = rnn_model_get_config(m)->vocab;
    const size_t S = rnn_net_state_size(a);
    CHECK(S > 0 && S == rnn_net_state_size(b));
    CHECK(rnn_net_step_rows(a) > 0);
    float *sa = malloc(S * sizeof *sa), *sb = malloc(S * sizeof *sb);
    float *la = malloc((size_t)V * sizeof *la), *saved = malloc(S * sizeof *saved);
    const int C = rnn_net_cond_columns(a);
    CHECK(C == rnn_model_input_columns(rnn_model_get_config(m)));
    float cond[RNN_MAX_INPUT_COLUMNS];
    rnn_sampler *smp = rnn_sampler_create(V);
    uint8_t *forbidden = calloc((size_t)V, 1);
    CHECK(sa && sb && la && saved && smp && forbidden);
    rnn_rng rng;
    rnn_rng_seed(&rng, pick(c));
    for (int v = 0; v < V; v++)
        forbidden[v] = (pick(c) & 7) == 0;

    for (int step = 0; step < 6; step++) {
        /* events in range, and out of range (read as event 0) */
        int ev = (int)((pick(c) << 8 | pick(c)) % (unsigned)(V + 4)) - 2;
        for (int j = 0; j < C; j++)
            cond[j] = (float)(pick(c) & 1);
        const float *cd = C && (pick(c) & 3) ? cond : NULL;
        if (step == 3) rnn_net_state_get(a, saved);
        memcpy(la, rnn_net_step_cond(a, ev, cd), (size_t)V * sizeof *la);
        int budget = 1 + (int)(pick(c) % 8);
        if (pick(c) & 1) rnn_net_step_begin(b, (ev + 1) % V); /* abandoned */
        rnn_net_step_begin_cond(b, ev, cd);
        int calls = 0;
        while (!rnn_net_step_work(b, budget))
            CHECK(++calls <= rnn_net_step_rows(b));
        CHECK(memcmp(la, rnn_net_logits(b), (size_t)V * sizeof *la) == 0);
        rnn_net_state_get(a, sa);
        rnn_net_state_get(b, sb);
        CHECK(memcmp(sa, sb, S * sizeof *sa) == 0);

        float temp = (float)(pick(c) % 5) * 0.5f, top_p = (float)(pick(c) % 11) / 10.0f;
        int k = rnn_sample(smp, &rng, la, V, temp, top_p, forbidden);
        CHECK(k >= -1 && k < V);
        if (k >= 0) CHECK(!forbidden[k]);
        if (step == 3) { /* back to the saved state: the same step again */
            rnn_net_state_set(a, saved);
            CHECK(memcmp(la, rnn_net_step_cond(a, ev, cd), (size_t)V * sizeof *la) == 0);
        }
    }
    free(sa), free(sb), free(la), free(saved), free(forbidden);
    rnn_sampler_free(smp);
    rnn_net_free(a);
    rnn_net_free(b);
}

/* Output of one block: sorted, inside it, well-formed; tracks what sounds. */
static void check_out(const rnn_engine_event *out, uint32_t n, uint32_t frames, uint32_t max_out,
                      uint8_t sounding[16][128], int *n_sounding)
{
    CHECK(n <= max_out);
    for (uint32_t i = 0; i < n; i++) {
        const rnn_engine_event *ev = &out[i];
        CHECK(ev->size >= 1 && ev->size <= 3);
        CHECK(frames == 0 || ev->frame < frames);
        if (i) CHECK(out[i - 1].frame <= ev->frame);
        const uint8_t st = ev->data[0] & 0xf0, ch = ev->data[0] & 0x0f;
        CHECK(ev->data[0] & 0x80);
        if (ev->size < 3 || (st != 0x80 && st != 0x90)) continue;
        CHECK(ev->data[1] < 128 && ev->data[2] < 128);
        if (st == 0x90 && ev->data[2] > 0) {
            CHECK(
                !sounding[ch][ev->data[1]]); /* the engine ends a note before it strikes it again */
            sounding[ch][ev->data[1]] = 1;
            ++*n_sounding;
        } else if (sounding[ch][ev->data[1]]) {
            sounding[ch][ev->data[1]] = 0;
            --*n_sounding;
        }
    }
}

static void check_engine(rnn_model *m, choices *c)
{
    char err[512];
    rnn_engine_model *em = rnn_engine_model_wrap(m, err, sizeof err);
    if (!em) { /* too slow for the compute budget, or numbers that overflow float;
                  * the message names the model by its metadata name */
        CHECK(err[0] != 0);
        return;
    }
    CHECK(rnn_engine_model_get(em) == m);
    rnn_engine *e = rnn_engine_create(48000, 512, err, sizeof err);
    CHECK(e != NULL);
    CHECK(rnn_engine_set_model(e, em) == NULL);
    for (int p = 0; p < RNN_PARAM_COUNT; p++)
        if (pick(c) & 1) {
            float lo, hi;
            CHECK(rnn_engine_param_info((rnn_engine_param)p, NULL, &lo, &hi, NULL) == 0);
            rnn_engine_set_param(e, (rnn_engine_param)p, lo + (hi - lo) * (float)pick(c) / 255.0f);
        }
    rnn_engine_set_param(e, RNN_PARAM_THRU, 0); /* the output is the engine's own */

    static uint8_t sounding[16][128];
    memset(sounding, 0, sizeof sounding);
    int n_sounding = 0;
    rnn_engine_event in[8], out[FUZZ_OUT];
    for (int b = 0; b <= FUZZ_BLOCKS; b++) {
        const int last = b == FUZZ_BLOCKS;
        uint32_t frames = last ? 64 : pick(c) * 2 + (pick(c) & 1);
        rnn_transport tr = {0};
        tr.flags =
            RNN_TRANSPORT_SPEED | RNN_TRANSPORT_TEMPO | RNN_TRANSPORT_BBT | RNN_TRANSPORT_METER;
        tr.speed = last ? 0 : 1;
        tr.bpm = 20 + pick(c) % 281;
        tr.beats_per_bar = 1 + pick(c) % 7;
        tr.beat_unit = 4;
        tr.bar = b / 4;
        tr.bar_beat = (b % 4) * tr.beats_per_bar / 4;
        uint32_t n_tr = last || b == 0 || (pick(c) & 3) == 0;
        uint32_t n_in = last ? 0 : pick(c) % 8;
        for (uint32_t i = 0; i < n_in; i++) {
            in[i].frame = frames ? (uint32_t)(i * frames / n_in) : 0;
            in[i].size = 3;
            in[i].data[0] = (uint8_t)((pick(c) & 1 ? 0x90 : 0x80) | (pick(c) & 0x0f));
            in[i].data[1] = (uint8_t)(pick(c) & 0x7f);
            in[i].data[2] = (uint8_t)(pick(c) & 0x7f);
            in[i].flags = 0;
        }
        uint32_t max_out = RNN_ENGINE_MIN_OUT + pick(c) % (FUZZ_OUT - RNN_ENGINE_MIN_OUT + 1);
        uint32_t n = rnn_engine_run(e, frames, in, n_in, &tr, n_tr, out, max_out);
        check_out(out, n, frames, max_out, sounding, &n_sounding);
    }
    CHECK(n_sounding == 0); /* the stop ended every note */
    rnn_engine_stats st;
    rnn_engine_get_stats(e, &st);
    CHECK(!st.rolling && !st.generating);
    rnn_engine_model_free(rnn_engine_set_model(e, NULL));
    rnn_engine_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
#ifdef FUZZ_FIX_CRC
    if (size >= 4) {
        uLong crc = crc32(0L, Z_NULL, 0);
        crc = crc32(crc, buf, (uInt)(size - 4));
        for (int i = 0; i < 4; i++)
            buf[size - 4 + i] = (uint8_t)(crc >> (8 * i));
    }
#endif
    char err[512];
    rnn_model *m = rnn_model_load_memory(buf, size, FUZZ_NAME, err, sizeof err);
    if (!m) {
        CHECK(strncmp(err, FUZZ_NAME ": ", sizeof FUZZ_NAME + 1) == 0);
        CHECK(strlen(err) > sizeof FUZZ_NAME + 1);
#ifdef FUZZ_FIX_CRC
        CHECK(strncmp(err, FUZZ_NAME ": checksum mismatch", sizeof FUZZ_NAME + 18) != 0);
#endif
        free(buf);
        return 0;
    }
    const size_t weights = check_model(m, buf, size);
    if (weights > FUZZ_MAX_WEIGHTS) {
        rnn_model_free(m);
        free(buf);
        return 0;
    }
    /* The choices of the runs come from the weights' bytes, so mutations of
     * the data steer them. */
    choices c = {buf + 64, size - 68, 0};
    check_net(m, &c);
    check_engine(m, &c); /* takes the model */
    free(buf);
    return 0;
}
