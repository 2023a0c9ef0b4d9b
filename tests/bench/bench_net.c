/* SPDX-License-Identifier: MIT */
/* Benchmark of core/net: one full step (embedding E = 64, 2 layers, head to
 * 130 logits) of LSTM and GRU nets with H = 64, 128, 256, 512 with random
 * weights; the time of each layer (its products and gate functions, timed by
 * cutting the step with rnn_net_step_work at layer boundaries) and the
 * GFLOP/s that implies (2 * rows * cols per product), in the step and for
 * the layer alone (a one-layer net of the same shape, weights hot in L2 when
 * they fit: 1 MiB per core on Zen 4); the same products
 * through OpenBLAS cblas_sgemv on one thread as a reference; bytes of a net;
 * steps whose products make denormals against normal ones; the read bandwidth
 * of a buffer in L2 and one in L3, which caps a product at 2 flops per 4
 * bytes of weights. Then the reduced presets: the same nets with their
 * matrices stored as bf16 and int8 (core/FORMAT.md; core/qmat's kernels,
 * named with the CPU's features), each timed against the float32 net of the
 * same weights, the in-tree reference, in alternating short runs so all
 * three see the same machine load; a table closes the run. `bench_net
 * dtype` runs that part alone. Every figure is a
 * line `BENCH name value unit`; times are the best mean of several batches.
 *
 * OpenBLAS picks its kernels when it loads. When OPENBLAS_CORETYPE is unset
 * the program runs itself again with the core type matching the CPU
 * (SkylakeX with AVX-512, Haswell with AVX2), because OpenBLAS 0.3.21 falls
 * back to SSE3 kernels on CPUs it does not know. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "../support/engine_fixture.h"
#include "../support/random.h"
#include "../../core/model.h"
#include "../../core/net.h"

#define E_BENCH 64
#define L_BENCH 2
#define V_BENCH 130

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

/* A model with PyTorch-like random weights, each tensor scaled by `scale`. */
static rnn_model *make_model(rnn_cell cell, int L, int E, int H, float scale)
{
    const rnn_model_config cfg = {.kind = RNN_KIND_MELODY, .steps_per_quarter = 4, .cell = cell,
                                  .layers = L, .embed = E, .hidden = H, .vocab = V_BENCH};
    rnn_model *m = fixture_random_model(&cfg, 1, scale);
    if (!m) {
        fprintf(stderr, "bench_net: no model of %d x %d (out of memory?)\n", L, H);
        exit(1);
    }
    return m;
}

static rnn_net *make_net(const rnn_model *m)
{
    char err[256];
    rnn_net *net = rnn_net_create(m, err, sizeof err);
    if (!net) {
        fprintf(stderr, "bench_net: %s\n", err);
        exit(1);
    }
    return net;
}

/* Best mean seconds per step over batches of `batch` steps for ~`secs`. */
static double time_steps(rnn_net *net, int batch, double secs)
{
    double best = 1e30, start = now();
    int ev = 1;
    do {
        double t0 = now();
        for (int i = 0; i < batch; i++) {
            const float *y = rnn_net_step(net, ev);
            ev = (ev * 7 + 3 + (y[0] > 0)) % V_BENCH;
        }
        double dt = (now() - t0) / batch;
        if (dt < best) best = dt;
    } while (now() - start < secs);
    return best;
}

/* Per-part best mean seconds: the step cut at the layer boundaries. */
static void time_layers(rnn_net *net, const int *rows, int parts, int batch, double secs,
                        double *best)
{
    double sum[L_BENCH + 1];
    for (int p = 0; p < parts; p++)
        best[p] = 1e30;
    double start = now();
    batch = batch > 1 ? batch / 2 : 1; /* the timer calls add up: shorter batches */
    int ev = 1;
    do {
        memset(sum, 0, sizeof sum);
        for (int i = 0; i < batch; i++) {
            rnn_net_step_begin(net, ev);
            for (int p = 0; p < parts; p++) {
                double t0 = now();
                rnn_net_step_work(net, rows[p]);
                sum[p] += now() - t0;
            }
            ev = (ev * 7 + 3 + (rnn_net_logits(net)[0] > 0)) % V_BENCH;
        }
        for (int p = 0; p < parts; p++)
            if (sum[p] / batch < best[p]) best[p] = sum[p] / batch;
    } while (now() - start < secs);
}

