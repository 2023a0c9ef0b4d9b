/* SPDX-License-Identifier: MIT */
/* Real-time safety of core/lookback's ring, the engine's side: with malloc,
 * calloc, realloc, free and pthread_mutex_lock trapped (rt_trap.h), pushing
 * events, filling the columns of both encodings at several bar lengths and
 * clearing make no trapped call. The columns are counted, so the loop
 * cannot be optimised into nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "../../core/lookback.h"
#include "../support/rt/rt_trap.h"

static void test_trap_works(void **state)
{
    (void)state;
    assert_int_equal(rt_trap_self_check(), 0);
}

static void test_no_trapped_call(void **state)
{
    (void)state;
    static rnn_lookback_ring ring;
    static float cols[2 * RNN_MELODY_VOCAB + 2];
    long set = 0;
    rt_trap_arm();
    rnn_lookback_clear(&ring);
    for (int s = 0; s < 20000; s++) {
        rnn_lookback_push(&ring, (s * 7 + s / 16) % 5);
        const int bar = 1 + (s / 1000) % 64;
        rnn_lookback_ring_fill(&ring, s % 2 ? RNN_KIND_MELODY : RNN_KIND_DRUMS, bar, cols);
        set += cols[0] > 0;
        if (s == 12345) rnn_lookback_clear(&ring);
    }
    int trapped = rt_trap_disarm();
    assert_int_equal(trapped, 0);
    assert_true(set > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trap_works),
        cmocka_unit_test(test_no_trapped_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
