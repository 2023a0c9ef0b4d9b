/* SPDX-License-Identifier: MIT */
/* The LV2 bundle as a DAW drives it: lilv finds build/rnnmidi.lv2 through
 * LV2_PATH, instantiates it with urid:map, worker, log and options, and this
 * host rolls the transport at 120 BPM with blocks of 0..8192 frames at 44.1,
 * 48 and 96 kHz, sends MIDI, and checks the captured MIDI output: note-ons
 * exactly on grid frames, note-on/off pairs, only note-offs after stop,
 * call-and-response answers after the call, the same seed gives the same
 * notes, save then restore (lilv state, through a file) gives the same
 * behaviour, a model swap mid-run keeps playing, a corrupt model is refused
 * (log + status notification) while playing goes on, jumps, MIDI floods,
 * and notes sung into the audio input prime the engine like MIDI notes.
 * Hardening: keys passed on by thru get their note-off after thru is
 * switched off, on deactivate and on an all-notes-off; a notify port far
 * below the plugin's minimum loses no note-off; a long model name leaves no
 * stray bytes in the worker's response; an over-long path is refused out
 * loud; restore() with a worker loads in the worker while run() goes on;
 * save() hands over a path no concurrent load can change.
 * A version 2 preset (the golden cond_lstm_e0_l1: metric and harmony)
 * loaded through patch:Set plays in 3/4 in the three modes over the
 * player's chords, on the grid, every note ended; in accompany the chords
 * change what it plays, and in call-and-response it answers from the bar
 * line after the call.
 * A copy of a fixture with its matrices stored as bf16, and one as int8
 * (core/FORMAT.md's reduced dtypes), loads and plays on the grid, every
 * note ended.
 * The models are random-weight fixtures written by the test (and that
 * golden preset, random weights from PyTorch). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <lilv/lilv.h>
#include <limits.h>
#include <lv2/patch/patch.h>
#include <lv2/state/state.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/engine.h"
#include "../support/engine_fixture.h"
#include "../support/lv2/lilv_bundle.h"
#include "../support/lv2/lv2_host.h"

static LilvWorld *world;
static const LilvPlugin *plugin;
static char tmpdir[256];
static char model_a[300], model_b[300], model_bad[300], model_long[400];
static char model_q[2][320]; /* model a as bf16, as int8 */

static int setup(void **state)
{
    (void)state;
    if (lilv_bundle_dir(tmpdir, sizeof tmpdir, "lv2", "/usr/lib/lv2")) return -1;

    /* the models live beside LV2_PATH's folder, not in it */
    snprintf(model_a, sizeof model_a, "%s/models", tmpdir);
    if (mkdir(model_a, 0700)) return -1;
    snprintf(model_a, sizeof model_a, "%s/models/melody-a.rnnw", tmpdir);
    snprintf(model_b, sizeof model_b, "%s/models/melody-b.rnnw", tmpdir);
    snprintf(model_bad, sizeof model_bad, "%s/models/corrupt.rnnw", tmpdir);
    if (fixture_build(RNN_KIND_MELODY, RNN_CELL_LSTM, 2, 16, 48, 21, model_a, NULL, NULL))
        return -1;
    if (fixture_build(RNN_KIND_MELODY, RNN_CELL_GRU, 1, 0, 40, 22, model_b, NULL, NULL)) return -1;
    snprintf(model_long, sizeof model_long, "%s/models/another-model-with-a-longer-name.rnnw",
             tmpdir);
    if (fixture_build(RNN_KIND_MELODY, RNN_CELL_GRU, 1, 0, 32, 23, model_long, NULL, NULL))
        return -1;
    /* copies of model a with its matrices reduced */
    for (int v = 0; v < 2; v++) {
        char err[256];
        rnn_model *m = rnn_model_load(model_a, err, sizeof err);
        if (!m) return -1;
        const rnn_model_config *cfg = rnn_model_get_config(m);
        rnn_tensor_spec specs[RNN_MAX_TENSORS];
        const float *t[RNN_MAX_TENSORS];
        rnn_dtype d[RNN_MAX_TENSORS];
        const int nt = rnn_model_tensor_specs(cfg, specs);
        rnn_model_reduced_dtypes(cfg, v ? RNN_DTYPE_INT8 : RNN_DTYPE_BF16, d);
        for (int i = 0; i < nt; i++) t[i] = rnn_model_tensor(m, specs[i].name, NULL);
        rnn_meta meta[8];
        size_t nm = 0;
        for (; nm < rnn_model_meta_count(m) && nm < 8; nm++)
            meta[nm] = rnn_model_meta_at(m, nm);
        snprintf(model_q[v], sizeof model_q[v], "%s/models/melody-a-%s.rnnw", tmpdir,
                 v ? "int8" : "bf16");
        const int rc = rnn_model_write_typed(model_q[v], cfg, meta, nm, t, d, err, sizeof err);
        rnn_model_free(m);
        if (rc) return -1;
    }
    /* a copy of model a with one weight byte changed: the checksum refuses it */
    FILE *f = fopen(model_a, "rb");
    if (!f) return -1;
    static unsigned char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    buf[n / 2] ^= 0x40;
    f = fopen(model_bad, "wb");
    if (!f || fwrite(buf, 1, n, f) != n) return -1;
    fclose(f);

    plugin = lilv_bundle_world(&world);
    return plugin ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return lilv_bundle_free(world, tmpdir);
}

typedef struct {
    host_plugin *hp;
    LilvInstance *inst;
} inst_t;

static inst_t open_plugin(double rate)
{
    inst_t t;
    t.hp = host_new();
    assert_non_null(t.hp);
    t.inst = lilv_plugin_instantiate(plugin, rate, t.hp->features);
    assert_non_null(t.inst);
    host_attach(t.hp, lilv_instance_get_descriptor(t.inst), lilv_instance_get_handle(t.inst));
    assert_non_null(t.hp->worker);
    lilv_instance_activate(t.inst);
    return t;
}

static void close_plugin(inst_t t)
{
    lilv_instance_deactivate(t.inst);
    lilv_instance_free(t.inst);
    host_free(t.hp);
}

/* Load a model through patch:Set and check the notification. */
static void load_model(inst_t t, const char *path)
{
    host_begin(t.hp);
    host_position(t.hp, 0, 0, 120, 0, 0); /* a DAW, stopped */
    host_set_model(t.hp, 0, path);
    host_run(t.hp, 64);
    host_begin(t.hp);
    host_run(t.hp, 64);
    assert_string_equal(t.hp->model_path, path);
    assert_string_equal(t.hp->status, "loaded test fixture (random weights, not a model)");
}

static uint32_t block_size(uint64_t *s)
{
    return fixture_block(s, 20, 2048);
}

typedef struct {
    int64_t frame;
    int kind; /* 0 none, 1 roll from here at `bar`, 2 stop, 3 MIDI, 4 roll in 3/4 */
    int64_t bar;
    uint8_t d[3];
} cue;

