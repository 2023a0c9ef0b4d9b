/* SPDX-License-Identifier: MIT */
/* The engine's conditioning inputs against the trainer's (core/condition.c
 * from a file), step by step, on a random-weight fixture model:
 * - metric position: a host plays a song of 3/4, 6/8, 7/8 and 4/4 with a
 *   tempo change, a jump forward and a loop back, sending time:Position
 *   only at its changes, and again at every block; each step the engine
 *   commits has the columns rnn_cond_metric_file gives at the same step of
 *   a MIDI file with those meters, and meter changes do not relocate;
 * - free-running, the positions are 4/4 from bar 0;
 * - harmony: the player's keys give, in accompany, the harmony the trainer
 *   gives for a file whose other track holds the same notes, and in continue
 *   the harmony it gives around the line it encodes from them (the line's
 *   own key is not harmony, other keys of its pitch class are); drum models
 *   hear none; the held keys survive a stop, a restart and a mode change and
 *   are lifted by all notes off;
 * - version 1 presets take no conditions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/condition.h"
#include "../../core/encoding.h"
#include "../../core/engine.h"
#include "../support/engine_fixture.h"

#define SR 48000.0
#define SPQ 4
#define PPQ 480
#define TPS (PPQ / SPQ) /* ticks a step */
#define BLOCK 400       /* divides every step length below: grid points are block starts */
#define MAX_STEPS 1024

static rnn_engine *make_engine(rnn_kind kind)
{
    char err[256];
    rnn_engine *e = rnn_engine_create(SR, 8192, err, sizeof err);
    assert_non_null(e);
    rnn_model *m = fixture_model(kind, RNN_CELL_LSTM, 1, 16, 16, 7);
    assert_non_null(m);
    rnn_engine_model *em = rnn_engine_model_wrap(m, err, sizeof err);
    if (!em) fail_msg("%s", err);
    assert_int_equal(rnn_engine_model_conditions(em), 0); /* a version 1 preset */
    assert_null(rnn_engine_set_model(e, em));
    rnn_engine_set_param(e, RNN_PARAM_THRU, 0);
    rnn_engine_set_param(e, RNN_PARAM_SEED, 99);
    return e;
}

/* What the engine committed, one entry a step, in order. */
typedef struct {
    int n;
    int64_t step[MAX_STEPS];
    rnn_engine_cond c[MAX_STEPS];
    float cols[MAX_STEPS][RNN_ENGINE_COND_MAX];
} record;

/* Read the last committed step after a block; blocks are shorter than a
 * step, so none is missed. */
static void take(rnn_engine *e, record *r)
{
    rnn_engine_cond c;
    float cols[RNN_ENGINE_COND_MAX];
    int n = rnn_engine_last_cond(e, &c, cols);
    if (n == 0) return;
    assert_int_equal(n, rnn_cond_metric_columns(SPQ) + RNN_COND_HARMONY_COLUMNS);
    if (r->n > 0 && r->c[r->n - 1].step == c.step) return;
    assert_true(r->n < MAX_STEPS);
    r->c[r->n] = c;
    memcpy(r->cols[r->n], cols, sizeof cols);
    r->n++;
}

/* ------------------------------------------------------------ the song */

/* A song in file steps: 4 bars of 3/4, 3 of 6/8, 4 of 7/8, then 4/4. */
typedef struct {
    int start, num, den, first_bar;
} section;
static const section song[] = {{0, 3, 4, 0}, {48, 6, 8, 4}, {84, 7, 8, 7}, {140, 4, 4, 11}};
#define N_SECTIONS 4

static const section *section_of(double f)
{
    int i = N_SECTIONS - 1;
    while (i > 0 && f < song[i].start)
        i--;
    return &song[i];
}

/* The host's tempo, in beats of the meter a minute, and frames a step: the
 * 3/4 slows from 120 to 90 at step 30 (mid-bar). */
static double bpm_at(double f)
{
    if (f < 30) return 120;
    if (f < 48) return 90;
    if (f < 84) return 180;
    if (f < 140) return 240;
    return 150;
}

