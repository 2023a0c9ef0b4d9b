/* SPDX-License-Identifier: MIT */
/* Real-time safety of the LV2 plugin on attention and lookback presets: the
 * plugin's code, linked into this binary, loads each golden attn_* and
 * look_* preset (RNN, LSTM, GRU melodies, GRU and LSTM drums, with and
 * without the metric) in turn through patch:Set and the
 * worker, and runs under the malloc/calloc/realloc/free/pthread_mutex_lock
 * trap of rt_trap.h around every run(), in blocks of 1, 64, 8192 and any
 * size, with transport starts, stops and jumps, tempo and mode changes,
 * the player's phrases and a swap to the next preset mid-run, and nothing
 * is printed meanwhile (standard output and error point at a file). The worker's
 * own calls (loading, freeing) run untrapped, as on a worker thread. The
 * engine the plugin creates is found through the linker (--wrap of
 * rnn_engine_create), to check it plays such a net and steps it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* attention first: the runs of 60 s play every preset, the 24 s one in
 * blocks of a frame the attention ones */
static const char *const presets[] = {
    "attn_rnn_e0_l1",       "attn_lstm_e16_l2",     "attn_gru_e0_l2",
    "attn_drums_gru_e8_l1", "look_rnn_e0_l1",       "look_lstm_e0_l2",
    "look_gru_e12_l1",      "look_drums_gru_e8_l2", "look_drums_lstm_e0_l1"};
#define N_PRESETS (sizeof presets / sizeof *presets)

/* The net the engine plays: 1 with attention, 2 with lookback inputs, else
 * 0. */
static int option(void)
{
    const rnn_engine_model *em = rnn_engine_get_model(rt_plugin_engine);
    if (!em) return 0;
    const rnn_model_config *cfg = rnn_model_get_config(rnn_engine_model_get(em));
    return cfg->attn_window > 0 ? 1 : cfg->lookback ? 2 : 0;
}

/* 60 s of 48 kHz (24 s in blocks of one frame) in blocks of `fixed`
 * frames (0: any size up to 8192). */
static void run_blocks(uint32_t fixed)
{
    static char paths[N_PRESETS][PATH_MAX];
    for (size_t i = 0; i < N_PRESETS; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "tests/golden/%s.rnnw", presets[i]);
        assert_non_null(realpath(rel, paths[i]));
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
    hp->controls[RNNMIDI_CHANNEL] = 2;

    host_audio_enter = rt_plugin_enter;
    host_audio_leave = rt_plugin_leave;
    rt_plugin_trapped = 0;
    rt_quiet q;
    assert_int_equal(rt_quiet_begin(&q), 0);
    const int64_t total = 48000 * (fixed == 1 ? 24 : 60);
    uint64_t s = 3;
    int64_t next_cue = 0;
    int cue = 0, attended = 0, looked = 0;
    uint64_t steps = 0;
    while (hp->pos < total) {
        uint32_t n = fixed ? fixed : fixture_block(&s, 24, 8192);
        host_begin(hp);
        if (hp->pos >= next_cue) {
            /* every 3 s: a start, a jump, a stop or a tempo change; every
             * 6 s the next preset, in the next mode */
            if (cue % 2 == 0) {
                host_set_model(hp, 0, paths[cue / 2 % N_PRESETS]);
                hp->controls[RNNMIDI_MODE] = (float)(cue / 2 % 3);
            }
            host_position(hp, 0, cue % 6 == 5 ? 0 : 1, (float)(90 + 15 * (cue % 4)),
                          cue % 3 ? cue * 7 % 13 : 0, cue % 3 ? 2.5f : 0);
            cue++;
            next_cue += 3 * 48000;
        }
        /* a phrase in the first half of each cue: a note every 12000
         * frames, held 6000 */
        for (int64_t m = (hp->pos + 5999) / 6000; m * 6000 < hp->pos + n; m++) {
            if (m * 6000 % (3 * 48000) >= 72000) continue;
            const uint8_t p = (uint8_t)(60 + (m / 2) % 12);
            host_midi(hp, (uint32_t)(m * 6000 - hp->pos), m % 2 ? 0x80 : 0x90, p, m % 2 ? 0 : 90);
        }
        host_run(hp, n);
        if (option()) {
            rnn_engine_stats st;
            rnn_engine_get_stats(rt_plugin_engine, &st);
            attended += st.net_steps > steps && option() == 1;
            looked += st.net_steps > steps && option() == 2;
            steps = st.net_steps;
        }
    }
    const long printed = rt_quiet_end(&q);
    host_audio_enter = NULL;
    host_audio_leave = NULL;
    assert_int_equal(printed, 0);
    assert_int_equal(rt_plugin_trapped, 0);
    assert_true(attended > 50);
    if (total >= 60 * 48000) assert_true(looked > 50);
    size_t ours = 0;
    for (size_t i = 0; i < hp->n_ev; i++)
        ours += (hp->ev[i].d[0] & 0xF0) == 0x90 && (hp->ev[i].d[0] & 15) != 0;
    assert_true(ours > 50);
    d->deactivate(h);
    d->cleanup(h);
    host_do_work(hp);
    host_free(hp);
    host_free_uris();
}

static void test_blocks_of_1(void **state)
{
    (void)state;
    run_blocks(1);
}

static void test_blocks_of_64(void **state)
{
    (void)state;
    run_blocks(64);
}

static void test_blocks_of_8192(void **state)
{
    (void)state;
    run_blocks(8192);
}

static void test_blocks_of_any_size(void **state)
{
    (void)state;
    run_blocks(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trap_works),         cmocka_unit_test(test_blocks_of_1),
        cmocka_unit_test(test_blocks_of_64),       cmocka_unit_test(test_blocks_of_8192),
        cmocka_unit_test(test_blocks_of_any_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
