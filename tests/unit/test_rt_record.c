/* SPDX-License-Identifier: MIT */
/* core/record's writer side is audio-thread safe: with malloc, calloc,
 * realloc, free and pthread_mutex_lock trapped (rt_trap.h), 20 minutes of
 * grid steps at 120 bpm and 4 steps a quarter (9,600 pushes, the ring
 * wrapping twice), with breaks, columns on and more columns than kept,
 * make no trapped call and print nothing; and the reader's copy does not
 * either (the learning job reads it with the allocator's lock held by no
 * one of ours). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "../../core/record.h"
#include "../support/rt/rt_trap.h"

enum { C = 300, CAP = 4000, STEPS = 9600 };

static void test_trap_works(void **state)
{
    (void)state;
    assert_int_equal(rt_trap_self_check(), 0);
}

static void test_push_read(void **state)
{
    (void)state;
    char err[128];
    rnn_rec *r = rnn_rec_create(CAP, C, err, sizeof err);
    assert_non_null(r);
    float *cols = calloc(C, sizeof *cols), *out = calloc((size_t)64 * C, sizeof *out);
    int32_t ev[64];
    uint8_t st[64];
    assert_non_null(cols);
    assert_non_null(out);
    rt_quiet q;
    assert_int_equal(rt_quiet_begin(&q), 0);
    rt_trap_arm();
    int cut = 0, read = 0;
    for (int i = 0; i < STEPS; i++) {
        for (int c = 0; c < C; c++)
            cols[c] = (c * 7 + i) % (i % 97 == 0 ? 2 : 23) == 0;
        if (i % 500 == 0) rnn_rec_break(r);
        cut += rnn_rec_push(r, i % 130, cols);
        if (i % 64 == 63) read += rnn_rec_read(r, (uint64_t)i - 63, 64, ev, out, st) == 64;
    }
    const int trapped = rt_trap_disarm();
    const long printed = rt_quiet_end(&q);
    assert_int_equal(trapped, 0);
    assert_int_equal(printed, 0);
    assert_int_equal(rnn_rec_written(r), STEPS);
    assert_true(cut > 0);
    assert_int_equal((uint64_t)cut, rnn_rec_dropped(r));
    assert_int_equal(read, STEPS / 64);
    free(cols);
    free(out);
    rnn_rec_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trap_works),
        cmocka_unit_test(test_push_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
