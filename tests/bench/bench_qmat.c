/* SPDX-License-Identifier: MIT */
/* Benchmark of core/qmat against the fp32 step of core/net, on the shapes of
 * LSTM nets (G = 4) with a head to V = 130: one layer whose input is as wide
 * as its state (I = H) at H = 64, 128, 256, 512, and the nets of issue 17's
 * figures, 2 layers with an embedding of E = 64, at H = 128, 256, 512.
 *
 * fp32: the net through the public rnn_net API: the whole step, and its
 * parts by cutting it with rnn_net_step_work: each layer's product (all but
 * its last 8 rows, scaled up to all of them), its gate functions (the last
 * 8 rows and the gates, less those rows), the head (its product and the
 * logits). bf16 and int8: rnn_qmat_mv of the same products, (4H, I + H) over
 * [x | h] per layer and (130, H), input rounding included, with every kernel
 * this CPU runs: all of them in turn as in a step (the products time), and
 * each timed apart (the layers and head times). The products ratio of a kernel is the fp32
 * products' time over its own; its step is its products plus the fp32 step's gate functions (the
 * state stays fp32), and the step ratio the fp32 step over that.
 *
 * Every time is the median over many samples of a short batch of calls on
 * the same weights (they stay in whichever cache holds them: 1 MiB of L2
 * per core on Zen 4), on one CPU when the affinity can be set. Figures are
 * lines `BENCH name value unit`, then a table. */
#define _GNU_SOURCE
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../support/engine_fixture.h"
#include "../support/random.h"
#include "../../core/model.h"
#include "../../core/net.h"
#include "../../core/qmat.h"

#define V_BENCH 130
#define SAMPLES 801

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_state = 0x1234567887654321u;

static float frand(void) /* uniform in [-1, 1) */
{
    return xorshift_uniform(&rng_state);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "bench_qmat: out of memory\n");
        exit(1);
    }
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return t[n / 2];
}

/* An LSTM of L layers, embedding E, H units, PyTorch-like random weights. */
static rnn_model *make_model(int L, int E, int H)
{
    const rnn_model_config cfg = {.kind = RNN_KIND_MELODY, .steps_per_quarter = 4,
                                  .cell = RNN_CELL_LSTM, .layers = L, .embed = E, .hidden = H,
                                  .vocab = V_BENCH};
    rnn_model *m = fixture_random_model(&cfg, 1, 1.0f);
    if (!m) {
        fprintf(stderr, "bench_qmat: no model of %d x %d (out of memory?)\n", L, H);
        exit(1);
    }
    return m;
}

/* Calls per sample: enough for about 20 us of work per sample. */
static int batch_for(double seconds_per_call)
{
    int b = (int)(20e-6 / seconds_per_call);
    return b < 1 ? 1 : b > 64 ? 64 : b;
}

#define MAX_L 2

typedef struct {
    double step, layers, gates, head; /* medians, seconds; layers and gates summed */
    const char *kernel;
} fp32_times;

static void time_fp32(int L, int E, int H, fp32_times *t)
{
    rnn_model *m = make_model(L, E, H);
    char err[256];
    rnn_net *net = rnn_net_create(m, err, sizeof err);
    if (!net) {
        fprintf(stderr, "bench_qmat: %s\n", err);
        exit(1);
    }
    t->kernel = rnn_net_kernel_name(net);
    const int rows = rnn_net_step_rows(net);
    const int head_rows = (V_BENCH + 7) / 8 * 8, layer_rows = (rows - head_rows) / L;
    /* samples: the whole step, then per layer its product and its gates, the head */
    const int parts = 2 * L + 1;
    double *s[2 * MAX_L + 2];
    for (int p = 0; p <= parts; p++)
        s[p] = xmalloc(SAMPLES * sizeof(double));
    int ev = 1;
    double t0 = now();
    for (int i = 0; i < 50; i++)
        ev = (ev * 7 + 3 + (rnn_net_step(net, ev)[0] > 0)) % V_BENCH;
    const int batch = batch_for((now() - t0) / 50);
    for (int k = 0; k < SAMPLES; k++) {
        double part[2 * MAX_L + 1] = {0};
        double a = now();
        for (int i = 0; i < batch; i++)
            ev = (ev * 7 + 3 + (rnn_net_step(net, ev)[0] > 0)) % V_BENCH;
        s[0][k] = (now() - a) / batch;
        for (int i = 0; i < batch; i++) {
            rnn_net_step_begin(net, ev);
            for (int p = 0; p < parts; p++) {
                const int budget = p == parts - 1 ? head_rows : p % 2 ? 8 : layer_rows - 8;
                double b0 = now();
                rnn_net_step_work(net, budget);
                part[p] += now() - b0;
            }
            ev = (ev * 7 + 3 + (rnn_net_logits(net)[0] > 0)) % V_BENCH;
        }
        for (int p = 0; p < parts; p++)
            s[p + 1][k] = part[p] / batch;
    }
    t->step = median(s[0], SAMPLES);
    t->layers = t->gates = 0;
    for (int l = 0; l < L; l++) {
        const double cut = median(s[1 + 2 * l], SAMPLES);
        const double full = cut * layer_rows / (layer_rows - 8);
        t->layers += full;
        t->gates += median(s[2 + 2 * l], SAMPLES) - (full - cut);
    }
    t->head = median(s[parts], SAMPLES);
    for (int p = 0; p <= parts; p++)
        free(s[p]);
    rnn_net_free(net);
    rnn_model_free(m);
}

