/* SPDX-License-Identifier: MIT */
/* Benchmark of core/qmat against the fp32 step of core/net, on the shapes of
 * one LSTM layer (G = 4, input I = H) and the head (V = 130) at
 * H = 64, 128, 256, 512.
 *
 * fp32: a one-layer LSTM net (E = H, V = 130) through the public rnn_net API:
 * the whole step, and its parts by cutting it with rnn_net_step_work: the
 * layer's product (all but its last 8 rows, scaled up to all of them), the
 * gate functions (the last 8 rows and the gates), the head (its product and
 * the logits). bf16 and int8: rnn_qmat_mv of the same two products,
 * (4H, 2H) over [x | h] and (130, H), input rounding included, with every
 * kernel this CPU runs. The ratio of a kernel is the fp32 products' time over
 * its own; the step ratio is the fp32 step over the step it would make: its
 * products and the fp32 step's gate functions (the state stays fp32).
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
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)(rng_state >> 40) * 0x1.0p-23f - 1.0f;
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

/* A one-layer LSTM with input E = H, PyTorch-like random weights. */
static rnn_model *make_model(int H)
{
    rnn_model_config cfg = {RNN_KIND_MELODY, 4, RNN_CELL_LSTM, 1, H, H, V_BENCH};
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    float *data[RNN_MAX_TENSORS];
    char err[256];
    int n = rnn_model_tensor_specs(&cfg, specs);
    if (n < 0) {
        fprintf(stderr, "bench_qmat: bad config\n");
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        data[i] = xmalloc(specs[i].count * sizeof(float));
        float a = strcmp(specs[i].name, "embed.weight") == 0 ? 1.7f : 1.0f / sqrtf((float)H);
        for (size_t k = 0; k < specs[i].count; k++)
            data[i][k] = a * frand();
    }
    void *buf;
    size_t len;
    if (rnn_model_serialize(&cfg, NULL, 0, (const float *const *)data, &buf, &len, err,
                            sizeof err) != 0) {
        fprintf(stderr, "bench_qmat: %s\n", err);
        exit(1);
    }
    rnn_model *m = rnn_model_load_memory(buf, len, "bench", err, sizeof err);
    if (!m) {
        fprintf(stderr, "bench_qmat: %s\n", err);
        exit(1);
    }
    free(buf);
    for (int i = 0; i < n; i++)
        free(data[i]);
    return m;
}

/* Calls per sample: enough for about 20 us of work per sample. */
static int batch_for(double seconds_per_call)
{
    int b = (int)(20e-6 / seconds_per_call);
    return b < 1 ? 1 : b > 64 ? 64 : b;
}

typedef struct {
    double step, layer, gates, head; /* medians, seconds */
    const char *kernel;
} fp32_times;

static void time_fp32(int H, fp32_times *t)
{
    rnn_model *m = make_model(H);
    char err[256];
    rnn_net *net = rnn_net_create(m, err, sizeof err);
    if (!net) {
        fprintf(stderr, "bench_qmat: %s\n", err);
        exit(1);
    }
    t->kernel = rnn_net_kernel_name(net);
    const int rows = rnn_net_step_rows(net);
    const int head_rows = (V_BENCH + 7) / 8 * 8, layer_rows = rows - head_rows;
    double *s[4];
    for (int p = 0; p < 4; p++)
        s[p] = xmalloc(SAMPLES * sizeof(double));
    int ev = 1;
    double t0 = now();
    for (int i = 0; i < 50; i++)
        ev = (ev * 7 + 3 + (rnn_net_step(net, ev)[0] > 0)) % V_BENCH;
    const int batch = batch_for((now() - t0) / 50);
    for (int k = 0; k < SAMPLES; k++) {
        double part[3] = {0, 0, 0};
        double a = now();
        for (int i = 0; i < batch; i++)
            ev = (ev * 7 + 3 + (rnn_net_step(net, ev)[0] > 0)) % V_BENCH;
        s[0][k] = (now() - a) / batch;
        for (int i = 0; i < batch; i++) {
            rnn_net_step_begin(net, ev);
            double b0 = now();
            rnn_net_step_work(net, layer_rows - 8);
            double b1 = now();
            rnn_net_step_work(net, 8);
            double b2 = now();
            rnn_net_step_work(net, head_rows);
            double b3 = now();
            part[0] += b1 - b0;
            part[1] += b2 - b1;
            part[2] += b3 - b2;
            ev = (ev * 7 + 3 + (rnn_net_logits(net)[0] > 0)) % V_BENCH;
        }
        for (int p = 0; p < 3; p++)
            s[p + 1][k] = part[p] / batch;
    }
    t->step = median(s[0], SAMPLES);
    t->layer = median(s[1], SAMPLES) * layer_rows / (layer_rows - 8);
    t->gates = median(s[2], SAMPLES) - (t->layer - median(s[1], SAMPLES));
    t->head = median(s[3], SAMPLES);
    for (int p = 0; p < 4; p++)
        free(s[p]);
    rnn_net_free(net);
    rnn_model_free(m);
}

