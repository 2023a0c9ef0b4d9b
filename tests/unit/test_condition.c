/* SPDX-License-Identifier: MIT */
/* Tests of core/condition: the metric position of steps in 4/4, 3/4, 6/8,
 * 7/8, a file's meter changes (tests/fixtures/midi/meters.mid) and meters
 * whose beat is off the grid, each against positions worked out by hand;
 * the host's version against the file's over many meters; the column
 * layout; the harmony of a hand-built file's melody, step by step; the
 * held keys of a live player. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../core/condition.h"

/* One expected position: step, bar start, beat start, step in beat, beat in bar. */
typedef struct {
    int64_t step;
    int bar, beat, sib, bib;
} want_pos;

static void check_file(const rnn_midi_meter *m, size_t n, int ppq, int spq, const want_pos *w,
                       size_t nw, const char *what)
{
    for (size_t i = 0; i < nw; i++) {
        rnn_metric_pos p;
        assert_int_equal(rnn_cond_metric_file(m, n, ppq, spq, w[i].step, &p), 0);
        if (p.bar_start != w[i].bar || p.beat_start != w[i].beat || p.step_in_beat != w[i].sib ||
            p.beat_in_bar != w[i].bib)
            fail_msg("%s step %lld: bar %d beat %d step-in-beat %d beat-in-bar %d, want %d %d %d "
                     "%d",
                     what, (long long)w[i].step, p.bar_start, p.beat_start, p.step_in_beat,
                     p.beat_in_bar, w[i].bar, w[i].beat, w[i].sib, w[i].bib);
    }
}

/* 16th-note grid (spq 4), 96 ticks per quarter: 24 ticks a step. */
static void test_simple_meters(void **state)
{
    (void)state;
    /* no meter: 4/4, 16 steps a bar, 4 a beat */
    const want_pos common[] = {{0, 1, 1, 0, 0},  {1, 0, 0, 1, 0},  {4, 0, 1, 0, 1},
                               {5, 0, 0, 1, 1},  {15, 0, 0, 3, 3}, {16, 1, 1, 0, 0},
                               {43, 0, 0, 3, 2}, {48, 1, 1, 0, 0}};
    check_file(NULL, 0, 96, 4, common, 8, "4/4 (none)");
    /* 3/4: 12 steps a bar */
    const rnn_midi_meter m34 = {0, 3, 4};
    const want_pos w34[] = {{0, 1, 1, 0, 0},  {8, 0, 1, 0, 2},  {11, 0, 0, 3, 2}, {12, 1, 1, 0, 0},
                            {20, 0, 1, 0, 2}, {23, 0, 0, 3, 2}, {25, 0, 0, 1, 0}};
    check_file(&m34, 1, 96, 4, w34, 7, "3/4");
    /* 6/8: a beat is an eighth, 2 steps; 12 steps a bar */
    const rnn_midi_meter m68 = {0, 6, 8};
    const want_pos w68[] = {{0, 1, 1, 0, 0},  {1, 0, 0, 1, 0},  {6, 0, 1, 0, 3}, {7, 0, 0, 1, 3},
                            {11, 0, 0, 1, 5}, {12, 1, 1, 0, 0}, {22, 0, 1, 0, 5}};
    check_file(&m68, 1, 96, 4, w68, 7, "6/8");
    /* 7/8: 14 steps a bar */
    const rnn_midi_meter m78 = {0, 7, 8};
    const want_pos w78[] = {{0, 1, 1, 0, 0},  {12, 0, 1, 0, 6}, {13, 0, 0, 1, 6},
                            {14, 1, 1, 0, 0}, {27, 0, 0, 1, 6}, {28, 1, 1, 0, 0}};
    check_file(&m78, 1, 96, 4, w78, 6, "7/8");
    /* 2/2 (cut time): beats of 8 steps */
    const rnn_midi_meter m22 = {0, 2, 2};
    const want_pos w22[] = {{7, 0, 0, 7, 0}, {8, 0, 1, 0, 1}, {15, 0, 0, 7, 1}, {16, 1, 1, 0, 0}};
    check_file(&m22, 1, 96, 4, w22, 4, "2/2");
}

/* The meter map of tests/fixtures/midi/meters.mid (3/4 at tick 0, 6/8 at
 * 288, 7/8 at 576, 4/4 at 912; 24 ticks a step): steps 0, 12, 24 and 38. */
