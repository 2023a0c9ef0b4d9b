/* SPDX-License-Identifier: MIT */
/* The host's meter reaches the engine's conditions through the LV2 plugin:
 * the test host (tests/support/lv2/) drives the plugin's code, linked into
 * this binary, with time:Position objects at every block, as Ardour sends
 * them: 4 bars of 3/4, then 6/8 (time:beatUnit 8) from bar 4. The engine
 * the plugin creates is found through the linker (--wrap of
 * rnn_engine_create); each step it commits must have the metric columns
 * rnn_cond_metric_file gives at the same step of a MIDI file of those
 * meters, and every run() makes no trapped call (rt_trap.h). The same with
 * a version 2 preset (the golden cond_lstm_e0_l1, metric and harmony)
 * loaded through patch:Set, over the player's chords: its net steps with
 * the columns, it plays, and it hears the chords as harmony. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/condition.h"
#include "../../core/engine.h"
#include "../support/engine_fixture.h"
#include "../support/lv2/lv2_host.h"
#include "../support/rt/rt_plugin.h"
#include "../support/rt/rt_trap.h"

LV2_SYMBOL_EXPORT const LV2_Descriptor *lv2_descriptor(uint32_t index);

static void test_trap_works(void **state)
{
    (void)state;
    assert_int_equal(rt_trap_self_check(), 0);
}

#define SPQ 4
#define PPQ 480
#define STEPS 96
#define BLOCK 400 /* 15 blocks a step at 6000 frames a step */

/* The version 1 fixture, or (golden not NULL) a golden preset with the
 * player's chords coming in. */
static void run_position(const char *golden)
{
    char dir[64], model[PATH_MAX];
    snprintf(dir, sizeof dir, "/tmp/rnnmidi-cond-XXXXXX");
    assert_non_null(mkdtemp(dir));
    if (golden) {
        char rel[128];
        snprintf(rel, sizeof rel, "tests/golden/%s.rnnw", golden);
        assert_non_null(realpath(rel, model));
    } else {
        snprintf(model, sizeof model, "%s/m.rnnw", dir);
        assert_int_equal(
            fixture_build(RNN_KIND_MELODY, RNN_CELL_LSTM, 1, 16, 32, 5, model, NULL, NULL), 0);
    }

    host_plugin *hp = host_new();
    assert_non_null(hp);
    const LV2_Descriptor *d = lv2_descriptor(0);
    rt_plugin_engine = NULL;
    LV2_Handle h = d->instantiate(d, 48000, "/nonexistent/", hp->features);
    assert_non_null(h);
    assert_non_null(rt_plugin_engine);
    host_attach(hp, d, h);
    d->activate(h);
    host_begin(hp);
    host_set_model(hp, 0, model);
    host_run(hp, 0);
    assert_non_null(rnn_engine_get_model(rt_plugin_engine));
    assert_int_equal(rnn_engine_model_conditions(rnn_engine_get_model(rt_plugin_engine)) != 0,
                     golden != NULL);
    hp->controls[RNNMIDI_CHANNEL] = 2; /* ours on channel 2, the player's on 1 */
    const size_t first = hp->n_ev;
    long heard = 0;

    host_audio_enter = rt_plugin_enter;
    host_audio_leave = rt_plugin_leave;
    rt_plugin_trapped = 0;
    /* 3/4 at 120 quarter notes a minute, then 6/8 at 240 eighths from
     * step 48 (bar 4): 6000 frames a step throughout */
    int64_t last = -1, checked = 0;
    const int mc = rnn_cond_metric_columns(SPQ);
    const rnn_midi_meter map[2] = {{0, 3, 4}, {48 * (PPQ / SPQ), 6, 8}};
    for (int b = 0; b < STEPS * 15; b++) {
        const double f = b / 15.0; /* the step position of the block's start */
        const int six8 = f >= 48;
        const double spb = six8 ? 2 : 4, bar_len = six8 ? 12 : 12, from = six8 ? 48 : 0;
        const int64_t bar = (int64_t)((f - from) / bar_len) + (six8 ? 4 : 0);
        const double beat = (f - from - (double)(bar - (six8 ? 4 : 0)) * bar_len) / spb;
        host_begin(hp);
        host_position_meter(hp, 0, 1, six8 ? 240 : 120, bar, (float)beat, six8 ? 6 : 3,
                            six8 ? 8 : 4);
        if (golden && b % 90 == 7) /* a chord every 6 steps, released 3 steps on */
            for (int i = 0; i < 3; i++)
                host_midi(hp, 10, 0x90, (uint8_t)(48 + 4 * i + b / 90 % 5), 90);
        if (golden && b % 90 == 52)
            for (int i = 0; i < 3; i++)
                host_midi(hp, 10, 0x80, (uint8_t)(48 + 4 * i + b / 90 % 5), 0);
        host_run(hp, BLOCK);

        rnn_engine_cond c;
        float cols[RNN_ENGINE_COND_MAX], want[RNN_ENGINE_COND_MAX];
        if (rnn_engine_last_cond(rt_plugin_engine, &c, cols) == 0 || c.step == last) continue;
        if (last >= 0) assert_int_equal(c.step, last + 1);
        last = c.step;
        rnn_metric_pos p;
        assert_int_equal(rnn_cond_metric_file(map, 2, PPQ, SPQ, c.step, &p), 0);
        rnn_cond_metric_fill(&p, SPQ, want);
        if (memcmp(want, cols, (size_t)mc * sizeof *cols) != 0 || p.num != c.pos.num ||
            p.den != c.pos.den)
            fail_msg("step %lld: the file gives %d/%d beat %d +%d, the plugin's engine %d/%d "
                     "beat %d +%d",
                     (long long)c.step, p.num, p.den, p.beat_in_bar, p.step_in_beat, c.pos.num,
                     c.pos.den, c.pos.beat_in_bar, c.pos.step_in_beat);
        checked++;
        heard += c.harmony != 0;
    }
    host_audio_enter = NULL;
    host_audio_leave = NULL;
    assert_int_equal(rt_plugin_trapped, 0);
    assert_true(checked >= STEPS - 2);
    rnn_engine_stats st;
    rnn_engine_get_stats(rt_plugin_engine, &st);
    assert_int_equal(st.relocations, 0);
    if (golden) {
        assert_true(heard > STEPS / 3);
        assert_true(st.net_steps > STEPS / 2);
        size_t ours = 0;
        for (size_t i = first; i < hp->n_ev; i++)
            ours += (hp->ev[i].d[0] & 0xF0) == 0x90 && (hp->ev[i].d[0] & 15) == 1;
        assert_true(ours > 10);
    }

    d->deactivate(h);
    d->cleanup(h);
    host_do_work(hp);
    host_free(hp);
    host_free_uris();
    if (!golden) unlink(model);
    rmdir(dir);
}

static void test_position_reaches_columns(void **state)
{
    (void)state;
    run_position(NULL);
}

static void test_conditioned_preset(void **state)
{
    (void)state;
    run_position("cond_lstm_e0_l1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trap_works),
        cmocka_unit_test(test_position_reaches_columns),
        cmocka_unit_test(test_conditioned_preset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
