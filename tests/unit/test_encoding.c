/* SPDX-License-Identifier: MIT */
/* Tests of core/encoding: the drum map against Magenta's table, the grid
 * rounding, hand-made melody and drum fixtures with their event sequences
 * written out, the split and drop rules, decode(encode(x)) == x on the grid,
 * and transposition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../core/encoding.h"

/* Magenta's DEFAULT_DRUM_TYPE_PITCHES (drums_encoder_decoder.py), one line per class. */
static const int magenta[9][16] = {
    {36, 35, -1},
    {38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85, -1},
    {42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 22, -1},
    {46, 67, 72, 74, 79, 81, 26, -1},
    {45, 29, 41, 43, 61, 64, 84, -1},
    {48, 47, 60, 63, 77, 86, 87, -1},
    {50, 30, 62, 76, 83, -1},
    {49, 52, 55, 57, 58, -1},
    {51, 53, 59, 82, -1},
};

static void test_vocab_and_names(void **state)
{
    (void)state;
    assert_int_equal(rnn_kind_vocab(RNN_KIND_MELODY), 130);
    assert_int_equal(rnn_kind_vocab(RNN_KIND_DRUMS), 512);
    assert_int_equal(rnn_kind_vocab((rnn_kind)7), 0);
    assert_string_equal(rnn_kind_name(RNN_KIND_MELODY), "melody");
    assert_string_equal(rnn_kind_name(RNN_KIND_DRUMS), "drums");
    assert_null(rnn_kind_name((rnn_kind)0));
}

static void test_drum_map(void **state)
{
    (void)state;
    int mapped[128];
    for (int p = 0; p < 128; p++)
        mapped[p] = -1;
    for (int c = 0; c < 9; c++)
        for (int i = 0; magenta[c][i] >= 0; i++)
            mapped[magenta[c][i]] = c;
    for (int p = -5; p < 133; p++) {
        int want = p >= 0 && p < 128 ? mapped[p] : -1;
        assert_int_equal(rnn_drum_class_of_pitch(p), want);
    }
    for (int c = 0; c < 9; c++)
        assert_int_equal(rnn_drum_pitch_of_class(c), magenta[c][0]);
    assert_int_equal(rnn_drum_pitch_of_class(-1), -1);
    assert_int_equal(rnn_drum_pitch_of_class(9), -1);
}

/* Notes on a grid of one tick per step (ppq = steps per quarter = 4). */
#define N(track, ch, pitch, on, off)                                                               \
    {                                                                                              \
        (track), (ch), (pitch), 100, (on), (off)                                                   \
    }

static void expect_seq(const rnn_seq *s, const int32_t *want, size_t n, int64_t start)
{
    assert_int_equal(s->len, n);
    assert_int_equal(s->start_step, start);
    for (size_t i = 0; i < n; i++) {
        if (s->events[i] != want[i])
            fail_msg("step %zu: event %d, expected %d", i, s->events[i], want[i]);
    }
}

/* Expands "p" notation: ON(p) = 2 + p, OFF = 1, _ = 0. */
#define ON(p) (2 + (p))
#define OFF 1
#define _ 0

static void test_skyline(void **state)
{
    (void)state;
    /* A bass line of four held notes under a melody of eight; the melody
     * wins; when the melody pauses (steps 14..17) the held bass note under
     * it comes back as a note-on; a note-off and a note-on on one step give
     * the note-on; a lower note starting under a held higher one is hidden. */
    rnn_note notes[] = {
        N(1, 0, 48, 0, 8),   N(1, 0, 50, 8, 16),  N(1, 0, 52, 16, 24), N(1, 0, 53, 24, 34),
        N(1, 0, 72, 0, 2),   N(1, 0, 74, 2, 4),   N(1, 0, 76, 4, 8),   N(1, 0, 77, 8, 12),
        N(1, 0, 79, 12, 14), N(1, 0, 81, 18, 22), N(1, 0, 79, 22, 22), N(1, 0, 60, 23, 24),
        N(1, 0, 84, 24, 28), N(1, 0, 60, 25, 26),
    };
    rnn_seq_list l = {0};
    char err[256];
    assert_int_equal(rnn_encode(RNN_KIND_MELODY, notes, sizeof notes / sizeof notes[0], 4, 4, &l,
                                err, sizeof err),
                     0);
    assert_int_equal(l.count, 1);
    /* clang-format off */
    const int32_t want[] = {
        ON(72), _, ON(74), _,      ON(76), _,      _, _, ON(77), _, _, _, /* 0..11 */
        ON(79), _, ON(50), _,                                             /* 12..15: bass back */
        ON(52), _, ON(81), _,      _,      _,                             /* 16..21 */
        ON(79), ON(60), ON(84), _, _,      _,                             /* 22: zero length; 23: top */
        ON(53), _, _, _, _, _,                                            /* 28..33: bass again */
        OFF,                                                              /* 34 */
    };
    /* clang-format on */
    expect_seq(&l.seqs[0], want, sizeof want / sizeof want[0], 0);
    assert_int_equal(l.seqs[0].track, 1);
    assert_int_equal(l.seqs[0].channel, 0);
    rnn_seq_list_free(&l);
    assert_null(l.seqs);
    assert_int_equal(l.count, 0);
}