/* The products of one layer for OpenBLAS: row-major (rows, cols) matrices. */
typedef struct {
    int n;
    int rows[3], cols[3];
    float *w[3], *x[3], *y[3];
} products;

static float *rand_buf(size_t n)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "bench_net: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = frand() * 0.1f;
    return p;
}

static void products_init(products *pr, rnn_cell cell, int in, int H)
{
    memset(pr, 0, sizeof *pr);
    if (cell == RNN_CELL_GRU) { /* [r z] over [x|h], n over x, n over h */
        pr->n = 3;
        pr->rows[0] = 2 * H, pr->cols[0] = in + H;
        pr->rows[1] = H, pr->cols[1] = in;
        pr->rows[2] = H, pr->cols[2] = H;
    } else {
        pr->n = 1;
        pr->rows[0] = rnn_cell_gates(cell) * H, pr->cols[0] = in + H;
    }
    for (int i = 0; i < pr->n; i++) {
        pr->w[i] = rand_buf((size_t)pr->rows[i] * pr->cols[i]);
        pr->x[i] = rand_buf((size_t)pr->cols[i]);
        pr->y[i] = rand_buf((size_t)pr->rows[i]);
    }
}

static void products_free(products *pr)
{
    for (int i = 0; i < pr->n; i++) {
        free(pr->w[i]);
        free(pr->x[i]);
        free(pr->y[i]);
    }
}

static double flops_of(const products *pr)
{
    double f = 0;
    for (int i = 0; i < pr->n; i++)
        f += 2.0 * pr->rows[i] * pr->cols[i];
    return f;
}

static void blas_run(const products *pr)
{
    for (int i = 0; i < pr->n; i++)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, pr->rows[i], pr->cols[i], 1.0f, pr->w[i],
                    pr->cols[i], pr->x[i], 1, 0.0f, pr->y[i], 1);
}

/* Best mean seconds per step of all parts through OpenBLAS, and per part. */
static double time_blas(const products *pr, int parts, int batch, double secs, double *best)
{
    double sum[L_BENCH + 1], total = 1e30, start = now();
    for (int p = 0; p < parts; p++)
        best[p] = 1e30;
    do {
        memset(sum, 0, sizeof sum);
        double t00 = now();
        for (int i = 0; i < batch; i++)
            for (int p = 0; p < parts; p++) {
                double t0 = now();
                blas_run(&pr[p]);
                sum[p] += now() - t0;
            }
        double all = (now() - t00) / batch;
        if (all < total) total = all;
        for (int p = 0; p < parts; p++)
            if (sum[p] / batch < best[p]) best[p] = sum[p] / batch;
    } while (now() - start < secs);
    return total;
}

