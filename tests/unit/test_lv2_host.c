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
 * The models are random-weight fixtures written by the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <lilv/lilv.h>
#include <lv2/state/state.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/engine.h"
#include "engine_fixture.h"
#include "lv2_host.h"

static LilvWorld *world;
static const LilvPlugin *plugin;
static char tmpdir[256];
static char model_a[300], model_b[300], model_bad[300];

static int setup(void **state)
{
    (void)state;
    char cwd[1024];
    if (!getcwd(cwd, sizeof cwd)) return -1;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rnnmidi-lv2-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    /* LV2_PATH holds only the bundle (build/ holds other things too) */
    char link[600], target[1100];
    snprintf(link, sizeof link, "%s/lv2", tmpdir);
    if (mkdir(link, 0700)) return -1;
    snprintf(link, sizeof link, "%s/lv2/rnnmidi.lv2", tmpdir);
    snprintf(target, sizeof target, "%s/build/rnnmidi.lv2", cwd);
    if (symlink(target, link)) return -1;
    char path[700];
    snprintf(path, sizeof path, "%s/lv2:/usr/lib/lv2", tmpdir);
    setenv("LV2_PATH", path, 1);

    /* the models live beside LV2_PATH's folder, not in it */
    snprintf(model_a, sizeof model_a, "%s/models", tmpdir);
    if (mkdir(model_a, 0700)) return -1;
    snprintf(model_a, sizeof model_a, "%s/models/melody-a.rnnw", tmpdir);
    snprintf(model_b, sizeof model_b, "%s/models/melody-b.rnnw", tmpdir);
    snprintf(model_bad, sizeof model_bad, "%s/models/corrupt.rnnw", tmpdir);
    if (fixture_build(RNN_KIND_MELODY, RNN_CELL_LSTM, 2, 16, 48, 21, model_a, NULL, NULL))
        return -1;
    if (fixture_build(RNN_KIND_MELODY, RNN_CELL_GRU, 1, 0, 40, 22, model_b, NULL, NULL)) return -1;
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

    /* Keep the plugin mapped after lilv unloads it, so that LeakSanitizer can
     * still see what the plugin's libraries (aubio's FFT plans) keep in their
     * statics instead of reporting it as leaked at exit. */
    char so[1200];
    snprintf(so, sizeof so, "%s/rnnmidi.so", target);
    if (!dlopen(so, RTLD_NOW | RTLD_NODELETE)) return -1;

    world = lilv_world_new();
    lilv_world_load_all(world);
    LilvNode *uri = lilv_new_uri(world, RNNMIDI_URI);
    plugin = lilv_plugins_get_by_uri(lilv_world_get_all_plugins(world), uri);
    lilv_node_free(uri);
    return plugin ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    lilv_world_free(world);
    host_free_uris();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
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
    int kind; /* 0 none, 1 roll from here at `bar`, 2 stop, 3 MIDI */
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
static void grid_run(double rate)
{
    inst_t t = open_plugin(rate);
    load_model(t, model_a);
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
static const void *get_value(const char *symbol, void *user, uint32_t *size, uint32_t *type)
{
    host_plugin *hp = user;
    static float v;
#define SYM(E, sym, ...)                                                                           \
    if (!strcmp(symbol, sym)) v = hp->controls[RNNMIDI_##E];
    RNNMIDI_CONTROLS(SYM)
#undef SYM
    *size = sizeof v;
    *type = host_map(NULL, LV2_ATOM__Float);
    return &v;
}

static void set_value(const char *symbol, void *user, const void *value, uint32_t size,
                      uint32_t type)
{
    host_plugin *hp = user;
    if (type != host_map(NULL, LV2_ATOM__Float) || size != sizeof(float)) return;
#define SYM(E, sym, ...)                                                                           \
    if (!strcmp(symbol, sym)) hp->controls[RNNMIDI_##E] = *(const float *)value;
    RNNMIDI_CONTROLS(SYM)
#undef SYM
}

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
                                                 get_value, a.hp, 0, a.hp->features);
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
    lilv_state_restore(loaded, b.inst, set_value, b.hp, 0, b.hp->features);
    lilv_state_free(loaded);
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
    assert_int_equal(t.hp->n_resp, 2);
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
    assert_int_equal(t.hp->n_work, 2); /* both models go back to the worker */
    t.hp->hold = 0;
    host_do_work(t.hp);
    host_begin(t.hp);
    host_run(t.hp, 64);
    assert_string_equal(t.hp->model_path, model_a);

    t.hp->hold = 1;
    host_log_quiet = 1;
    host_begin(t.hp);
    for (int i = 0; i < HOST_QUEUE; i++)
        host_set_model(t.hp, (uint32_t)i, i & 1 ? model_a : model_b);
    host_run(t.hp, 64);
    host_log_quiet = 0;
    assert_true(t.hp->n_work < HOST_QUEUE);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_rates),
        cmocka_unit_test(test_call_response),
        cmocka_unit_test(test_same_seed),
        cmocka_unit_test(test_save_restore),
        cmocka_unit_test(test_swap_corrupt_jump_flood),
        cmocka_unit_test(test_audio_input),
        cmocka_unit_test(test_audio_switched_off_mid_note),
        cmocka_unit_test(test_small_notify_buffer),
        cmocka_unit_test(test_events_past_block_end),
        cmocka_unit_test(test_loads_while_queue_full),
        cmocka_unit_test(test_restore_during_load),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