static void test_repeated_pitch_and_overlap(void **state)
{
    (void)state;
    /* The same pitch struck again while it sounds is a new note-on; two notes
     * of one pitch overlapping give one line with two attacks. */
    rnn_note notes[] = {
        N(1, 2, 60, 0, 4),   N(1, 2, 60, 4, 8),   N(1, 2, 60, 6, 12),  N(1, 2, 62, 12, 16),
        N(1, 2, 64, 16, 20), N(1, 2, 65, 20, 24), N(1, 2, 67, 24, 28), N(1, 2, 69, 28, 32),
    };
    rnn_seq_list l = {0};
    char err[256];
    assert_int_equal(rnn_encode(RNN_KIND_MELODY, notes, 8, 4, 4, &l, err, sizeof err), 0);
    assert_int_equal(l.count, 1);
    const int32_t want[] = {ON(60), _,      _,      _, ON(60), _,      ON(60), _, _, _,      _,
                            _,      ON(62), _,      _, _,      ON(64), _,      _, _, ON(65), _,
                            _,      _,      ON(67), _, _,      _,      ON(69), _, _, _,      OFF};
    expect_seq(&l.seqs[0], want, sizeof want / sizeof want[0], 0);
    rnn_seq_list_free(&l);
}

/* Eight one-step notes every 4 steps from step start, each 2 steps long:
 * 30 sounding-or-rest steps and the closing note-off, 31 steps. */
static size_t phrase(rnn_note *out, int track, int ch, int64_t start, int count)
{
    for (int i = 0; i < count; i++)
        out[i] = (rnn_note){track, ch, 60 + i, 90, start + 4 * i, start + 4 * i + 2};
    return (size_t)count;
}

static void test_gap_split_and_drop(void **state)
{
    (void)state;
    rnn_note notes[64];
    char err[256];
    rnn_seq_list l = {0};

    /* 8 notes over 30 steps + note-off = 31 steps: too short, dropped. */
    size_t n = phrase(notes, 1, 0, 0, 8);
    assert_int_equal(rnn_encode(RNN_KIND_MELODY, notes, n, 4, 4, &l, err, sizeof err), 0);
    assert_int_equal(l.count, 0);

    /* The same with the last note one step longer: 32 steps, kept. */
    notes[7].off++;
    assert_int_equal(rnn_encode(RNN_KIND_MELODY, notes, n, 4, 4, &l, err, sizeof err), 0);
    assert_int_equal(l.count, 1);
    assert_int_equal(l.seqs[0].len, 32);
    rnn_seq_list_free(&l);

    /* 7 notes over 40 steps: too few notes, dropped. */
    n = phrase(notes, 1, 0, 0, 7);
    notes[6].off = 39;
    assert_int_equal(rnn_encode(RNN_KIND_MELODY, notes, n, 4, 4, &l, err, sizeof err), 0);
    assert_int_equal(l.count, 0);

    /* Two 9-note phrases; the gap between the first's release (step 34) and
     * the second's onset: 15 silent steps join them, 16 split them. */
    for (int gap = 15; gap <= 16; gap++) {
        n = phrase(notes, 1, 0, 0, 9);
        int64_t second = 34 + gap;
        n += phrase(notes + n, 1, 0, second, 9);
        rnn_seq_list m = {0};
        assert_int_equal(rnn_encode(RNN_KIND_MELODY, notes, n, 4, 4, &m, err, sizeof err), 0);
        if (gap == 15) {
            assert_int_equal(m.count, 1);
            assert_int_equal(m.seqs[0].len, (size_t)(second + 35));
            assert_int_equal(m.seqs[0].events[34], OFF);
            for (int s = 35; s < second; s++)
                assert_int_equal(m.seqs[0].events[s], 0);
            assert_int_equal(m.seqs[0].events[second], ON(60));
        } else {
            assert_int_equal(m.count, 2);
            assert_int_equal(m.seqs[0].len, 35);
            assert_int_equal(m.seqs[0].start_step, 0);
            assert_int_equal(m.seqs[1].len, 35);
            assert_int_equal(m.seqs[1].start_step, second);
            assert_int_equal(m.seqs[1].events[0], ON(60));
            assert_int_equal(m.seqs[1].events[34], OFF);
        }
        rnn_seq_list_free(&m);
    }

    /* Separate (track, channel) pairs are separate lines; channel 10 is not melody. */
    n = phrase(notes, 1, 0, 0, 9);
    n += phrase(notes + n, 1, 3, 0, 9);
    n += phrase(notes + n, 2, 0, 0, 9);
    n += phrase(notes + n, 1, 9, 0, 9);
    assert_int_equal(rnn_encode(RNN_KIND_MELODY, notes, n, 4, 4, &l, err, sizeof err), 0);
    assert_int_equal(l.count, 3);
    assert_int_equal(l.seqs[0].track, 1);
    assert_int_equal(l.seqs[0].channel, 0);
    assert_int_equal(l.seqs[1].track, 1);
    assert_int_equal(l.seqs[1].channel, 3);
    assert_int_equal(l.seqs[2].track, 2);
    assert_int_equal(l.seqs[2].channel, 0);
    /* appending keeps earlier results */
    assert_int_equal(rnn_encode(RNN_KIND_MELODY, notes, 9, 4, 4, &l, err, sizeof err), 0);
    assert_int_equal(l.count, 4);
    rnn_seq_list_free(&l);
}