static void bench_config(rnn_cell cell, int H)
{
    const char *cn = rnn_cell_name(cell);
    rnn_model *m = make_model(cell, L_BENCH, E_BENCH, H, 1.0f);
    rnn_net *net = make_net(m);
    if (cell == RNN_CELL_LSTM && H == 64)
        printf("BENCH net_kernel %s name\n", rnn_net_kernel_name(net));
    const int G = rnn_cell_gates(cell);
    const int layer_rows = cell == RNN_CELL_GRU ? 4 * H : G * H; /* GRU: r z, n_x, n_h */
    const int head_rows = rnn_net_step_rows(net) - L_BENCH * layer_rows;
    const int rows[L_BENCH + 1] = {layer_rows, layer_rows, head_rows};
    const int parts = L_BENCH + 1;
    /* batches of about 0.3 ms, short enough to fall between preemptions on a
     * busy machine; the best batch mean is kept */
    int batch = H >= 512 ? 2 : H >= 256 ? 8 : H >= 128 ? 30 : 100;
    double secs = 0.3;

    products pr[L_BENCH + 1];
    products_init(&pr[0], cell, E_BENCH, H);
    products_init(&pr[1], cell, H, H);
    memset(&pr[2], 0, sizeof pr[2]);
    pr[2].n = 1;
    pr[2].rows[0] = V_BENCH, pr[2].cols[0] = H;
    pr[2].w[0] = rand_buf((size_t)V_BENCH * H);
    pr[2].x[0] = rand_buf((size_t)H);
    pr[2].y[0] = rand_buf((size_t)V_BENCH);
    double flops = 0;
    for (int p = 0; p < parts; p++)
        flops += flops_of(&pr[p]);

    time_steps(net, batch, 0.05); /* warm up */
    double step = time_steps(net, batch, secs);
    double part[L_BENCH + 1], bpart[L_BENCH + 1];
    time_layers(net, rows, parts, batch, secs, part);
    blas_run(&pr[0]);
    double blas = time_blas(pr, parts, batch, secs, bpart);

    printf("BENCH %s_h%d_step_ns %.0f ns\n", cn, H, step * 1e9);
    printf("BENCH %s_h%d_step_gflops %.1f GFLOP/s\n", cn, H, flops / step * 1e-9);
    for (int p = 0; p < parts; p++) {
        const char *what = p < L_BENCH ? "layer" : "head";
        char name[32];
        if (p < L_BENCH)
            snprintf(name, sizeof name, "%s%d", what, p);
        else
            snprintf(name, sizeof name, "%s", what);
        printf("BENCH %s_h%d_%s_ns %.0f ns\n", cn, H, name, part[p] * 1e9);
        printf("BENCH %s_h%d_%s_gflops %.1f GFLOP/s\n", cn, H, name,
               flops_of(&pr[p]) / part[p] * 1e-9);
        printf("BENCH %s_h%d_%s_openblas_gflops %.1f GFLOP/s\n", cn, H, name,
               flops_of(&pr[p]) / bpart[p] * 1e-9);
    }
    /* each layer alone: a one-layer net with the same input width, so its
     * weights (and the head's) can stay in L2 between steps */
    for (int p = 0; p < L_BENCH; p++) {
        rnn_model *m1 = make_model(cell, 1, p == 0 ? E_BENCH : H, H, 1.0f);
        rnn_net *n1 = make_net(m1);
        const int rows1[2] = {layer_rows, rnn_net_step_rows(n1) - layer_rows};
        double part1[2];
        time_layers(n1, rows1, 2, batch, 0.05, part1);
        time_layers(n1, rows1, 2, batch, secs, part1);
        printf("BENCH %s_h%d_layer%d_alone_ns %.0f ns\n", cn, H, p, part1[0] * 1e9);
        printf("BENCH %s_h%d_layer%d_alone_gflops %.1f GFLOP/s\n", cn, H, p,
               flops_of(&pr[p]) / part1[0] * 1e-9);
        rnn_net_free(n1);
        rnn_model_free(m1);
    }
    printf("BENCH %s_h%d_openblas_products_ns %.0f ns\n", cn, H, blas * 1e9);
    printf("BENCH %s_h%d_speedup_vs_openblas %.2f x\n", cn, H, blas / step);
    printf("BENCH %s_h%d_net_bytes %zu bytes\n", cn, H, rnn_net_bytes(net));

    for (int p = 0; p < parts; p++)
        products_free(&pr[p]);
    rnn_net_free(net);
    rnn_model_free(m);
}

/* Weights and embedding around 1e-20: every product is a denormal (1e-40)
 * unless the step flushes them. */
