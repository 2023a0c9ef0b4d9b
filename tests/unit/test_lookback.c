/* SPDX-License-Identifier: MIT */
/* Tests of core/lookback, the lookback input columns (core/FORMAT.md,
 * "Lookback inputs (format v2)"):
 * - the column counts of melody (262) and drums (20);
 * - hand-worked melody and drum histories: the events one and two bars
 *   before the predicted step and the repeat flags, at the sequence's start
 *   (nothing, then one bar only) and further on;
 * - bars out of range and unknown kinds;
 * - the engine's ring gives the array's columns at every step of long
 *   random sequences, across many bar lengths and past the ring's wrap,
 *   and forgets everything on clear;
 * - both agree with the definition written out here from whole sequences
 *   (column by column at every step);
 * - the bar length of a meter (rounded halves up, at least 1) and the most
 *   columns a step can have on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../core/lookback.h"

#define MEL_C (2 * RNN_MELODY_VOCAB + 2)
#define DRUM_C (2 * RNN_DRUM_CLASSES + 2)

static void test_columns(void **state)
{
    (void)state;
    assert_int_equal(rnn_lookback_columns(RNN_KIND_MELODY), 262);
    assert_int_equal(rnn_lookback_columns(RNN_KIND_DRUMS), 20);
    assert_int_equal(rnn_lookback_columns((rnn_kind)0), 0);
}

/* The set columns of cols (C of them), as a sorted list ending with -1. */
static void set_columns(const float *cols, int C, int *out)
{
    int k = 0;
    for (int i = 0; i < C; i++) {
        assert_true(cols[i] == 0.0f || cols[i] == 1.0f);
        if (cols[i] == 1.0f) out[k++] = i;
    }
    out[k] = -1;
}

static void expect(const float *cols, int C, const int *want)
{
    int got[64];
    set_columns(cols, C, got);
    for (int i = 0;; i++) {
        if (got[i] != want[i])
            fail_msg("column list differs at %d: %d, want %d", i, got[i], want[i]);
        if (want[i] < 0) break;
    }
}

static void test_melody_by_hand(void **state)
{
    (void)state;
    const int V = RNN_MELODY_VOCAB;
    /* a bar of 4 steps: C4 - off - | E4 - off - | C4 */
    const int32_t h[] = {2 + 60, 0, 1, 0, 2 + 64, 0, 1, 0, 2 + 60};
    float cols[MEL_C];
    rnn_lookback_fill(RNN_KIND_MELODY, h, 0, 4, cols);
    expect(cols, MEL_C, (const int[]){-1});
    rnn_lookback_fill(RNN_KIND_MELODY, h, 3, 4, cols); /* predicting step 3: nothing a bar back */
    expect(cols, MEL_C, (const int[]){-1});
    rnn_lookback_fill(RNN_KIND_MELODY, h, 4, 4, cols); /* predicting step 4: step 0 a bar back */
    expect(cols, MEL_C, (const int[]){62, -1});
    rnn_lookback_fill(RNN_KIND_MELODY, h, 5, 4, cols); /* last e4 = 66 vs e0 = 62: no repeat */
    expect(cols, MEL_C, (const int[]){0, -1});
    rnn_lookback_fill(RNN_KIND_MELODY, h, 6, 4, cols); /* last e5 = 0 repeats e1 = 0 */
    expect(cols, MEL_C, (const int[]){1, 2 * V, -1});
    rnn_lookback_fill(RNN_KIND_MELODY, h, 8, 4, cols); /* step 8 one bar back: e4; two: e0 */
    expect(cols, MEL_C, (const int[]){66, V + 62, 2 * V, -1});
    /* last e8 = C4: not e4 (E4), but e0 (C4) two bars back */
    rnn_lookback_fill(RNN_KIND_MELODY, h, 9, 4, cols);
    expect(cols, MEL_C, (const int[]){0, V + 0, 2 * V + 1, -1});
    /* an event out of range counts as event 0 */
    const int32_t odd[] = {500, 7, 0};
    rnn_lookback_fill(RNN_KIND_MELODY, odd, 3, 2, cols);
    expect(cols, MEL_C, (const int[]){7, 2 * V, -1});
}