static void test_meter_changes(void **state)
{
    (void)state;
    rnn_midi_file f;
    char err[256];
    assert_int_equal(
        rnn_midi_read_path("tests/fixtures/midi/meters.mid", NULL, NULL, &f, err, sizeof err), 0);
    const want_pos w[] = {
        {0, 1, 1, 0, 0},  {11, 0, 0, 3, 2},                   /* 3/4 */
        {12, 1, 1, 0, 0}, {23, 0, 0, 1, 5},                   /* 6/8 */
        {24, 1, 1, 0, 0}, {36, 0, 1, 0, 6}, {37, 0, 0, 1, 6}, /* 7/8 */
        {38, 1, 1, 0, 0}, {54, 1, 1, 0, 0}, {59, 0, 0, 1, 1}, /* 4/4 on */
    };
    check_file(f.meters, f.n_meters, f.ppq, 4, w, sizeof w / sizeof w[0], "meters.mid");
    rnn_metric_pos p;
    assert_int_equal(rnn_cond_metric_file(f.meters, f.n_meters, f.ppq, 4, 30, &p), 0);
    assert_int_equal(p.num, 7);
    assert_int_equal(p.den, 8);
    assert_int_equal(rnn_cond_metric_file(f.meters, f.n_meters, f.ppq, 4, 1000, &p), 0);
    assert_int_equal(p.num, 4);
    assert_int_equal(p.den, 4);
    /* 4/4 holds before a first meter that comes later: 3/4 from step 8 */
    const rnn_midi_meter late = {192, 3, 4};
    const want_pos wl[] = {
        {0, 1, 1, 0, 0}, {5, 0, 0, 1, 1}, {8, 1, 1, 0, 0}, {19, 0, 0, 3, 2}, {20, 1, 1, 0, 0}};
    check_file(&late, 1, 96, 4, wl, 5, "4/4 then 3/4");
    /* a meter off the grid holds from the step its tick rounds to: tick 36
     * is step 1.5, i.e. step 2 */
    const rnn_midi_meter off = {36, 2, 4};
    const want_pos wo[] = {{1, 0, 0, 1, 0}, {2, 1, 1, 0, 0}, {5, 0, 0, 3, 0}, {6, 0, 1, 0, 1}};
    check_file(&off, 1, 96, 4, wo, 4, "2/4 from tick 36");
    rnn_midi_free(&f);
}

/* Beats that do not fall on the grid. 7/16 on a grid of 2 steps per
 * quarter: beats every half step, at 0, .5, 1, 1.5, ... rounded halves up
 * to steps 0, 1, 1, 2, 2, 3, 3; the bar line at 3.5 -> 4, at 7 -> 7. The
 * step takes the last beat rounded onto it. 6/8 on a grid of 3 steps per
 * quarter (eighth-note triplets): beats every 1.5 steps, at steps 0, 2, 3,
 * 5, 6, 8; bars of 9 steps. */
static void test_beats_off_the_grid(void **state)
{
    (void)state;
    const rnn_midi_meter m716 = {0, 7, 16};
    const want_pos w716[] = {{0, 1, 1, 0, 0}, {1, 0, 1, 0, 2}, {2, 0, 1, 0, 4}, {3, 0, 1, 0, 6},
                             {4, 1, 1, 0, 1}, {5, 0, 1, 0, 3}, {6, 0, 1, 0, 5}, {7, 1, 1, 0, 0}};
    check_file(&m716, 1, 96, 2, w716, 8, "7/16 at spq 2");
    const rnn_midi_meter m68 = {0, 6, 8};
    const want_pos w68[] = {{0, 1, 1, 0, 0}, {1, 0, 0, 1, 0}, {2, 0, 1, 0, 1}, {3, 0, 1, 0, 2},
                            {4, 0, 0, 1, 2}, {5, 0, 1, 0, 3}, {6, 0, 1, 0, 4}, {7, 0, 0, 1, 4},
                            {8, 0, 1, 0, 5}, {9, 1, 1, 0, 0}};
    check_file(&m68, 1, 96, 3, w68, 10, "6/8 at spq 3");
}

/* The host's position (beats in the bar) gives the file's position for the
 * same meter, over numerators 1..12, every denominator 1..128 and grids
 * of 1, 2, 4 and 8 steps per quarter (positions exact in binary). */
