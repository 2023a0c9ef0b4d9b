/* SPDX-License-Identifier: MIT */
/* Real-time safety of core/attention's audio-thread calls: with malloc,
 * calloc, realloc, free and pthread_mutex_lock trapped (rt_trap.h), many
 * steps of layers of several sizes (the ring filling, wrapping and
 * wrapping again), attend and commit apart, sliced attends, state get and set mid-sequence,
 * and reset make no trapped call. The contexts are summed and checked, so
 * the loop cannot be optimised into nothing. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "../../core/attention.h"
#include "../support/rt/rt_trap.h"

static void test_trap_works(void **state)
{
    (void)state;
    assert_int_equal(rt_trap_self_check(), 0);
}

static void run_sizes(int H, int A, int n, int steps)
{
    float *w = malloc(((size_t)2 * A * H + (size_t)A + (size_t)H * steps) * sizeof(float));
    assert_non_null(w);
    for (size_t i = 0; i < (size_t)2 * A * H + (size_t)A + (size_t)H * steps; i++)
        w[i] = sinf(0.37f * (float)i) * 0.2f;
    const float *W1 = w, *W2 = w + (size_t)A * H, *v = w + (size_t)2 * A * H;
    const float *hs = v + A;
    rnn_attn *at = rnn_attn_create(H, A, n, W1, W2, v, NULL, 0);
    assert_non_null(at);
    float *st = malloc(rnn_attn_state_size(at) * sizeof(float));
    assert_non_null(st);
    double sum = 0;
    rt_trap_arm();
    for (int t = 0; t < steps; t++) {
        const float *c = rnn_attn_step(at, hs + (size_t)t * H);
        sum += c[t % H] + rnn_attn_weights(at)[n - 1];
        if (t == steps / 3) rnn_attn_state_get(at, st);
        if (t == steps / 2) rnn_attn_state_set(at, st);
        if (t == 2 * steps / 3) rnn_attn_reset(at);
        if (t % 5 == 0) {
            rnn_attn_begin(at, hs + (size_t)(steps - 1 - t) * H);
            while (!rnn_attn_work(at, 300))
                ;
            rnn_attn_commit(at);
        }
        if (t % 7 == 0) {
            rnn_attn_attend(at, hs + (size_t)(steps - 1 - t) * H);
            rnn_attn_commit(at);
        }
    }
    int trapped = rt_trap_disarm();
    assert_int_equal(trapped, 0);
    assert_true(isfinite(sum) && sum != 0);
    free(st);
    rnn_attn_free(at);
    free(w);
}

static void test_no_trapped_call(void **state)
{
    (void)state;
    run_sizes(256, 64, 64, 600);
    run_sizes(256, 128, 16, 300);
    run_sizes(13, 7, 5, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trap_works),
        cmocka_unit_test(test_no_trapped_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
