/* SPDX-License-Identifier: MIT */
/* The demo's --harmony, through its own objects (plugin/demo/song.c and the
 * session) on a random-weight fixture melody preset: the song
 * tests/fixtures/midi/meters.mid (3/4, 6/8, 7/8, then 4/4 at 120 BPM, a
 * melody over chords) becomes the player's notes and the positions a DAW
 * playing it would send, and the engine the session runs then has, at each
 * step, the metric columns rnn_cond_metric_file gives for the file and the
 * harmony rnn_cond_harmony_file gives for a line over the file's parts. The
 * positions themselves agree with the file's meter map. The same with a
 * version 2 preset (the golden cond_lstm_e0_l1, metric and harmony), whose
 * net steps with those columns and plays. The sanitizer-built rnnmidi-demo
 * renders with --harmony (the fixture and the conditioned preset: sound)
 * and refuses it beside --primer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/condition.h"
#include "../../core/midifile.h"
#include "../../plugin/demo/demo.h"
#include "../../plugin/demo/song.h"
#include "../support/demo/demo_fixture.h"

#define SONG "tests/fixtures/midi/meters.mid"
#define SPQ 4
#define RATE 48000.0

static char dir[256], mel[512];

static int setup(void **state)
{
    (void)state;
    if (fx_tmpdir(dir, sizeof dir, "demo-harmony")) return -1;
    snprintf(mel, sizeof mel, "%s/melody.rnnw", dir);
    return fx_write_model(mel, RNN_KIND_MELODY, RNN_CELL_LSTM, 21);
}

static int teardown(void **state)
{
    (void)state;
    fx_rmtree(dir);
    return 0;
}

static void read_song(rnn_midi_file *mf)
{
    char err[512];
    assert_int_equal(rnn_midi_read_path(SONG, NULL, NULL, mf, err, sizeof err), 0);
    assert_true(mf->n_meters >= 4);
}

/* Each position's bar and beat is where the file's meter map puts its tick. */
static void test_positions_follow_the_meter_map(void **state)
{
    (void)state;
    rnn_midi_file mf;
    read_song(&mf);
    size_t n = 0;
    demo_position *pos = demo_song_positions(&mf, RATE, &n);
    assert_non_null(pos);
    assert_true(n >= 4);
    for (size_t i = 0; i < n; i++) {
        const rnn_transport *t = &pos[i].t;
        /* the tick, back from the frame at the file's 120 BPM */
        const int64_t tick = llround((double)pos[i].frame / RATE * 2 * mf.ppq);
        const int64_t step = tick * SPQ / mf.ppq;
        assert_int_equal(step * mf.ppq, tick * SPQ); /* the fixture's changes lie on steps */
        rnn_metric_pos want, got;
        assert_int_equal(rnn_cond_metric_file(mf.meters, mf.n_meters, mf.ppq, SPQ, step, &want), 0);
        assert_int_equal(
            rnn_cond_metric_host(t->bar_beat, (int)t->beat_unit, t->beats_per_bar, SPQ, &got), 0);
        assert_memory_equal(&want, &got, sizeof want);
        assert_true(fabs(t->bpm * 4 / t->beat_unit - 120) < 1e-9);
        if (i) assert_true(pos[i].frame > pos[i - 1].frame);
    }
    free(pos);
    rnn_midi_free(&mf);
}

#define COND_MODEL "tests/golden/cond_lstm_e0_l1.rnnw"

/* The session over the song with the preset at path (conditioned: a
 * version 2 preset that must take the columns and play). */