static void test_host_matches_file(void **state)
{
    (void)state;
    long compared = 0;
    for (int spq = 1; spq <= 8; spq *= 2)
        for (int den = 1; den <= 128; den *= 2)
            for (int num = 1; num <= 12; num++) {
                const rnn_midi_meter m = {0, num, den};
                for (int64_t s = 0; s < 300; s++) {
                    rnn_metric_pos a, b;
                    assert_int_equal(rnn_cond_metric_file(&m, 1, 480, spq, s, &a), 0);
                    double beats = (double)s * den / (4.0 * spq);
                    double bar_beat = fmod(beats, num);
                    assert_int_equal(rnn_cond_metric_host(bar_beat, den, num, spq, &b), 0);
                    if (a.bar_start != b.bar_start || a.beat_start != b.beat_start ||
                        a.step_in_beat != b.step_in_beat || a.beat_in_bar != b.beat_in_bar)
                        fail_msg("%d/%d spq %d step %lld: file %d %d %d %d, host %d %d %d %d", num,
                                 den, spq, (long long)s, a.bar_start, a.beat_start, a.step_in_beat,
                                 a.beat_in_bar, b.bar_start, b.beat_start, b.step_in_beat,
                                 b.beat_in_bar);
                    compared++;
                }
            }
    print_message("host and file positions agree on %ld steps\n", compared);
    rnn_metric_pos p;
    assert_int_equal(rnn_cond_metric_host(1.0, 3, 4, 4, &p), -1);
    assert_int_equal(rnn_cond_metric_host(NAN, 4, 4, 4, &p), -1);
    assert_int_equal(rnn_cond_metric_host(1.0, 4, 4, 0, &p), -1);
    /* 3.9 beats into 4/4 at spq 4 is step 15.6: the next bar line (16) is
     * nearer, so the step is the next bar's first */
    assert_int_equal(rnn_cond_metric_host(3.9, 4, 4, 4, &p), 0);
    assert_int_equal(p.bar_start, 1);
    assert_int_equal(p.beat_in_bar, 0);
}

static void test_columns(void **state)
{
    (void)state;
    assert_int_equal(rnn_cond_metric_columns(4), 2 + 16 + 16);
    assert_int_equal(rnn_cond_metric_columns(0), 0);
    assert_int_equal(rnn_cond_metric_columns(97), 0);
    float c[34];
    rnn_metric_pos p = {0, 0, 3, 2, 4, 4};
    rnn_cond_metric_fill(&p, 4, c);
    for (int i = 0; i < 34; i++)
        assert_true(c[i] == ((i == 2 + 3 || i == 18 + 2) ? 1.0f : 0.0f));
    /* beat 20 of a 24/8 bar takes the last beat column; bar and beat flags */
    p = (rnn_metric_pos){1, 1, 0, 20, 24, 8};
    rnn_cond_metric_fill(&p, 4, c);
    for (int i = 0; i < 34; i++)
        assert_true(c[i] == ((i == 0 || i == 1 || i == 2 || i == 33) ? 1.0f : 0.0f));
    float h[12];
    rnn_cond_harmony_fill(0x091, h); /* C, E, G */
    for (int k = 0; k < 12; k++)
        assert_true(h[k] == ((k == 0 || k == 4 || k == 7) ? 1.0f : 0.0f));
    rnn_metric_pos q;
    const rnn_midi_meter bad[] = {{0, 0, 4}, {0, 3, 6}};
    assert_int_equal(rnn_cond_metric_file(&bad[0], 1, 96, 4, 3, &q), -1);
    assert_int_equal(rnn_cond_metric_file(&bad[1], 1, 96, 4, 3, &q), -1);
    assert_int_equal(rnn_cond_metric_file(NULL, 0, 0, 4, 3, &q), -1);
    assert_int_equal(rnn_cond_metric_file(NULL, 0, 96, 4, -1, &q), -1);
}

#define C 0x001
#define CS 0x002
#define D 0x004
#define E 0x010
#define F 0x020
#define G 0x080
#define A 0x200
#define B 0x800

/* A hand-built file, one tick a step: track 1 channel 0 plays the line
 * 72 76 74 72 71 72 74 76 (4 steps each) over its own G4 (67, steps 0-8,
 * hidden by the skyline); track 2 channel 1 the chords C-E-G, F-A-C,
 * G-B-D, C-E-G (8 steps each); track 3 channel 0 a C#4 on step 30 only;
 * drums on channel 10 (never harmony). The line's own pitch is left out,
 * the G under it and the C5 of the F chord (another voice) are not. */
