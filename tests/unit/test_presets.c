/* SPDX-License-Identifier: MIT */
/* Tests of the shipped presets (presets/NAME.rnnw, built by `make presets`):
 * each one loads, is at most 4 MiB, carries the metadata of its training
 * (name = file name, the trainer's command line writing that name, data,
 * files, steps, epochs, a valid_nll under half of log V, the NLL of a
 * uniform guess), has the kind and cell its name
 * says, and the three melody cells have the same parameter budget within 5%.
 * Each then plays 8 takes of 8 bars of 4/4 through the core alone (a
 * conditioned preset hearing the metric position from bar 0 and no harmony,
 * as rnnmidi-gen gives it; rnn_sample at temperature 1, top-p 0.95, seeds
 * 1..8, rnn_decode): every event is in the vocabulary, at most one melody
 * note-off in 32 steps comes with no note sounding, the decoder finds one
 * note per note-on, the decoded notes are in range and on the 8 bars, there
 * is music (at least 4 notes) in at least 6 of the 8 takes (a take from a
 * zero state may stay silent for its first bars), and the same seed plays
 * the same bars again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../core/condition.h"
#include "../../core/encoding.h"
#include "../../core/model.h"
#include "../../core/net.h"
#include "../../core/sample.h"

#define BARS 8
#define MAX_PRESET_BYTES (4u << 20)

typedef struct {
    const char *name;
    rnn_kind kind;
    rnn_cell cell;
} shipped;

static const shipped presets[] = {
    {"melody-lstm", RNN_KIND_MELODY, RNN_CELL_LSTM},
    {"melody-gru", RNN_KIND_MELODY, RNN_CELL_GRU},
    {"melody-rnn", RNN_KIND_MELODY, RNN_CELL_RNN},
    {"drums-gru", RNN_KIND_DRUMS, RNN_CELL_GRU},
};
#define N_PRESETS (sizeof presets / sizeof presets[0])

static rnn_model *load(const shipped *p)
{
    char path[256], err[512];
    snprintf(path, sizeof path, "presets/%s.rnnw", p->name);
    struct stat st;
    if (stat(path, &st) != 0) fail_msg("%s is missing (make presets)", path);
    if ((size_t)st.st_size > MAX_PRESET_BYTES)
        fail_msg("%s: %lld bytes, over 4 MiB", path, (long long)st.st_size);
    rnn_model *m = rnn_model_load(path, err, sizeof err);
    if (!m) fail_msg("%s", err);
    return m;
}

/* The parameters of a preset's cells: all but the attention's (its attn.*
 * tensors and the head's columns that read the context), an option on top
 * of whichever cell. */
static size_t param_count(const rnn_model *m)
{
    const rnn_model_config *cfg = rnn_model_get_config(m);
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    int n = rnn_model_tensor_specs(cfg, specs);
    assert_true(n > 0);
    size_t total = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(specs[i].name, "attn.", 5) != 0) total += specs[i].count;
    if (cfg->attn_window > 0) total -= (size_t)cfg->vocab * (size_t)cfg->hidden;
    return total;
}

static void test_metadata(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_PRESETS; i++) {
        const shipped *p = &presets[i];
        rnn_model *m = load(p);
        const rnn_model_config *cfg = rnn_model_get_config(m);
        assert_int_equal(cfg->kind, p->kind);
        assert_int_equal(cfg->cell, p->cell);
        assert_int_equal(cfg->vocab, rnn_kind_vocab(p->kind));

        const char *name = rnn_model_meta(m, "name");
        assert_non_null(name);
        assert_string_equal(name, p->name);
        const char *keys[] = {"data", "files", "steps", "epochs", "train_seconds", "created"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            const char *v = rnn_model_meta(m, keys[k]);
            if (!v || !v[0]) fail_msg("%s: no %s in its metadata", p->name, keys[k]);
        }
        assert_true(atol(rnn_model_meta(m, "steps")) > 0);

        const char *cmd = rnn_model_meta(m, "command");
        assert_non_null(cmd);
        char want[128];
        assert_non_null(strstr(cmd, "rnnmidi-train "));
        snprintf(want, sizeof want, "--kind %s ", rnn_kind_name(p->kind));
        if (!strstr(cmd, want)) fail_msg("%s: command lacks '%s': %s", p->name, want, cmd);
        snprintf(want, sizeof want, "--cell %s ", rnn_cell_name(p->cell));
        if (!strstr(cmd, want)) fail_msg("%s: command lacks '%s': %s", p->name, want, cmd);
        snprintf(want, sizeof want, "/%s.rnnw", p->name);
        if (!strstr(cmd, want)) fail_msg("%s: command writes elsewhere: %s", p->name, cmd);
        assert_non_null(strstr(cmd, "--seed "));

        const char *v = rnn_model_meta(m, "valid_nll");
        assert_non_null(v);
        char *end;
        double nll = strtod(v, &end);
        /* trained: under half the NLL of the uniform guess, log V */
        if (end == v || *end || !isfinite(nll) || nll <= 0 || nll > 0.5 * log(cfg->vocab))
            fail_msg("%s: valid_nll '%s'", p->name, v);
        rnn_model_free(m);
    }
}

/* melody-gru and melody-rnn have the parameters of melody-lstm's cells, within 5%. */
static void test_melody_cells_share_a_budget(void **state)
{
    (void)state;
    size_t counts[N_PRESETS] = {0}, lstm = 0;
    for (size_t i = 0; i < N_PRESETS; i++) {
        if (presets[i].kind != RNN_KIND_MELODY) continue;
        rnn_model *m = load(&presets[i]);
        counts[i] = param_count(m);
        if (presets[i].cell == RNN_CELL_LSTM) lstm = counts[i];
        rnn_model_free(m);
    }
    assert_true(lstm > 0);
    for (size_t i = 0; i < N_PRESETS; i++) {
        if (!counts[i]) continue;
        double ratio = (double)counts[i] / (double)lstm;
        if (ratio < 0.95 || ratio > 1.05)
            fail_msg("%s: %zu parameters, melody-lstm %zu", presets[i].name, counts[i], lstm);
    }
}