static void bench_denormals(void)
{
    const int H = 128;
    rnn_model *normal = make_model(RNN_CELL_LSTM, L_BENCH, E_BENCH, H, 1.0f);
    rnn_model *tiny = make_model(RNN_CELL_LSTM, L_BENCH, E_BENCH, H, 1e-20f);
    rnn_net *a = make_net(normal), *b = make_net(tiny);
    /* alternate short runs so both see the same machine load */
    double ta = 1e30, tb = 1e30;
    for (int i = 0; i < 20; i++) {
        double x = time_steps(a, 20, 0.01), y = time_steps(b, 20, 0.01);
        ta = x < ta ? x : ta;
        tb = y < tb ? y : tb;
    }
    printf("BENCH lstm_h%d_normal_step_ns %.0f ns\n", H, ta * 1e9);
    printf("BENCH lstm_h%d_denormal_step_ns %.0f ns\n", H, tb * 1e9);
    printf("BENCH denormal_slowdown %.2f x\n", tb / ta);
    rnn_net_free(a);
    rnn_net_free(b);
    rnn_model_free(normal);
    rnn_model_free(tiny);
}

/* m with every matrix that may be reduced stored as dt. */
static rnn_model *reduced_copy(const rnn_model *m, rnn_dtype dt)
{
    const rnn_model_config *cfg = rnn_model_get_config(m);
    rnn_tensor_spec specs[RNN_MAX_TENSORS];
    const float *t[RNN_MAX_TENSORS];
    rnn_dtype d[RNN_MAX_TENSORS];
    const int n = rnn_model_tensor_specs(cfg, specs);
    rnn_model_reduced_dtypes(cfg, dt, d);
    for (int i = 0; i < n; i++) t[i] = rnn_model_tensor(m, specs[i].name, NULL);
    char err[256];
    void *buf;
    size_t len;
    rnn_model *r = NULL;
    if (rnn_model_serialize_typed(cfg, NULL, 0, t, d, &buf, &len, err, sizeof err) == 0) {
        r = rnn_model_load_memory(buf, len, "reduced", err, sizeof err);
        free(buf);
    }
    if (!r) {
        fprintf(stderr, "bench_net: %s\n", err);
        exit(1);
    }
    return r;
}

/* ns per full step of float32, bf16 and int8 nets of the same weights, and
 * the ratio to float32. */
static void bench_dtypes(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    printf("BENCH cpu_features%s%s%s%s%s name\n", __builtin_cpu_supports("avx2") ? "_avx2" : "",
           __builtin_cpu_supports("avx512f") ? "_avx512f" : "",
           __builtin_cpu_supports("avx512bf16") ? "_avx512bf16" : "",
           __builtin_cpu_supports("avx512vnni") ? "_avx512vnni" : "",
           __builtin_cpu_supports("avxvnni") ? "_avxvnni" : "");
#endif
    static const rnn_dtype dts[3] = {RNN_DTYPE_F32, RNN_DTYPE_BF16, RNN_DTYPE_INT8};
    const int hs[] = {64, 128, 256, 512};
    double table[2][4][3];
    for (int c = 0; c < 2; c++)
        for (int h = 0; h < 4; h++) {
            const rnn_cell cell = c == 0 ? RNN_CELL_LSTM : RNN_CELL_GRU;
            const char *cn = rnn_cell_name(cell);
            const int H = hs[h];
            rnn_model *m[3];
            rnn_net *net[3];
            m[0] = make_model(cell, L_BENCH, E_BENCH, H, 1.0f);
            m[1] = reduced_copy(m[0], RNN_DTYPE_BF16);
            m[2] = reduced_copy(m[0], RNN_DTYPE_INT8);
            for (int d = 0; d < 3; d++)
                net[d] = make_net(m[d]);
            if (c == 0 && h == 0)
                printf("BENCH qmat_kernels bf16_%s_int8_%s_net_%s name\n",
                       rnn_net_qmat_kernel_name(net[1]), rnn_net_qmat_kernel_name(net[2]),
                       rnn_net_kernel_name(net[0]));
            const int batch = H >= 512 ? 4 : H >= 256 ? 16 : H >= 128 ? 60 : 200;
            double best[3] = {1e30, 1e30, 1e30};
            for (int d = 0; d < 3; d++)
                time_steps(net[d], batch, 0.02); /* warm up */
            for (int round = 0; round < 15; round++)
                for (int d = 0; d < 3; d++) {
                    const double t = time_steps(net[d], batch, 0.02);
                    best[d] = t < best[d] ? t : best[d];
                }
            for (int d = 0; d < 3; d++) {
                const char *dn = d == 0 ? "fp32" : rnn_dtype_name(dts[d]);
                table[c][h][d] = best[d];
                printf("BENCH %s_h%d_%s_step_ns %.0f ns\n", cn, H, dn, best[d] * 1e9);
                if (d > 0)
                    printf("BENCH %s_h%d_%s_vs_fp32 %.2f x\n", cn, H, dn, best[d] / best[0]);
                printf("BENCH %s_h%d_%s_net_bytes %zu bytes\n", cn, H, dn, rnn_net_bytes(net[d]));
            }
            for (int d = 0; d < 3; d++) {
                rnn_net_free(net[d]);
                rnn_model_free(m[d]);
            }
        }
    printf("\nns per step (E = %d, %d layers, head %d); ratio to the float32 step\n", E_BENCH,
           L_BENCH, V_BENCH);
    printf("| net | fp32 ns | bf16 ns | int8 ns | bf16 / fp32 | int8 / fp32 |\n");
    printf("|---|---|---|---|---|---|\n");
    for (int c = 0; c < 2; c++)
        for (int h = 0; h < 4; h++) {
            const double *t = table[c][h];
            printf("| %s %d x %d | %.0f | %.0f | %.0f | %.2f | %.2f |\n", c ? "GRU" : "LSTM",
                   L_BENCH, hs[h], t[0] * 1e9, t[1] * 1e9, t[2] * 1e9, t[1] / t[0], t[2] / t[0]);
        }
}

