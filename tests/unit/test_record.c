/* SPDX-License-Identifier: MIT */
/* core/record, the ring of the player's grid steps: steps come back as
 * pushed (event, the columns on, where phrases start), in order, across
 * the wrap; a range not written yet, or already overwritten, is refused;
 * columns beyond RNN_REC_MAX_ON are cut and counted; bad sizes are
 * refused at create. Then the ring under contention: a writer thread
 * pushes two million steps into a ring of 256 while the reader copies
 * ranges of the newest; every range the reader accepts must hold exactly
 * the steps of its numbers (each step's content is a function of its
 * number, so a torn or stale copy shows), and both accepted and refused
 * ranges must occur. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/record.h"

enum { C = 40 };

/* The content of step i: its event, and columns i % C and (i / C) % C on. */
static int32_t event_of(uint64_t i)
{
    return (int32_t)(i % 1000003u);
}

static void cols_of(uint64_t i, float *cols)
{
    memset(cols, 0, C * sizeof *cols);
    cols[i % C] = 1.0f;
    cols[(i / C) % C] = 0.5f; /* any nonzero is on */
}

static int check_step(uint64_t i, int32_t ev, const float *cols)
{
    if (ev != event_of(i)) return 0;
    for (int c = 0; c < C; c++) {
        const float want = (uint64_t)c == i % C || (uint64_t)c == (i / C) % C ? 1.0f : 0.0f;
        if (cols[c] != want) return 0;
    }
    return 1;
}

static void test_order_and_wrap(void **state)
{
    (void)state;
    char err[128];
    rnn_rec *r = rnn_rec_create(100, C, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(rnn_rec_capacity(r), 100);
    assert_int_equal(rnn_rec_columns(r), C);
    assert_true(rnn_rec_bytes(r) >= 100 * (4 + 4 + 2 * RNN_REC_MAX_ON));
    int32_t ev[100];
    float cols[100 * C], one[C];
    uint8_t st[100];
    assert_int_equal(rnn_rec_read(r, 0, 1, ev, cols, st), -1); /* nothing written yet */
    for (uint64_t i = 0; i < 250; i++) {
        if (i == 120) rnn_rec_break(r);
        cols_of(i, one);
        assert_int_equal(rnn_rec_push(r, event_of(i), one), 0);
    }
    assert_int_equal(rnn_rec_written(r), 250);
    /* the last 100 steps are in the ring, 150 .. 249, but the slot of 150
     * is the one the next push writes: 151 .. 249 can be read */
    assert_int_equal(rnn_rec_read(r, 150, 10, ev, cols, st), -1);
    assert_int_equal(rnn_rec_read(r, 245, 6, ev, cols, st), -1);
    assert_int_equal(rnn_rec_read(r, 151, 99, ev, cols, st), 99);
    for (int i = 0; i < 99; i++) {
        assert_true(check_step(151 + (uint64_t)i, ev[i], cols + (size_t)i * C));
        assert_int_equal(st[i], 0);
    }
    assert_int_equal(rnn_rec_read(r, 200, 0, ev, NULL, NULL), 0);

    /* phrase starts: the first step ever and the step after a break */
    rnn_rec *s = rnn_rec_create(1000, C, err, sizeof err);
    assert_non_null(s);
    for (uint64_t i = 0; i < 250; i++) {
        if (i == 120) rnn_rec_break(s);
        rnn_rec_push(s, event_of(i), NULL);
    }
    uint8_t st2[250];
    int32_t ev2[250];
    float cols2[250 * C];
    assert_int_equal(rnn_rec_read(s, 0, 250, ev2, cols2, st2), 250);
    for (int i = 0; i < 250; i++) {
        assert_int_equal(st2[i], i == 0 || i == 120);
        assert_int_equal(ev2[i], event_of((uint64_t)i));
        for (int c = 0; c < C; c++)
            assert_true(cols2[(size_t)i * C + c] == 0.0f); /* pushed with no columns */
    }
    rnn_rec_free(s);
    rnn_rec_free(r);
}

static void test_cut_and_refusals(void **state)
{
    (void)state;
    char err[128];
    rnn_rec *r = rnn_rec_create(4, 100, err, sizeof err);
    assert_non_null(r);
    float all[100];
    for (int c = 0; c < 100; c++)
        all[c] = 1.0f;
    assert_int_equal(rnn_rec_push(r, 7, all), 1);
    assert_int_equal(rnn_rec_dropped(r), 1);
    int32_t ev;
    float cols[100];
    assert_int_equal(rnn_rec_read(r, 0, 1, &ev, cols, NULL), 1);
    for (int c = 0; c < 100; c++)
        assert_true(cols[c] == (c < RNN_REC_MAX_ON ? 1.0f : 0.0f));
    assert_int_equal(rnn_rec_read(r, 0, 5, &ev, NULL, NULL), -1); /* more than the ring */
    assert_int_equal(rnn_rec_read(r, 0, -1, &ev, NULL, NULL), -1);
    rnn_rec_free(r);
    assert_null(rnn_rec_create(0, 4, err, sizeof err));
    assert_non_null(strstr(err, "out of range"));
    assert_null(rnn_rec_create(16, 70000, err, sizeof err));
    assert_null(rnn_rec_create((1 << 24) + 1, 4, err, sizeof err));
    rnn_rec_free(NULL);
}

/* ------------------------------------------------------------------------ */

enum { CAP = 256, TOTAL = 2000000 };

static void *writer(void *arg)
{
    rnn_rec *r = arg;
    float cols[C];
    for (uint64_t i = 0; i < TOTAL; i++) {
        cols_of(i, cols);
        rnn_rec_push(r, event_of(i), cols);
    }
    return NULL;
}

static void test_contention(void **state)
{
    (void)state;
    char err[128];
    rnn_rec *r = rnn_rec_create(CAP, C, err, sizeof err);
    assert_non_null(r);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, writer, r), 0);
    static int32_t ev[CAP];
    static float cols[CAP * C];
    long ok = 0, refused = 0, bad = 0;
    uint64_t seed = 1;
    while (rnn_rec_written(r) < TOTAL) {
        const uint64_t w = rnn_rec_written(r);
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        const int n = 1 + (int)((seed >> 33) % 64);
        const uint64_t back = (seed >> 40) % CAP; /* some ranges reach back past the ring */
        if (w < back + (uint64_t)n) continue;
        const uint64_t first = w - back - (uint64_t)n;
        if (rnn_rec_read(r, first, n, ev, cols, NULL) != n) {
            refused++;
            continue;
        }
        ok++;
        for (int i = 0; i < n; i++)
            bad += !check_step(first + (uint64_t)i, ev[i], cols + (size_t)i * C);
    }
    pthread_join(th, NULL);
    print_message("ranges accepted %ld, refused %ld, wrong steps %ld\n", ok, refused, bad);
    assert_int_equal(bad, 0);
    assert_true(ok > 0);
    assert_true(refused > 0);
    rnn_rec_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_wrap),
        cmocka_unit_test(test_cut_and_refusals),
        cmocka_unit_test(test_contention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
