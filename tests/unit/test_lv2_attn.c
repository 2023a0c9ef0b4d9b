/* SPDX-License-Identifier: MIT */
/* An attention preset (format v2: the golden attn_lstm_e16_l2, an LSTM with
 * attention over its last 16 outputs, random weights from PyTorch) in the
 * LV2 bundle as a DAW drives it: lilv finds build/rnnmidi.lv2, the preset
 * comes in through patch:Set and the worker, and the host rolls 4/4 at 120
 * BPM with blocks of 1..8192 frames. In each mode it plays on the grid and
 * ends every note; continue and call-and-response answer the player's
 * phrase after it (call-and-response from a bar line); the same seed plays
 * the same notes whatever the blocks; and in accompany the plugin plays
 * exactly what core/engine plays when driven directly with the same
 * settings, so the net the plugin swapped in is the attention net the
 * engine tests check against the core. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lilv/lilv.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/engine.h"
#include "../support/engine_fixture.h"
#include "../support/lv2/lilv_bundle.h"
#include "../support/lv2/lv2_host.h"

#define PRESET "attn_lstm_e16_l2"
#define FPS 6000 /* frames a step at 120 BPM, 4 steps a quarter, 48 kHz */
#define BAR (16 * FPS)
#define RUN (8 * BAR)

static LilvWorld *world;
static const LilvPlugin *plugin;
static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    if (lilv_bundle_dir(tmpdir, sizeof tmpdir, "lv2", "/usr/lib/lv2")) return -1;
    plugin = lilv_bundle_world(&world);
    return plugin ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return lilv_bundle_free(world, tmpdir);
}

/* The player's phrase: 6 notes through bar 1, the last released at step 30. */
typedef struct {
    int64_t frame;
    uint8_t d[3];
} cue;
static const cue phrase[] = {
    {16 * FPS + 100, {0x90, 60, 90}}, {18 * FPS, {0x80, 60, 0}},
    {19 * FPS + 50, {0x90, 64, 90}},  {21 * FPS, {0x80, 64, 0}},
    {22 * FPS, {0x90, 67, 90}},       {24 * FPS + 10, {0x80, 67, 0}},
    {24 * FPS + 20, {0x90, 65, 90}},  {26 * FPS, {0x80, 65, 0}},
    {27 * FPS, {0x90, 62, 90}},       {28 * FPS, {0x80, 62, 0}},
    {28 * FPS + 5, {0x90, 60, 90}},   {30 * FPS, {0x80, 60, 0}},
};
#define N_PHRASE (sizeof phrase / sizeof *phrase)

typedef struct {
    host_ev ev[4096];
    size_t n;
} capture;

static int is_on(const uint8_t *d)
{
    return (d[0] & 0xF0) == 0x90 && d[2] > 0;
}

/* Load the preset, roll from bar 0 in `mode` with the phrase (with_phrase)
 * for RUN frames in blocks of `fixed` (0: any size), then stop; the output
 * from the start (frames from it) into *c. */
static void plugin_run(int mode, int with_phrase, uint32_t fixed, capture *c)
{
    char path[PATH_MAX];
    assert_non_null(realpath("tests/golden/" PRESET ".rnnw", path));
    host_plugin *hp = host_new();
    assert_non_null(hp);
    LilvInstance *inst = lilv_plugin_instantiate(plugin, 48000, hp->features);
    assert_non_null(inst);
    host_attach(hp, lilv_instance_get_descriptor(inst), lilv_instance_get_handle(inst));
    lilv_instance_activate(inst);
    host_begin(hp);
    host_position(hp, 0, 0, 120, 0, 0);
    host_set_model(hp, 0, path);
    host_run(hp, 64);
    host_begin(hp);
    host_run(hp, 64);
    assert_string_equal(hp->model_path, path);
    assert_string_equal(hp->status, "loaded golden " PRESET);
    hp->controls[RNNMIDI_MODE] = (float)mode;
    hp->controls[RNNMIDI_SEED] = 11;
    hp->controls[RNNMIDI_THRU] = 0;
    const int64_t s0 = hp->pos;
    const size_t first = hp->n_ev;
    uint64_t s = 5;
    size_t ci = 0;
    while (hp->pos < s0 + RUN + 48000) {
        uint32_t n = fixed ? fixed : fixture_block(&s, 20, 8192);
        if (hp->pos + n > s0 + RUN + 48000) n = (uint32_t)(s0 + RUN + 48000 - hp->pos);
        host_begin(hp);
        if (hp->pos == s0) host_position(hp, 0, 1, 120, 0, 0);
        if (hp->pos <= s0 + RUN && s0 + RUN < hp->pos + n)
            host_position(hp, (uint32_t)(s0 + RUN - hp->pos), 0, 120, 8, 0);
        while (with_phrase && ci < N_PHRASE && s0 + phrase[ci].frame < hp->pos + n) {
            host_midi(hp, (uint32_t)(s0 + phrase[ci].frame - hp->pos), phrase[ci].d[0],
                      phrase[ci].d[1], phrase[ci].d[2]);
            ci++;
        }
        host_run(hp, n);
    }
    c->n = 0;
    int down[16][128] = {{0}};
    for (size_t i = first; i < hp->n_ev; i++) {
        host_ev e = hp->ev[i];
        e.frame -= s0;
        const int ch = e.d[0] & 15, p = e.d[1] & 127;
        if (is_on(e.d)) {
            assert_true(e.frame < RUN);
            if (e.frame % FPS != 0)
                fail_msg("note-on at frame %lld off the grid", (long long)e.frame);
            assert_int_equal(down[ch][p], 0);
            down[ch][p] = 1;
        } else if ((e.d[0] & 0xF0) == 0x80) {
            assert_int_equal(down[ch][p], 1);
            down[ch][p] = 0;
        }
        assert_true(c->n < sizeof c->ev / sizeof *c->ev);
        c->ev[c->n++] = e;
    }
    for (int ch = 0; ch < 16; ch++)
        for (int p = 0; p < 128; p++)
            assert_int_equal(down[ch][p], 0);
    lilv_instance_deactivate(inst);
    lilv_instance_free(inst);
    host_free(hp);
}