/* The input columns of input step `step` of a take on a 4/4 grid from bar
 * 0, as rnnmidi-gen gives a preset with nobody playing: the metric position
 * of the step, or of the next for a preset that hears the predicted step's
 * (the 'no event' step before the take, step -1, is the last step of a bar),
 * no harmony; NULL for a preset that takes no columns. */
static const float *grid_columns(const rnn_model_config *cfg, int64_t step, float *cols)
{
    const int C = rnn_model_input_columns(cfg);
    if (C == 0) return NULL;
    memset(cols, 0, (size_t)C * sizeof *cols);
    const int metric = rnn_model_cond_offset(cfg, RNN_COND_METRIC);
    if (metric >= 0) {
        const int spq = cfg->steps_per_quarter;
        const int64_t at = step + ((cfg->conditions & RNN_COND_NEXT) != 0);
        rnn_metric_pos p;
        assert_int_equal(rnn_cond_metric_file(NULL, 0, 480, spq, at >= 0 ? at : 4 * spq - 1, &p), 0);
        rnn_cond_metric_fill(&p, spq, cols + metric);
    }
    return cols;
}

/* Play BARS bars from a zero state, feeding each drawn event back. */
static size_t play(const rnn_model *m, uint64_t seed, int32_t *events)
{
    char err[256];
    const rnn_model_config *cfg = rnn_model_get_config(m);
    size_t len = (size_t)BARS * 4 * (size_t)cfg->steps_per_quarter;
    rnn_net *net = rnn_net_create(m, err, sizeof err);
    if (!net) fail_msg("%s", err);
    rnn_sampler *s = rnn_sampler_create(cfg->vocab);
    assert_non_null(s);
    rnn_rng rng;
    rnn_rng_seed(&rng, seed);
    assert_int_equal(cfg->lookback, 0); /* its columns would need the take's events */
    static float cols[RNN_MAX_INPUT_COLUMNS];
    const float *logits = rnn_net_step_cond(net, 0, grid_columns(cfg, -1, cols));
    for (size_t t = 0; t < len; t++) {
        for (int c = 0; c < cfg->vocab; c++) assert_true(isfinite(logits[c]));
        int e = rnn_sample(s, &rng, logits, cfg->vocab, 1.0f, 0.95f, NULL);
        assert_true(e >= 0 && e < cfg->vocab);
        events[t] = e;
        logits = rnn_net_step_cond(net, e, grid_columns(cfg, (int64_t)t, cols));
    }
    rnn_sampler_free(s);
    rnn_net_free(net);
    return len;
}

/* Play one take of preset p with seed `seed` and check its events and
 * notes; the number of notes. */
static size_t take(const shipped *p, const rnn_model *m, uint64_t seed)
{
    static int32_t events[BARS * 4 * RNN_MAX_STEPS_PER_QUARTER], again[sizeof events / 4];
    static rnn_note notes[sizeof events / 4];
    size_t len = play(m, seed, events);
    assert_int_equal(play(m, seed, again), len);
    assert_memory_equal(events, again, len * sizeof events[0]);

    /* melody: a note-off with no note sounding never occurs in the
     * training data (the decoder and the engine ignore it); the net may
     * still draw one now and then, but rarely */
    size_t note_ons = 0, stray = 0;
    if (p->kind == RNN_KIND_MELODY) {
        int sounding = 0;
        for (size_t t = 0; t < len; t++) {
            if (events[t] == RNN_MELODY_NOTE_OFF) {
                stray += !sounding;
                sounding = 0;
            } else if (events[t] >= RNN_MELODY_NOTE_ON(0)) {
                sounding = 1;
                note_ons++;
            }
        }
        if (stray > len / 32)
            fail_msg("%s: %zu note-offs with no note in %zu steps", p->name, stray, len);
    }
    int channel = p->kind == RNN_KIND_DRUMS ? RNN_DRUMS_CHANNEL : 0;
    size_t max = sizeof notes / sizeof notes[0];
    size_t n = rnn_decode(p->kind, events, len, channel, 100, notes, max);
    assert_true(n <= max);
    if (p->kind == RNN_KIND_MELODY) assert_int_equal(n, note_ons);
    for (size_t k = 0; k < n; k++) {
        const rnn_note *x = &notes[k];
        assert_true(x->pitch >= 0 && x->pitch <= 127);
        assert_int_equal(x->channel, channel);
        assert_int_equal(x->velocity, 100);
        assert_true(x->on >= 0 && x->on < (int64_t)len);
        assert_true(x->off > x->on && x->off <= (int64_t)len);
        if (p->kind == RNN_KIND_DRUMS) assert_true(rnn_drum_class_of_pitch(x->pitch) >= 0);
    }
    return n;
}

static void test_eight_bars(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_PRESETS; i++) {
        const shipped *p = &presets[i];
        rnn_model *m = load(p);
        int music = 0;
        char counts[256] = "";
        for (uint64_t seed = 1; seed <= 8; seed++) {
            const size_t n = take(p, m, seed);
            music += n >= 4;
            snprintf(counts + strlen(counts), sizeof counts - strlen(counts), " %zu", n);
        }
        if (music < 6) fail_msg("%s: notes in 8 bars, seeds 1..8:%s", p->name, counts);
        rnn_model_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_melody_cells_share_a_budget),
        cmocka_unit_test(test_eight_bars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