/* The n products q[i] of x[i] into y[i] in turn, as a step runs them (so
 * they share the caches as in a step): median seconds of the whole
 * sequence into *all, and of each product, timed apart in other samples,
 * into t[i]. */
static void time_q(int n, rnn_qmat *const *q, float *const *x, float *const *y, double *t,
                   double *all)
{
    double *s[MAX_L + 2];
    for (int i = 0; i <= n; i++)
        s[i] = xmalloc(SAMPLES * sizeof(double));
    double t0 = now();
    for (int r = 0; r < 50; r++)
        for (int i = 0; i < n; i++)
            rnn_qmat_mv(q[i], y[i], x[i]);
    const int batch = batch_for((now() - t0) / 50);
    for (int k = 0; k < SAMPLES; k++) {
        double a = now();
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < n; i++)
                rnn_qmat_mv(q[i], y[i], x[i]);
        s[n][k] = (now() - a) / batch;
        double part[MAX_L + 1] = {0};
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < n; i++) {
                double c = now();
                rnn_qmat_mv(q[i], y[i], x[i]);
                part[i] += now() - c;
            }
        for (int i = 0; i < n; i++)
            s[i][k] = part[i] / batch;
    }
    for (int i = 0; i <= n; i++) {
        const double m = median(s[i], SAMPLES);
        if (i < n)
            t[i] = m;
        else
            *all = m;
        free(s[i]);
    }
}

static void print_cpu(void)
{
    int cpu = sched_getcpu();
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu >= 0) CPU_SET(cpu, &set);
    int pinned = cpu >= 0 && sched_setaffinity(0, sizeof set, &set) == 0;
    printf("bench_qmat: %s\n", pinned ? "pinned to one CPU" : "not pinned");
    printf("BENCH qmat_pinned_cpu %d cpu\n", pinned ? cpu : -1);
#if defined(__x86_64__)
    __builtin_cpu_init();
    printf("bench_qmat: CPU features:%s%s%s%s%s%s\n", __builtin_cpu_supports("avx2") ? " avx2" : "",
           __builtin_cpu_supports("fma") ? " fma" : "",
           __builtin_cpu_supports("avx512f") ? " avx512f" : "",
           __builtin_cpu_supports("avx512bf16") ? " avx512bf16" : "",
           __builtin_cpu_supports("avx512vnni") ? " avx512vnni" : "",
           rnn_qmat_kernel_supported(RNN_QMAT_INT8, "avxvnni") ? " avxvnni" : "");
#endif
    for (int d = 1; d <= 2; d++) {
        printf("bench_qmat: %s kernels:", d == 1 ? "bf16" : "int8");
        for (int i = 0; rnn_qmat_kernel_at((rnn_qmat_dtype)d, i); i++) {
            const char *k = rnn_qmat_kernel_at((rnn_qmat_dtype)d, i);
            printf(" %s%s", k,
                   rnn_qmat_kernel_supported((rnn_qmat_dtype)d, k) ? "" : " (not here)");
        }
        printf("\n");
    }
}

/* One net: the fp32 step and every kernel's products; table rows and
 * BENCH lines named after `tag`. */
