/* SPDX-License-Identifier: MIT */
/* Real-time safety of core/net and core/sample: with malloc, calloc,
 * realloc, free and pthread_mutex_lock trapped (rt_trap.h), 10,000 steps of
 * each cell type (RNN, LSTM, GRU; one-hot and embedded input), each fed with
 * the class drawn from its logits, plus steps cut into pieces, abandoned
 * steps, state get/set and reset, make no trapped call. The conditioned
 * models (format v2) get each step's columns as a host would make them on
 * the audio thread: core/condition's metric position of a rolling 4/4 grid
 * and the harmony of held keys. The attention models (attn_*) run the same
 * loop, their ring filling, wrapping and being saved and restored. Reduced
 * presets (every matrix that may be bf16, or int8: core/qmat's products,
 * which round their inputs into scratch made at create) run the same loop
 * under the trap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/condition.h"
#include "../../core/model.h"
#include "../../core/net.h"
#include "../../core/sample.h"
#include "../support/rt/rt_trap.h"

static void test_trap_works(void **state)
{
    (void)state;
    assert_int_equal(rt_trap_self_check(), 0);
}

/* The golden preset `name`, its reducible matrices stored as dt. */
static rnn_model *load_as(const char *name, rnn_dtype dt)
{
    char path[256], err[256];
    snprintf(path, sizeof path, "tests/golden/%s.rnnw", name);
    rnn_model *m = rnn_model_load(path, err, sizeof err);
    if (!m) fail_msg("%s", err);
    if (dt == RNN_DTYPE_F32) return m;
    const rnn_model_config *cfg = rnn_model_get_config(m);
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const float *t[RNN_MAX_TENSORS];
    rnn_dtype d[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(cfg, specs);
    rnn_model_reduced_dtypes(cfg, dt, d);
    for (int i = 0; i < n; i++) t[i] = rnn_model_tensor(m, specs[i].name, NULL);
    void *buf;
    size_t len;
    if (rnn_model_serialize_typed(cfg, NULL, 0, t, d, &buf, &len, err, sizeof err) != 0)
        fail_msg("%s", err);
    rnn_model *r = rnn_model_load_memory(buf, len, name, err, sizeof err);
    free(buf);
    rnn_model_free(m);
    if (!r) fail_msg("%s", err);
    return r;
}

static void run_model_as(const char *name, rnn_dtype dt)
{
    char err[256];
    rnn_model *m = load_as(name, dt);
    rnn_net *net = rnn_net_create(m, err, sizeof err);
    if (!net) fail_msg("%s", err);
    const int V = rnn_model_get_config(m)->vocab;
    rnn_sampler *s = rnn_sampler_create(V);
    assert_non_null(s);
    float *saved = malloc(rnn_net_state_size(net) * sizeof *saved);
    uint8_t *mask = malloc((size_t)V);
    assert_non_null(saved);
    assert_non_null(mask);
    for (int c = 0; c < V; c++)
        mask[c] = c % 5 == 4;
    rnn_rng rng;
    rnn_rng_seed(&rng, 12345);
    const int rows = rnn_net_step_rows(net);
    long checksum = 0;
    const rnn_model_config *cfg = rnn_model_get_config(m);
    const int C = rnn_net_cond_columns(net), spq = cfg->steps_per_quarter;
    const int at_metric = rnn_model_cond_offset(cfg, RNN_COND_METRIC);
    const int at_harmony = rnn_model_cond_offset(cfg, RNN_COND_HARMONY);
    float *cond = C ? calloc((size_t)C, sizeof *cond) : NULL;
    assert_true(C == 0 || cond);
    rnn_held held;
    rnn_held_clear(&held);

    rt_trap_arm();
    int ev = 0;
    for (int t = 0; t < 10000; t++) {
        const float *y;
        if (at_metric >= 0) {
            rnn_metric_pos pos;
            const double beat = (double)(t % (4 * spq)) / spq;
            if (rnn_cond_metric_host(beat, 4, 4.0, spq, &pos) == 0)
                rnn_cond_metric_fill(&pos, spq, cond + at_metric);
        }
        if (at_harmony >= 0) {
            if (t % 16 == 0) rnn_held_note_on(&held, 48 + t % 24);
            if (t % 16 == 8) rnn_held_note_off(&held, 48 + (t - 8) % 24);
            rnn_cond_harmony_fill(rnn_held_mask(&held), cond + at_harmony);
        }
        switch (t % 8) {
        case 3: /* in pieces */
            rnn_net_step_begin_cond(net, ev, cond);
            while (!rnn_net_step_work(net, 1 + t % 61)) {
            }
            y = rnn_net_logits(net);
            break;
        case 5: /* an abandoned step first */
            rnn_net_step_begin_cond(net, (ev + 1) % V, cond);
            rnn_net_step_work(net, rows / 3);
            y = rnn_net_step_cond(net, ev, cond);
            break;
        case 6: /* branch and come back */
            rnn_net_state_get(net, saved);
            rnn_net_step(net, (ev + 7) % V);
            rnn_net_state_set(net, saved);
            y = rnn_net_step_cond(net, ev, cond);
            break;
        default:
            y = rnn_net_step_cond(net, ev, cond);
            break;
        }
        float temp = (t % 4) * 0.4f;
        float top = t % 3 ? 0.9f : 1.0f;
        ev = rnn_sample(s, &rng, y, V, temp, top, t % 2 ? mask : NULL);
        if (ev < 0) ev = 0;
        checksum += ev;
        if (t % 2500 == 2499) rnn_net_reset(net);
    }
    int calls = rt_trap_disarm();
    assert_true(checksum > 0);
    if (calls != 0) fail_msg("%s: %d trapped calls in the step loop", name, calls);

    free(cond);
    free(saved);
    free(mask);
    rnn_sampler_free(s);
    rnn_net_free(net);
    rnn_model_free(m);
}

static void run_model(const char *name)
{
    run_model_as(name, RNN_DTYPE_F32);
}

/* bf16 and int8, one-hot and embedded input, with conditions and attention */
static void test_reduced(void **state)
{
    (void)state;
    static const char *const names[] = {"lstm_e32_l2", "gru_e0_l2", "cond_gru_e12_l2",
                                        "attn_lstm_e16_l2", "rnn_e24_l3"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        run_model_as(names[i], RNN_DTYPE_BF16);
        run_model_as(names[i], RNN_DTYPE_INT8);
    }
}

static void test_rnn(void **state)
{
    (void)state;
    run_model("rnn_e0_l1");
    run_model("rnn_e24_l3");
    run_model("cond_rnn_e0_l2");
    run_model("attn_rnn_e0_l1");
}

static void test_lstm(void **state)
{
    (void)state;
    run_model("lstm_e0_l3");
    run_model("lstm_e32_l2");
    run_model("cond_lstm_e16_l2");
    run_model("cond_lstm_e0_l1");
    run_model("attn_lstm_e16_l2");
}

static void test_gru(void **state)
{
    (void)state;
    run_model("gru_e0_l2");
    run_model("gru_e16_l1");
    run_model("cond_gru_e0_l1");
    run_model("cond_gru_e12_l2");
    run_model("cond_drums_gru_e8_l1");
    run_model("attn_gru_e0_l2");
    run_model("attn_drums_gru_e8_l1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trap_works),
        cmocka_unit_test(test_rnn),
        cmocka_unit_test(test_lstm),
        cmocka_unit_test(test_gru),
        cmocka_unit_test(test_reduced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
