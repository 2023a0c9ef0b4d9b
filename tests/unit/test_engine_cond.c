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
 * - version 1 presets take no conditions; version 2 presets (the PyTorch
 *   golden ones of tests/golden) take what their header declares, and a
 *   conditioned model plays: in accompany, each step of the engine's net
 *   gives, bit for bit, the logits of rnn_net_step_cond on a net of its own
 *   fed the events the engine played and the columns rnn_cond_metric_file
 *   and rnn_cond_harmony_file give for a file of the same meter and the
 *   player's notes; the harmony reaches the logits (zeroed, they differ)
 *   and the net's input is its own line, not the player's; a fresh net's
 *   first note comes from the columns of the step before and the chord
 *   held at the start;
 * - lookback presets (the golden look_* ones) play the same way, each step's
 *   lookback columns those rnn_lookback_fill gives over the events the
 *   engine's net heard since its first step, with the bar of 4/4; with a
 *   player's chords, steps begun at a tick are abandoned at their commit
 *   when the harmony changed, and the lookback does not hear them twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/crc32.h"
#include "../../core/condition.h"
#include "../../core/encoding.h"
#include "../../core/engine.h"
#include "../../core/lookback.h"
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

/* The player's notes as MIDI events at fps frames a step, sorted by frame
 * (stable); their number. */
static size_t player_events(abs_ev *in, double fps)
{
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
    return n;
}

/* A rolling transport at 120 BPM in 4/4 (the caller sets the position). */
static rnn_transport rolling_4_4(void)
{
    rnn_transport t = {0};
    t.flags = RNN_TRANSPORT_SPEED | RNN_TRANSPORT_BBT | RNN_TRANSPORT_TEMPO | RNN_TRANSPORT_METER;
    t.speed = 1;
    t.bpm = 120;
    t.beats_per_bar = 4;
    t.beat_unit = 4;
    return t;
}

/* Run the engine at 120 BPM in 4/4 from frame 0 for `steps` steps with the
 * player's notes; harmony[k] gets the harmony of engine step k. */