static void test_grid_rounding(void **state)
{
    (void)state;
    /* ppq 96, 4 steps per quarter: 24 ticks per step; a tick lies on
     * round(tick / 24), halves up. A note from 36 to 44 (steps 2 and 2)
     * still sounds for one step. */
    rnn_note notes[9] = {
        {1, 0, 70, 100, 11, 35},  {1, 0, 71, 100, 36, 44},   {1, 0, 72, 100, 60, 60},
        {1, 0, 73, 100, 84, 130}, {1, 0, 74, 100, 132, 200},
    };
    for (int i = 5; i < 9; i++)
        notes[i] = (rnn_note){1, 0, 60 + i, 100, 240 + 48 * (i - 5), 240 + 48 * (i - 5) + 24};
    rnn_seq_list l = {0};
    char err[256];
    assert_int_equal(rnn_encode(RNN_KIND_MELODY, notes, 9, 96, 4, &l, err, sizeof err), 0);
    /* steps: 70 [0,1) (11/24 -> 0, 35/24 = 1.46 -> 1); 71 [2,3) (36/24 = 1.5 -> 2;
     * 44/24 = 1.83 -> 2, so one step)
     * 72 at 60/24 = 2.5 -> 3, one step; 73 [84/24=3.5->4, 130/24=5.42->5);
     * 74 [132/24=5.5->6, 200/24=8.33->8); then 65..68 at 10,12,14,16, one step each. */
    const int32_t want[] = {ON(70), OFF,    ON(71), ON(72), ON(73), OFF,    ON(74), _,      OFF,
                            _,      ON(65), OFF,    ON(66), OFF,    ON(67), OFF,    ON(68), OFF};
    /* 18 steps are too short to be kept... */
    assert_int_equal(l.count, 0);
    /* ...so check the same notes padded to 32 steps with a held last note. */
    notes[8].off = 240 + 48 * 3 + 24 * 20;
    assert_int_equal(rnn_encode(RNN_KIND_MELODY, notes, 9, 96, 4, &l, err, sizeof err), 0);
    assert_int_equal(l.count, 1);
    assert_int_equal(l.seqs[0].len, 37);
    for (size_t i = 0; i < sizeof want / sizeof want[0] - 1; i++)
        assert_int_equal(l.seqs[0].events[i], want[i]);
    assert_int_equal(l.seqs[0].events[36], OFF);
    rnn_seq_list_free(&l);
}