static size_t ons(const capture *c, int64_t *first)
{
    size_t n = 0;
    *first = -1;
    for (size_t i = 0; i < c->n; i++)
        if (is_on(c->ev[i].d)) {
            if (*first < 0) *first = c->ev[i].frame;
            n++;
        }
    return n;
}

static int same(const capture *a, const capture *b)
{
    if (a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->ev[i].frame != b->ev[i].frame || memcmp(a->ev[i].d, b->ev[i].d, 3)) return 0;
    return 1;
}

static void test_modes(void **state)
{
    (void)state;
    static capture c, d;
    int64_t first;
    /* accompany: from the start, and the same whatever the blocks */
    plugin_run(RNN_MODE_ACCOMPANY, 1, 64, &c);
    assert_true(ons(&c, &first) > 16);
    assert_int_equal(first, 0);
    plugin_run(RNN_MODE_ACCOMPANY, 1, 0, &d);
    assert_true(same(&c, &d));
    plugin_run(RNN_MODE_ACCOMPANY, 1, 8192, &d);
    assert_true(same(&c, &d));
    /* continue: after the phrase and the 2-beat gap (step 30 + 8) */
    plugin_run(RNN_MODE_CONTINUE, 1, 0, &c);
    assert_true(ons(&c, &first) > 0);
    assert_true(first >= 38 * FPS);
    /* call and response: from the next bar line, bar 3 */
    plugin_run(RNN_MODE_CALL_RESPONSE, 1, 1, &c);
    assert_true(ons(&c, &first) > 0);
    assert_true(first >= 3 * BAR);
    plugin_run(RNN_MODE_CALL_RESPONSE, 1, 0, &d);
    assert_true(same(&c, &d));
    /* without a phrase they stay silent */
    plugin_run(RNN_MODE_CALL_RESPONSE, 0, 0, &c);
    assert_int_equal(ons(&c, &first), 0);
}

/* The plugin's accompaniment is core/engine's on the same preset. */
static void test_plugin_is_engine(void **state)
{
    (void)state;
    static capture c;
    plugin_run(RNN_MODE_ACCOMPANY, 0, 64, &c);
    char err[256];
    rnn_engine *e = rnn_engine_create(48000, 8192, err, sizeof err);
    assert_non_null(e);
    rnn_engine_model *em =
        rnn_engine_model_prepare("tests/golden/" PRESET ".rnnw", err, sizeof err);
    if (!em) fail_msg("%s", err);
    assert_true(rnn_model_get_config(rnn_engine_model_get(em))->attn_window == 16);
    assert_null(rnn_engine_set_model(e, em));
    rnn_engine_set_param(e, RNN_PARAM_MODE, RNN_MODE_ACCOMPANY);
    rnn_engine_set_param(e, RNN_PARAM_SEED, 11);
    rnn_engine_set_param(e, RNN_PARAM_THRU, 0);
    rnn_transport t = {0};
    t.flags = RNN_TRANSPORT_SPEED | RNN_TRANSPORT_BBT | RNN_TRANSPORT_TEMPO | RNN_TRANSPORT_METER;
    t.speed = 1;
    t.bpm = 120;
    t.beats_per_bar = 4;
    t.beat_unit = 4;
    static rnn_engine_event out[1024];
    size_t j = 0, n_on = 0;
    for (int64_t pos = 0; pos < RUN; pos += 64) {
        uint32_t no = rnn_engine_run(e, 64, NULL, 0, pos == 0 ? &t : NULL, pos == 0, out, 1024);
        for (uint32_t i = 0; i < no; i++) {
            if (!is_on(out[i].data)) continue;
            while (j < c.n && !is_on(c.ev[j].d))
                j++;
            assert_true(j < c.n);
            assert_int_equal(c.ev[j].frame, pos + out[i].frame);
            assert_memory_equal(c.ev[j].d, out[i].data, 3);
            j++, n_on++;
        }
    }
    assert_true(n_on > 16);
    rnn_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_plugin_is_engine),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