/* Roll: a Position at the start; cues at absolute frames; random blocks. */
static void play(inst_t t, double rate, int64_t total, uint64_t seed, const cue *cues,
                 size_t n_cues)
{
    uint64_t s = seed;
    size_t ci = 0;
    (void)rate;
    while (t.hp->pos < total) {
        uint32_t n = block_size(&s);
        if (t.hp->pos + n > total) n = (uint32_t)(total - t.hp->pos);
        host_begin(t.hp);
        while (ci < n_cues && cues[ci].frame < t.hp->pos + n) {
            uint32_t f = (uint32_t)(cues[ci].frame - t.hp->pos);
            const cue *c = &cues[ci++];
            if (c->kind == 1) host_position(t.hp, f, 1, 120, c->bar, 0);
            if (c->kind == 2) host_position(t.hp, f, 0, 120, c->bar, 0);
            if (c->kind == 3) host_midi(t.hp, f, c->d[0], c->d[1], c->d[2]);
            if (c->kind == 4) host_position_meter(t.hp, f, 1, 120, c->bar, 0, 3, 4);
        }
        host_run(t.hp, n);
    }
}

static int ev_on(const host_ev *e)
{
    return (e->d[0] & 0xf0) == 0x90 && e->d[2] > 0;
}
static int ev_off(const host_ev *e)
{
    return (e->d[0] & 0xf0) == 0x80 || ((e->d[0] & 0xf0) == 0x90 && e->d[2] == 0);
}

static int grid_ok(int64_t f, int64_t anchor, double fps)
{
    double k = floor((double)(f - anchor) / fps);
    for (double q = k - 1; q <= k + 1; q++)
        if (q >= 0 && anchor + (int64_t)ceil(q * fps - 1e-6) == f) return 1;
    return 0;
}

/* note-on/off pairs; returns the number left sounding */
static int pairs(const host_plugin *hp, size_t from)
{
    static int down[16][128];
    memset(down, 0, sizeof down);
    int sounding = 0;
    for (size_t i = from; i < hp->n_ev; i++) {
        const host_ev *e = &hp->ev[i];
        assert_true(e->frame >= 0);
        int ch = e->d[0] & 15, p = e->d[1] & 127;
        if (ev_on(e)) {
            assert_int_equal(down[ch][p], 0);
            down[ch][p] = 1, sounding++;
        } else if (ev_off(e)) {
            assert_int_equal(down[ch][p], 1);
            down[ch][p] = 0, sounding--;
        }
    }
    return sounding;
}

static size_t ons_between(const host_plugin *hp, int64_t a, int64_t b)
{
    size_t n = 0;
    for (size_t i = 0; i < hp->n_ev; i++)
        if (ev_on(&hp->ev[i]) && hp->ev[i].frame >= a && hp->ev[i].frame < b) n++;
    return n;
}

/* Accompany with the player's notes coming in, then stop, per sample rate. */
static void grid_run_model(double rate, const char *model)
{
    inst_t t = open_plugin(rate);
    load_model(t, model);
    t.hp->controls[RNNMIDI_SEED] = 5;
    t.hp->controls[RNNMIDI_CHANNEL] = 2;
    size_t first = t.hp->n_ev;
    int64_t start = t.hp->pos; /* the transport starts here at bar 0 */
    double fps = rate * 60 / (120 * 4);
    int64_t stop = start + (int64_t)(rate * 12);
    cue cues[64];
    size_t n = 0;
    cues[n++] = (cue){start, 1, 0, {0}};
    for (int i = 0; i < 20; i++) {
        int64_t f = start + (int64_t)(rate * (0.3 + 0.5 * i));
        cues[n++] = (cue){f, 3, 0, {0x90, (uint8_t)(60 + i % 12), 90}};
        cues[n++] = (cue){f + (int64_t)(rate * 0.2), 3, 0, {0x80, (uint8_t)(60 + i % 12), 0}};
    }
    cues[n++] = (cue){stop, 2, 0, {0}};
    play(t, rate, stop + (int64_t)(rate * 2), (uint64_t)rate, cues, n);

    size_t gen = 0;
    for (size_t i = first; i < t.hp->n_ev; i++) {
        const host_ev *e = &t.hp->ev[i];
        if ((e->d[0] & 15) != 1) continue; /* thru is off; all output is ours */
        if (ev_on(e)) {
            assert_true(e->frame < stop); /* after stop only note-offs */
            if (!grid_ok(e->frame, start, fps))
                fail_msg("note-on at %lld off the grid at %g Hz", (long long)e->frame, rate);
            gen++;
        }
    }
    assert_true(gen > 20);
    assert_int_equal(pairs(t.hp, first), 0);
    close_plugin(t);
}

static void grid_run(double rate)
{
    grid_run_model(rate, model_a);
}

/* The same run on the reduced copies of model a. */
static void test_reduced_presets(void **state)
{
    (void)state;
    grid_run_model(48000, model_q[0]);
    grid_run_model(44100, model_q[1]);
}

static void test_grid_rates(void **state)
{
    (void)state;
    grid_run(44100);
    grid_run(48000); /* re-instantiated at another rate */
    grid_run(96000);
}

/* Call and response through the plugin: the answer comes after the call. */
static void test_call_response(void **state)
{
    (void)state;
    inst_t t = open_plugin(48000);
    load_model(t, model_a);
    t.hp->controls[RNNMIDI_MODE] = RNN_MODE_CALL_RESPONSE;
    t.hp->controls[RNNMIDI_LISTEN_GAP] = 1;
    t.hp->controls[RNNMIDI_DENSITY] = 0.9f;
    int64_t s0 = t.hp->pos;
    cue cues[32];
    size_t n = 0;
    cues[n++] = (cue){s0, 1, 0, {0}};
    for (int i = 0; i < 6; i++) { /* call on steps 16..27 */
        cues[n++] = (cue){s0 + (16 + 2 * i) * 6000, 3, 0, {0x90, (uint8_t)(64 + i), 100}};
        cues[n++] = (cue){s0 + (17 + 2 * i) * 6000, 3, 0, {0x80, (uint8_t)(64 + i), 0}};
    }
    size_t first = t.hp->n_ev;
    play(t, 48000, s0 + 60 * 6000, 77, cues, n);
    assert_int_equal(ons_between(t.hp, s0, s0 + 32 * 6000), 0);
    assert_true(ons_between(t.hp, s0 + 32 * 6000, s0 + 44 * 6000) > 0);
    assert_int_equal(ons_between(t.hp, s0 + 44 * 6000, INT64_MAX), 0);
    assert_int_equal(pairs(t.hp, first), 0);
    close_plugin(t);
}

/* The same call with the host in 3/4 (time:beatsPerBar 3): the answer waits
 * for the 3/4 bar line at step 36 (4/4 would start it at 32) and lasts as
 * long as the call, to step 48; a fresh net's first event is a note, so
 * one starts on the bar line itself. */
static void test_call_response_in_3_4(void **state)
{
    (void)state;
    inst_t t = open_plugin(48000);
    load_model(t, model_a);
    t.hp->controls[RNNMIDI_MODE] = RNN_MODE_CALL_RESPONSE;
    t.hp->controls[RNNMIDI_LISTEN_GAP] = 1;
    t.hp->controls[RNNMIDI_DENSITY] = 0.9f;
    int64_t s0 = t.hp->pos;
    cue cues[32];
    size_t n = 0;
    cues[n++] = (cue){s0, 4, 0, {0}};
    for (int i = 0; i < 6; i++) { /* call on steps 16..27 */
        cues[n++] = (cue){s0 + (16 + 2 * i) * 6000, 3, 0, {0x90, (uint8_t)(64 + i), 100}};
        cues[n++] = (cue){s0 + (17 + 2 * i) * 6000, 3, 0, {0x80, (uint8_t)(64 + i), 0}};
    }
    size_t first = t.hp->n_ev;
    play(t, 48000, s0 + 60 * 6000, 78, cues, n);
    assert_int_equal(ons_between(t.hp, s0, s0 + 36 * 6000), 0);
    assert_true(ons_between(t.hp, s0 + 36 * 6000, s0 + 36 * 6000 + 1) > 0);
    assert_int_equal(ons_between(t.hp, s0 + 48 * 6000, INT64_MAX), 0);
    assert_int_equal(pairs(t.hp, first), 0);
    close_plugin(t);
}

