/* SPDX-License-Identifier: MIT */
/* Benchmark of core/engine as the LV2 plugin runs it: 10 simulated minutes
 * at 48 kHz in 64-frame blocks, accompany mode, the transport rolling at
 * 120 BPM from bar 0, nobody playing. On four models: the default model
 * (presets/melody-lstm.rnnw; without it a random-weight stand-in of the
 * same shape, LSTM E=64 2x256, and the output says so) or the preset named
 * as the one argument (engine_*); a conditioned LSTM E=64 2x256 with
 * random weights taking the metric position and the harmony
 * (engine_cond_*); and an LSTM E=64 2x256 with random weights as PyTorch
 * initialises them, plain (engine_plain_*) and with attention over its
 * last n = 32 outputs, A = 64 (engine_attn_*), the same weights but the
 * attention's. Each of the 5 runs prepares the model afresh, as the
 * plugin's worker does, so its first block is the first after transport
 * start on a model never run. Figures: run() time per block (the first
 * block, median, 99th percentile, maximum, mean, in microseconds, and as a
 * share of the 1333 us block period; each block's time is its minimum over
 * the 5 runs, the raw maxima are printed too), the first and the worst
 * block against the mean block, and one whole network step done at once
 * for comparison (what the block holding a tick would cost if the step
 * were not spread across blocks). The whole measure is repeated 3 times
 * (15 runs a model); the figures are those of the repeat whose worst block
 * against its mean block (the first block included) is the median of the
 * three, each repeat's ratio is printed too, and a summary
 * (engine_first_block_*) lists the ratios of every model kind and the
 * block cost of attention beside the plain net's.
 *
 * Then an absurd host: 1e6 BPM at transport speed 1e4 (the clock ticks once a
 * frame), 8192- and 64-frame blocks, with the default model and with the
 * biggest LSTM 2xH (E = 64, H from 1024 down) at 96 steps per quarter that
 * the engine accepts: the worst and mean block as a share of its period and
 * the network steps per block, each block's time its minimum over 5 runs.
 * A run stops after a few seconds of wall time, so a model that cannot keep
 * up still prints its first blocks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../core/engine.h"
#include "../../core/net.h"
#include "../support/engine_fixture.h"

#define RATE 48000.0
#define BLOCK 64
#define MINUTES 10
#define RUNS 5
#define REPEATS 3

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + 1e-3 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One simulated run; t[b] receives the wall time of block b. */
static int simulate(rnn_engine_model *em, double *t, size_t n_blocks, size_t *notes,
                    rnn_engine_stats *st)
{
    char err[256];
    rnn_engine *e = rnn_engine_create(RATE, BLOCK, err, sizeof err);
    if (!e) return -1;
    rnn_engine_set_model(e, em);
    rnn_engine_set_param(e, RNN_PARAM_MODE, RNN_MODE_ACCOMPANY);
    rnn_engine_set_param(e, RNN_PARAM_SEED, 1);
    rnn_transport tr = {
        0,   RNN_TRANSPORT_SPEED | RNN_TRANSPORT_BBT | RNN_TRANSPORT_TEMPO | RNN_TRANSPORT_METER,
        1.0, 120,
        4,   4,
        0,   0};
    static rnn_engine_event out[1024];
    *notes = 0;
    for (size_t b = 0; b < n_blocks; b++) {
        double t0 = now_us();
        uint32_t n = rnn_engine_run(e, BLOCK, NULL, 0, b == 0 ? &tr : NULL, b == 0, out, 1024);
        t[b] = now_us() - t0;
        for (uint32_t i = 0; i < n; i++)
            *notes += (out[i].data[0] & 0xf0) == 0x90;
    }
    rnn_engine_get_stats(e, st);
    rnn_engine_set_model(e, NULL); /* the model outlives this engine */
    rnn_engine_free(e);
    return 0;
}

/* An LSTM E=64 2xH melody model taking the conditions cond (RNN_COND_*
 * bits): random weights as PyTorch initialises them. */