static void hear_song(const char *path, int conditioned)
{
    rnn_midi_file mf;
    read_song(&mf);
    char err[512];
    demo_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.sample_rate = RATE;
    cfg.max_block = 512;
    cfg.seed = 5;
    cfg.n_parts = 1;
    cfg.models[0] = rnn_engine_model_prepare(path, err, sizeof err);
    if (!cfg.models[0]) fail_msg("%s", err);
    assert_int_equal(rnn_engine_model_conditions(cfg.models[0]),
                     conditioned ? RNN_ENGINE_COND_METRIC | RNN_ENGINE_COND_HARMONY : 0);
    size_t n_ev = 0, n_pos = 0;
    demo_event *ev = demo_song_notes(&mf, RATE, 1, &n_ev);
    demo_position *pos = demo_song_positions(&mf, RATE, &n_pos);
    assert_non_null(ev);
    assert_non_null(pos);
    cfg.primer = ev;
    cfg.n_primer = n_ev;
    cfg.positions = pos;
    cfg.n_positions = n_pos;
    cfg.params[RNN_PARAM_MODE] = RNN_MODE_ACCOMPANY;
    cfg.param_set[RNN_PARAM_MODE] = 1;
    demo_session *s = demo_session_create(&cfg, err, sizeof err);
    if (!s) fail_msg("%s", err);
    free(ev);
    free(pos);

    /* the song's harmony around a line of its own (track 99: no part of it) */
    const int steps = 72;
    int32_t none[72] = {0};
    rnn_seq line = {none, (size_t)steps, 0, 99, 0, NULL, NULL, NULL};
    uint16_t harmony[72];
    assert_int_equal(
        rnn_cond_harmony_file(mf.notes, mf.n_notes, mf.ppq, SPQ, &line, harmony, err, sizeof err),
        0);

    static float in[500], out[1000];
    static demo_event drained[4096];
    const int mc = rnn_cond_metric_columns(SPQ);
    int64_t last = -1;
    int checked = 0, chords = 0;
    for (int b = 0; b < steps * 6000 / 500; b++) {
        demo_session_process(s, in, out, 500);
        demo_session_drain(s, drained, 4096);
        rnn_engine_cond c;
        float cols[RNN_ENGINE_COND_MAX], want[RNN_ENGINE_COND_MAX];
        if (demo_session_part_cond(s, 0, &c, cols) == 0 || c.step == last) continue;
        assert_true(c.step == last + 1);
        last = c.step;
        rnn_metric_pos p;
        assert_int_equal(rnn_cond_metric_file(mf.meters, mf.n_meters, mf.ppq, SPQ, c.step, &p), 0);
        rnn_cond_metric_fill(&p, SPQ, want);
        if (memcmp(want, cols, (size_t)mc * sizeof *cols) != 0)
            fail_msg("step %lld: the file is in %d/%d, beat %d +%d; the demo's engine in %d/%d, "
                     "beat %d +%d",
                     (long long)c.step, p.num, p.den, p.beat_in_bar, p.step_in_beat, c.pos.num,
                     c.pos.den, c.pos.beat_in_bar, c.pos.step_in_beat);
        if (c.harmony != harmony[c.step])
            fail_msg("step %lld: the demo's engine hears %03x, the file's harmony is %03x",
                     (long long)c.step, c.harmony, harmony[c.step]);
        chords += __builtin_popcount(c.harmony) >= 3;
        checked++;
    }
    assert_true(checked >= steps - 2);
    assert_true(chords > 30);
    rnn_engine_stats st;
    demo_session_part_stats(s, 0, &st);
    assert_int_equal(st.relocations, 0);
    assert_true(st.host_transport);
    if (conditioned) assert_true(st.net_steps >= (uint64_t)steps / 2);
    demo_session_free(s);
    rnn_midi_free(&mf);
}

static void test_session_hears_the_song(void **state)
{
    (void)state;
    hear_song(mel, 0);
}

static void test_session_conditioned_preset(void **state)
{
    (void)state;
    hear_song(COND_MODEL, 1);
}

/* rnnmidi-demo --harmony renders 4 seconds of sound with the preset model. */
static void render_over_song(char *model)
{
    char wav[600], out[8192];
    snprintf(wav, sizeof wav, "%s/over.wav", dir);
    char *argv[] = {"rnnmidi-demo", "--model", model,    "--harmony", SONG,      "--render", wav,
                    "--seconds",    "4",       "--seed", "3",         "--quiet", NULL};
    int rc = fx_run(NULL, NULL, argv, out, sizeof out);
    if (rc != 0) fail_msg("rnnmidi-demo --harmony: status %d: %s", rc, out);
    size_t frames = 0;
    int ch = 0, rate = 0;
    float *snd = fx_read_sound(wav, &frames, &ch, &rate);
    assert_non_null(snd);
    assert_true(frames >= (size_t)(3.9 * rate));
    double peak = 0;
    for (size_t i = 0; i < frames * (size_t)ch; i++)
        peak = fmax(peak, fabs(snd[i]));
    assert_true(peak > 0.01);
    free(snd);
}

static void test_render_with_harmony(void **state)
{
    (void)state;
    char wav[600], out[8192];
    snprintf(wav, sizeof wav, "%s/over.wav", dir);
    render_over_song(mel);
    render_over_song(COND_MODEL);

    char *both[] = {"rnnmidi-demo", "--model",  mel, "--harmony", SONG, "--primer",
                    SONG,           "--render", wav, "--quiet",   NULL};
    int rc = fx_run(NULL, NULL, both, out, sizeof out);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "give one of them"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions_follow_the_meter_map),
        cmocka_unit_test(test_session_hears_the_song),
        cmocka_unit_test(test_session_conditioned_preset),
        cmocka_unit_test(test_render_with_harmony),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