static void test_harmony_file(void **state)
{
    (void)state;
    rnn_note notes[64];
    size_t n = 0;
    const int line[8] = {72, 76, 74, 72, 71, 72, 74, 76};
    for (int i = 0; i < 8; i++)
        notes[n++] = (rnn_note){1, 0, line[i], 90, 4 * i, 4 * i + 4};
    notes[n++] = (rnn_note){1, 0, 67, 90, 0, 8};
    const int chord[4][3] = {{60, 64, 67}, {65, 69, 72}, {67, 71, 74}, {60, 64, 67}};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++)
            notes[n++] = (rnn_note){2, 1, chord[i][k], 70, 8 * i, 8 * i + 8};
    notes[n++] = (rnn_note){3, 0, 61, 70, 30, 31};
    for (int i = 0; i < 8; i++)
        notes[n++] = (rnn_note){4, 9, 38, 100, 4 * i, 4 * i + 1};
    rnn_seq_list l = {0};
    char err[256];
    assert_int_equal(rnn_encode(RNN_KIND_MELODY, notes, n, 4, 4, &l, err, sizeof err), 0);
    assert_int_equal(l.count, 1); /* the chords and the lone C# are too short */
    const rnn_seq *seq = &l.seqs[0];
    assert_int_equal(seq->track, 1);
    assert_int_equal(seq->start_step, 0);
    assert_int_equal(seq->len, 33);
    uint16_t want[33];
    for (int s = 0; s < 33; s++) {
        int chord_i = s / 8;
        want[s] = chord_i == 0 || chord_i == 3 ? C | E | G : chord_i == 1 ? F | A | C : G | B | D;
    }
    want[30] |= CS;
    want[32] = 0; /* the line's note-off step: nothing sounds */
    uint16_t got[33];
    assert_int_equal(rnn_cond_harmony_file(notes, n, 4, 4, seq, got, err, sizeof err), 0);
    for (int s = 0; s < 33; s++)
        if (got[s] != want[s]) fail_msg("step %d: mask 0x%03x, want 0x%03x", s, got[s], want[s]);
    /* the line's own channel alone: steps 0-7 hear the G4 under the line */
    rnn_note solo[9];
    memcpy(solo, notes, 9 * sizeof *solo);
    assert_int_equal(rnn_cond_harmony_file(solo, 9, 4, 4, seq, got, err, sizeof err), 0);
    for (int s = 0; s < 33; s++)
        assert_int_equal(got[s], s < 8 ? G : 0);
    /* a sequence that starts later (its events from step 8 on) is aligned
     * by its start_step: steps 8..15 hear F-A-C */
    rnn_seq late = *seq;
    late.events = seq->events + 8;
    late.start_step = 8;
    late.len = 8;
    assert_int_equal(rnn_cond_harmony_file(notes, n, 4, 4, &late, got, err, sizeof err), 0);
    for (int s = 0; s < 8; s++)
        assert_int_equal(got[s], F | A | C);
    rnn_seq_list_free(&l);
}

static void test_held(void **state)
{
    (void)state;
    rnn_held h;
    rnn_held_clear(&h);
    assert_int_equal(rnn_held_mask(&h), 0);
    rnn_held_note_on(&h, 60);
    rnn_held_note_on(&h, 64);
    rnn_held_note_on(&h, 67);
    rnn_held_note_on(&h, 72);
    assert_int_equal(rnn_held_mask(&h), C | E | G);
    rnn_held_note_off(&h, 60);
    assert_int_equal(rnn_held_mask(&h), C | E | G); /* 72 is a C too */
    rnn_held_note_off(&h, 72);
    assert_int_equal(rnn_held_mask(&h), E | G);
    rnn_held_note_on(&h, 64); /* struck again: still one key */
    rnn_held_note_off(&h, 64);
    assert_int_equal(rnn_held_mask(&h), G);
    rnn_held_note_on(&h, 127);
    rnn_held_note_on(&h, -1);
    rnn_held_note_on(&h, 128);
    assert_int_equal(rnn_held_mask(&h), G); /* 127 is a G; the others are ignored */
    rnn_held_note_on(&h, 0);
    rnn_held_note_on(&h, 11);
    assert_int_equal(rnn_held_mask(&h), G | C | B);
    rnn_held_clear(&h);
    assert_int_equal(rnn_held_mask(&h), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_meters),
        cmocka_unit_test(test_meter_changes),
        cmocka_unit_test(test_beats_off_the_grid),
        cmocka_unit_test(test_host_matches_file),
        cmocka_unit_test(test_columns),
        cmocka_unit_test(test_harmony_file),
        cmocka_unit_test(test_held),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