static rnn_model *big_model(int H, int spq, unsigned cond)
{
    rnn_model_config cfg = {.kind = RNN_KIND_MELODY, .steps_per_quarter = spq, .cell = RNN_CELL_LSTM,
                            .layers = 2, .embed = 64, .hidden = H, .vocab = 130, .conditions = cond};
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    float *data[RNN_MAX_TENSORS] = {0};
    int n = rnn_model_tensor_specs(&cfg, specs);
    if (n < 0) return NULL;
    uint64_t s = 99;
    for (int i = 0; i < n; i++) {
        data[i] = malloc(specs[i].count * sizeof(float));
        if (!data[i]) return NULL;
        for (size_t k = 0; k < specs[i].count; k++)
            data[i][k] = fixture_uniform(&s, 1.0f / (float)H);
    }
    void *buf = NULL;
    size_t len = 0;
    char err[256];
    int rc =
        rnn_model_serialize(&cfg, NULL, 0, (const float *const *)data, &buf, &len, err, sizeof err);
    for (int i = 0; i < n; i++)
        free(data[i]);
    if (rc) return NULL;
    rnn_model *m = rnn_model_load_memory(buf, len, "bench", err, sizeof err);
    free(buf);
    return m;
}

/* The absurd host on one model and block size, for at most max_blocks
 * blocks or about max_wall seconds; RUNS runs of the same blocks, each
 * block's time its minimum over the runs (as above). */
static void absurd_host(rnn_engine_model *em, const char *label, uint32_t block, int max_blocks,
                        double max_wall)
{
    char err[256];
    rnn_transport tr = {
        0,   RNN_TRANSPORT_SPEED | RNN_TRANSPORT_BBT | RNN_TRANSPORT_TEMPO | RNN_TRANSPORT_METER,
        1e4, 1e6,
        4,   4,
        0,   0};
    static rnn_engine_event out[1024];
    double *best = malloc((size_t)max_blocks * sizeof *best);
    if (!best) return;
    rnn_engine_stats st;
    int blocks = max_blocks;
    for (int run = 0; run < RUNS; run++) {
        rnn_engine *e = rnn_engine_create(RATE, block, err, sizeof err);
        if (!e) break;
        rnn_engine_set_model(e, em);
        rnn_engine_set_param(e, RNN_PARAM_MODE, RNN_MODE_ACCOMPANY);
        rnn_engine_set_param(e, RNN_PARAM_SEED, 1);
        double start = now_us();
        int b = 0;
        for (; b < blocks && (b == 0 || now_us() - start < max_wall * 1e6); b++) {
            double t0 = now_us();
            rnn_engine_run(e, block, NULL, 0, b == 0 ? &tr : NULL, b == 0, out, 1024);
            double dt = now_us() - t0;
            best[b] = run == 0 || dt < best[b] ? dt : best[b];
        }
        blocks = b; /* later runs time the same blocks */
        rnn_engine_get_stats(e, &st);
        rnn_engine_set_model(e, NULL);
        rnn_engine_free(e);
        if (now_us() - start > max_wall * 1e6) break; /* too slow to repeat */
    }
    double period = block * 1e6 / RATE, worst = 0, total = 0;
    for (int b = 0; b < blocks; b++) {
        total += best[b];
        if (best[b] > worst) worst = best[b];
    }
    printf("BENCH engine_absurd_%s_%u_blocks %d blocks\n", label, block, blocks);
    printf("BENCH engine_absurd_%s_%u_block_max_share %.4f of the period\n", label, block,
           worst / period);
    printf("BENCH engine_absurd_%s_%u_block_mean_share %.4f of the period\n", label, block,
           total / blocks / period);
    printf("BENCH engine_absurd_%s_%u_net_steps_per_block %.1f steps\n", label, block,
           (double)st.net_steps / blocks);
    printf("BENCH engine_absurd_%s_%u_steps_skipped_per_block %.1f steps\n", label, block,
           (double)st.steps_skipped / blocks);
    free(best);
}

