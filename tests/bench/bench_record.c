/* SPDX-License-Identifier: MIT */
/* Benchmark of what Learn adds to the audio thread: the engine recording
 * the player's line (rnn_engine_set_record, core/record). A conditioned
 * LSTM E=64 2x256 with random weights (metric and harmony: columns on at
 * every step) in continue mode, the transport rolling at 120 BPM at 48 kHz
 * in 64-frame blocks, a player striking a note every 16th for 5 simulated
 * minutes, run() timed per block with and without a ring (each block's
 * time the minimum over 3 runs; mean and maximum as a share of the 1333 us
 * period); and one push alone (rnn_rec_push of a step with the model's
 * columns), in nanoseconds, as a share of the period: at the engine's
 * 600 quarter notes a minute there is at most one push a block of 1200
 * frames. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../core/engine.h"
#include "../../core/net.h"
#include "../../core/record.h"
#include "../support/engine_fixture.h"

#define RATE 48000.0
#define BLOCK 64
#define MINUTES 5
#define RUNS 3

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + 1e-3 * (double)ts.tv_nsec;
}

static rnn_engine_model *model(void)
{
    const rnn_model_config cfg = {.kind = RNN_KIND_MELODY,
                                  .steps_per_quarter = 4,
                                  .cell = RNN_CELL_LSTM,
                                  .layers = 2,
                                  .embed = 64,
                                  .hidden = 256,
                                  .vocab = 130,
                                  .conditions = RNN_COND_METRIC | RNN_COND_HARMONY};
    rnn_model *m = fixture_random_model(&cfg, 11, 1.0f);
    char err[256];
    rnn_engine_model *em = m ? rnn_engine_model_wrap(m, err, sizeof err) : NULL;
    if (!em) {
        fprintf(stderr, "bench_record: %s\n", m ? err : "no model");
        exit(1);
    }
    return em;
}

/* Per-block run() times (the minimum over RUNS) into t; recording when
 * record; returns the steps recorded in the last run. */
static uint64_t run(int record, double *t, int blocks)
{
    uint64_t pushed = 0;
    for (int r = 0; r < RUNS; r++) {
        char err[256];
        rnn_engine *e = rnn_engine_create(RATE, BLOCK, err, sizeof err);
        rnn_engine_model *em = model();
        rnn_engine_set_model(e, em);
        rnn_engine_set_param(e, RNN_PARAM_MODE, RNN_MODE_CONTINUE);
        rnn_rec *rec = NULL;
        if (record) {
            rec = rnn_rec_create(4 * 200 * 20, rnn_net_cond_columns(rnn_engine_model_net(em)), err,
                                 sizeof err);
            rnn_engine_set_record(e, rec);
        }
        static rnn_engine_event out[256];
        int64_t frame = 0;
        for (int b = 0; b < blocks; b++, frame += BLOCK) {
            rnn_transport tr = {0};
            tr.flags =
                RNN_TRANSPORT_SPEED | RNN_TRANSPORT_BBT | RNN_TRANSPORT_TEMPO | RNN_TRANSPORT_METER;
            tr.speed = 1, tr.bpm = 120, tr.beats_per_bar = 4, tr.beat_unit = 4;
            tr.bar = frame / 96000, tr.bar_beat = (double)(frame % 96000) / 24000.0;
            rnn_engine_event in[2];
            uint32_t ni = 0;
            const int64_t at = frame % 6000; /* a 16th is 6000 frames */
            if (at < BLOCK) {
                const int p = 60 + (int)(frame / 6000 % 12);
                in[ni++] = (rnn_engine_event){0, 3, {0x80, (uint8_t)(p == 60 ? 71 : p - 1), 0}, 0};
                in[ni++] = (rnn_engine_event){0, 3, {0x90, (uint8_t)p, 90}, 0};
            }
            const double t0 = now_us();
            rnn_engine_run(e, BLOCK, in, ni, b == 0 ? &tr : NULL, b == 0, out, 256);
            const double dt = now_us() - t0;
            if (r == 0 || dt < t[b]) t[b] = dt;
        }
        if (rec) pushed = rnn_rec_written(rec);
        rnn_engine_set_record(e, NULL);
        rnn_rec_free(rec);
        rnn_engine_free(e);
    }
    return pushed;
}

static void report(const char *label, const double *t, int blocks)
{
    double sum = 0, max = 0;
    for (int b = 1; b < blocks; b++) { /* the first block is the start's */
        sum += t[b];
        max = t[b] > max ? t[b] : max;
    }
    const double period = BLOCK / RATE * 1e6;
    printf("BENCH record_%s_block_mean %.3f us (%.4f of the period)\n", label, sum / (blocks - 1),
           sum / (blocks - 1) / period);
    printf("BENCH record_%s_block_max %.3f us (%.4f of the period)\n", label, max, max / period);
}

int main(void)
{
    const int blocks = (int)(MINUTES * 60 * RATE / BLOCK);
    double *off = malloc((size_t)blocks * sizeof *off), *on = malloc((size_t)blocks * sizeof *on);
    if (!off || !on) return 1;
    run(0, off, blocks);
    const uint64_t pushed = run(1, on, blocks);
    printf("model: LSTM E=64 2x256, metric and harmony, random weights; %llu steps recorded\n",
           (unsigned long long)pushed);
    report("off", off, blocks);
    report("on", on, blocks);

    /* one push alone, the columns of a conditioned step */
    char err[256];
    const int C = 64;
    rnn_rec *rec = rnn_rec_create(16000, C, err, sizeof err);
    float cols[64] = {0};
    cols[0] = cols[5] = cols[17] = cols[30] = cols[41] = 1;
    const int n = 1000000;
    const double t0 = now_us();
    for (int i = 0; i < n; i++) {
        cols[41] = (float)(i & 1);
        rnn_rec_push(rec, i % 130, cols);
    }
    const double ns = (now_us() - t0) * 1e3 / n;
    printf("BENCH record_push %.1f ns (%.6f of a 64-frame period)\n", ns,
           ns * 1e-3 / (BLOCK / RATE * 1e6));
    rnn_rec_free(rec);
    free(off);
    free(on);
    return 0;
}