/* Same seed, same notes (different block sizes); another seed differs. */
static void seeded_run(int seed, uint64_t blocks, host_ev **ev, size_t *n)
{
    inst_t t = open_plugin(48000);
    load_model(t, model_a);
    t.hp->controls[RNNMIDI_SEED] = (float)seed;
    int64_t s0 = t.hp->pos;
    cue c = {s0, 1, 0, {0}};
    size_t first = t.hp->n_ev;
    play(t, 48000, s0 + 48000 * 6, blocks, &c, 1);
    *n = t.hp->n_ev - first;
    *ev = malloc(*n * sizeof **ev);
    assert_non_null(*ev);
    for (size_t i = 0; i < *n; i++) {
        (*ev)[i] = t.hp->ev[first + i];
        (*ev)[i].frame -= s0;
    }
    close_plugin(t);
}

static int same_events(const host_ev *a, size_t na, const host_ev *b, size_t nb)
{
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++)
        if (a[i].frame != b[i].frame || memcmp(a[i].d, b[i].d, 3)) return 0;
    return 1;
}

static void test_same_seed(void **state)
{
    (void)state;
    host_ev *a, *b, *c;
    size_t na, nb, nc;
    seeded_run(99, 1, &a, &na);
    seeded_run(99, 2, &b, &nb);
    seeded_run(100, 1, &c, &nc);
    assert_true(na > 20);
    assert_true(same_events(a, na, b, nb));
    assert_false(same_events(a, na, c, nc));
    free(a), free(b), free(c);
}

/* Save the state to a file with lilv, restore it into a fresh instance:
 * the same model and settings play the same notes. */
static void roll_and_capture(inst_t t, host_ev **ev, size_t *n)
{
    lilv_instance_deactivate(t.inst);
    lilv_instance_activate(t.inst);
    int64_t s0 = t.hp->pos;
    cue c = {s0, 1, 0, {0}};
    size_t first = t.hp->n_ev;
    play(t, 48000, s0 + 48000 * 5, 3, &c, 1);
    *n = t.hp->n_ev - first;
    *ev = malloc(*n * sizeof **ev + 1);
    assert_non_null(*ev);
    for (size_t i = 0; i < *n; i++) {
        (*ev)[i] = t.hp->ev[first + i];
        (*ev)[i].frame -= s0;
    }
}

static void test_save_restore(void **state)
{
    (void)state;
    inst_t a = open_plugin(48000);
    load_model(a, model_b);
    a.hp->controls[RNNMIDI_SEED] = 4242;
    a.hp->controls[RNNMIDI_TEMPERATURE] = 0.8f;
    a.hp->controls[RNNMIDI_SCALE] = RNN_SCALE_DORIAN;
    a.hp->controls[RNNMIDI_KEY] = 9;
    char dir[400];
    snprintf(dir, sizeof dir, "%s/state", tmpdir);
    LilvState *st = lilv_state_new_from_instance(plugin, a.inst, &host_map_s, NULL, dir, dir, dir,
                                                 host_port_value, a.hp, 0, a.hp->features);
    assert_non_null(st);
    assert_int_equal(lilv_state_save(world, &host_map_s, &host_unmap_s, st, NULL, dir, "state.ttl"),
                     0);
    lilv_state_free(st);
    host_ev *ea, *eb;
    size_t na, nb;
    roll_and_capture(a, &ea, &na);

    inst_t b = open_plugin(48000);
    char file[500];
    snprintf(file, sizeof file, "%s/state.ttl", dir);
    LilvState *loaded = lilv_state_new_from_file(world, &host_map_s, NULL, file);
    assert_non_null(loaded);
    lilv_state_restore(loaded, b.inst, host_set_port_value, b.hp, 0, b.hp->features);
    lilv_state_free(loaded);
    /* the worker was offered to restore(): the model arrives after a block */
    host_begin(b.hp);
    host_position(b.hp, 0, 0, 120, 0, 0); /* stopped, as a was while loading */
    host_run(b.hp, 64);
    assert_float_equal(b.hp->controls[RNNMIDI_SEED], 4242, 0);
    assert_float_equal(b.hp->controls[RNNMIDI_SCALE], RNN_SCALE_DORIAN, 0);
    roll_and_capture(b, &eb, &nb);
    assert_true(strstr(b.hp->model_path, "melody-b") != NULL);
    assert_true(na > 10);
    assert_true(same_events(ea, na, eb, nb));
    free(ea), free(eb);
    close_plugin(a);
    close_plugin(b);
}

/* A swap mid-run keeps playing; a corrupt file is refused and playing goes
 * on with the current model; a jump and a MIDI flood in between. */
static void test_swap_corrupt_jump_flood(void **state)
{
    (void)state;
    inst_t t = open_plugin(48000);
    t.hp->controls[RNNMIDI_THRU] = 1;
    load_model(t, model_a);
    int64_t s0 = t.hp->pos;
    size_t first = t.hp->n_ev;
    uint64_t s = 9;
    int errors0 = host_log_errors;
    host_log_quiet = 1;
    int64_t swap = s0 + 48000 * 3, bad = s0 + 48000 * 6, jump = s0 + 48000 * 8,
            flood = s0 + 48000 * 10, end = s0 + 48000 * 13;
    int swapped = 0, refused = 0, jumped = 0, flooded = 0;
    host_begin(t.hp);
    host_position(t.hp, 0, 1, 120, 0, 0);
    host_run(t.hp, 100);
    while (t.hp->pos < end) {
        uint32_t n = block_size(&s);
        if (n == 0) n = 7;
        host_begin(t.hp);
        if (!swapped && t.hp->pos + n > swap) {
            host_set_model(t.hp, n / 2, model_b);
            swapped = 1;
        }
        if (!refused && t.hp->pos + n > bad) {
            host_set_model(t.hp, 0, model_bad);
            refused = 1;
        }
        if (!jumped && t.hp->pos + n > jump) {
            host_position(t.hp, n / 3, 1, 120, 40, 0);
            jumped = 1;
        }
        if (!flooded && t.hp->pos + n > flood) {
            n = 4096;
            for (int i = 0; i < 5000; i++)
                host_midi(t.hp, (uint32_t)(i * 4096 / 5000), i & 1 ? 0x83 : 0x93,
                          (uint8_t)(30 + i % 50), 70);
            flooded = 1;
        }
        host_run(t.hp, n);
        if (refused == 1 && t.hp->status[0]) refused = 2;
    }
    host_log_quiet = 0;
    assert_true(host_log_errors > errors0);
    assert_true(strncmp(t.hp->status, "error:", 6) == 0);
    assert_true(strstr(t.hp->model_path, "melody-b") != NULL);
    /* playing went on in every stretch */
    assert_true(ons_between(t.hp, s0, swap) > 5);
    assert_true(ons_between(t.hp, swap + 2 * 8192, bad) > 5);
    assert_true(ons_between(t.hp, bad + 2 * 8192, jump) > 5);
    assert_true(ons_between(t.hp, jump + 2 * 8192, flood) > 5);
    assert_true(ons_between(t.hp, flood + 4096, end) > 5);
    /* the generated notes (channel 1) pair up; the flood went on channel 4 */
    static int down[128];
    memset(down, 0, sizeof down);
    for (size_t i = first; i < t.hp->n_ev; i++) {
        const host_ev *e = &t.hp->ev[i];
        assert_true(e->frame >= 0);
        if ((e->d[0] & 15) != 0) continue;
        if (ev_on(e)) {
            assert_int_equal(down[e->d[1]], 0);
            down[e->d[1]] = 1;
        } else if (ev_off(e)) {
            assert_int_equal(down[e->d[1]], 1);
            down[e->d[1]] = 0;
        }
    }
    close_plugin(t);
}