/* Median seconds of the layer and head products through one kernel. */
static void time_q(rnn_qmat *layer, rnn_qmat *head, const float *xh, float *ya, float *yh,
                   double *t_layer, double *t_head)
{
    double *sl = xmalloc(SAMPLES * sizeof(double)), *sh = xmalloc(SAMPLES * sizeof(double));
    double t0 = now();
    for (int i = 0; i < 50; i++) {
        rnn_qmat_mv(layer, ya, xh);
        rnn_qmat_mv(head, yh, xh);
    }
    const int batch = batch_for((now() - t0) / 50);
    for (int k = 0; k < SAMPLES; k++) {
        double a = now();
        for (int i = 0; i < batch; i++)
            rnn_qmat_mv(layer, ya, xh);
        double b = now();
        for (int i = 0; i < batch; i++)
            rnn_qmat_mv(head, yh, xh);
        double c = now();
        sl[k] = (b - a) / batch;
        sh[k] = (c - b) / batch;
    }
    *t_layer = median(sl, SAMPLES);
    *t_head = median(sh, SAMPLES);
    free(sl);
    free(sh);
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

int main(void)
{
    static const int Hs[] = {64, 128, 256, 512};
    char err[256];
    print_cpu();
    printf("\n%-5s %-6s %-11s %10s %10s %10s %10s %9s %9s\n", "H", "dtype", "kernel", "layer ns",
           "head ns", "prod ns", "step ns", "prod x", "step x");
    for (size_t h = 0; h < sizeof Hs / sizeof Hs[0]; h++) {
        const int H = Hs[h], R = 4 * H, K = 2 * H;
        fp32_times f;
        time_fp32(H, &f);
        const double fprod = f.layer + f.head;
        printf("BENCH qmat_h%d_fp32_kernel %s name\n", H, f.kernel);
        printf("BENCH qmat_h%d_fp32_step_ns %.0f ns\n", H, f.step * 1e9);
        printf("BENCH qmat_h%d_fp32_layer_ns %.0f ns\n", H, f.layer * 1e9);
        printf("BENCH qmat_h%d_fp32_gates_ns %.0f ns\n", H, f.gates * 1e9);
        printf("BENCH qmat_h%d_fp32_head_ns %.0f ns\n", H, f.head * 1e9);
        printf("%-5d %-6s %-11s %10.0f %10.0f %10.0f %10.0f %9s %9s\n", H, "fp32", f.kernel,
               f.layer * 1e9, f.head * 1e9, fprod * 1e9, f.step * 1e9, "1.00", "1.00");

        float *wl = xmalloc((size_t)R * K * sizeof(float));
        float *wh = xmalloc((size_t)V_BENCH * H * sizeof(float));
        float *xh = xmalloc((size_t)K * sizeof(float));
        float *ya = xmalloc((size_t)R * sizeof(float)), *yh = xmalloc(V_BENCH * sizeof(float));
        const float a = 1.0f / sqrtf((float)H);
        for (size_t i = 0; i < (size_t)R * K; i++)
            wl[i] = a * frand();
        for (size_t i = 0; i < (size_t)V_BENCH * H; i++)
            wh[i] = a * frand();
        for (int k = 0; k < K; k++)
            xh[k] = 0.9f * frand();
        memset(ya, 0, (size_t)R * sizeof(float));
        memset(yh, 0, V_BENCH * sizeof(float));
        for (int d = 1; d <= 2; d++) {
            const rnn_qmat_dtype dt = (rnn_qmat_dtype)d;
            const char *dn = d == 1 ? "bf16" : "int8";
            /* the head reads the layer's h: the first H of [x | h] stand in */
            rnn_qmat *ql = rnn_qmat_create(wl, R, K, (size_t)K, dt, err, sizeof err);
            rnn_qmat *qh = rnn_qmat_create(wh, V_BENCH, H, (size_t)H, dt, err, sizeof err);
            if (!ql || !qh) {
                fprintf(stderr, "bench_qmat: %s\n", err);
                return 1;
            }
            printf("BENCH qmat_h%d_%s_picked %s name\n", H, dn, rnn_qmat_kernel_name(ql));
            printf("BENCH qmat_h%d_%s_bytes %zu bytes\n", H, dn,
                   rnn_qmat_bytes(ql) + rnn_qmat_bytes(qh));
            for (int i = 0; rnn_qmat_kernel_at(dt, i); i++) {
                const char *k = rnn_qmat_kernel_at(dt, i);
                if (rnn_qmat_set_kernel(ql, k) != 0 || rnn_qmat_set_kernel(qh, k) != 0) continue;
                double tl, th;
                time_q(ql, qh, xh, ya, yh, &tl, &th);
                const double prod = tl + th, step = f.gates + prod;
                printf("BENCH qmat_h%d_%s_%s_layer_ns %.0f ns\n", H, dn, k, tl * 1e9);
                printf("BENCH qmat_h%d_%s_%s_head_ns %.0f ns\n", H, dn, k, th * 1e9);
                printf("BENCH qmat_h%d_%s_%s_products_ratio %.2f x\n", H, dn, k, fprod / prod);
                printf("BENCH qmat_h%d_%s_%s_step_ratio %.2f x\n", H, dn, k, f.step / step);
                printf("%-5d %-6s %-11s %10.0f %10.0f %10.0f %10.0f %9.2f %9.2f\n", H, dn, k,
                       tl * 1e9, th * 1e9, prod * 1e9, step * 1e9, fprod / prod, f.step / step);
            }
            rnn_qmat_free(ql);
            rnn_qmat_free(qh);
        }
        free(wl);
        free(wh);
        free(xh);
        free(ya);
        free(yh);
    }
    printf("(prod x: fp32 products / these products; step ns of a dtype: these products plus the "
           "fp32 gates; step x: fp32 step / that)\n");
    return 0;
}
