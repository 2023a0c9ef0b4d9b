/* SPDX-License-Identifier: MIT */
/* Training throughput of the C trainer: time steps (B x T) per second of a
 * whole optimiser step (forward, BPTT, clipping, AdamW), E = 64, V = 130,
 * B = 64, T = 64, dropout 0.25, on 2 threads, for each of the nets LSTM
 * 2 x 256, GRU 2 x 256 and LSTM 2 x 512; then the same with
 * OPENBLAS_CORETYPE=Haswell and =SkylakeX (a child process each, the
 * variable is read when OpenBLAS loads); then PyTorch on the same step
 * (tests/bench/bench_train_torch.py with /usr/bin/python3, skipped with a
 * note when torch is absent) and the ratio. Prints `BENCH name value unit`.
 * Environment: BENCH_THREADS (2), BENCH_STEPS (20), BENCH_NO_TORCH=1 to skip
 * PyTorch, BENCH_NETS (lstm2x256,gru2x256,lstm2x512: the nets to run),
 * BENCH_CORES=0 to skip the OPENBLAS_CORETYPE children. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../training/train.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The nets measured: name (as bench_train_torch.py takes it), cell, hidden. */
static const struct {
    const char *name;
    rnn_cell cell;
    int hidden;
} nets[] = {
    {"lstm2x256", RNN_CELL_LSTM, 256},
    {"gru2x256", RNN_CELL_GRU, 256},
    {"lstm2x512", RNN_CELL_LSTM, 512},
};
#define N_NETS ((int)(sizeof nets / sizeof nets[0]))

/* time steps per second of the C trainer on net k in this process; *cpu_ms
 * the CPU time of a step summed over the threads (what the step costs the
 * machine, steadier than the rate when other processes share the cores) */
static double measure(int k, int threads, int steps, double *cpu_ms)
{
    const int B = 64, T = 64;
    rnn_blas_set_threads(1); /* one OpenBLAS thread inside each trainer thread */
    rnn_model_config cfg = {RNN_KIND_MELODY, 4, nets[k].cell, 2, 64, nets[k].hidden, 130, 0, 0, 0};
    char err[256];
    rnn_trainer *tr = rnn_trainer_create(&cfg, B, T, err, sizeof err);
    int32_t *in = malloc(sizeof(int32_t) * B * T), *tg = malloc(sizeof(int32_t) * B * T);
    if (!tr || !in || !tg) {
        fprintf(stderr, "bench_train: %s\n", tr ? "out of memory" : err);
        exit(1);
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
    double t0 = 0, c0 = 0;
    for (int i = -2; i < steps; i++) {
        if (i == 0) {
            t0 = clock_s(CLOCK_MONOTONIC);
            c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        }
        rnn_trainer_zero_grad(tr);
        rnn_trainer_forward(tr, in, tg, 1, NULL, NULL);
        rnn_trainer_backward(tr);
        rnn_trainer_clip_grad(tr, 1.0);
        rnn_trainer_adamw(tr, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, i + 3);
    }
    double dt = clock_s(CLOCK_MONOTONIC) - t0;
    *cpu_ms = (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) * 1e3 / steps;
    rnn_trainer_free(tr);
    free(in);
    free(tg);
    return (double)B * T * steps / dt;
}

/* run a command and return the number after `key` in its output, or -1 */
static double run_for(const char *cmd, const char *key, int echo)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[512];
    double v = -1;
    while (fgets(line, sizeof line, p)) {
        if (echo) fputs(line, stdout);
        char *k = strstr(line, key);
        if (k) v = atof(k + strlen(key));
    }
    pclose(p);
    return v;
}

/* net index of a name, or -1 */
static int net_index(const char *name, size_t len)
{
    for (int k = 0; k < N_NETS; k++)
        if (strlen(nets[k].name) == len && strncmp(nets[k].name, name, len) == 0) return k;
    return -1;
}

