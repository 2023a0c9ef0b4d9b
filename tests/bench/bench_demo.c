/* SPDX-License-Identifier: MIT */
/* Figures of the demo's audio thread: what one callback block costs with two
 * engines (a melody LSTM and a drum GRU of 2 x 256, random-weight fixtures)
 * and the synth, as a real-time factor and as the worst block against the
 * block's time budget; and the synth alone per sounding voice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../plugin/demo/demo.h"
#include "../support/demo/demo_fixture.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    char dir[256], mel[512], drums[512], err[512];
    if (fx_tmpdir(dir, sizeof dir, "bench-demo")) return 1;
    snprintf(mel, sizeof mel, "%s/melody.rnnw", dir);
    snprintf(drums, sizeof drums, "%s/drums.rnnw", dir);
    if (fx_write_model_sized(mel, RNN_KIND_MELODY, RNN_CELL_LSTM, 2, 64, 256, 1) ||
        fx_write_model_sized(drums, RNN_KIND_DRUMS, RNN_CELL_GRU, 2, 64, 256, 2))
        return 1;
    const double rate = 48000.0;
    const uint32_t block = 256;
    demo_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.sample_rate = rate;
    cfg.max_block = block;
    cfg.seed = 7;
    cfg.n_parts = 2;
    cfg.models[0] = rnn_engine_model_prepare(mel, err, sizeof err);
    cfg.models[1] = rnn_engine_model_prepare(drums, err, sizeof err);
    if (!cfg.models[0] || !cfg.models[1]) {
        fprintf(stderr, "bench_demo: %s\n", err);
        return 1;
    }
    demo_session *s = demo_session_create(&cfg, err, sizeof err);
    if (!s) {
        fprintf(stderr, "bench_demo: %s\n", err);
        return 1;
    }
    static float out[2 * 256];
    static demo_event ev[4096];
    const int blocks = (int)(60.0 * rate / block); /* one minute of music */
    double worst = 0, t0 = now();
    double *times = malloc((size_t)blocks * sizeof *times);
    if (!times) return 1;
    for (int b = 0; b < blocks; b++) {
        double a = now();
        demo_session_process(s, NULL, out, block);
        double d = now() - a;
        times[b] = d;
        if (d > worst) worst = d;
        demo_session_drain(s, ev, 4096);
    }
    qsort(times, (size_t)blocks, sizeof *times, cmp_double);
    double total = now() - t0;
    double budget = block / rate;
    printf("BENCH demo_session_realtime_factor %.1f x\n", 60.0 / total);
    printf("BENCH demo_session_block_mean %.1f us\n", total / blocks * 1e6);
    printf("BENCH demo_session_block_p99 %.1f us\n", times[blocks * 99 / 100] * 1e6);
    printf("BENCH demo_session_block_p999 %.1f us\n", times[blocks * 999 / 1000] * 1e6);
    printf("BENCH demo_session_block_worst %.1f us\n", worst * 1e6);
    rnn_engine_stats st;
    demo_session_part_stats(s, 0, &st);
    printf("BENCH demo_melody_late_steps %llu of %llu\n", (unsigned long long)st.late_steps,
           (unsigned long long)st.net_steps);
    free(times);
    printf("BENCH demo_session_block_budget %.1f us\n", budget * 1e6);
    demo_session_free(s);

    /* the synth alone: 8 lead voices held, a hit every 16th */
    demo_synth *sy = demo_synth_create(rate, 1);
    if (!sy) return 1;
    for (int p = 0; p < 8; p++) {
        uint8_t on[3] = {0x90, (uint8_t)(60 + 3 * p), 100};
        demo_synth_midi(sy, on, 3);
    }
    t0 = now();
    const int sblocks = (int)(30.0 * rate / block);
    for (int b = 0; b < sblocks; b++) {
        if (b % 23 == 0) {
            uint8_t hit[3] = {0x99, (uint8_t)(b % 46 == 0 ? 36 : 42), 100};
            demo_synth_midi(sy, hit, 3);
        }
        demo_synth_render(sy, out, block);
    }
    total = now() - t0;
    printf("BENCH demo_synth_8_voices_realtime_factor %.1f x\n", 30.0 / total);
    demo_synth_free(sy);
    fx_rmtree(dir);
    return 0;
}