static void run_net(const char *tag, int L, int E, int H)
{
    char err[256];
    fp32_times f;
    time_fp32(L, E, H, &f);
    const double fprod = f.layers + f.head;
    printf("BENCH qmat_%s_fp32_kernel %s name\n", tag, f.kernel);
    printf("BENCH qmat_%s_fp32_step_ns %.0f ns\n", tag, f.step * 1e9);
    printf("BENCH qmat_%s_fp32_layers_ns %.0f ns\n", tag, f.layers * 1e9);
    printf("BENCH qmat_%s_fp32_gates_ns %.0f ns\n", tag, f.gates * 1e9);
    printf("BENCH qmat_%s_fp32_head_ns %.0f ns\n", tag, f.head * 1e9);
    printf("%-11s %-5s %-11s %10.0f %9.0f %10.0f %10.0f %7s %7s\n", tag, "fp32", f.kernel,
           f.layers * 1e9, f.head * 1e9, fprod * 1e9, f.step * 1e9, "1.00", "1.00");

    /* the products: each layer over [x | h], the head over the top h */
    const int n = L + 1;
    int R[MAX_L + 1], K[MAX_L + 1];
    float *w[MAX_L + 1], *x[MAX_L + 1], *y[MAX_L + 1];
    for (int i = 0; i < n; i++) {
        R[i] = i < L ? 4 * H : V_BENCH;
        K[i] = i < L ? (i == 0 ? E : H) + H : H;
        w[i] = xmalloc((size_t)R[i] * K[i] * sizeof(float));
        x[i] = xmalloc((size_t)K[i] * sizeof(float));
        y[i] = xmalloc((size_t)R[i] * sizeof(float));
        for (size_t j = 0; j < (size_t)R[i] * K[i]; j++)
            w[i][j] = frand() / sqrtf((float)H);
        for (int j = 0; j < K[i]; j++)
            x[i][j] = 0.9f * frand();
        memset(y[i], 0, (size_t)R[i] * sizeof(float));
    }
    for (int d = 1; d <= 2; d++) {
        const rnn_qmat_dtype dt = (rnn_qmat_dtype)d;
        const char *dn = d == 1 ? "bf16" : "int8";
        rnn_qmat *q[MAX_L + 1];
        size_t bytes = 0;
        for (int i = 0; i < n; i++) {
            q[i] = rnn_qmat_create(w[i], R[i], K[i], (size_t)K[i], dt, err, sizeof err);
            if (!q[i]) {
                fprintf(stderr, "bench_qmat: %s\n", err);
                exit(1);
            }
            bytes += rnn_qmat_bytes(q[i]);
        }
        printf("BENCH qmat_%s_%s_picked %s name\n", tag, dn, rnn_qmat_kernel_name(q[0]));
        printf("BENCH qmat_%s_%s_bytes %zu bytes\n", tag, dn, bytes);
        for (int kk = 0; rnn_qmat_kernel_at(dt, kk); kk++) {
            const char *k = rnn_qmat_kernel_at(dt, kk);
            int ok = 1;
            for (int i = 0; i < n; i++)
                ok &= rnn_qmat_set_kernel(q[i], k) == 0;
            if (!ok) continue;
            double t[MAX_L + 1], tl = 0, prod = 0;
            time_q(n, q, x, y, t, &prod);
            for (int i = 0; i < L; i++)
                tl += t[i];
            const double step = f.gates + prod;
            printf("BENCH qmat_%s_%s_%s_layers_ns %.0f ns\n", tag, dn, k, tl * 1e9);
            printf("BENCH qmat_%s_%s_%s_head_ns %.0f ns\n", tag, dn, k, t[L] * 1e9);
            printf("BENCH qmat_%s_%s_%s_products_ratio %.2f x\n", tag, dn, k, fprod / prod);
            printf("BENCH qmat_%s_%s_%s_step_ratio %.2f x\n", tag, dn, k, f.step / step);
            printf("%-11s %-5s %-11s %10.0f %9.0f %10.0f %10.0f %7.2f %7.2f\n", tag, dn, k,
                   tl * 1e9, t[L] * 1e9, prod * 1e9, step * 1e9, fprod / prod, f.step / step);
        }
        for (int i = 0; i < n; i++)
            rnn_qmat_free(q[i]);
    }
    for (int i = 0; i < n; i++) {
        free(w[i]);
        free(x[i]);
        free(y[i]);
    }
}

int main(void)
{
    print_cpu();
    printf("\n%-11s %-5s %-11s %10s %9s %10s %10s %7s %7s\n", "net", "dtype", "kernel", "layers ns",
           "head ns", "prod ns", "step ns", "prod x", "step x");
    static const int Hs[] = {64, 128, 256, 512};
    char tag[32];
    for (size_t h = 0; h < sizeof Hs / sizeof Hs[0]; h++) {
        snprintf(tag, sizeof tag, "h%d", Hs[h]);
        run_net(tag, 1, Hs[h], Hs[h]);
    }
    for (size_t h = 1; h < sizeof Hs / sizeof Hs[0]; h++) {
        snprintf(tag, sizeof tag, "l2e64h%d", Hs[h]);
        run_net(tag, 2, 64, Hs[h]);
    }
    printf("(net: hH one layer with I = H, l2e64hH two layers on an embedding of 64; prod x: fp32 "
           "products / these products; step ns of a dtype: these products plus the fp32 gates; "
           "step x: fp32 step / that)\n");
    return 0;
}
