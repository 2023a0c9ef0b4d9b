/* SPDX-License-Identifier: MIT */
/* Real-time safety of the engine on attention presets (the v2 golden
 * attn_* of tests/golden: RNN, LSTM and GRU melodies, a GRU drum model on
 * the metric): with malloc, calloc, realloc, free and pthread_mutex_lock
 * trapped (rt_trap.h), the engine runs blocks of 1, 64 and 8192 frames and
 * of any size up to 8192, with transport starts, stops, jumps and tempo
 * changes, the player's phrases, all notes off and every mode: no trapped
 * call, nothing written to standard output or error (both point at a file
 * for the run), the net steps (its attention sliced over the blocks, or finished
 * whole at a tick when a block holds the step), and notes come out. */
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

static void test_quiet_sees_a_print(void **state)
{
    (void)state;
    rt_quiet q;
    assert_int_equal(rt_quiet_begin(&q), 0);
    fprintf(stderr, "x");
    assert_int_equal(rt_quiet_end(&q), 1);
}

/* About 150 s of 48 kHz in blocks of `fixed` frames (0: any size). */
static void run_case(const char *golden, uint32_t fixed)
{
    char err[256], path[128];
    rnn_engine *e = rnn_engine_create(48000, 8192, err, sizeof err);
    assert_non_null(e);
    snprintf(path, sizeof path, "tests/golden/%s.rnnw", golden);
    rnn_engine_model *em = rnn_engine_model_prepare(path, err, sizeof err);
    if (!em) fail_msg("%s", err);
    assert_true(rnn_model_get_config(rnn_engine_model_get(em))->attn_window > 0);
    assert_null(rnn_engine_set_model(e, em));
    static rnn_engine_event in[8], out[1024];
    uint64_t s = 29;
    long trapped = 0, played = 0;
    const int64_t total = 48000 * 150;
    int64_t pos = 0, next_cue = 0;
    int cue = 0;
    rt_quiet q;
    assert_int_equal(rt_quiet_begin(&q), 0);
    while (pos < total) {
        uint32_t n = fixed ? fixed : fixture_block(&s, 24, 8192);
        rnn_transport t = {0};
        uint32_t nt = 0, ni = 0;
        if (pos >= next_cue) {
            /* every 2.5 s: a start, a jump, a tempo change or a stop */
            t.flags =
                RNN_TRANSPORT_SPEED | RNN_TRANSPORT_BBT | RNN_TRANSPORT_TEMPO | RNN_TRANSPORT_METER;
            t.speed = cue % 7 == 6 ? 0 : 1;
            t.bpm = 80 + 20 * (cue % 6);
            t.beats_per_bar = 4;
            t.beat_unit = 4;
            t.bar = cue % 3 == 0 ? 0 : cue * 5 % 17;
            t.bar_beat = cue % 3 == 0 ? 0 : 1.5;
            nt = 1;
            if (cue % 4 == 0) rnn_engine_set_param(e, RNN_PARAM_MODE, (float)(cue / 4 % 3));
            cue++;
            next_cue += 120000;
        }
        /* a phrase in the first half of each cue: a note every 12000
         * frames, held for 6000 */
        for (int64_t m = (pos + 5999) / 6000; m * 6000 < pos + n && ni < 6; m++) {
            const uint8_t p = (uint8_t)(60 + (m / 2) % 12);
            if (m * 6000 % 120000 >= 60000 + 6000) continue;
            if (m % 2 == 0)
                in[ni++] = (rnn_engine_event){(uint32_t)(m * 6000 - pos), 3, {0x90, p, 90}, 0};
            else
                in[ni++] = (rnn_engine_event){(uint32_t)(m * 6000 - pos), 3, {0x80, p, 0}, 0};
        }
        if (pos % 1000000 < n && ni < 8) in[ni++] = (rnn_engine_event){n - 1, 3, {0xB0, 123, 0}, 0};
        rt_trap_arm();
        played += rnn_engine_run(e, n, in, ni, nt ? &t : NULL, nt, out, 1024);
        trapped += rt_trap_disarm();
        pos += n;
    }
    assert_int_equal(rt_quiet_end(&q), 0);
    assert_int_equal(trapped, 0);
    assert_true(played > 100);
    rnn_engine_stats st;
    rnn_engine_get_stats(e, &st);
    assert_true(st.net_steps > 100);
    assert_true(st.relocations > 0);
    assert_int_equal(st.nonfinite_steps, 0);
    rnn_engine_free(e);
}

static const char *const presets[] = {"attn_rnn_e0_l1", "attn_lstm_e16_l2", "attn_gru_e0_l2",
                                      "attn_drums_gru_e8_l1"};

static void every_preset(uint32_t fixed)
{
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++)
        run_case(presets[i], fixed);
}

static void test_blocks_of_1(void **state)
{
    (void)state;
    run_case("attn_lstm_e16_l2", 1);
}

static void test_blocks_of_64(void **state)
{
    (void)state;
    every_preset(64);
}

static void test_blocks_of_8192(void **state)
{
    (void)state;
    every_preset(8192);
}

static void test_blocks_of_any_size(void **state)
{
    (void)state;
    every_preset(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trap_works),     cmocka_unit_test(test_quiet_sees_a_print),
        cmocka_unit_test(test_blocks_of_1),    cmocka_unit_test(test_blocks_of_64),
        cmocka_unit_test(test_blocks_of_8192), cmocka_unit_test(test_blocks_of_any_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