/* Sung notes enter like MIDI notes: a phrase sung into the audio input
 * gets a continuation when Input source is audio, and none when it is MIDI. */
static size_t sung_phrase(float source)
{
    inst_t t = open_plugin(48000);
    load_model(t, model_a);
    t.hp->controls[RNNMIDI_MODE] = RNN_MODE_CONTINUE;
    t.hp->controls[RNNMIDI_LISTEN_GAP] = 1;
    t.hp->controls[RNNMIDI_DENSITY] = 0.9f;
    t.hp->controls[RNNMIDI_INPUT_SOURCE] = source;
    int64_t s0 = t.hp->pos;
    const double freq[6] = {261.63, 293.66, 329.63, 349.23, 392.0, 440.0};
    double phase = 0;
    int first = 1;
    while (t.hp->pos < s0 + 48000 * 8) {
        host_begin(t.hp);
        if (first) host_position(t.hp, 0, 1, 120, 0, 0);
        first = 0;
        for (uint32_t i = 0; i < 256; i++) {
            double sec = (double)(t.hp->pos + i - s0) / 48000;
            int note = (int)(sec / 0.4);
            double in_note = sec - note * 0.4;
            float v = 0;
            if (sec >= 0.5 && note < 6 + 1 && note >= 1 && in_note < 0.3) {
                phase += 2 * M_PI * freq[note - 1] / 48000;
                v = (float)(0.4 * sin(phase));
            }
            t.hp->audio[i] = v;
        }
        host_run(t.hp, 256);
    }
    /* the phrase ends near 2.7 s; the answer comes after it */
    size_t n = ons_between(t.hp, s0 + 48000 * 3, s0 + 48000 * 8);
    assert_int_equal(ons_between(t.hp, s0, s0 + 48000 * 2), 0);
    assert_int_equal(pairs(t.hp, 0), 0);
    close_plugin(t);
    return n;
}

static void test_audio_input(void **state)
{
    (void)state;
    assert_true(sung_phrase(RNNMIDI_SOURCE_AUDIO) > 0);
    assert_int_equal(sung_phrase(RNNMIDI_SOURCE_MIDI), 0);
    /* a non-finite value on the port is its default, MIDI */
    assert_int_equal(sung_phrase(NAN), 0);
}

/* Input source switched from audio to MIDI while a sung note still sounds:
 * the note the detector held is released, so the phrase it ended still gets
 * its continuation. */
static void test_audio_switched_off_mid_note(void **state)
{
    (void)state;
    inst_t t = open_plugin(48000);
    load_model(t, model_a);
    t.hp->controls[RNNMIDI_MODE] = RNN_MODE_CONTINUE;
    t.hp->controls[RNNMIDI_LISTEN_GAP] = 1;
    t.hp->controls[RNNMIDI_DENSITY] = 0.9f;
    t.hp->controls[RNNMIDI_INPUT_SOURCE] = RNNMIDI_SOURCE_AUDIO;
    int64_t s0 = t.hp->pos;
    double phase = 0;
    int first = 1;
    while (t.hp->pos < s0 + 48000 * 8) {
        host_begin(t.hp);
        if (first) host_position(t.hp, 0, 1, 120, 0, 0);
        first = 0;
        double sec = (double)(t.hp->pos - s0) / 48000;
        if (sec >= 2.0) t.hp->controls[RNNMIDI_INPUT_SOURCE] = RNNMIDI_SOURCE_MIDI;
        for (uint32_t i = 0; i < 256; i++) {
            double si = (double)(t.hp->pos + i - s0) / 48000;
            float v = 0;
            if (si >= 0.5 && si < 3.0) { /* one long sung A, still sounding at the switch */
                phase += 2 * M_PI * 440.0 / 48000;
                v = (float)(0.4 * sin(phase));
            }
            t.hp->audio[i] = v;
        }
        host_run(t.hp, 256);
    }
    assert_int_equal(ons_between(t.hp, s0, s0 + 48000 * 2), 0);
    assert_true(ons_between(t.hp, s0 + 48000 * 2, s0 + 48000 * 8) > 0);
    assert_int_equal(pairs(t.hp, 0), 0);
    close_plugin(t);
}

/* A host that gives the notify port less than its rsz:minimumSize: a MIDI
 * flood with thru on fills it, and what comes out is still a well-formed
 * sequence of whole events. */
static void test_small_notify_buffer(void **state)
{
    (void)state;
    inst_t t = open_plugin(48000);
    load_model(t, model_a);
    t.hp->controls[RNNMIDI_THRU] = 1;
    for (int b = 0; b < 400; b++) {
        t.hp->out_size = 1024 + 8 * (uint32_t)b; /* every room left after the last whole event */
        host_begin(t.hp);
        if (b == 0) host_position(t.hp, 0, 1, 120, 0, 0);
        if (b % 50 == 1) host_set_model(t.hp, 0, model_a); /* patch messages on notify too */
        for (int i = 0; i < 5000; i++)
            host_midi(t.hp, (uint32_t)(i * 4096 / 5000), i & 1 ? 0x83 : 0x93,
                      (uint8_t)(30 + i % 50), 70);
        host_run(t.hp, 4096);
    }
    assert_int_equal(t.hp->malformed, 0);
    close_plugin(t);
}

/* A host that stamps events past the end of the block (a flood of them, so
 * that the plugin splits the block): everything that comes out stays inside
 * the block. */
static void test_events_past_block_end(void **state)
{
    (void)state;
    inst_t t = open_plugin(48000);
    load_model(t, model_a);
    t.hp->controls[RNNMIDI_THRU] = 1;
    size_t first = t.hp->n_ev;
    host_begin(t.hp);
    host_position(t.hp, 0, 1, 120, 0, 0);
    for (int i = 0; i < 2000; i++)
        host_midi(t.hp, 5000, i & 1 ? 0x83 : 0x93, (uint8_t)(30 + i % 50), 70);
    host_run(t.hp, 256);
    assert_true(t.hp->n_ev > first);
    for (size_t i = first; i < t.hp->n_ev; i++)
        assert_true(t.hp->ev[i].frame >= 0);
    close_plugin(t);
}

/* Two loads answered in one cycle while the host's work queue is full: every
 * replaced or superseded model waits to be freed (LeakSanitizer checks at
 * exit) and the last request wins. Then more loads in flight than the plugin
 * can take back: the excess is refused and reported, nothing leaks. */