static void absurd_hosts(rnn_engine_model *em)
{
    char err[512];
    absurd_host(em, "default", 8192, 40, 10);
    absurd_host(em, "default", 64, 4000, 10);
    for (int H = 1024; H >= 64; H = H > 256 ? H - 128 : H - 32) {
        rnn_model *m = big_model(H, 96, 0);
        if (!m) {
            fprintf(stderr, "bench_engine: cannot build an LSTM 2x%d\n", H);
            return;
        }
        rnn_engine_model *big = rnn_engine_model_wrap(m, err, sizeof err);
        if (!big) {
            printf("refused: LSTM 2x%d at 96 steps per quarter: %s\n", H, err);
            continue;
        }
        printf("model: LSTM E=64 2x%d at 96 steps per quarter, random weights\n", H);
        printf("BENCH engine_absurd_big_hidden %d units\n", H);
        printf("BENCH engine_absurd_big_budget_share %.3f of a baseline core at %g quarters a "
               "minute\n",
               rnn_engine_budget_share(rnn_model_get_config(rnn_engine_model_get(big))),
               RNN_ENGINE_MAX_QPM);
        absurd_host(big, "big", 8192, 40, 10);
        absurd_host(big, "big", 64, 4000, 10);
        rnn_engine_model_free(big);
        return;
    }
}

/* Where a playback run's model comes from: a preset file, the stand-in
 * of presets/melody-lstm.rnnw's shape, or a conditioned LSTM 2x256. */
typedef enum { FROM_FILE, FROM_STAND_IN, FROM_COND, FROM_PLAIN, FROM_ATTN } model_source;

/* An LSTM E=64 2x256 melody model, with attention over the last n outputs
 * at size A when n > 0, weights as PyTorch initialises them (the same seed:
 * the same weights but the attention's and the head's). */
static rnn_model *attn_model(int n, int A)
{
    const rnn_model_config cfg = {.kind = RNN_KIND_MELODY,
                                  .steps_per_quarter = 4,
                                  .cell = RNN_CELL_LSTM,
                                  .layers = 2,
                                  .embed = 64,
                                  .hidden = 256,
                                  .vocab = 130,
                                  .attn_window = n,
                                  .attn_size = A};
    return fixture_random_model(&cfg, 7, 1.0f);
}

/* A freshly prepared model, as the plugin's worker hands one over. */
static rnn_engine_model *prepare(model_source src, const char *path)
{
    char err[512];
    rnn_engine_model *em = NULL;
    if (src == FROM_FILE) {
        em = rnn_engine_model_prepare(path, err, sizeof err);
    } else {
        rnn_model *m = src == FROM_COND    ? big_model(256, 4, RNN_COND_METRIC | RNN_COND_HARMONY)
                       : src == FROM_PLAIN ? attn_model(0, 0)
                       : src == FROM_ATTN
                           ? attn_model(32, 64)
                           : fixture_model(RNN_KIND_MELODY, RNN_CELL_LSTM, 2, 64, 256, 1);
        if (!m) {
            fprintf(stderr, "bench_engine: cannot build the model\n");
            return NULL;
        }
        em = rnn_engine_model_wrap(m, err, sizeof err);
    }
    if (!em) fprintf(stderr, "bench_engine: %s\n", err);
    return em;
}

/* What a playback gives the summary: the worst block (the first block
 * included) and the first block over the mean, and the mean and the worst
 * block as shares of the period. */
typedef struct {
    double max_over_mean, first_over_mean, mean_share, max_share;
} summary;

/* The 10-minute playback on RUNS freshly prepared models (the first block
 * of each run is the first after transport start on a model never run
 * before); figures named prefix_*, and *sum for the summary. Returns the
 * last run's model, or NULL. */
