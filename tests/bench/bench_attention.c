/* SPDX-License-Identifier: MIT */
/* Benchmark of core/attention: the time of one inference step with a full
 * ring (both projections, n scores, the softmax, the context, the push) for
 * H = 256, A = 64 and 128, n = 16, 32 and 64, beside one step of a 2 x 256
 * LSTM net (embedding 64, head to 130 logits, random weights, as
 * bench_net.c makes it), and their ratio against the target (the
 * attention's extra cost at most 15% of the LSTM step). Also each size's
 * multiply-adds, the time of the net's step and the attention's run one
 * after the other (the two sharing the caches, as they will in a step),
 * and an estimate of the other extra cost attention brings, the head's V H
 * more multiply-adds, at the net's own time per multiply-add; and the
 * trainer's forward and backward of the layer over one window of 64 steps x
 * 32 lanes. Every figure
 * is a line `BENCH name value unit`; times are the best mean of several
 * batches. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../support/engine_fixture.h"
#include "../support/random.h"
#include "../../core/attention.h"
#include "../../core/model.h"
#include "../../core/net.h"
#include "../../training/train_attention.h"

#define H_BENCH 256
#define E_BENCH 64
#define L_BENCH 2
#define V_BENCH 130
#define HS 521 /* top-layer outputs cycled through (a prime, so no period lines up with n) */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_state = 0x1234567887654321u;

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "bench_attention: out of memory\n");
        exit(1);
    }
    return p;
}

static float *rand_floats(size_t n, float scale)
{
    float *p = xorshift_floats(&rng_state, n, scale);
    if (!p) {
        fprintf(stderr, "bench_attention: out of memory\n");
        exit(1);
    }
    return p;
}

/* A 2 x 256 LSTM net with PyTorch-like random weights. */
static rnn_net *make_net(rnn_model **model, rnn_model_config *cfg)
{
    *cfg = (rnn_model_config){
        .kind = RNN_KIND_MELODY, .steps_per_quarter = 4, .cell = RNN_CELL_LSTM, .layers = L_BENCH,
        .embed = E_BENCH, .hidden = H_BENCH, .vocab = V_BENCH};
    char err[256] = "out of memory";
    *model = fixture_random_model(cfg, 1, 1.0f);
    rnn_net *net = *model ? rnn_net_create(*model, err, sizeof err) : NULL;
    if (!net) {
        fprintf(stderr, "bench_attention: %s\n", err);
        exit(1);
    }
    return net;
}

/* Best mean seconds per step over batches of `batch` steps for ~`secs`:
 * the net's step (net non-NULL), the attention's (at non-NULL), or both. */
static double time_steps(rnn_net *net, rnn_attn *at, const float *hs, int batch, double secs,
                         float *sink)
{
    double best = 1e30, start = now();
    int ev = 1, k = 0;
    do {
        double t0 = now();
        for (int i = 0; i < batch; i++) {
            if (net) {
                const float *y = rnn_net_step(net, ev);
                ev = (ev * 7 + 3 + (y[0] > 0)) % V_BENCH;
            }
            if (at) {
                const float *c = rnn_attn_step(at, hs + (size_t)k * H_BENCH);
                *sink += c[k & 255];
                k = k + 1 == HS ? 0 : k + 1;
            }
        }
        double dt = (now() - t0) / batch;
        if (dt < best) best = dt;
    } while (now() - start < secs);
    return best;
}

/* The trainer's forward and backward over one window of T x B, the shape
 * bench_train runs (best of a few). */
static void bench_trainer(float *sink)
{
    const int T = 64, B = 32, H = H_BENCH, A = 64, N = 32;
    const size_t TBH = (size_t)T * B * H;
    float *h = rand_floats(TBH, 1.0f), *past = rand_floats((size_t)N * B * H, 1.0f),
          *dctx = rand_floats(TBH, 1.0f), *W1 = rand_floats((size_t)A * H, 0.06f),
          *W2 = rand_floats((size_t)A * H, 0.06f), *v = rand_floats((size_t)A, 1.0f),
          *ctx = xmalloc(TBH * sizeof(float)), *att = xmalloc((size_t)T * B * N * sizeof(float)),
          *cache = xmalloc(rnn_attn_cache_size(B, T, N, A) * sizeof(float)),
          *scratch = xmalloc(rnn_attn_scratch_size(B, T, N, A) * sizeof(float)),
          *dh = xmalloc(TBH * sizeof(float)), *dW1 = xmalloc((size_t)A * H * sizeof(float)),
          *dW2 = xmalloc((size_t)A * H * sizeof(float)), *dv = xmalloc((size_t)A * sizeof(float));
    int npast[32];
    for (int b = 0; b < B; b++)
        npast[b] = N;
    double fwd = 1e30, bwd = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        rnn_attn_forward(ctx, att, cache, h, past, npast, W1, W2, v, B, T, N, H, A);
        double t1 = now();
        memset(dh, 0, TBH * sizeof(float));
        memset(dW1, 0, (size_t)A * H * sizeof(float));
        memset(dW2, 0, (size_t)A * H * sizeof(float));
        memset(dv, 0, (size_t)A * sizeof(float));
        rnn_attn_backward(dh, dW1, dW2, dv, scratch, dctx, att, cache, h, past, npast, W1, W2, v, B,
                          T, N, H, A);
        double t2 = now();
        fwd = fmin(fwd, t1 - t0);
        bwd = fmin(bwd, t2 - t1);
        *sink += ctx[rep] + dh[rep];
    }
    printf("BENCH train_attn_t%d_b%d_h%d_a%d_n%d_forward %.1f ms\n", T, B, H, A, N, fwd * 1e3);
    printf("BENCH train_attn_t%d_b%d_h%d_a%d_n%d_backward %.1f ms\n", T, B, H, A, N, bwd * 1e3);
    free(h), free(past), free(dctx), free(W1), free(W2), free(v), free(ctx), free(att);
    free(cache), free(scratch), free(dh), free(dW1), free(dW2), free(dv);
}