static double frames_per_step(double f)
{
    const section *s = section_of(f);
    return 60.0 * SR / (bpm_at(f) * SPQ * 4.0 / s->den);
}

/* The host's time:Position at file step f (a fraction of a step too). */
static rnn_transport position_at(double f)
{
    const section *s = section_of(f);
    const double spb = SPQ * 4.0 / s->den, bar_len = s->num * spb, into = f - s->start;
    const double bars = floor(into / bar_len + 1e-9);
    rnn_transport t = {0};
    t.flags = RNN_TRANSPORT_SPEED | RNN_TRANSPORT_BBT | RNN_TRANSPORT_TEMPO | RNN_TRANSPORT_METER;
    t.speed = 1;
    t.bpm = bpm_at(f);
    t.beats_per_bar = s->num;
    t.beat_unit = s->den;
    t.bar = s->first_bar + (int64_t)bars;
    t.bar_beat = (into - bars * bar_len) / spb;
    if (t.bar_beat < 0) t.bar_beat = 0;
    return t;
}

/* The host plays file steps [from, to) of each segment in turn (a jump
 * between segments), sending its position at the start of each segment and
 * at each tempo or meter change, or (every_block) at every block too. The
 * engine's committed steps are recorded; *want gets their file steps. */
static void play_song(rnn_engine *e, const int (*segments)[2], int n_seg, int every_block,
                      record *r, int64_t *want, int *n_want)
{
    static const int changes[] = {30, 48, 84, 140};
    static rnn_engine_event out[4096];
    *n_want = 0;
    for (int g = 0; g < n_seg; g++) {
        for (int f = segments[g][0]; f < segments[g][1]; f++) {
            const int blocks = (int)(frames_per_step(f) / BLOCK);
            assert_int_equal(blocks * BLOCK, (int)frames_per_step(f));
            int change = f == segments[g][0];
            for (size_t i = 0; i < sizeof changes / sizeof *changes; i++)
                change |= f == changes[i];
            for (int b = 0; b < blocks; b++) {
                rnn_transport t = position_at(f + (double)b / blocks);
                int send = (b == 0 && change) || every_block;
                rnn_engine_run(e, BLOCK, NULL, 0, send ? &t : NULL, send ? 1 : 0, out, 4096);
                take(e, r);
            }
            want[(*n_want)++] = f;
        }
    }
}

static void check_song(const int (*segments)[2], int n_seg, int every_block)
{
    rnn_engine *e = make_engine(RNN_KIND_MELODY);
    static record r;
    static int64_t want[MAX_STEPS];
    int n_want;
    memset(&r, 0, sizeof r);
    play_song(e, segments, n_seg, every_block, &r, want, &n_want);
    assert_int_equal(r.n, n_want);

    /* the same meters as a MIDI file's time signatures */
    rnn_midi_meter map[N_SECTIONS];
    for (int i = 0; i < N_SECTIONS; i++)
        map[i] = (rnn_midi_meter){(int64_t)song[i].start * TPS, song[i].num, song[i].den};
    const int mc = rnn_cond_metric_columns(SPQ);
    for (int i = 0; i < r.n; i++) {
        rnn_metric_pos p;
        float cols[RNN_ENGINE_COND_MAX];
        assert_int_equal(rnn_cond_metric_file(map, N_SECTIONS, PPQ, SPQ, want[i], &p), 0);
        rnn_cond_metric_fill(&p, SPQ, cols);
        const rnn_metric_pos *q = &r.c[i].pos;
        if (memcmp(cols, r.cols[i], (size_t)mc * sizeof *cols) != 0 || p.num != q->num ||
            p.den != q->den)
            fail_msg("file step %lld (engine step %lld): the file gives %d/%d bar start %d beat "
                     "start %d, %d steps into beat %d; the engine %d/%d bar start %d beat start "
                     "%d, %d steps into beat %d",
                     (long long)want[i], (long long)r.c[i].step, p.num, p.den, p.bar_start,
                     p.beat_start, p.step_in_beat, p.beat_in_bar, q->num, q->den, q->bar_start,
                     q->beat_start, q->step_in_beat, q->beat_in_bar);
        /* within a segment the engine's steps follow each other */
        if (i > 0 && want[i] == want[i - 1] + 1) assert_int_equal(r.c[i].step, r.c[i - 1].step + 1);
    }
    /* the jumps relocate, the meter and tempo changes do not */
    rnn_engine_stats st;
    rnn_engine_get_stats(e, &st);
    assert_int_equal(st.relocations, (uint64_t)(n_seg - 1));
    rnn_engine_free(e);
}