static void test_loads_while_queue_full(void **state)
{
    (void)state;
    inst_t t = open_plugin(48000);
    load_model(t, model_a);
    t.hp->hold = 1;
    host_begin(t.hp);
    host_set_model(t.hp, 0, model_b);
    host_set_model(t.hp, 10, model_a);
    host_run(t.hp, 64);
    host_do_work(t.hp);
    /* b's load was overtaken by a's before the worker came to it: not read */
    assert_int_equal(t.hp->n_resp, 1);
    t.hp->queue_full = 1;
    host_deliver(t.hp);
    for (int i = 0; i < 3; i++) {
        host_begin(t.hp);
        host_run(t.hp, 64);
    }
    assert_int_equal(t.hp->n_work, 0);
    t.hp->queue_full = 0;
    host_begin(t.hp);
    host_run(t.hp, 64);
    assert_int_equal(t.hp->n_work, 1); /* the replaced model goes back to the worker */
    t.hp->hold = 0;
    host_do_work(t.hp);
    host_begin(t.hp);
    host_run(t.hp, 64);
    assert_string_equal(t.hp->model_path, model_a);

    t.hp->hold = 1;
    host_log_quiet = 1;
    host_begin(t.hp);
    for (int i = 0; i <= HOST_QUEUE; i++)
        host_set_model(t.hp, (uint32_t)i, i & 1 ? model_a : model_b);
    host_run(t.hp, 64);
    host_log_quiet = 0;
    assert_int_equal(t.hp->n_work, HOST_QUEUE); /* the last one found the queue full */
    assert_true(strncmp(t.hp->status, "error:", 6) == 0);
    t.hp->hold = 0;
    for (int i = 0; i < 3; i++) {
        host_begin(t.hp);
        host_run(t.hp, 64);
    }
    assert_string_equal(t.hp->model_path, model_a);
    close_plugin(t);
}

static const void *retrieve_model(LV2_State_Handle handle, uint32_t key, size_t *size,
                                  uint32_t *type, uint32_t *flags)
{
    if (key != host_map(NULL, RNNMIDI_URI "#model")) return NULL;
    *size = strlen(handle) + 1;
    *type = host_map(NULL, LV2_ATOM__Path);
    *flags = LV2_STATE_IS_POD | LV2_STATE_IS_PORTABLE;
    return handle;
}

/* A patch:Set load still in flight when restore() runs does not replace the
 * restored model when it arrives. */
static void test_restore_during_load(void **state)
{
    (void)state;
    inst_t t = open_plugin(48000);
    load_model(t, model_a);
    t.hp->hold = 1;
    host_begin(t.hp);
    host_set_model(t.hp, 0, model_b);
    host_run(t.hp, 64);
    host_do_work(t.hp); /* model b loaded, its response not yet delivered */
    const LV2_State_Interface *si = t.hp->desc->extension_data(LV2_STATE__interface);
    assert_non_null(si);
    assert_int_equal(si->restore(t.hp->h, retrieve_model, model_a, 0, t.hp->features),
                     LV2_STATE_SUCCESS);
    t.hp->hold = 0;
    host_deliver(t.hp);
    host_do_work(t.hp);
    for (int i = 0; i < 2; i++) {
        host_begin(t.hp);
        host_run(t.hp, 64);
    }
    assert_string_equal(t.hp->model_path, model_a);
    close_plugin(t);
}

/* Keys down at the end: per channel and pitch, a note-on leaves its key
 * down until a note-off; stray note-offs are not counted. */
static int keys_left_down(const host_plugin *hp, size_t from, int channel)
{
    static int down[16][128];
    memset(down, 0, sizeof down);
    int n = 0;
    for (size_t i = from; i < hp->n_ev; i++) {
        const host_ev *e = &hp->ev[i];
        int ch = e->d[0] & 15, p = e->d[1] & 127;
        if (channel >= 0 && ch != channel) continue;
        if (ev_on(e))
            down[ch][p] = 1;
        else if (ev_off(e))
            down[ch][p] = 0;
    }
    for (int c = 0; c < 16; c++)
        for (int p = 0; p < 128; p++)
            n += down[c][p];
    return n;
}

static size_t count_msg(const host_plugin *hp, size_t from, uint8_t status, uint8_t d1)
{
    size_t n = 0;
    for (size_t i = from; i < hp->n_ev; i++)
        if (hp->ev[i].d[0] == status && hp->ev[i].d[1] == d1) n++;
    return n;
}

/* Thru switched off while keys are held: each passed-on key still gets its
 * note-off, whatever happened to the mode, model and transport in between;
 * deactivate and a player's all-notes-off end the keys passed on; keys
 * pressed while thru was off send nothing, not even their note-off. */
static void test_thru_off_while_held(void **state)
{
    (void)state;
    inst_t t = open_plugin(48000);
    load_model(t, model_a);
    size_t first = t.hp->n_ev;
    t.hp->controls[RNNMIDI_THRU] = 1;
    host_begin(t.hp);
    host_position(t.hp, 0, 1, 120, 0, 0);
    host_midi(t.hp, 10, 0x92, 60, 100);
    host_midi(t.hp, 20, 0x92, 62, 100);
    host_midi(t.hp, 30, 0x92, 64, 100);
    host_run(t.hp, 256);
    assert_int_equal(count_msg(t.hp, first, 0x92, 60), 1);

    /* thru off; mode, model and transport change while the keys are down */
    t.hp->controls[RNNMIDI_THRU] = 0;
    t.hp->controls[RNNMIDI_MODE] = RNN_MODE_CALL_RESPONSE;
    host_begin(t.hp);
    host_midi(t.hp, 5, 0x92, 67, 100); /* pressed with thru off: never passed */
    host_set_model(t.hp, 0, model_b);
    host_position(t.hp, 100, 0, 120, 3, 0);
    host_run(t.hp, 256);
    host_begin(t.hp);
    host_midi(t.hp, 40, 0x82, 60, 0);
    host_midi(t.hp, 41, 0x92, 67, 0); /* note-on with velocity 0: a note-off */
    host_run(t.hp, 256);
    assert_int_equal(count_msg(t.hp, first, 0x82, 60), 1);
    assert_int_equal(count_msg(t.hp, first, 0x92, 67), 0);

    /* a player's all-notes-off on the channel ends the key still passed on */
    host_begin(t.hp);
    host_midi(t.hp, 7, 0xB2, 123, 0);
    host_run(t.hp, 256);
    assert_int_equal(count_msg(t.hp, first, 0x82, 62), 1);

    /* deactivate ends the last one at the next run */
    lilv_instance_deactivate(t.inst);
    lilv_instance_activate(t.inst);
    host_begin(t.hp);
    host_run(t.hp, 256);
    assert_int_equal(count_msg(t.hp, first, 0x82, 64), 1);
    assert_int_equal(keys_left_down(t.hp, first, 2), 0);

    /* and once ended, a late note-off from the player is not passed again */
    host_begin(t.hp);
    host_midi(t.hp, 0, 0x82, 64, 0);
    host_midi(t.hp, 0, 0x82, 62, 0);
    host_run(t.hp, 256);
    assert_int_equal(count_msg(t.hp, first, 0x82, 64), 1);
    assert_int_equal(count_msg(t.hp, first, 0x82, 62), 1);
    close_plugin(t);
}

/* A notify port much smaller than the plugin asks for, while the model
 * plays and the player floods chords through: every note-on that comes out
 * gets its note-off in the end, generated and passed-on notes alike. */
