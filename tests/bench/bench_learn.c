/* SPDX-License-Identifier: MIT */
/* The plugin's learning step (core/learn, plain C, no BLAS) on one core:
 * the CPU time of one update of rnnmidi-learn's defaults (8 AdamW steps of
 * 8 windows x 64 grid steps: forward, BPTT, clipping, AdamW pulled towards
 * the start) for an LSTM 2 x 256 with E = 64 and the metric and harmony
 * conditions at 4 steps a quarter, the same with attention over the last
 * 32 outputs, A = 64 (the shape of presets/melody-lstm.rnnw), a GRU 2 x 256
 * and an LSTM 2 x 512 of the same inputs; random weights,
 * random events and columns. The budget is 2 s of one core for the
 * LSTM 2 x 256 (with attention, the default preset). Also the throughput in grid steps (B x T) per
 * second and the kernel build the learner picked. The figure is the best of BENCH_ROUNDS (3)
 * updates (the machine is shared); thread CPU time, so waiting for a core does not count. Prints
 * `BENCH name value unit`. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../../core/learn.h"
#include "../../core/model.h"
#include "../support/random.h"

enum { B = 8, T = 64, STEPS = 8 };

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static rnn_model *make_model(const rnn_model_config *cfg)
{
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(cfg, specs);
    float *t[RNN_MAX_TENSORS];
    uint64_t s = 42;
    for (int i = 0; i < n; i++)
        if (!(t[i] = xorshift_floats(&s, specs[i].count, 0.06f))) return NULL;
    void *buf;
    size_t len;
    char err[256];
    rnn_model *m = NULL;
    if (rnn_model_serialize(cfg, NULL, 0, (const float *const *)t, &buf, &len, err, sizeof err) ==
        0) {
        m = rnn_model_load_memory(buf, len, "bench", err, sizeof err);
        free(buf);
    }
    if (!m) fprintf(stderr, "bench_learn: %s\n", err);
    for (int i = 0; i < n; i++)
        free(t[i]);
    return m;
}

static int bench(const char *name, rnn_cell cell, int hidden, int win, int rounds)
{
    const rnn_model_config cfg = {.kind = RNN_KIND_MELODY,
                                  .steps_per_quarter = 4,
                                  .cell = cell,
                                  .layers = 2,
                                  .embed = 64,
                                  .hidden = hidden,
                                  .vocab = RNN_MELODY_VOCAB,
                                  .conditions = RNN_COND_ALL,
                                  .attn_window = win,
                                  .attn_size = win ? 64 : 0};
    rnn_model *m = make_model(&cfg);
    char err[256];
    rnn_learn *ln = m ? rnn_learn_create(m, B, T, err, sizeof err) : NULL;
    if (!ln) {
        if (m) fprintf(stderr, "bench_learn: %s\n", err);
        rnn_model_free(m);
        return -1;
    }
    const int C = rnn_learn_columns(ln);
    int32_t in[B * T], tg[B * T];
    float *cols = calloc((size_t)B * T * C, sizeof *cols);
    if (!cols) return -1;
    uint64_t s = 7;
    for (int r = 0; r < B * T; r++) {
        in[r] = (int32_t)((xorshift_uniform(&s) + 1.0f) * 65.0f) % RNN_MELODY_VOCAB;
        tg[r] = (int32_t)((xorshift_uniform(&s) + 1.0f) * 65.0f) % RNN_MELODY_VOCAB;
        for (int c = 0; c < C; c++)
            cols[(size_t)r * C + c] = xorshift_uniform(&s) > 0.85f ? 1.0f : 0.0f;
    }
    rnn_learn_options o;
    rnn_learn_options_default(&o);
    rnn_learn_step(ln, &o, in, cols, tg, B, T); /* warm-up */
    double best = 1e30;
    for (int r = 0; r < rounds; r++) {
        const double t0 = cpu_s();
        for (int k = 0; k < STEPS; k++)
            rnn_learn_step(ln, &o, in, cols, tg, B, T);
        const double dt = cpu_s() - t0;
        best = dt < best ? dt : best;
    }
    printf("BENCH learn_update_%s %.3f s (%d steps of %d x %d, kernel %s)\n", name, best, STEPS, B,
           T, rnn_learn_kernel_name(ln));
    printf("BENCH learn_throughput_%s %.0f steps/s\n", name, STEPS * B * T / best);
    free(cols);
    rnn_learn_free(ln);
    rnn_model_free(m);
    return 0;
}

int main(void)
{
    const char *e = getenv("BENCH_ROUNDS");
    const int rounds = e && atoi(e) > 0 ? atoi(e) : 3;
    int rc = 0;
    rc |= bench("lstm2x256", RNN_CELL_LSTM, 256, 0, rounds);
    rc |= bench("lstm2x256_attn32", RNN_CELL_LSTM, 256, 32, rounds);
    rc |= bench("gru2x256", RNN_CELL_GRU, 256, 0, rounds);
    rc |= bench("lstm2x512", RNN_CELL_LSTM, 512, 0, rounds);
    return rc ? 1 : 0;
}