/* Through every meter change, a jump forward into the 7/8 and a loop back
 * into the 3/4 (which plays the 3/4 -> 6/8 -> 7/8 changes again). */
static const int song_segments[][2] = {{0, 60}, {100, 170}, {40, 90}};

static void test_metric_host_changes_only(void **state)
{
    (void)state;
    check_song(song_segments, 3, 0);
}

static void test_metric_host_every_block(void **state)
{
    (void)state;
    check_song(song_segments, 3, 1);
}

/* A jump that lands mid-bar, mid-beat of the 6/8. */
static void test_metric_jump_mid_bar(void **state)
{
    (void)state;
    static const int seg[][2] = {{0, 20}, {57, 100}, {3, 10}};
    check_song(seg, 3, 0);
}

/* A meter that starts mid-bar, as a file's time signature may: 4/4 from
 * step 0, 3/4 from step 10 (the host names it bar 1, beat 0), 5/8 from
 * step 34 (bar 3). The new meter cuts the bar short without a jump, as
 * rnn_cond_metric_file counts it. */
static void test_metric_meter_mid_bar(void **state)
{
    (void)state;
    rnn_engine *e = make_engine(RNN_KIND_MELODY);
    static record r;
    static rnn_engine_event out[4096];
    memset(&r, 0, sizeof r);
    const rnn_midi_meter map[3] = {{0, 4, 4}, {10 * TPS, 3, 4}, {34 * TPS, 5, 8}};
    rnn_transport t = {0};
    t.flags = RNN_TRANSPORT_SPEED | RNN_TRANSPORT_BBT | RNN_TRANSPORT_TEMPO | RNN_TRANSPORT_METER;
    t.speed = 1;
    for (int f = 0; f < 60; f++) {
        int send = f == 0 || f == 10 || f == 34;
        if (f == 0) t.bpm = 120, t.beats_per_bar = 4, t.beat_unit = 4, t.bar = 0;
        if (f == 10) t.beats_per_bar = 3, t.bar = 1;
        if (f == 34) t.bpm = 240, t.beats_per_bar = 5, t.beat_unit = 8, t.bar = 3;
        for (int b = 0; b < 15; b++) {
            rnn_engine_run(e, BLOCK, NULL, 0, send && b == 0 ? &t : NULL, send && b == 0, out,
                           4096);
            take(e, &r);
        }
    }
    assert_int_equal(r.n, 60);
    for (int i = 0; i < r.n; i++) {
        rnn_metric_pos p;
        float cols[RNN_ENGINE_COND_MAX];
        assert_int_equal(r.c[i].step, i);
        assert_int_equal(rnn_cond_metric_file(map, 3, PPQ, SPQ, i, &p), 0);
        rnn_cond_metric_fill(&p, SPQ, cols);
        if (memcmp(cols, r.cols[i], (size_t)rnn_cond_metric_columns(SPQ) * sizeof *cols) != 0)
            fail_msg("step %d: the file gives %d/%d beat %d +%d, the engine %d/%d beat %d +%d", i,
                     p.num, p.den, p.beat_in_bar, p.step_in_beat, r.c[i].pos.num, r.c[i].pos.den,
                     r.c[i].pos.beat_in_bar, r.c[i].pos.step_in_beat);
    }
    rnn_engine_stats st;
    rnn_engine_get_stats(e, &st);
    assert_int_equal(st.relocations, 0);
    rnn_engine_free(e);
}

/* Free-running (no host transport): 4/4 from bar 0 at the engine's tempo,
 * also across a change of that tempo. */
