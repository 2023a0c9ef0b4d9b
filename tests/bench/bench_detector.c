/* SPDX-License-Identifier: MIT */
/* Figures of the audio note detector (plugin/listen/detector), as
 * `BENCH name value unit` lines: its cost per 64-frame block at 48 kHz (mean
 * over a melody, full-scale noise and silence, the share of the 1333 us block period, and
 * the blocks where a hop completes), what one rnn_detector_reset costs at 48 and
 * 192 kHz (the reason the LV2 plugin resets a spare detector on its worker
 * rather than in run()), then precision, recall,
 * F1 and median latency on the melodies of tests/fixtures/melodies for each
 * voice (tests/support/listen/melody_audio.h) and rate, scored as
 * tests/unit/test_detector.c scores them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../support/listen/melody_audio.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static const char *const MELODIES[] = {"ode_to_joy", "greensleeves", "riff"};

static int load(int i, ma_notes *m)
{
    char path[128];
    snprintf(path, sizeof path, "tests/fixtures/melodies/%s.txt", MELODIES[i]);
    if (ma_load(path, m) != 0) {
        fprintf(stderr, "bench_detector: cannot read %s (run from the top folder)\n", path);
        return -1;
    }
    return 0;
}

/* Time per 64-frame block at 48 kHz, best of 3 runs: the mean, and the
 * median and 90th percentile of the blocks in which a hop completes (one
 * in four: the others only buffer). The machine may be shared, so medians
 * and percentiles rather than a maximum. */
static void cost(const char *name, const float *y, size_t n)
{
    const double rate = 48000.0, period_us = 64.0 / rate * 1e6;
    size_t nb = n / 64;
    double *hop_t = malloc(nb * sizeof *hop_t);
    if (!hop_t) exit(1);
    double best_mean = 1e30, best_med = 1e30, best_p90 = 1e30;
    for (int run = 0; run < 3; run++) {
        char err[128];
        rnn_detector *d = rnn_detector_create(rate, 64, err, sizeof err);
        if (!d) {
            fprintf(stderr, "bench_detector: %s\n", err);
            exit(1);
        }
        const size_t hop = rnn_detector_hop_size(d);
        rnn_detected_note_event ev[8];
        double total = 0.0;
        size_t nh = 0;
        for (size_t pos = 0; pos + 64 <= n; pos += 64) {
            double t0 = now();
            rnn_detector_process(d, y + pos, 64, ev, 8);
            double dt = now() - t0;
            total += dt;
            if ((pos + 64) % hop == 0) hop_t[nh++] = dt;
        }
        rnn_detector_free(d);
        best_mean = fmin(best_mean, total / (double)nb);
        qsort(hop_t, nh, sizeof *hop_t, ma_cmp_double);
        best_med = fmin(best_med, hop_t[nh / 2]);
        best_p90 = fmin(best_p90, hop_t[nh * 9 / 10]);
    }
    free(hop_t);
    printf("BENCH detector_block64_%s_mean %.0f ns\n", name, best_mean * 1e9);
    printf("BENCH detector_block64_%s_share %.2f %%\n", name, 100.0 * best_mean * 1e6 / period_us);
    printf("BENCH detector_hop_block64_%s_median %.1f us\n", name, best_med * 1e6);
    printf("BENCH detector_hop_block64_%s_p90 %.1f us\n", name, best_p90 * 1e6);
}

/* One reset after a loud second, best of 20, at a rate. */
static void reset_cost(double rate)
{
    char err[128];
    rnn_detector *d = rnn_detector_create(rate, 64, err, sizeof err);
    size_t n = (size_t)rate;
    float *x = malloc(n * sizeof *x);
    if (!d || !x) exit(1);
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * sinf(2.0f * 3.14159265f * 440.0f * (float)i / (float)rate);
    double best = 1e30;
    rnn_detected_note_event ev[64];
    for (int k = 0; k < 20; k++) {
        rnn_detector_process(d, x, (uint32_t)n, ev, 64);
        double t0 = now();
        rnn_detector_reset(d);
        best = fmin(best, now() - t0);
    }
    printf("BENCH detector_reset_%.0f %.1f us\n", rate, best * 1e6);
    free(x);
    rnn_detector_free(d);
}

int main(void)
{
    reset_cost(48000.0);
    reset_cost(192000.0);
    ma_notes all = {0};
    double shift = 0.0;
    for (int i = 0; i < 3; i++) { /* the three melodies one after another */
        ma_notes m = {0};
        if (load(i, &m) != 0) return 1;
        double end = 0.0;
        for (size_t k = 0; k < m.n; k++) {
            ma_note x = m.v[k];
            x.on += shift;
            x.off += shift;
            end = fmax(end, x.off);
            if (ma_push(&all, x) != 0) return 1;
        }
        shift = end + 0.5;
        ma_notes_free(&m);
    }
    size_t n = 0;
    float *y = ma_render(&all, MA_SAW_NOISE, 48000.0, 20.0, 1, &n);
    float *z = malloc(n * sizeof *z);
    if (!y || !z) return 1;
    uint64_t s = 5;
    for (size_t i = 0; i < n; i++)
        z[i] = (float)(2.0 * ma_uniform(&s) - 1.0);
    cost("melody", y, n);
    cost("noise", z, n);
    memset(z, 0, n * sizeof *z);
    cost("silence", z, n);
    free(y);
    free(z);

    static const int rates[2] = {44100, 48000};
    static const uint32_t blocks[] = {64};
    static const char *const short_name[4] = {"sine", "saw", "saw_noise20dB", "voice_noise20dB"};
    for (int v = 0; v < 4; v++)
        for (int r = 0; r < 2; r++) {
            double lat[1024], est[1024];
            int truth = 0, det = 0, hit = 0;
            size_t nl = 0;
            for (int i = 0; i < 3; i++) {
                ma_notes m = {0};
                if (load(i, &m) != 0) return 1;
                size_t len = 0;
                float *x = ma_render(&m, (ma_voice)v, rates[r], 20.0, 7, &len);
                char err[128];
                rnn_detector *d = rnn_detector_create(rates[r], 64, err, sizeof err);
                ma_dets dd = {0};
                if (!x || !d || ma_detect(d, x, len, blocks, 1, &dd) != 0 || nl + m.n > 1024) {
                    fprintf(stderr, "bench_detector: detection failed\n");
                    return 1;
                }
                ma_score sc = ma_match(&m, &dd, 0.050, lat + nl, est + nl);
                truth += sc.truth;
                det += sc.detected;
                hit += sc.matched;
                nl += (size_t)sc.matched;
                ma_dets_free(&dd);
                rnn_detector_free(d);
                free(x);
                ma_notes_free(&m);
            }
            double P = det ? (double)hit / det : 0.0, R = truth ? (double)hit / truth : 0.0;
            double F1 = P + R > 0 ? 2 * P * R / (P + R) : 0.0;
            const char *vn = short_name[v];
            printf("BENCH detector_precision_%s_%d %.3f ratio\n", vn, rates[r], P);
            printf("BENCH detector_recall_%s_%d %.3f ratio\n", vn, rates[r], R);
            printf("BENCH detector_f1_%s_%d %.3f ratio\n", vn, rates[r], F1);
            printf("BENCH detector_latency_median_%s_%d %.1f ms\n", vn, rates[r],
                   ma_median(lat, nl));
            printf("BENCH detector_onset_estimate_error_median_%s_%d %.1f ms\n", vn, rates[r],
                   ma_median(est, nl));
        }
    ma_notes_free(&all);
    return 0;
}