static void test_drums(void **state)
{
    (void)state;
    /* Kick, snare and hats spread over two tracks of channel 10 form one
     * drum line; a cowbell (56) is a snare-class hit, pitch 21 has no class;
     * notes of other channels are not drums. */
    rnn_note notes[64];
    size_t n = 0;
    for (int s = 0; s < 32; s += 2)
        notes[n++] = (rnn_note){3, 9, 42, 80, s, s + 1};
    for (int s = 0; s < 32; s += 8)
        notes[n++] = (rnn_note){2, 9, 36, 100, s, s + 1};
    for (int s = 4; s < 32; s += 8)
        notes[n++] = (rnn_note){2, 9, 38, 100, s, s + 3};
    notes[n++] = (rnn_note){2, 9, 56, 100, 31, 32};
    notes[n++] = (rnn_note){2, 9, 21, 100, 33, 34};
    notes[n++] = (rnn_note){1, 0, 36, 100, 40, 41};
    notes[n++] = (rnn_note){2, 9, 49, 100, 34, 35};
    rnn_seq_list l = {0};
    char err[256];
    assert_int_equal(rnn_encode(RNN_KIND_DRUMS, notes, n, 4, 4, &l, err, sizeof err), 0);
    assert_int_equal(l.count, 1);
    const int32_t K = 1, S = 2, H = 4, C = 128;
    int32_t want[35] = {0};
    for (int s = 0; s < 32; s += 2)
        want[s] |= H;
    for (int s = 0; s < 32; s += 8)
        want[s] |= K;
    for (int s = 4; s < 32; s += 8)
        want[s] |= S;
    want[31] |= S;
    want[34] |= C;
    expect_seq(&l.seqs[0], want, 35, 0);
    assert_int_equal(l.seqs[0].channel, 9);
    assert_int_equal(l.seqs[0].track, 0);

    /* decode: canonical pitches, one step long */
    rnn_note out[64];
    size_t k = rnn_decode(RNN_KIND_DRUMS, l.seqs[0].events, l.seqs[0].len, 9, 77, out, 64);
    assert_int_equal(k, 16 + 4 + 4 + 1 + 1);
    assert_int_equal(out[0].pitch, 36);
    assert_int_equal(out[1].pitch, 42);
    assert_int_equal(out[0].on, 0);
    assert_int_equal(out[0].off, 1);
    assert_int_equal(out[0].velocity, 77);
    assert_int_equal(out[0].channel, 9);
    assert_int_equal(out[k - 1].pitch, 49);
    assert_int_equal(out[k - 1].on, 34);
    /* a smaller buffer still gets the full count */
    assert_int_equal(rnn_decode(RNN_KIND_DRUMS, l.seqs[0].events, l.seqs[0].len, 9, 77, out, 3), k);
    rnn_seq_list_free(&l);

    /* A 16-step hole splits; both halves are too short and dropped. */
    n = 0;
    for (int s = 0; s < 24; s += 2)
        notes[n++] = (rnn_note){1, 9, 36, 100, s, s + 1};
    for (int s = 22 + 17; s < 39 + 24; s += 2)
        notes[n++] = (rnn_note){1, 9, 36, 100, s, s + 1};
    assert_int_equal(rnn_encode(RNN_KIND_DRUMS, notes, n, 4, 4, &l, err, sizeof err), 0);
    assert_int_equal(l.count, 0);
    /* with 15 silent steps they are one sequence */
    n = 0;
    for (int s = 0; s < 24; s += 2)
        notes[n++] = (rnn_note){1, 9, 36, 100, s, s + 1};
    for (int s = 22 + 16; s < 38 + 24; s += 2)
        notes[n++] = (rnn_note){1, 9, 36, 100, s, s + 1};
    assert_int_equal(rnn_encode(RNN_KIND_DRUMS, notes, n, 4, 4, &l, err, sizeof err), 0);
    assert_int_equal(l.count, 1);
    assert_int_equal(l.seqs[0].len, 38 + 22 + 1);
    rnn_seq_list_free(&l);
}

/* xorshift for reproducible random material */
static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void test_melody_roundtrip(void **state)
{
    (void)state;
    for (int trial = 0; trial < 200; trial++) {
        /* a monophonic line on the grid: notes of 1..8 steps, rests of 0..15 */
        rnn_note x[128];
        size_t n = 8 + rnd(100);
        int64_t t = rnd(50);
        for (size_t i = 0; i < n; i++) {
            int64_t len = 1 + rnd(8);
            x[i] = (rnn_note){0, 0, (int32_t)rnd(128), 64, t, t + len};
            t += len + (rnd(3) ? 0 : rnd(16));
        }
        if (x[n - 1].off - x[0].on + 1 < 32) x[n - 1].off = x[0].on + 40;
        rnn_seq_list l = {0};
        char err[256];
        assert_int_equal(rnn_encode(RNN_KIND_MELODY, x, n, 2, 2, &l, err, sizeof err), 0);
        assert_int_equal(l.count, 1);
        rnn_note y[128];
        size_t k = rnn_decode(RNN_KIND_MELODY, l.seqs[0].events, l.seqs[0].len, 0, 64, y, 128);
        assert_int_equal(k, n);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(y[i].pitch, x[i].pitch);
            assert_int_equal(y[i].on + l.seqs[0].start_step, x[i].on);
            assert_int_equal(y[i].off + l.seqs[0].start_step, x[i].off);
        }
        rnn_seq_list_free(&l);
    }
}