static void test_small_notify_note_offs(void **state)
{
    (void)state;
    for (int round = 0; round < 2; round++) {
        inst_t t = open_plugin(48000);
        load_model(t, model_a);
        t.hp->controls[RNNMIDI_THRU] = 1;
        t.hp->controls[RNNMIDI_DENSITY] = 0.9f;
        size_t first = t.hp->n_ev;
        for (int b = 0; b < 120; b++) {
            t.hp->out_size = round == 0 ? 640 + 8 * (uint32_t)(b % 40) : 2048;
            host_begin(t.hp);
            if (b == 0) host_position(t.hp, 0, 1, 120, 0, 0);
            /* a chord of 24 keys down, released in the next block after the next chord */
            for (int i = 0; i < 24; i++)
                host_midi(t.hp, (uint32_t)i, 0x93, (uint8_t)((b % 2 ? 40 : 70) + i), 90);
            for (int i = 0; i < 24 && b > 0; i++)
                host_midi(t.hp, (uint32_t)(1000 + i), 0x83, (uint8_t)((b % 2 ? 70 : 40) + i), 0);
            if (b == 60) t.hp->controls[RNNMIDI_THRU] = 0; /* keys down at a switch */
            if (b == 61) t.hp->controls[RNNMIDI_THRU] = 1;
            host_run(t.hp, 2048);
        }
        t.hp->out_size = 0;
        for (int b = 0; b < 8; b++) { /* stop, then let everything drain */
            host_begin(t.hp);
            if (b == 0) host_position(t.hp, 0, 0, 120, 0, 0);
            for (int i = 0; i < 24 && b == 0; i++) /* the last chord's keys up */
                host_midi(t.hp, (uint32_t)(1000 + i), 0x83, (uint8_t)(40 + i), 0);
            host_run(t.hp, 2048);
        }
        assert_int_equal(t.hp->malformed, 0);
        assert_true(ons_between(t.hp, 0, INT64_MAX) > 50);
        assert_int_equal(keys_left_down(t.hp, first, 3), 0);  /* passed on */
        assert_int_equal(keys_left_down(t.hp, first, -1), 0); /* generated too */
        close_plugin(t);
    }
}

/* The worker's response header as the plugin lays it out (WorkMsg). */
typedef struct {
    uint32_t type, size, gen;
    void *model;
} resp_head;

/* A model whose name is longer than the status: the response carries a
 * terminated, truncated status and no byte after it. */
/* A small GRU melody model named `name`, written to path. */
static void write_named_model(const char *path, const char *name)
{
    rnn_model *m = fixture_model(RNN_KIND_MELODY, RNN_CELL_GRU, 1, 0, 24, 5);
    assert_non_null(m);
    rnn_model_config cfg = {
        RNN_KIND_MELODY, 4, RNN_CELL_GRU, 1, 0, 24, rnn_kind_vocab(RNN_KIND_MELODY), 0, 0, 0, 0, 0, 0, 0};
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    int n = rnn_model_tensor_specs(&cfg, specs);
    assert_true(n > 0);
    const float *data[RNN_MAX_TENSORS];
    for (int i = 0; i < n; i++) {
        size_t count = 0;
        data[i] = rnn_model_tensor(m, specs[i].name, &count);
        assert_non_null(data[i]);
    }
    const rnn_meta meta[] = {{"name", name}};
    char err[256];
    assert_int_equal(rnn_model_write(path, &cfg, meta, 1, data, err, sizeof err), 0);
    rnn_model_free(m);
}

static void test_long_model_name(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof path, "%s/models/long-name.rnnw", tmpdir);
    static char name[1500];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = 0;
    write_named_model(path, name);

    inst_t t = open_plugin(48000);
    t.hp->hold = 1;
    host_begin(t.hp);
    host_set_model(t.hp, 0, path);
    host_run(t.hp, 64);
    host_do_work(t.hp);
    assert_int_equal(t.hp->n_resp, 1);
    const host_msg *r = &t.hp->resp_q[0];
    resp_head head;
    assert_true(r->size >= sizeof head);
    memcpy(&head, r->data, sizeof head);
    assert_int_equal(r->size, sizeof head + head.size);
    const char *text = (const char *)r->data + sizeof head;
    size_t lp = strnlen(text, head.size);
    assert_true(lp < head.size);
    assert_string_equal(text, path);
    size_t ls = strnlen(text + lp + 1, head.size - lp - 1);
    assert_int_equal(head.size, lp + 1 + ls + 1); /* nothing after the status's NUL */
    assert_true(ls > 100 && ls < 1024);
    assert_memory_equal(text + lp + 1, "loaded nnnn", 11);
    t.hp->hold = 0;
    host_deliver(t.hp);
    host_do_work(t.hp);
    host_begin(t.hp);
    host_run(t.hp, 64);
    assert_string_equal(t.hp->model_path, path);
    assert_memory_equal(t.hp->status, "loaded nnnn", 11);
    close_plugin(t);
    unlink(path);
}

/* A model path too long for the plugin is refused out loud: a status and a
 * log message, and the current model plays on. */

/* A preset's name is shown by the host as the status: a name holding
 * terminal escapes (a title change, a colour) reaches it without them. */