/* Read bandwidth of a buffer of `bytes` (the ceiling of a matrix-vector
 * product whose weights live there: 2 flops per 4 bytes read). */
typedef float rd_v __attribute__((vector_size(32)));
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target("avx2")))
#endif
static float
read_all(const rd_v *p, size_t n)
{
    rd_v a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    for (size_t i = 0; i < n; i += 4) {
        a0 += p[i];
        a1 += p[i + 1];
        a2 += p[i + 2];
        a3 += p[i + 3];
    }
    rd_v s = a0 + a1 + a2 + a3;
    return s[0] + s[7];
}

static void bench_bandwidth(const char *name, size_t bytes)
{
    size_t n = bytes / sizeof(rd_v);
    rd_v *p = aligned_alloc(64, bytes);
    if (!p) {
        fprintf(stderr, "bench_net: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (rd_v){0} + 1.0f;
    double best = 1e30, start = now();
    volatile float sink = 0;
    do {
        double t0 = now();
        sink += read_all(p, n);
        double dt = now() - t0;
        if (dt < best) best = dt;
    } while (now() - start < 0.2);
    printf("BENCH read_%s_gbs %.1f GB/s\n", name, bytes / best * 1e-9);
    printf("BENCH matvec_ceiling_%s_gflops %.1f GFLOP/s\n", name, bytes / best * 1e-9 / 2);
    free(p);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "dtype") == 0) {
        bench_dtypes();
        return 0;
    }
#if defined(__x86_64__) && defined(__GNUC__)
    if (!getenv("OPENBLAS_CORETYPE")) {
        const char *core = NULL;
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f"))
            core = "SkylakeX";
        else if (__builtin_cpu_supports("avx2"))
            core = "Haswell";
        if (core) {
            setenv("OPENBLAS_CORETYPE", core, 1);
            execv("/proc/self/exe", argv);
            /* on failure go on with the default kernels */
        }
    }
#else
    (void)argv;
#endif
    openblas_set_num_threads(1);
    printf("BENCH openblas_core %s name\n", openblas_get_corename());
    bench_bandwidth("l2_512k", 512 * 1024);
    bench_bandwidth("l3_8m", 8 * 1024 * 1024);
    const int hs[] = {64, 128, 256, 512};
    for (int c = 0; c < 2; c++)
        for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
            bench_config(c == 0 ? RNN_CELL_LSTM : RNN_CELL_GRU, hs[i]);
    bench_denormals();
    bench_dtypes();
    return 0;
}