static void test_drums_roundtrip(void **state)
{
    (void)state;
    for (int trial = 0; trial < 100; trial++) {
        rnn_note x[512];
        size_t n = 0;
        int64_t len = 32 + rnd(64);
        for (int64_t s = 0; s < len; s++) {
            int set = s == 0 || s == len - 1 ? 1 + (int)rnd(511) : (rnd(2) ? (int)rnd(512) : 0);
            if (s % 15 == 0 && set == 0) set = 1; /* keep gaps short */
            for (int c = 0; c < 9; c++)
                if (set >> c & 1)
                    x[n++] = (rnn_note){0, 9, rnn_drum_pitch_of_class(c), 100, s, s + 1};
        }
        rnn_seq_list l = {0};
        char err[256];
        assert_int_equal(rnn_encode(RNN_KIND_DRUMS, x, n, 4, 4, &l, err, sizeof err), 0);
        assert_int_equal(l.count, 1);
        assert_int_equal(l.seqs[0].len, (size_t)len);
        rnn_note y[512];
        size_t k = rnn_decode(RNN_KIND_DRUMS, l.seqs[0].events, l.seqs[0].len, 9, 100, y, 512);
        assert_int_equal(k, n);
        /* x is in (step, class) order, and so is the decoder's output */
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(y[i].pitch, x[i].pitch);
            assert_int_equal(y[i].on, x[i].on);
            assert_int_equal(y[i].off, x[i].off);
        }
        rnn_seq_list_free(&l);
    }
}

static void test_transpose(void **state)
{
    (void)state;
    int32_t ev[] = {ON(60), 0, 1, ON(0), ON(127), 0};
    int32_t copy[6];
    memcpy(copy, ev, sizeof ev);
    assert_int_equal(rnn_transpose_melody(ev, 6, 1), -1);
    assert_memory_equal(ev, copy, sizeof ev);
    assert_int_equal(rnn_transpose_melody(ev, 6, -1), -1);
    assert_memory_equal(ev, copy, sizeof ev);
    int32_t ev2[] = {ON(60), 0, 1, ON(10), ON(117), 0};
    assert_int_equal(rnn_transpose_melody(ev2, 6, 10), 0);
    const int32_t want[] = {ON(70), 0, 1, ON(20), ON(127), 0};
    assert_memory_equal(ev2, want, sizeof want);
    assert_int_equal(rnn_transpose_melody(ev2, 6, -20), 0);
    const int32_t want2[] = {ON(50), 0, 1, ON(0), ON(107), 0};
    assert_memory_equal(ev2, want2, sizeof want2);
}

static void test_errors(void **state)
{
    (void)state;
    rnn_note ok = {1, 0, 60, 100, 0, 4};
    rnn_seq_list l = {0};
    char err[256];
    assert_int_equal(rnn_encode((rnn_kind)9, &ok, 1, 4, 4, &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "kind"));
    assert_int_equal(rnn_encode(RNN_KIND_MELODY, &ok, 1, 0, 4, &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "ppq"));
    assert_int_equal(rnn_encode(RNN_KIND_MELODY, &ok, 1, 4, 0, &l, err, sizeof err), -1);
    assert_int_equal(rnn_encode(RNN_KIND_MELODY, &ok, 1, 4, 97, &l, err, sizeof err), -1);
    rnn_note bad[] = {{1, 0, 128, 100, 0, 4},
                      {1, 16, 60, 100, 0, 4},
                      {1, 0, 60, 100, 5, 4},
                      {1, 0, 60, 100, -1, 4}};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rnn_encode(RNN_KIND_MELODY, &bad[i], 1, 4, 4, &l, err, sizeof err), -1);
        assert_non_null(strstr(err, "invalid"));
    }
    /* notes spanning more grid steps than the encoder takes: an error, not
     * an allocation of that size */
    rnn_note far[] = {{1, 0, 60, 100, 0, (int64_t)1 << 36}};
    assert_int_equal(rnn_encode(RNN_KIND_MELODY, far, 1, 4, 4, &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "steps"));
    assert_int_equal(l.count, 0);
    rnn_seq_list_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_and_names),
        cmocka_unit_test(test_drum_map),
        cmocka_unit_test(test_skyline),
        cmocka_unit_test(test_repeated_pitch_and_overlap),
        cmocka_unit_test(test_gap_split_and_drop),
        cmocka_unit_test(test_grid_rounding),
        cmocka_unit_test(test_drums),
        cmocka_unit_test(test_melody_roundtrip),
        cmocka_unit_test(test_drums_roundtrip),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
