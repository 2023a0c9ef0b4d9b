/* SPDX-License-Identifier: MIT */
/* Real-time safety of the engine's conditions: with malloc, calloc,
 * realloc, free and pthread_mutex_lock trapped (rt_trap.h), the engine runs
 * blocks of 1..1024 frames through meters of every denominator, tempo
 * changes, jumps, stops, a beat unit no meter has, the player's chords in
 * each mode, all notes off, and reads its last step's columns after every
 * block: no trapped call. The columns are checked to move (bar starts seen,
 * harmony heard), so the loop cannot be optimised into nothing. The same
 * with conditioned models (the v2 golden presets of tests/golden: metric
 * and harmony, harmony alone, drums on the metric), whose net steps take
 * the columns, and whose fresh nets step 'no event' with them at a tick;
 * and with lookback models (the golden look_* presets, with and without
 * conditions), whose ring hears each step, is taken back when a step is
 * abandoned and is cleared wherever the net starts afresh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../core/engine.h"
#include "../support/engine_fixture.h"
#include "../support/rt/rt_trap.h"

static void test_trap_works(void **state)
{
    (void)state;
    assert_int_equal(rt_trap_self_check(), 0);
}

/* A version 1 fixture of kind, or (golden not NULL) a golden preset. */
static void run_case(rnn_kind kind, const char *golden)
{
    char err[256];
    rnn_engine *e = rnn_engine_create(48000, 1024, err, sizeof err);
    assert_non_null(e);
    rnn_engine_model *em;
    if (golden) {
        char path[128];
        snprintf(path, sizeof path, "tests/golden/%s.rnnw", golden);
        em = rnn_engine_model_prepare(path, err, sizeof err);
        if (!em) fail_msg("%s", err);
        const rnn_model_config *cfg = rnn_model_get_config(rnn_engine_model_get(em));
        assert_int_equal(cfg->kind, kind);
        assert_true(rnn_engine_model_conditions(em) != 0 || cfg->lookback);
    } else {
        rnn_model *m = fixture_model(kind, RNN_CELL_GRU, 1, 16, 24, 3);
        assert_non_null(m);
        em = rnn_engine_model_wrap(m, err, sizeof err);
        if (!em) fail_msg("%s", err);
    }
    assert_null(rnn_engine_set_model(e, em));
    static rnn_engine_event in[8], out[1024];
    static float cols[RNN_ENGINE_COND_MAX];
    uint64_t s = 17;
    long bars = 0, chords = 0, trapped = 0, played = 0;
    for (int b = 0; b < 6000; b++) {
        uint32_t n = 1 + (uint32_t)(fixture_uniform(&s, 0.5f) * 2046 + 1023) % 1024;
        rnn_transport t = {0};
        uint32_t nt = 0, ni = 0;
        if (b % 250 == 0) {
            static const int dens[] = {1, 2, 4, 8, 16, 32, 64, 128};
            t.flags =
                RNN_TRANSPORT_SPEED | RNN_TRANSPORT_BBT | RNN_TRANSPORT_TEMPO | RNN_TRANSPORT_METER;
            t.speed = b % 1000 == 750 ? 0 : 1;
            t.bpm = 60 + b % 170;
            t.beats_per_bar = 1 + b / 250 % 13;
            t.beat_unit = b % 3000 == 1500 ? 3 : dens[b / 250 % 8];
            t.bar = b % 500 ? (int64_t)(b / 100) : 0;
            t.bar_beat = b % 500 ? 0.37 : 0;
            nt = 1;
        }
        if (b % 40 == 5) {
            for (int i = 0; i < 3; i++)
                in[ni++] = (rnn_engine_event){0, 3, {0x90, (uint8_t)(48 + 4 * i + b % 7), 90}, 0};
        } else if (b % 40 == 25) {
            for (int i = 0; i < 3; i++)
                in[ni++] = (rnn_engine_event){0, 3, {0x80, (uint8_t)(48 + 4 * i + b % 7), 0}, 0};
        } else if (b % 700 == 33) {
            in[ni++] = (rnn_engine_event){0, 3, {0xB0, 123, 0}, 0};
        }
        if (b % 900 == 0) rnn_engine_set_param(e, RNN_PARAM_MODE, (float)(b / 900 % 3));
        rt_trap_arm();
        played += rnn_engine_run(e, n, in, ni, nt ? &t : NULL, nt, out, 1024);
        rnn_engine_cond c;
        int nc = rnn_engine_last_cond(e, &c, cols);
        trapped += rt_trap_disarm();
        if (nc > 0) {
            bars += cols[0] > 0;
            chords += c.harmony != 0;
        }
    }
    assert_int_equal(trapped, 0);
    assert_true(bars > 0);
    assert_true(played > 100);
    rnn_engine_stats st;
    rnn_engine_get_stats(e, &st);
    assert_true(st.net_steps > 100);
    if (kind == RNN_KIND_MELODY)
        assert_true(chords > 0);
    else
        assert_int_equal(chords, 0);
    rnn_engine_free(e);
}

static void test_melody(void **state)
{
    (void)state;
    run_case(RNN_KIND_MELODY, NULL);
}

static void test_drums(void **state)
{
    (void)state;
    run_case(RNN_KIND_DRUMS, NULL);
}

static void test_cond_melody(void **state)
{
    (void)state;
    run_case(RNN_KIND_MELODY, "cond_lstm_e0_l1");
}

static void test_cond_harmony_only(void **state)
{
    (void)state;
    run_case(RNN_KIND_MELODY, "cond_gru_e12_l2");
}

static void test_cond_drums(void **state)
{
    (void)state;
    run_case(RNN_KIND_DRUMS, "cond_drums_gru_e8_l1");
}

static void test_look_melody(void **state)
{
    (void)state;
    run_case(RNN_KIND_MELODY, "look_rnn_e0_l1");
    run_case(RNN_KIND_MELODY, "look_lstm_e0_l2");
}

static void test_look_drums(void **state)
{
    (void)state;
    run_case(RNN_KIND_DRUMS, "look_drums_gru_e8_l2");
    run_case(RNN_KIND_DRUMS, "look_drums_lstm_e0_l1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trap_works),
        cmocka_unit_test(test_melody),
        cmocka_unit_test(test_drums),
        cmocka_unit_test(test_cond_melody),
        cmocka_unit_test(test_cond_harmony_only),
        cmocka_unit_test(test_cond_drums),
        cmocka_unit_test(test_look_melody),
        cmocka_unit_test(test_look_drums),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
