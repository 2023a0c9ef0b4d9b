/* SPDX-License-Identifier: MIT */
/* Real-time safety of core/qmat: with malloc, calloc, realloc, free and
 * pthread_mutex_lock trapped (rt_trap.h), the products of every kernel this
 * CPU runs, bf16 and int8, whole and in row ranges (with the input rounded
 * for each range or once), over a row count that ends inside a unit and
 * with non-finite inputs, make no trapped call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "../../core/qmat.h"
#include "../support/rt/rt_trap.h"

static void test_trap_works(void **state)
{
    (void)state;
    assert_int_equal(rt_trap_self_check(), 0);
}

static void run_dtype(rnn_qmat_dtype dt)
{
    enum { R = 203, K = 161 };
    float *w = malloc((size_t)R * K * sizeof(float));
    float x[K], y[R] = {0};
    assert_non_null(w);
    uint32_t s = 12345;
    for (int i = 0; i < R * K; i++) {
        s = s * 1664525u + 1013904223u;
        w[i] = (float)(s >> 8) * 0x1.0p-24f - 0.5f;
    }
    for (int k = 0; k < K; k++)
        x[k] = (float)k / K - 0.5f;
    char err[256];
    rnn_qmat *q = rnn_qmat_create(w, R, K, K, dt, err, sizeof err);
    if (!q) fail_msg("%s", err);
    int kernels = 0;
    for (int i = 0; rnn_qmat_kernel_at(dt, i); i++) {
        if (rnn_qmat_set_kernel(q, rnn_qmat_kernel_at(dt, i)) != 0) continue;
        kernels++;
        rt_trap_arm();
        for (int t = 0; t < 200; t++) {
            x[t % K] = t % 50 == 49 ? NAN : (float)t / 200 - 0.5f;
            if (t % 3 == 0) {
                rnn_qmat_mv(q, y, x);
            } else if (t % 3 == 1) {
                rnn_qmat_input(q, x);
                for (int r0 = 0; r0 < R; r0 += RNN_QMAT_UNIT)
                    rnn_qmat_mv_input(q, y, r0, r0 + RNN_QMAT_UNIT);
            } else {
                for (int r0 = 0; r0 < R; r0 += 3 * RNN_QMAT_UNIT)
                    rnn_qmat_mv_rows(q, y, x, r0, r0 + 3 * RNN_QMAT_UNIT);
            }
            if (!isfinite(y[0])) /* a NaN input poisons y: start afresh */
                for (int r = 0; r < R; r++)
                    y[r] = 0.0f;
        }
        int calls = rt_trap_disarm();
        if (calls != 0)
            fail_msg("%s %s: %d trapped calls in the products",
                     dt == RNN_QMAT_BF16 ? "bf16" : "int8", rnn_qmat_kernel_name(q), calls);
    }
    assert_true(kernels >= 1);
    rnn_qmat_free(q);
    free(w);
}

static void test_bf16(void **state)
{
    (void)state;
    run_dtype(RNN_QMAT_BF16);
}

static void test_int8(void **state)
{
    (void)state;
    run_dtype(RNN_QMAT_INT8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trap_works),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_int8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