static void test_metric_free_run(void **state)
{
    (void)state;
    rnn_engine *e = make_engine(RNN_KIND_MELODY);
    static record r;
    static rnn_engine_event out[4096];
    memset(&r, 0, sizeof r);
    for (int b = 0; b < 4000; b++) {
        if (b == 700) rnn_engine_set_param(e, RNN_PARAM_TEMPO, 97);
        rnn_engine_run(e, 257, NULL, 0, NULL, 0, out, 4096);
        take(e, &r);
    }
    assert_true(r.n > 80);
    for (int i = 0; i < r.n; i++) {
        rnn_metric_pos p;
        float cols[RNN_ENGINE_COND_MAX];
        assert_int_equal(r.c[i].step, i);
        assert_int_equal(rnn_cond_metric_file(NULL, 0, PPQ, SPQ, i, &p), 0);
        rnn_cond_metric_fill(&p, SPQ, cols);
        assert_int_equal(r.c[i].pos.num, 4);
        assert_int_equal(r.c[i].pos.den, 4);
        assert_memory_equal(cols, r.cols[i], (size_t)rnn_cond_metric_columns(SPQ) * sizeof *cols);
    }
    rnn_engine_free(e);
}

/* ------------------------------------------------------------- harmony */

/* The player: notes in steps, over a held bass, with a note of the line's
 * pitch class under it (55 under 67), grace notes over and under the line,
 * and a drum-channel hit. */
static const struct {
    double on, off;
    int pitch, channel;
} player[] = {
    {2.2, 18.3, 48, 0},  {2.1, 6.4, 60, 0},   {2.3, 6.2, 64, 0},   {2.0, 10.3, 67, 0},
    {4.1, 7.0, 55, 0},   {7.2, 7.4, 72, 0},   {11.1, 14.2, 71, 0}, {12.4, 12.45, 62, 0},
    {13.2, 13.3, 38, 9}, {14.3, 20.1, 65, 0}, {15.2, 22.3, 69, 0}, {18.4, 36.2, 43, 0},
    {20.2, 24.4, 74, 0}, {22.1, 26.0, 67, 0}, {25.1, 30.2, 76, 0}, {27.3, 27.4, 79, 0},
    {30.3, 35.8, 72, 0}, {31.1, 33.3, 55, 0},
};
#define N_PLAYER (sizeof player / sizeof player[0])
#define HARMONY_STEPS 48

typedef struct {
    int64_t frame;
    uint8_t d[3];
} abs_ev;

/* Run the engine at 120 BPM in 4/4 from frame 0 for `steps` steps with the
 * player's notes; harmony[k] gets the harmony of engine step k. */
static void play_player(rnn_engine *e, int steps, uint16_t *harmony)
{
    static abs_ev in[2 * N_PLAYER];
    static rnn_engine_event ib[64], out[4096];
    const double fps = 6000;
    size_t n = 0;
    for (size_t i = 0; i < N_PLAYER; i++) {
        uint8_t ch = (uint8_t)player[i].channel, p = (uint8_t)player[i].pitch;
        in[n++] = (abs_ev){(int64_t)(player[i].on * fps), {(uint8_t)(0x90 | ch), p, 90}};
        in[n++] = (abs_ev){(int64_t)(player[i].off * fps), {(uint8_t)(0x80 | ch), p, 0}};
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && in[j].frame < in[j - 1].frame; j--) {
            abs_ev t = in[j];
            in[j] = in[j - 1];
            in[j - 1] = t;
        }
    rnn_transport t = {0};
    t.flags = RNN_TRANSPORT_SPEED | RNN_TRANSPORT_BBT | RNN_TRANSPORT_TEMPO | RNN_TRANSPORT_METER;
    t.speed = 1;
    t.bpm = 120;
    t.beats_per_bar = 4;
    t.beat_unit = 4;
    for (int k = 0; k < steps; k++)
        harmony[k] = 0xffff; /* no step yet */
    size_t ii = 0;
    for (int64_t pos = 0; pos < (int64_t)(steps * fps); pos += 500) {
        uint32_t ni = 0;
        while (ii < n && in[ii].frame < pos + 500) {
            ib[ni] = (rnn_engine_event){(uint32_t)(in[ii].frame - pos), 3, {0}, 0};
            memcpy(ib[ni].data, in[ii].d, 3);
            ni++, ii++;
        }
        rnn_engine_run(e, 500, ib, ni, pos == 0 ? &t : NULL, pos == 0, out, 4096);
        rnn_engine_cond c;
        if (rnn_engine_last_cond(e, &c, NULL) && c.step >= 0 && c.step < steps)
            harmony[c.step] = c.harmony;
    }
}

