/* SPDX-License-Identifier: MIT */
/* Real-time safety of core/encoder's audio-thread calls: with malloc,
 * calloc, realloc, free and pthread_mutex_lock trapped (rt_trap.h), whole
 * runs, runs in slices, abandoned runs and runs of several lengths, for
 * every cell type, make no trapped call; nor does a net of an
 * encoder-decoder preset stepped (whole and in slices) over the encoder's
 * outputs, the encoder made from the same preset. The outputs are summed
 * and checked, so the loops cannot be optimised into nothing. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "../../core/encoder.h"
#include "../../core/net.h"
#include "../support/rt/rt_trap.h"

static void test_trap_works(void **state)
{
    (void)state;
    assert_int_equal(rt_trap_self_check(), 0);
}

static void run_sizes(rnn_cell cell, int layers, int In, int He, int steps)
{
    const rnn_enc_config cfg = {
        .cell = cell, .layers = layers, .inputs = In, .hidden = He, .max_steps = steps};
    rnn_tensor_spec specs[RNN_ENC_MAX_TENSORS];
    const int n = rnn_enc_tensor_specs(&cfg, specs);
    assert_true(n > 0);
    const float *tensors[RNN_ENC_MAX_TENSORS];
    float *w[RNN_ENC_MAX_TENSORS];
    for (int i = 0; i < n; i++) {
        w[i] = malloc(specs[i].count * sizeof(float));
        assert_non_null(w[i]);
        for (size_t j = 0; j < specs[i].count; j++)
            w[i][j] = sinf(0.37f * (float)(j + 7 * (size_t)i)) * 0.3f;
        tensors[i] = w[i];
    }
    float *x = malloc((size_t)steps * In * sizeof(float));
    assert_non_null(x);
    for (size_t j = 0; j < (size_t)steps * In; j++)
        x[j] = (j % 3 == 0) ? 1.0f : cosf((float)j);
    rnn_enc *enc = rnn_enc_create(&cfg, tensors, NULL, 0);
    assert_non_null(enc);
    double sum = 0;
    rt_trap_arm();
    for (int T = steps; T >= 1; T = T / 2) {
        rnn_enc_run(enc, x, T);
        sum += rnn_enc_output(enc, NULL)[T - 1];
        rnn_enc_begin(enc, x, T);
        rnn_enc_work(enc, 2);
        rnn_enc_begin(enc, x + In, T > 1 ? T - 1 : 1);
        while (!rnn_enc_work(enc, 5))
            ;
        sum += rnn_enc_output(enc, NULL)[0];
    }
    int trapped = rt_trap_disarm();
    assert_int_equal(trapped, 0);
    assert_true(isfinite(sum) && sum != 0);
    rnn_enc_free(enc);
    free(x);
    for (int i = 0; i < n; i++)
        free(w[i]);
}

static void test_no_trapped_call(void **state)
{
    (void)state;
    run_sizes(RNN_CELL_LSTM, 2, 150, 64, 256);
    run_sizes(RNN_CELL_GRU, 1, 33, 17, 100);
    run_sizes(RNN_CELL_RNN, 3, 5, 9, 64);
}

static void test_decoder_steps(void **state)
{
    (void)state;
    const rnn_model_config cfg = {.kind = RNN_KIND_DRUMS,
                                  .steps_per_quarter = 4,
                                  .cell = RNN_CELL_GRU,
                                  .layers = 2,
                                  .embed = 16,
                                  .hidden = 48,
                                  .vocab = 512,
                                  .conditions = RNN_COND_METRIC,
                                  .enc_layers = 2,
                                  .enc_hidden = 32,
                                  .enc_inputs = RNN_ENC_INPUT_COLUMNS};
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    float *data[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(&cfg, specs);
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        data[i] = malloc(specs[i].count * sizeof(float));
        assert_non_null(data[i]);
        for (size_t j = 0; j < specs[i].count; j++)
            data[i][j] = 0.2f * sinf(0.29f * (float)j + (float)i);
    }
    void *buf = NULL;
    size_t len = 0;
    char err[256];
    assert_int_equal(
        rnn_model_serialize(&cfg, NULL, 0, (const float *const *)data, &buf, &len, err, sizeof err),
        0);
    rnn_model *m = rnn_model_load_memory(buf, len, "rt", err, sizeof err);
    assert_non_null(m);
    enum { T = 64 };
    rnn_net *net = rnn_net_create(m, err, sizeof err);
    rnn_enc *enc = rnn_enc_create_model(m, T, err, sizeof err);
    assert_true(net && enc);
    static float x[T * RNN_ENC_INPUT_COLUMNS], cond[64];
    for (int t = 0; t < T; t++)
        x[t * RNN_ENC_INPUT_COLUMNS + (t * 7) % 130] = 1.0f;
    const int C = rnn_net_cond_columns(net), Ce = rnn_net_enc_columns(net);
    assert_true(C <= 64);
    double sum = 0;
    rt_trap_arm();
    rnn_enc_begin(enc, x, T);
    while (!rnn_enc_work(enc, 7))
        ;
    const float *out = rnn_enc_output(enc, NULL);
    for (int t = 0; t < T; t++) {
        cond[t % C] = 1.0f;
        const float *z;
        if (t % 2) {
            z = rnn_net_step_enc(net, (t * 5) % 512, cond, out + (size_t)t * Ce);
        } else {
            rnn_net_step_begin_enc(net, (t * 5) % 512, cond, out + (size_t)t * Ce);
            while (!rnn_net_step_work(net, 40))
                ;
            z = rnn_net_logits(net);
        }
        sum += z[t % 512];
        cond[t % C] = 0.0f;
    }
    int trapped = rt_trap_disarm();
    assert_int_equal(trapped, 0);
    assert_true(isfinite(sum) && sum != 0);
    rnn_enc_free(enc);
    rnn_net_free(net);
    rnn_model_free(m);
    free(buf);
    for (int i = 0; i < n; i++)
        free(data[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trap_works),
        cmocka_unit_test(test_no_trapped_call),
        cmocka_unit_test(test_decoder_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
