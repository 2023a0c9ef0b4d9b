/* SPDX-License-Identifier: MIT */
/* Training throughput of the C trainer: time steps (B x T) per second of a
 * whole optimiser step (forward, BPTT, clipping, AdamW) for an LSTM 2 x 256,
 * E = 64, V = 130, B = 64, T = 64, dropout 0.25, on 2 threads. Prints
 * `BENCH name value unit` lines and OpenBLAS's core name; when torch is there,
 * tests/bench/bench_train_torch.py prints PyTorch's figure for the same step.
 * Environment: BENCH_THREADS (default 2), BENCH_STEPS (default 20). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../../training/train.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(void)
{
    const int B = 64, T = 64;
    int threads = getenv("BENCH_THREADS") ? atoi(getenv("BENCH_THREADS")) : 2;
    int steps = getenv("BENCH_STEPS") ? atoi(getenv("BENCH_STEPS")) : 20;
    if (steps < 1) steps = 1;
    /* the trainer's own threads split the lanes; OpenBLAS runs one thread in each */
    rnn_blas_set_threads(getenv("BENCH_BLAS_THREADS") ? atoi(getenv("BENCH_BLAS_THREADS")) : 1);
    rnn_model_config cfg = {RNN_KIND_MELODY, 4, RNN_CELL_LSTM, 2, 64, 256, 130};
    char err[256];
    rnn_trainer *tr = rnn_trainer_create(&cfg, B, T, err, sizeof err);
    int32_t *in = malloc(sizeof(int32_t) * B * T), *tg = malloc(sizeof(int32_t) * B * T);
    if (!tr || !in || !tg) {
        fprintf(stderr, "bench_train: %s\n", tr ? "out of memory" : err);
        return 1;
    }
    rnn_trainer_init_params(tr, 1);
    rnn_trainer_set_threads(tr, threads);
    rnn_trainer_set_dropout(tr, 0.25f, 2);
    uint32_t s = 1;
    for (int i = 0; i < B * T; i++) {
        s = s * 1664525u + 1013904223u;
        in[i] = (int32_t)((s >> 8) % 130);
        tg[i] = (int32_t)((s >> 20) % 130);
    }
    double t0 = 0, loss = 0;
    for (int i = -2; i < steps; i++) {
        if (i == 0) t0 = now();
        rnn_trainer_zero_grad(tr);
        long n = 0;
        loss = rnn_trainer_forward(tr, in, tg, 1, &n, NULL) / n;
        rnn_trainer_backward(tr);
        rnn_trainer_clip_grad(tr, 1.0);
        rnn_trainer_adamw(tr, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, i + 3);
    }
    double dt = now() - t0;
    printf("openblas_corename=%s threads=%d steps=%d loss=%.4f\n", rnn_blas_corename(), threads,
           steps, loss);
    if (rnn_blas_is_fallback())
        printf("note: OpenBLAS runs its generic %s kernels on this CPU; set "
               "OPENBLAS_CORETYPE=Haswell (or SkylakeX) for the AVX2/AVX-512 ones\n",
               rnn_blas_corename());
    printf("BENCH train_lstm2x256_c_steps_per_s %.0f time_steps/s\n", (double)B * T * steps / dt);
    printf("BENCH train_lstm2x256_c_ms_per_batch %.2f ms\n", 1000.0 * dt / steps);
    rnn_trainer_free(tr);
    free(in);
    free(tg);
    return 0;
}
