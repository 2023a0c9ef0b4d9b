/* SPDX-License-Identifier: MIT */
/* core/learn allocates everything at create: with malloc, calloc, realloc,
 * free and pthread_mutex_lock trapped (rt_trap.h), updates of every cell
 * type (with the input columns, one-hot and embedded input, with and
 * without attention, batches of the largest shape and smaller ones),
 * evaluations, accepted and rejected
 * updates and a Forget make no trapped call and print nothing. The
 * learner runs off the audio thread; this proves its work is bounded and
 * preallocated, so a low-priority job never waits on the allocator's lock
 * held by another thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "../../core/learn.h"
#include "../../core/model.h"
#include "../support/random.h"
#include "../support/rt/rt_trap.h"

enum { B = 4, T = 32 };

static void test_trap_works(void **state)
{
    (void)state;
    assert_int_equal(rt_trap_self_check(), 0);
}

static rnn_model *make_model(const rnn_model_config *cfg, uint64_t seed)
{
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(cfg, specs);
    float *t[RNN_MAX_TENSORS];
    uint64_t s = seed;
    for (int i = 0; i < n; i++) {
        t[i] = xorshift_floats(&s, specs[i].count, 0.3f);
        assert_non_null(t[i]);
    }
    void *buf;
    size_t len;
    char err[256];
    if (rnn_model_serialize(cfg, NULL, 0, (const float *const *)t, &buf, &len, err, sizeof err))
        fail_msg("%s", err);
    rnn_model *m = rnn_model_load_memory(buf, len, "test", err, sizeof err);
    if (!m) fail_msg("%s", err);
    free(buf);
    for (int i = 0; i < n; i++)
        free(t[i]);
    return m;
}

static void run(rnn_cell cell, int embed, unsigned conds, int look, int win, int A)
{
    const rnn_model_config cfg = {.kind = RNN_KIND_MELODY,
                                  .steps_per_quarter = 4,
                                  .cell = cell,
                                  .layers = 2,
                                  .embed = embed,
                                  .hidden = 16,
                                  .vocab = RNN_MELODY_VOCAB,
                                  .conditions = conds,
                                  .attn_window = win,
                                  .attn_size = A,
                                  .lookback = look};
    rnn_model *m = make_model(&cfg, 9 + (uint64_t)cell);
    char err[256];
    rnn_learn *ln = rnn_learn_create(m, B, T, err, sizeof err);
    if (!ln) fail_msg("%s", err);
    const int C = rnn_learn_columns(ln);
    int32_t in[B * T], tg[B * T];
    float *cols = calloc((size_t)B * T * (C > 0 ? C : 1), sizeof *cols);
    assert_non_null(cols);
    uint64_t s = 3;
    for (int r = 0; r < B * T; r++) {
        in[r] = (int32_t)(r * 7 % RNN_MELODY_VOCAB);
        tg[r] = r % 11 == 0 ? -1 : (int32_t)(r * 13 % RNN_MELODY_VOCAB);
        for (int c = 0; c < C; c++)
            cols[(size_t)r * C + c] = xorshift_uniform(&s) > 0.9f ? 1.0f : 0.0f;
    }
    rnn_learn_options o;
    rnn_learn_options_default(&o);
    rt_quiet q;
    assert_int_equal(rt_quiet_begin(&q), 0);
    rt_trap_arm();
    double first = 0, last = 0;
    for (int i = 0; i < 10; i++) {
        const int b = i % 3 == 2 ? B - 1 : B, t = i % 2 ? T : T / 2;
        const double l = rnn_learn_step(ln, &o, in, C ? cols : NULL, tg, b, t);
        if (i == 0) first = l;
        last = rnn_learn_nll(ln, in, C ? cols : NULL, tg, B, T);
        assert_true(l > 0);
        if (i % 2)
            rnn_learn_accept(ln);
        else
            rnn_learn_reject(ln);
    }
    const double moved = rnn_learn_distance(ln);
    rnn_learn_forget(ln);
    const int trapped = rt_trap_disarm();
    const long printed = rt_quiet_end(&q);
    assert_int_equal(trapped, 0);
    assert_int_equal(printed, 0);
    assert_true(moved > 0);
    assert_true(last > 0 && first > 0);
    free(cols);
    rnn_learn_free(ln);
    rnn_model_free(m);
}

static void test_cells(void **state)
{
    (void)state;
    run(RNN_CELL_RNN, 0, RNN_COND_ALL, 1, 0, 0);
    run(RNN_CELL_LSTM, 8, RNN_COND_ALL, 0, 0, 0);
    run(RNN_CELL_LSTM, 0, 0, 0, 0, 0);
    run(RNN_CELL_GRU, 8, RNN_COND_METRIC, 1, 0, 0);
}

/* attention over windows shorter and longer than the phrases */
static void test_attention(void **state)
{
    (void)state;
    run(RNN_CELL_LSTM, 8, RNN_COND_ALL, 0, 8, 12);
    run(RNN_CELL_GRU, 0, 0, 1, 64, 16);
    run(RNN_CELL_RNN, 4, RNN_COND_METRIC, 1, 3, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trap_works),
        cmocka_unit_test(test_cells),
        cmocka_unit_test(test_attention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