static void test_model_name_escapes(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof path, "%s/models/escapes.rnnw", tmpdir);
    write_named_model(path, "evil\x1b]0;pwn\x07\x1b[31m\xc2\x9bname");
    inst_t t = open_plugin(48000);
    host_begin(t.hp);
    host_set_model(t.hp, 0, path);
    host_run(t.hp, 64);
    host_do_work(t.hp);
    host_deliver(t.hp);
    host_begin(t.hp);
    host_run(t.hp, 64);
    assert_string_equal(t.hp->model_path, path);
    assert_memory_equal(t.hp->status, "loaded evil", 11);
    assert_null(strchr(t.hp->status, 0x1b));
    assert_null(strchr(t.hp->status, 0x07));
    assert_null(strstr(t.hp->status, "\xc2\x9b"));
    close_plugin(t);
    unlink(path);
}
static void test_path_too_long(void **state)
{
    (void)state;
    inst_t t = open_plugin(48000);
    load_model(t, model_a);
    static char path[5000];
    memset(path, 'p', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = 0;
    int errors0 = host_log_errors;
    host_log_quiet = 1;
    host_begin(t.hp);
    host_set_model(t.hp, 0, path);
    host_run(t.hp, 64);
    host_begin(t.hp);
    host_run(t.hp, 64);
    host_log_quiet = 0;
    assert_true(strncmp(t.hp->status, "error:", 6) == 0);
    assert_non_null(strstr(t.hp->status, "4095"));
    assert_true(host_log_errors > errors0);
    assert_string_equal(t.hp->model_path, model_a);
    close_plugin(t);
}

/* Ask for the model path through patch:Get. */
static void get_model(inst_t t)
{
    LV2_Atom_Forge *f = &t.hp->forge;
    LV2_Atom_Forge_Frame obj;
    t.hp->model_path[0] = 0;
    host_begin(t.hp);
    lv2_atom_forge_frame_time(f, 0);
    lv2_atom_forge_object(f, &obj, 0, host_map(NULL, LV2_PATCH__Get));
    lv2_atom_forge_pop(f, &obj);
    host_run(t.hp, 256);
}

/* restore() with the worker offered in its features (state:threadSafeRestore)
 * loads in the worker: restore returns before the model is read, run() goes
 * on with the current model meanwhile, and the restored one is swapped in
 * once the worker answers. Without a worker in its features, restore()
 * loads the model itself. */
static void test_thread_safe_restore(void **state)
{
    (void)state;
    inst_t t = open_plugin(48000);
    load_model(t, model_a);
    const LV2_State_Interface *si = t.hp->desc->extension_data(LV2_STATE__interface);
    assert_non_null(si);
    const LV2_Feature tsr = {LV2_STATE__threadSafeRestore, NULL};
    const LV2_Feature *with_worker[] = {&t.hp->f_map, &t.hp->f_sched, &t.hp->f_log, &tsr, NULL};
    t.hp->hold = 1;
    assert_int_equal(si->restore(t.hp->h, retrieve_model, model_b, 0, with_worker),
                     LV2_STATE_SUCCESS);
    assert_int_equal(t.hp->n_work, 1); /* the load waits for the worker */
    size_t first = t.hp->n_ev;
    host_begin(t.hp);
    host_position(t.hp, 0, 1, 120, 0, 0);
    host_run(t.hp, 256);
    for (int i = 0; i < 100; i++) { /* the worker is slow: a second of audio */
        host_begin(t.hp);
        host_run(t.hp, 480);
    }
    assert_true(ons_between(t.hp, 0, INT64_MAX) > 0 && t.hp->n_ev > first);
    get_model(t);
    assert_string_equal(t.hp->model_path, model_a);
    t.hp->hold = 0;
    host_do_work(t.hp);
    host_deliver(t.hp);
    host_do_work(t.hp);
    get_model(t);
    assert_string_equal(t.hp->model_path, model_b);
    assert_string_equal(t.hp->status, "loaded test fixture (random weights, not a model)");

    /* no worker offered: restore() itself loads */
    const LV2_Feature *no_worker[] = {&t.hp->f_map, &t.hp->f_log, NULL};
    assert_int_equal(si->restore(t.hp->h, retrieve_model, model_a, 0, no_worker),
                     LV2_STATE_SUCCESS);
    assert_int_equal(t.hp->n_work, 0);
    t.hp->hold = 1;
    get_model(t);
    assert_string_equal(t.hp->model_path, model_a);
    t.hp->hold = 0;
    host_do_work(t.hp);
    close_plugin(t);
}

/* A session whose model path names a FIFO (or a folder) must not freeze the
 * host in restore() or the worker: the file is refused at once, the status
 * says why, and the model that played plays on. alarm() turns a hang into a
 * failure. */
static void test_restore_fifo(void **state)
{
    (void)state;
    char fifo[400], dir[400];
    snprintf(fifo, sizeof fifo, "%s/models/session.fifo", tmpdir);
    snprintf(dir, sizeof dir, "%s/models", tmpdir);
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    inst_t t = open_plugin(48000);
    load_model(t, model_a);
    const LV2_State_Interface *si = t.hp->desc->extension_data(LV2_STATE__interface);
    assert_non_null(si);
    alarm(20);
    const char *bad[] = {fifo, dir, "/dev/zero"};
    for (int i = 0; i < 3; i++) {
        /* no worker offered: restore() reads the file itself */
        const LV2_Feature *no_worker[] = {&t.hp->f_map, &t.hp->f_log, NULL};
        assert_int_not_equal(si->restore(t.hp->h, retrieve_model, (void *)bad[i], 0, no_worker),
                             LV2_STATE_SUCCESS);
        get_model(t);
        assert_string_equal(t.hp->model_path, model_a);
        assert_memory_equal(t.hp->status, "error: ", 7);
        assert_non_null(strstr(t.hp->status, bad[i]));
        /* with a worker: the worker refuses it */
        const LV2_Feature *with_worker[] = {&t.hp->f_map, &t.hp->f_sched, &t.hp->f_log, NULL};
        si->restore(t.hp->h, retrieve_model, (void *)bad[i], 0, with_worker);
        host_do_work(t.hp);
        host_deliver(t.hp);
        host_begin(t.hp);
        host_run(t.hp, 64);
        get_model(t);
        assert_string_equal(t.hp->model_path, model_a);
        assert_memory_equal(t.hp->status, "error: ", 7);
        assert_non_null(strstr(t.hp->status, bad[i]));
    }
    alarm(0);
    close_plugin(t);
    unlink(fifo);
}

/* save() runs beside run() and work_response(): two loads that finish while
 * the host is still reading the saved path (here, inside its map_path
 * callback) leave what save handed over unchanged. */
static host_plugin *saving;
static char *abstract_during_loads(LV2_State_Map_Path_Handle handle, const char *absolute)
{
    (void)handle;
    size_t n = strlen(absolute), half = n / 2;
    char *copy = malloc(4200);
    if (!copy) return NULL;
    memcpy(copy, absolute, half);
    for (int i = 0; i < 2; i++) { /* the audio thread meanwhile: two loads finish */
        host_begin(saving);
        host_set_model(saving, 0, i == 0 ? model_b : model_long);
        host_run(saving, 64);
    }
    snprintf(copy + half, 4200 - half, "%s", absolute + half);
    return copy;
}

static char *absolute_same(LV2_State_Map_Path_Handle handle, const char *abstract)
{
    (void)handle;
    return strdup(abstract);
}

static char stored_path[4200];
static LV2_State_Status store_path(LV2_State_Handle handle, uint32_t key, const void *value,
                                   size_t size, uint32_t type, uint32_t flags)
{
    (void)handle, (void)type, (void)flags;
    if (key == host_map(NULL, RNNMIDI_URI "#model"))
        snprintf(stored_path, sizeof stored_path, "%.*s", (int)size, (const char *)value);
    return LV2_STATE_SUCCESS;
}

static void test_save_during_loads(void **state)
{
    (void)state;
    inst_t t = open_plugin(48000);
    load_model(t, model_a);
    const LV2_State_Interface *si = t.hp->desc->extension_data(LV2_STATE__interface);
    LV2_State_Map_Path mp = {NULL, abstract_during_loads, absolute_same};
    const LV2_Feature fmp = {LV2_STATE__mapPath, &mp};
    const LV2_Feature *features[] = {&t.hp->f_map, &fmp, NULL};
    saving = t.hp;
    host_log_quiet = 1;
    assert_int_equal(si->save(t.hp->h, store_path, NULL, 0, features), LV2_STATE_SUCCESS);
    host_log_quiet = 0;
    assert_string_equal(stored_path, model_a);
    host_begin(t.hp);
    host_run(t.hp, 64);
    assert_string_equal(t.hp->model_path, model_long);
    close_plugin(t);
}

/* save() on one thread while loads keep finishing on another, the audio
 * thread and the worker in turn (patch:Set in run(), the load, its response;
 * three paths of different lengths in turn): every saved path is one of them
 * whole, never a mix. */
typedef struct {
    host_plugin *hp;
    atomic_int stop;
    atomic_long swaps;
} swapper_t;

static void *swapper(void *arg)
{
    swapper_t *sw = arg;
    const char *const paths[3] = {model_b, model_long, model_a};
    while (!atomic_load(&sw->stop)) {
        host_begin(sw->hp);
        host_set_model(sw->hp, 0, paths[atomic_load(&sw->swaps) % 3]);
        host_run(sw->hp, 64); /* then the worker, then its response */
        atomic_fetch_add(&sw->swaps, 1);
    }
    return NULL;
}

/* store_path, reading the value in two halves with a yield between them:
 * a host's store copies at its own pace. */
static LV2_State_Status store_path_slowly(LV2_State_Handle handle, uint32_t key, const void *value,
                                          size_t size, uint32_t type, uint32_t flags)
{
    (void)handle, (void)type, (void)flags;
    if (key != host_map(NULL, RNNMIDI_URI "#model") || size > sizeof stored_path) return 0;
    memcpy(stored_path, value, size / 2);
    sched_yield();
    memcpy(stored_path + size / 2, (const char *)value + size / 2, size - size / 2);
    stored_path[size - 1] = 0;
    return LV2_STATE_SUCCESS;
}

static void test_save_beside_loads(void **state)
{
    (void)state;
    inst_t t = open_plugin(48000);
    load_model(t, model_a);
    swapper_t sw = {t.hp, 0, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, swapper, &sw), 0);
    const LV2_State_Interface *si = t.hp->desc->extension_data(LV2_STATE__interface);
    const LV2_Feature *features[] = {&t.hp->f_map, NULL};
    int torn = 0, saves = 0;
    for (; saves < 5000 || (atomic_load(&sw.swaps) <= 1000 && saves < 50000000); saves++) {
        stored_path[0] = 0;
        if (si->save(t.hp->h, store_path_slowly, NULL, 0, features) != LV2_STATE_SUCCESS) continue;
        if (strcmp(stored_path, model_a) && strcmp(stored_path, model_b) &&
            strcmp(stored_path, model_long))
            torn++;
    }
    atomic_store(&sw.stop, 1);
    pthread_join(th, NULL);
    print_message("%d saves beside %ld swaps: %d torn\n", saves, atomic_load(&sw.swaps), torn);
    assert_true(atomic_load(&sw.swaps) > 1000);
    assert_int_equal(torn, 0);
    close_plugin(t);
}