static void test_drums_by_hand(void **state)
{
    (void)state;
    /* a bar of 2 steps: kick + hat, snare | kick + hat, snare | kick */
    const int32_t kh = 1 | 4, sn = 2;
    const int32_t h[] = {kh, sn, kh, sn, 1};
    float cols[DRUM_C];
    rnn_lookback_fill(RNN_KIND_DRUMS, h, 1, 2, cols);
    expect(cols, DRUM_C, (const int[]){-1});
    rnn_lookback_fill(RNN_KIND_DRUMS, h, 2, 2, cols); /* step 2 a bar back: e0 = kick + hat */
    expect(cols, DRUM_C, (const int[]){0, 2, -1});
    rnn_lookback_fill(RNN_KIND_DRUMS, h, 4, 2, cols); /* e2 and e0; e3 = e1 */
    expect(cols, DRUM_C, (const int[]){0, 2, 9, 11, 18, -1});
    rnn_lookback_fill(RNN_KIND_DRUMS, h, 5, 2, cols); /* e3, e1 (snares); kick alone repeats none */
    expect(cols, DRUM_C, (const int[]){1, 10, -1});
}

static void test_out_of_range(void **state)
{
    (void)state;
    const int32_t h[] = {2, 2, 2, 2, 2, 2, 2, 2};
    float cols[MEL_C];
    for (int bar = -1; bar <= 0; bar++) {
        memset(cols, 0xff, sizeof cols);
        rnn_lookback_fill(RNN_KIND_MELODY, h, 8, bar, cols);
        expect(cols, MEL_C, (const int[]){-1});
    }
    memset(cols, 0xff, sizeof cols);
    rnn_lookback_fill(RNN_KIND_MELODY, h, 8, RNN_LOOKBACK_MAX_BAR + 1, cols);
    expect(cols, MEL_C, (const int[]){-1});
    rnn_lookback_fill(RNN_KIND_MELODY, h, 8, 1, cols); /* a bar of one step */
    expect(
        cols, MEL_C,
        (const int[]){2, RNN_MELODY_VOCAB + 2, 2 * RNN_MELODY_VOCAB, 2 * RNN_MELODY_VOCAB + 1, -1});
}

static uint64_t rng = 0x853c49e6748fea9bu;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

/* The definition from a whole sequence s, input at step p (predicting
 * p + 1), written out apart from the library. */
static void definition(rnn_kind kind, const int32_t *s, int64_t p, int64_t b, float *cols)
{
    const int V = kind == RNN_KIND_MELODY ? RNN_MELODY_VOCAB : RNN_DRUMS_VOCAB;
    const int W = kind == RNN_KIND_MELODY ? V : RNN_DRUM_CLASSES;
    memset(cols, 0, (size_t)(2 * W + 2) * sizeof(float));
    for (int k = 1; k <= 2; k++) {
        const int64_t i = p + 1 - k * b;
        if (i < 0) continue;
        int32_t e = s[i] >= 0 && s[i] < V ? s[i] : 0;
        if (kind == RNN_KIND_MELODY)
            cols[(k - 1) * W + e] = 1;
        else
            for (int d = 0; d < W; d++)
                cols[(k - 1) * W + d] = (e >> d) & 1;
        const int64_t j = p - k * b;
        if (j >= 0) {
            int32_t a = s[p] >= 0 && s[p] < V ? s[p] : 0, c = s[j] >= 0 && s[j] < V ? s[j] : 0;
            cols[2 * W + k - 1] = a == c;
        }
    }
}

