/* SPDX-License-Identifier: MIT */
/* The trainer's step product (rnn_k_pack, rnn_k_gemm_packed_build in
 * training/train_kernels.h) against a double-precision product of the same
 * matrices, for each build this CPU runs (x86-64-v4, x86-64-v3, baseline):
 * shapes that fill no tile or panel evenly, B packed as it is and
 * transposed, C stored and added to, rows lda and ldc apart with gaps
 * that must stay untouched. And the property the trainer's thread split
 * rests on: a row's result has the same bits whatever rows it is computed
 * with. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../training/train_kernels.h"

static uint32_t seed = 12345;

static float uniform(void)
{
    seed = seed * 1664525u + 1013904223u;
    return (float)((seed >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

/* every shape of M, N, K below, B as given and transposed, C stored and added to */
static void check_build(int level)
{
    static const int Ms[] = {1, 2, 3, 5, 8, 13, 32};
    static const int Ns[] = {1, 7, 16, 17, 40, 64};
    static const int Ks[] = {1, 3, 16, 37};
    int ran = 0;
    for (size_t mi = 0; mi < sizeof Ms / sizeof Ms[0]; mi++)
        for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++)
            for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++)
                for (int trans = 0; trans < 2; trans++)
                    for (int acc = 0; acc < 2; acc++) {
                        const int M = Ms[mi], N = Ns[ni], K = Ks[ki], lda = K + 3, ldc = N + 5;
                        float *A = malloc(sizeof(float) * M * lda);
                        float *b = malloc(sizeof(float) * K * N);
                        float *bp = malloc(sizeof(float) * rnn_k_pack_size(K, N));
                        float *C = malloc(sizeof(float) * M * ldc);
                        float *C0 = malloc(sizeof(float) * M * ldc);
                        assert_true(A && b && bp && C && C0);
                        for (int i = 0; i < M * lda; i++)
                            A[i] = uniform();
                        for (int i = 0; i < K * N; i++)
                            b[i] = uniform();
                        for (int i = 0; i < M * ldc; i++)
                            C[i] = C0[i] = uniform();
                        const int panels = (N + RNN_K_PANEL - 1) / RNN_K_PANEL;
                        /* packed in two calls, as the trainer's threads pack it */
                        rnn_k_pack(bp, b, K, N, trans, 0, panels / 2);
                        rnn_k_pack(bp, b, K, N, trans, panels / 2, panels);
                        int got = rnn_k_gemm_packed_build(level, C, ldc, A, lda, bp, M, N, K, acc);
                        if (got < 0) goto done;
                        assert_int_equal(got, level);
                        ran = 1;
                        for (int m = 0; m < M; m++) {
                            for (int n = 0; n < N; n++) {
                                double s = acc ? C0[m * ldc + n] : 0, mag = fabs(s);
                                for (int k = 0; k < K; k++) {
                                    double bk = trans ? b[n * K + k] : b[k * N + n];
                                    s += (double)A[m * lda + k] * bk;
                                    mag += fabs((double)A[m * lda + k] * bk);
                                }
                                double err = fabs(C[m * ldc + n] - s);
                                if (err > 1e-6 * mag + 1e-7)
                                    fail_msg("level %d M %d N %d K %d trans %d acc %d: C[%d][%d] "
                                             "%.9g, reference %.9g",
                                             level, M, N, K, trans, acc, m, n,
                                             (double)C[m * ldc + n], s);
                            }
                            for (int n = N; n < ldc; n++) /* the gap between rows */
                                assert_true(C[m * ldc + n] == C0[m * ldc + n]);
                        }
                        /* each row alone gives the same bits as among the others */
                        float *row = malloc(sizeof(float) * ldc);
                        assert_non_null(row);
                        for (int m = 0; m < M; m++) {
                            memcpy(row, C0 + m * ldc, sizeof(float) * ldc);
                            rnn_k_gemm_packed_build(level, row, ldc, A + m * lda, lda, bp, 1, N, K,
                                                    acc);
                            assert_memory_equal(row, C + m * ldc, sizeof(float) * N);
                        }
                        free(row);
                    done:
                        free(A);
                        free(b);
                        free(bp);
                        free(C);
                        free(C0);
                    }
    if (!ran)
        printf("level %d: not built or not run by this CPU\n", level);
    else
        printf("level %d: every shape within 1e-6 of the double-precision product\n", level);
}

static void test_gemm_v4(void **state)
{
    (void)state;
    check_build(4);
}

static void test_gemm_v3(void **state)
{
    (void)state;
    check_build(3);
}

static void test_gemm_baseline(void **state)
{
    (void)state;
    check_build(0);
}

/* the dispatching entry gives the bits of the highest build there is */
static void test_gemm_dispatch(void **state)
{
    (void)state;
    enum { M = 9, N = 33, K = 21 };
    float A[M * K], b[N * K], C[M * N], D[M * N];
    float *bp = malloc(sizeof(float) * rnn_k_pack_size(K, N));
    assert_non_null(bp);
    for (int i = 0; i < M * K; i++)
        A[i] = uniform();
    for (int i = 0; i < N * K; i++)
        b[i] = uniform();
    rnn_k_pack(bp, b, K, N, 1, 0, (N + RNN_K_PANEL - 1) / RNN_K_PANEL);
    rnn_k_gemm_packed(C, N, A, K, bp, M, N, K, 0);
    int level = 4;
    while (rnn_k_gemm_packed_build(level, D, N, A, K, bp, M, N, K, 0) < 0)
        level = level == 4 ? 3 : 0;
    assert_memory_equal(C, D, sizeof C);
    free(bp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_v4),
        cmocka_unit_test(test_gemm_v3),
        cmocka_unit_test(test_gemm_baseline),
        cmocka_unit_test(test_gemm_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