/* A conditioned preset through patch:Set, in 3/4, in `mode`, with (chords)
 * or without the player's chords of 3 notes, one a bar through bars 1 to 3
 * (the call of call-and-response), then a stop after 8 bars.
 * Returns the note-ons played (frames from s0, in *ev). */
static size_t cond_run(int mode, int chords, host_ev **ev)
{
    char path[PATH_MAX];
    assert_non_null(realpath("tests/golden/cond_lstm_e0_l1.rnnw", path));
    inst_t t = open_plugin(48000);
    host_begin(t.hp);
    host_position(t.hp, 0, 0, 120, 0, 0);
    host_set_model(t.hp, 0, path);
    host_run(t.hp, 64);
    host_begin(t.hp);
    host_run(t.hp, 64);
    assert_string_equal(t.hp->model_path, path);
    assert_string_equal(t.hp->status, "loaded golden cond_lstm_e0_l1");
    t.hp->controls[RNNMIDI_MODE] = (float)mode;
    t.hp->controls[RNNMIDI_SEED] = 3;
    t.hp->controls[RNNMIDI_CHANNEL] = 2;
    t.hp->controls[RNNMIDI_LISTEN_GAP] = 1;
    t.hp->controls[RNNMIDI_DENSITY] = 0.9f;
    const int64_t s0 = t.hp->pos, bar = 12 * 6000; /* 3/4 at 120: 12 steps of 6000 frames */
    cue cues[64];
    size_t n = 0;
    cues[n++] = (cue){s0, 4, 0, {0}};
    static const uint8_t chord[4][3] = {{60, 64, 67}, {57, 60, 64}, {53, 57, 60}, {55, 59, 62}};
    for (int b = 1; chords && b < 4; b++)
        for (int i = 0; i < 3; i++) {
            const uint8_t p = chord[b][i];
            cues[n++] = (cue){s0 + b * bar + 100 + i, 3, 0, {0x90, p, 90}};
            cues[n++] = (cue){s0 + (b + 1) * bar - 3000 + i, 3, 0, {0x80, p, 0}};
        }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && cues[j].frame < cues[j - 1].frame; j--) {
            cue c = cues[j];
            cues[j] = cues[j - 1];
            cues[j - 1] = c;
        }
    cues[n++] = (cue){s0 + 8 * bar, 2, 0, {0}};
    const size_t first = t.hp->n_ev;
    play(t, 48000, s0 + 8 * bar + 48000, 91, cues, n);
    assert_int_equal(pairs(t.hp, first), 0);
    size_t ons = 0;
    *ev = malloc((t.hp->n_ev - first + 1) * sizeof **ev);
    assert_non_null(*ev);
    for (size_t i = first; i < t.hp->n_ev; i++) {
        const host_ev *e = &t.hp->ev[i];
        if ((e->d[0] & 15) != 1 || !ev_on(e)) continue; /* thru is off: all output is ours */
        assert_true(e->frame < s0 + 8 * bar);
        if (!grid_ok(e->frame, s0, 6000))
            fail_msg("note-on at %lld off the grid", (long long)(e->frame - s0));
        (*ev)[ons] = *e;
        (*ev)[ons++].frame -= s0;
    }
    close_plugin(t);
    return ons;
}

static void test_conditioned_preset(void **state)
{
    (void)state;
    const int64_t bar = 12 * 6000;
    host_ev *with, *without, *ev;
    /* accompany: plays all along, and the chords change what it plays */
    size_t n_with = cond_run(RNN_MODE_ACCOMPANY, 1, &with);
    size_t n_without = cond_run(RNN_MODE_ACCOMPANY, 0, &without);
    assert_true(n_with > 12);
    assert_true(n_without > 12);
    assert_false(same_events(with, n_with, without, n_without));
    free(with);
    free(without);
    /* continue: it continues after the call (bars 1..3) */
    size_t n = cond_run(RNN_MODE_CONTINUE, 1, &ev);
    assert_true(n > 0);
    assert_true(ev[0].frame >= 4 * bar);
    free(ev);
    /* call and response: the answer starts on a bar line after the call */
    n = cond_run(RNN_MODE_CALL_RESPONSE, 1, &ev);
    assert_true(n > 0);
    assert_true(ev[0].frame >= 4 * bar);
    assert_int_equal(ev[0].frame % bar, 0);
    free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_rates),
        cmocka_unit_test(test_reduced_presets),
        cmocka_unit_test(test_call_response),
        cmocka_unit_test(test_call_response_in_3_4),
        cmocka_unit_test(test_conditioned_preset),
        cmocka_unit_test(test_same_seed),
        cmocka_unit_test(test_save_restore),
        cmocka_unit_test(test_swap_corrupt_jump_flood),
        cmocka_unit_test(test_audio_input),
        cmocka_unit_test(test_audio_switched_off_mid_note),
        cmocka_unit_test(test_small_notify_buffer),
        cmocka_unit_test(test_events_past_block_end),
        cmocka_unit_test(test_loads_while_queue_full),
        cmocka_unit_test(test_restore_during_load),
        cmocka_unit_test(test_thru_off_while_held),
        cmocka_unit_test(test_small_notify_note_offs),
        cmocka_unit_test(test_long_model_name),
        cmocka_unit_test(test_model_name_escapes),
        cmocka_unit_test(test_path_too_long),
        cmocka_unit_test(test_thread_safe_restore),
        cmocka_unit_test(test_restore_fifo),
        cmocka_unit_test(test_save_during_loads),
        cmocka_unit_test(test_save_beside_loads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