int main(void)
{
    rnn_model *model;
    rnn_model_config cfg;
    rnn_net *net = make_net(&model, &cfg);
    float sink = 0;
    float *hs = rand_floats((size_t)HS * H_BENCH, 1.0f);
    const double secs = 0.5;
    const int batch = 200;
    enum { NA = 2, NN = 3 };
    const int as[NA] = {64, 128}, ns[NN] = {16, 32, 64};
    double t[NA][NN], both[NA][NN];
    const char *kernel = "";

    /* The LSTM step is timed again beside each size and its best time kept:
     * on a shared machine one timing can be far off. */
    time_steps(net, NULL, hs, batch, 0.2, &sink); /* warm-up */
    double lstm = time_steps(net, NULL, hs, batch, secs, &sink);
    for (int ai = 0; ai < NA; ai++)
        for (int ni = 0; ni < NN; ni++) {
            const int A = as[ai], n = ns[ni];
            float *W1 = rand_floats((size_t)A * H_BENCH, 1.0f / sqrtf(H_BENCH)),
                  *W2 = rand_floats((size_t)A * H_BENCH, 1.0f / sqrtf(H_BENCH)),
                  *v = rand_floats((size_t)A, 1.0f);
            char err[128];
            rnn_attn *at = rnn_attn_create(H_BENCH, A, n, W1, W2, v, err, sizeof err);
            if (!at) {
                fprintf(stderr, "bench_attention: %s\n", err);
                return 1;
            }
            kernel = rnn_attn_kernel_name(at);
            time_steps(NULL, at, hs, batch, 0.1, &sink); /* fills the ring */
            t[ai][ni] = time_steps(NULL, at, hs, batch, secs, &sink);
            both[ai][ni] = time_steps(net, at, hs, batch, secs, &sink);
            lstm = fmin(lstm, time_steps(net, NULL, hs, batch, secs, &sink));
            rnn_attn_free(at);
            free(W1), free(W2), free(v);
        }

    const size_t lstm_macs = rnn_net_step_macs(&cfg);
    printf("BENCH lstm_2x%d_step %.0f ns (%s)\n", H_BENCH, lstm * 1e9, rnn_net_kernel_name(net));
    printf("BENCH lstm_2x%d_step_macs %zu macs\n", H_BENCH, lstm_macs);
    /* the head reads [h | c]: V H more multiply-adds, timed at the net's rate */
    const double head = (double)V_BENCH * H_BENCH * lstm / (double)lstm_macs;
    printf("BENCH attn_head_extra_macs %d macs\n", V_BENCH * H_BENCH);
    printf("BENCH attn_head_extra_est %.0f ns\n", head * 1e9);
    for (int ai = 0; ai < NA; ai++)
        for (int ni = 0; ni < NN; ni++) {
            const int A = as[ai], n = ns[ni];
            char name[64];
            snprintf(name, sizeof name, "attn_h%d_a%d_n%d", H_BENCH, A, n);
            printf("BENCH %s_step %.0f ns (%s)\n", name, t[ai][ni] * 1e9, kernel);
            printf("BENCH %s_macs %zu macs\n", name, rnn_attn_step_macs(H_BENCH, A, n));
            printf("BENCH %s_with_lstm_step %.0f ns\n", name, both[ai][ni] * 1e9);
            printf("BENCH %s_vs_lstm %.1f %%\n", name, 100.0 * t[ai][ni] / lstm);
            printf("BENCH %s_plus_head_vs_lstm %.1f %% (target <= 15)\n", name,
                   100.0 * (t[ai][ni] + head) / lstm);
        }
    bench_trainer(&sink);
    if (!isfinite(sink)) printf("BENCH sink %g\n", sink); /* keeps the steps' results alive */
    rnn_net_free(net);
    rnn_model_free(model);
    free(hs);
    return 0;
}
