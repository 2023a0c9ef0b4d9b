/* SPDX-License-Identifier: MIT */
/* Real-time safety of core/condition's audio-thread calls: with malloc,
 * calloc, realloc, free and pthread_mutex_lock trapped (rt_trap.h), the
 * host's metric position and its columns at every step of many meters, a
 * file's position over a meter map, and a live player's held keys make no
 * trapped call. The results are checked too, so the loop cannot be
 * optimised into nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../core/condition.h"
#include "../support/rt/rt_trap.h"

static void test_trap_works(void **state)
{
    (void)state;
    assert_int_equal(rt_trap_self_check(), 0);
}

static void test_no_trapped_call(void **state)
{
    (void)state;
    static float cols[2 + 4 * 8 + RNN_COND_MAX_BEATS + RNN_COND_HARMONY_COLUMNS];
    const rnn_midi_meter map[] = {{0, 3, 4}, {288, 6, 8}, {576, 7, 8}, {912, 4, 4}};
    rnn_held held;
    long bars = 0, keys = 0;
    rt_trap_arm();
    for (int den = 1; den <= 128; den *= 2)
        for (int num = 1; num <= 13; num++)
            for (int s = 0; s < 256; s++) {
                rnn_metric_pos p;
                double beats = (double)s * den / 16.0;
                if (rnn_cond_metric_host(beats - num * (long)(beats / num), den, num, 4, &p))
                    continue;
                rnn_cond_metric_fill(&p, 4, cols);
                bars += cols[0] > 0;
            }
    for (int64_t s = 0; s < 4096; s++) {
        rnn_metric_pos p;
        if (rnn_cond_metric_file(map, 4, 96, 8, s, &p) == 0) {
            rnn_cond_metric_fill(&p, 8, cols);
            bars += p.bar_start;
        }
    }
    rnn_held_clear(&held);
    for (int k = 0; k < 10000; k++) {
        if (k % 3)
            rnn_held_note_on(&held, (k * 7) % 128);
        else
            rnn_held_note_off(&held, (k * 5) % 128);
        uint16_t m = rnn_held_mask(&held);
        rnn_cond_harmony_fill(m, cols + 2 + 32 + RNN_COND_MAX_BEATS);
        keys += m != 0;
    }
    int trapped = rt_trap_disarm();
    assert_int_equal(trapped, 0);
    assert_true(bars > 0);
    assert_true(keys > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trap_works),
        cmocka_unit_test(test_no_trapped_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