/* One net: this process's kernels, the OPENBLAS_CORETYPE children, PyTorch. */
static void bench_net(int k, const char *self, int threads, int steps)
{
    const char *name = nets[k].name, *env = getenv("OPENBLAS_CORETYPE");
    double cpu_ms;
    double rate = measure(k, threads, steps, &cpu_ms);
    printf("%s: openblas_corename=%s (OPENBLAS_CORETYPE=%s) threads=%d steps=%d\n", name,
           rnn_blas_corename(), env ? env : "unset", threads, steps);
    if (rnn_blas_is_fallback())
        printf("note: OpenBLAS runs its generic %s kernels on this CPU; set "
               "OPENBLAS_CORETYPE=Haswell (or SkylakeX) for the AVX2/AVX-512 ones\n",
               rnn_blas_corename());
    printf("BENCH train_%s_c_time_steps_per_s %.0f time_steps/s\n", name, rate);
    printf("BENCH train_%s_c_cpu_ms_per_step %.1f ms (all threads)\n", name, cpu_ms);

    /* the figure compared is the best kernel choice, as rnnmidi-train makes it */
    double best = rate;
    const char *best_core = rnn_blas_corename();
    char cmd[1400];
    const char *cores_env = getenv("BENCH_CORES");
    if (self && !(cores_env && strcmp(cores_env, "0") == 0)) {
        static const char *cores[] = {"Haswell", "SkylakeX"};
        for (int i = 0; i < 2; i++) {
            snprintf(cmd, sizeof cmd, "OPENBLAS_CORETYPE=%s BENCH_NETS=%s '%s' --child", cores[i],
                     name, self);
            double r = run_for(cmd, "rate ", 0);
            if (r > 0)
                printf("BENCH train_%s_c_time_steps_per_s_%s %.0f time_steps/s\n", name, cores[i],
                       r);
            if (r > best) {
                best = r;
                best_core = cores[i];
            }
        }
    }

    if (getenv("BENCH_NO_TORCH")) return;
    if (access("/usr/bin/python3", X_OK) != 0 ||
        access("tests/bench/bench_train_torch.py", R_OK) != 0) {
        printf("note: /usr/bin/python3 or tests/bench/bench_train_torch.py missing; PyTorch "
               "figure skipped\n");
        return;
    }
    snprintf(cmd, sizeof cmd, "BENCH_STEPS=%d /usr/bin/python3 tests/bench/bench_train_torch.py %s",
             steps, name);
    char key[128];
    snprintf(key, sizeof key, "BENCH train_%s_torch_steps_per_s ", name);
    double torch = run_for(cmd, key, 1);
    if (torch > 0)
        printf("BENCH train_%s_c_over_torch %.2f x (C %.0f with %s kernels / PyTorch %.0f "
               "time_steps/s, same machine)\n",
               name, best / torch, best, best_core, torch);
}

int main(int argc, char **argv)
{
    int threads = getenv("BENCH_THREADS") ? atoi(getenv("BENCH_THREADS")) : 2;
    int steps = getenv("BENCH_STEPS") ? atoi(getenv("BENCH_STEPS")) : 20;
    if (steps < 1) steps = 1;
    if (threads < 1) threads = 1;
    int run[N_NETS] = {0};
    const char *sel = getenv("BENCH_NETS");
    if (!sel || !*sel) sel = "lstm2x256,gru2x256,lstm2x512";
    for (const char *p = sel; *p;) {
        size_t len = strcspn(p, ",");
        int k = net_index(p, len);
        if (k < 0) {
            fprintf(stderr,
                    "bench_train: unknown net '%.*s' in BENCH_NETS (lstm2x256, gru2x256, "
                    "lstm2x512)\n",
                    (int)len, p);
            return 1;
        }
        run[k] = 1;
        p += len + (p[len] == ',');
    }
    if (argc > 1 && strcmp(argv[1], "--child") == 0) {
        for (int k = 0; k < N_NETS; k++)
            if (run[k]) {
                double cpu_ms;
                printf("rate %.1f corename %s\n", measure(k, threads, steps, &cpu_ms),
                       rnn_blas_corename());
                break;
            }
        return 0;
    }
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) self[n] = 0;
    for (int k = 0; k < N_NETS; k++)
        if (run[k]) bench_net(k, n > 0 ? self : NULL, threads, steps);
    return 0;
}