static void player_notes(rnn_note *notes, int track)
{
    for (size_t i = 0; i < N_PLAYER; i++)
        notes[i] = (rnn_note){track,
                              player[i].channel,
                              player[i].pitch,
                              90,
                              (int64_t)(player[i].on * TPS),
                              (int64_t)(player[i].off * TPS)};
}

static void check_harmony(const uint16_t *got, const uint16_t *want, int steps, const char *what)
{
    for (int k = 0; k < steps; k++)
        if (got[k] != want[k])
            fail_msg("%s, step %d: the engine's harmony is %03x, the trainer's %03x", what, k,
                     got[k], want[k]);
}

/* Accompany: every key the player holds is harmony, as a file's other
 * track is to its line (its line: one of no events on track 1). */
static void test_harmony_accompany(void **state)
{
    (void)state;
    rnn_engine *e = make_engine(RNN_KIND_MELODY);
    assert_int_equal((int)rnn_engine_get_param(e, RNN_PARAM_MODE), RNN_MODE_ACCOMPANY);
    uint16_t got[HARMONY_STEPS], want[HARMONY_STEPS];
    play_player(e, HARMONY_STEPS, got);
    rnn_note notes[N_PLAYER];
    player_notes(notes, 0);
    int32_t events[HARMONY_STEPS] = {0};
    rnn_seq line = {events, HARMONY_STEPS, 0, 1, 0, NULL};
    char err[128];
    assert_int_equal(rnn_cond_harmony_file(notes, N_PLAYER, PPQ, SPQ, &line, want, err, sizeof err),
                     0);
    check_harmony(got, want, HARMONY_STEPS, "accompany");
    int chords = 0;
    for (int k = 0; k < HARMONY_STEPS; k++)
        chords += __builtin_popcount(want[k]) >= 3;
    assert_true(chords > 10);
    rnn_engine_free(e);
}

/* Continue: the player's line (the skyline, as the trainer encodes it)
 * primes the net; the harmony is what sounds outside it. */
static void test_harmony_continue(void **state)
{
    (void)state;
    rnn_engine *e = make_engine(RNN_KIND_MELODY);
    rnn_engine_set_param(e, RNN_PARAM_MODE, RNN_MODE_CONTINUE);
    rnn_engine_set_param(e, RNN_PARAM_LISTEN_GAP, 8);
    uint16_t got[HARMONY_STEPS], want[HARMONY_STEPS];
    play_player(e, HARMONY_STEPS, got);
    rnn_note notes[N_PLAYER];
    player_notes(notes, 0);
    rnn_seq_list list = {0};
    char err[128];
    assert_int_equal(rnn_encode(RNN_KIND_MELODY, notes, N_PLAYER, PPQ, SPQ, &list, err, sizeof err),
                     0);
    assert_int_equal(list.count, 1);
    const rnn_seq *seq = &list.seqs[0];
    uint16_t masks[HARMONY_STEPS];
    assert_true(seq->start_step >= 0 && seq->start_step + (int64_t)seq->len <= HARMONY_STEPS);
    assert_int_equal(rnn_cond_harmony_file(notes, N_PLAYER, PPQ, SPQ, seq, masks, err, sizeof err),
                     0);
    int under = 0;
    for (int k = 0; k < HARMONY_STEPS; k++) {
        int64_t i = k - seq->start_step;
        want[k] = i >= 0 && i < (int64_t)seq->len ? masks[i] : 0;
        under += (want[k] >> 7 & 1) && k >= 4 && k < 7; /* 55 under the line's 67 */
    }
    check_harmony(got, want, HARMONY_STEPS, "continue");
    assert_int_equal(under, 3);
    /* the line's own key is not harmony: 67 alone at the top at step 9 */
    assert_false(got[9] >> 7 & 1);
    rnn_seq_list_free(&list);
    rnn_engine_free(e);
}