static void check_random(rnn_kind kind, int bar, size_t len)
{
    const int C = rnn_lookback_columns(kind);
    int32_t *s = malloc(len * sizeof(int32_t));
    float *a = malloc((size_t)C * sizeof(float)), *b = malloc((size_t)C * sizeof(float)),
          *d = malloc((size_t)C * sizeof(float));
    rnn_lookback_ring *ring = malloc(sizeof *ring);
    assert_true(s && a && b && d && ring);
    /* few distinct events and a repeating pattern with errors: many repeats */
    for (size_t i = 0; i < len; i++)
        s[i] = (i >= (size_t)bar && next() % 4) ? s[i - (size_t)bar] : (int32_t)(next() % 5);
    rnn_lookback_clear(ring);
    size_t flags = 0;
    for (size_t p = 0; p < len; p++) {
        rnn_lookback_push(ring, s[p]);
        rnn_lookback_fill(kind, s, p + 1, bar, a);
        rnn_lookback_ring_fill(ring, kind, bar, b);
        definition(kind, s, (int64_t)p, bar, d);
        assert_memory_equal(a, d, (size_t)C * sizeof(float));
        assert_memory_equal(b, d, (size_t)C * sizeof(float));
        flags += d[C - 2] > 0;
    }
    assert_true(flags > len / 4); /* the repeats were seen */
    rnn_lookback_clear(ring);
    rnn_lookback_push(ring, s[0]);
    rnn_lookback_ring_fill(ring, kind, bar, b);
    rnn_lookback_fill(kind, s, 1, bar, a);
    assert_memory_equal(a, b, (size_t)C * sizeof(float));
    free(s), free(a), free(b), free(d), free(ring);
}

static void test_ring_and_definition(void **state)
{
    (void)state;
    const int bars[] = {1, 2, 3, 12, 16, 48, 96, 384, RNN_LOOKBACK_MAX_BAR};
    for (size_t i = 0; i < sizeof bars / sizeof bars[0]; i++) {
        /* long enough to wrap the ring (2 RNN_LOOKBACK_MAX_BAR + 1) */
        const size_t len = 2 * (2 * RNN_LOOKBACK_MAX_BAR + 1) + 7 * (size_t)bars[i];
        check_random(RNN_KIND_MELODY, bars[i], len);
        check_random(RNN_KIND_DRUMS, bars[i], len);
    }
}

/* b = num * 4 * spq / den steps, rounded halves up, at least 1. */
static void test_bar_steps(void **state)
{
    (void)state;
    assert_int_equal(rnn_lookback_bar_steps(4, 4, 4), 16);
    assert_int_equal(rnn_lookback_bar_steps(3, 4, 4), 12);
    assert_int_equal(rnn_lookback_bar_steps(6, 8, 4), 12);
    assert_int_equal(rnn_lookback_bar_steps(7, 8, 4), 14);
    assert_int_equal(rnn_lookback_bar_steps(7, 16, 2), 4);  /* 3.5: halves up */
    assert_int_equal(rnn_lookback_bar_steps(5, 16, 2), 3);  /* 2.5 */
    assert_int_equal(rnn_lookback_bar_steps(3, 16, 1), 1);  /* 0.75 */
    assert_int_equal(rnn_lookback_bar_steps(1, 128, 1), 1); /* 1/32 of a step: at least 1 */
    assert_int_equal(rnn_lookback_bar_steps(5, 16, 1), 1);  /* 1.25 */
    assert_int_equal(rnn_lookback_bar_steps(4, 4, 96), 384);
    assert_int_equal(rnn_lookback_bar_steps(16, 4, 96), RNN_LOOKBACK_MAX_BAR);
    assert_int_equal(rnn_lookback_bar_steps(255, 1, 96), 255 * 4 * 96);
    assert_int_equal(rnn_lookback_bar_steps(0, 4, 4), 0);
    assert_int_equal(rnn_lookback_bar_steps(4, 0, 4), 0);
    assert_int_equal(rnn_lookback_bar_steps(4, 4, 0), 0);
    assert_int_equal(rnn_lookback_columns_on(RNN_KIND_MELODY), 4);
    assert_int_equal(rnn_lookback_columns_on(RNN_KIND_DRUMS), DRUM_C);
    assert_int_equal(rnn_lookback_columns_on((rnn_kind)0), 0);
    /* a melody step never has more than that many on */
    int32_t hist[40];
    for (int i = 0; i < 40; i++)
        hist[i] = i % 3 ? 2 + i : 0;
    float cols[MEL_C];
    for (size_t n = 0; n <= 40; n++)
        for (int b = 1; b <= 20; b++) {
            rnn_lookback_fill(RNN_KIND_MELODY, hist, n, b, cols);
            int on = 0;
            for (int j = 0; j < MEL_C; j++)
                on += cols[j] != 0.0f;
            assert_true(on <= 4);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_columns),
        cmocka_unit_test(test_melody_by_hand),
        cmocka_unit_test(test_drums_by_hand),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_ring_and_definition),
        cmocka_unit_test(test_bar_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