static void play_player(rnn_engine *e, int steps, uint16_t *harmony)
{
    static abs_ev in[2 * N_PLAYER];
    static rnn_engine_event ib[64], out[4096];
    const double fps = 6000;
    const size_t n = player_events(in, fps);
    rnn_transport t = rolling_4_4();
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
    rnn_seq line = {events, HARMONY_STEPS, 0, 1, 0, NULL, NULL, NULL};
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

/* ------------------------------------------------------ conditioned models */

/* Set by the tests run again on models that hear the conditions of the
 * step they predict (setup_next): golden_model gives each golden preset
 * with its condition bit 4 (RNN_COND_NEXT) set. */
static int next_bit;

static int setup_next(void **state)
{
    (void)state;
    next_bit = 1;
    return 0;
}

static int teardown_next(void **state)
{
    (void)state;
    next_bit = 0;
    return 0;
}

/* A golden preset, with RNN_COND_NEXT in its header (and the checksum
 * made again) under setup_next when it takes conditions. */
static rnn_model *golden_model(const char *name)
{
    char path[128], err[256];
    snprintf(path, sizeof path, "tests/golden/%s.rnnw", name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("%s: cannot open", path);
    static unsigned char buf[1 << 20];
    const size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(n > 100 && n < sizeof buf);
    const int next = next_bit && buf[8] == 2 && (buf[52] & RNN_COND_ALL); /* not lookback alone */
    if (next) {
        buf[52] |= RNN_COND_NEXT;
        const uint32_t crc = rnn_crc32(0, buf, n - 4);
        for (int i = 0; i < 4; i++)
            buf[n - 4 + i] = (unsigned char)(crc >> 8 * i);
    }
    rnn_model *m = rnn_model_load_memory(buf, n, path, err, sizeof err);
    if (!m) fail_msg("%s", err);
    assert_int_equal(!!(rnn_model_get_config(m)->conditions & RNN_COND_NEXT), next);
    return m;
}

static rnn_engine_model *golden(const char *name)
{
    char err[256];
    rnn_engine_model *em = rnn_engine_model_wrap(golden_model(name), err, sizeof err);
    if (!em) fail_msg("%s", err);
    return em;
}

/* Each golden v2 preset's declared conditions, as the engine takes them. */
static void test_cond_declared(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        unsigned cond;
    } cases[] = {
        {"cond_gru_e12_l2", RNN_ENGINE_COND_HARMONY},
        {"cond_lstm_e16_l2", RNN_ENGINE_COND_METRIC},
        {"cond_drums_gru_e8_l1", RNN_ENGINE_COND_METRIC},
        {"cond_lstm_e0_l1", RNN_ENGINE_COND_METRIC | RNN_ENGINE_COND_HARMONY},
        {"cond_rnn_e0_l2", RNN_ENGINE_COND_METRIC | RNN_ENGINE_COND_HARMONY},
        {"lstm_e32_l2", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rnn_engine_model *em = golden(cases[i].name);
        assert_int_equal(rnn_engine_model_conditions(em), cases[i].cond);
        const rnn_model_config *cfg = rnn_model_get_config(rnn_engine_model_get(em));
        assert_int_equal(cfg->conditions, cases[i].cond);
        rnn_engine_model_free(em);
    }
}

/* What one accompany run of a conditioned model gave: per step the event
 * at its tick (from the MIDI out), the engine net's logits once the step is
 * done, and the harmony the engine committed. */
#define PLAY_STEPS 48
#define MAX_V 512
typedef struct {
    int spq, V;
    rnn_kind kind;
    int64_t on_frame[PLAY_STEPS]; /* frame of step k's tick */
    int note_on[PLAY_STEPS];      /* melody: pitch struck at the tick, -1 none; drums: the set */
    int note_off[PLAY_STEPS];     /* melody: a note ended at the tick */
    float logits[PLAY_STEPS][MAX_V];
    uint16_t harmony[PLAY_STEPS];
    int player_struck; /* output note-ons at a player's note-on frame and pitch */
    int played;        /* output note-ons */
    uint64_t hash;     /* of every output event */
} cond_run;

/* Accompany at 120 BPM in 4/4 from frame 0 with (with_player) or without the
 * player's notes, blocks of a twelfth of a step, so a step's tick starts a
 * block and its work ends with the block before the next tick. */
static void play_cond(const char *name, int with_player, cond_run *r)
{
    char err[256];
    rnn_engine *e = rnn_engine_create(SR, 8192, err, sizeof err);
    assert_non_null(e);
    rnn_engine_model *em = golden(name);
    const rnn_model_config *cfg = rnn_model_get_config(rnn_engine_model_get(em));
    memset(r, 0, sizeof *r);
    r->spq = cfg->steps_per_quarter;
    r->V = cfg->vocab;
    r->kind = cfg->kind;
    assert_true(r->V <= MAX_V);
    rnn_net *net = rnn_engine_model_net(em);
    assert_null(rnn_engine_set_model(e, em));
    rnn_engine_set_param(e, RNN_PARAM_THRU, 0);
    rnn_engine_set_param(e, RNN_PARAM_SEED, 5);
    rnn_engine_set_param(e, RNN_PARAM_MODE, RNN_MODE_ACCOMPANY);

    const int fps = (int)(SR * 60 / (120.0 * r->spq)), block = fps / 12;
    assert_int_equal(block * 12, fps);
    static abs_ev in[2 * N_PLAYER];
    const size_t n = with_player ? player_events(in, fps) : 0;
    rnn_transport t = rolling_4_4();
    for (int k = 0; k < PLAY_STEPS; k++)
        r->note_on[k] = r->kind == RNN_KIND_MELODY ? -1 : 0;
    static rnn_engine_event ib[64], out[4096];
    r->hash = 1469598103934665603ull;
    size_t ii = 0;
    for (int64_t pos = 0; pos < (int64_t)PLAY_STEPS * fps; pos += block) {
        uint32_t ni = 0;
        while (ii < n && in[ii].frame < pos + block) {
            ib[ni] = (rnn_engine_event){(uint32_t)(in[ii].frame - pos), 3, {0}, 0};
            memcpy(ib[ni].data, in[ii].d, 3);
            ni++, ii++;
        }
        uint32_t no =
            rnn_engine_run(e, (uint32_t)block, ib, ni, pos == 0 ? &t : NULL, pos == 0, out, 4096);
        const int k = (int)(pos / fps);
        for (uint32_t i = 0; i < no; i++) {
            const uint8_t st = out[i].data[0] & 0xF0, p = out[i].data[1];
            r->hash = (r->hash ^ ((uint64_t)(pos + out[i].frame) << 24 ^ out[i].data[0] << 16 ^
                                  p << 8 ^ out[i].data[2])) *
                      1099511628211ull;
            const int on = st == 0x90 && out[i].data[2] > 0;
            if (on) {
                r->played++;
                for (size_t j = 0; j < n; j++)
                    r->player_struck += in[j].frame == pos + out[i].frame &&
                                        (in[j].d[0] & 0xF0) == 0x90 && in[j].d[1] == p;
            }
            if (pos % fps != 0 || out[i].frame != 0) continue; /* not at a tick */
            if (r->kind == RNN_KIND_DRUMS) {
                if (on) r->note_on[k] |= 1 << rnn_drum_class_of_pitch(p);
            } else if (on) {
                r->note_on[k] = p;
            } else {
                r->note_off[k] = 1;
            }
        }
        if ((pos + block) % fps == 0) {
            memcpy(r->logits[k], rnn_net_logits(net), (size_t)r->V * sizeof(float));
            rnn_engine_cond c;
            assert_true(rnn_engine_last_cond(e, &c, NULL) > 0);
            assert_int_equal(c.step, k);
            r->harmony[k] = c.harmony;
        }
    }
    rnn_engine_stats st;
    rnn_engine_get_stats(e, &st);
    assert_int_equal(st.late_steps, 0);
    assert_int_equal(st.nonfinite_steps, 0);
    rnn_engine_free(e);
}

/* The engine's conditioned steps against rnn_net_step_cond's over the
 * conditions of a file: 4/4 from bar 0 (no time signature) and, with the
 * player, the player's notes as the file's other track. The event of a
 * step is the note the engine struck at its tick; a tick with no note-on
 * is 'no event' or a note-off that ended nothing audible (at most the two
 * are tried, in that order). Returns the steps whose logits the harmony
 * changed (those with the zeroed harmony differ). */
static int check_cond_parity(const char *name, const cond_run *r, int with_player)
{
    char err[256];
    rnn_model *model = golden_model(name);
    const rnn_model_config *cfg = rnn_model_get_config(model);
    rnn_net *ref = rnn_net_create(model, err, sizeof err);
    assert_non_null(ref);
    const int spq = cfg->steps_per_quarter, ppq = 96 * spq;
    const int at_metric = rnn_model_cond_offset(cfg, RNN_COND_METRIC);
    const int at_harmony = rnn_model_cond_offset(cfg, RNN_COND_HARMONY);
    const int C = rnn_net_cond_columns(ref), C0 = rnn_model_cond_columns(cfg);
    const int L = rnn_model_lookback_columns(cfg);
    const int ahead = (cfg->conditions & RNN_COND_NEXT) != 0;
    assert_true(C > 0);
    assert_int_equal(C, C0 + L);
    int32_t heard_ev[PLAY_STEPS]; /* the events the reference net stepped on */

    uint16_t harmony[PLAY_STEPS] = {0};
    if (with_player && at_harmony >= 0) {
        rnn_note notes[N_PLAYER];
        for (size_t i = 0; i < N_PLAYER; i++)
            notes[i] = (rnn_note){0,
                                  player[i].channel,
                                  player[i].pitch,
                                  90,
                                  (int64_t)(player[i].on * (ppq / spq)),
                                  (int64_t)(player[i].off * (ppq / spq))};
        int32_t none[PLAY_STEPS] = {0};
        rnn_seq line = {none, PLAY_STEPS, 0, 1, 0, NULL, NULL, NULL};
        assert_int_equal(
            rnn_cond_harmony_file(notes, N_PLAYER, ppq, spq, &line, harmony, err, sizeof err), 0);
    }
    const size_t S = rnn_net_state_size(ref);
    float *saved = malloc(S * sizeof *saved);
    assert_non_null(saved);
    {
        /* the 'no event' step the first note is drawn from, before step 0:
         * the metric position of the step before it (the bar's last) or of
         * step 0, nothing held, no lookback */
        float cols[RNN_MAX_INPUT_COLUMNS] = {0};
        rnn_metric_pos p;
        assert_int_equal(rnn_cond_metric_file(NULL, 0, ppq, spq, ahead ? 0 : 4 * spq - 1, &p), 0);
        if (at_metric >= 0) rnn_cond_metric_fill(&p, spq, cols + at_metric);
        rnn_net_step_cond(ref, 0, cols);
    }
    int heard = 0;
    for (int k = 0; k < PLAY_STEPS; k++) {
        float cols[RNN_MAX_INPUT_COLUMNS], zeroed[RNN_MAX_INPUT_COLUMNS];
        /* the metric position of step k, or of k + 1 for a model that hears
         * the predicted step's; the harmony is what sounds at step k */
        rnn_metric_pos p, pc;
        assert_int_equal(rnn_cond_metric_file(NULL, 0, ppq, spq, k, &p), 0);
        assert_int_equal(rnn_cond_metric_file(NULL, 0, ppq, spq, k + ahead, &pc), 0);
        if (at_metric >= 0) rnn_cond_metric_fill(&pc, spq, cols + at_metric);
        if (at_harmony >= 0) {
            assert_int_equal(r->harmony[k], harmony[k]);
            rnn_cond_harmony_fill(harmony[k], cols + at_harmony);
        }
        memcpy(zeroed, cols, (size_t)C * sizeof *cols);
        if (at_harmony >= 0) memset(zeroed + at_harmony, 0, 12 * sizeof *zeroed);

        int cand[2], nc = 0;
        if (r->kind == RNN_KIND_DRUMS)
            cand[nc++] = r->note_on[k];
        else if (r->note_on[k] >= 0)
            cand[nc++] = RNN_MELODY_NOTE_ON(r->note_on[k]);
        else if (r->note_off[k])
            cand[nc++] = RNN_MELODY_NOTE_OFF;
        else
            cand[nc++] = 0, cand[nc++] = RNN_MELODY_NOTE_OFF;
        rnn_net_state_get(ref, saved);
        int match = 0;
        for (int c = 0; c < nc && !match; c++) {
            if (c > 0) rnn_net_state_set(ref, saved);
            heard_ev[k] = cand[c];
            if (L) {
                rnn_lookback_fill(cfg->kind, heard_ev, (size_t)k + 1,
                                  rnn_lookback_bar_steps(p.num, p.den, spq), cols + C0);
                memcpy(zeroed + C0, cols + C0, (size_t)L * sizeof *cols);
            }
            int differs = 0;
            if (at_harmony >= 0 && harmony[k]) {
                /* the same step with the harmony zeroed first, then for real */
                const float *z = rnn_net_step_cond(ref, cand[c], zeroed);
                differs = memcmp(z, r->logits[k], (size_t)r->V * sizeof *z) != 0;
                rnn_net_state_set(ref, saved);
            }
            const float *l = rnn_net_step_cond(ref, cand[c], cols);
            match = memcmp(l, r->logits[k], (size_t)r->V * sizeof *l) == 0;
            heard += match && differs;
        }
        if (!match)
            fail_msg("%s, step %d: the engine's logits are not rnn_net_step_cond's for its event "
                     "and the file's conditions",
                     name, k);
    }
    free(saved);
    rnn_net_free(ref);
    rnn_model_free(model);
    return heard;
}

/* A harmony model in accompany, with and without the player. */
static void cond_plays(const char *name)
{
    static cond_run with, without;
    play_cond(name, 1, &with);
    assert_true(with.played >= 4);
    int heard = check_cond_parity(name, &with, 1);
    play_cond(name, 0, &without);
    assert_true(without.played >= 4);
    assert_int_equal(check_cond_parity(name, &without, 0), 0);
    {
        /* the player's chords reach the logits of every step they sound
         * in, and what it plays; it plays its own line, not the player's */
        int sounding = 0;
        for (int k = 0; k < PLAY_STEPS; k++)
            sounding += with.harmony[k] != 0;
        assert_true(sounding > 30);
        assert_int_equal(heard, sounding);
        assert_true(with.hash != without.hash);
        assert_true(with.player_struck * 4 < with.played);
    }
}

/* A model of the metric alone, playing by itself (with a player it would
 * hear the player's line as its input, in accompany too). */
static void test_cond_plays_metric_only(void **state)
{
    (void)state;
    static const char *const names[] = {"cond_lstm_e16_l2", "cond_drums_gru_e8_l1"};
    static cond_run r;
    for (int i = 0; i < 2; i++) {
        play_cond(names[i], 0, &r);
        assert_true(r.played >= 4);
        assert_int_equal(check_cond_parity(names[i], &r, 0), 0);
    }
}

static void test_cond_plays_both(void **state)
{
    (void)state;
    cond_plays("cond_lstm_e0_l1");
}

static void test_cond_plays_harmony_only(void **state)
{
    (void)state;
    cond_plays("cond_gru_e12_l2");
}

/* Lookback presets, melody and drums, with and without conditions, play
 * by themselves: every step's lookback columns are the events' since the
 * first step. */
static void test_look_plays(void **state)
{
    (void)state;
    static const char *const names[] = {"look_gru_e12_l1", "look_lstm_e0_l2",
                                        "look_drums_gru_e8_l2", "look_drums_lstm_e0_l1"};
    static cond_run r;
    for (int i = 0; i < 4; i++) {
        play_cond(names[i], 0, &r);
        assert_true(r.played >= 4);
        assert_int_equal(check_cond_parity(names[i], &r, 0), 0);
    }
}

/* A lookback preset that hears the harmony, under the player's chords: the
 * steps begun at a tick whose harmony changed before the commit are begun
 * again, and the lookback hears each step once. */
static void test_look_plays_harmony(void **state)
{
    (void)state;
    cond_plays("look_rnn_e0_l1");
}

/* The pitch a temperature-0 engine strikes first from logits l: the
 * highest note-on in the pitch range. */
static int first_pitch(const float *l, int lo, int hi)
{
    int best = lo;
    for (int p = lo; p <= hi; p++)
        if (l[RNN_MELODY_NOTE_ON(p)] > l[RNN_MELODY_NOTE_ON(best)]) best = p;
    return best;
}

/* A fresh conditioned net's first note comes from 'no event' stepped with
 * the columns of the step before it and the chord held: at temperature 0
 * it is the best note of rnn_net_step_cond's logits for them. With no key
 * down, the transport starting at bar 0 of 4/4 finds the logits prepared
 * with the model (the columns of the last 16th of a bar, no harmony) and
 * the note sounds at once; with a chord down the conditions differ, and
 * the note comes a step later, from the columns of the first step (the
 * bar's first 16th) and the chord, a step spread over the blocks rather
 * than done whole at the tick. The chords change the note from what the
 * logits without columns would give. */
static void test_cond_first_note(void **state)
{
    (void)state;
    static const char *const names[] = {"cond_lstm_e0_l1", "cond_gru_e12_l2"};
    static const uint8_t chords[5][3] = {
        {60, 64, 67}, {57, 61, 64}, {50, 53, 57}, {55, 59, 62}, {0, 0, 0}};
    const int n_chords = 5, none = 4;
    const uint32_t block = 500, step_frames = (uint32_t)(SR * 60 / 120 / SPQ);
    int moved = 0;
    for (int m = 0; m < 2; m++)
        for (int ci = 0; ci < n_chords; ci++) {
            char err[256];
            rnn_engine *e = rnn_engine_create(SR, 8192, err, sizeof err);
            assert_non_null(e);
            rnn_engine_model *em = golden(names[m]);
            const rnn_model_config *cfg = rnn_model_get_config(rnn_engine_model_get(em));
            assert_null(rnn_engine_set_model(e, em));
            rnn_engine_set_param(e, RNN_PARAM_THRU, 0);
            rnn_engine_set_param(e, RNN_PARAM_TEMPERATURE, 0);
            rnn_engine_set_param(e, RNN_PARAM_MODE, RNN_MODE_ACCOMPANY);
            const int lo = (int)rnn_engine_get_param(e, RNN_PARAM_LOWEST);
            const int hi = (int)rnn_engine_get_param(e, RNN_PARAM_HIGHEST);
            rnn_transport t = {0};
            t.flags =
                RNN_TRANSPORT_SPEED | RNN_TRANSPORT_BBT | RNN_TRANSPORT_TEMPO | RNN_TRANSPORT_METER;
            t.bpm = 120;
            t.beats_per_bar = 4;
            t.beat_unit = 4;
            rnn_engine_event in[3];
            const uint32_t n_in = ci == none ? 0 : 3;
            for (uint32_t i = 0; i < n_in; i++)
                in[i] = (rnn_engine_event){10, 3, {0x90, chords[ci][i], 90}, 0};
            static rnn_engine_event out[4096];
            rnn_engine_run(e, block, in, n_in, &t, 1, out, 4096); /* stopped: the chord goes down */
            t.speed = 1;
            /* the first note-on after the start, and its frame from the start */
            int got = -1;
            int64_t got_at = -1;
            for (uint32_t b = 0; got < 0 && b * block <= 2 * step_frames; b++) {
                uint32_t n =
                    rnn_engine_run(e, block, NULL, 0, b == 0 ? &t : NULL, b == 0, out, 4096);
                for (uint32_t i = 0; i < n && got < 0; i++)
                    if ((out[i].data[0] & 0xF0) == 0x90 && out[i].data[2] > 0) {
                        got = out[i].data[1];
                        got_at = (int64_t)b * block + out[i].frame;
                    }
            }
            const int64_t want_at = ci == none ? 0 : step_frames;
            if (got_at != want_at)
                fail_msg("%s, chord %d: the first note sounds at frame %lld, not %lld", names[m],
                         ci, (long long)got_at, (long long)want_at);

            rnn_model *model = golden_model(names[m]);
            rnn_net *ref = rnn_net_create(model, err, sizeof err);
            assert_non_null(ref);
            float cols[RNN_MAX_COND_COLUMNS] = {0};
            const int at_metric = rnn_model_cond_offset(cfg, RNN_COND_METRIC);
            const int at_harmony = rnn_model_cond_offset(cfg, RNN_COND_HARMONY);
            if (at_metric >= 0) {
                rnn_metric_pos p;
                assert_int_equal(
                    rnn_cond_metric_file(NULL, 0, PPQ, SPQ, (ci == none ? 15 : 0) + !!(cfg->conditions & RNN_COND_NEXT), &p),
                    0);
                rnn_cond_metric_fill(&p, SPQ, cols + at_metric);
            }
            uint16_t h = 0;
            for (uint32_t i = 0; i < n_in; i++)
                h |= (uint16_t)(1u << (chords[ci][i] % 12));
            rnn_cond_harmony_fill(h, cols + at_harmony);
            const int want = first_pitch(rnn_net_step_cond(ref, 0, cols), lo, hi);
            rnn_net_reset(ref);
            const int plain = first_pitch(rnn_net_step_cond(ref, 0, NULL), lo, hi);
            if (got != want)
                fail_msg("%s, chord %d: the first note is %d, the conditioned step's best %d "
                         "(without columns %d)",
                         names[m], ci, got, want, plain);
            moved += want != plain;
            rnn_net_free(ref);
            rnn_model_free(model);
            rnn_engine_free(e);
        }
    assert_true(moved >= 2);
}

/* Two bars of accompany from a transport start at 120 BPM in 4/4, with
 * the keys `keys` (n_keys of them) held from before the start: every
 * event's absolute frame and bytes into out (room for max); returns the
 * count. */
static size_t two_bars(rnn_engine_model *em, const uint8_t *keys, uint32_t n_keys,
                       rnn_engine_event *got, size_t max)
{
    char err[256];
    rnn_engine *e = rnn_engine_create(SR, 256, err, sizeof err);
    assert_non_null(e);
    assert_null(rnn_engine_set_model(e, em));
    rnn_engine_set_param(e, RNN_PARAM_THRU, 0);
    rnn_engine_set_param(e, RNN_PARAM_SEED, 7);
    rnn_engine_set_param(e, RNN_PARAM_MODE, RNN_MODE_ACCOMPANY);
    rnn_transport t = {0};
    t.flags = RNN_TRANSPORT_SPEED | RNN_TRANSPORT_BBT | RNN_TRANSPORT_TEMPO | RNN_TRANSPORT_METER;
    t.bpm = 120;
    t.beats_per_bar = 4;
    t.beat_unit = 4;
    rnn_engine_event in[4], out[1024];
    for (uint32_t i = 0; i < n_keys; i++)
        in[i] = (rnn_engine_event){0, 3, {0x90, keys[i], 90}, 0};
    rnn_engine_run(e, 256, in, n_keys, &t, 1, out, 1024); /* stopped */
    t.speed = 1;
    size_t n = 0;
    for (uint32_t b = 0; b * 256 < 4 * SR; b++) {
        uint32_t k = rnn_engine_run(e, 256, NULL, 0, b == 0 ? &t : NULL, b == 0, out, 1024);
        for (uint32_t i = 0; i < k && n < max; i++) {
            got[n] = out[i];
            got[n++].frame = b * 256 + out[i].frame;
        }
    }
    assert_ptr_equal(rnn_engine_set_model(e, NULL), em);
    rnn_engine_free(e);
    return n;
}

/* A prepared model carries nothing from one engine's run to the next: the
 * steps and the draw made at prepare (the first logits, the touch of the
 * weights and the sampler) and whole runs on another engine leave it
 * playing as a model prepared afresh, whether its first note comes at once
 * (nothing held) or a step later (a chord held). */
static void test_cond_model_carries_nothing(void **state)
{
    (void)state;
    static const char *const names[] = {"cond_lstm_e0_l1", "cond_drums_gru_e8_l1"};
    static const uint8_t chord[3] = {57, 61, 64};
    static rnn_engine_event fresh[4096], used[4096];
    for (int m = 0; m < 2; m++)
        for (uint32_t keys = 0; keys <= 3; keys += 3) {
            rnn_engine_model *a = golden(names[m]), *b = golden(names[m]);
            two_bars(a, chord, 3 - keys, used, 4096); /* a plays first, with the other keys */
            size_t nu = two_bars(a, chord, keys, used, 4096);
            size_t nf = two_bars(b, chord, keys, fresh, 4096);
            size_t ons = 0;
            for (size_t i = 0; i < nf; i++)
                ons += (fresh[i].data[0] & 0xF0) == 0x90 && fresh[i].data[2] > 0;
            if (ons < 4) fail_msg("%s: %zu note-ons in two bars", names[m], ons);
            assert_int_equal(nu, nf);
            for (size_t i = 0; i < nf; i++) {
                assert_int_equal(used[i].frame, fresh[i].frame);
                assert_int_equal(used[i].size, fresh[i].size);
                assert_memory_equal(used[i].data, fresh[i].data, fresh[i].size);
            }
            rnn_engine_model_free(a);
            rnn_engine_model_free(b);
        }
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
        cmocka_unit_test(test_cond_declared),
        cmocka_unit_test(test_cond_plays_both),
        cmocka_unit_test(test_cond_plays_harmony_only),
        cmocka_unit_test(test_look_plays),
        cmocka_unit_test(test_look_plays_harmony),
        cmocka_unit_test(test_cond_plays_metric_only),
        cmocka_unit_test(test_cond_first_note),
        cmocka_unit_test(test_cond_model_carries_nothing),
        cmocka_unit_test_setup_teardown(test_cond_plays_both, setup_next, teardown_next),
        cmocka_unit_test_setup_teardown(test_cond_plays_harmony_only, setup_next, teardown_next),
        cmocka_unit_test_setup_teardown(test_look_plays, setup_next, teardown_next),
        cmocka_unit_test_setup_teardown(test_look_plays_harmony, setup_next, teardown_next),
        cmocka_unit_test_setup_teardown(test_cond_plays_metric_only, setup_next, teardown_next),
        cmocka_unit_test_setup_teardown(test_cond_first_note, setup_next, teardown_next),
        cmocka_unit_test_setup_teardown(test_cond_model_carries_nothing, setup_next,
                                        teardown_next),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