/* Drum models hear no harmony. */
static void test_harmony_drums(void **state)
{
    (void)state;
    rnn_engine *e = make_engine(RNN_KIND_DRUMS);
    uint16_t got[HARMONY_STEPS];
    play_player(e, HARMONY_STEPS, got);
    for (int k = 0; k < HARMONY_STEPS; k++)
        assert_int_equal(got[k], 0);
    rnn_engine_free(e);
}

static uint16_t run_steps(rnn_engine *e, int steps, const rnn_engine_event *in, uint32_t n_in,
                          const rnn_transport *t)
{
    static rnn_engine_event out[4096];
    rnn_engine_run(e, (uint32_t)(steps * 6000), in, n_in, t, t ? 1 : 0, out, 4096);
    rnn_engine_cond c;
    assert_true(rnn_engine_last_cond(e, &c, NULL) > 0);
    return c.harmony;
}

/* The held keys follow the player's keys through a stop, a start elsewhere
 * and a mode change; all notes off (and all sound off) lifts them. */
static void test_harmony_held_keys(void **state)
{
    (void)state;
    rnn_engine *e = make_engine(RNN_KIND_MELODY);
    rnn_transport t = {0};
    t.flags = RNN_TRANSPORT_SPEED | RNN_TRANSPORT_BBT | RNN_TRANSPORT_TEMPO | RNN_TRANSPORT_METER;
    t.speed = 1;
    t.bpm = 120;
    t.beats_per_bar = 4;
    t.beat_unit = 4;
    const rnn_engine_event chord[3] = {
        {100, 3, {0x90, 60, 80}, 0}, {100, 3, {0x90, 64, 80}, 0}, {100, 3, {0x90, 67, 80}, 0}};
    const uint16_t ceg = 1 << 0 | 1 << 4 | 1 << 7;
    assert_int_equal(run_steps(e, 4, chord, 3, &t), ceg);
    rnn_transport stop = t;
    stop.speed = 0;
    run_steps(e, 2, NULL, 0, &stop); /* stopped: no step, the keys stay down */
    rnn_transport start = t;
    start.bar = 9;
    start.bar_beat = 2;
    assert_int_equal(run_steps(e, 2, NULL, 0, &start), ceg);
    rnn_engine_set_param(e, RNN_PARAM_MODE, RNN_MODE_CALL_RESPONSE);
    rnn_engine_set_param(e, RNN_PARAM_MODE, RNN_MODE_ACCOMPANY);
    assert_int_equal(run_steps(e, 2, NULL, 0, NULL), ceg);
    const rnn_engine_event up[1] = {{0, 3, {0x80, 64, 0}, 0}};
    assert_int_equal(run_steps(e, 2, up, 1, NULL), 1 << 0 | 1 << 7);
    const rnn_engine_event panic[2] = {{0, 3, {0xB3, 123, 0}, 0}, {10, 3, {0x90, 62, 80}, 0}};
    assert_int_equal(run_steps(e, 2, panic, 2, NULL), 1 << 2);
    const rnn_engine_event sound_off[1] = {{0, 3, {0xB0, 120, 0}, 0}};
    assert_int_equal(run_steps(e, 2, sound_off, 1, NULL), 0);
    rnn_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metric_host_changes_only),
        cmocka_unit_test(test_metric_host_every_block),
        cmocka_unit_test(test_metric_jump_mid_bar),
        cmocka_unit_test(test_metric_meter_mid_bar),
        cmocka_unit_test(test_metric_free_run),
        cmocka_unit_test(test_harmony_accompany),
        cmocka_unit_test(test_harmony_continue),
        cmocka_unit_test(test_harmony_drums),
        cmocka_unit_test(test_harmony_held_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