static rnn_engine_model *playback(model_source src, const char *path, const char *prefix,
                                  summary *sum)
{
    char err[512];
    /* The work is the same block for block in every run (same seed, same
     * clock), so the minimum over runs of each block's time removes the
     * preemption of a shared machine and keeps the block's own cost. That
     * measure is made REPEATS times over; the figures below are those of
     * the repeat whose worst block against its mean is the median one. */
    const size_t n_blocks = (size_t)(RATE * 60 * MINUTES / BLOCK);
    double *t = malloc(n_blocks * sizeof *t), *rep_t[REPEATS] = {0}, ratio[REPEATS];
    int ok = t != NULL;
    for (int r = 0; r < REPEATS; r++)
        ok &= (rep_t[r] = malloc(n_blocks * sizeof *rep_t[r])) != NULL;
    size_t notes = 0;
    rnn_engine_stats st;
    double raw_max = 0, first_max = 0;
    rnn_engine_model *em = NULL;
    for (int rep = 0; ok && rep < REPEATS; rep++) {
        double *best_t = rep_t[rep], max = 0, total = 0;
        for (int run = 0; ok && run < RUNS; run++) {
            rnn_engine_model_free(em);
            em = prepare(src, path);
            if (!em || simulate(em, t, n_blocks, &notes, &st)) {
                ok = 0;
                break;
            }
            if (t[0] > first_max) first_max = t[0];
            for (size_t b = 0; b < n_blocks; b++) {
                if (t[b] > raw_max) raw_max = t[b];
                best_t[b] = run == 0 || t[b] < best_t[b] ? t[b] : best_t[b];
            }
        }
        for (size_t b = 0; ok && b < n_blocks; b++) {
            total += best_t[b];
            if (best_t[b] > max) max = best_t[b];
        }
        ratio[rep] = ok ? max / (total / (double)n_blocks) : 0;
    }
    if (!ok) {
        free(t);
        for (int r = 0; r < REPEATS; r++)
            free(rep_t[r]);
        rnn_engine_model_free(em);
        return NULL;
    }
    double sorted[REPEATS];
    memcpy(sorted, ratio, sizeof ratio);
    qsort(sorted, REPEATS, sizeof *sorted, cmp_double);
    int mid = 0;
    while (ratio[mid] != sorted[REPEATS / 2])
        mid++;
    double *best_t = rep_t[mid];
    printf("BENCH %s_conditions %u bits\n", prefix, rnn_engine_model_conditions(em));
    double total = 0;
    for (size_t b = 0; b < n_blocks; b++)
        total += best_t[b];
    for (int r = 0; r < REPEATS; r++)
        printf("BENCH %s_repeat_%d_max_over_mean %.2f x\n", prefix, r + 1, ratio[r]);

    /* one whole step, done at once, on a second net of the same model */
    rnn_net *net = rnn_net_create(rnn_engine_model_get(em), err, sizeof err);
    double best = 1e30;
    if (net) {
        printf("BENCH %s_net_kernel %s name\n", prefix, rnn_net_kernel_name(net));
        for (int rep = 0; rep < 5; rep++) {
            double t0 = now_us();
            for (int i = 0; i < 200; i++)
                rnn_net_step(net, 2 + i % 100);
            double per = (now_us() - t0) / 200;
            if (per < best) best = per;
        }
        rnn_net_free(net);
    }

    double mean = total / (double)n_blocks;
    /* The first grid steps after the transport starts: their worst block
     * is printed apart from the worst of the steady run that follows. */
    const size_t warm = (size_t)(2 * RATE * 60 / (120 * 4) / BLOCK) + 1;
    double start_max = 0, steady_max = 0, first = best_t[0];
    for (size_t b = 0; b < n_blocks; b++) {
        double *m = b < warm ? &start_max : &steady_max;
        if (best_t[b] > *m) *m = best_t[b];
    }
    qsort(best_t, n_blocks, sizeof *best_t, cmp_double);
    double med = best_t[n_blocks / 2], p99 = best_t[(size_t)(0.99 * (double)n_blocks)],
           max = best_t[n_blocks - 1];
    double period = BLOCK * 1e6 / RATE;
    double blocks_per_step = RATE * 60 / (120 * 4) / BLOCK;
    printf("BENCH %s_blocks %zu blocks\n", prefix, n_blocks);
    printf("BENCH %s_runs %d runs\n", prefix, RUNS);
    printf("BENCH %s_notes %zu note-ons\n", prefix, notes);
    printf("BENCH %s_late_steps %llu steps\n", prefix, (unsigned long long)st.late_steps);
    printf("BENCH %s_block_first %.2f us\n", prefix, first);
    printf("BENCH %s_block_first_raw_max %.2f us\n", prefix, first_max);
    printf("BENCH %s_block_median %.2f us\n", prefix, med);
    printf("BENCH %s_block_p99 %.2f us\n", prefix, p99);
    printf("BENCH %s_block_max %.2f us\n", prefix, max);
    printf("BENCH %s_block_mean %.2f us\n", prefix, mean);
    printf("BENCH %s_block_first_share %.3f %%\n", prefix, 100 * first / period);
    printf("BENCH %s_block_median_share %.3f %%\n", prefix, 100 * med / period);
    printf("BENCH %s_block_p99_share %.3f %%\n", prefix, 100 * p99 / period);
    printf("BENCH %s_block_max_share %.3f %%\n", prefix, 100 * max / period);
    printf("BENCH %s_block_max_raw %.2f us\n", prefix, raw_max);
    printf("BENCH %s_blocks_per_step %.2f blocks\n", prefix, blocks_per_step);
    printf("BENCH %s_p99_over_mean %.2f x\n", prefix, p99 / mean);
    printf("BENCH %s_first_over_mean %.2f x\n", prefix, first / mean);
    printf("BENCH %s_max_over_mean %.2f x\n", prefix, max / mean);
    printf("BENCH %s_block_max_first_2_steps %.2f us\n", prefix, start_max);
    printf("BENCH %s_block_max_after_2_steps %.2f us\n", prefix, steady_max);
    printf("BENCH %s_steady_max_over_mean %.2f x\n", prefix, steady_max / mean);
    printf("BENCH %s_block_mean_share %.3f %%\n", prefix, 100 * mean / period);
    printf("BENCH %s_runs_repeats %d runs x %d repeats\n", prefix, RUNS, REPEATS);
    printf("BENCH %s_whole_step %.2f us\n", prefix, best);
    printf("BENCH %s_whole_step_share %.3f %%\n", prefix, 100 * best / period);
    sum->max_over_mean = max / mean;
    sum->first_over_mean = first / mean;
    sum->mean_share = 100 * mean / period;
    sum->max_share = 100 * max / period;
    free(t);
    for (int r = 0; r < REPEATS; r++)
        free(rep_t[r]);
    return em;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "presets/melody-lstm.rnnw";
    model_source src = FROM_FILE;
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    else if (argc > 1) {
        fprintf(stderr, "bench_engine: cannot open %s\n", path);
        return 1;
    } else {
        src = FROM_STAND_IN;
        path = "random-weight stand-in (LSTM E=64, 2x256): presets/melody-lstm.rnnw absent";
    }
    static const struct {
        model_source src;
        const char *prefix, *kind, *label;
    } runs[] = {
        {FROM_FILE, "engine", "v1", NULL},
        {FROM_COND, "engine_cond", "conditioned",
         "LSTM E=64 2x256 taking the metric position and the harmony, random weights"},
        {FROM_PLAIN, "engine_plain", "plain", "LSTM E=64 2x256, random weights"},
        {FROM_ATTN, "engine_attn", "attention",
         "LSTM E=64 2x256 with attention over its last 32 outputs, A = 64, random weights"},
    };
    enum { KINDS = sizeof runs / sizeof *runs };
    summary sum[KINDS];
    rnn_engine_model *em = NULL;
    for (int i = 0; i < KINDS; i++) {
        printf("model: %s\n", runs[i].label ? runs[i].label : path);
        rnn_engine_model *m =
            playback(runs[i].src == FROM_FILE ? src : runs[i].src, path, runs[i].prefix, &sum[i]);
        if (!m) return 1;
        if (i == 0)
            em = m;
        else
            rnn_engine_model_free(m);
    }
    /* The start of playback against the whole run, per model kind; and the
     * attention's block cost beside the plain net's of the same shape. */
    for (int i = 0; i < KINDS; i++) {
        printf("BENCH engine_first_block_%s_first_over_mean %.2f x\n", runs[i].kind,
               sum[i].first_over_mean);
        printf("BENCH engine_first_block_%s_max_over_mean %.2f x (the median of %d repeats)\n",
               runs[i].kind, sum[i].max_over_mean, REPEATS);
    }
    printf("BENCH engine_attn_cost_block_mean_share %.3f %% (plain %.3f %%)\n",
           sum[KINDS - 1].mean_share, sum[KINDS - 2].mean_share);
    printf("BENCH engine_attn_cost_block_max_share %.3f %% (plain %.3f %%)\n",
           sum[KINDS - 1].max_share, sum[KINDS - 2].max_share);
    absurd_hosts(em);
    rnn_engine_model_free(em);
    return 0;
}
